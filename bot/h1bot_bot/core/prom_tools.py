"""The Prometheus tools as the model sees them (pure): an instant and a range PromQL query, offered only when
spec.tools.prometheus is set. core/tools.py's `definitions` and `parse_call` include these; a call becomes a
`PromQuery` that adapters/prometheus.py runs (the clock that ends a range is the adapter's, never read here).
"""

import re
from dataclasses import dataclass
from typing import Any

from h1bot_api.tools_spec import PrometheusSpec
from h1bot_bot.core.tool_args import ToolRefused, function, integer_arg, string_arg

PROM_QUERY, PROM_RANGE = "prometheus_query", "prometheus_query_range"
PROM_TOOLS = (PROM_QUERY, PROM_RANGE)
MAX_RANGE_MINUTES = 1440  # one day
MAX_POINTS = 300  # per series of a range query: a finer step is raised to this
MAX_STEP_SECONDS = 3600
MAX_QUERY_CHARS = 4000
SHOWN_QUERY_CHARS = 160  # of the query in the "looked at" line
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class PromQuery:
    """A PromQL query the bot may run: `tool` is PROM_QUERY (instant) or PROM_RANGE."""

    tool: str
    query: str
    time: str = ""  # PROM_QUERY: RFC 3339 evaluation time; empty: now
    end: str = ""  # PROM_RANGE: RFC 3339 end of the range; empty: now
    range_minutes: int = 0  # PROM_RANGE: how far back from the end
    step_seconds: int = 0  # PROM_RANGE: resolution (at most MAX_POINTS points a series)

    def description(self) -> str:
        """For the "looked at" line: `prometheus: rate(x[5m]) over the last 60 minutes (step 60s)`."""
        shown = self.query if len(self.query) <= SHOWN_QUERY_CHARS else self.query[:SHOWN_QUERY_CHARS - 1] + "…"
        if self.tool == PROM_RANGE:
            window = f"the {self.range_minutes} minutes before {self.end}" if self.end else \
                f"the last {self.range_minutes} minutes"
            return f"prometheus: {shown} over {window} (step {self.step_seconds}s)"
        return f"prometheus: {shown}" + (f" at {self.time}" if self.time else "")


def prom_definitions(prometheus: PrometheusSpec | None) -> list[dict[str, Any]]:
    if prometheus is None:
        return []
    query = {"type": "string", "description": "PromQL; aggregate (sum by (...), topk) to keep results small"}
    moment = {"type": "string", "description": "RFC 3339, e.g. 2026-01-31T14:05:00Z; omit for now"}
    return [
        function(PROM_QUERY, "Run an instant PromQL query on the cluster's Prometheus: the value of each series now "
                 f"(or at `time`). At most {prometheus.max_series} series are shown.",
                 {"query": query, "time": moment}, ["query"]),
        function(PROM_RANGE, "Run a PromQL range query on the cluster's Prometheus over the last `range_minutes` "
                 "(ending now or at `end`): per series its last, min, max and average values and a few points.", {
                     "query": query,
                     "range_minutes": {"type": "integer", "minimum": 1, "maximum": MAX_RANGE_MINUTES},
                     "step_seconds": {"type": "integer", "minimum": 1, "maximum": MAX_STEP_SECONDS,
                                      "description": f"Resolution; at most {MAX_POINTS} points are evaluated, a "
                                                     "finer step is raised. Omit for about 60 points."},
                     "end": moment}, ["query", "range_minutes"]),
    ]


def _moment(args: dict[str, Any], key: str, tool: str) -> str:
    value = string_arg(args, key, tool, required=False)
    if value and not RFC3339.fullmatch(value):
        raise ToolRefused(f"{tool}: `{key}` must be an RFC 3339 time such as 2026-01-31T14:05:00Z, not {value!r}; "
                          "omit it for now")
    return value


def parse_prom_call(name: str, args: dict[str, Any]) -> PromQuery:
    """Arguments already known to be a JSON object with no unknown keys (core/tools.parse_call checked)."""
    query = string_arg(args, "query", name)
    if len(query) > MAX_QUERY_CHARS:
        raise ToolRefused(f"{name}: `query` is {len(query)} characters; at most {MAX_QUERY_CHARS}")
    if name == PROM_QUERY:
        return PromQuery(PROM_QUERY, query, time=_moment(args, "time", name))
    if "range_minutes" not in args:
        raise ToolRefused(f"{name}: `range_minutes` is required (1 to {MAX_RANGE_MINUTES})")
    minutes = integer_arg(args, "range_minutes", name, 0, 1, MAX_RANGE_MINUTES)
    finest = -(-minutes * 60 // MAX_POINTS)  # ceil: at most MAX_POINTS steps
    step = integer_arg(args, "step_seconds", name, max(minutes, finest), 1, MAX_STEP_SECONDS)
    return PromQuery(PROM_RANGE, query, end=_moment(args, "end", name), range_minutes=minutes,
                     step_seconds=max(step, finest))
