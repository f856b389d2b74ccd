"""An operator installed for a list of namespaces (the chart's namespaced RBAC mode) runs only the bots there."""

from pathlib import Path

from tests.fakes.kube import KubeAPI, OperatorProcess, wait_until
from tests.operator.conftest import BOTS, DEPLOYMENTS, secret, slackbot


def test_only_bots_in_the_watched_namespaces_are_run(tmp_path: Path):
    with KubeAPI() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        for namespace in ("team-a", "team-b"):
            api.apply(secret("creds", namespace))
            api.apply(slackbot("helpdesk", "creds", namespace))
        before = len(api.call(lambda: list(api.emulator)))  # requests from here on: the operator's (and team-c's)
        with OperatorProcess(kubeconfig, args=(), env={"H1BOT_NAMESPACES": "team-a,team-c"}):
            wait_until(lambda: api.find(DEPLOYMENTS, "team-a", "h1bot-helpdesk"), message="team-a's bot Deployment")
            # team-c's first objects arrive while the operator runs
            api.apply(secret("creds", "team-c"))
            api.apply(slackbot("oncall", "creds", "team-c"))
            wait_until(lambda: api.find(DEPLOYMENTS, "team-c", "h1bot-oncall"), message="team-c's bot Deployment")
            wait_until(lambda: (api.find(BOTS, "team-a", "helpdesk").get("status") or {}).get("phase"),
                       message="team-a's bot status")
            # Not "nothing happened yet" but "never looked": every SlackBot list/watch was in a watched namespace.
            requests = api.call(lambda: list(api.emulator))[before:]
            bot_requests = [r for r in requests if r.resource is not None and r.resource.plural == "slackbots"]
            assert bot_requests and {r.namespace for r in bot_requests} <= {"team-a", "team-c"}
            assert not [r.url for r in requests if r.namespace == "team-b"]
            assert api.find(DEPLOYMENTS, "team-b", "h1bot-helpdesk") is None
            assert "status" not in api.find(BOTS, "team-b", "helpdesk")
