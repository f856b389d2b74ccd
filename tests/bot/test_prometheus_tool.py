"""The bot asks Prometheus (a fake Prometheus HTTP API on loopback) what the model asked: an instant query comes back
one line per series, a range as a few numbers per series and a thinned run of points, and whatever goes wrong (a
PromQL error, a timeout, Prometheus down, a proxy's error page) is a refusal the model reads, never a crash. The
arguments are checked before anything is sent."""

import copy
import json
from collections.abc import AsyncIterator

import pytest
import yaml

from h1bot_api.spec import SlackBotSpec
from h1bot_bot.adapters.prometheus import PrometheusTools
from h1bot_bot.core import prom_view
from h1bot_bot.core.prom_tools import PROM_QUERY, PROM_RANGE, PromQuery
from h1bot_bot.core.tools import ToolBudget, ToolRefused, definitions, looked_at, parse_call, tool_message
from tests.fakes.prometheus import Broken, FakePrometheus, Hang, PromError, Scalar, Series
from tests.paths import EXAMPLES

BOT = yaml.safe_load((EXAMPLES / "tools" / "slackbot.yaml").read_text())
BOT["spec"]["tools"]["prometheus"] = {"url": "http://prometheus.monitoring.svc:9090", "maxSeries": 3}
TOOLS = SlackBotSpec.from_manifest(BOT).tools
NOW = 1_796_205_600.0  # 2026-12-02T10:00:00Z
ERROR_RATE = 'sum by (code) (rate(http_requests_total{job="checkout"}[5m]))'
P99 = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="checkout"}[5m])))'


def words(text: str) -> int:
    return len(text.split())


def call(name: str, **arguments) -> PromQuery:
    request = parse_call(name, json.dumps(arguments), TOOLS, "default")
    assert isinstance(request, PromQuery)
    return request


@pytest.fixture
async def prom() -> AsyncIterator[FakePrometheus]:
    async with FakePrometheus() as fake:
        yield fake


@pytest.fixture
async def tools(prom: FakePrometheus) -> AsyncIterator[PrometheusTools]:
    spec = TOOLS.prometheus.model_copy(update={"url": prom.url + "/"})
    tools = PrometheusTools.from_spec(spec, now=lambda: NOW)
    yield tools
    await tools.close()


async def test_the_model_asks_for_the_error_rate_and_reads_one_line_per_series(prom, tools):
    prom.answers[ERROR_RATE] = [Series({"code": "200"}, 12.5), Series({"code": "500"}, 0.42)]
    request = call(PROM_QUERY, query=ERROR_RATE)
    content = tool_message(request, await tools.lookup(request), ToolBudget(TOOLS.limits, words))
    assert (f"<<<BEGIN DATA: prometheus: {ERROR_RATE}>>>\n2 series at 2026-12-02T10:00:00Z\n"
            '{code="200"} 12.5\n{code="500"} 0.42\n<<<END DATA>>>') in content
    assert prom.requests[-1].path == "/api/v1/query"
    assert prom.requests[-1].params == {"query": ERROR_RATE, "time": "1796205600.000", "timeout": "10"}
    assert looked_at([request]) == f"looked at: prometheus: {ERROR_RATE}"


async def test_an_instant_query_at_a_given_time_and_a_scalar(prom, tools):
    prom.answers["scalar(count(up == 0))"] = Scalar(2)
    request = call(PROM_QUERY, query="scalar(count(up == 0))", time="2026-12-01T22:00:00Z")
    assert (await tools.lookup(request)).text == "scalar 2 at 2026-12-01T22:00:00Z"
    assert prom.requests[-1].params["time"] == "2026-12-01T22:00:00Z"
    assert request.description() == "prometheus: scalar(count(up == 0)) at 2026-12-01T22:00:00Z"


async def test_a_range_query_is_a_summary_per_series_with_its_points_thinned(prom, tools):
    prom.answers[P99] = [Series({}, lambda t: 2.5 if NOW - 1200 <= t < NOW - 600 else 0.2)]  # a 10-minute spike
    request = call(PROM_RANGE, query=P99, range_minutes=60, step_seconds=15)
    assert request.description() == f"prometheus: {P99} over the last 60 minutes (step 15s)"
    lines = (await tools.lookup(request)).text.splitlines()
    assert lines[:2] == ["1 series from 2026-12-02T09:00:00Z to 2026-12-02T10:00:00Z (times below in UTC)",
                         "{}  last=0.2 min=0.2 (09:00:00) max=2.5 (09:40:00) avg=0.581743, 241 points"]
    assert lines[2].startswith("  09:00:00 0.2, ") and lines[2].endswith(", 10:00:00 0.2 (12 of 241 points)")
    assert len(lines) == 3
    assert prom.requests[-1].path == "/api/v1/query_range"
    assert {k: prom.requests[-1].params[k] for k in ("start", "end", "step")} == {
        "start": "1796202000.000", "end": "1796205600.000", "step": "15"}


async def test_a_range_ending_at_a_given_time_and_many_series_capped(prom, tools):
    prom.answers['up{job="checkout"}'] = [Series({"__name__": "up", "instance": f"10.0.0.{i}:8080"}, 1)
                                     for i in range(25)]
    request = call(PROM_RANGE, query='up{job="checkout"}', range_minutes=30, end="2026-12-01T22:00:00Z")
    assert request.step_seconds == 30  # the default: about 60 points
    lines = (await tools.lookup(request)).text.splitlines()
    assert lines[0] == "25 series from 2026-12-01T21:30:00Z to 2026-12-01T22:00:00Z (times below in UTC)"
    assert lines[1] == 'up{instance="10.0.0.0:8080"}  last=1 min=1 (21:30:00) max=1 (21:30:00) avg=1, 61 points'
    assert len(lines) == 1 + 3 * 2 + 1  # maxSeries: 3
    assert lines[-1] == "(22 more series not shown: aggregate with sum by (...) or use topk to see fewer)"


async def test_a_promql_syntax_error_reaches_the_model_as_a_refusal_it_can_fix(prom, tools):
    broken = 'rate(http_requests_total{job="checkout"}[5m'
    prom.answers[broken] = PromError("bad_data", "1:43: parse error: unclosed left bracket")
    request = call(PROM_QUERY, query=broken)
    content = tool_message(request, await tools.lookup(request), ToolBudget(TOOLS.limits, words))
    assert content == ("refused: Prometheus refused the query (bad_data): 1:43: parse error: unclosed left bracket; "
                       "correct the PromQL or the arguments and try again")


async def test_an_expensive_query_timed_out_by_prometheus_says_how_to_make_it_cheaper(prom, tools):
    prom.answers["count_values(...)"] = PromError("timeout", "query timed out in expression evaluation", 503)
    result = await tools.lookup(call(PROM_RANGE, query="count_values(...)", range_minutes=1440))
    assert result.refused == ("Prometheus refused the query (timeout): query timed out in expression evaluation; "
                              "try a shorter range, a coarser step or a cheaper query (aggregate first)")


async def test_prometheus_down_a_proxy_error_page_or_no_answer_in_time_is_a_refusal_not_a_crash(prom, tools):
    async with FakePrometheus() as gone:
        down = PrometheusTools(gone.url, now=lambda: NOW)
    result = await down.lookup(call(PROM_QUERY, query="up"))
    assert result.refused.startswith(f"Prometheus at {gone.url} could not be reached (ClientConnectorError")
    await down.close()
    prom.answers["up"] = Broken(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    result = await tools.lookup(call(PROM_QUERY, query="up"))
    assert result.refused == (f"Prometheus at {prom.url} answered HTTP 502 that is not a Prometheus API answer: "
                              "<html><body><h1>502 Bad Gateway</h1></body></html>")
    prom.answers["up"] = Hang(5)
    slow = PrometheusTools(prom.url, now=lambda: NOW, timeout=0.2)
    result = await slow.lookup(call(PROM_QUERY, query="up"))
    assert result.refused == (f"Prometheus at {prom.url} did not answer within 0.2s; try a shorter range, a coarser "
                              "step or a cheaper query")
    await slow.close()
    prom.answers["up"] = [Series({"__name__": "up", "job": "checkout"}, 1)]  # back: the same tools answer again
    assert (await tools.lookup(call(PROM_QUERY, query="up"))).text.endswith('\nup{job="checkout"} 1')


@pytest.mark.parametrize(("name", "arguments", "why"), [
    (PROM_QUERY, {}, "prometheus_query: `query` must be a non-empty string"),
    (PROM_QUERY, {"query": "   "}, "prometheus_query: `query` must be a non-empty string"),
    (PROM_QUERY, {"query": "x" * 4001}, "prometheus_query: `query` is 4001 characters; at most 4000"),
    (PROM_QUERY, {"query": "up", "time": "-1h"},
     "prometheus_query: `time` must be an RFC 3339 time such as 2026-01-31T14:05:00Z, not '-1h'; omit it for now"),
    (PROM_RANGE, {"query": "up"}, "prometheus_query_range: `range_minutes` is required (1 to 1440)"),
    (PROM_RANGE, {"query": "up", "range_minutes": 0},
     "prometheus_query_range: `range_minutes` must be an integer from 1 to 1440"),
    (PROM_RANGE, {"query": "up", "range_minutes": 1441},
     "prometheus_query_range: `range_minutes` must be an integer from 1 to 1440"),
    (PROM_RANGE, {"query": "up", "range_minutes": "60"},
     "prometheus_query_range: `range_minutes` must be an integer from 1 to 1440"),
    (PROM_RANGE, {"query": "up", "range_minutes": 60, "step_seconds": 0},
     "prometheus_query_range: `step_seconds` must be an integer from 1 to 3600"),
    (PROM_RANGE, {"query": "up", "range_minutes": 60, "start": "-1h"},
     "prometheus_query_range: unknown argument(s) start"),
])
def test_wrong_arguments_are_refused_with_what_to_fix(name, arguments, why):
    with pytest.raises(ToolRefused) as caught:
        parse_call(name, json.dumps(arguments), TOOLS, "default")
    assert caught.value.message == why


def test_a_range_never_asks_for_more_than_300_points_a_series():
    assert call(PROM_RANGE, query="up", range_minutes=1440, step_seconds=1).step_seconds == 288
    assert call(PROM_RANGE, query="up", range_minutes=1440).step_seconds == 1440
    assert call(PROM_RANGE, query="up", range_minutes=5, step_seconds=1).step_seconds == 1


def test_the_prometheus_tools_are_offered_only_when_spec_tools_prometheus_is_set():
    names = [d["function"]["name"] for d in definitions(TOOLS, "default")]
    assert names[-2:] == [PROM_QUERY, PROM_RANGE]
    without = copy.deepcopy(BOT)
    del without["spec"]["tools"]["prometheus"]
    assert PROM_QUERY not in {d["function"]["name"] for d in definitions(
        SlackBotSpec.from_manifest(without).tools, "default")}
    with pytest.raises(ToolRefused, match="there is no tool 'prometheus_query'"):
        parse_call(PROM_QUERY, '{"query": "up"}', SlackBotSpec.from_manifest(without).tools, "default")
    only = copy.deepcopy(BOT)
    only["spec"]["tools"] = {"prometheus": {"url": "http://prometheus:9090"}}
    only_prom = SlackBotSpec.from_manifest(only).tools
    assert [d["function"]["name"] for d in definitions(only_prom, "default")] == [PROM_QUERY, PROM_RANGE]
    assert parse_call(PROM_QUERY, '{"query": "up"}', only_prom, "default") == PromQuery(PROM_QUERY, "up")


async def test_an_end_that_is_no_date_is_refused_before_anything_is_sent(prom, tools):
    result = await tools.lookup(call(PROM_RANGE, query="up", range_minutes=5, end="2026-13-01T00:00:00Z"))
    assert result.refused.startswith("`end` is not a valid time (month must be in 1..12)")
    assert prom.requests == []


def test_what_prometheus_answers_is_rendered_without_surprises():
    def answer(kind: str, found) -> dict:
        return {"status": "success", "data": {"resultType": kind, "result": found}}
    assert prom_view.result(answer("vector", []), 5).text.startswith("no series: the query matched nothing")
    assert prom_view.result(answer("string", [NOW, 'say "hi"']), 5).text == 'string "say \\"hi\\"" at ' \
                                                                           "2026-12-02T10:00:00Z"
    nan = answer("vector", [{"metric": {"__name__": "ratio", "pod": "a"}, "value": [NOW, "NaN"]},
                            {"metric": {"pod": "b"}, "value": [NOW, "+Inf"]}])
    assert prom_view.result(nan, 5).text.splitlines()[1:] == ['ratio{pod="a"} NaN', '{pod="b"} +Inf']
    histogram = answer("vector", [{"metric": {}, "histogram": [NOW, {"count": "12", "sum": "3.5", "buckets": []}]}])
    assert prom_view.result(histogram, 5).text.endswith("{} histogram count=12 sum=3.5")
    warned = {**answer("vector", []), "warnings": ["PromQL info: metric might not be a counter"]}
    assert prom_view.result(warned, 5).text.endswith("\nPrometheus warning: PromQL info: metric might not be a counter")
    assert prom_view.result({"status": "success", "data": {"resultType": "vector", "result": [{"x": 1}]}},
                            5).refused == "Prometheus answered a malformed vector result (TypeError)"
    assert prom_view.result(["not", "an", "answer"], 5).refused == \
        "the answer is not a Prometheus API response (no `status`)"
