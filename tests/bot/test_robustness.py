"""Scenarios: Slack retries, noise the bot must ignore, failing models, odd input — one clear answer each time."""

import asyncio
import logging

from tests.fakes.openai import Failure, Hang, Reply, rate_limited, server_error
from tests.fakes.waiting import eventually


def answered(slack, channel, ts, predicate=lambda text: True):
    """The texts of the bot's replies once they are final (none still being written), if they match."""
    return [m["text"] for m in slack.final_replies(channel, ts) or [] if predicate(m["text"])]


def ignored(caplog) -> set[str]:
    """The ids of the events the bot looked at and ignored (its debug log)."""
    return {getattr(r, "event_id", "") for r in caplog.records if r.getMessage().startswith("event ignored")}


async def test_slack_retries_and_duplicate_deliveries_get_one_reply(running_bot, fake_slack, fake_openai):
    fake_openai.script(Reply("slow answer", first_token_delay=0.3))
    message = fake_slack.say("C1", "UALICE", "<@UBOT> are you there?")
    event = {**message, "type": "app_mention", "channel": "C1", "event_ts": message["ts"]}
    first = await fake_slack.send_event(event, event_id="Ev001")
    retry = await fake_slack.send_event(event, event_id="Ev001", retry_attempt=1, retry_reason="timeout")
    # The same message may also come as a message event (e.g. a mention in a DM): still one answer.
    await fake_slack.send_event({**event, "type": "message", "channel_type": "im"}, event_id="Ev002")
    assert await fake_slack.wait_for_texts("C1", message["ts"]) == ["slow answer"]
    # Both re-deliveries were seen and skipped (not still on their way to a second reply).
    duplicates = running_bot.metrics.registry.get_sample_value
    await eventually(lambda: duplicates("h1bot_duplicate_events_total") == 2, message="two duplicates skipped")
    assert len(fake_slack.bot_replies("C1", message["ts"])) == 1
    assert len(fake_openai.chat_requests) == 1
    assert fake_slack.envelopes[first].acked_at and fake_slack.envelopes[retry].acked_at


async def test_own_messages_other_bots_and_edits_are_ignored_but_acked(running_bot, fake_slack, fake_openai,
                                                                       caplog):
    caplog.set_level(logging.DEBUG, logger="h1bot_bot.adapters.slack_app")
    question, _ = await fake_slack.mention("C1", "UALICE", "hello")
    await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"], lambda t: t.startswith("Answer")))
    other_bot = fake_slack.say("C1", "UOTHER", "<@UBOT> beep", bot_id="BOTHER", subtype="bot_message")
    await fake_slack.send_event({**other_bot, "type": "app_mention", "channel": "C1"}, event_id="EvOTHERBOT")
    edited = {"type": "message", "subtype": "message_changed", "channel": "C1", "ts": fake_slack.next_ts(),
              "message": {**question, "text": "<@UBOT> hello (edited)"}}
    await fake_slack.send_event(edited, event_id="EvEDITED")
    await fake_slack.send_event({"type": "message", "subtype": "message_deleted", "channel": "C1",
                                 "ts": fake_slack.next_ts(), "deleted_ts": question["ts"]}, event_id="EvDELETED")
    await fake_slack.send_event({"type": "message", "channel": "C1", "channel_type": "channel", "user": "UBOB",
                                 "text": "just chatting, no mention", "ts": fake_slack.next_ts()}, event_id="EvCHAT")
    await fake_slack.send_event({"type": "reaction_added", "user": "UBOB", "reaction": "eyes"}, event_id="EvREACT")
    # Every envelope — including the echoes of the bot's own post and updates — gets its ack.
    await fake_slack.wait_for(lambda: all(e.acked_at for e in fake_slack.envelopes.values()))
    assert len(fake_slack.envelopes) >= 8
    noise = {"EvOTHERBOT", "EvEDITED", "EvDELETED", "EvCHAT", "EvREACT"}
    await fake_slack.wait_for(lambda: noise <= ignored(caplog))  # each one looked at, and decided on
    assert len(fake_openai.chat_requests) == 1
    assert fake_slack.bot_replies("C1", other_bot["ts"]) == []


async def test_other_bots_are_answered_when_configured(start_bot, fake_slack, fake_openai):
    async with start_bot({"access": {"answerBots": True}}):
        other_bot = fake_slack.say("C1", "UOTHER", "<@UBOT> status?", bot_id="BOTHER",
                                   bot_profile={"name": "deploybot"})
        await fake_slack.send_event({**other_bot, "type": "app_mention", "channel": "C1"})
        await fake_slack.wait_for(lambda: answered(fake_slack, "C1", other_bot["ts"]))
    assert fake_openai.chat_requests[0].messages[-1]["content"] == "deploybot (UOTHER): status?"


async def test_rate_limited_model_is_retried_then_answers(running_bot, fake_slack, fake_openai):
    fake_openai.script(rate_limited(retry_after=0.01), server_error(503), "third time lucky")
    question, _ = await fake_slack.mention("C1", "UALICE", "hi")
    replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
    assert replies == ["third time lucky"]
    assert len(fake_openai.chat_requests) == 3


async def test_persistent_rate_limit_ends_in_a_clear_message(running_bot, fake_slack, fake_openai):
    fake_openai.script(*[rate_limited()] * 5)
    question, _ = await fake_slack.mention("C1", "UALICE", "hi")
    replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
    assert "rate-limiting" in replies[0] and "tried 3 times" in replies[0] and "try again" in replies[0]
    assert len(fake_openai.chat_requests) == 3  # bounded


async def test_server_errors_end_in_a_clear_message(running_bot, fake_slack, fake_openai):
    fake_openai.script(*[server_error(502)] * 3)
    question, _ = await fake_slack.mention("C1", "UALICE", "hi")
    replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
    assert "failed (HTTP 502)" in replies[0] and "try again" in replies[0]


async def test_model_timeout_ends_in_a_clear_message(start_bot, fake_slack, fake_openai):
    async with start_bot(llm_timeout=0.3, llm_attempts=2):
        fake_openai.script(Hang(1.0), Hang(1.0))
        question, _ = await fake_slack.mention("C1", "UALICE", "hi")
        replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
    assert "did not answer within 0.3 seconds" in replies[0] and "tried 2 times" in replies[0]


async def test_rejected_api_key_names_the_secret_to_fix(running_bot, fake_slack, fake_openai):
    fake_openai.api_key = "sk-rotated"
    question, _ = await fake_slack.mention("C1", "UALICE", "hi")
    replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
    assert "HTTP 401" in replies[0] and "spec.secrets.openAIAPIKey" in replies[0]
    assert len(fake_openai.chat_requests) == 1  # an auth error is not retried


async def test_unknown_model_names_the_setting_and_the_bot_keeps_serving(start_bot, fake_slack, fake_openai):
    async with start_bot({"model": {"name": "gpt-4.1-mini"}}):
        question, _ = await fake_slack.mention("C1", "UALICE", "hi")
        replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
        assert "`gpt-4.1-mini` is not available" in replies[0] and "spec.model.name" in replies[0]
        fake_openai.models.append("gpt-4.1-mini")  # the endpoint gets the model: no restart needed
        again, _ = await fake_slack.mention("C1", "UALICE", "hi again")
        assert await fake_slack.wait_for(lambda: answered(fake_slack, "C1", again["ts"],
                                                          lambda t: t.startswith("Answer")))


async def test_answer_cut_mid_stream_keeps_the_text_and_says_so(running_bot, fake_slack, fake_openai):
    fake_openai.script(Reply("The first half of a long explanation. " * 4, chunk_chars=20, fail_after_chars=60))
    question, _ = await fake_slack.mention("C1", "UALICE", "explain")
    replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"],
                                                         lambda t: "interrupted" in t))
    assert replies[0].startswith("The first half of a long explanation.")
    assert len(fake_openai.chat_requests) == 1  # text was already shown: not retried


async def test_huge_message_gets_an_answer(start_bot, fake_slack, fake_openai):
    huge = "log line: pod crashed with exit code 137\n" * 1000  # ~41k characters
    async with start_bot({"model": {"name": "gpt-4o-mini", "contextTokens": 4096, "maxOutputTokens": 256}}):
        question, _ = await fake_slack.mention("C1", "UALICE", huge)
        replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
    assert "too long for the model: I read a summary of its beginning" in replies[0]
    *summaries, answer = fake_openai.chat_requests
    assert summaries and all(r.messages[0]["content"].startswith("You condense part of a Slack thread")
                             for r in summaries)
    summary, sent = answer.messages[-2]["content"], answer.messages[-1]["content"]
    assert summary.startswith("Summary of earlier conversation")
    assert sent.startswith("Alice (UALICE): [… the beginning of this long message is summarized above]")
    assert huge.rstrip().endswith(sent.rsplit("] ", 1)[1].rstrip())  # its end, verbatim
    assert len(sent) < len(huge) / 2


async def test_empty_mention_gets_a_hint_without_calling_the_model(running_bot, fake_slack, fake_openai):
    question, _ = await fake_slack.mention("C1", "UALICE")
    replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
    assert "Mention me with a question" in replies[0]
    assert fake_openai.chat_requests == []


async def test_files_are_described_to_the_model(running_bot, fake_slack, fake_openai):
    files = [{"id": "F1", "name": "crash.log", "filetype": "text", "mimetype": "text/plain"}]
    question, _ = await fake_slack.mention("C1", "UALICE", "what's in this?", files=files)
    await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
    assert fake_openai.chat_requests[0].messages[-1]["content"] == (
        "Alice (UALICE): what's in this?\n[attached file(s), not readable by the bot: crash.log (text)]")
    only_file, _ = await fake_slack.mention("C1", "UBOB", "", files=files)
    assert await fake_slack.wait_for(lambda: answered(fake_slack, "C1", only_file["ts"],
                                                      lambda t: t.startswith("Answer")))


async def test_a_slow_thread_does_not_block_others(running_bot, fake_slack, fake_openai):
    slow_text = "slow answer"
    model_busy = asyncio.Event()  # the slow answer's first token comes only once the test says so
    fake_openai.responder = lambda body: (Reply(slow_text, gate=model_busy)
                                          if "slow" in body["messages"][-1]["content"] else "fast answer")
    slow, _ = await fake_slack.mention("C1", "UALICE", "slow question")
    await fake_slack.wait_for(lambda: fake_openai.chat_requests)  # the slow question is with the model
    fast, _ = await fake_slack.mention("C2", "UBOB", "quick question")
    assert await fake_slack.wait_for_texts("C2", fast["ts"]) == ["fast answer"]
    assert fake_slack.final_replies("C1", slow["ts"]) is None  # the slow one is still being answered
    model_busy.set()
    assert await fake_slack.wait_for_texts("C1", slow["ts"]) == [slow_text]


async def test_slack_rate_limit_on_posting_is_waited_out(running_bot, fake_slack, fake_openai):
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    question, _ = await fake_slack.mention("C1", "UALICE", "hi")
    replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
    assert replies[0].startswith("Answer to")
    posts = fake_slack.calls_to("chat.postMessage")
    assert len(posts) == 2 and posts[1].at - posts[0].at >= 0.9


async def test_unreadable_thread_is_reported_in_the_thread(running_bot, fake_slack, fake_openai):
    fake_slack.fail("conversations.replies", "ratelimited_but_not_429")
    question, _ = await fake_slack.mention("C1", "UALICE", "hi")
    replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
    assert "couldn't read or write this thread" in replies[0] and "ratelimited_but_not_429" in replies[0]


async def test_socket_mode_refresh_reconnects_and_keeps_answering(running_bot, fake_slack, fake_openai):
    await fake_slack.request_refresh()
    await fake_slack.wait_for(lambda: fake_slack.sockets_accepted == 2
                              and len(fake_slack.connections) == 1)
    assert fake_slack.connections_opened == 2
    question, _ = await fake_slack.mention("C1", "UALICE", "still there?")
    assert await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"],
                                                      lambda t: t.startswith("Answer")))


async def test_malformed_model_config_for_a_channel_is_explained(start_bot, fake_slack, fake_openai):
    persona = {"channels": [{"id": "CLAB", "model": "my-finetune"}]}
    async with start_bot({"persona": persona}):
        question, _ = await fake_slack.mention("CLAB", "UALICE", "hi")
        replies = await fake_slack.wait_for(lambda: answered(fake_slack, "CLAB", question["ts"]))
    assert "spec.model.contextTokens" in replies[0] and "spec.persona.channels[CLAB].model" in replies[0]
    assert fake_openai.chat_requests == []


async def test_answers_survive_an_unexpected_failure(running_bot, fake_slack, fake_openai):
    def broken(body):
        raise ValueError("boom")  # the fake itself fails: HTTP 500 from aiohttp, not a JSON error

    fake_openai.responder = broken
    question, _ = await fake_slack.mention("C1", "UALICE", "hi")
    replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", question["ts"]))
    assert "HTTP 500" in replies[0]
    fake_openai.script(Failure(400, "This model's maximum context length is 128000 tokens.", "context_length"))
    again, _ = await fake_slack.mention("C1", "UALICE", "hi")
    replies = await fake_slack.wait_for(lambda: answered(fake_slack, "C1", again["ts"]))
    assert "refused the request (HTTP 400)" in replies[0] and "maximum context length" in replies[0]
