"""A cluster admin gives a bot tools and checks with kubectl what it may do: the real kopf operator against the API
emulator renders the Role and RoleBinding in the named namespace, shows the tools in `get -o wide`, and removes them
when the tools go."""

from pathlib import Path

import pytest

from tests.fakes.kube import KubeAPI, kubectl, wait_until
from tests.operator.conftest import BOTS, events_about, secret
from tests.paths import EXAMPLES

pytestmark = pytest.mark.usefixtures("operator")
ROLES, BINDINGS = "rbac.authorization.k8s.io/v1/roles", "rbac.authorization.k8s.io/v1/rolebindings"
NAME = "h1bot-tools.default.oncall"


def tools_status(api: KubeAPI) -> dict:
    return ((api.find(BOTS, "default", "oncall") or {}).get("status") or {}).get("tools") or {}


def test_tools_grant_a_role_in_payments_shown_by_kubectl_and_removed_with_the_tools(kube_api: KubeAPI,
                                                                                    kubeconfig: Path):
    kube_api.apply(secret("h1bot-credentials"))
    kubectl(kubeconfig, "apply", "--validate=false", "-f", str(EXAMPLES / "tools" / "slackbot.yaml"))

    role = wait_until(lambda: kube_api.find(ROLES, "payments", NAME), message="the tools Role in payments")
    binding = wait_until(lambda: kube_api.find(BINDINGS, "payments", NAME), message="its RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "h1bot-oncall", "namespace": "default"}]
    assert {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]} in role["rules"]
    assert NAME in kubectl(kubeconfig, "-n", "payments", "get", "roles,rolebindings", "-o", "name")
    wait_until(lambda: tools_status(kube_api).get("namespaces") == ["payments"], message="status.tools")
    wide = kubectl(kubeconfig, "get", "slackbot", "oncall", "-o", "wide")
    assert "TOOLS" in wide and "rollout-restart in payments" in wide, wide

    kubectl(kubeconfig, "patch", "slackbot", "oncall", "--type=merge", "-p", '{"spec":{"tools":null}}')
    wait_until(lambda: kube_api.find(ROLES, "payments", NAME) is None, message="the tools Role deleted")
    wait_until(lambda: kube_api.find(BINDINGS, "payments", NAME) is None, message="the RoleBinding deleted")
    wait_until(lambda: tools_status(kube_api) == {"enabled": "none", "namespaces": []}, message="tools: none")
    assert ("Normal", "Deleted", f"Deleted Role payments/{NAME} (spec.tools no longer names that namespace)") in \
        events_about(kube_api, "oncall")
    assert NAME not in kubectl(kubeconfig, "-n", "payments", "get", "roles,rolebindings", "-o", "name")


def test_deleting_the_slackbot_removes_its_tools_rbac_in_other_namespaces(kube_api: KubeAPI, kubeconfig: Path):
    """A Role in another namespace cannot be owned by the SlackBot (garbage collection would not follow it)."""
    kube_api.apply(secret("h1bot-credentials"))
    kubectl(kubeconfig, "apply", "--validate=false", "-f", str(EXAMPLES / "tools" / "slackbot.yaml"))
    wait_until(lambda: tools_status(kube_api).get("namespaces") == ["payments"], message="status.tools")
    assert kube_api.find(ROLES, "payments", NAME) is not None
    kubectl(kubeconfig, "delete", "slackbot", "oncall")
    wait_until(lambda: kube_api.find(ROLES, "payments", NAME) is None, message="the tools Role deleted")
    wait_until(lambda: kube_api.find(BINDINGS, "payments", NAME) is None, message="the RoleBinding deleted")
