"""A user's session: `kubectl apply -f examples/` with the operator running as `kopf run`, then `kubectl get sb`."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fakes.kube import KubeAPI, OperatorProcess, kubectl, wait_until
from tests.paths import REPO

pytestmark = pytest.mark.skipif(subprocess.run(["which", "kubectl"], capture_output=True).returncode != 0,
                                reason="kubectl is not installed")




def test_kubectl_apply_examples_then_get_slackbots(tmp_path: Path):
    with KubeAPI() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        kopf = Path(sys.executable).with_name("kopf")
        command = [str(kopf), "run", "-m", "h1bot_operator.handlers", "--standalone", "-A"]
        with OperatorProcess(kubeconfig, command=command, args=(), env={"H1BOT_BOT_IMAGE": "registry.test/bot:e2e"},
                             log_path=tmp_path / "operator.log"):
            out = kubectl(kubeconfig, "apply", "--validate=false", "-f", str(REPO / "examples"))
            assert "slackbot.chatops.h1bot.dev/helpdesk created" in out
            wait_until(lambda: "h1bot-helpdesk" in kubectl(kubeconfig, "get", "deployments"),
                       message="the bot Deployment")

            # What the Deployment controller reports once the bot pod is ready.
            kubectl(kubeconfig, "patch", "deployment", "h1bot-helpdesk", "--subresource=status", "--type=merge",
                    "-p", '{"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}}')
            kubectl(kubeconfig, "wait", "sb/helpdesk", "--for=jsonpath={.status.phase}=Running", "--timeout=60s")

            table = kubectl(kubeconfig, "get", "sb").splitlines()
            assert table[0].split() == ["NAME", "MODEL", "EFFECTIVE", "READY", "PHASE", "BOT", "AGE"]
            assert table[1].split()[:4] == ["helpdesk", "gpt-4o-mini", "True", "Running"]

            # The bot switched models from Slack: the Effective column shows it.
            kubectl(kubeconfig, "patch", "sb", "helpdesk", "--subresource=status", "--type=merge", "-p",
                    '{"status": {"runtime": {"overrides": {"model": {"value": "gpt-4o", "by": "U0123ADMIN"}}}}}')
            assert kubectl(kubeconfig, "get", "sb", "helpdesk").splitlines()[1].split()[:5] == [
                "helpdesk", "gpt-4o-mini", "gpt-4o", "True", "Running"]

            status = yaml.safe_load(kubectl(kubeconfig, "get", "sb", "helpdesk", "-o", "yaml"))["status"]
            conditions = {c["type"]: c for c in status["conditions"]}
            assert {t: c["status"] for t, c in conditions.items()} == {
                "Ready": "True", "SecretsResolved": "True", "DeploymentAvailable": "True"}
            assert status["runtime"]["overrides"]["model"]["value"] == "gpt-4o"
            described = kubectl(kubeconfig, "describe", "sb", "helpdesk")
            assert "Created Deployment h1bot-helpdesk" in described, described
