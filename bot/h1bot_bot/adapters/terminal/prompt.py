"""The user's lines: prompt_toolkit (line editing, history in a file) on a terminal, plain lines from a pipe."""

import asyncio
import sys
from pathlib import Path
from typing import TextIO

YES = frozenset({"y", "yes"})


class LineReader:
    """`await read()` gives the next line, or None at the end (Ctrl-D, end of the piped input)."""

    def __init__(self, prompt: str, history_path: Path | None = None, interactive: bool | None = None,
                 stream: TextIO | None = None):
        """`stream`: where piped lines come from (stdin by default)."""
        self.stream = stream or sys.stdin
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.prompt = prompt
        self._session = None
        if self.interactive:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory, InMemoryHistory

            history = InMemoryHistory()
            if history_path is not None:
                try:
                    history_path.parent.mkdir(parents=True, exist_ok=True)
                    history = FileHistory(str(history_path))
                except OSError:
                    pass  # an unwritable home: history for this session only
            self._session = PromptSession(history=history)

    async def read(self) -> str | None:
        if self._session is None:
            line = await asyncio.to_thread(self.stream.readline)
            return line.rstrip("\n") if line else None
        while True:
            try:
                return await self._session.prompt_async(self.prompt)
            except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line, as in a shell
                continue
            except EOFError:
                return None

    async def confirm(self, question: str) -> bool | None:
        """A yes/no question: True only for y/yes; Ctrl-C is a no; None at the end of the input (Ctrl-D, the
        pipe's end). From a pipe the answer is the next line (the question is not shown: the caller notes it)."""
        if self._session is None:
            line = await asyncio.to_thread(self.stream.readline)
            return line.strip().lower() in YES if line else None
        try:
            return (await self._session.prompt_async(question)).strip().lower() in YES
        except KeyboardInterrupt:
            return False
        except EOFError:
            return None
