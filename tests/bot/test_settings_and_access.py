"""Scenarios: what the SlackBot spec decides — channels, personas, models, endpoints, history budget."""

import json

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


async def _answered(fake_slack, asked: list[tuple[str, dict]]) -> list[str]:
    """The first final reply to each (channel, message)."""
    return [(await fake_slack.wait_for_texts(c, m["ts"]))[0] for c, m in asked]


async def test_an_allow_list_covers_direct_messages_too_unless_the_spec_opens_them(start_bot, fake_slack):
    # Before: DMs bypassed channels.allow, so anyone could talk to (and read the config of) a bot kept to #help.
    async with start_bot({"access": {"channels": {"allow": ["CHELP"]}}}):
        outside, _ = await fake_slack.mention("CRANDOM", "UBOB", "hi")
        inside, _ = await fake_slack.mention("CHELP", "UBOB", "hi")
        direct, _ = await fake_slack.dm("D9", "UBOB", "config")
        texts = await _answered(fake_slack, [("CRANDOM", outside), ("CHELP", inside), ("D9", direct)])
    assert "not set up to answer" in texts[0]
    assert texts[1].startswith("Answer to")
    assert texts[2] == "Sorry, I don't answer direct messages. Mention me in a channel where I'm invited instead."


async def test_direct_messages_switch_allow_admins_deny(start_bot, fake_slack):
    fake_slack.add_user("UADMIN", "Ada")
    async with start_bot({"access": {"admins": ["UADMIN"], "channels": {"allow": ["CHELP"]},
                                     "directMessages": "allow"}}):
        opened, _ = await fake_slack.dm("D1", "UBOB", "hi in private")
        assert (await _answered(fake_slack, [("D1", opened)]))[0].startswith("Answer to")
    async with start_bot({"access": {"admins": ["UADMIN"], "directMessages": "admins"}}):
        admin, _ = await fake_slack.dm("D2", "UADMIN", "hi in private")
        user, _ = await fake_slack.dm("D3", "UBOB", "hi in private")
        texts = await _answered(fake_slack, [("D2", admin), ("D3", user)])
    assert texts[0].startswith("Answer to") and "direct messages from this bot's admins only" in texts[1]
    async with start_bot({"access": {"admins": ["UADMIN"], "directMessages": "deny"}}):
        admin, _ = await fake_slack.dm("D4", "UADMIN", "hi in private")
        channel, _ = await fake_slack.mention("CANY", "UBOB", "hi")
        texts = await _answered(fake_slack, [("D4", admin), ("CANY", channel)])
    assert "I don't answer direct messages" in texts[0] and texts[1].startswith("Answer to")


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


async def test_config_in_a_dm_or_another_channel_never_shows_a_persona_it_should_not(start_bot, fake_slack):
    # Before: `config` in a DM showed the full default prompt and every channel's persona (one held a PIN).
    fake_slack.add_user("UADMIN", "Ada")
    persona = {"systemPrompt": "Default helpdesk persona.",
               "channels": [{"id": "CONCALL", "systemPrompt": "On-call persona; the vault PIN is 4321."}]}
    async with start_bot({"persona": persona, "access": {"admins": ["UADMIN"], "directMessages": "allow"}}):
        asked = [("D1", (await fake_slack.dm("D1", "UBOB", "config"))[0]),
                 ("D2", (await fake_slack.dm("D2", "UADMIN", "config"))[0]),
                 ("CONCALL", (await fake_slack.mention("CONCALL", "UBOB", "config"))[0]),
                 ("CONCALL", (await fake_slack.mention("CONCALL", "UADMIN", "config"))[0]),
                 ("CONCALL", (await fake_slack.mention("CONCALL", "UBOB", "debug"))[0]),
                 ("CONCALL", (await fake_slack.mention("CONCALL", "UBOB", 'config set persona "Leak it all."'))[0]),
                 ("CONCALL", (await fake_slack.mention("CONCALL", "UADMIN", 'config set persona "New one."'))[0])]
        await _answered(fake_slack, asked)
    said = [json.dumps(fake_slack.bot_replies(c, m["ts"])) for c, m in asked]
    user_dm, admin_dm, user_channel, admin_channel, *others = said
    for shown in others:  # debug, a refused change, an admin's change: none repeats a prompt
        assert "Default helpdesk persona" not in shown and "4321" not in shown and "New one." not in shown
    assert "is now 8 characters" in others[2]
    for shown in (user_dm, user_channel):
        assert "Default helpdesk persona" not in shown and "4321" not in shown and "admins only" in shown
    assert "Default helpdesk persona" in admin_dm and "4321" not in admin_dm
    # In a channel everyone reads the thread: the admin's prompts go to the admin alone, beside it.
    assert "Default helpdesk persona" not in admin_channel and "4321" not in admin_channel
    assert "admins only" in admin_channel
    [private] = fake_slack.ephemerals("UADMIN", "CONCALL", asked[3][1]["ts"])
    shown = json.dumps(private)
    assert "Default helpdesk persona" in shown and "the vault PIN is 4321" in shown
    assert [m["user"] for m in fake_slack.ephemeral] == ["UADMIN"]  # nobody else, and not in the DM


async def test_an_admins_config_in_a_channel_keeps_prompts_out_of_the_thread(start_bot, fake_slack):
    # Before: an admin's `config` in a public channel posted the default prompt and the channel's persona into the
    # thread, for everyone reading it.
    fake_slack.add_user("UADMIN", "Ada")
    persona = {"systemPrompt": "Default helpdesk persona.",
               "channels": [{"id": "CONCALL", "systemPrompt": "On-call persona; the vault PIN is 4321."}]}
    async with start_bot({"persona": persona, "access": {"admins": ["UADMIN"], "directMessages": "allow"}}):
        channel, _ = await fake_slack.mention("CONCALL", "UADMIN", "config")
        [reply] = await fake_slack.wait_for_replies("CONCALL", channel["ts"])
        [private] = await fake_slack.wait_for(lambda: fake_slack.ephemerals("UADMIN", "CONCALL", channel["ts"]))
        direct, _ = await fake_slack.dm("D1", "UADMIN", "config")
        [in_dm] = await fake_slack.wait_for_replies("D1", direct["ts"])
    thread = json.dumps(fake_slack.thread_messages("CONCALL", channel["ts"]))
    assert "Default helpdesk persona" not in thread and "4321" not in thread
    assert "*Model*: `gpt-4o-mini`" in reply["text"] and "admins only" in reply["text"]
    private_text = json.dumps(private["blocks"]) + private["text"]
    assert "Only you see this" in private_text
    assert "Default helpdesk persona." in private_text and "the vault PIN is 4321" in private_text
    # The ephemeral is not a thread message: the next answer's history never holds it.
    assert private["message_ts"] not in {m["ts"] for m in fake_slack.messages["CONCALL"]}
    # In a DM only the admin reads it: the full view, nothing private beside it.
    assert "Default helpdesk persona" in json.dumps(in_dm) and "4321" not in json.dumps(in_dm)
    assert fake_slack.ephemerals("UADMIN", "D1") == []


async def test_config_names_admins_and_who_changed_what_without_pinging_them(start_bot, fake_slack):
    # Before: `config` wrote every admin and "set by" as <@U…>, so anyone could make the bot ping the admins.
    fake_slack.add_user("UADMIN", "Ada")
    async with start_bot({"access": {"admins": ["UADMIN", "UGONE"]}}):
        change, _ = await fake_slack.mention("C1", "UADMIN", "config set temperature 0.1")
        await fake_slack.wait_for_replies("C1", change["ts"])
        asked = [(await fake_slack.mention("C1", user, text))[0]
                 for user, text in (("UBOB", "config"), ("UADMIN", "config"), ("UBOB", "config set model o3"))]
        replies = [(await fake_slack.wait_for_replies("C1", m["ts"]))[0] for m in asked]
    for reply in replies:
        assert "<@UADMIN>" not in json.dumps(reply) and "<@UGONE>" not in json.dumps(reply)
    bob_config, admin_config, refused = (r["text"] for r in replies)
    assert "Admins: Ada, `UGONE`" in bob_config  # a name when Slack knows it, else the id, never a mention
    assert "set from Slack by Ada on" in bob_config and admin_config == bob_config
    assert "<@UBOB>" in refused and "(Ada, `UGONE`)" in refused  # the asker is addressed, the admins only named
    assert "<@U" not in json.dumps(fake_slack.ephemeral)


async def test_when_slack_refuses_the_private_prompts_the_thread_says_so_without_them(start_bot, fake_slack):
    fake_slack.add_user("UADMIN", "Ada")
    fake_slack.fail("chat.postEphemeral", "user_not_in_channel")
    async with start_bot({"persona": {"systemPrompt": "Default helpdesk persona."},
                          "access": {"admins": ["UADMIN"]}}):
        asked, _ = await fake_slack.mention("CHELP", "UADMIN", "config")
        replies = await fake_slack.wait_for_texts("CHELP", asked["ts"], count=2)
        [answer] = await fake_slack.wait_for_texts("CHELP", (await fake_slack.mention("CHELP", "UBOB", "hi"))[0]["ts"])
    assert "admins only" in replies[0] and "Default helpdesk persona" not in "".join(replies)
    assert replies[1].startswith(":warning: I could not show you the private part of this reply")
    assert "`user_not_in_channel`" in replies[1]
    assert answer.startswith("Answer to")  # the bot carries on
