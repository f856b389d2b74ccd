"""Scenarios with H1BOT_SLACK_STREAMING=native: answers stream with chat.startStream → chat.appendStream →
chat.stopStream in standard Markdown, and fall back to placeholder + chat.update where Slack will not stream."""

import logging

import pytest

from h1bot_bot.config import SettingsError, load_settings
from tests.fakes.openai import Reply
from tests.fakes.slack_streaming import MAX_MARKDOWN, streamed_text

MARKDOWN = ("## Fix\n**Restart** the pod, see [runbook](https://runbooks.example/pods).\n"
            "```bash\nkubectl delete pod web-0\n```\n" + "Then watch it come back with `kubectl get pods -w`. " * 12)


async def test_a_mention_streams_its_answer_natively_in_standard_markdown(start_bot, fake_slack, fake_openai):
    async with start_bot(slack_streaming="native"):
        fake_openai.script(Reply(MARKDOWN, chunk_chars=5, chunk_delay=0.001))
        question, _ = await fake_slack.mention("C1", "UALICE", "how to fix?")
        replies = await fake_slack.wait_for_replies("C1", question["ts"])

    # As the model wrote it (Slack renders the Markdown), the link showing its host.
    shown = MARKDOWN.replace("[runbook]", "[runbook (runbooks.example)]")
    assert [m["text"] for m in replies] == [shown]
    [start] = fake_slack.calls_to("chat.startStream")
    assert start.params["thread_ts"] == question["ts"]
    assert (start.params["recipient_user_id"], start.params["recipient_team_id"]) == ("UALICE", fake_slack.team_id)
    calls = fake_slack.stream_calls("C1", replies[0]["ts"])
    appends = [c for c in calls if c.method == "chat.appendStream"]
    assert appends and calls[-1].method == "chat.stopStream"
    assert len(appends) < len(MARKDOWN) / 5 / 4  # pieces are batched, not one call per piece
    assert all(c.params["chunks"][0]["type"] == "markdown_text" for c in appends)
    assert streamed_text(start.params) + "".join(streamed_text(c.params) for c in calls) == shown
    assert not fake_slack.calls_to("chat.update") and not fake_slack.calls_to("chat.postMessage")


async def test_a_direct_message_streams_without_recipients(start_bot, fake_slack, fake_openai):
    async with start_bot(slack_streaming="native"):
        fake_openai.script("Use `kubectl rollout restart deploy/web`.")
        question, _ = await fake_slack.dm("D1", "UBOB", "how do I restart a deployment?")
        replies = await fake_slack.wait_for_replies("D1", question["ts"])
    assert [m["text"] for m in replies] == ["Use `kubectl rollout restart deploy/web`."]
    [start] = fake_slack.calls_to("chat.startStream")
    assert "recipient_user_id" not in start.params and "recipient_team_id" not in start.params


async def test_an_answer_longer_than_a_streamed_message_goes_on_in_new_ones(start_bot, fake_slack, fake_openai):
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum dolor sit amet " * 12 for i in range(90)]  # ~30k characters
    answer = "\n\n".join(paragraphs)
    async with start_bot(slack_streaming="native", stream_buffer_size=2048):
        fake_openai.script(Reply(answer, chunk_chars=700))
        question, _ = await fake_slack.mention("C1", "UALICE", "tell me everything")
        replies = await fake_slack.wait_for(lambda: (done := fake_slack.final_replies("C1", question["ts"]))
                                            and paragraphs[-1] in done[-1]["text"] and done)
    assert len(replies) >= 3 and all(len(m["text"]) <= MAX_MARKDOWN for m in replies)
    assert "".join(m["text"] for m in replies) == answer
    assert fake_slack.streamed_replies("C1", question["ts"]) == replies


async def test_a_code_block_cut_between_streamed_messages_is_closed_and_reopened(start_bot, fake_slack,
                                                                                 fake_openai):
    answer = "Run this:\n```\n" + "kubectl get pods -A -o wide\n" * 600 + "```\nDone."  # ~17k characters
    async with start_bot(slack_streaming="native", stream_buffer_size=2048):
        fake_openai.script(Reply(answer, chunk_chars=500))
        question, _ = await fake_slack.mention("C1", "UALICE", "what do I run?")
        replies = await fake_slack.wait_for(lambda: (done := fake_slack.final_replies("C1", question["ts"]))
                                            and done[-1]["text"].endswith("Done.") and done)
    first, second = [m["text"] for m in replies]
    assert first.endswith("\n```") and second.startswith("```\n")
    assert first.count("```") == 2 and second.count("```") == 2  # each message renders on its own
    assert first.removesuffix("\n```") + second.removeprefix("```\n") == answer


async def test_where_slack_refuses_to_stream_the_answer_comes_by_chat_update(start_bot, fake_slack, fake_openai,
                                                                             caplog):
    caplog.set_level(logging.WARNING, logger="h1bot_bot")
    fake_slack.refuse_streams = "method_not_supported_for_channel_type"
    async with start_bot(slack_streaming="native"):
        for channel in ("C1", "C1", "C2"):
            fake_openai.script(Reply("**Restart** the pod. " * 20, chunk_chars=7, chunk_delay=0.001))
            question, _ = await fake_slack.mention(channel, "UALICE", "how to fix?")
            replies = await fake_slack.wait_for_replies(channel, question["ts"])
            assert [m["text"] for m in replies] == [("*Restart* the pod. " * 20).strip()]  # mrkdwn, nothing lost
    assert len(fake_slack.calls_to("chat.startStream")) == 3  # tried for each reply
    assert fake_slack.calls_to("chat.update") and not fake_slack.streamed
    refusals = [r.getMessage() for r in caplog.records if "refused to stream" in r.getMessage()]
    assert len(refusals) == 2 and all("method_not_supported_for_channel_type" in r for r in refusals)


async def test_a_stream_that_breaks_midway_is_finished_by_chat_update(start_bot, fake_slack, fake_openai):
    answer = "A long answer, line after line.\n" * 60
    async with start_bot(slack_streaming="native", stream_buffer_size=200):
        fake_slack.fail("chat.appendStream", "message_not_in_streaming_state")
        fake_openai.script(Reply(answer, chunk_chars=50))
        question, _ = await fake_slack.mention("C1", "UALICE", "explain")
        replies = await fake_slack.wait_for_replies("C1", question["ts"])
    assert [m["text"] for m in replies] == [answer.strip()]  # the streamed message, rewritten whole
    assert replies[0]["ts"] == fake_slack.calls_to("chat.update")[-1].params["ts"]


async def test_a_model_failure_mid_stream_ends_with_the_same_warning_as_update_mode(start_bot, fake_slack,
                                                                                    fake_openai):
    text = "The first half of a long explanation. " * 4
    last_paragraphs = {}
    for mode, channel in (("update", "C1"), ("native", "C2")):
        async with start_bot(slack_streaming=mode):
            fake_openai.script(Reply(text, chunk_chars=20, fail_after_chars=60))
            question, _ = await fake_slack.mention(channel, "UALICE", "explain")
            replies = await fake_slack.wait_for_replies(channel, question["ts"])
        [reply] = [m["text"] for m in replies]
        assert reply.startswith("The first half of a long explanation.")
        last_paragraphs[mode] = reply.rsplit("\n\n", 1)[1]
    assert last_paragraphs["native"].startswith(":warning: The answer was interrupted")
    assert last_paragraphs["native"] == last_paragraphs["update"]
    assert fake_slack.streamed_replies("C2", fake_slack.calls_to("chat.startStream")[0].params["thread_ts"])


async def test_the_summarization_note_ends_a_streamed_answer(start_bot, fake_slack, fake_openai):
    huge = "log line: pod crashed with exit code 137\n" * 1000  # ~41k characters
    async with start_bot({"model": {"name": "gpt-4o-mini", "contextTokens": 4096, "maxOutputTokens": 256}},
                         slack_streaming="native"):
        question, _ = await fake_slack.mention("C1", "UALICE", huge)
        replies = await fake_slack.wait_for_replies("C1", question["ts"], timeout=20)
    [reply] = [m["text"] for m in replies]
    assert reply.startswith("Answer to: ")
    assert "too long for the model: I read a summary of its beginning" in reply.rsplit("\n\n", 1)[1]
    assert fake_slack.streamed_replies("C1", question["ts"]) == replies


@pytest.mark.parametrize(("raw", "mode"), [(None, "update"), ("", "update"), ("native", "native"),
                                           (" Native ", "native"), ("update", "update")])
def test_the_streaming_mode_comes_from_h1bot_slack_streaming(raw, mode):
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "OPENAI_API_KEY": "sk-1",
           "H1BOT_NAME": "helpdesk", "H1BOT_NAMESPACE": "team-a"}
    if raw is not None:
        env["H1BOT_SLACK_STREAMING"] = raw
    assert load_settings(env).slack_streaming == mode


def test_an_unknown_streaming_mode_is_refused_with_the_variable_named():
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "OPENAI_API_KEY": "sk-1",
           "H1BOT_NAME": "helpdesk", "H1BOT_NAMESPACE": "team-a", "H1BOT_SLACK_STREAMING": "sse"}
    with pytest.raises(SettingsError, match="H1BOT_SLACK_STREAMING must be update or native, got 'sse'"):
        load_settings(env)
