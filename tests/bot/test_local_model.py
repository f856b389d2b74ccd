"""The embedded default model's server: found in the installed `local` extra, started on loopback, always stopped.

The process handling runs against tests/fakes/model_server.py (llama_cpp.server's arguments, no model); the last test
runs the real SmolLM2 through llama.cpp and is skipped, saying why, where the `local` extra is not installed (CI
installs only `.[dev]`).
"""

import os
import re
import signal
import subprocess
import sys
import textwrap

import openai
import psutil
import pytest

from h1bot_api.models import EMBEDDED_MODEL, KNOWN_MODELS
from h1bot_bot.adapters.local_model import (
    INSTALL_HINT,
    LocalModelError,
    LocalModelNotInstalled,
    LocalModelServer,
    check_server_installed,
    embedded_model_server,
    find_model_file,
)
from tests.fakes.waiting import wait_until
from tests.paths import REPO

FAKE = "tests.fakes.model_server"


@pytest.fixture(autouse=True)
def fake_importable(monkeypatch):
    """The server child runs `python -m tests.fakes.model_server`: let it find the repository's tests package."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF")
    return path


def fake_server(model_file, behave: str, **options) -> LocalModelServer:
    return LocalModelServer(model_file, model_id="tiny-model", context_tokens=2048, module=FAKE,
                            extra_args=["--behave", behave], **options)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def local_extra_installed() -> bool:
    try:
        check_server_installed()
        find_model_file()
    except LocalModelNotInstalled:
        return False
    return True


def test_without_the_local_extra_the_error_says_how_to_install_it():
    with pytest.raises(LocalModelNotInstalled, match=re.escape(INSTALL_HINT)) as missing_server:
        check_server_installed(("json", "h1bot_no_such_module"))
    assert "h1bot_no_such_module" in str(missing_server.value) and "json" not in str(missing_server.value)
    with pytest.raises(LocalModelNotInstalled, match=re.escape(INSTALL_HINT)) as missing_model:
        find_model_file("h1bot-no-such-distribution")
    assert "h1bot-no-such-distribution" in str(missing_model.value)
    if not local_extra_installed():  # the machine as CI has it: the real entry point says the same
        with pytest.raises(LocalModelNotInstalled, match=re.escape(INSTALL_HINT)):
            embedded_model_server()


def test_a_server_that_exits_at_once_is_reported_with_its_output(model_file):
    server = fake_server(model_file, "crash")
    with pytest.raises(LocalModelError) as failed:
        server.start()
    message = str(failed.value)
    assert "exited with code 1 before serving" in message and str(model_file) in message
    assert "failed to read magic" in message and "Failed to load model from file" in message
    assert server.log_path.exists(), "the log of a failed start is kept for the user to read"
    server.log_path.unlink()


def test_a_server_that_never_answers_is_stopped_at_the_deadline(model_file):
    server = fake_server(model_file, "never-ready", startup_timeout=1.5, stop_timeout=2)
    with pytest.raises(LocalModelError, match=r"did not serve http://127\.0\.0\.1:\d+/v1/models within 1\.5s"):
        server.start()
    assert gone(server.process.pid)
    server.log_path.unlink()


def test_the_server_serves_on_loopback_and_leaves_no_process_behind(model_file):
    progress = []
    with fake_server(model_file, "serve-with-child", on_progress=lambda status, _: progress.append(status)) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", server.base_url)
        client = openai.OpenAI(base_url=server.base_url, api_key="local", max_retries=0)
        assert [model.id for model in client.models.list()] == [server.model_id] == ["tiny-model"]
        # Its own process group: a Ctrl-C in the terminal (SIGINT to the foreground group) never reaches it.
        assert os.getpgid(server.process.pid) == server.process.pid != os.getpgid(0)
        tail = wait_until(lambda: re.search(r"child-pid: (\d+)", server.output_tail()), message="the child's pid")
        pids = [server.process.pid, int(tail[1])]
        log = server.log_path
        assert not any(map(gone, pids))
    assert progress[0] == "starting tiny-model" and progress[-1] == "tiny-model ready"
    wait_until(lambda: all(map(gone, pids)), timeout=15, message=f"server and its child {pids} gone")
    assert not log.exists() and server.load_seconds is not None


def test_ctrl_c_while_the_model_loads_stops_the_server(model_file):
    def interrupt(status, elapsed):
        if status.startswith("loading"):
            raise KeyboardInterrupt

    server = fake_server(model_file, "never-ready", on_progress=interrupt, stop_timeout=2)
    with pytest.raises(KeyboardInterrupt):
        server.start()
    assert gone(server.process.pid)
    server.log_path.unlink()


def test_the_server_exits_when_the_chat_process_is_killed(model_file):
    """SIGKILL runs no cleanup: the server sees its stdin pipe close and exits by itself."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from h1bot_bot.adapters.local_model import LocalModelServer
        server = LocalModelServer(Path({str(model_file)!r}), model_id="tiny-model", context_tokens=2048,
                                  module={FAKE!r}, extra_args=["--behave", "serve"]).start()
        print(server.process.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    chat = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert chat.returncode == -signal.SIGKILL, chat.stderr
    server_pid = int(chat.stdout.split()[0])
    wait_until(lambda: gone(server_pid), timeout=15, message=f"orphaned server {server_pid} gone")


def test_the_embedded_server_is_configured_from_the_model_table():
    """The window the server is started with is the table's, and the tokenizer is flagged as an estimate."""
    info = KNOWN_MODELS[EMBEDDED_MODEL]
    if not local_extra_installed():
        pytest.skip(f"the `local` extra is not installed ({INSTALL_HINT})")
    server = embedded_model_server()
    command = server.command()
    assert command[command.index("--n_ctx") + 1] == str(info.context_tokens)
    assert command[command.index("--model_alias") + 1] == EMBEDDED_MODEL
    assert server.model_path.name.endswith(".gguf") and server.model_path.is_file()
    assert not info.tokenizer_exact


@pytest.mark.slow
def test_the_embedded_model_answers_through_the_openai_client():
    if not local_extra_installed():
        pytest.skip(f"the `local` extra is not installed ({INSTALL_HINT})")
    # The request the bot sends (adapters/llm.py): names on user messages, streamed with a usage chunk.
    messages = [{"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
                {"role": "user", "name": "alice", "content": "What is the capital of France?"}]
    with embedded_model_server() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=120)
        assert [model.id for model in client.models.list()] == [EMBEDDED_MODEL]
        plain = client.chat.completions.create(model=server.model_id, messages=messages, max_tokens=48,
                                               temperature=0)
        answer = plain.choices[0].message.content
        assert "Paris" in answer, answer
        stream = client.chat.completions.create(model=server.model_id, messages=messages, max_tokens=48,
                                                temperature=0, stream=True, stream_options={"include_usage": True})
        pieces = [choice.delta.content for chunk in stream for choice in chunk.choices if choice.delta.content]
        assert len(pieces) > 1 and "Paris" in "".join(pieces), pieces
        pid = server.process.pid
    wait_until(lambda: gone(pid), timeout=15, message="the model server gone after exit")
