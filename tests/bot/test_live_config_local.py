"""Scenarios: the ChatOps commands as a user sees them, and a bot run from a manifest file (`h1bot-bot --spec`) that
keeps its Slack overrides in a state file next to the spec."""

import json

import pytest

from tests.bot.live_config_helpers import ADMIN, USER, add_people, ask, question

ADMINS = {"access": {"admins": [ADMIN]}}


async def test_a_command_word_inside_a_sentence_is_a_question_for_the_model(start_bot, fake_slack, fake_openai):
    add_people(fake_slack)
    async with start_bot(ADMINS):
        for sentence in ("can you help me with config maps?", "help me write a poem", "model collapse: is it real?",
                         "config maps in kubernetes: how do they work?"):
            request = await question(fake_slack, fake_openai, USER, sentence)
            assert request["messages"][-1]["content"].endswith(sentence)
        _, (help_reply,) = await ask(fake_slack, USER, "help")
        assert "*What I can do*" in help_reply and "`config set <setting> <value>`" in help_reply
        await question(fake_slack, fake_openai, ADMIN, "model gpt-4o is better, isn't it?")
    assert len(fake_openai.chat_requests) == 5


async def test_models_lists_the_endpoints_chat_models_and_marks_the_current_one(start_bot, fake_slack, fake_openai):
    async with start_bot():
        _, (listed,) = await ask(fake_slack, USER, "models")
    assert "• `gpt-4o-mini`  ← current" in listed and "• `gpt-5-mini`" in listed and "• `gpt-4o`\n" in listed
    assert "text-embedding" not in listed  # not a chat model
    assert any(r.path.endswith("/models") for r in fake_openai.requests)
    async with start_bot({"model": {"name": "gpt-4o-mini", "allowedModels": ["gpt-4o-mini", "gpt-4o"]}}):
        _, (allowed,) = await ask(fake_slack, USER, "models")
    assert "limited to spec.model.allowedModels" in allowed and "gpt-5-mini" not in allowed


async def test_a_switch_outside_the_allowed_models_is_refused(start_bot, fake_slack, fake_openai):
    add_people(fake_slack)
    spec = {**ADMINS, "model": {"name": "gpt-4o-mini", "allowedModels": ["gpt-4o-mini", "gpt-4o"]}}
    async with start_bot(spec) as bot:
        _, (refused,) = await ask(fake_slack, ADMIN, "model gpt-5-mini")
        assert "model 'gpt-5-mini' is not allowed here: spec.model.allowedModels is gpt-4o-mini, gpt-4o" in refused
        _, (switched,) = await ask(fake_slack, ADMIN, "model gpt-4o")
        assert "*Model* is now `gpt-4o`" in switched and bot.config.current.spec.model.name == "gpt-4o"


async def test_debug_tells_version_model_thread_size_and_summarization_plan(start_bot, fake_slack, fake_openai):
    async with start_bot():
        root = fake_slack.say("C1", USER, "a long discussion " * 50)
        _, (debug,) = await ask(fake_slack, USER, "debug", thread_ts=root["ts"])
    assert "*Version*: `" in debug and "*Config from*: `file:" in debug and "*Model*: `gpt-4o-mini`" in debug
    assert "*This thread*:" in debug and "tokens of history" in debug and "(under the threshold)" in debug
    assert "*Summarization*: " in debug and "no summarization" in debug and "*Last error*: none" in debug


async def test_local_runs_keep_overrides_in_a_state_file_that_survives_a_restart(start_bot, fake_slack, fake_openai,
                                                                                  tmp_path):
    add_people(fake_slack)
    state_file = tmp_path / "slackbot.yaml.state.json"
    async with start_bot(ADMINS):
        _, (reply,) = await ask(fake_slack, ADMIN, "model gpt-4o")
        assert "*Model* is now `gpt-4o`" in reply and "not saved" not in reply
        await ask(fake_slack, ADMIN, "config set temperature 1.1")
    stored = json.loads(state_file.read_text())["status"]["runtime"]
    assert stored["overrides"]["model"]["value"] == "gpt-4o" and stored["overrides"]["model"]["by"] == ADMIN
    assert stored["overrides"]["temperature"]["value"] == 1.1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # atomic writes leave nothing

    async with start_bot(ADMINS) as bot:  # a restart re-applies them
        assert (bot.config.current.spec.model.name, bot.config.current.spec.model.temperature) == ("gpt-4o", 1.1)
        request = await question(fake_slack, fake_openai, USER, "hello again")
        assert (request["model"], request["temperature"]) == ("gpt-4o", 1.1)
        _, (reset,) = await ask(fake_slack, ADMIN, "config reset")
        assert "*Model* is back to the spec's `gpt-4o-mini`" in reset
    assert json.loads(state_file.read_text())["status"]["runtime"]["overrides"] == {}


async def test_summarize_posts_a_summary_of_the_thread(start_bot, fake_slack, fake_openai):
    fake_openai.responder = lambda body: "**Summary**: they agreed on kopf."
    async with start_bot():
        root = fake_slack.say("C1", USER, "shall we use kopf?")
        fake_slack.say("C1", ADMIN, "yes, kopf it is", thread_ts=root["ts"])
        _, (summary,) = await ask(fake_slack, USER, "summarize", thread_ts=root["ts"])
    assert "*Summary*: they agreed on kopf." in summary
    assert "yes, kopf it is" in json.dumps(fake_openai.chat_requests[-1].messages)


async def test_a_surface_that_vouches_for_an_admin_changes_and_persists_the_state_file(tmp_path):
    """The terminal's `--admin`: LiveConfig.set/reset take admin=True for someone spec.access.admins does not list,
    and admin=False refuses even a listed admin; the change, stamped with the injected clock, survives a restart
    from the state file."""
    from h1bot_bot.adapters.state_file import FileStore, StateFile
    from h1bot_bot.core.overrides import NotAdmin
    from h1bot_bot.engine.live_config import LiveConfig
    from tests.bot.live_config_helpers import SPEC

    state = StateFile(tmp_path / "slackbot.state.json")
    config = LiveConfig(SPEC, None, source="file:x", store=FileStore(state), now=lambda: "2026-12-02T12:00:00Z")
    with pytest.raises(NotAdmin):
        await config.set("temperature", "0.7", actor=ADMIN, channel="local", thread_ts="1", admin=False)
    reply = await config.set("temperature", "0.7", actor="you", channel="local", thread_ts="1", admin=True)
    assert "0.7" in reply and config.current.spec.model.temperature == 0.7 and config.pending == {}
    await config.close()
    again = LiveConfig(SPEC, state.load().runtime, source="file:x", store=FileStore(state))
    assert again.current.spec.model.temperature == 0.7
    override = again.runtime["overrides"]["temperature"]
    assert (override["by"], override["at"]) == ("you", "2026-12-02T12:00:00Z")
    await again.reset(None, actor="you", channel="local", thread_ts="1", admin=True)
    assert again.current.spec.model.temperature == 0.3 and not state.load().runtime.get("overrides")
