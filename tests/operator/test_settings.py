"""Operator settings from the environment and the command line (CLI wins)."""

import re

import pytest

from h1bot_operator.settings import OperatorSettings, parse_args


def test_environment():
    settings = OperatorSettings.from_env({"H1BOT_BOT_IMAGE": "img:2", "H1BOT_NAMESPACES": "a, b,,",
                                          "LOG_FORMAT": "JSON", "H1BOT_PEERING": "h1bot"})
    assert (settings.bot_image, settings.namespaces, settings.log_format, settings.peering) == (
        "img:2", ("a", "b"), "json", "h1bot")
    assert not settings.clusterwide
    assert OperatorSettings.from_env({}).clusterwide


def test_cli_wins_over_environment():
    env = {"H1BOT_BOT_IMAGE": "img:env", "H1BOT_NAMESPACES": "a"}
    settings = parse_args(["--bot-image", "img:cli", "-n", "x", "-n", "y,z", "--peering", ""], env)
    assert settings.bot_image == "img:cli" and settings.namespaces == ("x", "y", "z") and settings.peering == ""
    assert parse_args(["-A"], env).clusterwide
    assert parse_args([], env).namespaces == ("a",)


def test_kubeconfig_and_context_from_the_command_line():
    settings = parse_args(["--kubeconfig", "/a:/b", "--context", "gke_p_r_c"], {})
    assert (settings.kubeconfig, settings.context) == ("/a:/b", "gke_p_r_c")
    assert (parse_args([], {}).kubeconfig, parse_args([], {}).context) == (None, None)  # $KUBECONFIG, read later


def test_bad_log_format_is_refused():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        OperatorSettings.from_env({"LOG_FORMAT": "xml"})


def test_backoff_doubles_up_to_the_limit():
    settings = OperatorSettings(retry_delay=1, retry_delay_max=5)
    assert [settings.backoff(n) for n in range(5)] == [1, 2, 4, 5, 5]


def test_bot_defaults_come_from_the_charts_variables():
    defaults = OperatorSettings.from_env({"H1BOT_BOTS_STREAMING": "native", "H1BOT_BOTS_UPDATE_INTERVAL": "0.5",
                                          "H1BOT_BOTS_LOG_FORMAT": "json", "H1BOT_BOTS_LOG_LEVEL": "warning",
                                          "H1BOT_BOTS_ENV": '[{"name": "TZ", "value": "UTC"}]'}).bot_defaults
    assert (defaults.slack.streaming, defaults.slack.update_interval_seconds) == ("native", 0.5)
    assert (defaults.logging.format, defaults.logging.level) == ("json", "WARNING")
    assert [(e.name, e.value) for e in defaults.env] == [("TZ", "UTC")]
    empty = OperatorSettings.from_env({"H1BOT_BOTS_STREAMING": "", "H1BOT_BOTS_ENV": "[]"}).bot_defaults
    assert empty.slack.streaming is None and empty.env == ()


@pytest.mark.parametrize(("env", "message"), [
    ({"H1BOT_BOTS_STREAMING": "fast"}, "H1BOT_BOTS_STREAMING (chart bots.streaming): Input should be 'update' or "
                                       "'native', got 'fast'"),
    ({"H1BOT_BOTS_UPDATE_INTERVAL": "0"}, "H1BOT_BOTS_UPDATE_INTERVAL (chart bots.updateIntervalSeconds)"),
    ({"H1BOT_BOTS_LOG_FORMAT": "xml"}, "H1BOT_BOTS_LOG_FORMAT (chart bots.logFormat)"),
    ({"H1BOT_BOTS_ENV": '[{"name": "OPENAI_API_KEY", "value": "sk-x"}]'},
     "H1BOT_BOTS_ENV (chart bots.env) sets OPENAI_API_KEY: must not set a variable the operator sets"),
    ({"H1BOT_BOTS_ENV": '{"name": "TZ"}'}, "H1BOT_BOTS_ENV must be a JSON list of env entries"),
], ids=["streaming", "interval", "log-format", "owned-env", "not-a-list"])
def test_bad_bot_defaults_stop_the_operator_naming_the_variable(env, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        OperatorSettings.from_env(env)


def test_secure_defaults_and_how_to_relax_them():
    default = OperatorSettings.from_env({})
    assert default.require_secret_label and default.allowed_base_urls == ("https://*",)
    relaxed = OperatorSettings.from_env({"H1BOT_REQUIRE_SECRET_LABEL": "false",
                                         "H1BOT_ALLOWED_BASE_URLS": "https://api.openai.com/*, http://ollama:11434/*"})
    assert not relaxed.require_secret_label
    assert relaxed.allowed_base_urls == ("https://api.openai.com/*", "http://ollama:11434/*")
    with pytest.raises(ValueError, match="H1BOT_REQUIRE_SECRET_LABEL must be true or false"):
        OperatorSettings.from_env({"H1BOT_REQUIRE_SECRET_LABEL": "maybe"})
