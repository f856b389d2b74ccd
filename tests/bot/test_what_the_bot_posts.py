"""Scenarios: what the model or its endpoint says cannot ping a channel, hide a link, leak a key, or pass off a cut
answer as complete."""

import pytest

from tests.fakes.openai import Failure, Reply

SNEAKY = ("Heads up <!channel> and <!here>, also <!everyone>. Ask <!subteam^S0OPS|@oncall> or <@UBOB>. "
          "Log in at <https://evil.example/login|sso.company.com> or [sso.company.com](https://evil.example/x).")


def triggers(text: str) -> list[str]:
    return [mark for mark in ("<!channel>", "<!here>", "<!everyone>", "<!subteam^", "<@UBOB>") if mark in text]


@pytest.mark.parametrize("streaming", ["update", "native"])
async def test_the_model_cannot_ping_the_channel_or_disguise_a_link(start_bot, fake_slack, fake_openai, streaming):
    async with start_bot(slack_streaming=streaming):
        fake_openai.script(Reply(SNEAKY, chunk_chars=3))
        question, _ = await fake_slack.mention("C1", "UALICE", "anything new?")
        [reply] = await fake_slack.wait_for_replies("C1", question["ts"])
    shown = reply["text"]
    assert triggers(shown) == []
    assert "Heads up" in shown and "channel" in shown and "oncall" in shown and "UBOB" in shown
    assert "sso.company.com (evil.example)" in shown
    # No interim text either: every update and streamed piece was made safe before Slack saw it.
    sent = " ".join(str(c.params.get("text") or c.params.get("chunks") or c.params.get("markdown_text") or "")
                    for c in fake_slack.calls if c.method.startswith("chat."))
    assert triggers(sent) == []


async def test_user_mentions_notify_where_the_spec_allows_them(start_bot, fake_slack, fake_openai):
    async with start_bot({"access": {"allowUserMentions": True}}):
        fake_openai.script("<@UBOB> can you look? <!channel>")
        question, _ = await fake_slack.mention("C1", "UALICE", "who owns this?")
        [reply] = await fake_slack.wait_for_replies("C1", question["ts"])
    assert reply["text"] == "<@UBOB> can you look? &lt;!channel&gt;"


async def test_an_endpoint_error_is_posted_without_its_key_or_markup(running_bot, fake_slack, fake_openai):
    fake_openai.script(Failure(400, "Invalid header 'Authorization: Bearer sk-proj-AbCdEf0123456789xyz' "
                                    "<!channel> (request id req_1)", "invalid_request", type="invalid_request_error"))
    question, _ = await fake_slack.mention("C1", "UALICE", "hello?")
    [reply] = await fake_slack.wait_for_replies("C1", question["ts"])
    assert "HTTP 400" in reply["text"] and "request id req_1" in reply["text"]
    assert "sk-proj-AbCdEf0123456789xyz" not in reply["text"] and "[redacted]" in reply["text"]
    assert triggers(reply["text"]) == []
    assert "sk-proj-AbCdEf0123456789xyz" not in (running_bot.engine.dispatcher.last_error or "")


def test_events_and_logged_errors_never_carry_a_credential():
    from h1bot_bot.adapters.kube import SlackBotResource, describe_error

    body = SlackBotResource("helpdesk", "default").event_body(
        "Warning", "ConfigInvalid", "model endpoint said: Incorrect API key provided: sk-proj-AbCdEf0123456789xyz")
    assert "sk-proj-AbCdEf0123456789xyz" not in body["message"] and "[redacted]" in body["message"]
    failure = RuntimeError("401 for https://x with Authorization: Bearer xoxb-1234567-abcdefgh")
    assert "xoxb-1234567-abcdefgh" not in describe_error(failure)


async def test_an_answer_cut_at_the_output_limit_says_so_and_how_to_raise_it(running_bot, fake_slack, fake_openai):
    fake_openai.script(Reply("The steps are: first drain the node, then", finish_reason="length"))
    question, _ = await fake_slack.mention("C1", "UALICE", "how do I upgrade the cluster?")
    [reply] = await fake_slack.wait_for_replies("C1", question["ts"])
    assert reply["text"].startswith("The steps are: first drain the node, then\n\n")
    assert "output limit (512 tokens)" in reply["text"]
    assert "config set maxOutputTokens N" in reply["text"] and "spec.model.maxOutputTokens" in reply["text"]


async def test_an_answer_withheld_by_the_content_filter_says_so(running_bot, fake_slack, fake_openai):
    fake_openai.script(Reply("", finish_reason="content_filter"))
    question, _ = await fake_slack.mention("C1", "UALICE", "something the filter dislikes")
    [reply] = await fake_slack.wait_for_replies("C1", question["ts"])
    assert reply["text"] == "_:no_entry: The answer was withheld by the model provider's content filter._"


async def test_a_stream_that_ends_without_finish_reason_is_not_taken_as_complete(running_bot, fake_slack,
                                                                                  fake_openai):
    fake_openai.script(Reply("Half of the answer, and", ends_early=True))
    question, _ = await fake_slack.mention("C1", "UALICE", "explain it all")
    [reply] = await fake_slack.wait_for_replies("C1", question["ts"])
    assert reply["text"].startswith("Half of the answer, and\n\n:warning: ")
    assert "broke off before the end. Please ask again." in reply["text"]
    assert len(fake_openai.chat_requests) == 1  # text was shown: not retried behind the reader's back


async def test_a_stream_that_breaks_before_any_text_is_retried(running_bot, fake_slack, fake_openai):
    fake_openai.script(Reply("", ends_early=True), "The whole answer.")
    question, _ = await fake_slack.mention("C1", "UALICE", "again?")
    [reply] = await fake_slack.wait_for_replies("C1", question["ts"])
    assert reply["text"] == "The whole answer."


async def test_one_deadline_for_a_whole_answer_then_the_partial_answer_and_a_note(start_bot, fake_slack,
                                                                                  fake_openai):
    # Each piece comes well within the read timeout, so only an overall deadline can end this answer.
    async with start_bot(llm_timeout=1.0, answer_deadline=0.6):
        fake_openai.script(Reply("drip " * 200, chunk_chars=5, chunk_delay=0.1))
        question, _ = await fake_slack.mention("C1", "UALICE", "tell me slowly")
        [reply] = await fake_slack.wait_for_replies("C1", question["ts"])
    assert reply["text"].startswith("drip drip")
    assert reply["text"].count("drip") < 200
    assert reply["text"].endswith("_:hourglass: Cut off: the answer took longer than the bot's 0.6-second answer "
                                  "deadline (H1BOT_ANSWER_DEADLINE). Ask again for the rest._")


async def test_a_deadline_before_any_text_says_the_model_did_not_answer(start_bot, fake_slack, fake_openai):
    async with start_bot(answer_deadline=0.3):
        fake_openai.script(Reply("too late", first_token_delay=1.5))
        question, _ = await fake_slack.mention("C1", "UALICE", "quick one")
        [reply] = await fake_slack.wait_for_replies("C1", question["ts"])
    assert "did not answer within 0.3 seconds (the bot's answer deadline)" in reply["text"]


def test_the_answer_deadline_is_a_setting():
    from h1bot_bot.config import SettingsError, load_settings

    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "OPENAI_API_KEY": "sk-1", "H1BOT_NAME": "a",
           "H1BOT_NAMESPACE": "b"}
    assert load_settings(env).answer_deadline == 300
    assert load_settings({**env, "H1BOT_ANSWER_DEADLINE": "900"}).answer_deadline == 900
    with pytest.raises(SettingsError, match="H1BOT_ANSWER_DEADLINE"):
        load_settings({**env, "H1BOT_ANSWER_DEADLINE": "0"})
