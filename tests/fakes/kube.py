"""Kubernetes on loopback for tests: the emulator served from its own thread, a kubeconfig, outages, the operator.

`KubeAPI` serves `KubeEmulator` (tests/fakes/kube_emulator.py: kmock 0.8 with its gaps closed) on 127.0.0.1 from its
own thread and loop, so sync code (kubectl, the `kubernetes` client, kopf in another thread) can all talk to it. The API
can go down and come back: `outage()` (every request answers 503, watches drop) or `stop_server()`/`start_server()`
(connection refused, then the same port again). `accept_tokens(...)` turns authentication on (401 without one of
them; the tests' own requests here carry TEST_CLIENT_TOKEN). `OperatorThread` / `OperatorProcess` run the real kopf
operator.
"""

import asyncio
import contextlib
import copy
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
import yaml

from tests.fakes.kube_emulator import KubeEmulator
from tests.fakes.waiting import wait_until
from tests.paths import CRD_PATH, REPO

TEST_CLIENT_TOKEN = "kmock-test-client"  # what KubeAPI.request sends: always accepted
__all__ = ["TEST_CLIENT_TOKEN", "KubeAPI", "KubeEmulator", "OperatorProcess", "OperatorThread", "free_port", "kubectl",
           "object_path", "wait_until"]


class KubeAPI:
    """The emulator served on http://127.0.0.1:PORT from its own thread and event loop.

    Use it from sync tests: `call(fn_or_coro)` runs in the emulator's loop; `request(...)` is a tiny JSON client.
    """

    def __init__(self, crds: tuple[Path, ...] = (CRD_PATH,), port: int = 0, tls: Any = None) -> None:
        self.port, self._crds = port, crds
        self.tls = tls  # a tests.fakes.tls.Pki: serve https with its server certificate
        self.emulator: KubeEmulator | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kube-api", daemon=True)
        self._runner: aiohttp.web.ServerRunner | None = None
        self.kubeconfig: Path | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def call(self, target: Any, timeout: float = 30) -> Any:
        """Run a coroutine, or a plain callable, in the emulator's loop and return its result."""
        async def run() -> Any:
            return await target if asyncio.iscoroutine(target) else target()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def start(self) -> "KubeAPI":
        self._thread.start()

        async def setup() -> None:
            self.emulator = KubeEmulator()
            await self.emulator.__aenter__()
            with warnings.catch_warnings():  # kmock 0.8 uses importlib.resources.read_binary (deprecated)
                warnings.simplefilter("ignore", DeprecationWarning)
                self.emulator.resources.load_bundled()
            for crd in self._crds:
                self.emulator.register_crd(crd)
        self.call(setup())
        self.start_server()
        return self

    def start_server(self) -> None:
        async def serve() -> None:
            server = aiohttp.web.Server(self.emulator, handler_cancellation=True)  # a client gone ends its watch
            self._runner = aiohttp.web.ServerRunner(server, handle_signals=False, shutdown_timeout=2)
            await self._runner.setup()
            site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True,
                                       ssl_context=self.tls.server_context() if self.tls else None)
            await site.start()
            self.port = self._runner.addresses[0][1]
        self.call(serve())

    def stop_server(self) -> None:
        """The API goes away (connections refused) until `start_server()`; the objects are kept."""
        if self._runner is not None:
            self.call(lambda: self.emulator.drop_watches())
            self.call(self._runner.cleanup())
            self._runner = None

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """While inside, every request answers 503 and open watch streams end."""
        self.call(lambda: self.emulator.set_available(False))
        try:
            yield
        finally:
            self.call(lambda: self.emulator.set_available(True))

    def accept_tokens(self, *tokens: str, client_cns: tuple[str, ...] = ()) -> None:
        """From now on only these bearer tokens (and the tests' own), or over TLS client certificates with these
        common names, are let in; neither: authentication off."""
        accepted = frozenset((*tokens, TEST_CLIENT_TOKEN)) if tokens or client_cns else None

        def apply() -> None:
            self.emulator.accepted_tokens, self.emulator.accepted_client_cns = accepted, frozenset(client_cns)
        self.call(apply)

    @property
    def unauthorized(self) -> list[str]:
        """The requests answered 401 so far ("METHOD path")."""
        return self.call(lambda: list(self.emulator.unauthorized))

    def stop(self) -> None:
        self.stop_server()
        if self.emulator is not None:
            self.call(self.emulator.__aexit__(None, None, None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> "KubeAPI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_kubeconfig(self, path: Path, user: dict[str, Any] | None = None) -> Path:
        """A kubeconfig for kubectl, kopf and the `kubernetes` client (context `kmock`, namespace default); `user`
        replaces the static token (an `exec` plugin, a `tokenFile`, ...)."""
        cluster = {"server": self.url, **({"certificate-authority": str(self.tls.ca)} if self.tls else {})}
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "kmock", "preferences": {},
            "clusters": [{"name": "kmock", "cluster": cluster}],
            "users": [{"name": "kmock", "user": user or {"token": "kmock-token"}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock", "namespace": "default"}}],
        }))
        self.kubeconfig = path
        return path

    # --- sync conveniences for tests ----------------------------------------------------------------------------------
    def find(self, res: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object as stored now (a copy), or None; `res` like 'apps/v1/deployments'."""
        return self.call(lambda: self.emulator.find(res, namespace, name))

    def lose(self, res: str, namespace: str | None, name: str) -> None:
        """The object disappears and no watcher hears of it (a lost watch event)."""
        self.call(lambda: self.emulator.lose(res, namespace, name))

    def count(self, res: str, namespace: str | None = None) -> int:
        return self.call(lambda: self.emulator.count(res, namespace))

    def find_all(self, res: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.call(lambda: self.emulator.find_all(res, namespace))

    def received(self, method: str, path: str) -> list[Any]:
        """The requests the emulator has received (kmock's record) with this method whose path starts with `path`."""
        def matching() -> list[Any]:
            return [r for r in self.emulator._requests
                    if r.method.value == method.upper() and r.url.path.startswith(path)]
        return self.call(matching)

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/merge-patch+json") -> dict[str, Any]:
        """A JSON request as any client would send it; raises `urllib.error.HTTPError` on errors."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", "Authorization": f"Bearer {TEST_CLIENT_TOKEN}",
                   "Content-Type": content_type if method == "PATCH" else "application/json"}
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        context = self.tls.client_context() if self.tls else None
        with urllib.request.urlopen(req, timeout=10, context=context) as response:
            return json.loads(response.read() or b"{}")

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create the object, or merge-patch it when it exists (like `kubectl apply` for our purposes)."""
        path = object_path(obj)
        try:
            return self.request("POST", path.rsplit("/", 1)[0], obj)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
        return self.request("PATCH", path, obj)

    def create_all(self, objects: Sequence[dict[str, Any]]) -> None:
        """Create many objects at once, each as its POST would (same checks, one watch event each), without a
        request each: for fixtures of thousands of objects."""
        def create() -> None:
            for obj in objects:
                res = kmock.resource(f"{obj['apiVersion']}/{obj['kind'].lower()}s")
                namespace = obj["metadata"].get("namespace")
                self.emulator._commit(res, "ADDED", self.emulator.created(res, copy.deepcopy(obj), namespace))
        self.call(create)

    def delete(self, obj_or_path: dict[str, Any] | str) -> None:
        with contextlib.suppress(urllib.error.HTTPError):
            self.request("DELETE", obj_or_path if isinstance(obj_or_path, str) else object_path(obj_or_path))


def object_path(obj: dict[str, Any]) -> str:
    """The URL path of an object from its apiVersion/kind/metadata (plural = lower-cased kind + 's')."""
    api_version, meta = obj["apiVersion"], obj["metadata"]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    namespace = f"/namespaces/{meta['namespace']}" if meta.get("namespace") else ""
    return f"{base}{namespace}/{obj['kind'].lower()}s/{meta['name']}"


def kubectl(kubeconfig: Path, *args: str, timeout: float = 60) -> str:
    """Run the real kubectl against `kubeconfig`, as a user would; fail the test with its stderr."""
    result = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", *args], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"kubectl {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OperatorThread:
    """The real kopf operator (h1bot_operator.handlers) in this process, in its own thread and event loop.

    kopf reads credentials from $KUBECONFIG: `kubeconfig` is exported while the operator runs.
    """

    def __init__(self, kubeconfig: Path, config: Any, namespaces: Sequence[str] = ()) -> None:
        self.kubeconfig, self.config, self.namespaces = kubeconfig, config, tuple(namespaces)
        self._stop, self._ready = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._previous_kubeconfig: str | None = None
        self.error: BaseException | None = None

    def start(self, timeout: float = 20) -> "OperatorThread":
        import kopf

        import h1bot_operator.handlers  # noqa: F401  (registers the handlers)

        self._previous_kubeconfig = os.environ.get("KUBECONFIG")
        os.environ["KUBECONFIG"] = str(self.kubeconfig)
        self._stop.clear()
        self._ready.clear()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(kopf.operator(
                    standalone=True, clusterwide=not self.namespaces, namespaces=self.namespaces,
                    memo=kopf.Memo(config=self.config), stop_flag=self._stop, ready_flag=self._ready))
            except BaseException as exc:  # reported by stop()
                self.error = exc
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="kopf-operator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise AssertionError(f"the operator did not get ready in {timeout}s ({self.error!r})")
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "the operator did not stop"
            if self._previous_kubeconfig is None:
                os.environ.pop("KUBECONFIG", None)
            else:
                os.environ["KUBECONFIG"] = self._previous_kubeconfig
        self._thread = None

    def __enter__(self) -> "OperatorThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class OperatorProcess:
    """The operator as a user runs it: a subprocess (`h1bot-operator` by default), ready once its liveness answers."""

    def __init__(self, kubeconfig: Path, args: Sequence[str] = ("-A",), command: Sequence[str] | None = None,
                 env: dict[str, str] | None = None, log_path: Path | None = None) -> None:
        self.port = free_port()
        self.liveness = f"http://127.0.0.1:{self.port}/healthz"
        self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        default = [str(Path(sys.executable).with_name("h1bot-operator"))]
        self.command = [*(command or default), f"--liveness={self.liveness}", *args]  # kopf run takes it too
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "LOG_FORMAT": "text",
                    "H1BOT_METRICS_PORT": str(self.metrics_port), **(env or {})}
        self.log_path = log_path or kubeconfig.with_name(f"operator-{self.port}.log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> "OperatorProcess":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=REPO)

        def alive() -> bool:
            assert self.process is not None and self.process.poll() is None, f"operator exited:\n{self.log()}"
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.liveness, timeout=1) as response:
                    return response.status == 200
            return False
        wait_until(alive, timeout=timeout, interval=0.2, message="the operator's liveness endpoint")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20) -> int | None:
        if self.process is None:
            return None
        self.process.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)

    def __enter__(self) -> "OperatorProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
