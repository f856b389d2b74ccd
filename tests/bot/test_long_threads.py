"""Long threads: the bot summarizes what does not fit, says so, and reuses its summaries on the next mention."""

import re

from h1bot_bot.adapters.tokenizers import counter_for
from h1bot_bot.core.prompts import SUMMARY_HEADER
from tests.fakes.openai import default_responder

SPEC = {"model": {"name": "gpt-4o-mini", "contextTokens": 4096, "maxOutputTokens": 256},
        "summarization": {"thresholdTokens": 1200, "chunkTokens": 400}}
SUMMARIZER_PROMPT = "You condense part of a Slack thread"


def summarizing_llm(body: dict) -> str:
    """A model that summarizes briefly: it names the first speaker and the numbers it saw."""
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    if system.startswith(("You condense", "You merge", "You write a summary")):
        numbers = sorted(set(re.findall(r"#(\d+)", user)), key=int)
        return f"Discussion of items {', '.join(numbers[:6])}."
    return default_responder(body)


def summarize_requests(fake_openai) -> list:
    return [r for r in fake_openai.chat_requests if r.messages[0]["content"].startswith(("You condense", "You merge"))]


def answer_requests(fake_openai) -> list:
    return [r for r in fake_openai.chat_requests if r not in summarize_requests(fake_openai)]


def long_thread(fake_slack, messages: int = 40):
    root = fake_slack.say("C1", "UALICE", "#0 OLDEST: the incident started at 09:12 " + "alpha beta " * 20)
    for i in range(1, messages):
        fake_slack.say("C1", "UBOB" if i % 2 else "UALICE", f"#{i} update " + "delta epsilon zeta " * 12,
                       thread_ts=root["ts"])
    return root


async def test_a_thread_longer_than_the_threshold_is_summarized_and_the_reply_says_so(start_bot, fake_slack,
                                                                                       fake_openai):
    fake_openai.responder = summarizing_llm
    async with start_bot(SPEC):
        root = long_thread(fake_slack)
        await fake_slack.mention("C1", "UALICE", "what did we decide?", thread_ts=root["ts"])
        [done] = await fake_slack.wait_for_texts("C1", root["ts"])
    assert done.startswith("Answer to: Alice (UALICE): what did we decide?") and "summarized to fit" in done
    assert summarize_requests(fake_openai), "the older messages went through the model to be summarized"
    [answer] = answer_requests(fake_openai)
    seen = answer.messages
    assert seen[0] == {"role": "system", "content": "You are the platform team's helpdesk bot."}
    assert seen[1]["content"].startswith(SUMMARY_HEADER) and "Discussion of items" in seen[1]["content"]
    assert seen[-1]["content"] == "Alice (UALICE): what did we decide?"  # the question itself: verbatim
    assert not any("OLDEST" in m["content"] for m in seen)  # the oldest message reached the model only summarized
    history_tokens = counter_for("gpt-4o-mini").count_messages(seen[1:])
    assert history_tokens <= 1200


async def test_a_second_mention_after_one_new_message_reuses_the_summaries(start_bot, fake_slack, fake_openai):
    fake_openai.responder = summarizing_llm
    async with start_bot(SPEC):
        root = long_thread(fake_slack, messages=60)
        await fake_slack.mention("C1", "UALICE", "status?", thread_ts=root["ts"])
        await fake_slack.wait_for_replies("C1", root["ts"])
        assert len(answer_requests(fake_openai)) == 1
        first_cost = len(summarize_requests(fake_openai))
        fake_slack.say("C1", "UBOB", "#99 rolled back the deploy " + "theta " * 30, thread_ts=root["ts"])
        await fake_slack.mention("C1", "UALICE", "and now?", thread_ts=root["ts"])
        await fake_slack.wait_for_replies("C1", root["ts"], count=2)
    second_cost = len(summarize_requests(fake_openai)) - first_cost
    assert first_cost >= 4
    assert second_cost <= 2, f"the second mention re-summarized {second_cost} chunks"
    assert answer_requests(fake_openai)[1].messages[-1]["content"] == "Alice (UALICE): and now?"


async def test_a_short_thread_is_sent_as_is_without_a_note(start_bot, fake_slack, fake_openai):
    async with start_bot(SPEC):
        root = fake_slack.say("C1", "UALICE", "the deploy failed")
        await fake_slack.mention("C1", "UBOB", "why?", thread_ts=root["ts"])
        [reply] = await fake_slack.wait_for_replies("C1", root["ts"])
    assert "summarized" not in reply["text"]
    assert summarize_requests(fake_openai) == []
    assert [m["content"] for m in fake_openai.chat_requests[0].messages[1:]] == [
        "Alice (UALICE): the deploy failed", "Bob (UBOB): why?"]


async def test_a_failing_summary_call_ends_in_a_clear_message_in_the_thread(start_bot, fake_slack, fake_openai):
    from tests.fakes.openai import server_error

    fake_openai.script(*[server_error(503)] * 30)  # every concurrent summary call fails all its attempts
    async with start_bot(SPEC, llm_attempts=3):
        root = long_thread(fake_slack)
        await fake_slack.mention("C1", "UALICE", "summary please", thread_ts=root["ts"])
        [done] = await fake_slack.wait_for_texts("C1", root["ts"])
    assert ":warning:" in done and "The model endpoint failed (HTTP 503)" in done


async def test_a_summary_cut_by_the_answer_deadline_is_not_cached_and_the_reply_says_why(start_bot, fake_slack,
                                                                                         fake_openai):
    from tests.fakes.openai import Reply

    def dripping_summaries(body: dict):
        if body["messages"][0]["content"].startswith(("You condense", "You merge", "You write a summary")):
            return Reply("Discussion of items " * 50, chunk_chars=4, chunk_delay=0.1)
        return default_responder(body)

    fake_openai.responder = dripping_summaries
    async with start_bot(SPEC, answer_deadline=0.5):
        root = long_thread(fake_slack)
        await fake_slack.mention("C1", "UALICE", "what did we decide?", thread_ts=root["ts"])
        [reply] = await fake_slack.wait_for_texts("C1", root["ts"])
        assert "Summarizing this thread took longer than the bot's answer deadline (0.5 seconds" in reply
        assert not answer_requests(fake_openai)  # no answer from a cut summary
        fake_openai.responder = summarizing_llm
        await fake_slack.mention("C1", "UALICE", "and now?", thread_ts=root["ts"])
        await fake_slack.wait_for_texts("C1", root["ts"], count=2)
    seen = " ".join(m["content"] for m in answer_requests(fake_openai)[-1].messages)
    assert "Discussion of items 0" in seen and "Discussion of items Discussion" not in seen


async def test_the_answer_deadline_covers_the_summaries_and_the_answer_together(start_bot, fake_slack, fake_openai):
    """Each model call under the deadline, but summarizing then answering is not: the reply still ends in time and
    says so (the deadline is for the whole answer, not per request)."""
    from tests.fakes.openai import Reply

    def slow_calls(body: dict):
        if body["messages"][0]["content"].startswith(("You condense", "You merge", "You write a summary")):
            return Reply("Discussion of items 1.", first_token_delay=1.2)
        return Reply("The answer.", first_token_delay=1.2)

    fake_openai.responder = slow_calls
    async with start_bot(SPEC, answer_deadline=2.0):
        root = long_thread(fake_slack)
        await fake_slack.mention("C1", "UALICE", "what did we decide?", thread_ts=root["ts"])
        [reply] = await fake_slack.wait_for_texts("C1", root["ts"])
    assert "answer deadline" in reply, reply


async def test_an_idle_bot_holds_no_tokenizer_and_a_thread_that_fits_by_its_bytes_never_loads_one(
        start_bot, fake_slack, fake_openai):
    """The encoding is ~45 MB resident: loaded at start only to check it (and count the prompts), then released."""
    async with start_bot(SPEC) as bot:
        tokenizers = bot.tokenizers
        assert tokenizers.loads == 1 and tokenizers.resident == [], "checked at start, then released"
        root = fake_slack.say("C1", "UALICE", "the deploy failed")
        await fake_slack.mention("C1", "UBOB", "why?", thread_ts=root["ts"])
        [reply] = await fake_slack.wait_for_replies("C1", root["ts"])
        assert reply["text"].startswith("Answer to") and "summarized" not in reply["text"]
        assert tokenizers.loads == 1 and tokenizers.resident == [], "a short thread needs no tokenizer"

        fake_openai.responder = summarizing_llm
        long_root = long_thread(fake_slack)
        await fake_slack.mention("C1", "UALICE", "what did we decide?", thread_ts=long_root["ts"])
        [done] = await fake_slack.wait_for_texts("C1", long_root["ts"])
        assert "summarized to fit" in done
        assert tokenizers.loads == 2 and tokenizers.resident == ["o200k_base"], "a long thread is counted exactly"
