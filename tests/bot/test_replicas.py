"""Exactly one reply, whatever the topology: two real bot processes (two pods of one bot) against one fake Slack.

Slack sends an event to one of the app's connections, and may send it again (a retry, or the DM's `message.im`
twin of an `app_mention`) to another. Each scenario ends with the thread a user sees holding one answer, the model
asked once, and the other replica having seen the event and stood back (its claim lost): a final state.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from h1bot_bot.core.events import Claim, claim_result
from tests.bot.conftest import manifest
from tests.fakes.bot_process import BotProcess
from tests.fakes.openai import FakeOpenAI, Reply
from tests.fakes.slack import FakeSlack

LOST = 'h1bot_reply_claims_total{outcome="lost"}'
WON = 'h1bot_reply_claims_total{outcome="won"}'


@contextlib.asynccontextmanager
async def replicas(slack: FakeSlack, llm: FakeOpenAI, tmp_path: Path, count: int = 2,
                   **env: str) -> AsyncIterator[list[BotProcess]]:
    bots = [BotProcess(slack, llm, manifest(), tmp_path / f"pod-{i}", **env) for i in range(count)]
    try:
        for bot in bots:  # one after the other: each start learns its own connection
            await bot.start()
        yield bots
    finally:
        await asyncio.gather(*(bot.stop() for bot in bots))


def answers(slack: FakeSlack, channel: str, ts: str) -> list[str]:
    return [m["text"] for m in slack.bot_replies(channel, ts)]


async def wait_claims(bots: list[BotProcess], won: int, lost: int, timeout: float = 10) -> None:  # noqa: ASYNC109
    """Until the replicas together claimed `won` messages and stood back from `lost` deliveries."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        counts = [(await bot.metric(WON), await bot.metric(LOST)) for bot in bots]
        if (sum(w for w, _ in counts), sum(n for _, n in counts)) == (won, lost):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"claims (won, lost) per replica: {counts}, expected totals {(won, lost)}")
        await asyncio.sleep(0.05)


def channel_mention(slack: FakeSlack, channel: str, user: str, text: str) -> tuple[dict, dict]:
    message = slack.say(channel, user, f"<@{slack.bot_user_id}> {text}")
    return message, {**message, "type": "app_mention", "channel": channel, "event_ts": message["ts"]}


async def test_the_same_event_on_both_connections_is_answered_once(fake_slack, fake_openai, tmp_path):
    async with replicas(fake_slack, fake_openai, tmp_path) as bots:
        fake_openai.script(Reply("kopf runs handlers for Kubernetes events", first_token_delay=0.2))
        question, event = channel_mention(fake_slack, "C1", "UALICE", "what does kopf do?")
        envelopes = await fake_slack.deliver_to_all(event, event_id="Ev0001")
        assert {fake_slack.envelopes[e].connection for e in envelopes} == {b.connection for b in bots}
        await wait_claims(bots, won=1, lost=1)
        await fake_slack.wait_for(lambda: answers(fake_slack, "C1", question["ts"])
                                  == ["kopf runs handlers for Kubernetes events"])
        assert all(fake_slack.envelopes[e].acked_at for e in envelopes)
    assert len(fake_openai.chat_requests) == 1
    assert fake_slack.reactions("C1", question["ts"]) == {"eyes": [fake_slack.bot_user_id]}


async def test_a_retry_on_the_other_connection_is_not_answered_again(fake_slack, fake_openai, tmp_path):
    async with replicas(fake_slack, fake_openai, tmp_path) as (first, second):
        question, event = channel_mention(fake_slack, "C1", "UBOB", "how do I roll back?")
        envelope = await fake_slack.send_event(event, event_id="Ev0002", to=first.connection)
        await fake_slack.wait_for(lambda: answers(fake_slack, "C1", question["ts"]))
        retry = await fake_slack.redeliver(envelope)  # Slack thought the ack was late: the retry goes elsewhere
        assert fake_slack.envelopes[retry].connection == second.connection
        assert fake_slack.envelopes[retry].payload["retry_attempt"] == 1
        await wait_claims([first, second], won=1, lost=1)
        await fake_slack.wait_for(lambda: answers(fake_slack, "C1", question["ts"])
                                  == ["Answer to: Bob (UBOB): how do I roll back?"])
    assert len(fake_openai.chat_requests) == 1


async def test_a_dm_mention_arriving_as_message_and_app_mention_on_two_connections_is_answered_once(
        fake_slack, fake_openai, tmp_path):
    async with replicas(fake_slack, fake_openai, tmp_path) as (first, second):
        message = fake_slack.say("D1", "UALICE", f"<@{fake_slack.bot_user_id}> which model are you?")
        base = {**message, "channel": "D1", "channel_type": "im", "event_ts": message["ts"]}
        await asyncio.gather(fake_slack.send_event(base, event_id="Ev0003", to=first.connection),
                             fake_slack.send_event({**base, "type": "app_mention"}, event_id="Ev0004",
                                                   to=second.connection))
        await wait_claims([first, second], won=1, lost=1)
        await fake_slack.wait_for(lambda: answers(fake_slack, "D1", message["ts"])
                                  == ["Answer to: Alice (UALICE): which model are you?"])
    assert len(fake_openai.chat_requests) == 1


async def test_a_rollout_answers_every_mention_once(fake_slack, fake_openai, tmp_path):
    """maxSurge 1: the new pod connects while the old one still answers; then the old one is sent SIGTERM.
    Envelopes the old pod had not read when it closed its connection are retried by Slack on the new one."""
    fake_slack.delivery = "round_robin"
    fake_slack.ack_timeout = 1.0
    old = await BotProcess(fake_slack, fake_openai, manifest(), tmp_path / "old").start()
    new = BotProcess(fake_slack, fake_openai, manifest(), tmp_path / "new")
    try:
        fake_openai.responder = lambda request: Reply("answered: " + request["messages"][-1]["content"][-12:],
                                                      chunk_delay=0.02)
        asked: list[str] = []

        async def ask(i: int, everywhere: bool) -> None:
            question, event = channel_mention(fake_slack, f"C{i}", "UALICE", f"question {i:03d}")
            asked.append(question["ts"])
            if everywhere:  # the same event on every connection open now
                await fake_slack.deliver_to_all(event)
            else:
                await fake_slack.send_event(event)

        await ask(0, True)
        await new.start()  # the surge pod is up: two connections
        for i in range(1, 7):
            await ask(i, everywhere=i % 2 == 0)
        terminating = asyncio.ensure_future(old.terminate())  # the old pod drains and exits
        await fake_slack.wait_for(lambda: len(fake_slack.connections) == 1)
        for i in range(7, 10):
            await ask(i, everywhere=True)
        assert await terminating == 0
        await fake_slack.wait_for(lambda: all(len(answers(fake_slack, f"C{i}", ts)) == 1
                                              and answers(fake_slack, f"C{i}", ts)[0].startswith("answered: ")
                                              for i, ts in enumerate(asked)), timeout=15)
        # The old pod exited after draining; the new one decided on every mention it was sent (a retry of one it
        # already had is dropped by its own dedupe, before the claim).
        sent_to_new = len({e.payload["payload"]["event_id"] for e in fake_slack.envelopes.values()
                           if e.connection == new.connection
                           and e.payload["payload"]["event"]["type"] == "app_mention"})
        assert await new.wait_metric("h1bot_reply_claims_total", sent_to_new) == sent_to_new
        assert len(fake_openai.chat_requests) == len(asked) == 10
        assert all(fake_slack.reactions(f"C{i}", ts) == {"eyes": ["UBOT"]} for i, ts in enumerate(asked))
    finally:
        await asyncio.gather(old.stop(), new.stop())


async def test_a_frozen_replica_is_replaced_by_slacks_retry_and_stands_back_when_it_wakes(
        fake_slack, fake_openai, tmp_path):
    """A node that stops answering keeps its connection open: the envelope sent there is not acked, Slack retries
    it on the other connection, which answers; when the frozen pod wakes up it finds the message claimed."""
    fake_slack.ack_timeout = 0.5
    async with replicas(fake_slack, fake_openai, tmp_path) as (frozen, alive):
        frozen.freeze()
        question, event = channel_mention(fake_slack, "C1", "UALICE", "are you there?")
        first = await fake_slack.send_event(event, event_id="Ev0005", to=frozen.connection)
        await fake_slack.wait_for(lambda: answers(fake_slack, "C1", question["ts"]), timeout=10)
        assert fake_slack.envelopes[first].acked_at is None
        frozen.thaw()
        await wait_claims([frozen, alive], won=1, lost=1)
        await fake_slack.wait_for(lambda: answers(fake_slack, "C1", question["ts"])
                                  == ["Answer to: Alice (UALICE): are you there?"])
    assert len(fake_openai.chat_requests) == 1


async def test_without_the_reactions_scope_the_bot_still_answers_and_says_what_to_fix(running_bot, fake_slack,
                                                                                      caplog):
    """An app installed before `reactions:write` was added: one replica keeps answering as before."""
    fake_slack.fail("reactions.add", "missing_scope")
    for text in ("still there?", "and now?"):
        question, _ = await fake_slack.mention("C1", "UALICE", text)
        await fake_slack.wait_for(lambda q=question, t=text: answers(fake_slack, "C1", q["ts"])
                                  == [f"Answer to: Alice (UALICE): {t}"])
    assert len(fake_slack.calls_to("reactions.add")) == 1  # not tried again for every mention
    assert "add the reactions:write scope to the Slack app and reinstall it" in caplog.text


async def test_a_claim_whose_answer_is_lost_is_not_retried_and_the_mention_is_answered(running_bot, fake_slack):
    """Slack added the reaction but the connection dropped before its answer: a retry would come back
    already_reacted and nobody would answer; the bot answers instead (unclaimed)."""
    fake_slack.hang_up("reactions.add")
    question, _ = await fake_slack.mention("C1", "UALICE", "did you get that?")
    await fake_slack.wait_for(lambda: answers(fake_slack, "C1", question["ts"])
                              == ["Answer to: Alice (UALICE): did you get that?"])
    assert len(fake_slack.calls_to("reactions.add")) == 1
    assert fake_slack.reactions("C1", question["ts"]) == {"eyes": ["UBOT"]}
    assert running_bot.metrics.registry.get_sample_value("h1bot_reply_claims_total", {"outcome": "unclaimed"}) == 1


def test_what_slacks_answer_to_the_claim_means():
    assert claim_result(None) == Claim("won") and claim_result(None).answer
    assert claim_result("already_reacted") == Claim("lost", "already_reacted")
    assert not claim_result("already_reacted").answer
    for error in ("missing_scope", "ratelimited", "message_not_found", "internal_error"):
        assert claim_result(error).outcome == "unclaimed" and claim_result(error).answer
