"""The configuration a reply works with: the SlackBot spec, resolved per channel, held in one replaceable place.

`ConfigHolder.current` is read once per request, so a later change (runtime overrides, live reload of the spec)
replaces the whole `BotConfig` and never tears a request in half.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from h1bot_api.spec import (
    AccessSpec,
    ConfigError,
    Limits,
    PromptTooLarge,
    SlackBotSpec,
    SummarizationSpec,
    resolve_limits,
)

# (model, system prompt) → the tokens the system message costs with that model's tokenizer.
CountPrompt = Callable[[str, str], int]


@dataclass(frozen=True)
class ChannelConfig:
    """What one reply in one channel uses."""

    model: str
    system_prompt: str
    temperature: float
    limits: Limits
    summarization: SummarizationSpec
    # Tokens of the system message already taken out of limits.history_tokens; None when it was not counted.
    system_prompt_tokens: int | None = None


@dataclass(frozen=True)
class BotConfig:
    spec: SlackBotSpec
    # Where the spec came from, for logs and the `debug` command: "file:PATH" or "cluster:NS/NAME".
    source: str = ""
    # The tokenizer, injected (the limits check counts the system prompt); None: prompts are not counted.
    count_prompt: CountPrompt | None = field(default=None, compare=False, repr=False)
    _per_channel: dict[str, ChannelConfig] = field(default_factory=dict, compare=False, repr=False)

    def for_channel(self, channel: str) -> ChannelConfig:
        """The persona and model of `channel` (spec.persona.channels) over the bot's defaults.

        Raises ConfigError naming the field when the channel's model has no known context window, or
        PromptTooLarge when its system prompt leaves no room for history (counted when a tokenizer is injected)."""
        cached = self._per_channel.get(channel)
        if cached is not None:
            return cached
        spec = self.spec
        persona = next((p for p in spec.persona.channels if p.id == channel), None)
        model_spec = spec.model
        if persona and persona.model and persona.model != model_spec.name:
            model_spec = model_spec.model_copy(update={"name": persona.model})
        own_prompt = bool(persona and persona.system_prompt)
        system_prompt = persona.system_prompt if own_prompt else spec.persona.system_prompt
        try:
            prompt_tokens = self.count_prompt(model_spec.name, system_prompt) if self.count_prompt else None
            limits = resolve_limits(model_spec, spec.summarization, system_prompt_tokens=prompt_tokens or 0)
        except ConfigError as exc:
            where = ""
            if own_prompt and isinstance(exc, PromptTooLarge):
                where = f" (spec.persona.channels[{channel}].systemPrompt)"
            elif model_spec is not spec.model:
                where = f" (spec.persona.channels[{channel}].model)"
            raise type(exc)(f"{exc}{where}") from None
        result = ChannelConfig(model=model_spec.name, system_prompt=system_prompt,
                               temperature=model_spec.temperature, limits=limits,
                               summarization=spec.summarization, system_prompt_tokens=prompt_tokens)
        self._per_channel[channel] = result
        return result

    def problems(self) -> list[ConfigError]:
        """What keeps this configuration from answering: the defaults first, then each channel persona."""
        found: list[ConfigError] = []
        for channel in ["", *(p.id for p in self.spec.persona.channels)]:
            try:
                self.for_channel(channel)
            except ConfigError as exc:
                if str(exc) not in map(str, found):
                    found.append(exc)
        return found


class ConfigHolder:
    """The one live `BotConfig`; `replace` swaps it atomically (for reloads and overrides)."""

    def __init__(self, config: BotConfig):
        self._current = config
        # Called with every new config, synchronously (e.g. to re-check readiness).
        self.listeners: list[Callable[[BotConfig], None]] = []

    @property
    def current(self) -> BotConfig:
        return self._current

    def replace(self, config: BotConfig) -> None:
        self._current = config
        for listener in list(self.listeners):
            listener(config)


def is_direct_message(channel: str, channel_type: str | None = None) -> bool:
    return channel_type == "im" or (channel_type is None and channel.startswith("D"))


def channel_allowed(access: AccessSpec, channel: str, direct: bool, user: str | None = None) -> bool:
    """Whether the bot answers `user` in `channel`.

    `channels.deny` always wins (a DM's id may be listed too). Channels: a non-empty `allow` admits only its
    channels. DMs follow `directMessages` (AccessSpec.direct_message_rule): `allow`, `admins` (only
    spec.access.admins) or `deny`; unset, they are answered only when `channels.allow` is empty. A DM id listed in
    `channels.allow` is answered whatever the rule."""
    if channel in access.channels.deny:
        return False
    if direct:
        rule = access.direct_message_rule
        return (channel in access.channels.allow or rule == "allow"
                or (rule == "admins" and user is not None and user in access.admins))
    return not access.channels.allow or channel in access.channels.allow


REFUSAL = "Sorry, I'm not set up to answer in this channel. Ask an admin of this bot if you need me here."
DM_REFUSAL = {"admins": "Sorry, I answer direct messages from this bot's admins only. Mention me in a channel where "
                        "I'm invited instead.",
              "deny": "Sorry, I don't answer direct messages. Mention me in a channel where I'm invited instead."}


def refusal(access: AccessSpec, direct: bool) -> str:
    """What the bot says where `channel_allowed` says no."""
    return DM_REFUSAL.get(access.direct_message_rule, REFUSAL) if direct else REFUSAL
