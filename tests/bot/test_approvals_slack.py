"""Scenarios: an action the model proposes waits in the thread for an admin's click. The bot's Slack side is real
(SlackBotApp, SlackSurface, over the fake Slack's Socket Mode), the action runs with the bot's own ServiceAccount
against the Kubernetes API emulator (RBAC from spec.tools enforced), and the audit trail is Events on the SlackBot,
as `kubectl get events` shows them.

Most scenarios leave the engine's tool loop out: a mention `propose_scale {...}` stands for the model calling that
tool, through core.tools.parse_call and Approvals.propose as the loop does; the last one runs the whole bot.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from h1bot_bot.adapters.kube import SlackBotResource
from h1bot_bot.adapters.metrics import Metrics
from h1bot_bot.adapters.native_stream import ReplyStreams
from h1bot_bot.adapters.slack_api import SlackGateway
from h1bot_bot.adapters.slack_app import SlackBotApp
from h1bot_bot.adapters.slack_surface import SlackSurface
from h1bot_bot.app import RunningBot
from h1bot_bot.core.approvals import APPROVE_ACTION, DENY_ACTION
from h1bot_bot.core.conversation import BotIdentity
from h1bot_bot.core.overrides import is_admin
from h1bot_bot.core.surface import Incoming
from h1bot_bot.core.tools import parse_call, recheck
from h1bot_bot.engine.approvals import Approvals
from h1bot_bot.engine.live_config import LiveConfig
from tests.bot.conftest import bot_settings
from tests.bot.tool_cluster import DEPLOYMENTS, ToolsCluster, tools_cluster
from tests.fakes.openai import ToolCall, ToolCalls
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_interactive import buttons

ADMIN, ALICE, BOB = "U0123ADMIN", "UALICE", "UBOB"  # ADMIN is examples/tools/slackbot.yaml's admin
SCALE_TO_5 = 'propose_scale {"namespace": "payments", "deployment": "checkout", "replicas": 5}'
KUBECTL = "kubectl -n payments scale deployment/checkout --replicas=5"
START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Bot:
    slack: FakeSlack
    cluster: ToolsCluster
    clock: Clock
    approvals: Approvals
    app: SlackBotApp
    live: LiveConfig
    connection: str  # its Socket Mode connection in the fake Slack
    tool_results: list[str] = field(default_factory=list)  # what the model read after proposing

    async def propose(self, text: str = SCALE_TO_5, user: str = ALICE) -> dict:
        """`user` asks; the model proposes; returns the proposal message once it is in the thread."""
        message, _ = await self.slack.mention("C1", user, text)
        [proposal] = await self.slack.wait_for_replies("C1", message["ts"])
        return proposal

    def events(self, *reasons: str) -> list[dict]:
        found = [e for e in self.cluster.api.find_all("v1/events", "default")
                 if e["involvedObject"].get("kind") == "SlackBot" and e["involvedObject"]["name"] == "oncall"]
        return [e for e in found if not reasons or e["reason"] in reasons]

    def generation(self) -> int:
        return self.cluster.api.find(DEPLOYMENTS, "payments", "checkout")["metadata"].get("generation") or 1


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    with tools_cluster(tmp_path) as made:
        # The bot reaches its own SlackBot (and records Events) as in its pod: its ServiceAccount, via $KUBECONFIG.
        monkeypatch.setenv("KUBECONFIG", str(made.kubeconfig))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield made


@contextlib.asynccontextmanager
async def approval_bot(slack: FakeSlack, cluster: ToolsCluster) -> AsyncIterator[Bot]:
    resource = SlackBotResource("oncall", "default", timeout=5.0)
    obj = await resource.read()
    live = LiveConfig(obj["spec"], None, source="cluster:default/oncall", store=resource, backoff=0.05)
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    identity = BotIdentity(user_id=slack.bot_user_id, bot_id=slack.bot_id, team_id=slack.team_id)
    gateway = SlackGateway(client)
    surface = SlackSurface(gateway, ReplyStreams(gateway), identity)
    clock = Clock()
    approvals = Approvals(surface, cluster.tools.run_action, live.audit,
                          is_admin=lambda user: is_admin(live.current.spec, user), now=clock,
                          admins=lambda: live.current.spec.access.admins,
                          recheck=lambda proposal: recheck(proposal, live.current.spec.tools, "default"))
    results: list[str] = []

    async def model_proposes(incoming: Incoming) -> str:  # stands for the tool loop (the lead's)
        name, _, arguments = incoming.text.removeprefix(f"<@{slack.bot_user_id}> ").partition(" ")
        results.append(await approvals.propose(incoming, parse_call(name, arguments, live.current.spec.tools,
                                                                    "default")))
        return "answered"

    app = SlackBotApp(client, slack.app_token, identity, model_proposes, surface, lambda: False, Metrics(),
                      decide=approvals.decide)
    others = set(slack.connections)
    await app.connect()
    [connection] = await slack.wait_for(lambda: set(slack.connections) - others)
    expiry = asyncio.create_task(approvals.sweep(interval=0.02))  # as RunningBot runs it, more often
    try:
        yield Bot(slack, cluster, clock, approvals, app, live, connection, results)
    finally:
        expiry.cancel()
        await asyncio.gather(expiry, return_exceptions=True)
        await app.stop_receiving()
        await app.drain(5.0)
        await live.close()


@pytest.fixture
async def bot(fake_slack, cluster) -> AsyncIterator[Bot]:
    fake_slack.add_user(ADMIN, "Ada")
    async with approval_bot(fake_slack, cluster) as running:
        yield running


def outcome_of(message: dict) -> str:
    return message["blocks"][-1]["elements"][0]["text"]


async def test_an_admin_approves_and_the_deployment_is_scaled_with_the_result_in_the_thread(bot: Bot):
    slack = bot.slack
    proposal = await bot.propose()
    thread = proposal["thread_ts"]
    section = proposal["blocks"][0]["text"]["text"]
    assert f"```scale deployment checkout in payments to 5 replicas ({KUBECTL})```" in section
    assert [(b["action_id"], b["style"]) for b in buttons(proposal)] == [(APPROVE_ACTION, "primary"),
                                                                       (DENY_ACTION, "danger")]
    assert "Proposed by <@UALICE>" in proposal["blocks"][1]["elements"][0]["text"]
    [model_read] = await slack.wait_for(lambda: bot.tool_results)
    assert "Nothing has run" in model_read and KUBECTL in model_read
    assert bot.cluster.replicas() == 3  # proposing ran nothing

    envelope = await slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION)
    done = await slack.wait_for(lambda: [t for t in slack.thread_texts("C1", thread) if t.startswith(
        ":white_check_mark: Done")])
    assert done == [":white_check_mark: Done: deployment checkout in payments scaled to 5 replicas (approved by "
                    "<@U0123ADMIN>)."]
    await slack.wait_for(lambda: slack.acked(envelope))
    assert bot.cluster.replicas() == 5
    updated = await slack.wait_for(lambda: (m := slack.find("C1", proposal["ts"])) and "Approved by" in
                                   outcome_of(m) and "running" not in outcome_of(m) and m)
    assert outcome_of(updated) == (":white_check_mark: Approved by <@U0123ADMIN>: deployment checkout in payments "
                                   "scaled to 5 replicas")
    assert buttons(updated) == [] and updated["text"].startswith(":white_check_mark: Approved by <@U0123ADMIN>")
    [told] = await slack.wait_for(lambda: slack.ephemerals(ADMIN, "C1"))
    assert told["text"] == "Approved: deployment checkout in payments scaled to 5 replicas"
    await slack.wait_for(lambda: len(bot.events()) == 3)
    proposed, approved, succeeded = bot.events()
    assert [e["reason"] for e in (proposed, approved, succeeded)] == ["ActionProposed", "ActionApproved",
                                                                     "ActionSucceeded"]
    assert proposed["message"].startswith(f"UALICE proposed in C1/{thread}: scale deployment checkout")
    assert approved["message"].startswith("U0123ADMIN approved scale deployment checkout in payments to 5")
    assert succeeded["type"] == "Normal" and succeeded["message"].endswith(
        "deployment checkout in payments scaled to 5 replicas (approved by U0123ADMIN)")
    with pytest.raises(AssertionError, match="no 'h1bot_approve' button"):
        await slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION)  # gone: nobody can click it again


async def test_a_double_click_runs_it_once(bot: Bot):
    slack = bot.slack
    proposal = await bot.propose()
    before = bot.generation()
    await asyncio.gather(slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION),
                         slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION))
    told = await slack.wait_for(lambda: len(slack.ephemerals(ADMIN)) == 2 and slack.ephemerals(ADMIN))
    assert sorted(m["text"] for m in told) == [
        "Already approved by <@U0123ADMIN>: a proposal is decided once.",
        "Approved: deployment checkout in payments scaled to 5 replicas"]
    assert bot.generation() == before + 1  # one scale request reached the API server
    assert len([t for t in slack.thread_texts("C1", proposal["thread_ts"]) if "Done" in t]) == 1
    await slack.wait_for(lambda: len(bot.events("ActionSucceeded")) == 1)
    assert len(bot.events("ActionApproved")) == 1


async def test_a_non_admin_click_changes_nothing_and_only_they_are_told_who_may(bot: Bot):
    slack = bot.slack
    proposal = await bot.propose()
    envelope = await slack.click("C1", proposal["ts"], BOB, APPROVE_ACTION)
    [told] = await slack.wait_for(lambda: slack.ephemerals(BOB, "C1", proposal["thread_ts"]))
    assert told["text"] == ("Only this bot's admins can approve or deny this (Ada). Nothing ran; it still awaits "
                            "an admin.")
    await slack.wait_for(lambda: slack.acked(envelope))
    assert bot.cluster.replicas() == 3
    assert len(buttons(slack.find("C1", proposal["ts"]))) == 2  # still waiting for an admin
    assert [e["reason"] for e in bot.events()] == ["ActionProposed"]
    assert slack.ephemerals(ALICE) == [] and slack.ephemerals(ADMIN) == []


async def test_deny_runs_nothing_and_says_who_denied(bot: Bot):
    slack = bot.slack
    proposal = await bot.propose()
    before = bot.generation()
    await slack.click("C1", proposal["ts"], ADMIN, DENY_ACTION)
    updated = await slack.wait_for(lambda: "Denied" in outcome_of(slack.find("C1", proposal["ts"])) and
                                   slack.find("C1", proposal["ts"]))
    assert outcome_of(updated) == ":no_entry: Denied by <@U0123ADMIN>: nothing ran." and buttons(updated) == []
    [told] = await slack.wait_for(lambda: slack.ephemerals(ADMIN))
    assert told["text"] == "Denied: nothing ran."
    await slack.wait_for(lambda: bot.events("ActionDenied"))
    assert bot.cluster.replicas() == 3 and bot.generation() == before
    assert bot.events("ActionApproved", "ActionSucceeded", "ActionFailed") == []


async def test_an_expired_proposal_runs_nothing_even_for_an_admin(bot: Bot):
    slack = bot.slack
    proposal = await bot.propose()
    bot.clock.now += 15 * 60
    await slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION)
    [told] = await slack.wait_for(lambda: slack.ephemerals(ADMIN))
    assert told["text"] == "This proposal expired at 08:15 UTC: nothing ran. Ask again if it is still needed."
    updated = await slack.wait_for(lambda: buttons(slack.find("C1", proposal["ts"])) == [] and
                                   slack.find("C1", proposal["ts"]))
    assert outcome_of(updated) == ":hourglass: Expired at 08:15 UTC: nothing ran."
    await slack.wait_for(lambda: bot.events("ActionExpired"))
    assert bot.cluster.replicas() == 3 and [e["reason"] for e in bot.events()] == ["ActionProposed", "ActionExpired"]


async def test_a_proposal_nobody_decides_loses_its_buttons_when_it_expires(bot: Bot):
    """No click at all: once its time is past, the message says it expired and the audit trail says so too."""
    slack = bot.slack
    proposal = await bot.propose()
    assert [b["action_id"] for b in buttons(proposal)] == [APPROVE_ACTION, DENY_ACTION]
    bot.clock.now += 15 * 60
    updated = await slack.wait_for(lambda: buttons(slack.find("C1", proposal["ts"])) == [] and
                                   slack.find("C1", proposal["ts"]))
    assert outcome_of(updated) == ":hourglass: Expired at 08:15 UTC: nothing ran."
    [expired] = await slack.wait_for(lambda: bot.events("ActionExpired"))
    assert expired["message"] == (f"scale deployment checkout in payments to 5 replicas ({KUBECTL}) (proposed by "
                                  f"UALICE in C1/{proposal['thread_ts']}) expired at 2027-01-15T08:15:00Z "
                                  "undecided; nothing ran")
    assert bot.cluster.replicas() == 3 and [e["reason"] for e in bot.events()] == ["ActionProposed", "ActionExpired"]


async def test_an_approved_action_the_cluster_refuses_is_reported_as_failed(bot: Bot):
    """The model named a Deployment that does not exist: the API server's reason goes to the thread, the proposal
    and a Warning Event."""
    slack = bot.slack
    proposal = await bot.propose('propose_rollout_restart {"namespace": "payments", "deployment": "gone"}')
    await slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION)
    failed = await slack.wait_for(lambda: [m["text"] for m in slack.bot_replies("C1", proposal["thread_ts"])
                                           if m["ts"] != proposal["ts"] and m["text"].startswith(":x:")])
    assert failed[0].startswith(":x: restart the pods of deployment gone in payments (kubectl -n payments rollout "
                                "restart deployment/gone) failed (approved by <@U0123ADMIN>): not found:")
    assert outcome_of(slack.find("C1", proposal["ts"])).startswith(
        ":x: Approved by <@U0123ADMIN>, but it failed: not found:")
    [event] = await slack.wait_for(lambda: bot.events("ActionFailed"))
    assert event["type"] == "Warning" and 'deployments "gone" not found' in event["message"]


async def test_malformed_clicks_are_ignored_and_the_bot_keeps_working(bot: Bot):
    slack = bot.slack
    proposal = await bot.propose()
    message = slack.find("C1", proposal["ts"])
    approve = {"action_id": APPROVE_ACTION, "block_id": "b", "type": "button", "action_ts": "1.0"}
    no_value = await slack.send_interactive(slack.block_actions("C1", message, ADMIN, [approve]))
    unknown = await slack.send_interactive(slack.block_actions("C1", message, ADMIN, [
        {**approve, "action_id": "someone_elses_button", "value": "x"}]))
    forged = await slack.send_interactive(slack.block_actions("C1", message, ADMIN, [
        {**approve, "value": "not-a-proposal"}]))
    await slack.send_interactive(slack.block_actions("C1", message, ADMIN, []))  # nothing clicked at all
    await slack.send_interactive({**slack.block_actions("C1", message, ADMIN, [approve]), "user": None})
    await slack.wait_for(lambda: all(slack.acked(e) for e in (no_value, unknown, forged)))
    [told] = await slack.wait_for(lambda: slack.ephemerals(ADMIN))
    assert told["text"] == ("I cannot read this proposal (it is not one this bot made). Nothing ran; ask again if it "
                            "is needed.")
    assert bot.cluster.replicas() == 3 and await bot.app.is_connected()

    await slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION)  # the real button still works
    await slack.wait_for(lambda: bot.cluster.replicas() == 5)


@pytest.fixture
async def two_replicas(fake_slack, cluster) -> AsyncIterator[tuple[Bot, Bot]]:
    """Two pods of one bot, both connected: Slack gives each click to one of them, not always the proposer."""
    fake_slack.add_user(ADMIN, "Ada")
    fake_slack.add_user(ALICE, "Alice")
    async with approval_bot(fake_slack, cluster) as first, approval_bot(fake_slack, cluster) as second:
        yield first, second


async def test_a_click_reaching_the_other_replica_runs_the_proposal_its_button_carries(two_replicas):
    """The second pod proposed (it got the mention); the click reaches the first pod, which never saw the proposal
    (as after a restart): it runs exactly what the message shows, and the proposer's expiry later leaves the
    outcome alone."""
    first, proposer = two_replicas
    slack = first.slack
    proposal = await proposer.propose()
    assert proposer.approvals.pending and not first.approvals.pending
    await slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION, to=first.connection)
    await slack.wait_for(lambda: first.cluster.replicas() == 5)
    updated = await slack.wait_for(lambda: outcome_of(slack.find("C1", proposal["ts"])).startswith(
        ":white_check_mark:") and slack.find("C1", proposal["ts"]))
    assert buttons(updated) == []
    assert slack.find("C1", proposal["ts"]).get("reactions", [{}])[0].get("name") == "ballot_box_with_check"
    await slack.wait_for(lambda: first.events("ActionSucceeded"))

    proposer.clock.now += 15 * 60  # its sweep finds the proposal due, but it was decided through the other pod
    await slack.wait_for(lambda: not proposer.approvals.pending)
    assert outcome_of(slack.find("C1", proposal["ts"])) == (
        ":white_check_mark: Approved by <@U0123ADMIN>: deployment checkout in payments scaled to 5 replicas")
    assert [e["reason"] for e in first.events()] == ["ActionProposed", "ActionApproved", "ActionSucceeded"]


async def test_asking_again_after_the_other_replica_decided_makes_a_new_proposal(two_replicas):
    """The proposer still holds the proposal the other pod approved; asked for the same action again in the thread,
    it sees the decided mark on the old message and proposes anew instead of saying it still awaits approval."""
    first, proposer = two_replicas
    slack = first.slack
    proposal = await proposer.propose()
    await slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION, to=first.connection)
    await slack.wait_for(lambda: first.events("ActionSucceeded"))
    await slack.mention("C1", ALICE, SCALE_TO_5, thread_ts=proposal["thread_ts"])
    [again] = await slack.wait_for(lambda: [m for m in slack.thread_messages("C1", proposal["thread_ts"])
                                            if m["ts"] != proposal["ts"] and buttons(m)])
    [_, told] = await slack.wait_for(lambda: len(proposer.tool_results) == 2 and proposer.tool_results)
    assert told.startswith("proposed in the thread: scale deployment checkout in payments")
    assert [p.message_ts for p in proposer.approvals.pending] == [again["ts"]]
    assert buttons(slack.find("C1", proposal["ts"])) == []


async def test_two_admins_clicking_at_once_on_two_replicas_decide_once(two_replicas):
    first, proposer = two_replicas
    slack = first.slack
    slack.add_user("U0BOSS", "Boss")
    for bot in two_replicas:
        bot.approvals.is_admin = lambda user: user in (ADMIN, "U0BOSS")
    proposal = await proposer.propose('propose_rollout_restart {"namespace": "payments", "deployment": "checkout"}')
    await asyncio.gather(slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION, to=first.connection),
                         slack.click("C1", proposal["ts"], "U0BOSS", DENY_ACTION, to=proposer.connection))
    [ada] = await slack.wait_for(lambda: slack.ephemerals(ADMIN))
    [boss] = await slack.wait_for(lambda: slack.ephemerals("U0BOSS"))
    told = {ada["text"], boss["text"]}
    assert "Already decided (the message shows how): a proposal is decided once. Nothing more ran." in told
    decided = await slack.wait_for(lambda: first.events("ActionApproved", "ActionDenied"))
    await slack.wait_for(lambda: buttons(slack.find("C1", proposal["ts"])) == [])
    assert len(decided) == 1
    if decided[0]["reason"] == "ActionApproved":
        await slack.wait_for(lambda: first.events("ActionSucceeded"))
    assert len(first.events("ActionSucceeded", "ActionFailed")) == (decided[0]["reason"] == "ActionApproved")


async def test_an_approved_action_the_spec_no_longer_allows_does_not_run(bot: Bot):
    """The proposal was within spec.tools; by the click, the spec's bounds changed (the bot's watch delivers the
    new SlackBot): the approval runs nothing and says why."""
    slack = bot.slack
    proposal = await bot.propose()
    obj = await SlackBotResource("oncall", "default", timeout=5.0).read()
    next(a for a in obj["spec"]["tools"]["actions"] if a["name"] == "scale")["maxReplicas"] = 4
    obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
    bot.live.on_object(obj)
    assert bot.live.current.spec.tools.action("scale").max_replicas == 4
    await slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION)
    [failed] = await slack.wait_for(lambda: bot.events("ActionFailed"))
    assert "spec.tools no longer allows it: propose_scale: 5 replicas is outside what this bot may set" in (
        failed["message"])
    assert bot.cluster.replicas() == 3


async def test_the_whole_way_the_model_proposes_a_non_admin_cannot_approve_an_admin_can(
        cluster, start_bot, fake_slack, fake_openai):
    """The real bot from its SlackBot in the cluster: a mention, the model's tool call, the proposal with buttons,
    two clicks, the Deployment scaled, and the audit trail as `kubectl get events` shows it."""
    fake_slack.add_user(ADMIN, "Ada")
    fake_openai.script(ToolCalls([ToolCall("propose_scale", {"namespace": "payments", "deployment": "checkout",
                                                             "replicas": 5})]),
                       "I proposed scaling checkout to 5 replicas; an admin has to approve it.")
    settings = bot_settings(fake_slack, fake_openai, None, name="oncall", namespace="default")
    async with RunningBot(settings):
        await fake_slack.wait_for(lambda: fake_slack.connected)
        message, _ = await fake_slack.mention("C1", ALICE, "scale checkout to 5, it is overloaded")
        replies = await fake_slack.wait_for_replies("C1", message["ts"], count=2)
        [proposal] = [m for m in replies if buttons(m)]
        assert KUBECTL in proposal["blocks"][0]["text"]["text"]
        assert "an admin has to approve it" in "".join(m["text"] for m in replies if m is not proposal)
        assert "Nothing has run" in fake_openai.chat_requests[-1].tool_results[0]["content"]
        assert cluster.replicas() == 3

        await fake_slack.click("C1", proposal["ts"], BOB, APPROVE_ACTION)
        [told] = await fake_slack.wait_for(lambda: fake_slack.ephemerals(BOB))
        assert told["text"].startswith("Only this bot's admins can approve or deny this (Ada). Nothing ran")
        assert cluster.replicas() == 3

        await fake_slack.click("C1", proposal["ts"], ADMIN, APPROVE_ACTION)
        await fake_slack.wait_for(lambda: cluster.replicas() == 5)
        reasons = await fake_slack.wait_for(lambda: (lambda found: found if "ActionSucceeded" in found else None)(
            [e["reason"] for e in cluster.api.find_all("v1/events", "default")
             if e["involvedObject"].get("kind") == "SlackBot"]))
    assert [r for r in reasons if r.startswith("Action")] == ["ActionProposed", "ActionApproved", "ActionSucceeded"]
