"""The shared shape of the fake servers: an aiohttp application on 127.0.0.1 at a free port.

`async with FakeSomething() as server:` starts it; `server.port` is where real clients reach it.
"""

from typing import Self

from aiohttp import web


class LoopbackServer:
    max_request_bytes = 8 * 1024 * 1024

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> Self:
        app = web.Application(client_max_size=self.max_request_bytes)
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def before_stop(self) -> None:
        """Close what the server keeps open itself (websockets), so that stopping is immediate."""

    async def stop(self) -> None:
        await self.before_stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
