"""Token counting with the real tiktoken encodings (seeded offline by tests/conftest.py)."""

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h1bot_api.spec import SAFETY_MARGIN_TOKENS, ConfigError, ModelSpec, SummarizationSpec
from h1bot_bot.adapters.tokenizers import counter_for, encoding_name_for
from h1bot_bot.core.budget import history_budget
from h1bot_bot.core.tokens import TokenCounter


@pytest.fixture(scope="module")
def gpt4o() -> TokenCounter:
    return counter_for("gpt-4o")


@pytest.mark.parametrize(("model", "encoding"), [
    ("gpt-4o", "o200k_base"),
    ("gpt-4o-mini-2024-07-18", "o200k_base"),
    ("gpt-4.1-nano", "o200k_base"),
    ("o3-mini", "o200k_base"),
    ("gpt-3.5-turbo", "cl100k_base"),
    ("llama-3-70b-self-hosted", "o200k_base"),  # unknown to tiktoken: the default
])
def test_each_model_counts_with_its_own_encoding(model, encoding):
    assert encoding_name_for(model) == encoding
    assert counter_for(model).encoding_name == encoding


def test_counts_are_openais(gpt4o):
    assert gpt4o.encode("hello world") == [24912, 2375]
    assert counter_for("gpt-3.5-turbo").encode("hello world") == [15339, 1917]
    assert gpt4o.decode([24912, 2375]) == "hello world"
    assert gpt4o.count_text("") == 0


def test_a_long_text_counts_the_same_every_time(gpt4o):
    text = "Deploy the new release to staging, then check the pods. " * 200
    first = gpt4o.count_text(text)
    assert first == len(gpt4o.encode(text)) == gpt4o.count_text(text)
    assert gpt4o.count_text(text.replace("staging", "production")) == len(
        gpt4o.encode(text.replace("staging", "production")))


def test_chat_messages_cost_their_overhead(gpt4o):
    # The cookbook's rule: 3 tokens per message, its fields, 1 more for a name, 3 to prime the reply.
    hello = {"role": "user", "content": "hello world"}  # "user" is 1 token, the content 2
    assert gpt4o.count_message(hello) == 3 + 1 + 2
    assert gpt4o.count_messages([hello]) == 3 + 1 + 2 + 3
    named = {**hello, "name": "alice"}
    assert gpt4o.count_message(named) == 3 + 1 + 2 + gpt4o.count_text("alice") + 1
    assert gpt4o.count_messages([]) == 3


def test_special_token_markers_in_user_text_are_just_text(gpt4o):
    assert gpt4o.count_text("<|endoftext|>") > 1


def test_split_prefers_paragraphs_then_sentences(gpt4o):
    paragraphs = [f"Paragraph {n}. " + "The rollout went fine and nobody was paged. " * 6 for n in range(6)]
    text = "\n\n".join(paragraphs)
    pieces = gpt4o.split_text(text, 130)
    assert "".join(pieces) == text
    assert all(gpt4o.count_text(p) <= 130 for p in pieces)
    assert all(p.endswith("\n\n") or p == pieces[-1] for p in pieces)  # cut between paragraphs
    one_paragraph = paragraphs[0] * 3
    pieces = gpt4o.split_text(one_paragraph, 40)
    assert all(p.rstrip().endswith(".") for p in pieces)  # cut after a sentence


def test_a_word_longer_than_the_limit_is_cut_by_tokens(gpt4o):
    blob = "QmFzZTY0" * 400 + "🙂中文" * 50
    pieces = gpt4o.split_text(blob, 50)
    assert "".join(pieces) == blob
    assert all(gpt4o.count_text(p) <= 50 for p in pieces)
    assert len(pieces) >= gpt4o.count_text(blob) // 50


def test_truncate_keeps_the_beginning_within_the_limit(gpt4o):
    text = "First sentence here. Second sentence follows. " * 40
    cut = gpt4o.truncate(text, 25)
    assert text.startswith(cut) and 0 < gpt4o.count_text(cut) <= 25
    assert cut.endswith(".")
    assert gpt4o.truncate("short", 25) == "short"


_TEXT = st.lists(st.sampled_from([*"ab xyz.!?\n\t-", "hello ", "the ", "🙂", "中", "é", "\n\n", "<|endoftext|>", "  ",
                                   "Kubernetes", "https://example.com/x?y=1"]), max_size=300).map("".join)


@settings(max_examples=80, deadline=None)
@given(text=_TEXT, max_tokens=st.integers(min_value=8, max_value=120))
def test_split_text_loses_nothing_and_respects_the_limit(gpt4o, text, max_tokens):
    pieces = gpt4o.split_text(text, max_tokens)
    assert "".join(pieces) == text
    assert all(p and gpt4o.count_text(p) <= max_tokens for p in pieces)


@settings(max_examples=50, deadline=None)
@given(text=_TEXT, max_tokens=st.integers(min_value=0, max_value=80))
def test_truncate_is_a_prefix_within_the_limit(gpt4o, text, max_tokens):
    cut = gpt4o.truncate(text, max_tokens)
    assert text.startswith(cut)
    assert gpt4o.count_text(cut) <= max_tokens


def test_the_history_budget_leaves_room_for_the_answer_and_the_persona(gpt4o):
    persona = "You are a helpful assistant in a Slack workspace. Answer concisely."
    budget = history_budget(ModelSpec(name="gpt-4o", context_tokens=8000, max_output_tokens=1000),
                            SummarizationSpec(), gpt4o, persona)
    system = gpt4o.count_messages([{"role": "system", "content": persona}])
    assert budget.system_prompt_tokens == system
    assert budget.history_tokens == 8000 - 1000 - system - SAFETY_MARGIN_TOKENS
    assert budget.threshold_tokens == budget.history_tokens  # no thresholdTokens: summarize only when needed
    cheaper = history_budget(ModelSpec(name="gpt-4o", context_tokens=8000, max_output_tokens=1000),
                             SummarizationSpec(threshold_tokens=3000), gpt4o, persona)
    assert cheaper.threshold_tokens == 3000 and cheaper.history_tokens == budget.history_tokens


def test_the_model_table_gives_the_window_when_the_spec_does_not(gpt4o):
    budget = history_budget(ModelSpec(name="gpt-3.5-turbo-0125", max_output_tokens=512), SummarizationSpec(),
                            gpt4o, "Be brief.")
    assert budget.context_tokens == 16_385 and budget.max_output_tokens == 512
    with pytest.raises(ConfigError, match="contextTokens"):
        history_budget(ModelSpec(name="my-own-llm"), SummarizationSpec(), gpt4o, "Be brief.")


def test_a_bot_without_its_encoding_refuses_to_start_with_a_clear_message(tmp_path):
    # No cached encoding and no way out (the proxy port is closed): what a bot image without baked-in files sees.
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"no_proxy", "http_proxy", "https_proxy"}}
    env.update(TIKTOKEN_CACHE_DIR=str(tmp_path / "empty-cache"), HTTPS_PROXY="http://127.0.0.1:9",
               HTTP_PROXY="http://127.0.0.1:9")
    probe = "from h1bot_bot.adapters.tokenizers import counter_for; counter_for('gpt-4o').count_text('hi')"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "EncodingUnavailable" in done.stderr
    assert "'o200k_base'" in done.stderr and "TIKTOKEN_CACHE_DIR" in done.stderr


BOUND_COUNTER = counter_for("gpt-4o")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.sampled_from(["user", "assistant", "system"]),
       st.one_of(st.none(), st.text(max_size=20)))
def test_the_byte_bound_never_undercounts_a_message(content, role, name):
    """Deciding "it fits" by bytes is only safe if bytes are never fewer than tokens."""
    message = {"role": role, "content": content, **({"name": name} if name is not None else {})}
    assert BOUND_COUNTER.bound_message(message) >= BOUND_COUNTER.count_message(message)
    assert BOUND_COUNTER.bound_text(content) >= BOUND_COUNTER.count_text(content)
