"""Pure core: a Slack thread as the chat the model sees, which events are answered, Slack-sized mrkdwn parts."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h1bot_api.spec import AccessSpec, ChannelAccess
from h1bot_bot.core.command_parser import Help
from h1bot_bot.core.commands import CommandRouter
from h1bot_bot.core.conversation import BotIdentity, authors_to_resolve, build_chat, strip_bot_mention, unslack
from h1bot_bot.core.effective import channel_allowed
from h1bot_bot.core.events import SeenEvents, classify, thread_root
from h1bot_bot.core.formatting import split_message, to_mrkdwn

BOT = BotIdentity(user_id="UBOT", bot_id="BBOT", team_id="T1")


def words(message):  # a crude but deterministic counter for pure tests
    return 1 + len(message["content"].split())


def test_bot_mention_is_stripped_and_other_mentions_kept():
    assert strip_bot_mention("<@UBOT> hi <@U2>", "UBOT") == "hi <@U2>"
    assert strip_bot_mention("hey <@UBOT|h1bot>, what now?", "UBOT") == "hey , what now?"
    code = "<@UBOT> why does this fail?\n```\nif x:\n    run(  a,  b)\n```"
    assert strip_bot_mention(code, "UBOT") == code.removeprefix("<@UBOT> ")  # indentation kept verbatim
    assert strip_bot_mention("<@UBOT>", "UBOT") == ""


def test_slack_markup_reads_as_plain_text():
    names = {"U2": "Bob"}
    text = "ask <@U2> in <#C1|ops> or <!here>: see <https://x.io/a|the doc> &amp; <https://y.io> &lt;3"
    assert unslack(text, names) == "ask @Bob in #ops or @here: see the doc (https://x.io/a) & https://y.io <3"


def test_thread_becomes_chat_with_speakers_roles_and_files():
    thread = [
        {"ts": "1.1", "user": "U1", "text": "<@UBOT> deploy failed"},
        {"ts": "1.2", "user": "UBOT", "bot_id": "BBOT", "text": "Which cluster?"},
        {"ts": "1.3", "user": "U2", "text": "prod", "files": [{"name": "err.png", "filetype": "png"}]},
        {"ts": "1.4", "subtype": "channel_join", "user": "U3", "text": "<@U3> has joined"},
        {"ts": "1.5", "bot_id": "BCI", "subtype": "bot_message", "username": "ci", "text": "build #7 red"},
        {"ts": "1.6", "user": "U1", "text": "<@UBOT>"},
    ]
    chat = build_chat("persona", thread, BOT, {"U1": "Alice", "U2": "Bob"})
    assert chat == [
        {"role": "system", "content": "persona"},
        {"role": "user", "content": "Alice (U1): deploy failed"},
        {"role": "assistant", "content": "Which cluster?"},
        {"role": "user", "content": "Bob (U2): prod\n[attached file(s), not readable by the bot: err.png (png)]"},
        {"role": "user", "content": "ci (BCI): build #7 red"},
    ]
    assert authors_to_resolve(thread, BOT) == {"U1", "U2", "U3"}


@pytest.mark.parametrize(("event", "kind"), [
    ({"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "ts": "1"}, "mention"),
    ({"type": "message", "channel_type": "im", "user": "U1", "text": "hi", "ts": "1"}, "dm"),
    ({"type": "message", "channel_type": "im", "user": "U1", "subtype": "file_share", "ts": "1"}, "dm"),
    ({"type": "message", "channel_type": "channel", "user": "U1", "text": "hi", "ts": "1"}, None),
    ({"type": "message", "channel_type": "im", "user": "UBOT", "text": "mine", "ts": "1"}, None),
    ({"type": "message", "channel_type": "im", "bot_id": "BBOT", "text": "mine", "ts": "1"}, None),
    ({"type": "message", "subtype": "message_changed", "channel_type": "im", "ts": "1"}, None),
    ({"type": "message", "subtype": "message_deleted", "channel_type": "im", "ts": "1"}, None),
    ({"type": "app_mention", "bot_id": "BX", "user": "UX", "text": "<@UBOT>", "ts": "1"}, None),
    ({"type": "reaction_added", "user": "U1"}, None),
])
def test_which_events_are_answered(event, kind):
    assert classify(event, BOT).kind == kind


def test_other_bots_are_answered_only_when_allowed():
    event = {"type": "app_mention", "bot_id": "BX", "subtype": "bot_message", "text": "<@UBOT>", "ts": "1"}
    assert classify(event, BOT, answer_bots=True).kind == "mention"
    assert classify({**event, "bot_id": "BBOT"}, BOT, answer_bots=True).kind is None


def test_answer_goes_to_the_thread_or_starts_one():
    assert thread_root({"ts": "2.0", "thread_ts": "1.0"}) == "1.0"
    assert thread_root({"ts": "2.0"}) == "2.0"


def test_seen_events_remember_keys_and_stay_bounded():
    seen = SeenEvents(max_size=3)
    assert seen.first_time("Ev1", "C1:1")
    assert not seen.first_time("Ev1", "C1:1")
    assert not seen.first_time("Ev9", "C1:1")  # same message through another event type
    for i in range(5):
        seen.first_time(f"Ev{i + 10}")
    assert seen.first_time("Ev1")  # forgotten: only the newest 3 keys are kept


def test_channel_access_rules():
    access = AccessSpec(channels=ChannelAccess(allow=("C1",), deny=("C2", "D9")))
    assert channel_allowed(access, "C1", direct=False)
    assert not channel_allowed(access, "C3", direct=False)
    assert not channel_allowed(access, "C2", direct=False)
    assert not channel_allowed(access, "D1", direct=True)  # an allow-list covers DMs unless they are opened
    assert not channel_allowed(access, "D9", direct=True)
    assert channel_allowed(AccessSpec(), "C3", direct=False)
    assert channel_allowed(AccessSpec(), "D1", direct=True)  # no allow-list: the bot answers everywhere
    opened = AccessSpec(channels=ChannelAccess(allow=("C1", "D7"), deny=("D9",)), direct_messages="allow")
    assert channel_allowed(opened, "D1", direct=True) and not channel_allowed(opened, "D9", direct=True)
    admins_only = AccessSpec(admins=("UADMIN",), direct_messages="admins")
    assert channel_allowed(admins_only, "D1", direct=True, user="UADMIN")
    assert not channel_allowed(admins_only, "D1", direct=True, user="UBOB")
    assert not channel_allowed(AccessSpec(direct_messages="deny"), "D1", direct=True, user="UADMIN")
    assert channel_allowed(access, "D7", direct=True) is False  # D7 is not in this allow-list
    assert channel_allowed(AccessSpec(channels=ChannelAccess(allow=("D7",))), "D7", direct=True)


def test_command_router_claims_whole_commands_only():
    router = CommandRouter()

    async def help_command(request):
        return None

    router.register(Help, help_command)
    assert router.match("HELP") == Help()
    assert router.match("help me write a poem") is None  # a command word inside a sentence is a question
    assert router.match("can you help?") is None
    assert router.match("config") is None  # no handler for it: the LLM gets it
    assert CommandRouter().match("help") is None


def test_markdown_becomes_mrkdwn():
    assert to_mrkdwn("**bold** and [link](https://a.b)") == "*bold* and <https://a.b|link (a.b)>"
    assert to_mrkdwn("") == ""


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["word", "longerword", "\n", "\n\n", "```", " ", ".", "x" * 50]), max_size=400),
       st.integers(min_value=60, max_value=400))
def test_split_parts_fit_and_keep_all_text(pieces, limit):
    text = " ".join(pieces)
    parts = split_message(text, limit)
    assert all(len(p) <= limit for p in parts)
    rejoined = "".join(parts).replace("```", "")
    assert "".join(rejoined.split()) == "".join(text.replace("```", "").split())


def test_split_reopens_a_code_block_cut_in_two():
    code = "```\n" + "\n".join(f"line {i}" for i in range(100)) + "\n```"
    parts = split_message(code, 200)
    assert len(parts) > 1
    assert all(p.count("```") % 2 == 0 for p in parts)


def test_settings_come_from_env_and_name_what_is_missing():
    from h1bot_bot.config import SettingsError, load_settings, parse_args

    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "OPENAI_API_KEY": "sk-1",
           "H1BOT_NAME": "helpdesk", "H1BOT_NAMESPACE": "team-a", "H1BOT_UPDATE_INTERVAL": "0.5",
           "SLACK_API_URL": "http://127.0.0.1:1/api/"}
    settings = load_settings(env)
    assert (settings.name, settings.namespace, settings.update_interval, settings.http_port) == (
        "helpdesk", "team-a", 0.5, 8080)
    assert "xoxb-1" not in repr(settings) and "sk-1" not in repr(settings)
    from_file = load_settings({**env, "H1BOT_NAME": ""}, parse_args(["--spec", "bot.yaml", "--http-port", "0"]))
    assert (from_file.spec_path, from_file.http_port) == ("bot.yaml", 0)
    with pytest.raises(SettingsError, match="OPENAI_API_KEY"):
        load_settings({k: v for k, v in env.items() if k != "OPENAI_API_KEY"})
    with pytest.raises(SettingsError, match="--spec PATH, or set H1BOT_NAME and H1BOT_NAMESPACE"):
        load_settings({**env, "H1BOT_NAMESPACE": ""})
    with pytest.raises(SettingsError, match="H1BOT_UPDATE_INTERVAL"):
        load_settings({**env, "H1BOT_UPDATE_INTERVAL": "soon"})
