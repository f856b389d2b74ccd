"""An HTTP forward proxy on 127.0.0.1 that records what goes through it: absolute-form requests (`GET http://host/x`)
and websocket upgrades, as clients send them to a proxy for plain-HTTP targets. Enough to show that a bot's clients
honour HTTP(S)_PROXY from their environment (what spec.template.env sets in a cluster)."""

import asyncio
import contextlib

import aiohttp
from aiohttp import web

from tests.fakes.loopback import LoopbackServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length", "host"}


class FakeProxy(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str]] = []  # (method, absolute URL), in order
        self._sockets: list[web.WebSocketResponse] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._forward)

    async def before_stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        target = request.url  # built from the absolute-form target (its Host)
        if target.port == self.port:
            return web.Response(status=400, text="a proxy takes absolute-form requests for another host")
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        if websocket:
            target = target.with_scheme("ws")
        self.requests.append((request.method, str(target)))
        if websocket:
            return await self._websocket(request, target)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with aiohttp.ClientSession(auto_decompress=False) as session, session.request(
                request.method, target, headers=headers, data=await request.read(), allow_redirects=False) as upstream:
            body = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=body, headers=kept)

    async def _websocket(self, request: web.Request, target) -> web.WebSocketResponse:
        downstream = web.WebSocketResponse(autoping=True)
        await downstream.prepare(request)
        self._sockets.append(downstream)
        try:
            async with aiohttp.ClientSession() as session, session.ws_connect(target) as upstream:
                pumps = [asyncio.create_task(_pump(downstream, upstream)),
                         asyncio.create_task(_pump(upstream, downstream))]
                _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            self._sockets.remove(downstream)
            await downstream.close()
        return downstream


async def _pump(source, sink) -> None:
    async for message in source:
        if message.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(message.data)
        else:
            break
