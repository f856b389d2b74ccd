"""Scenarios: what the SlackBot spec decides — channels, personas, models, endpoints, history budget."""

from h1bot_api.spec import DEFAULT_SYSTEM_PROMPT
from tests.fakes.openai import FakeOpenAI


async def test_denied_channel_gets_a_polite_refusal_and_no_model_call(start_bot, fake_slack, fake_openai):
    async with start_bot({"access": {"channels": {"deny": ["CSECRET"]}}}):
        question, _ = await fake_slack.mention("CSECRET", "UALICE", "what is the root password?")
        replies = await fake_slack.wait_for_replies("CSECRET", question["ts"])
        assert "not set up to answer in this channel" in replies[0]["text"]
        # The same person still gets answers where the bot is allowed.
        other, _ = await fake_slack.mention("CGENERAL", "UALICE", "hello")
        [answer] = await fake_slack.wait_for_texts("CGENERAL", other["ts"])
        assert answer.startswith("Answer")
    assert len(fake_openai.chat_requests) == 1


async def test_allow_list_limits_channels_but_not_direct_messages(start_bot, fake_slack, fake_openai):
    async with start_bot({"access": {"channels": {"allow": ["CHELP"]}}}):
        outside, _ = await fake_slack.mention("CRANDOM", "UBOB", "hi")
        inside, _ = await fake_slack.mention("CHELP", "UBOB", "hi")
        direct, _ = await fake_slack.dm("D9", "UBOB", "hi in private")
        [refused] = await fake_slack.wait_for_texts("CRANDOM", outside["ts"])
        [answered] = await fake_slack.wait_for_texts("CHELP", inside["ts"])
        [answered_directly] = await fake_slack.wait_for_texts("D9", direct["ts"])
    assert "not set up to answer" in refused
    assert answered == "Answer to: Bob (UBOB): hi"
    assert answered_directly == "Answer to: Bob (UBOB): hi in private"


async def test_channel_persona_and_model_override_the_defaults(start_bot, fake_slack, fake_openai):
    persona = {"systemPrompt": "Default persona.",
               "channels": [{"id": "CONCALL", "systemPrompt": "You are the on-call assistant.", "model": "gpt-4o"}]}
    async with start_bot({"persona": persona}):
        await fake_slack.mention("CONCALL", "UALICE", "pager is firing")
        await fake_slack.wait_for(lambda: len(fake_openai.chat_requests) == 1)
        await fake_slack.mention("CDEV", "UALICE", "pager is firing")
        await fake_slack.wait_for(lambda: len(fake_openai.chat_requests) == 2)
    first, second = (r.body for r in fake_openai.chat_requests)
    assert (first["model"], first["messages"][0]["content"]) == ("gpt-4o", "You are the on-call assistant.")
    assert (second["model"], second["messages"][0]["content"]) == ("gpt-4o-mini", "Default persona.")


async def test_default_persona_when_the_spec_sets_none(start_bot, fake_slack, fake_openai):
    async with start_bot({"persona": {}}):
        await fake_slack.mention("C1", "UALICE", "hi")
        await fake_slack.wait_for(lambda: fake_openai.chat_requests)
    assert fake_openai.chat_requests[0].messages[0] == {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}


async def test_reasoning_models_get_max_completion_tokens_and_no_temperature(start_bot, fake_slack, fake_openai):
    async with start_bot({"model": {"name": "gpt-5-mini", "maxOutputTokens": 700, "temperature": 0.2}}):
        await fake_slack.mention("C1", "UALICE", "think hard")
        await fake_slack.wait_for(lambda: fake_openai.chat_requests)
    body = fake_openai.chat_requests[0].body
    assert body["max_completion_tokens"] == 700
    assert "max_tokens" not in body and "temperature" not in body


async def test_chat_models_get_max_tokens_and_temperature(running_bot, fake_slack, fake_openai):
    await fake_slack.mention("C1", "UALICE", "quick one")
    await fake_slack.wait_for(lambda: fake_openai.chat_requests)
    body = fake_openai.chat_requests[0].body
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("gpt-4o-mini", 512, 0.3)
    assert "max_completion_tokens" not in body and body["stream"] is True


async def test_spec_base_url_wins_and_organization_is_sent(start_bot, fake_slack, fake_openai):
    async with FakeOpenAI(models=("llama-3-8b",)) as local_model:
        spec = {"model": {"name": "llama-3-8b", "contextTokens": 8192, "baseURL": local_model.base_url}}
        async with start_bot(spec, openai_org_id="org-platform"):
            question, _ = await fake_slack.mention("C1", "UALICE", "hi local model")
            [answer] = await fake_slack.wait_for_texts("C1", question["ts"])
            assert answer.startswith("Answer")
        assert fake_openai.chat_requests == []
        request = local_model.chat_requests[0]
        assert request.body["model"] == "llama-3-8b"
        assert request.headers.get("OpenAI-Organization") == "org-platform"
