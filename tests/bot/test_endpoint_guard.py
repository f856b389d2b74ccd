"""The allow-list of model endpoints (shared by the operator and the bot) and the bot's guard for live changes."""

import pytest

from h1bot_api.endpoints import DEFAULT_ALLOWED_BASE_URLS, base_url_problem, parse_patterns
from h1bot_bot.core.endpoint_guard import EndpointGuard, EndpointRefused


@pytest.mark.parametrize(("url", "patterns", "allowed"), [
    ("https://api.openai.com/v1", DEFAULT_ALLOWED_BASE_URLS, True),
    ("http://api.openai.com/v1", DEFAULT_ALLOWED_BASE_URLS, False),
    ("https://api.openai.com/v1", ("https://api.openai.com/*",), True),
    ("https://api.openai.com.evil.example/v1", ("https://api.openai.com/*",), False),
    ("https://api.openai.com@evil.example/v1", ("https://api.openai.com/*",), False),
    ("https://team.openai.azure.com/openai", ("https://*.openai.azure.com/*",), True),
    ("http://ollama.ai.svc:11434/v1", ("https://*", "http://ollama.ai.svc:11434/*"), True),
    ("file:///etc/passwd", ("*",), False),
])
def test_patterns_match_the_whole_url(url, patterns, allowed):
    assert (base_url_problem(url, patterns) is None) is allowed


def test_patterns_from_the_environment():
    assert parse_patterns(None) == DEFAULT_ALLOWED_BASE_URLS
    assert parse_patterns(" https://a/* , https://b/* ") == ("https://a/*", "https://b/*")
    assert parse_patterns("", default=()) == ()


def test_the_guard_keeps_the_last_allowed_endpoint_and_says_so_once():
    guard = EndpointGuard(("https://ok.example/*",))
    assert guard.choose("https://ok.example/v1") == ("https://ok.example/v1", None)
    endpoint, message = guard.choose("https://evil.example/v1")
    assert endpoint == "https://ok.example/v1" and "keeping https://ok.example/v1" in message
    assert guard.choose("https://evil.example/v1") == ("https://ok.example/v1", None), "said once"
    assert guard.choose("https://ok.example/v2") == ("https://ok.example/v2", None)
    with pytest.raises(EndpointRefused, match=r"spec\.model\.baseURL: 'https://evil\.example/v1' is not an allowed"):
        EndpointGuard(("https://ok.example/*",)).choose("https://evil.example/v1")
    assert EndpointGuard(()).choose("http://anything/v1") == ("http://anything/v1", None), "no list: any URL"


def test_a_refused_endpoint_from_the_environment_is_named_as_such():
    """A bot whose spec pins no baseURL uses OPENAI_BASE_URL: the refusal must not send its author to the spec."""
    with pytest.raises(EndpointRefused, match=r"^OPENAI_BASE_URL: 'http://gpu-box:8000/v1' is not an allowed"):
        EndpointGuard(("https://ok.example/*",)).choose("http://gpu-box:8000/v1", "OPENAI_BASE_URL")
