"""Restoring a child with one merge patch that touches only the fields the operator owns."""

import copy

from h1bot_api.spec import SlackBotSpec
from h1bot_operator import render
from h1bot_operator.plan import plan_patch
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


def test_missing_owner_reference_is_put_back():
    current = stored(desired())
    current["metadata"]["ownerReferences"] = []
    patch = plan_patch(desired(), current)
    assert patch["metadata"]["ownerReferences"] == desired()["metadata"]["ownerReferences"]
