"""The command seam: text addressed to the bot is offered to a router first; what no command claims goes to the LLM.

The registry is empty in this issue; the runtime-config and summarization issues register `help`, `config`,
`models`, `summarize`, … here. A command is matched on the first word of the text (case-insensitive); how a
command parses the rest is its own business.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CommandRequest:
    """What a command handler gets: the words after the command, who asked, where, and the app's services."""

    name: str
    args: str
    text: str
    user: str
    channel: str
    thread_ts: str
    services: Any = None


# A handler returns the reply text (Markdown) or None when it replied on its own.
CommandHandler = Callable[[CommandRequest], Awaitable[str | None]]


@dataclass
class CommandRouter:
    commands: dict[str, CommandHandler] = field(default_factory=dict)

    def register(self, name: str, handler: CommandHandler) -> None:
        self.commands[name.lower()] = handler

    def match(self, text: str) -> tuple[str, str] | None:
        """(command name, rest of the text) when the text starts with a registered command word."""
        word, _, rest = text.strip().partition(" ")
        name = word.lower()
        return (name, rest.strip()) if name in self.commands else None

    def handler(self, name: str) -> CommandHandler:
        return self.commands[name]
