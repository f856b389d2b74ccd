"""Text addressed to the bot (its mention already stripped) as a command, a parse error, or None (a question).

Deterministic, never the LLM. A command is recognised only when the whole message follows the command's grammar:
"help" is a command, "can you help me" and "help me write a poem" are questions. A message that clearly starts a
command but gets it wrong (`config set temperature`, `model` alone) is a `ParseError` whose one-line message says
how to write it, so the user sees why nothing happened.

Grammar (command words and setting names are case-insensitive; a no-argument command may end in `.`, `!` or `?`):
    help | config | models | debug | summarize
    config set <setting> <value…>      value may contain spaces and newlines, optionally quoted
    config set <setting>=<value…>
    config reset [<setting> | all]
    model <name>
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from h1bot_api.status import RUNTIME_KEYS
from h1bot_bot.core.conversation import unslack


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class ShowConfig:
    pass


@dataclass(frozen=True)
class SetConfig:
    key: str  # a RUNTIME_KEYS key (aliases resolved)
    value: str  # as typed, quotes removed; typed and validated by overrides.apply_change


@dataclass(frozen=True)
class ResetConfig:
    key: str | None  # None: every override


@dataclass(frozen=True)
class ListModels:
    pass


@dataclass(frozen=True)
class SwitchModel:
    name: str


@dataclass(frozen=True)
class Debug:
    pass


@dataclass(frozen=True)
class Summarize:
    pass


@dataclass(frozen=True)
class ParseError:
    """A malformed command; `message` is one line saying what is wrong and how to write it."""

    message: str


Command = Help | ShowConfig | SetConfig | ResetConfig | ListModels | SwitchModel | Debug | Summarize

# Other names people use for a setting, normalized (lower case, without `-`, `_`, `.` and spaces).
_ALIASES: Mapping[str, str] = {
    "threshold": "thresholdTokens",
    "summarizationthreshold": "thresholdTokens",
    "summarythreshold": "thresholdTokens",
    "chunk": "chunkTokens",
    "chunksize": "chunkTokens",
    "summarizationchunk": "chunkTokens",
    "persona": "systemPrompt",
    "prompt": "systemPrompt",
    "system": "systemPrompt",
    "maxtokens": "maxOutputTokens",
    "maxoutput": "maxOutputTokens",
    "outputtokens": "maxOutputTokens",
    "temp": "temperature",
    "modelname": "model",
}

USAGE_SET = "`config set <setting> <value>` (e.g. `config set temperature 0.2`)"
USAGE_RESET = "`config reset` (every setting) or `config reset <setting>` (e.g. `config reset model`)"
USAGE_MODEL = "`model <name>` (e.g. `model gpt-4o-mini`; `models` lists them)"

_NO_ARGUMENT = {"help": Help(), "config": ShowConfig(), "models": ListModels(), "debug": Debug(),
                "summarize": Summarize(), "summarise": Summarize()}
_TRAILING_PUNCTUATION = re.compile(r"[.!?]+$")
# Leading punctuation left behind by "@bot: help" or "@bot, help".
_LEADING_PUNCTUATION = re.compile(r"^[\s:,;]+")
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*")
_QUOTES = (('"', '"'), ("'", "'"), ("“", "”"), ("‘", "’"), ("```", "```"), ("`", "`"))


def _normalized(name: str) -> str:
    return re.sub(r"[-_.\s]", "", name).lower()


def _by_normalized_name() -> dict[str, str]:
    names = {_normalized(key): key for key in RUNTIME_KEYS}
    # The spec path works too: model.temperature, summarization.thresholdTokens, spec.persona.systemPrompt.
    for key, path in RUNTIME_KEYS.items():
        names[_normalized(".".join(path))] = key
        names[_normalized("spec." + ".".join(path))] = key
    return names | dict(_ALIASES)


_SETTINGS = _by_normalized_name()


def setting_names() -> str:
    return ", ".join(RUNTIME_KEYS)


def resolve_setting(name: str) -> str | None:
    """The RUNTIME_KEYS key `name` means (`threshold`, `chunk-size`, `persona`, `model.name`, …), or None."""
    return _SETTINGS.get(_normalized(name))


def _echo(word: str, limit: int = 40) -> str:
    """A word the user typed, safe to quote back in Slack mrkdwn."""
    word = word if len(word) <= limit else word[:limit] + "…"
    return word.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


def _unquoted(value: str) -> str:
    for opening, closing in _QUOTES:
        if len(value) >= len(opening) + len(closing) and value.startswith(opening) and value.endswith(closing):
            return value[len(opening):len(value) - len(closing)].strip()
    return value


def _parse_set(arguments: str) -> SetConfig | ParseError:
    arguments = arguments.strip()
    if not arguments:
        return ParseError(f"Which setting? Use {USAGE_SET}. Settings: {setting_names()}.")
    first, _ = _split_first(arguments)
    name, value = (part.strip() for part in arguments.partition("=")[::2]) if "=" in first else _split_first(
        arguments)
    key = resolve_setting(name)
    if key is None:
        return ParseError(f"Unknown setting `{_echo(name)}`: use one of {setting_names()} in {USAGE_SET}.")
    value = _unquoted(unslack(value.strip(), {}))
    if not value:
        return ParseError(f"`{key}` needs a value: use {USAGE_SET}.")
    return SetConfig(key, value)


def _split_first(text: str) -> tuple[str, str]:
    """The first word and the rest, the rest's own line breaks kept (a system prompt may span lines)."""
    parts = text.strip().split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def _parse_reset(arguments: str) -> ResetConfig | ParseError:
    words = arguments.split()
    if not words or (len(words) == 1 and words[0].lower() in ("all", "everything")):
        return ResetConfig(None)
    if len(words) > 1:
        return ParseError(f"Reset one setting at a time: {USAGE_RESET}.")
    key = resolve_setting(words[0])
    if key is None:
        return ParseError(f"Unknown setting `{_echo(words[0])}`: use one of {setting_names()} in {USAGE_RESET}.")
    return ResetConfig(key)


def _parse_config(arguments: str) -> Command | ParseError | None:
    subcommand, rest = _split_first(arguments)
    subcommand = subcommand.lower()
    if subcommand == "set":
        return _parse_set(rest)
    if subcommand == "reset":
        return _parse_reset(rest)
    if subcommand in ("show", "get", "view") and not rest.strip():
        return ShowConfig()
    return None  # "config maps in kubernetes: how do they work?" is a question


def _parse_model(arguments: str) -> SwitchModel | ParseError | None:
    words = arguments.split()
    if not words:
        return ParseError(f"Which model? Use {USAGE_MODEL}.")
    name = _unquoted(words[0]) if len(words) == 1 else ""
    if len(words) == 1 and _MODEL_ID.fullmatch(name):
        return SwitchModel(name)
    return None  # "model collapse is a real risk?" is a question


def parse_command(text: str) -> Command | ParseError | None:
    """The command `text` is, a ParseError when it is a malformed command, or None when it is a question."""
    text = _LEADING_PUNCTUATION.sub("", text or "").strip()
    bare = _TRAILING_PUNCTUATION.sub("", text).strip().lower()
    if bare in _NO_ARGUMENT:
        return _NO_ARGUMENT[bare]
    word, arguments = _split_first(text)
    word = word.lower()
    if word == "config":
        return _parse_config(arguments)
    if word == "model":
        return _parse_model(arguments)
    return None
