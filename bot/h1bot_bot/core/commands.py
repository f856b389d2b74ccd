"""The command seam: text addressed to the bot is offered to a router first; what no command claims goes to the LLM.

Matching is `command_parser.parse_command`: a command is recognised only when the whole text follows its grammar
("help" is a command, "can you help me with config maps?" is a question for the LLM). Handlers are registered per
command type; a parsed command with no handler, or a `ParseError` when no ParseError handler is registered, is a
question too, so a router with nothing registered sends everything to the LLM.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from h1bot_bot.core.command_parser import (
    Command,
    Debug,
    Help,
    ListModels,
    ParseError,
    ResetConfig,
    SetConfig,
    ShowConfig,
    Summarize,
    SwitchModel,
    parse_command,
)

Parsed = Command | ParseError

# For logs and metrics: the outcome of a handled event is "command:<name>".
COMMAND_NAMES: dict[type, str] = {
    Help: "help", ShowConfig: "config", SetConfig: "config-set", ResetConfig: "config-reset", ListModels: "models",
    SwitchModel: "model", Debug: "debug", Summarize: "summarize", ParseError: "malformed",
}


def command_name(command: Parsed) -> str:
    return COMMAND_NAMES.get(type(command), type(command).__name__.lower())


@dataclass(frozen=True)
class CommandRequest:
    """What a command handler gets: the parsed command, who asked, where, and the message it came in."""

    command: Parsed
    text: str
    user: str
    channel: str
    thread_ts: str
    incoming: Any = None  # core.surface.Incoming (not imported: surface.py imports this module)
    direct: bool = False  # a one-to-one DM with the bot: nobody else reads the reply


@dataclass(frozen=True)
class Reply:
    """A command's answer in the thread: Slack mrkdwn `text` (Markdown when `markdown`), with Block Kit `blocks`
    (then `text` is the notification/fallback text). `private`: more, shown in the thread to the asker alone
    (Slack's ephemeral message: not part of the thread, nobody else sees it, it is gone after a reload)."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    markdown: bool = False
    private: "Reply | None" = None


# A handler returns its reply, or None when it replied on its own.
CommandHandler = Callable[[CommandRequest], Awaitable[Reply | None]]


@dataclass
class CommandRouter:
    handlers: dict[type, CommandHandler] = field(default_factory=dict)

    def register(self, kind: type, handler: CommandHandler) -> None:
        """Handle commands of type `kind` (a command_parser class, or ParseError for malformed commands)."""
        self.handlers[kind] = handler

    def match(self, text: str) -> Parsed | None:
        """The command `text` is when a handler is registered for it; None when it goes to the LLM."""
        parsed = parse_command(text)
        return parsed if parsed is not None and type(parsed) in self.handlers else None

    def handler(self, command: Parsed) -> CommandHandler:
        return self.handlers[type(command)]
