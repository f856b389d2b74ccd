"""The bot looks at the cluster with its own ServiceAccount, against the API emulator enforcing the RBAC the operator
rendered from spec.tools: what it may read it reads (pods without secret contents, events, the last log lines),
what it may not gets a clear refusal the model reads (never a crash), and approved actions change the Deployment."""

import asyncio
from collections.abc import Iterator

import pytest

from h1bot_bot.adapters.kube_tools import MAX_EVENTS, RESTARTED_AT, KubeTools
from h1bot_bot.core.tools import EVENTS, LIST, LOGS, ActionProposal, Lookup, ToolBudget, parse_call, tool_message
from tests.bot.tool_cluster import DEPLOYMENTS, INJECTION, SPEC, deployment, event, tools_cluster
from tests.fakes.kube import KubeAPI, object_path


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


def test_one_crash_looping_pod_shows_the_model_why_it_crashes_first_and_no_secret_value(cluster):
    api, tools = cluster
    crashing = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "worker-7", "namespace": "payments"},
                "spec": {"nodeName": "node-2", "containers": [{
                    "name": "app", "image": "registry.test/worker:2.4.1", "resources": {"limits": {"memory": "256Mi"}},
                    "env": [{"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "worker", "key": "token"}}}],
                    "envFrom": [{"secretRef": {"name": "worker-env"}}]}]},
                "status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                     "message": "containers with unready status: [app]"}, {"type": "PodScheduled", "status": "True"}],
                    "containerStatuses": [{
                        "name": "app", "ready": False, "restartCount": 12, "image": "registry.test/worker:2.4.1",
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting "
                                              "failed container=app pod=worker-7_payments(3f1c)"}},
                        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                                     "startedAt": "2026-12-02T09:59:02Z",
                                                     "finishedAt": "2026-12-02T09:59:20Z"}}}]}}
    api.apply(crashing)
    api.request("PATCH", object_path(crashing) + "/status", {"status": crashing["status"]})
    request = parse_call(LIST, '{"resource": "pods", "namespace": "payments", "name": "worker-7"}', SPEC.tools,
                         "default")
    result = run(tools.lookup(request))
    assert result.text.splitlines()[:6] == [
        "pod worker-7 in payments: phase=Running node=node-2",
        "container app: image=registry.test/worker:2.4.1 limits=memory=256Mi ready=false restarts=12",
        "  state: waiting CrashLoopBackOff: back-off 5m0s restarting failed container=app pod=worker-7_payments(3f1c)",
        "  last state: terminated OOMKilled exitCode=137 at 2026-12-02T09:59:20Z",
        "condition Ready=False ContainersNotReady: containers with unready status: [app]",
        "the pod as JSON (values from Secrets not shown):"]
    assert '"valueFrom":"secretKeyRef worker/token (value not shown)"' in result.text
    small = ToolBudget(SPEC.tools.limits.model_copy(update={"max_output_tokens": 256}), lambda text: len(text) // 4)
    content = tool_message(request, result, small)  # the JSON is cut to fit; the explanation stays whole
    assert "last state: terminated OOMKilled exitCode=137" in content and "(clipped to the first lines" in content


def test_events_of_one_pod_oldest_first(cluster):
    _, tools = cluster
    found = run(tools.lookup(Lookup(EVENTS, "payments", name="checkout-7d9f-x2k")))
    assert found.text == ("2026-12-02T10:00:00Z Warning BackOff Pod/checkout-7d9f-x2k: Back-off restarting failed "
                          "container app (x3)")


def test_among_2000_events_in_the_namespace_the_3_about_one_pod_are_all_found(cluster):
    api, tools = cluster
    noise = [event(f"api-{i:04d}.18a1f", f"api-{i:04d}", "Pulled", "Container image pulled",
                   f"2026-12-01T00:{i // 60:02d}:{i % 60:02d}Z") for i in range(2000)]
    ours = [event(f"worker-7.18a2{n}", "worker-7", reason, message, at) for n, (reason, message, at) in enumerate([
        ("Started", "Started container app", "2026-12-02T09:58:00Z"),
        ("OOMKilled", "Container app exceeded its memory limit", "2026-12-02T09:59:00Z"),
        ("BackOff", "Back-off restarting failed container app", "2026-12-02T09:59:30Z")])]
    api.create_all(noise + ours)  # in name order (how the API pages) the pod's events come after the first 2,000
    found = run(tools.lookup(Lookup(EVENTS, "payments", name="worker-7")))
    assert found.text.splitlines() == [
        "2026-12-02T09:58:00Z Warning Started Pod/worker-7: Started container app (x3)",
        "2026-12-02T09:59:00Z Warning OOMKilled Pod/worker-7: Container app exceeded its memory limit (x3)",
        "2026-12-02T09:59:30Z Warning BackOff Pod/worker-7: Back-off restarting failed container app (x3)"]
    assert found.keep == "tail"  # clipped to the tool output limit, the newest survive
    assert api.received("GET", "/api/v1/namespaces/payments/events")[-1].params["fieldSelector"] == \
        "involvedObject.name=worker-7"
    everything = run(tools.lookup(Lookup(EVENTS, "payments"))).text.splitlines()
    assert everything[0] == ("(5 more events were not read: the newest may be among them; ask about one object by "
                             "name)")  # 2,000 read in 4 pages of 500 (of 2,005): the rest is said, not hidden
    assert everything[1] == f"({2000 - MAX_EVENTS} older events not shown)" and len(everything) == 2 + MAX_EVENTS
    assert everything[-1] == "2026-12-01T00:33:19Z Warning Pulled Pod/api-1999: Container image pulled (x3)"


def test_a_list_longer_than_one_page_says_how_many_are_not_shown(cluster):
    api, tools = cluster
    api.create_all([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                     "metadata": {"name": f"batch-{i:03d}", "namespace": "payments"},
                     "spec": {"selector": {"matchLabels": {"app": "batch"}}}} for i in range(503)])
    lines = run(tools.lookup(Lookup(LIST, "payments", resource="replicasets"))).text.splitlines()
    assert len(lines) == 501 and lines[0] == "batch-000" and lines[499] == "batch-499"
    assert lines[-1] == "(3 more replicasets not shown)"


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
    api.apply(deployment("coredns", "kube-system", replicas=2))
    result = run(tools.run_action(ActionProposal("scale", "kube-system", "coredns", 0), now="t"))
    assert "RBAC refused" in result.refused and "deployments/scale" in result.refused
    assert api.find(DEPLOYMENTS, "kube-system", "coredns")["spec"]["replicas"] == 2


def test_a_missing_pod_is_a_clear_not_found(cluster):
    _, tools = cluster
    result = run(tools.lookup(Lookup(LOGS, "payments", name="gone-pod", lines=10)))
    assert result.refused.startswith("not found: read last 10 lines of gone-pod logs")
