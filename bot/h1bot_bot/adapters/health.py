"""HTTP on one port: /healthz (process alive), /readyz (can answer: core/readiness), /metrics (Prometheus).

/readyz answers 200 `ready`, or 503 with the reason and what to fix (`not ready (PromptTooLarge): …`); JSON
(`{"ready", "reason", "message"}`) when the request accepts application/json.
"""

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from h1bot_bot.core.readiness import Health


class HealthServer:
    def __init__(self, registry: CollectorRegistry, ready: Callable[[], Awaitable[Health]], host: str = "0.0.0.0",
                 port: int = 8080):
        self.registry = registry
        self.ready = ready
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._app = app

    async def start(self) -> int:
        """Start serving; returns the bound port (useful with port 0)."""
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        health = await self.ready()
        status = 200 if health.ready else 503
        if "application/json" in request.headers.get("Accept", ""):
            return web.json_response(health.as_json(), status=status)
        if health.ready:
            return web.Response(text="ready\n")
        return web.Response(status=status, text=f"not ready ({health.reason}): {health.message}\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
