"""The chart installed as a user would: the rendered chart applied to an emulated API server (kmock) with kubectl,
and the operator started from the rendered Deployment's own command and env."""

import json
import os
import subprocess
import urllib.request
from typing import Any

import pytest
import yaml

from h1bot_operator import render as bot_render
from tests.e2e.helm_chart import CHART_DIR, NAMESPACE, render
from tests.fakes.kube import KubeAPI, free_port, kubectl, wait_until
from tests.paths import REPO


@pytest.mark.timeout(90)
def test_rendered_chart_on_an_api_server_runs_the_operator_which_starts_a_bot_with_the_chart_bot_image(chart, tmp_path):
    """Install what the chart renders (CRD, RBAC, ServiceAccount, operator Deployment) plus the example Secret and
    SlackBot with kubectl, then start the operator exactly as the Deployment says (command, args, env): the bot
    Deployment appears with the chart's botImage."""
    bot_image = "europe-docker.pkg.dev/p/h1bot/h1bot-bot:e2e@sha256:" + "c" * 64
    objects = render(chart, {"botImage": {"reference": bot_image}})
    crds = [yaml.safe_load(crd["data"]) for crd in chart.crds]
    examples = [yaml.safe_load((REPO / "examples" / name).read_text()) for name in ("secret.yaml", "slackbot.yaml")]
    manifests = tmp_path / "install.yaml"
    manifests.write_text(yaml.safe_dump_all(crds + objects + examples))
    (slackbot,) = [e for e in examples if e["kind"] == "SlackBot"]
    namespace = slackbot["metadata"]["namespace"]

    with KubeAPI(crds=(CHART_DIR / "crds" / "slackbots.chatops.h1bot.dev.yaml",)) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        applied = kubectl(kubeconfig, "apply", "--validate=false", "-f", str(manifests))
        for line in ("deployment.apps/h1bot-operator created", "clusterrole.rbac.authorization.k8s.io/h1bot-operator",
                     f"slackbot.chatops.h1bot.dev/{slackbot['metadata']['name']} created"):
            assert line in applied

        (deployment,) = json.loads(kubectl(kubeconfig, "get", "deployments", "-n", NAMESPACE, "-o", "json"))["items"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        health = free_port()  # the rendered probe port (8080) may be taken on a shared test machine
        command = [str(REPO / ".venv" / "bin" / container["command"][0]), *container.get("args", []),
                   f"--liveness=http://127.0.0.1:{health}{container['livenessProbe']['httpGet']['path']}"]
        metrics = free_port()  # likewise the rendered metrics port (9090)
        env = {**{e["name"]: e["value"] for e in container["env"]}, "KUBECONFIG": str(kubeconfig),
               "HOME": str(tmp_path), "PATH": os.environ["PATH"], "H1BOT_METRICS_PORT": str(metrics)}
        log = tmp_path / "operator.log"
        with log.open("w") as output:
            operator = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            def bot_deployments() -> list[dict[str, Any]]:
                listed = json.loads(kubectl(kubeconfig, "get", "deployments", "-n", namespace, "-o", "json"))
                bot_labels = bot_render.labels(slackbot["metadata"]["name"]).items()
                return [d for d in listed["items"] if bot_labels <= d["metadata"]["labels"].items()]

            (bot,) = wait_until(bot_deployments, timeout=45, message=f"a bot Deployment; operator log:\n{log}")
            (bot_container,) = bot["spec"]["template"]["spec"]["containers"]
            assert bot_container["image"] == bot_image
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=5) as probe:
                assert probe.status == 200
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as scrape:
                assert 'h1bot_operator_reconciles_total{outcome="ok"}' in scrape.read().decode()
        finally:
            operator.terminate()  # what the kubelet sends: the operator stops promptly and cleanly
            exit_code = operator.wait(timeout=20)
            with api.outage():
                pass  # end the watch streams the operator left open, so the server stops at once
        assert exit_code == 0, log.read_text()[-3000:]
