"""The real kopf operator against the Kubernetes API emulator on loopback: what a cluster user would observe."""

from typing import Any

import kubernetes
import pytest

from h1bot_api import status as api_status
from h1bot_operator.render import CHECKSUM_ANNOTATION
from tests.fakes.kube import KubeAPI, wait_until
from tests.operator.conftest import BOTS, DEPLOYMENTS, TEST_IMAGE, events_about, example_bot, secret, slackbot

pytestmark = pytest.mark.usefixtures("operator")
NS = "default"


def bot_path(name: str) -> str:
    return f"/apis/chatops.h1bot.dev/v1alpha1/namespaces/{NS}/slackbots/{name}"


def deployment_path(name: str) -> str:
    return f"/apis/apps/v1/namespaces/{NS}/deployments/h1bot-{name}"


def deployment(api: KubeAPI, name: str) -> dict[str, Any] | None:
    return api.find(DEPLOYMENTS, NS, f"h1bot-{name}")


def bot_status(api: KubeAPI, name: str) -> dict[str, Any]:
    return (api.find(BOTS, NS, name) or {}).get("status") or {}


def condition(api: KubeAPI, name: str, type_: str) -> dict[str, Any]:
    return next((c for c in bot_status(api, name).get("conditions", ()) if c["type"] == type_), {})


def checksum(dep: dict[str, Any] | None) -> str | None:
    return ((dep or {}).get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}).get(
        CHECKSUM_ANNOTATION)


def requests(api: KubeAPI) -> list[Any]:
    """Every request the emulator received so far, in order (the operator's and the test's)."""
    return api.call(lambda: list(api.emulator))


def env_of(dep: dict[str, Any]) -> dict[str, Any]:
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def create_bot(api: KubeAPI, name: str, **spec: Any) -> dict[str, Any]:
    api.apply(secret(f"{name}-creds"))
    api.apply(slackbot(name, f"{name}-creds", **spec))
    return wait_until(lambda: deployment(api, name), message=f"Deployment h1bot-{name}")


def make_ready(api: KubeAPI, name: str, ready: int = 1) -> None:
    """What the Deployment controller and kubelet would do once the bot pod passes its readiness probe."""
    api.request("PATCH", deployment_path(name) + "/status",
                {"status": {"replicas": 1, "readyReplicas": ready, "availableReplicas": ready}})


def test_create_makes_children_owned_by_the_slackbot(kube_api: KubeAPI):
    api = kube_api
    api.apply(secret("helpdesk-creds", **{"slack-bot-token": "xoxb-1", "slack-app-token": "xapp-1",
                                          "openai-api-key": "sk-1", "openai-org-id": "org-1"}))
    bot = example_bot("helpdesk")
    for ref in bot["spec"]["secrets"].values():
        ref["name"] = "helpdesk-creds"
    api.apply(bot)
    dep = wait_until(lambda: deployment(api, "helpdesk"), message="the bot Deployment")
    uid = api.find(BOTS, NS, "helpdesk")["metadata"]["uid"]

    for res in ("v1/serviceaccounts", "rbac.authorization.k8s.io/v1/roles", "rbac.authorization.k8s.io/v1/rolebindings",
                DEPLOYMENTS, "policy/v1/poddisruptionbudgets"):  # the example runs 2 replicas
        child = wait_until(lambda res=res: api.find(res, NS, "h1bot-helpdesk"), message=res)
        assert child["metadata"]["ownerReferences"] == [{
            "apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot", "name": "helpdesk", "uid": uid,
            "controller": True, "blockOwnerDeletion": True}]
    env = env_of(dep)
    assert env["H1BOT_NAME"] == "helpdesk" and env["H1BOT_NAMESPACE"] == NS
    assert env["OPENAI_ORG_ID"] == {"secretKeyRef": {"name": "helpdesk-creds", "key": "openai-org-id"}}
    assert env["SLACK_APP_TOKEN"] == {"secretKeyRef": {"name": "helpdesk-creds", "key": "slack-app-token"}}
    pod = dep["spec"]["template"]
    assert pod["spec"]["containers"][0]["image"] == TEST_IMAGE
    assert checksum(dep).startswith("sha256:")
    assert pod["metadata"]["labels"]["team"] == "platform"
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"

    wait_until(lambda: bot_status(api, "helpdesk").get("phase") == api_status.PENDING, message="phase Pending")
    assert condition(api, "helpdesk", api_status.SECRETS_RESOLVED)["status"] == "True"
    assert bot_status(api, "helpdesk")["secretsChecksum"] == checksum(dep)
    assert not api.find(BOTS, NS, "helpdesk")["metadata"].get("finalizers"), "deletion must never wait for us"
    wait_until(lambda: ("Normal", "Created", "Created Deployment h1bot-helpdesk") in events_about(api, "helpdesk"),
               message="the Created Event")


def test_deployment_readiness_flows_into_status(kube_api: KubeAPI):
    api = kube_api
    create_bot(api, "ready")
    make_ready(api, "ready")
    wait_until(lambda: bot_status(api, "ready").get("phase") == api_status.RUNNING, message="phase Running")
    assert condition(api, "ready", api_status.READY)["status"] == "True"
    assert condition(api, "ready", api_status.DEPLOYMENT_AVAILABLE)["status"] == "True"
    assert bot_status(api, "ready")["deployment"] == {"name": "h1bot-ready", "readyReplicas": 1}

    make_ready(api, "ready", ready=0)
    wait_until(lambda: bot_status(api, "ready").get("phase") == api_status.DEGRADED, message="phase Degraded")
    assert condition(api, "ready", api_status.READY)["status"] == "False"


def test_pod_level_spec_change_patches_the_same_deployment(kube_api: KubeAPI):
    api = kube_api
    before = create_bot(api, "patched")
    api.request("PATCH", bot_path("patched"), {"spec": {"template": {"image": "registry.test/custom:2",
                                                                     "podLabels": {"tier": "chat"}}}})
    after = wait_until(lambda: (d := deployment(api, "patched"))
                       and d["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.test/custom:2" and d,
                       message="the new image")
    assert after["metadata"]["uid"] == before["metadata"]["uid"], "patched, not recreated"
    assert after["spec"]["template"]["metadata"]["labels"]["tier"] == "chat"
    wait_until(lambda: bot_status(api, "patched").get("observedGeneration") == 2, message="observedGeneration 2")


def test_live_settings_change_does_not_roll_the_bot(kube_api: KubeAPI):
    api = kube_api
    before = create_bot(api, "live")
    api.request("PATCH", bot_path("live"), {"spec": {"model": {"name": "gpt-4o", "temperature": 0.1},
                                                     "persona": {"systemPrompt": "Be terse."},
                                                     "access": {"admins": ["U1"]}}})
    wait_until(lambda: bot_status(api, "live").get("observedGeneration") == 2, message="the change observed")
    assert deployment(api, "live")["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_rotating_a_referenced_key_rolls_and_an_unrelated_key_does_not(kube_api: KubeAPI):
    api = kube_api
    before = create_bot(api, "rotate")
    creds = "/api/v1/namespaces/default/secrets/rotate-creds"

    mark = len(requests(api))
    api.request("PATCH", creds, {"stringData": {"unrelated": "whatever"}})
    # Not "nothing happened yet": wait until the operator, woken by the Secret's event, has read it with the new key.
    wait_until(lambda: (seen := requests(api)[mark:]) and [
        r for r in seen[next(i for i, r in enumerate(seen) if r.method.value == "PATCH" and r.url.path == creds):]
        if r.method.value == "GET" and r.url.path == creds], message="the operator reading the changed Secret")

    api.request("PATCH", creds, {"stringData": {"slack-bot-token": "xoxb-rotated"}})
    after = wait_until(lambda: (d := deployment(api, "rotate")) and checksum(d) != checksum(before) and d,
                       message="a new checksum")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    wait_until(lambda: bot_status(api, "rotate").get("secretsChecksum") == checksum(after), message="status checksum")
    # The reconcile that read the unrelated key rolled nothing: the only checksum written since is the rotation's.
    written = {checksum(r.data) for r in requests(api)[mark:] if r.method.value in ("PATCH", "PUT")
               and r.url.path == deployment_path("rotate") and isinstance(r.data, dict) and checksum(r.data)}
    assert written == {checksum(after)}


def test_missing_secret_is_reported_then_recovers(kube_api: KubeAPI):
    api = kube_api
    api.apply(slackbot("nosecret", "nosecret-creds"))
    wait_until(lambda: condition(api, "nosecret", api_status.SECRETS_RESOLVED).get("status") == "False",
               message="SecretsResolved=False")
    cond = condition(api, "nosecret", api_status.SECRETS_RESOLVED)
    assert "Secret default/nosecret-creds not found" in cond["message"]
    assert bot_status(api, "nosecret")["phase"] == api_status.PENDING
    assert deployment(api, "nosecret") is None
    warnings = wait_until(lambda: [e for e in events_about(api, "nosecret") if e[0] == "Warning"], message="Warning")
    assert warnings == [("Warning", "SecretMissing", cond["message"])]

    api.apply(secret("nosecret-creds", **{"slack-bot-token": "xoxb", "slack-app-token": "xapp"}))
    wait_until(lambda: "openai-api-key" in condition(api, "nosecret", api_status.SECRETS_RESOLVED).get("message", ""),
               message="the missing key named")
    api.request("PATCH", "/api/v1/namespaces/default/secrets/nosecret-creds", {"stringData": {"openai-api-key": "k"}})
    wait_until(lambda: deployment(api, "nosecret"), message="the Deployment once the Secret is complete")
    wait_until(lambda: condition(api, "nosecret", api_status.SECRETS_RESOLVED).get("status") == "True",
               message="SecretsResolved=True")


def test_broken_slackbot_fails_alone(kube_api: KubeAPI):
    api = kube_api
    api.apply(slackbot("broken", "broken-creds", model={"name": "gpt-4o", "contextTokens": 4096},
                       summarization={"thresholdTokens": 9000}))
    wait_until(lambda: bot_status(api, "broken").get("phase") == api_status.FAILED, message="phase Failed")
    ready = condition(api, "broken", api_status.READY)
    assert ready["reason"] == "InvalidSpec"
    assert "thresholdTokens must be below spec.model.contextTokens" in ready["message"]
    wait_until(lambda: ("Warning", "InvalidSpec", ready["message"]) in events_about(api, "broken"), message="Event")
    assert deployment(api, "broken") is None
    create_bot(api, "healthy")  # other SlackBots keep reconciling


def test_deleted_deployment_is_restored(kube_api: KubeAPI):
    api = kube_api
    before = create_bot(api, "restore")
    api.request("DELETE", deployment_path("restore"))
    after = wait_until(lambda: (d := deployment(api, "restore")) and d["metadata"]["uid"] != before["metadata"]["uid"]
                       and d, message="a new Deployment")
    assert checksum(after) == checksum(before)


def test_hand_edits_of_owned_fields_are_reverted_and_others_kept(kube_api: KubeAPI):
    api = kube_api
    create_bot(api, "drift")
    api.request("PATCH", deployment_path("drift"), {
        "metadata": {"annotations": {"team.example/owner": "alice"}},
        "spec": {"replicas": 3, "strategy": {"rollingUpdate": {"maxUnavailable": 1}}}})
    restored = wait_until(lambda: (d := deployment(api, "drift")) and d["spec"]["replicas"] == 1 and d,
                          message="replicas restored")
    assert restored["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert restored["metadata"]["annotations"]["team.example/owner"] == "alice"


def test_bot_status_writes_never_roll_and_are_kept(kube_api: KubeAPI, kubeconfig):
    api = kube_api
    before = create_bot(api, "runtime")
    runtime = {"overrides": {"model": {"value": "gpt-4o", "specValue": "gpt-4o-mini", "by": "U1",
                                       "at": "2026-01-01T00:00:00Z"}}}
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    kubernetes.client.CustomObjectsApi(client).patch_namespaced_custom_object_status(
        "chatops.h1bot.dev", "v1alpha1", NS, "slackbots", "runtime",
        {"status": {"runtime": runtime, "slack": {"botUserId": "UBOT"}}})

    make_ready(api, "runtime")  # the operator writes its own status fields next
    wait_until(lambda: bot_status(api, "runtime").get("phase") == api_status.RUNNING, message="phase Running")
    status = bot_status(api, "runtime")
    assert status["runtime"] == runtime and status["slack"] == {"botUserId": "UBOT"}
    dep = deployment(api, "runtime")
    assert dep["spec"] == before["spec"], "no rollout"


def test_suspend_scales_to_zero(kube_api: KubeAPI):
    api = kube_api
    create_bot(api, "sleepy")
    api.request("PATCH", bot_path("sleepy"), {"spec": {"suspend": True}})
    wait_until(lambda: deployment(api, "sleepy")["spec"]["replicas"] == 0, message="replicas 0")
    wait_until(lambda: bot_status(api, "sleepy").get("phase") == api_status.SUSPENDED, message="phase Suspended")
    api.request("PATCH", bot_path("sleepy"), {"spec": {"suspend": False}})
    wait_until(lambda: deployment(api, "sleepy")["spec"]["replicas"] == 1, message="replicas 1")


def test_replicas_scale_the_deployment_without_a_rollout(kube_api: KubeAPI):
    api = kube_api
    create_bot(api, "ha")
    before = wait_until(lambda: deployment(api, "ha"), message="deployment created")
    api.request("PATCH", bot_path("ha"), {"spec": {"replicas": 2}})
    scaled = wait_until(lambda: (d := deployment(api, "ha")) and d["spec"]["replicas"] == 2 and d,
                        message="replicas 2")
    assert scaled["spec"]["template"] == before["spec"]["template"], "scaling does not roll the pods"
    make_ready(api, "ha", ready=2)
    wait_until(lambda: condition(api, "ha", api_status.DEPLOYMENT_AVAILABLE).get("message") == "2/2 bot pods ready",
               message="2/2 ready in status")


def test_deleting_a_slackbot_is_not_blocked_and_children_are_collected(kube_api: KubeAPI):
    api = kube_api
    create_bot(api, "gone")
    api.request("DELETE", bot_path("gone"))
    assert api.find(BOTS, NS, "gone") is None, "no finalizer: deleted at once"
    wait_until(lambda: deployment(api, "gone") is None, message="garbage-collected Deployment")
    assert api.find(DEPLOYMENTS, NS, "h1bot-gone") is None


def test_api_outage_is_survived(kube_api: KubeAPI):
    api = kube_api
    create_bot(api, "outage")
    with api.outage():
        wait_until(lambda: _refused(api), message="503 during the outage")
    api.request("PATCH", bot_path("outage"), {"spec": {"template": {"image": "registry.test/after-outage:1"}}})
    wait_until(lambda: deployment(api, "outage")["spec"]["template"]["spec"]["containers"][0]["image"]
               == "registry.test/after-outage:1", timeout=30, message="reconciled after the outage")


def _refused(api: KubeAPI) -> bool:
    import urllib.error
    try:
        api.request("GET", "/api/v1/namespaces/default/secrets")
    except urllib.error.HTTPError as exc:
        return exc.code == 503
    return False


def test_operator_restart_makes_no_duplicates(kube_api: KubeAPI, operator):
    api = kube_api
    before = create_bot(api, "restart")
    children = {res: api.find(res, NS, "h1bot-restart")["metadata"]["uid"]
                for res in ("v1/serviceaccounts", "rbac.authorization.k8s.io/v1/roles", DEPLOYMENTS)}
    created = wait_until(lambda: (c := [e for e in events_about(api, "restart") if e[1] == "Created"]) and len(c) == 4
                         and c, message="four Created Events")
    operator.stop()
    operator.start()
    api.request("PATCH", bot_path("restart"), {"spec": {"template": {"podLabels": {"after": "restart"}}}})
    wait_until(lambda: deployment(api, "restart")["spec"]["template"]["metadata"]["labels"].get("after"),
               message="the restarted operator reconciles")
    for res, uid in children.items():
        assert api.find(res, NS, "h1bot-restart")["metadata"]["uid"] == uid
    assert [d["metadata"]["name"] for d in api.find_all(DEPLOYMENTS, NS) if "restart" in d["metadata"]["name"]] == [
        "h1bot-restart"]
    assert [e for e in events_about(api, "restart") if e[1] == "Created"] == created
    assert deployment(api, "restart")["metadata"]["uid"] == before["metadata"]["uid"]
