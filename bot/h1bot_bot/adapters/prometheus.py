"""The bot's Prometheus tools: PromQL through the Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`) at
spec.tools.prometheus.url. Whatever goes wrong (unreachable, a timeout, a 5xx page from a proxy, an answer that is
not JSON, a PromQL error) becomes a ToolResult with `refused` set that the model reads; never an exception.

Interface for the engine's tool loop (core/tools.py's module docstring shows the whole loop):
    prometheus = PrometheusTools.from_spec(spec.tools.prometheus, now=time.time)   # when it is set
    result = await prometheus.lookup(query)               # core.prom_tools.PromQuery → ToolResult
    await prometheus.close()                              # on shutdown
`now` (Unix seconds) is the default evaluation time and the default end of a range.
"""

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp

from h1bot_api.tools_spec import PrometheusSpec
from h1bot_bot.core import prom_view
from h1bot_bot.core.prom_tools import PROM_RANGE, PromQuery
from h1bot_bot.core.tools import ToolResult

MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a bigger answer is refused: the model is asked to aggregate
GRACE = 0.1  # of the timeout, beyond the query timeout sent to Prometheus, so that its own timeout answer arrives first


class PrometheusTools:
    def __init__(self, base_url: str, *, now: Callable[[], float], timeout: float = 10.0,
                 max_series: int = 20) -> None:
        self.base_url, self.now, self.timeout, self.max_series = base_url.rstrip("/"), now, timeout, max_series
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_spec(cls, spec: PrometheusSpec, now: Callable[[], float]) -> "PrometheusTools":
        return cls(spec.url, now=now, timeout=float(spec.timeout_seconds), max_series=spec.max_series)

    def _params(self, query: PromQuery) -> tuple[str, dict[str, str]]:
        params = {"query": query.query, "timeout": f"{self.timeout:g}"}  # seconds, as Prometheus parses it
        if query.tool != PROM_RANGE:
            params["time"] = query.time or f"{self.now():.3f}"
            return "/api/v1/query", params
        end = datetime.fromisoformat(query.end).timestamp() if query.end else self.now()
        params.update(start=f"{end - query.range_minutes * 60:.3f}", end=f"{end:.3f}", step=f"{query.step_seconds}")
        return "/api/v1/query_range", params

    async def lookup(self, query: PromQuery) -> ToolResult:
        try:
            path, params = self._params(query)
        except ValueError as exc:  # an `end` that looks like RFC 3339 but is no date (month 13)
            return ToolResult(refused=f"`end` is not a valid time ({exc}); use RFC 3339 such as 2026-01-31T14:05:00Z")
        what = f"Prometheus at {self.base_url}"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout * (1 + GRACE)))
        try:
            async with self._session.get(self.base_url + path, params=params) as response:
                body = await _read(response)
                status = response.status
        except TimeoutError:
            return ToolResult(refused=f"{what} did not answer within {self.timeout:g}s; try a shorter range, a "
                                      "coarser step or a cheaper query")
        except AnswerTooLarge:
            return ToolResult(refused=f"{what} answered more than {MAX_ANSWER_BYTES // 2**20} MiB; aggregate "
                                      "(sum by (...), topk) or narrow the label matchers")
        except (aiohttp.ClientError, OSError) as exc:
            return ToolResult(refused=f"{what} could not be reached ({type(exc).__name__}: {exc})")
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or "status" not in parsed:
            snippet = " ".join(body.decode("utf-8", "replace").split())[:200]
            return ToolResult(refused=f"{what} answered HTTP {status} that is not a Prometheus API answer: "
                                      f"{snippet or '(empty)'}")
        return prom_view.result(parsed, self.max_series)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class AnswerTooLarge(Exception):
    pass


async def _read(response: aiohttp.ClientResponse) -> bytes:
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise AnswerTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
