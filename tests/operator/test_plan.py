"""Restoring a child with one merge patch that touches only the fields the operator owns."""

import copy

from h1bot_api.spec import SlackBotSpec
from h1bot_operator import render
from h1bot_operator.plan import foreign, plan_patch
from h1bot_operator.settings import OperatorSettings
from tests.fakes.kube_protocol import merge_patch
from tests.operator.conftest import slackbot

BOT = slackbot("p", "p-creds", template={"podAnnotations": {"keep": "1", "drop": "1"}})
BOT["metadata"]["uid"] = "uid-1"


def desired(bot: dict = BOT) -> dict:
    return render.deployment(bot, SlackBotSpec.from_manifest(bot), OperatorSettings(bot_image="img:1"), "sha256:1")


def stored(obj: dict) -> dict:
    """As the API server keeps it: plus server-set fields."""
    obj = copy.deepcopy(obj)
    obj["metadata"].update(uid="d-1", resourceVersion="7", generation=1)
    obj["status"] = {"readyReplicas": 1}
    return obj


def test_nothing_to_do_when_our_fields_match():
    assert plan_patch(desired(), stored(desired())) is None


def test_hand_edits_of_our_fields_are_restored_and_others_kept():
    current = stored(desired())
    current["spec"]["replicas"] = 5
    current["metadata"]["annotations"]["someone.else/note"] = "hi"
    patch = plan_patch(desired(), current)
    result = merge_patch(current, patch)
    assert result["spec"]["replicas"] == 1
    assert result["metadata"]["annotations"]["someone.else/note"] == "hi"
    assert plan_patch(desired(), result) is None


def test_keys_no_longer_rendered_are_removed():
    current = stored(desired())
    smaller = copy.deepcopy(BOT)
    smaller["spec"]["template"]["podAnnotations"] = {"keep": "1"}
    current["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = "now"
    result = merge_patch(current, plan_patch(desired(smaller), current))
    annotations = result["spec"]["template"]["metadata"]["annotations"]
    assert "drop" not in annotations and annotations["keep"] == "1"
    assert annotations["kubectl.kubernetes.io/restartedAt"] == "now", "not ours: kept"


def test_only_a_child_made_for_this_very_slackbot_is_ours():
    assert foreign(desired(), stored(desired())) is None

    no_owner = stored(desired())
    no_owner["metadata"]["ownerReferences"] = []
    assert "no controller ownerReference to this SlackBot" in foreign(desired(), no_owner)

    helm = stored(desired())
    helm["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "Helm"
    assert "managed by 'Helm'" in foreign(desired(), helm)

    unlabelled = stored(desired())
    del unlabelled["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    del unlabelled["metadata"]["ownerReferences"]
    assert "no app.kubernetes.io/managed-by label" in foreign(desired(), unlabelled)

    stale = stored(desired())  # ours, for a deleted SlackBot of the same name that GC has not collected yet
    stale["metadata"]["ownerReferences"][0]["uid"] = "uid-old"
    message = foreign(desired(), stale)
    assert message.startswith("Deployment default/h1bot-p already exists and is not this SlackBot's")
    assert "controlled by SlackBot p (uid uid-old)" in message


def test_pod_fields_the_slackbot_no_longer_sets_are_removed_and_hand_edits_of_them_restored():
    rich = copy.deepcopy(BOT)
    rich["spec"]["template"].update(affinity={"podAntiAffinity": {}}, priorityClassName="chatops",
                                    env=[{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}])
    current = stored(desired(rich))
    current["spec"]["template"]["spec"]["containers"][0]["env"].pop()  # someone removed HTTPS_PROXY by hand
    restored = merge_patch(current, plan_patch(desired(rich), current))
    assert restored["spec"]["template"]["spec"]["containers"][0]["env"][-1]["name"] == "HTTPS_PROXY"
    result = merge_patch(restored, plan_patch(desired(), restored))
    pod = result["spec"]["template"]["spec"]
    assert "affinity" not in pod and "priorityClassName" not in pod
    assert "HTTPS_PROXY" not in {e["name"] for e in pod["containers"][0]["env"]}
    assert plan_patch(desired(), result) is None


def account(annotations: dict[str, str]) -> dict:
    bot = copy.deepcopy(BOT)
    bot["spec"]["template"]["serviceAccountAnnotations"] = annotations
    return render.service_account(bot, SlackBotSpec.from_manifest(bot))


def test_service_account_annotations_are_restored_and_removed_when_no_longer_rendered():
    workload_identity = {"iam.gke.io/gcp-service-account": "bots@p.iam.gserviceaccount.com"}
    current = stored(account(workload_identity))
    current["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] = "hand-edited"
    current["metadata"]["annotations"]["someone.else/note"] = "hi"
    restored = merge_patch(current, plan_patch(account(workload_identity), current))
    assert restored["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == "bots@p.iam.gserviceaccount.com"
    assert plan_patch(account(workload_identity), restored) is None
    result = merge_patch(restored, plan_patch(account({}), restored))
    assert "iam.gke.io/gcp-service-account" not in result["metadata"]["annotations"]
    assert result["metadata"]["annotations"]["someone.else/note"] == "hi", "not ours: kept"
    assert plan_patch(account({}), result) is None
