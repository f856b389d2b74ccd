"""`h1bot chat` in a pseudo-terminal, as a person types: prompt_toolkit's line editing and history, rich's rendering."""

import asyncio
import os
import pty
import select
import time

from tests.chat.conftest import H1BOT, write_spec
from tests.fakes.openai import FakeOpenAI


def read_until(fd: int, text: str, seen: bytearray, timeout: float = 60, count: int = 1) -> str:
    """Read the terminal until `text` has been shown `count` times."""
    deadline = time.monotonic() + timeout
    while seen.count(text.encode()) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} never shown; the terminal shows {seen.decode(errors='replace')[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the process ended: the pty is closed
                break
    return seen.decode(errors="replace")


async def test_a_session_in_a_terminal_renders_markdown_and_keeps_history(tmp_path, chat_env, fake_openai: FakeOpenAI):
    fake_openai.script("Run **kubectl drain** first.")
    env = {**chat_env, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40", "PROMPT_TOOLKIT_NO_CPR": "1"}
    controller, terminal = pty.openpty()
    process = await asyncio.create_subprocess_exec(H1BOT, "chat", "--spec", str(write_spec(tmp_path)), "--as",
                                                   "Alice", env=env, stdin=terminal, stdout=terminal,
                                                   stderr=terminal, start_new_session=True)
    os.close(terminal)
    seen = bytearray()
    try:
        await asyncio.to_thread(read_until, controller, "Alice>", seen)
        os.write(controller, b"how do I drain?\r")
        shown = await asyncio.to_thread(read_until, controller, "first.", seen)
        assert "kubectl drain" in shown and "**kubectl drain**" not in shown, "Markdown is rendered, not printed"
        prompts = seen.count(b"Alice>")
        await asyncio.to_thread(read_until, controller, "Alice>", seen, 60, prompts + 1)  # the next prompt
        os.write(controller, b"\x04")  # Ctrl-D leaves
        assert await asyncio.wait_for(process.wait(), 60) == 0
    finally:
        if process.returncode is None:
            process.kill()
        os.close(controller)
    history = tmp_path / ".local" / "state" / "h1bot" / "chat_history"
    assert "how do I drain?" in history.read_text()
    assert fake_openai.chat_requests[0].messages[-1]["content"] == "Alice (Alice): how do I drain?"
