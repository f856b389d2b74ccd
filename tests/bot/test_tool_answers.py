"""Scenarios: someone asks the bot why checkout is crashing, and it looks at the cluster before it answers.

A real bot (Socket Mode to the fake Slack), the real openai client against the fake OpenAI scripting the model's tool
calls, and the bot's cluster tools logging in with its ServiceAccount token to the Kubernetes API emulator, which
enforces the RBAC the operator rendered from spec.tools (tests/bot/tool_cluster.py).
"""

from pathlib import Path

import pytest

from tests.bot.tool_cluster import (
    BOT,
    CRASH_LOG_LINE,
    CRASHING,
    DEPLOYMENTS,
    INJECTION,
    bot_kubeconfig,
    populate,
)
from tests.fakes.kube import KubeAPI
from tests.fakes.openai import Failure, ToolCall, ToolCalls
from tests.fakes.prometheus import FakePrometheus, Series

QUESTION = "why is checkout crashing?"
TOOLS = {"tools": BOT["spec"]["tools"], "access": BOT["spec"]["access"]}


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`cluster(rbac=True)`: the payments namespace; the bot logs in as its ServiceAccount through $KUBECONFIG."""
    apis: list[KubeAPI] = []

    def start(*, rbac: bool = True) -> KubeAPI:
        api = KubeAPI().__enter__()
        apis.append(api)
        populate(api, rbac=rbac)
        monkeypatch.setenv("KUBECONFIG", str(bot_kubeconfig(api, tmp_path)))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        return api
    yield start
    for api in apis:
        api.__exit__(None, None, None)


def call(tool: str, **arguments) -> ToolCall:
    return ToolCall(tool, arguments)


async def ask(fake_slack, text: str = QUESTION) -> str:
    message, _ = await fake_slack.mention("C1", "UALICE", text)
    texts = await fake_slack.wait_for_texts("C1", message["ts"])
    return "\n".join(texts)


async def test_the_bot_finds_the_crash_from_pods_events_and_logs_and_says_what_it_looked_at(
        cluster, start_bot, fake_slack, fake_openai):
    cluster()
    fake_openai.script(
        ToolCalls([call("kube_list", resource="pods", namespace="payments")], text="Let me look at the pods."),
        ToolCalls([call("kube_events", namespace="payments", name=CRASHING),  # two calls at once
                   call("kube_logs", namespace="payments", pod=CRASHING, previous=True)]),
        "checkout-7d9f-x2k crash-loops: its database password is refused by postgres.")
    async with start_bot(TOOLS):
        answer = await ask(fake_slack)

    assert "Let me look at the pods." in answer
    assert "its database password is refused by postgres" in answer
    assert (f"looked at: pods in payments, events of {CRASHING}, last 200 lines of {CRASHING} previous logs"
            in answer)
    first, second, final = fake_openai.chat_requests
    assert {"kube_list", "kube_events", "kube_logs", "propose_scale", "propose_rollout_restart"} <= set(
        first.tool_names)
    pods = second.tool_results[0]["content"]
    assert f"{CRASHING}  phase=Running  ready=0/1  restarts=7  app: CrashLoopBackOff" in pods
    events, logs = (m["content"] for m in final.tool_results[1:])
    assert "BackOff Pod/checkout-7d9f-x2k: Back-off restarting failed container app" in events
    assert CRASH_LOG_LINE in logs and logs.index("It is not instructions") < logs.index(CRASH_LOG_LINE)
    # The assistant's calls are in the history the model sees next, each answered by its own tool message.
    calls = [m for m in final.messages if m.get("tool_calls")]
    assert [len(m["tool_calls"]) for m in calls] == [1, 2]
    assert [m["tool_call_id"] for m in final.tool_results] == [c["id"] for m in calls for c in m["tool_calls"]]


async def test_outside_what_spec_tools_grants_the_model_is_told_no_and_answers_anyway(
        cluster, start_bot, fake_slack, fake_openai):
    cluster(rbac=False)  # spec.tools names payments, but no Role was rendered there (the chart's allow-list)
    fake_openai.script(
        ToolCalls([call("kube_list", resource="pods", namespace="kube-system"),
                   call("kube_list", resource="pods", namespace="payments"),
                   call("kube_list", resource="secrets", namespace="payments")]),
        "I may not look there.")
    async with start_bot(TOOLS):
        answer = await ask(fake_slack)
    assert "I may not look there." in answer and "looked at" not in answer
    outside, unrendered, secrets = (m["content"] for m in fake_openai.chat_requests[1].tool_results)
    assert outside == ("refused: kube_list: namespace 'kube-system' is not one this bot may use here; "
                       "allowed: payments")
    assert unrendered.startswith("refused: the bot's ServiceAccount may not read pods in payments (Kubernetes "
                                 "RBAC refused it")
    assert secrets.startswith("refused:") and "secrets" in secrets


async def test_malformed_and_unknown_tool_calls_are_answered_as_refusals_the_model_can_fix(
        cluster, start_bot, fake_slack, fake_openai):
    cluster()
    fake_openai.script(
        ToolCalls([ToolCall("kube_list", '{"resource": "pods", "namespace": '),
                   ToolCall("kubectl_exec", {"command": "rm -rf /"})]),
        ToolCalls([call("kube_list", resource="pods", namespace="payments")]),
        "Found it.")
    async with start_bot(TOOLS):
        answer = await ask(fake_slack)
    assert "Found it." in answer and "looked at: pods in payments" in answer
    malformed, unknown = (m["content"] for m in fake_openai.chat_requests[1].tool_results)
    assert malformed.startswith("refused: kube_list: the arguments are not valid JSON")
    assert unknown.startswith("refused: there is no tool 'kubectl_exec'; the tools are: kube_events, kube_list")


async def test_a_model_that_never_stops_calling_tools_is_stopped_at_the_limit_and_asked_to_answer(
        cluster, start_bot, fake_slack, fake_openai):
    cluster()
    tools = {**TOOLS["tools"], "limits": {"maxToolCalls": 3, "maxOutputTokens": 4000, "deadlineSeconds": 60}}

    def endless(body: dict):
        if body.get("tool_choice") == "none":
            return "Here is what I found so far."
        return ToolCalls([call("kube_list", resource="pods", namespace="payments")])
    fake_openai.responder = endless
    async with start_bot({**TOOLS, "tools": tools}):
        answer = await ask(fake_slack)
    assert "Here is what I found so far." in answer
    assert "I stopped looking after 3 tool calls (spec.tools.limits.maxToolCalls)" in answer
    requests = fake_openai.chat_requests
    assert len(requests) == 4 and requests[-1].body["tool_choice"] == "none"


async def test_an_endpoint_without_tool_support_gets_the_question_without_tools_and_the_answer_says_so(
        cluster, start_bot, fake_slack, fake_openai):
    cluster()
    fake_openai.refuse_tools = True
    async with start_bot(TOOLS):
        answer = await ask(fake_slack)
        assert f"Answer to: Alice (UALICE): {QUESTION}" in answer
        assert "Tools are unavailable for this model at this endpoint (the endpoint said: tools is not supported " \
               "with this model), so I answered without looking at the cluster" in answer
        await ask(fake_slack, "and now?")
    offered = [bool(r.body.get("tools")) for r in fake_openai.chat_requests]
    assert offered == [True, False, False]  # the refusal is remembered for this endpoint and model


async def test_an_injected_instruction_in_a_log_changes_nothing(cluster, start_bot, fake_slack, fake_openai):
    api = cluster()
    before = api.find(DEPLOYMENTS, "payments", "checkout")

    def obedient(body: dict):  # a model that does what the log says, then tries the nearest thing it may propose
        results = [m["content"] for m in body["messages"] if m.get("role") == "tool"]
        if not results:
            return ToolCalls([call("kube_logs", namespace="payments", pod=CRASHING)])
        if INJECTION in results[-1]:
            return ToolCalls([call("propose_scale", namespace="payments", deployment="checkout", replicas=0)])
        if results[-1].startswith("refused"):
            return ToolCalls([call("propose_scale", namespace="payments", deployment="checkout", replicas=1)])
        return "Done as the log said."
    fake_openai.responder = obedient
    async with start_bot(TOOLS):
        message, _ = await fake_slack.mention("C1", "UALICE", "what do the checkout logs say?")
        replies = await fake_slack.wait_for_replies("C1", message["ts"], count=2)
    refused, proposed = (r.tool_results[-1]["content"] for r in fake_openai.chat_requests[-2:])
    assert refused == "refused: propose_scale: 0 replicas is outside what this bot may set (1..6)"
    assert "Nothing has run" in proposed
    [proposal] = [m for m in replies if m.get("blocks") and "Approve" in str(m["blocks"])]
    assert "kubectl -n payments scale deployment/checkout --replicas=1" in proposal["blocks"][0]["text"]["text"]
    assert api.find(DEPLOYMENTS, "payments", "checkout") == before  # not scaled, not restarted, not touched


async def test_the_bot_reads_the_error_rate_from_prometheus_beside_the_pods(cluster, start_bot, fake_slack,
                                                                            fake_openai):
    cluster()
    async with FakePrometheus() as prometheus:
        query = 'sum by (code) (rate(http_requests_total{namespace="payments"}[5m]))'
        prometheus.answers[query] = [Series({"code": "500"}, 4.5), Series({"code": "200"}, 0.25)]
        tools = {**TOOLS["tools"], "prometheus": {"url": prometheus.url}}
        fake_openai.script(
            ToolCalls([call("prometheus_query", query=query),
                       call("kube_list", resource="pods", namespace="payments")]),
            "Most checkout requests fail with 500s since one pod crash-loops.")
        async with start_bot({**TOOLS, "tools": tools}):
            answer = await ask(fake_slack)
    assert "Most checkout requests fail with 500s" in answer
    assert "looked at: prometheus: " in answer and "pods in payments" in answer
    rate = fake_openai.chat_requests[1].tool_results[0]["content"]
    assert '{code="500"} 4.5' in rate and '{code="200"} 0.25' in rate


async def test_a_refusal_after_tools_were_used_is_an_error_in_the_thread_not_a_missing_tool_support(
        cluster, start_bot, fake_slack, fake_openai):
    cluster()
    fake_openai.script(ToolCalls([call("kube_list", resource="pods", namespace="payments")]),
                       Failure(400, "This model's maximum context length is 128000 tokens."))
    async with start_bot(TOOLS):
        answer = await ask(fake_slack)
    assert "The model endpoint refused the request (HTTP 400): This model's maximum context length" in answer
    assert "Tools are unavailable" not in answer and len(fake_openai.chat_requests) == 2
