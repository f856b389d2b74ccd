"""Operator settings from the environment and the command line (CLI wins)."""

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
