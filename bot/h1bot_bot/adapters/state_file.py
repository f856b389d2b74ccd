"""status.runtime of a bot run from a manifest file (`h1bot-bot --spec PATH`), kept in a state file beside it.

Where: `<spec file>.state.json` in the spec's directory (`bots/helpdesk.yaml` → `bots/helpdesk.yaml.state.json`),
so each spec file has its own and deleting it resets every override.
What: `{"status": {"runtime": {...}}}`, the shape the cluster stores, so `apply_patch` takes the very merge patch
body the bot sends to the status subresource (overrides.merge_patch_for).

Writes are atomic: a temporary file in the same directory, flushed and fsynced, then `os.replace`d over the state
file; a crash mid-write leaves the previous state intact and at most a `.<name>.*.tmp` file, which is ignored.
Loading never crashes: a file that is not a JSON state is moved aside to `<state>.corrupt-<UTC time>` and the
problem is returned (and logged) so it can be shown; the bot starts with no overrides. A file that cannot be read
(or moved aside) is never overwritten: saving raises StateFileError instead.

Blocking file I/O: from the event loop, call these through `asyncio.to_thread`.
"""

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from h1bot_bot.adapters.kube import Written
from h1bot_bot.core.overrides import apply_merge_patch

log = logging.getLogger(__name__)

SUFFIX = ".state.json"


class StateFileError(RuntimeError):
    """The state could not be saved; the message names the file and the cause."""


@dataclass(frozen=True)
class LoadedState:
    runtime: dict[str, Any] = field(default_factory=dict)
    # Why the file's state could not be used (None when it could, or there was no file yet).
    problem: str | None = None


def state_path_for(spec_path: str | os.PathLike[str]) -> Path:
    spec_path = Path(spec_path)
    return spec_path.with_name(spec_path.name + SUFFIX)


class StateFile:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._writable = True  # False once the file exists but could not be read or moved aside

    @classmethod
    def beside(cls, spec_path: str | os.PathLike[str]) -> "StateFile":
        return cls(state_path_for(spec_path))

    def load(self) -> LoadedState:
        """The runtime stored in the file ({} when there is none); see the module doc for a bad file."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return LoadedState()
        except OSError as error:
            self._writable = False
            return self._report(f"cannot read the state file {self.path} ({error.strerror or error}); "
                                "running without its overrides and not writing over it")
        try:
            return LoadedState(_runtime_of(json.loads(raw.decode("utf-8"))))
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
            return self._move_aside(str(error))

    def save_runtime(self, runtime: Mapping[str, Any]) -> None:
        """Replace the stored runtime with `runtime`, atomically."""
        self._write({"status": {"runtime": dict(runtime)}})

    def apply_patch(self, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a status merge patch body (`{"status": {"runtime": …}}`) to the stored state, as the API server
        does to the status subresource; returns the runtime now stored. Raises StateFileError."""
        unknown = set(patch) - {"status"} or set(patch.get("status") or {}) - {"runtime"}
        if unknown:
            raise StateFileError(f"a state patch touches only status.runtime, not {', '.join(sorted(unknown))}")
        loaded = self.load()
        if not patch:
            return loaded.runtime
        runtime = apply_merge_patch(loaded.runtime, (patch.get("status") or {}).get("runtime") or {})
        self.save_runtime(runtime)
        return runtime

    def _report(self, problem: str) -> LoadedState:
        log.warning("%s", problem)
        return LoadedState(problem=problem)

    def _move_aside(self, why: str) -> LoadedState:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        counter = 1
        while aside.exists():
            counter += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{counter}")
        try:
            os.replace(self.path, aside)
        except OSError as error:
            self._writable = False
            return self._report(f"the state file {self.path} is not a valid h1bot state ({why}) and could not be "
                                f"moved aside ({error.strerror or error}); running without its overrides and not "
                                "writing over it: fix or remove it")
        return self._report(f"the state file {self.path} is not a valid h1bot state ({why}); it was moved to "
                            f"{aside.name} and the bot starts without Slack overrides")

    def _write(self, document: Mapping[str, Any]) -> None:
        if not self._writable:
            raise StateFileError(f"not writing over {self.path}: it could not be read or moved aside (see the log)")
        data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        directory = self.path.parent
        try:
            handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as error:
            raise StateFileError(f"cannot write the state file {self.path}: {error.strerror or error}") from None
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise StateFileError(f"cannot write the state file {self.path}: {error.strerror or error}") from None
        _fsync_directory(directory)


def _runtime_of(document: Any) -> dict[str, Any]:
    """The runtime in a parsed state file; ValueError when the document is not one."""
    if not isinstance(document, dict):
        raise ValueError("the top level is not a JSON object")
    status = document.get("status", {})
    runtime = status.get("runtime", {}) if isinstance(status, dict) else None
    if not isinstance(runtime, dict):
        raise ValueError("status.runtime is not a JSON object")
    overrides = runtime.get("overrides", {})
    if not isinstance(overrides, dict) or not all(isinstance(entry, dict) for entry in overrides.values()):
        raise ValueError("status.runtime.overrides is not an object of objects")
    return runtime


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class FileStore:
    """status.runtime in a state file beside the spec (`h1bot-bot --spec`); its audit record is the log."""

    def __init__(self, state: StateFile):
        self.state = state
        self.description = f"the state file {state.path}"

    async def write(self, patch: dict[str, Any]) -> Written:
        return Written(await asyncio.to_thread(self.state.apply_patch, patch), None)

    async def event(self, type_: str, reason: str, message: str) -> None:
        return None
