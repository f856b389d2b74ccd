"""slack-app-manifest.yaml creates the app in one step: Socket Mode, the events the bot answers, and exactly the bot
scopes behind the Slack Web API methods the bot calls (each justified in a comment), nothing more.
"""

import re

import pytest
import yaml

from h1bot_bot.core.conversation import BotIdentity
from h1bot_bot.core.events import classify
from tests.paths import REPO

MANIFEST_TEXT = (REPO / "slack-app-manifest.yaml").read_text()
MANIFEST = yaml.safe_load(MANIFEST_TEXT)
HISTORY = {"channels:history", "groups:history", "im:history", "mpim:history"}

# The bot scopes each Slack Web API method needs (https://api.slack.com/methods). A method the bot starts calling
# must be added here, and its scope to the manifest.
METHOD_SCOPES: dict[str, set[str]] = {
    "auth_test": set(),
    "apps_connections_open": set(),  # app-level token with connections:write, not a bot scope
    "chat_postMessage": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},  # an admin's prompts beside `config`, shown to that admin alone
    "chat_startStream": {"chat:write"},
    "chat_appendStream": {"chat:write"},
    "chat_stopStream": {"chat:write"},
    "chat_stream": {"chat:write"},  # slack_sdk's helper over the three chat.*Stream methods above
    "conversations_replies": HISTORY,  # threads in public and private channels, DMs and group DMs
    "users_info": {"users:read"},
    "reactions_add": {"reactions:write"},  # the claim before answering (one replica answers)
}
EVENT_SCOPES = {"app_mention": {"app_mentions:read"}, "message.im": {"im:history"}}
# What Slack sends for each subscription, as the bot receives it.
EVENTS = {
    "app_mention": {"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "channel": "C1", "ts": "1.0"},
    "message.im": {"type": "message", "channel_type": "im", "user": "U1", "text": "hi", "channel": "D1", "ts": "1.0"},
    "message.channels": {"type": "message", "channel_type": "channel", "user": "U1", "text": "hi", "channel": "C1",
                         "ts": "1.0"},
}
BOT = BotIdentity(user_id="UBOT", bot_id="BBOT", team_id="T1")


def slack_methods_called_by_the_bot() -> set[str]:
    calls = set()
    for path in (REPO / "bot" / "h1bot_bot").rglob("*.py"):
        calls |= set(re.findall(r"\.((?:auth|apps|chat|conversations|users|reactions|files|views|assistant)_\w+)\(",
                                path.read_text()))
    return calls


def test_socket_mode_on_and_interactivity_on_for_the_approve_buttons():
    settings = MANIFEST["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True, "the Approve/Deny buttons of proposed actions"
    assert "request_url" not in settings["event_subscriptions"], "Socket Mode needs no public URL"
    assert set(settings["interactivity"]) == {"is_enabled"}, "clicks come over Socket Mode: no request URL"
    assert MANIFEST["features"]["bot_user"]["display_name"]


def test_every_slack_method_the_bot_calls_is_covered_by_a_scope():
    called = slack_methods_called_by_the_bot()
    assert {"chat_postMessage", "conversations_replies", "users_info"} <= called
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add the scopes of {sorted(unknown)} to METHOD_SCOPES and to the manifest"
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    for method in called:
        assert METHOD_SCOPES[method] <= scopes, method


def test_no_scope_is_requested_that_nothing_uses():
    scopes = MANIFEST["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes))
    needed = set().union(*(METHOD_SCOPES[m] for m in slack_methods_called_by_the_bot()))
    needed |= set().union(*(EVENT_SCOPES[e] for e in MANIFEST["settings"]["event_subscriptions"]["bot_events"]))
    assert set(scopes) == needed
    assert set(scopes) == {"app_mentions:read", "channels:history", "groups:history", "im:history",
                           "mpim:history", "chat:write", "users:read", "reactions:write"}
    assert "user" not in MANIFEST["oauth_config"]["scopes"], "no user-token scopes"


def test_every_scope_is_justified_by_a_comment():
    lines = MANIFEST_TEXT.splitlines()
    for index, line in enumerate(lines):
        if re.fullmatch(r"\s+- [a-z_]+:[a-z_]+", line):
            assert lines[index - 1].strip().startswith("#"), f"no comment justifies {line.strip()}"


@pytest.mark.parametrize("event", ["app_mention", "message.im"])
def test_the_bot_answers_every_event_it_subscribes_to(event):
    assert event in MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    assert classify(EVENTS[event], BOT).kind is not None


def test_channel_messages_without_a_mention_are_not_subscribed_because_the_bot_ignores_them():
    assert classify(EVENTS["message.channels"], BOT).kind is None
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im"}


def test_the_app_level_token_is_explained():
    assert "connections:write" in MANIFEST_TEXT
    assert "connections:write" in (REPO / "docs" / "gke.md").read_text()
