"""A platform team scrapes the operator: reconciles by outcome and the bots it runs by phase."""

import re
import urllib.request
from pathlib import Path

from tests.fakes.kube import KubeAPI, OperatorProcess, wait_until
from tests.operator.conftest import secret, slackbot


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {m[1]: float(m[2]) for m in re.finditer(r"^(h1bot_operator_\S+) (\S+)$", text, re.M)}


def test_metrics_count_reconciles_by_outcome_and_bots_by_phase(tmp_path: Path):
    with KubeAPI() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        api.apply(secret("creds"))
        api.apply(slackbot("ready", "creds"))
        api.apply(slackbot("no-secret", "missing-creds"))
        broken = slackbot("broken", "creds")
        broken["spec"]["model"]["temperature"] = 7
        api.apply(broken)
        with OperatorProcess(kubeconfig) as operator:
            metrics = wait_until(lambda: (m := scrape(operator.metrics_url)).get(
                'h1bot_operator_slackbots{phase="Failed"}') == 1 and m.get(
                'h1bot_operator_slackbots{phase="Pending"}') == 2 and m, message="the three bots' phases")
            assert metrics['h1bot_operator_reconciles_total{outcome="ok"}'] >= 1
            assert metrics['h1bot_operator_reconciles_total{outcome="waiting_for_secrets"}'] >= 1
            assert metrics['h1bot_operator_reconciles_total{outcome="invalid_spec"}'] >= 1
            assert metrics["h1bot_operator_reconcile_seconds_count"] >= 3

            api.request("DELETE", "/apis/chatops.h1bot.dev/v1alpha1/namespaces/default/slackbots/broken")
            wait_until(lambda: scrape(operator.metrics_url)['h1bot_operator_slackbots{phase="Failed"}'] == 0,
                       message="the deleted bot leaves the gauge")
