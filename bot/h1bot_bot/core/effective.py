"""The configuration a reply works with: the SlackBot spec, resolved per channel, held in one replaceable place.

`ConfigHolder.current` is read once per request, so a later change (runtime overrides, live reload of the spec)
replaces the whole `BotConfig` and never tears a request in half.
"""

from dataclasses import dataclass, field

from h1bot_api.spec import AccessSpec, ConfigError, Limits, SlackBotSpec, SummarizationSpec, resolve_limits


@dataclass(frozen=True)
class ChannelConfig:
    """What one reply in one channel uses."""

    model: str
    system_prompt: str
    temperature: float
    limits: Limits
    summarization: SummarizationSpec


@dataclass(frozen=True)
class BotConfig:
    spec: SlackBotSpec
    # Where the spec came from, for logs and the `debug` command: "file:PATH" or "cluster:NS/NAME".
    source: str = ""
    _per_channel: dict[str, ChannelConfig] = field(default_factory=dict, compare=False, repr=False)

    def for_channel(self, channel: str) -> ChannelConfig:
        """The persona and model of `channel` (spec.persona.channels) over the bot's defaults.

        Raises ConfigError naming the field when the channel's model has no known context window."""
        cached = self._per_channel.get(channel)
        if cached is not None:
            return cached
        spec = self.spec
        persona = next((p for p in spec.persona.channels if p.id == channel), None)
        model_spec = spec.model
        if persona and persona.model and persona.model != model_spec.name:
            model_spec = model_spec.model_copy(update={"name": persona.model})
        system_prompt = persona.system_prompt if persona and persona.system_prompt else spec.persona.system_prompt
        try:
            limits = resolve_limits(model_spec, spec.summarization)
        except ConfigError as exc:
            where = f" (spec.persona.channels[{channel}].model)" if model_spec is not spec.model else ""
            raise ConfigError(f"{exc}{where}") from None
        result = ChannelConfig(model=model_spec.name, system_prompt=system_prompt,
                               temperature=model_spec.temperature, limits=limits,
                               summarization=spec.summarization)
        self._per_channel[channel] = result
        return result


class ConfigHolder:
    """The one live `BotConfig`; `replace` swaps it atomically (for reloads and overrides)."""

    def __init__(self, config: BotConfig):
        self._current = config

    @property
    def current(self) -> BotConfig:
        return self._current

    def replace(self, config: BotConfig) -> None:
        self._current = config


def is_direct_message(channel: str, channel_type: str | None = None) -> bool:
    return channel_type == "im" or (channel_type is None and channel.startswith("D"))


def channel_allowed(access: AccessSpec, channel: str, direct: bool) -> bool:
    """`deny` always wins; a non-empty `allow` admits only its channels; DMs need no `allow` entry."""
    if channel in access.channels.deny:
        return False
    if direct or not access.channels.allow:
        return True
    return channel in access.channels.allow


REFUSAL = "Sorry, I'm not set up to answer in this channel. Ask an admin of this bot if you need me here."
