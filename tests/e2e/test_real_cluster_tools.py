"""The ChatOps tools against a REAL cluster (opt-in: H1BOT_REAL_CLUSTER=1, current kube context, e.g. kind).

What kmock cannot show: the RBAC the operator renders from spec.tools, as the real authorizer applies it to the
bot's ServiceAccount, and a real pod in CrashLoopBackOff (the kubelet's events, the crashed container's log) read
by the bot's tool loop. Fixtures: tests/e2e/real_cluster.py.
"""

import asyncio
import os
from pathlib import Path

import pytest

from h1bot_operator.render import child_name
from tests.chat.conftest import chat_environment, write_spec
from tests.chat.test_chat import run_chat
from tests.e2e.real_cluster import (
    CRASH_IMAGE_ENV,
    DEFAULT_CRASH_IMAGE,
    Namespace,
    cluster_fixture,  # noqa: F401  (fixture)
    crashing_deployment,
    example,
    freshly_crash_looping,
    namespace_fixture,  # noqa: F401  (fixture)
    operator_fixture,  # noqa: F401  (fixture)
    reconciled,
    service_account_kubeconfig,
    service_account_user,
    skip_reason,
)
from tests.fakes.kube import OperatorProcess
from tests.fakes.openai import FakeOpenAI, ToolCall, ToolCalls
from tests.fakes.waiting import wait_until

pytestmark = [pytest.mark.real_cluster, pytest.mark.timeout(90),
              pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]

CRASH_LINE = "FATAL: cannot connect to db at checkout-db:5432: connection refused"


def test_tools_grant_the_bot_exactly_their_reads_and_actions_in_its_namespace(namespace: Namespace,
                                                                              operator: OperatorProcess):
    """examples/tools/slackbot.yaml with its namespaces left to the bot's own: the real authorizer lets the bot's
    ServiceAccount read pods, events and logs and scale or restart deployments there, and nothing else."""
    kubectl = namespace.kubectl
    secret = example("secret.yaml", namespace.name)
    bot = example("tools/slackbot.yaml", namespace.name)
    tools = bot["spec"]["tools"]
    tools["kubernetes"].pop("namespaces")
    for action in tools["actions"]:
        action.pop("namespaces")
    applied = kubectl.apply([secret, bot])
    assert applied.returncode == 0, applied.stderr
    user = service_account_user(namespace.name, bot["metadata"]["name"])
    wait_until(lambda: kubectl.can_i("list", "pods", user), timeout=30, interval=0.5,
               message=f"{user} may list pods")
    allowed = {
        "list events": kubectl.can_i("list", "events", user),
        "read logs": kubectl.can_i("get", "pods", user, subresource="log"),
        "scale deployments": kubectl.can_i("patch", "deployments", user, subresource="scale"),
        "restart deployments": kubectl.can_i("patch", "deployments", user),
    }
    assert all(allowed.values()), allowed
    denied = {
        "list Secrets": kubectl.can_i("list", "secrets", user),
        "delete pods": kubectl.can_i("delete", "pods", user),
        "exec into pods": kubectl.can_i("create", "pods", user, subresource="exec"),
        "delete deployments": kubectl.can_i("delete", "deployments", user),
        "list configmaps (not in this spec)": kubectl.can_i("list", "configmaps", user),
    }
    assert not any(denied.values()), {what: may for what, may in denied.items() if may}
    status = reconciled(kubectl, bot["metadata"]["name"])["status"]
    assert status["tools"]["namespaces"] == [namespace.name]


def crash_loop_and_bot_login(ns: Namespace, directory: Path) -> tuple[str, Path]:
    """examples/tools/slackbot.yaml reading only in its own namespace (the operator renders the Role), a checkout
    Deployment crash-looping beside it; a kubeconfig logging in as the bot's ServiceAccount, and the pod, taken just
    as it enters a long back-off (with a BackOff event and its crashed container's log)."""
    kubectl = ns.kubectl
    secret, bot = example("secret.yaml", ns.name), example("tools/slackbot.yaml", ns.name)
    bot["spec"]["tools"]["kubernetes"].pop("namespaces")
    bot["spec"]["tools"].pop("actions")
    image = os.environ.get(CRASH_IMAGE_ENV) or DEFAULT_CRASH_IMAGE
    applied = kubectl.apply([secret, bot, crashing_deployment("checkout", image, CRASH_LINE)])
    assert applied.returncode == 0, applied.stderr
    account, user = child_name(bot["metadata"]["name"]), service_account_user(ns.name, bot["metadata"]["name"])
    wait_until(lambda: kubectl.get("serviceaccount", account) and kubectl.can_i("get", "pods", user, subresource="log"),
               timeout=30, interval=0.5, message=f"{user} exists and may read pod logs")
    login = service_account_kubeconfig(ns, account, directory / "bot-kubeconfig")
    wait_until(lambda: kubectl.json("get", "events", "--field-selector=reason=BackOff")["items"], timeout=180,
               interval=1, message="a BackOff event in the namespace")
    return freshly_crash_looping(kubectl, "checkout"), login


@pytest.mark.timeout(300)  # the image pull and two back-offs of the kubelet
async def test_the_bot_finds_why_a_pod_crash_loops_from_its_events_and_logs_as_its_service_account(
        namespace: Namespace, operator: OperatorProcess, fake_openai: FakeOpenAI, tmp_path: Path):
    """`h1bot chat` (the bot's tool loop and cluster tools) logs in as the bot's ServiceAccount; the fake model looks
    at the pods, the crashing pod's events and previous log, and at kube-system, which the chat's manifest names but
    the cluster's SlackBot does not grant: the API server's RBAC refuses that read."""
    pod, login = await asyncio.to_thread(crash_loop_and_bot_login, namespace, tmp_path)
    ns = namespace.name
    fake_openai.script(
        ToolCalls([ToolCall("kube_list", {"resource": "pods", "namespace": ns}),
                   ToolCall("kube_list", {"resource": "pods", "namespace": "kube-system"})]),
        ToolCalls([ToolCall("kube_events", {"namespace": ns, "name": pod}),
                   ToolCall("kube_logs", {"namespace": ns, "pod": pod, "previous": True})]),
        f"{pod} crash-loops: it cannot connect to its database.")
    reads = {"namespaces": [ns, "kube-system"], "resources": ["pods", "events"], "logs": {"maxLines": 50}}
    spec = write_spec(tmp_path, tools={"kubernetes": reads})
    env = {**chat_environment(fake_openai, tmp_path), "KUBECONFIG": str(login)}  # $KUBECONFIG wins, even in a pod
    code, out, err = await run_chat(env, "--spec", str(spec), "-m", f"why is {pod} crash-looping?")

    assert code == 0, err
    assert f"{pod} crash-loops: it cannot connect to its database." in out
    assert f"looked at: pods in {ns}, events of {pod}, last 50 lines of {pod} previous logs" in err
    pods, outside, events, logs = (m["content"] for m in fake_openai.chat_requests[-1].tool_results)
    line = next(row for row in pods.splitlines() if row.startswith(pod))
    assert "ready=0/1" in line and "app: CrashLoopBackOff" in line and "app last exit: Error (code 1)" in line, pods
    assert f"Warning BackOff Pod/{pod}: Back-off restarting failed container" in events, events
    assert CRASH_LINE in logs, logs
    user = service_account_user(ns, "oncall")
    assert outside.startswith("refused: the bot's ServiceAccount may not read pods in kube-system (Kubernetes RBAC "
                              f"refused it: pods is forbidden: User \"{user}\" cannot list resource \"pods\""), outside
