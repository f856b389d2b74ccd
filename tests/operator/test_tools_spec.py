"""spec.tools as a bot author meets it: the CRD and the bot admit the tools example, and both refuse the same broken
tools with the same message (secrets above all)."""

import copy
import re

import pytest
import yaml

from h1bot_api.spec import ConfigError, SlackBotSpec
from h1bot_api.tools_spec import (
    BOUNDS_ONLY_FOR_SCALE_MESSAGE,
    KNOWN_RESOURCES_MESSAGE,
    NO_SECRETS_MESSAGE,
    SCALE_BOUNDS_MESSAGE,
    UNIQUE_ACTIONS_MESSAGE,
)
from tests.fakes.crd_schema import admit
from tests.paths import EXAMPLES

TOOLS_BOT = yaml.safe_load((EXAMPLES / "tools" / "slackbot.yaml").read_text())


def with_tools(mutate) -> dict:
    bot = copy.deepcopy(TOOLS_BOT)
    mutate(bot["spec"]["tools"])
    return bot


def test_the_tools_example_is_admitted_and_says_what_it_enables():
    assert admit(TOOLS_BOT) == []
    tools = SlackBotSpec.from_manifest(TOOLS_BOT).tools
    assert tools.summary("default") == ("read pods,events,deployments,replicasets in payments; logs (200 lines); "
                                        "rollout-restart in payments; scale in payments")


def test_empty_namespaces_mean_the_bots_own_and_no_tools_enable_nothing():
    bot = with_tools(lambda t: (t["kubernetes"].pop("namespaces"), t.pop("actions")))
    tools = SlackBotSpec.from_manifest(bot).tools
    assert tools.read_namespaces("default") == ("default",)
    bare = copy.deepcopy(TOOLS_BOT)
    bare["spec"].pop("tools")
    assert SlackBotSpec.from_manifest(bare).tools is None


BROKEN_TOOLS = {
    "secrets in the resource list": (lambda t: t["kubernetes"]["resources"].append("secrets"),
                                     ".spec.tools.kubernetes.resources", NO_SECRETS_MESSAGE),
    "a resource the bot cannot read": (lambda t: t["kubernetes"].__setitem__("resources", ["nodes"]),
                                       ".spec.tools.kubernetes.resources", KNOWN_RESOURCES_MESSAGE),
    "scale bounds upside down": (lambda t: t["actions"][1].update(minReplicas=5, maxReplicas=2),
                                 ".spec.tools.actions[1]", SCALE_BOUNDS_MESSAGE),
    "bounds on a restart": (lambda t: t["actions"][0].update(maxReplicas=2), ".spec.tools.actions[0]",
                            BOUNDS_ONLY_FOR_SCALE_MESSAGE),
    "the same action twice": (lambda t: t["actions"].append({"name": "scale"}), ".spec.tools.actions",
                              UNIQUE_ACTIONS_MESSAGE),
}


@pytest.mark.parametrize("case", BROKEN_TOOLS, ids=str)
def test_broken_tools_are_refused_by_the_crd_and_the_bot_with_the_same_message(case):
    mutate, where, why = BROKEN_TOOLS[case]
    assert [(r.path, r.message, r.by) for r in admit(with_tools(mutate))] == [(where, why, "cel")]
    with pytest.raises(ConfigError, match=re.escape(why)):
        SlackBotSpec.from_manifest(with_tools(mutate))


def test_an_unknown_action_is_refused_by_its_name():
    bot = with_tools(lambda t: t["actions"].append({"name": "delete-pod"}))
    assert [(r.path, r.by) for r in admit(bot)] == [(".spec.tools.actions.2.name", "schema")]
    with pytest.raises(ConfigError, match=r"spec\.tools\.actions\.2\.name"):
        SlackBotSpec.from_manifest(bot)
