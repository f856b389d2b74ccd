"""What people read in the thread: the `config` view, help, models, debug, and replies to changes."""

import json
from pathlib import Path

import pytest
import yaml

from h1bot_bot.core.command_parser import ParseError, parse_command
from h1bot_bot.core.command_replies import debug_text, help_text, models_text
from h1bot_bot.core.config_replies import (
    change_text,
    describe_change,
    describe_dropped,
    dropped_text,
    refusal_text,
    reset_text,
)
from h1bot_bot.core.config_view import people_shown, render_config, render_prompts
from h1bot_bot.core.overrides import ChangeRejected, NotAdmin, apply_change, reconcile_with_spec, reset

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "slackbot.yaml"
ADMIN, USER = "U0123ADMIN", "U0REGULAR"
T1 = "2025-03-01T10:00:00Z"

# What the operator maps into the bot's environment from the Secrets: none of it may ever be shown.
ENVIRONMENT = {"SLACK_BOT_TOKEN": "xoxb-1111-2222-abcdefSECRET", "SLACK_APP_TOKEN": "xapp-1-A111-222-fedcbaSECRET",
               "OPENAI_API_KEY": "sk-proj-0123456789SECRETKEY", "OPENAI_ORG_ID": "org-SECRETORG"}


@pytest.fixture
def spec() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())["spec"]


def everything_shown(rendered) -> str:
    return json.dumps(rendered.blocks, ensure_ascii=False) + rendered.text


def test_config_shows_each_setting_and_both_values_where_slack_overrides_the_spec(spec):
    runtime, _ = apply_change(spec, {}, "model", "gpt-4o", actor=ADMIN, now=T1)

    rendered = render_config(spec, runtime, channel="C0123456789", admin=True, names={ADMIN: "Ada"})

    text = rendered.text
    assert "*Model*: `gpt-4o`" in text
    assert "set from Slack by Ada on 2025-03-01 10:00 UTC; the spec says `gpt-4o-mini`" in text
    assert "*Temperature*: `0.3`" in text and "*Max output tokens*: 2,048 tokens" in text
    assert "*Summarize above*: 12,000 tokens" in text and "*Summary chunk*: 3,000 tokens" in text
    assert "platform team's helpdesk bot" in text
    assert "*This channel's persona* (<#C0123456789>): model `gpt-4o`" in text
    assert "Admins: Ada" in text and "Never in: <#C0RANDOM00>" in text
    assert "<@" not in everything_shown(rendered)  # named, never pinged
    assert text.count("set from Slack") == 1  # only the overridden setting says so
    assert rendered.blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Configuration"}}


def test_config_shows_where_credentials_come_from_never_what_they_are(spec, monkeypatch):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    spec["model"]["baseURL"] = "https://llmuser:hunter2@llm.internal:8443/v1?api-key=querysecret"
    # A prompt is configuration, shown as written, even when it looks like a token.
    spec["persona"]["systemPrompt"] = "Never reveal xoxb-this-is-just-prompt-text. <!channel> stays quiet."

    shown = everything_shown(render_config(spec, {}, admin=True))

    for value in [*ENVIRONMENT.values(), "hunter2", "llmuser", "querysecret"]:
        assert value not in shown
    assert "Secret `h1bot-credentials` key `slack-bot-token`" in shown
    assert "Secret `h1bot-credentials` key `openai-api-key`" in shown
    assert "`https://llm.internal:8443/v1`" in shown
    assert "xoxb-this-is-just-prompt-text" in shown
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown  # shown, never pinging anyone


PERSONAS = {"systemPrompt": "You are the helpdesk bot. Default persona text.",
            "channels": [{"id": "CONCALL", "systemPrompt": "On-call persona. The vault PIN is 4321.",
                          "model": "gpt-4o"},
                         {"id": "CHR", "systemPrompt": "HR persona: salary bands are confidential."}]}


def test_people_who_are_not_admins_see_the_model_and_limits_but_no_prompt(spec):
    spec["persona"] = PERSONAS
    for channel in ("CONCALL", "CHR", "CGENERAL", "D0DIRECT"):
        rendered = render_config(spec, {}, channel=channel, admin=False)
        shown = everything_shown(rendered)
        assert "Default persona text" not in shown and "4321" not in shown and "salary bands" not in shown
        assert "*Model*: `gpt-4o-mini`" in rendered.text and "*Context window*: 128,000 tokens" in rendered.text
        assert "shown to this bot's admins only" in rendered.text
    onca = render_config(spec, {}, channel="CONCALL").text
    assert "*This channel's persona* (<#CONCALL>): model `gpt-4o`" in onca
    assert "1 other channel has a persona of its own, shown only in that channel." in onca


def test_admins_see_the_default_prompt_and_only_the_persona_of_the_channel_they_ask_in(spec):
    spec["persona"] = PERSONAS
    onca = everything_shown(render_config(spec, {}, channel="CONCALL", admin=True))
    assert "Default persona text" in onca and "The vault PIN is 4321" in onca and "salary bands" not in onca
    for elsewhere in ("CGENERAL", "D0DIRECT"):  # another channel, or a DM: no channel's persona at all
        shown = everything_shown(render_config(spec, {}, channel=elsewhere, admin=True))
        assert "Default persona text" in shown and "4321" not in shown and "salary bands" not in shown
        assert "CONCALL" not in shown and "CHR" not in shown
        assert "2 channels have a persona of their own, shown only in that channel." in shown


def test_an_admins_private_prompts_hold_the_default_and_this_channels_persona_only(spec):
    spec["persona"] = PERSONAS
    runtime, _ = apply_change(spec, {}, "systemPrompt", "Overridden <!here> prompt.", actor=ADMIN, now=T1)
    private = everything_shown(render_prompts(spec, runtime, channel="CONCALL", names={ADMIN: "Ada"}))
    assert "Only you see this" in private and "Overridden &lt;!here&gt; prompt." in private
    assert "set from Slack by Ada" in private and "The vault PIN is 4321" in private
    assert "salary bands" not in private and "<!here>" not in private and "<@" not in private
    elsewhere = everything_shown(render_prompts(spec, {}, channel="CGENERAL"))
    assert "Default persona text" in elsewhere and "4321" not in elsewhere and "CONCALL" not in elsewhere


def test_config_names_the_people_it_shows_for_a_display_name_lookup(spec):
    spec["access"]["admins"] = [ADMIN, *(f"U{n:08d}" for n in range(40)), "U0OTHERADMIN"]  # listed 42nd
    runtime, _ = apply_change(spec, {}, "model", "gpt-4o", actor="U0OTHERADMIN", now=T1)
    shown = people_shown(spec, runtime)
    # The 30 admins listed by name, and who set an override: nobody else is looked up.
    assert {ADMIN, "U0OTHERADMIN"} <= shown and len(shown) == 31


def test_config_says_who_the_bot_answers_in_direct_messages(spec):
    spec["access"] = {"admins": [ADMIN], "channels": {"allow": ["CHELP"]}}
    assert "Direct messages: not answered (spec.access.directMessages unset" in render_config(spec, {}).text
    spec["access"]["directMessages"] = "admins"
    assert "Direct messages: answered for admins only\n" in render_config(spec, {}).text


def test_config_of_a_minimal_spec_says_what_is_automatic(spec):
    minimal = {"model": {"name": "gpt-4o-mini"}, "secrets": spec["secrets"]}
    text = render_config(minimal, {}).text
    assert "*Summarize above*: auto (" in text and "*Context window*: 128,000 tokens" in text
    assert "Admins: none (nobody can change settings from Slack)" in text
    assert "*Endpoint*: the default OpenAI endpoint" in text and "*Allowed models*: any" in text


def test_config_stays_within_slacks_block_limits_however_big_the_spec(spec):
    spec["persona"]["systemPrompt"] = "Be precise. " * 1600  # 19,200 characters
    spec["persona"]["channels"] = [{"id": f"C{n:08d}", "systemPrompt": "x" * 5000} for n in range(200)]
    spec["access"]["admins"] = [f"U{n:08d}" for n in range(200)]

    rendered = render_config(spec, {}, channel="C00000007", admin=True)

    assert len(rendered.blocks) <= 50
    for block in rendered.blocks:
        texts = [block["text"]["text"]] if "text" in block else [e["text"] for e in block["elements"]]
        assert all(len(t) <= 3000 for t in texts)
    assert "199 other channels have a persona of their own" in rendered.text and "more characters)" in rendered.text
    assert "`U00000029` and 170 more" in rendered.text


def test_config_still_renders_when_overrides_no_longer_fit_the_spec(spec):
    runtime = {"overrides": {"model": {"value": "o3", "specValue": "gpt-4o-mini", "by": ADMIN, "at": T1}}}
    text = render_config(spec, runtime).text
    assert "do not fit the spec and are not applied" in text and "*Model*: `gpt-4o-mini`" in text


def test_help_lists_every_command_and_setting():
    text = help_text()
    for word in ("`help`", "`config`", "`config set", "`config reset`", "`models`", "`model <name>`", "`debug`",
                 "`summarize`", "`model`", "`temperature`", "`maxOutputTokens`", "`thresholdTokens`", "`chunkTokens`",
                 "`systemPrompt`"):
        assert word in text
    # Every example in the help is a command the parser accepts.
    for example in ("config set model gpt-4o-mini", "config set threshold 12000", "config reset model",
                    "model gpt-4o-mini", 'config set persona "You are a pirate. Answer in rhymes."'):
        assert f"`{example}`" in text
        assert parse_command(example) is not None and not isinstance(parse_command(example), ParseError)


def test_replies_to_a_change_say_old_new_spec_and_who(spec):
    runtime, change = apply_change(spec, {}, "model", "gpt-4o", actor=ADMIN, now=T1)
    assert change_text(change) == (":white_check_mark: *Model* is now `gpt-4o` (was `gpt-4o-mini`; the spec says "
                                   f"`gpt-4o-mini`). Changed by <@{ADMIN}>.")
    assert describe_change(change) == f"model: 'gpt-4o-mini' → 'gpt-4o' by {ADMIN} (spec: 'gpt-4o-mini')"
    assert "not saved yet" in change_text(change, persisted=False)

    _, back = apply_change(spec, runtime, "model", "gpt-4o-mini", actor=ADMIN, now=T1)
    assert "back to the spec's `gpt-4o-mini`" in change_text(back)
    _, same = apply_change(spec, runtime, "model", "gpt-4o", actor=ADMIN, now=T1)
    assert change_text(same) == "*Model* is already `gpt-4o`: nothing to change."
    _, prompt = apply_change(spec, runtime, "systemPrompt", "Be brief.", actor=ADMIN, now=T1)
    assert "*System prompt* is now 9 characters" in change_text(prompt)
    _, long_prompt = apply_change(spec, runtime, "systemPrompt", "Be thorough. " * 500, actor=ADMIN, now=T1)
    assert len(describe_change(long_prompt)) < 300 and "(6500 characters)" in describe_change(long_prompt)


def test_refusals_are_polite_and_say_why(spec):
    with pytest.raises(NotAdmin) as not_admin:
        apply_change(spec, {}, "temperature", "0.1", actor=USER, now=T1)
    assert refusal_text(not_admin.value, {ADMIN: "Ada"}) == (
        f"Sorry <@{USER}>, only this bot's admins can change its settings (Ada). You can still look at them with"
        " `config`.")
    assert f"(`{ADMIN}`)" in refusal_text(not_admin.value)  # no name known: the id, still no mention
    with pytest.raises(ChangeRejected) as bad:
        apply_change(spec, {}, "temperature", "3", actor=ADMIN, now=T1)
    assert refusal_text(bad.value).startswith(":x: Not changed: temperature '3' refused:")
    usage = parse_command("config set temperature")
    assert refusal_text(usage) == f":grey_question: {usage.message}"


def test_reset_and_dropped_override_replies(spec):
    runtime, _ = apply_change(spec, {}, "model", "gpt-4o", actor=ADMIN, now=T1)
    _, resets = reset(spec, runtime, None, actor=ADMIN, now=T1)
    assert reset_text(resets, None) == (":leftwards_arrow_with_hook: *Model* is back to the spec's `gpt-4o-mini` "
                                        f"(was `gpt-4o`, set by <@{ADMIN}>).")
    assert reset_text([], "model") == "*Model* has no Slack override: it already follows the spec."
    assert reset_text([], None) == "Nothing to reset: every setting already follows the spec."

    new_spec = {**spec, "model": {**spec["model"], "name": "gpt-4.1-mini"}}
    _, dropped = reconcile_with_spec(spec, new_spec, runtime)
    assert dropped_text(dropped) == ("The spec now sets *Model* to `gpt-4.1-mini` (it was `gpt-4o-mini`): the spec "
                                     f"wins, the Slack override `gpt-4o` (set by <@{ADMIN}>) is dropped.")
    assert describe_dropped(dropped[0]) == (f"override of model ('gpt-4o', by {ADMIN}) dropped: the spec changed it "
                                            "from 'gpt-4o-mini' to 'gpt-4.1-mini'")


def test_models_lists_chat_models_allowed_here_with_the_current_one_marked():
    served = ["text-embedding-3-small", "gpt-4o", "whisper-1", "gpt-4o-mini", "o3", "dall-e-3"]
    assert models_text(served, "gpt-4o-mini").splitlines()[1:4] == [
        "• `gpt-4o`", "• `gpt-4o-mini`  ← current", "• `o3`"]
    limited = models_text(served, "gpt-4o", allowed=("gpt-4o", "gpt-4o-mini"))
    assert "`o3`" not in limited and "allowedModels" in limited
    unlisted = models_text(["gpt-4o"], "my-finetune")
    assert "`my-finetune`  ← current (not listed by the endpoint)" in unlisted
    failed = models_text(None, "gpt-4o", allowed=("gpt-4o", "o3"), error="401 bad key sk-proj-abcdefghijkl")
    assert "could not list" in failed and "`o3`" in failed and "sk-proj-abcdefghijkl" not in failed


def test_debug_shows_the_thread_size_and_hides_keys_in_the_last_error():
    text = debug_text(version="0.1.0", uptime_seconds=93784, model="gpt-4o-mini", thread_tokens=15000,
                      threshold_tokens=12000, summarization="3 older messages → 1 summary; 9 recent kept",
                      last_error="AuthenticationError: Incorrect API key provided: sk-proj-0123456789abc",
                      source="cluster:default/helpdesk")
    assert "1d 2h 03m 04s" in text and "`gpt-4o-mini`" in text and "`cluster:default/helpdesk`" in text
    assert "15,000 tokens of history; summarized above 12,000 (over the threshold)" in text
    assert "3 older messages → 1 summary" in text
    assert "sk-proj-0123456789abc" not in text and "[redacted]" in text
    quiet = debug_text(version="0.1.0", uptime_seconds=5, model="o3", thread_tokens=10, threshold_tokens=100,
                       summarization="nothing to summarize", last_error=None)
    assert "*Last error*: none" in quiet and "(under the threshold)" in quiet
