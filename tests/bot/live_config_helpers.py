"""Helpers for the live-configuration scenarios: a bot against the Kubernetes API emulator, asking it things in
Slack, and reading what a cluster user sees (status, Events, recorded requests)."""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from h1bot_bot.app import RunningBot
from tests.bot.conftest import BASE_SPEC, bot_settings
from tests.fakes.kube import KubeAPI
from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack import FakeSlack

BOTS = "chatops.h1bot.dev/v1alpha1/slackbots"
BOT_PATH = "/apis/chatops.h1bot.dev/v1alpha1/namespaces/default/slackbots/helpdesk"
ADMIN, OTHER_ADMIN, USER = "UADMIN", "UOPS", "UBOB"
SPEC = {**BASE_SPEC, "model": {"name": "gpt-4o", "maxOutputTokens": 512, "temperature": 0.3},
        "access": {"admins": [ADMIN, OTHER_ADMIN]}}
# Timings shrunk so outages and retries resolve within a test.
FAST = dict(kube_timeout=3.0, persist_backoff=0.1, persist_backoff_max=0.4, watch_backoff=0.05,
            watch_backoff_max=0.3, watch_timeout=20)


def slackbot(spec: dict | None = None) -> dict:
    return {"apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot",
            "metadata": {"name": "helpdesk", "namespace": "default"}, "spec": spec or SPEC}


def add_people(slack: FakeSlack) -> None:
    slack.add_user(ADMIN, "Ada")
    slack.add_user(OTHER_ADMIN, "Ops")


@contextlib.asynccontextmanager
async def cluster_bot(slack: FakeSlack, llm: FakeOpenAI, **settings: Any) -> AsyncIterator[RunningBot]:
    """A bot run from its SlackBot `default/helpdesk` in the cluster ($KUBECONFIG points at the emulator)."""
    runtime = RunningBot(bot_settings(slack, llm, None, name="helpdesk", namespace="default", **{**FAST, **settings}))
    async with runtime:
        await slack.wait_for(lambda: slack.connected)
        yield runtime


async def ask(slack: FakeSlack, user: str, text: str, channel: str = "C1", thread_ts: str | None = None,
              replies: int = 1) -> tuple[dict, list[str]]:
    """`user` mentions the bot with `text`; waits for `replies` new bot messages in the thread, final (none still
    being written), and returns the message and the texts of the bot's replies to it."""
    root = thread_ts
    before = len(slack.bot_replies(channel, root)) if root else 0
    message, _ = await slack.mention(channel, user, text, thread_ts=thread_ts)
    root = thread_ts or message["ts"]
    shown = await slack.wait_for_replies(channel, root, count=before + replies)
    return message, [m["text"] for m in shown[before:]]


def runtime_of(kube: KubeAPI) -> dict:
    return ((kube.find(BOTS, "default", "helpdesk") or {}).get("status") or {}).get("runtime") or {}


def overrides_of(kube: KubeAPI) -> dict:
    return runtime_of(kube).get("overrides") or {}


def events(kube: KubeAPI, reason: str | None = None) -> list[dict]:
    """The Kubernetes Events about the SlackBot (optionally of one reason), oldest first."""
    return [e for e in kube.find_all("v1/events", "default")
            if e.get("involvedObject", {}).get("kind") == "SlackBot"
            and e["involvedObject"].get("name") == "helpdesk" and (reason is None or e.get("reason") == reason)]


def status_patches(kube: KubeAPI) -> list[tuple[str, dict]]:
    """(Content-Type, body) of every PATCH the API server received on the SlackBot's status subresource."""
    def collect() -> list[tuple[str, dict]]:
        return [(r.headers.get("Content-Type", ""), r.data) for r in list(kube.emulator["patch"])
                if r.resource is not None and r.resource.plural == "slackbots" and r.subresource == "status"]
    return kube.call(collect)


def runtime_patches(kube: KubeAPI) -> list[tuple[str, dict]]:
    return [(ct, body) for ct, body in status_patches(kube) if "runtime" in (body.get("status") or {})]


def patch_spec(kube: KubeAPI, spec_patch: dict) -> None:
    """What `kubectl patch --type=merge` (or a GitOps apply) does to the spec."""
    kube.request("PATCH", BOT_PATH, {"spec": spec_patch})


async def question(slack: FakeSlack, llm: FakeOpenAI, user: str, text: str, channel: str = "C1") -> dict:
    """`user` asks the bot a question; waits for the model's answer in the thread; returns the request it got."""
    asked = len(llm.chat_requests)
    message, _ = await slack.mention(channel, user, text)
    [reply] = await slack.wait_for_replies(channel, message["ts"])
    assert reply["text"].startswith("Answer to") and len(llm.chat_requests) > asked, reply["text"]
    return llm.chat_requests[-1].body
