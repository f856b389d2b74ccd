"""The limits a channel answers with count its system prompt (with the tokenizer injected: the core does no I/O)."""

import pytest

from h1bot_api.spec import ConfigError, PromptTooLarge, SlackBotSpec, resolve_limits
from h1bot_bot.core.effective import BotConfig
from tests.bot.conftest import BASE_SPEC


def spec(**model) -> SlackBotSpec:
    persona = {"systemPrompt": "word " * 1500, "channels": [{"id": "CSHORT", "systemPrompt": "Be brief."}]}
    return SlackBotSpec.parse({**BASE_SPEC, "persona": persona,
                               "model": {"name": "my-small-model", "contextTokens": 2048, "maxOutputTokens": 512,
                                         **model}})


def words(model: str, text: str) -> int:
    return len(text.split())


def test_a_prompt_that_leaves_no_room_for_history_is_refused_naming_the_fields_to_change():
    config = BotConfig(spec(), count_prompt=words)
    with pytest.raises(PromptTooLarge, match=r"the system prompt \(1,500 tokens\) does not fit the 2,048-token"):
        config.for_channel("CGENERAL")
    short = config.for_channel("CSHORT")  # its own short persona fits
    assert short.system_prompt_tokens == 2
    assert short.limits.history_tokens == 2048 - 512 - 2 - 64
    assert [type(p) for p in config.problems()] == [PromptTooLarge]


def test_without_a_tokenizer_nothing_is_counted_and_the_budget_is_the_old_one():
    channel = BotConfig(spec()).for_channel("CGENERAL")
    assert channel.system_prompt_tokens is None and channel.limits.history_tokens == 2048 - 512 - 64


def test_resolve_limits_tells_a_prompt_too_large_from_an_output_limit_too_large():
    model = spec().model
    with pytest.raises(PromptTooLarge):
        resolve_limits(model, spec().summarization, system_prompt_tokens=1500)
    greedy = model.model_copy(update={"max_output_tokens": 2000})
    with pytest.raises(ConfigError, match="leave no room for history") as refused:
        resolve_limits(greedy, spec().summarization, system_prompt_tokens=10)
    assert not isinstance(refused.value, PromptTooLarge)
