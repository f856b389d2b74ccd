"""Prometheus HTTP API answers as the text a tool returns to the model (pure): one line per series, a range as a
few numbers per series (last, min, max, average) and a thinned run of its points, at most `max_series` series, and
an error answer (`status: error`) as a refusal the model can act on. Times are UTC, to the second.
"""

import json
import math
from collections.abc import Callable
from typing import Any

from h1bot_api.status import timestamp as rfc3339
from h1bot_bot.core.tools import ToolResult

SHOWN_POINTS = 12  # per series of a range: evenly spaced, the first and the last included
HINTS = {
    "bad_data": "correct the PromQL or the arguments and try again",
    "timeout": "try a shorter range, a coarser step or a cheaper query (aggregate first)",
    "execution": "try a shorter range, a coarser step or a cheaper query (aggregate first)",
}


def error_text(error_type: Any, error: Any) -> str:
    hint = HINTS.get(str(error_type))
    return f"Prometheus refused the query ({error_type}): {error}" + (f"; {hint}" if hint else "")


def result(body: Any, max_series: int) -> ToolResult:
    """The text for a parsed `/api/v1/query` or `/api/v1/query_range` answer, or a refused ToolResult."""
    if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
        return ToolResult(refused="the answer is not a Prometheus API response (no `status`)")
    if body["status"] == "error":
        return ToolResult(refused=error_text(body.get("errorType", "error"), body.get("error", "no message")))
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    kind, found = data.get("resultType"), data.get("result")
    try:
        if kind == "vector":
            text = _vector(found or [], max_series)
        elif kind == "matrix":
            text = _matrix(found or [], max_series)
        elif kind in ("scalar", "string"):
            at, value = found
            shown = number(value) if kind == "scalar" else json.dumps(value, ensure_ascii=False)
            text = f"{kind} {shown} at {rfc3339(float(at))}"
        else:
            return ToolResult(refused=f"Prometheus answered a result of unknown type {kind!r}")
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        return ToolResult(refused=f"Prometheus answered a malformed {kind} result ({type(exc).__name__})")
    notes = [f"Prometheus warning: {w}" for w in body.get("warnings") or ()]
    notes += [f"Prometheus info: {i}" for i in body.get("infos") or ()]
    return ToolResult("\n".join([text, *notes]))


def series_name(metric: dict[str, str]) -> str:
    """`http_requests_total{code="500",job="api"}`, as Prometheus writes a series; `{}` for no labels."""
    labels = ",".join(f"{k}={json.dumps(str(v), ensure_ascii=False)}" for k, v in sorted(metric.items())
                      if k != "__name__")
    return f"{metric.get('__name__', '')}{{{labels}}}"


def number(text: Any) -> str:
    value = float(text)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _histogram(sample: dict[str, Any]) -> str:
    return f"histogram count={number(sample.get('count', 'NaN'))} sum={number(sample.get('sum', 'NaN'))}"


def _more(total: int, max_series: int) -> list[str]:
    if total <= max_series:
        return []
    return [f"({total - max_series} more series not shown: aggregate with sum by (...) or use topk to see fewer)"]


def _vector(found: list[dict[str, Any]], max_series: int) -> str:
    if not found:
        return "no series: the query matched nothing at that time (check the metric and label names)"
    at = (found[0].get("value") or found[0].get("histogram"))[0]
    lines = [f"{len(found)} series at {rfc3339(float(at))}"]
    for sample in found[:max_series]:
        value = number(sample["value"][1]) if "value" in sample else _histogram(sample["histogram"][1])
        lines.append(f"{series_name(sample.get('metric') or {})} {value}")
    return "\n".join(lines + _more(len(found), max_series))


def _matrix(found: list[dict[str, Any]], max_series: int) -> str:
    if not found:
        return "no series: the query matched nothing in that range (check the metric and label names)"
    times = [float(p[0]) for s in found for p in (s.get("values") or s.get("histograms") or ())]
    first, last = min(times), max(times)
    with_day = rfc3339(first)[:10] != rfc3339(last)[:10]
    with_seconds = any(t % 60 for t in times)

    def stamp(at: float) -> str:
        full = rfc3339(at)
        return (full[5:10] + " " if with_day else "") + full[11:19 if with_seconds else 16]
    lines = [f"{len(found)} series from {rfc3339(first)} to {rfc3339(last)} (times below in UTC)"]
    for series in found[:max_series]:
        lines += _series_lines(series, stamp)
    return "\n".join(lines + _more(len(found), max_series))


def _series_lines(series: dict[str, Any], stamp: Callable[[float], str]) -> list[str]:
    name = series_name(series.get("metric") or {})
    if "values" not in series:  # native histograms
        points = series.get("histograms") or []
        return [f"{name}  last {_histogram(points[-1][1])} at {stamp(float(points[-1][0]))}, {len(points)} points"]
    points = [(float(at), float(value)) for at, value in series["values"]]
    finite = [p for p in points if math.isfinite(p[1])]
    summary = f"last={number(points[-1][1])}"
    if finite:
        low, high = min(finite, key=lambda p: p[1]), max(finite, key=lambda p: p[1])
        summary += (f" min={number(low[1])} ({stamp(low[0])}) max={number(high[1])} ({stamp(high[0])}) "
                    f"avg={number(sum(v for _, v in finite) / len(finite))}")
    chosen = points if len(points) <= SHOWN_POINTS else \
        [points[round(i * (len(points) - 1) / (SHOWN_POINTS - 1))] for i in range(SHOWN_POINTS)]
    run = ", ".join(f"{stamp(at)} {number(value)}" for at, value in chosen)
    thinned = f" ({len(chosen)} of {len(points)} points)" if len(chosen) < len(points) else ""
    return [f"{name}  {summary}, {len(points)} points", f"  {run}{thinned}"]

