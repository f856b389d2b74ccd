"""Which endpoint a terminal chat uses: the embedded model when nothing is configured, else the configured one, with
an explicit OPENAI_BASE_URL beating the example manifest's baseURL."""

import yaml
from hypothesis import given
from hypothesis import strategies as st

from h1bot_api.models import lookup
from h1bot_api.spec import SlackBotSpec, resolve_limits
from h1bot_bot.core.endpoint import DEFAULT_OPENAI_BASE_URL, choose_endpoint, spec_for_embedded_model
from tests.paths import REPO

EXAMPLE_SPEC = yaml.safe_load((REPO / "examples" / "slackbot.yaml").read_text())["spec"]
SELF_HOSTED = "http://gpu-box.internal:8000/v1"


def test_a_fresh_machine_with_the_example_manifest_gets_the_embedded_model():
    """The example pins no endpoint (so OPENAI_BASE_URL is not silently beaten by it); OpenAI's default URL would not
    count as "an endpoint configured" either."""
    assert "baseURL" not in EXAMPLE_SPEC["model"]
    for example_url in (None, DEFAULT_OPENAI_BASE_URL):
        assert choose_endpoint({}, example_url).embedded
    choice = choose_endpoint({}, EXAMPLE_SPEC["model"].get("baseURL"))
    assert choice.embedded and choice.base_url is None
    assert "embedded local model" in choice.describe() and "OPENAI_API_KEY" in choice.describe()


def test_an_api_key_alone_means_openai():
    choice = choose_endpoint({"OPENAI_API_KEY": "sk-test"}, EXAMPLE_SPEC["model"].get("baseURL"))
    assert not choice.embedded and choice.base_url == DEFAULT_OPENAI_BASE_URL and choice.has_api_key


def test_an_explicit_openai_base_url_beats_the_manifests_base_url():
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": SELF_HOSTED + "/"}
    choice = choose_endpoint(env, "https://proxy.example.com/v1")
    assert (choice.base_url, choice.source) == (SELF_HOSTED, "OPENAI_BASE_URL")
    assert choice.describe() == f"{SELF_HOSTED} (from OPENAI_BASE_URL)"


def test_the_manifests_own_endpoint_is_used_when_the_environment_names_none():
    choice = choose_endpoint({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "  "}, SELF_HOSTED)
    assert (choice.embedded, choice.base_url, choice.source) == (False, SELF_HOSTED, "spec.model.baseURL")


def test_a_self_hosted_endpoint_without_a_key_is_used_not_replaced_by_the_embedded_model():
    choice = choose_endpoint({"OPENAI_BASE_URL": SELF_HOSTED}, None)
    assert not choice.embedded and choice.base_url == SELF_HOSTED and not choice.has_api_key
    assert "no OPENAI_API_KEY" in choice.describe()


urls = st.one_of(st.none(), st.just(""), st.just(DEFAULT_OPENAI_BASE_URL), st.just(DEFAULT_OPENAI_BASE_URL + "/"),
                 st.just(SELF_HOSTED), st.just("https://proxy.example.com/v1"))
keys = st.one_of(st.none(), st.just(""), st.just(" "), st.just("sk-test"))


@given(env_url=urls, spec_url=urls, key=keys)
def test_the_rule_over_every_combination(env_url, spec_url, key):
    env = {name: value for name, value in (("OPENAI_BASE_URL", env_url), ("OPENAI_API_KEY", key)) if value is not None}
    choice = choose_endpoint(env, spec_url)
    given_urls = [u.rstrip("/") for u in (env_url, spec_url) if u]
    configured_url = next((u for u in given_urls if u != DEFAULT_OPENAI_BASE_URL), None)
    env_wins = bool(env_url and env_url.strip())
    # Embedded exactly when no key and every URL given is the default (or an explicit default in the environment).
    expected_embedded = not (key and key.strip()) and (
        (env_wins and env_url.rstrip("/") == DEFAULT_OPENAI_BASE_URL) or (not env_wins and configured_url is None))
    assert choice.embedded == expected_embedded
    if env_wins:
        assert choice.source == "OPENAI_BASE_URL"
        assert choice.embedded or choice.base_url == env_url.rstrip("/")
    elif not choice.embedded:
        assert choice.base_url == (configured_url or DEFAULT_OPENAI_BASE_URL)
    assert (choice.base_url is None) == choice.embedded


def test_the_example_spec_adapted_to_the_embedded_model_fits_its_context_window():
    model_id = "SmolLM2-135M-Instruct"
    info = lookup(model_id)
    adapted = spec_for_embedded_model(EXAMPLE_SPEC, model_id, info)
    spec = SlackBotSpec.parse(adapted)
    limits = resolve_limits(spec.model, spec.summarization)
    assert limits.context_tokens == info.context_tokens and not limits.info.tokenizer_exact
    assert spec.model.name == model_id and spec.model.allowed_models == (model_id,) and spec.model.base_url is None
    assert all(channel.model is None for channel in spec.persona.channels)
    assert spec.summarization.chunk_tokens < limits.threshold_tokens <= limits.history_tokens
    # The persona and the access rules are the manifest's; the input is untouched.
    assert spec.persona.system_prompt == EXAMPLE_SPEC["persona"]["systemPrompt"]
    assert list(spec.access.admins) == EXAMPLE_SPEC["access"]["admins"]
    assert EXAMPLE_SPEC["model"]["name"] == "gpt-4o-mini" and "model" in EXAMPLE_SPEC["persona"]["channels"][0]
