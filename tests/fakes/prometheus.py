"""A fake Prometheus HTTP API on 127.0.0.1: `/api/v1/query` and `/api/v1/query_range` (GET or form POST), answered
from scripted series, with Prometheus's own checks of the parameters and its error shape.

    async with FakePrometheus() as prom:
        prom.answers['sum by (code) (rate(http_requests_total[5m]))'] = [
            Series({"code": "500"}, lambda t: 0.5), Series({"code": "200"}, 12.0)]
        prom.answers['rate(x[5m'] = PromError("bad_data", '1:10: parse error: unclosed left bracket')

What a query gets: `answers[query]` (matched exactly), else `responder(query)`, else an empty result (what
Prometheus answers for a metric it does not have). An answer is a list of `Series` (evaluated at the instant, or at
each step of a range, like Prometheus does), a `Scalar`, a `PromError`, a `Broken` (what a proxy in front answers:
any status, any text) or a `Hang` (answers after `seconds`, for client timeouts). Every request is recorded
(`requests`: path and parameters).
"""

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

MAX_POINTS = 11_000  # Prometheus refuses a range with more points per series


@dataclass
class Series:
    labels: dict[str, str]
    value: float | Callable[[float], float | None]  # at a Unix time; None: no sample then (a gap)

    def at(self, when: float) -> float | None:
        return self.value(when) if callable(self.value) else self.value


@dataclass
class Scalar:
    value: float


@dataclass
class PromError:
    error_type: str  # bad_data, execution, timeout, ...
    message: str
    status: int = 400  # Prometheus: 400 bad_data, 422 execution, 503 timeout/canceled


@dataclass
class Broken:
    status: int
    text: str
    content_type: str = "text/html"


@dataclass
class Hang:
    seconds: float
    then: Any = field(default_factory=list)


@dataclass
class PromRequest:
    path: str
    params: dict[str, str]


class BadParameter(Exception):
    pass


def prom_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def parse_time(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise BadParameter(f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp') from None


def parse_duration(name: str, text: str) -> float:
    """Seconds as a float, or an integer with a unit (`15s`, `5m`): what Prometheus's API accepts."""
    try:
        return float(text)
    except ValueError:
        pass
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(text[: -len(unit)]) * units[unit]
    raise BadParameter(f'invalid parameter "{name}": cannot parse "{text}" to a valid duration')


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"status": "error", "errorType": error_type, "error": message}


class FakePrometheus(LoopbackServer):
    def __init__(self, responder: Callable[[str], Any] | None = None) -> None:
        super().__init__()
        self.answers: dict[str, Any] = {}
        self.responder = responder
        self.requests: list[PromRequest] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_routes(self, app: web.Application) -> None:
        for path, handler in (("/api/v1/query", self._instant), ("/api/v1/query_range", self._range)):
            app.router.add_get(path, handler)
            app.router.add_post(path, handler)

    async def _params(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        self.requests.append(PromRequest(request.path, params))
        return params

    async def _answer(self, query: str) -> Any:
        answer = self.answers[query] if query in self.answers else (
            self.responder(query) if self.responder is not None else [])
        while isinstance(answer, Hang):
            await asyncio.sleep(answer.seconds)
            answer = answer.then
        return answer

    @staticmethod
    def _special(answer: Any) -> web.Response | None:
        if isinstance(answer, PromError):
            return web.json_response(error_body(answer.error_type, answer.message), status=answer.status)
        if isinstance(answer, Broken):
            return web.Response(status=answer.status, text=answer.text, content_type=answer.content_type)
        return None

    async def _instant(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        try:
            query = _query(params)
            when = parse_time("time", params["time"]) if "time" in params else time.time()
        except BadParameter as exc:
            return web.json_response(error_body("bad_data", str(exc)), status=400)
        answer = await self._answer(query)
        if (special := self._special(answer)) is not None:
            return special
        if isinstance(answer, Scalar):
            return _success("scalar", [when, prom_number(answer.value)])
        samples = [(s, s.at(when)) for s in answer]
        return _success("vector", [{"metric": s.labels, "value": [when, prom_number(v)]}
                                   for s, v in samples if v is not None])

    async def _range(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        try:
            query = _query(params)
            for name in ("start", "end", "step"):
                if name not in params:
                    raise BadParameter(f'invalid parameter "{name}": missing')
            start, end = parse_time("start", params["start"]), parse_time("end", params["end"])
            step = parse_duration("step", params["step"])
            if end < start:
                raise BadParameter("end timestamp must not be before start time")
            if step <= 0:
                raise BadParameter("zero or negative query resolution step widths are not accepted. Try a "
                                   "positive integer")
            if (end - start) / step > MAX_POINTS:
                raise BadParameter("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
                                   "the query resolution (?step=XX)")
        except BadParameter as exc:
            return web.json_response(error_body("bad_data", str(exc)), status=400)
        answer = await self._answer(query)
        if (special := self._special(answer)) is not None:
            return special
        steps = [start + i * step for i in range(int((end - start) // step) + 1)]
        result = []
        for series in answer if not isinstance(answer, Scalar) else [Series({}, answer.value)]:
            values = [[t, prom_number(v)] for t in steps if (v := series.at(t)) is not None]
            if values:
                result.append({"metric": series.labels, "values": values})
        return _success("matrix", result)


def _query(params: dict[str, str]) -> str:
    """The query, once the parameters both endpoints take are checked."""
    if "timeout" in params:
        parse_duration("timeout", params["timeout"])
    if not params.get("query"):
        raise BadParameter('invalid parameter "query": unknown position: parse error: no expression found in input')
    return params["query"]


def _success(kind: str, result: Any) -> web.Response:
    return web.json_response({"status": "success", "data": {"resultType": kind, "result": result}})
