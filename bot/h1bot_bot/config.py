"""Process settings from the environment and the command line; read in `main`, never at import time.

Secrets come only from the environment (the operator maps them from Secrets), never from the manifest.
spec.slack and spec.logging (streaming, update interval, log format and level) reach the bot as environment variables
(h1bot_api.botenv.TYPED_ENV): in a cluster the operator renders them; with `--spec` the bot reads them from the
manifest itself, and a variable set in the environment wins over the manifest (as it does in the cluster, where the
environment is what the operator rendered from the SlackBot).
"""

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from h1bot_api.botenv import BUILTIN_DEFAULTS, LOG_FORMATS, STREAMING_MODES, typed_env
from h1bot_api.endpoints import parse_patterns
from h1bot_api.spec import ConfigError, SlackBotSpec
from h1bot_bot.core.endpoint import DEFAULT_OPENAI_BASE_URL

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# How a reply streams into Slack (STREAMING_MODES): a placeholder updated with chat.update, or Slack's native text
# streaming (chat.startStream/appendStream/stopStream), which falls back to `update` for a reply where Slack refuses it.
__all__ = ["DEFAULT_OPENAI_BASE_URL", "STREAMING_MODES", "Settings", "SettingsError", "load_settings", "manifest_env",
           "parse_args"]


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_app_token: str
    openai_api_key: str
    openai_org_id: str | None = None
    # Where the SlackBot comes from: a manifest file, or the cluster (name/namespace).
    spec_path: str | None = None
    name: str | None = None
    namespace: str | None = None
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    slack_api_url: str = DEFAULT_SLACK_API_URL
    openai_base_url: str | None = None
    # Globs of the endpoints the OpenAI key may go to (h1bot_api.endpoints); empty: any.
    allowed_base_urls: tuple[str, ...] = ()
    update_interval: float = 1.0
    slack_streaming: str = "update"
    stream_buffer_size: int = 256  # characters batched per chat.appendStream (slack_sdk's default)
    log_format: str = "text"
    log_level: str = "INFO"
    # Tuning with sensible defaults; tests shrink them.
    llm_timeout: float = 120.0  # per read of the model's stream
    answer_deadline: float = 300.0  # for a whole answer (reasoning models think for minutes); then the text so far
    llm_attempts: int = 3
    llm_backoff: float = 1.0
    llm_backoff_max: float = 20.0
    drain_timeout: float = 25.0
    socket_ping_interval: float = 10.0
    dedupe_size: int = 10_000
    user_cache_ttl: float = 3600.0
    # The SlackBot in the cluster: request timeout, watch length, and backoff of retried status writes and watches.
    kube_timeout: float = 10.0
    watch_timeout: int = 300
    watch_backoff: float = 0.5
    watch_backoff_max: float = 30.0
    persist_backoff: float = 1.0
    persist_backoff_max: float = 60.0

    def __repr__(self) -> str:  # never print a token or key
        return (f"Settings(spec_path={self.spec_path!r}, name={self.name!r}, namespace={self.namespace!r}, "
                f"http_port={self.http_port}, slack_api_url={self.slack_api_url!r}, "
                f"slack_streaming={self.slack_streaming!r}, "
                f"openai_base_url={self.openai_base_url!r})")


class SettingsError(ValueError):
    """A missing or malformed setting; the message names the variable."""


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SettingsError(f"{key} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{key} must not be negative, got {raw!r}")
    return value


def _positive(env: Mapping[str, str], key: str, default: float) -> float:
    value = _float(env, key, default)
    if value == 0:
        raise SettingsError(f"{key} must be more than 0 seconds")
    return value


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SettingsError(f"{key} must be an integer, got {raw!r}") from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="h1bot-bot", description="h1bot Slack bot (Socket Mode).")
    parser.add_argument("--spec", metavar="PATH", help="run from a SlackBot manifest file instead of the cluster")
    parser.add_argument("--name", help="SlackBot name in the cluster (default: $H1BOT_NAME)")
    parser.add_argument("--namespace", help="SlackBot namespace (default: $H1BOT_NAMESPACE)")
    parser.add_argument("--http-port", type=int, help="port of /healthz /readyz /metrics (default: 8080)")
    return parser.parse_args(argv)


def manifest_env(path: str) -> dict[str, str]:
    """The variables a SlackBot manifest's spec.slack and spec.logging set, as the operator would render them; empty
    when the manifest cannot be read or is invalid (the bot says why when it loads it)."""
    try:
        spec = SlackBotSpec.from_manifest(yaml.safe_load(Path(path).read_text()) or {})
    except (OSError, yaml.YAMLError, ConfigError, AttributeError, TypeError):
        return {}
    return typed_env({"slack": spec.slack, "logging": spec.logging})


def load_settings(env: Mapping[str, str] | None = None, args: argparse.Namespace | None = None) -> Settings:
    """Settings from `env` (default: os.environ) and parsed CLI `args`; CLI wins. With `--spec`, the manifest's
    spec.slack and spec.logging fill in the variables the environment leaves unset."""
    env = os.environ if env is None else env
    args = args or argparse.Namespace(spec=None, name=None, namespace=None, http_port=None)
    if args.spec:
        env = {**manifest_env(args.spec), **{key: value for key, value in env.items() if value.strip()}}
    missing = [key for key in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "OPENAI_API_KEY") if not env.get(key)]
    if missing:
        raise SettingsError(f"missing environment variable(s): {', '.join(missing)}")
    spec_path = args.spec
    name = args.name or env.get("H1BOT_NAME") or None
    namespace = args.namespace or env.get("H1BOT_NAMESPACE") or None
    if not spec_path and not (name and namespace):
        raise SettingsError("no SlackBot to run: pass --spec PATH, or set H1BOT_NAME and H1BOT_NAMESPACE")
    # The names are h1bot_api.botenv's (TYPED_ENV), spelled out so that a reader (and tests/e2e/test_docs.py) sees them.
    log_format = (env.get("LOG_FORMAT") or BUILTIN_DEFAULTS["LOG_FORMAT"]).strip().lower()
    if log_format not in LOG_FORMATS:
        raise SettingsError(f"LOG_FORMAT must be {' or '.join(LOG_FORMATS)}, got {log_format!r}")
    log_level = (env.get("LOG_LEVEL") or BUILTIN_DEFAULTS["LOG_LEVEL"]).strip().upper()
    if not isinstance(logging.getLevelName(log_level), int):
        raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {env.get('LOG_LEVEL')!r}")
    streaming = (env.get("H1BOT_SLACK_STREAMING") or "").strip().lower() or BUILTIN_DEFAULTS["H1BOT_SLACK_STREAMING"]
    if streaming not in STREAMING_MODES:
        raise SettingsError(f"H1BOT_SLACK_STREAMING must be {' or '.join(STREAMING_MODES)}, "
                            f"got {env.get('H1BOT_SLACK_STREAMING')!r}")
    port = args.http_port if args.http_port is not None else _int(env, "H1BOT_HTTP_PORT", 8080)
    return Settings(
        slack_bot_token=env["SLACK_BOT_TOKEN"],
        slack_app_token=env["SLACK_APP_TOKEN"],
        openai_api_key=env["OPENAI_API_KEY"],
        openai_org_id=env.get("OPENAI_ORG_ID") or None,
        spec_path=spec_path,
        name=name,
        namespace=namespace,
        http_port=port,
        slack_api_url=env.get("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
        openai_base_url=env.get("OPENAI_BASE_URL") or None,
        allowed_base_urls=parse_patterns(env.get("H1BOT_ALLOWED_BASE_URLS"), default=()),
        update_interval=_float(env, "H1BOT_UPDATE_INTERVAL", float(BUILTIN_DEFAULTS["H1BOT_UPDATE_INTERVAL"])),
        answer_deadline=_positive(env, "H1BOT_ANSWER_DEADLINE", 300.0),
        slack_streaming=streaming,
        log_format=log_format,
        log_level=log_level,
    )
