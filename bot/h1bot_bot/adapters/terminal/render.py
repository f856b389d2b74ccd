"""What the terminal shows: replies as Markdown (rich), Block Kit as text, a streamed answer as it grows.

On a terminal the answer is re-rendered as Markdown while it streams (rich's Live); when stdout is a pipe or a file
the Markdown source is written as it comes, so scripts read plain text. Errors and notes go to stderr.
"""

import re
import sys
from typing import Any

from rich.console import Console
from rich.emoji import Emoji
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)>")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")


def mrkdwn_to_markdown(text: str) -> str:
    """Slack mrkdwn as Markdown for display: `*bold*`, `~strike~`, `<url|label>`, `:emoji:` codes; code spans and
    blocks verbatim."""
    parts = re.split(r"(```.*?```|`[^`\n]*`)", text, flags=re.S)
    for index in range(0, len(parts), 2):
        part = _LINK.sub(r"[\2](\1)", parts[index])
        part = _BARE_LINK.sub(r"\1", part)
        part = _MENTION.sub(r"@\1", part)
        part = _BOLD.sub(r"**\1**", part)
        part = Emoji.replace(part)  # Slack's :white_check_mark: as the character (unknown codes stay as typed)
        parts[index] = _STRIKE.sub(r"~~\1~~", part)
    return "".join(parts).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text") or "")
    return ""


def blocks_to_markdown(blocks: list[dict[str, Any]], fallback: str = "") -> str:
    """Block Kit (header, section with fields, markdown, context, divider) as Markdown; unknown blocks by their text."""
    lines: list[str] = []
    for block in blocks or ():
        kind = block.get("type")
        if kind == "header":
            lines.append(f"### {_text_of(block.get('text'))}")
        elif kind == "section":
            if block.get("text"):
                lines.append(mrkdwn_to_markdown(_text_of(block["text"])))
            for item in block.get("fields") or ():
                lines.append(f"- {mrkdwn_to_markdown(_text_of(item))}")
        elif kind == "markdown":
            lines.append(str(block.get("text") or ""))
        elif kind == "context":
            lines.append(" ".join(f"_{mrkdwn_to_markdown(_text_of(e))}_" for e in block.get("elements") or ()
                                  if _text_of(e)))
        elif kind == "divider":
            lines.append("---")
        elif _text_of(block.get("text")):
            lines.append(mrkdwn_to_markdown(_text_of(block["text"])))
    return "\n\n".join(line for line in lines if line.strip()) or mrkdwn_to_markdown(fallback)


class AnswerView:
    """One streamed answer on screen."""

    def __init__(self, renderer: "Renderer"):
        self.renderer = renderer
        self.text = ""
        self._live: Live | None = None

    def start(self) -> None:
        if self.renderer.interactive:
            self._live = Live(Markdown(""), console=self.renderer.out, refresh_per_second=12,
                              vertical_overflow="visible")
            self._live.start()

    def append(self, piece: str) -> None:
        self.text += piece
        if self._live is not None:
            self._live.update(Markdown(self.text))
        else:
            self.renderer.out.file.write(piece)
            self.renderer.out.file.flush()

    def finish(self, note: str = "") -> None:
        if self._live is not None:
            self._live.update(Markdown(self.text))
            self._live.stop()
            self._live = None
        elif self.text and not self.text.endswith("\n"):
            self.renderer.out.file.write("\n")
        if note:
            self.renderer.note(mrkdwn_to_markdown(note))
        self.renderer.out.file.flush()


class Renderer:
    def __init__(self, out: Console | None = None, err: Console | None = None):
        self.out = out or Console(highlight=False)
        self.err = err or Console(stderr=True, highlight=False)
        self.interactive = self.out.is_terminal

    def markdown(self, text: str) -> None:
        if self.interactive:
            self.out.print(Markdown(text))
        else:
            self.out.file.write(text.rstrip("\n") + "\n")
            self.out.file.flush()

    def reply(self, text: str, *, markdown: bool = False, blocks: list[dict[str, Any]] | None = None) -> None:
        """A command's reply: Block Kit, Markdown, or Slack mrkdwn."""
        if blocks:
            self.markdown(blocks_to_markdown(blocks, text))
        else:
            self.markdown(text if markdown else mrkdwn_to_markdown(text))

    def note(self, text: str) -> None:
        """Notes under an answer (summarization, cut answers) and session messages: stderr, dimmed."""
        if self.err.is_terminal:
            self.err.print(Markdown(text), style="dim")
        else:
            self.err.file.write(text.rstrip("\n") + "\n")
            self.err.file.flush()

    def box(self, title: str, text: str) -> None:
        """A framed note (Slack mrkdwn), e.g. an action awaiting approval: stderr, like the notes."""
        shown = mrkdwn_to_markdown(text)
        if self.err.is_terminal:
            self.err.print(Panel(Markdown(shown), title=title, title_align="left", border_style="yellow",
                                 expand=False))
        else:
            self.err.file.write(f"[{title}]\n{shown.rstrip()}\n")
            self.err.file.flush()

    def rule(self) -> None:
        if self.interactive:
            self.out.print(Rule(style="dim"))

    def error(self, text: str) -> None:
        if self.err.is_terminal:
            self.err.print(Text.assemble(("h1bot chat: ", "bold red"), text), soft_wrap=True)
        else:
            print(f"h1bot chat: {text}", file=sys.stderr, flush=True)

    def answer(self) -> AnswerView:
        return AnswerView(self)
