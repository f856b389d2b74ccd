"""What a mention means: a command, a malformed command (with a usage line), or a question for the model."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h1bot_api.status import RUNTIME_KEYS
from h1bot_bot.core.command_parser import (
    Debug,
    Help,
    ListModels,
    ParseError,
    ResetConfig,
    SetConfig,
    ShowConfig,
    Summarize,
    SwitchModel,
    parse_command,
    resolve_setting,
)


@pytest.mark.parametrize(("text", "command"), [
    ("help", Help()),
    ("Help!", Help()),
    (": help", Help()),  # "@bot: help" once the mention is stripped
    ("config", ShowConfig()),
    ("config show", ShowConfig()),
    ("models", ListModels()),
    ("models?", ListModels()),
    ("debug", Debug()),
    ("summarize", Summarize()),
    ("Summarise.", Summarize()),
    ("model gpt-4o-mini", SwitchModel("gpt-4o-mini")),
    ("MODEL  gpt-4o-2024-08-06", SwitchModel("gpt-4o-2024-08-06")),
    ("model `o3-mini`", SwitchModel("o3-mini")),
    ("config set temperature 0.2", SetConfig("temperature", "0.2")),
    ("config set model gpt-4o-mini", SetConfig("model", "gpt-4o-mini")),
    ("CONFIG SET Temperature=0.5", SetConfig("temperature", "0.5")),
    ("config reset", ResetConfig(None)),
    ("config reset all", ResetConfig(None)),
    ("config reset model", ResetConfig("model")),
    ("config reset chunk-size", ResetConfig("chunkTokens")),
])
def test_each_command_is_recognised(text, command):
    assert parse_command(text) == command


@pytest.mark.parametrize("sentence", [
    "what model are you?",
    "can you help me with X",
    "help me write a release note",
    "helpful tips for kubectl?",
    "config maps in kubernetes: how do they work?",
    "models are getting better every year, aren't they?",
    "model collapse: is it a real risk?",
    "debug this stack trace please: KeyError 'x'",
    "summarize the incident for the postmortem",
    "please config set temperature 0.2",
    "",
    "   ",
])
def test_a_sentence_with_a_command_word_is_a_question(sentence):
    assert parse_command(sentence) is None


@pytest.mark.parametrize(("text", "hint"), [
    ("config set", "config set <setting> <value>"),
    ("config set temperature", "`temperature` needs a value"),
    ("config set nosuchkey 1", "Unknown setting `nosuchkey`"),
    ("config reset nosuchkey", "Unknown setting `nosuchkey`"),
    ("config reset model temperature", "one setting at a time"),
    ("model", "model <name>"),
    ("model   ", "model <name>"),
])
def test_a_malformed_command_says_how_to_write_it_in_one_line(text, hint):
    result = parse_command(text)
    assert isinstance(result, ParseError)
    assert hint in result.message
    assert "\n" not in result.message


@pytest.mark.parametrize(("alias", "key"), [
    ("threshold", "thresholdTokens"), ("thresholdTokens", "thresholdTokens"), ("threshold_tokens", "thresholdTokens"),
    ("summarization.thresholdTokens", "thresholdTokens"), ("chunk", "chunkTokens"), ("chunkSize", "chunkTokens"),
    ("chunk-size", "chunkTokens"), ("persona", "systemPrompt"), ("prompt", "systemPrompt"),
    ("system-prompt", "systemPrompt"), ("max-output-tokens", "maxOutputTokens"), ("maxTokens", "maxOutputTokens"),
    ("temp", "temperature"), ("model.name", "model"), ("spec.model.temperature", "temperature"),
])
def test_settings_have_the_names_people_use(alias, key):
    assert resolve_setting(alias) == key
    assert parse_command(f"config set {alias} 1") == SetConfig(key, "1")


def test_a_system_prompt_keeps_its_spaces_and_lines_and_loses_its_quotes():
    text = 'config set persona "You are a pirate.\n\nAnswer   in rhymes."'
    assert parse_command(text) == SetConfig("systemPrompt", "You are a pirate.\n\nAnswer   in rhymes.")
    # Slack clients turn quotes into curly ones; Slack escapes &, < and > and wraps links.
    assert parse_command("config set prompt “Be brief &amp; kind.”") == SetConfig("systemPrompt", "Be brief & kind.")
    assert parse_command("config set prompt Link <https://wiki.example.com/runbooks> when useful") == SetConfig(
        "systemPrompt", "Link https://wiki.example.com/runbooks when useful")


def test_an_unknown_setting_is_quoted_back_harmlessly():
    result = parse_command("config set <!channel> 1")
    assert isinstance(result, ParseError)
    assert "<!channel>" not in result.message and "&lt;!channel&gt;" in result.message


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text())
def test_the_parser_never_raises_on_any_text(text):
    result = parse_command(text)
    assert result is None or isinstance(result, (ParseError, Help, ShowConfig, SetConfig, ResetConfig, ListModels,
                                                 SwitchModel, Debug, Summarize))
    if isinstance(result, ParseError):
        assert result.message and "\n" not in result.message


_COMMAND_WORDS = {"help", "config", "models", "model", "debug", "summarize", "summarise"}


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True).filter(lambda w: w.lower() not in _COMMAND_WORDS),
       st.text())
def test_text_not_starting_with_a_command_word_is_a_question(first_word, rest):
    assert parse_command(f"{first_word} {rest}") is None


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(RUNTIME_KEYS)),
       st.text(alphabet=st.characters(blacklist_characters="&<>\"'`“”‘’", blacklist_categories=("Cs",)),
               min_size=1).map(str.strip).filter(bool))
def test_any_value_reaches_the_setting_as_typed(key, value):
    assert parse_command(f"config set {key} {value}") == SetConfig(key, value)
