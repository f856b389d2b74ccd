"""The API emulator behaves like an API server where our clients depend on it (shared by the bot's tests)."""

import json
import urllib.error

import kubernetes
import pytest

from tests.fakes.kube import KubeAPI, wait_until
from tests.operator.conftest import slackbot

BOT = "/apis/chatops.h1bot.dev/v1alpha1/namespaces/emu/slackbots"


@pytest.fixture(scope="module")
def client(kube_api: KubeAPI, kubeconfig) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(kubernetes.config.new_client_from_config(config_file=str(kubeconfig)))


def test_identity_generation_and_status_subresource(kube_api: KubeAPI):
    created = kube_api.request("POST", BOT, slackbot("gen", "c", namespace="emu") | {"status": {"phase": "X"}})
    meta = created["metadata"]
    assert meta["namespace"] == "emu" and meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert "status" not in created, "status is written through the subresource only"
    spec = kube_api.request("PATCH", f"{BOT}/gen", {"spec": {"suspend": True}, "status": {"phase": "Y"}})
    assert spec["metadata"]["generation"] == 2 and "status" not in spec
    status = kube_api.request("PATCH", f"{BOT}/gen/status", {"status": {"phase": "Running"}, "spec": {"x": 1}})
    assert status["metadata"]["generation"] == 2 and status["status"] == {"phase": "Running"}
    assert "x" not in status["spec"]
    assert int(status["metadata"]["resourceVersion"]) > int(spec["metadata"]["resourceVersion"])


def test_json_patch_test_failure_is_422_and_stale_rv_is_409(kube_api: KubeAPI):
    obj = kube_api.request("POST", BOT, slackbot("cas", "c", namespace="emu"))
    with pytest.raises(urllib.error.HTTPError) as failed:
        kube_api.request("PATCH", f"{BOT}/cas", [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}],
                         content_type="application/json-patch+json")
    assert failed.value.code == 422
    kube_api.request("PATCH", f"{BOT}/cas", {"metadata": {"labels": {"a": "1"}}})
    with pytest.raises(urllib.error.HTTPError) as stale:
        kube_api.request("PATCH", f"{BOT}/cas", {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"],
                                                             "labels": {"a": "2"}}})
    assert stale.value.code == 409


def test_delete_preconditions_protect_an_object_replaced_or_edited_since_it_was_read(kube_api: KubeAPI):
    obj = kube_api.request("POST", BOT, slackbot("pre", "c", namespace="emu"))
    meta = obj["metadata"]
    for stale in ({"uid": "not-" + meta["uid"]}, {"uid": meta["uid"], "resourceVersion": "1"}):
        with pytest.raises(urllib.error.HTTPError) as refused:
            kube_api.request("DELETE", f"{BOT}/pre", {"kind": "DeleteOptions", "apiVersion": "v1",
                                                     "preconditions": stale})
        assert refused.value.code == 409
        assert "Precondition failed" in json.loads(refused.value.read())["message"]
    assert kube_api.find("chatops.h1bot.dev/v1alpha1/slackbots", "emu", "pre") is not None
    kube_api.request("DELETE", f"{BOT}/pre", {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {
        "uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}})
    assert kube_api.find("chatops.h1bot.dev/v1alpha1/slackbots", "emu", "pre") is None


def test_watch_resumes_from_a_resource_version(kube_api: KubeAPI, client):
    listed = client.list_namespaced_custom_object("chatops.h1bot.dev", "v1alpha1", "emu", "slackbots")
    kube_api.request("POST", BOT, slackbot("late", "c", namespace="emu"))
    events = kubernetes.watch.Watch().stream(
        client.list_namespaced_custom_object, "chatops.h1bot.dev", "v1alpha1", "emu", "slackbots",
        resource_version=listed["metadata"]["resourceVersion"], field_selector="metadata.name=late", timeout_seconds=2)
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert seen == [("ADDED", "late")], "only what happened after the list, filtered by name"


def test_bot_merge_patches_its_status_with_the_kubernetes_client(kube_api: KubeAPI, client):
    kube_api.request("POST", BOT, slackbot("rt", "c", namespace="emu"))
    kube_api.request("PATCH", f"{BOT}/rt/status", {"status": {"phase": "Running"}})
    client.patch_namespaced_custom_object_status("chatops.h1bot.dev", "v1alpha1", "emu", "slackbots", "rt",
                                                 {"status": {"runtime": {"overrides": {"model": {"value": "m"}}}}})
    assert kube_api.find("chatops.h1bot.dev/v1alpha1/slackbots", "emu", "rt")["status"] == {
        "phase": "Running", "runtime": {"overrides": {"model": {"value": "m"}}}}


def test_the_api_can_go_down_and_come_back(kube_api: KubeAPI):
    with kube_api.outage():
        with pytest.raises(urllib.error.HTTPError) as down:
            kube_api.request("GET", BOT)
        assert down.value.code == 503
    port = kube_api.port
    kube_api.stop_server()
    with pytest.raises(urllib.error.URLError):
        kube_api.request("GET", BOT)
    kube_api.start_server()
    assert kube_api.port == port
    wait_until(lambda: kube_api.request("GET", BOT)["kind"] == "SlackBotList", message="the API is back")


def _deployment(name: str, memory: object, labels: dict | None = None) -> dict:
    pod_labels = labels or {"app": "x"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "emu"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"memory": memory,
                                                                                              "cpu": 1}}}]}}}}


def test_the_api_servers_validation_and_canonical_quantities_can_be_switched_off():
    deployments = "/apis/apps/v1/namespaces/emu/deployments"
    with KubeAPI() as api:
        stored = api.request("POST", deployments, _deployment("canonical", "0.5Gi"))
        assert stored["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {
            "memory": "512Mi", "cpu": "1"}
        for bad, code, wording in ((_deployment("lots", "lots"), 400, "quantities must match the regular expression"),
                                   (_deployment("label", "1Gi", {"app": "not valid!"}), 422,
                                    'spec.template.metadata.labels: Invalid value: "not valid!"'),
                                   (_deployment("x" * 254, "1Gi"), 422, "must be no more than 253 characters")):
            with pytest.raises(urllib.error.HTTPError) as refused:
                api.request("POST", deployments, bad)
            assert refused.value.code == code and wording in json.loads(refused.value.read())["message"]

        api.call(lambda: setattr(api.emulator, "validation", False))
        api.call(lambda: setattr(api.emulator, "canonical_quantities", False))
        kept = api.request("POST", deployments, _deployment("lots", "lots"))
        assert kept["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {
            "memory": "lots", "cpu": 1}
