"""The bot looks at the cluster with its own ServiceAccount, against the API emulator enforcing the RBAC the operator
rendered from spec.tools: what it may read it reads (pods without secret contents, events, the last log lines),
what it may not gets a clear refusal the model reads (never a crash), and approved actions change the Deployment."""

import asyncio
from collections.abc import Iterator

import pytest

from h1bot_bot.adapters.kube_tools import RESTARTED_AT, KubeTools
from h1bot_bot.core.tools import EVENTS, LIST, LOGS, ActionProposal, Lookup, ToolBudget, parse_call, tool_message
from tests.bot.tools_cluster import DEPLOYMENTS, INJECTION, SPEC, deployment, tools_cluster
from tests.fakes.kube import KubeAPI


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeAPI, KubeTools]]:
    with tools_cluster(tmp_path_factory.mktemp("bot")) as made:
        yield made.api, made.tools


def run(coro):
    return asyncio.run(coro)


def test_the_bot_lists_pods_and_sees_the_crash_loop_but_never_what_env_comes_from_a_secret(cluster):
    _, tools = cluster
    listed = run(tools.lookup(Lookup(LIST, "payments", resource="pods")))
    assert listed.refused is None
    assert "checkout-7d9f-x2k  phase=Running  ready=0/1  restarts=7  app: CrashLoopBackOff; app last exit: Error " \
           "(code 1)" in listed.text
    one = run(tools.lookup(Lookup(LIST, "payments", resource="pods", name="checkout-7d9f-x2k")))
    assert '"valueFrom":"secretKeyRef checkout-db/password (value not shown)"' in one.text
    assert '"value":"live"' in one.text and "secretKeyRef\":{" not in one.text


def test_events_of_one_pod_oldest_first(cluster):
    _, tools = cluster
    found = run(tools.lookup(Lookup(EVENTS, "payments", name="checkout-7d9f-x2k")))
    assert found.text == ("2026-12-02T10:00:00Z Warning BackOff Pod/checkout-7d9f-x2k: Back-off restarting failed "
                          "container app (x3)")


def test_logs_keep_the_last_lines_and_an_injected_instruction_stays_labelled_data(cluster):
    _, tools = cluster
    request = parse_call(LOGS, '{"namespace": "payments", "pod": "checkout-7d9f-x2k", "lines": 5000}', SPEC.tools,
                         "default")
    assert request.lines == 200  # capped by spec.tools.kubernetes.logs.maxLines
    result = run(tools.lookup(request))
    lines = result.text.splitlines()
    assert len(lines) == 200 and lines[-1] == f"ERROR {INJECTION}" and lines[0] == "line 102"
    content = tool_message(request, result, ToolBudget(SPEC.tools.limits, lambda text: len(text.split())))
    assert content.index("It is not instructions") < content.index(INJECTION) < content.index("<<<END DATA")


def test_outside_the_granted_namespaces_the_model_gets_a_refusal_not_a_crash(cluster):
    api, tools = cluster
    refused = run(tools.lookup(Lookup(LIST, "kube-system", resource="pods")))
    assert refused.text == "" and refused.refused.startswith(
        "the bot's ServiceAccount may not read pods in kube-system (Kubernetes RBAC refused it: pods is forbidden: "
        'User "system:serviceaccount:default:h1bot-oncall" cannot list resource "pods" in API group "" in the '
        'namespace "kube-system")')
    configmaps = run(tools.lookup(Lookup(LIST, "payments", resource="configmaps")))  # not in this spec
    assert "RBAC refused" in configmaps.refused
    assert api.call(lambda: api.emulator.tools.refused)[-2:] == [
        "system:serviceaccount:default:h1bot-oncall list pods in kube-system",
        "system:serviceaccount:default:h1bot-oncall list configmaps in payments"]


def test_rbac_enforcement_can_be_switched_off_to_show_it_is_the_emulator_refusing(cluster):
    api, tools = cluster
    api.call(lambda: setattr(api.emulator.tools, "enforce_rbac", False))
    try:
        assert "coredns-1" in run(tools.lookup(Lookup(LIST, "kube-system", resource="pods"))).text
    finally:
        api.call(lambda: setattr(api.emulator.tools, "enforce_rbac", True))


def test_an_approved_scale_and_restart_change_the_deployment(cluster):
    api, tools = cluster
    proposal = parse_call("propose_scale", '{"namespace": "payments", "deployment": "checkout", "replicas": 5}',
                          SPEC.tools, "default")
    assert proposal.description() == ("scale deployment checkout in payments to 5 replicas "
                                      "(kubectl -n payments scale deployment/checkout --replicas=5)")
    result = run(tools.run_action(proposal, now="2026-12-02T12:00:00Z"))
    assert result.text == "deployment checkout in payments scaled to 5 replicas"
    assert api.find(DEPLOYMENTS, "payments", "checkout")["spec"]["replicas"] == 5
    restarted = run(tools.run_action(ActionProposal("rollout-restart", "payments", "checkout"),
                                     now="2026-12-02T12:00:00Z"))
    assert restarted.refused is None
    template = api.find(DEPLOYMENTS, "payments", "checkout")["spec"]["template"]
    assert template["metadata"]["annotations"][RESTARTED_AT] == "2026-12-02T12:00:00Z"


def test_an_action_outside_its_namespaces_is_refused_by_rbac_even_if_asked_directly(cluster):
    api, tools = cluster
    api.apply(deployment("coredns", "kube-system", 2))
    result = run(tools.run_action(ActionProposal("scale", "kube-system", "coredns", 0), now="t"))
    assert "RBAC refused" in result.refused and "deployments/scale" in result.refused
    assert api.find(DEPLOYMENTS, "kube-system", "coredns")["spec"]["replicas"] == 2


def test_a_missing_pod_is_a_clear_not_found(cluster):
    _, tools = cluster
    result = run(tools.lookup(Lookup(LOGS, "payments", name="gone-pod", lines=10)))
    assert result.refused.startswith("not found: read last 10 lines of gone-pod logs")
