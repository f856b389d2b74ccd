"""Scenarios: what the model or its endpoint says cannot ping a channel, hide a link, leak a key, or pass off a cut
answer as complete."""

import pytest

from tests.bot.test_native_streaming import finished
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
        [reply] = await fake_slack.wait_for(lambda: finished(fake_slack, "C1", question["ts"]))
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
        [reply] = await fake_slack.wait_for(lambda: finished(fake_slack, "C1", question["ts"]))
    assert reply["text"] == "<@UBOB> can you look? &lt;!channel&gt;"


async def test_an_endpoint_error_is_posted_without_its_key_or_markup(running_bot, fake_slack, fake_openai):
    fake_openai.script(Failure(400, "Invalid header 'Authorization: Bearer sk-proj-AbCdEf0123456789xyz' "
                                    "<!channel> (request id req_1)", "invalid_request", type="invalid_request_error"))
    question, _ = await fake_slack.mention("C1", "UALICE", "hello?")
    [reply] = await fake_slack.wait_for(lambda: finished(fake_slack, "C1", question["ts"]))
    assert "HTTP 400" in reply["text"] and "request id req_1" in reply["text"]
    assert "sk-proj-AbCdEf0123456789xyz" not in reply["text"] and "[redacted]" in reply["text"]
    assert triggers(reply["text"]) == []
    assert "sk-proj-AbCdEf0123456789xyz" not in (running_bot.pipeline.last_error or "")


def test_events_and_logged_errors_never_carry_a_credential():
    from h1bot_bot.adapters.kube import SlackBotResource, describe_error

    body = SlackBotResource("helpdesk", "default").event_body(
        "Warning", "ConfigInvalid", "model endpoint said: Incorrect API key provided: sk-proj-AbCdEf0123456789xyz")
    assert "sk-proj-AbCdEf0123456789xyz" not in body["message"] and "[redacted]" in body["message"]
    failure = RuntimeError("401 for https://x with Authorization: Bearer xoxb-1234567-abcdefgh")
    assert "xoxb-1234567-abcdefgh" not in describe_error(failure)
