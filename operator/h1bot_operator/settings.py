"""Operator settings from the environment and the command line (read in main or at startup, never at import)."""

import argparse
import dataclasses
import json
from collections.abc import Mapping, Sequence
from importlib import metadata

from pydantic import ValidationError

from h1bot_api.botenv import OWNED_ENV, OWNED_ENV_MESSAGE
from h1bot_api.endpoints import DEFAULT_ALLOWED_BASE_URLS, parse_patterns
from h1bot_api.spec import EnvVar, LoggingSpec, SlackSpec

# Bot-wide defaults (chart values `bots.*`): env var of the operator → (section, field) of the SlackBot spec.
BOT_DEFAULT_ENV = {
    "H1BOT_BOTS_STREAMING": ("slack", "streaming"),
    "H1BOT_BOTS_UPDATE_INTERVAL": ("slack", "updateIntervalSeconds"),
    "H1BOT_BOTS_LOG_FORMAT": ("logging", "format"),
    "H1BOT_BOTS_LOG_LEVEL": ("logging", "level"),
}
BOT_ENV_VAR = "H1BOT_BOTS_ENV"  # a JSON list of env entries every bot gets (chart `bots.env`)


def default_bot_image() -> str:
    try:
        version = metadata.version("h1bot")
    except metadata.PackageNotFoundError:
        version = "latest"
    return f"ghcr.io/h1bot/h1bot-bot:{version}"


@dataclasses.dataclass(frozen=True)
class BotDefaults:
    """What every bot gets unless its SlackBot says otherwise: spec.slack, spec.logging and extra env entries."""

    slack: SlackSpec = dataclasses.field(default_factory=SlackSpec)
    logging: LoggingSpec = dataclasses.field(default_factory=LoggingSpec)
    env: tuple[EnvVar, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "BotDefaults":
        models = {"slack": SlackSpec, "logging": LoggingSpec}
        sections: dict[str, dict[str, object]] = {"slack": {}, "logging": {}}
        for variable, (section, field) in BOT_DEFAULT_ENV.items():
            if raw := env.get(variable, "").strip():
                value = raw.upper() if field == "level" else raw
                try:
                    models[section].model_validate({field: value})
                except ValidationError as exc:
                    raise ValueError(f"{variable} (chart bots.{_chart_key(field)}): "
                                     f"{exc.errors()[0]['msg']}, got {raw!r}") from None
                sections[section][field] = value
        slack, logging_ = SlackSpec.model_validate(sections["slack"]), LoggingSpec.model_validate(sections["logging"])
        return cls(slack=slack, logging=logging_, env=parse_bot_env(env.get(BOT_ENV_VAR, "")))


def _chart_key(field: str) -> str:
    return {"format": "logFormat", "level": "logLevel"}.get(field, field)


def parse_bot_env(raw: str) -> tuple[EnvVar, ...]:
    """The chart's `bots.env` as passed in H1BOT_BOTS_ENV (JSON); owned variables are refused as in a SlackBot."""
    if not raw.strip():
        return ()
    try:
        entries = json.loads(raw)
        if not isinstance(entries, list):
            raise ValueError("not a list")
        env = tuple(EnvVar.model_validate(entry) for entry in entries)
    except (ValueError, ValidationError) as exc:
        raise ValueError(f"{BOT_ENV_VAR} must be a JSON list of env entries ({{name, value|valueFrom}}): "
                         f"{str(exc).splitlines()[0]}") from None
    if owned := [e.name for e in env if e.name in OWNED_ENV]:
        raise ValueError(f"{BOT_ENV_VAR} (chart bots.env) sets {', '.join(owned)}: "
                         + OWNED_ENV_MESSAGE.removeprefix("spec.template.env "))
    return env


@dataclasses.dataclass(frozen=True)
class OperatorSettings:
    bot_image: str = dataclasses.field(default_factory=default_bot_image)
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    log_format: str = "text"  # text | json
    peering: str = ""  # kopf peering name; empty: standalone
    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"  # empty: no liveness endpoint
    metrics_port: int = 9090  # Prometheus /metrics; 0: none
    kubeconfig: str | None = None  # None: $KUBECONFIG, else the pod's service account, else ~/.kube/config
    context: str | None = None  # kubeconfig context; None: the current one
    retry_delay: float = 5.0  # first retry of a SlackBot whose Secrets are missing; doubles up to retry_delay_max
    retry_delay_max: float = 300.0
    workers: int = 8  # threads running reconciles (the `kubernetes` client is synchronous)
    watch_timeout: float | None = None  # server-side watch timeout (None: the server's own)
    # Every SlackBot is reconciled again this often, whatever the watches saw (events lost in an outage); 0: never.
    resync_seconds: float = 300.0
    bot_defaults: BotDefaults = dataclasses.field(default_factory=BotDefaults)
    # Only Secrets labelled chatops.h1bot.dev/credentials=true may be referenced (False: any Secret of the namespace).
    require_secret_label: bool = True
    # Globs of the model base URLs a SlackBot may use (h1bot_api.endpoints); passed on to every bot.
    allowed_base_urls: tuple[str, ...] = DEFAULT_ALLOWED_BASE_URLS
    # Namespaces beyond its own where a SlackBot's spec.tools may have the bot read or act ("*": any). Empty: only
    # its own, so that the right to create a SlackBot never reaches into namespaces its author cannot use.
    tool_namespaces: tuple[str, ...] = ()

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    def backoff(self, retry: int) -> float:
        return min(self.retry_delay * 2 ** max(retry, 0), self.retry_delay_max)

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> "OperatorSettings":
        values: dict[str, object] = {
            "namespaces": split_namespaces(env.get("H1BOT_NAMESPACES", "")),
            "log_format": env.get("LOG_FORMAT", "text").strip().lower() or "text",
            "peering": env.get("H1BOT_PEERING", "").strip(),
            "bot_defaults": BotDefaults.from_env(env),
        }
        if raw_resync := env.get("H1BOT_RESYNC_SECONDS", "").strip():
            try:
                values["resync_seconds"] = float(raw_resync)
            except ValueError:
                raise ValueError(f"H1BOT_RESYNC_SECONDS must be a number of seconds, not {raw_resync!r}") from None
        if raw_port := env.get("H1BOT_METRICS_PORT", "").strip():
            if not raw_port.isdigit():
                raise ValueError(f"H1BOT_METRICS_PORT must be a port number, not {raw_port!r}")
            values["metrics_port"] = int(raw_port)
        raw_label = env.get("H1BOT_REQUIRE_SECRET_LABEL", "").strip().lower()
        if raw_label:
            if raw_label not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"H1BOT_REQUIRE_SECRET_LABEL must be true or false, not {raw_label!r}")
            values["require_secret_label"] = raw_label in ("true", "1", "yes")
        values["allowed_base_urls"] = parse_patterns(env.get("H1BOT_ALLOWED_BASE_URLS"))
        values["tool_namespaces"] = split_namespaces(env.get("H1BOT_TOOL_NAMESPACES", ""))
        if env.get("H1BOT_BOT_IMAGE", "").strip():
            values["bot_image"] = env["H1BOT_BOT_IMAGE"].strip()
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.log_format not in ("text", "json"):
            raise ValueError(f"LOG_FORMAT must be text or json, not {settings.log_format!r}")
        return settings


def split_namespaces(value: str) -> tuple[str, ...]:
    return tuple(ns.strip() for ns in value.split(",") if ns.strip())


def parse_args(argv: Sequence[str] | None, env: Mapping[str, str]) -> OperatorSettings:
    """CLI flags win over the environment: --bot-image, -n/--namespace (repeatable), -A, --log-format, --peering,
    --metrics-port, --kubeconfig, --context."""
    parser = argparse.ArgumentParser(prog="h1bot-operator", description="Reconcile SlackBot resources into bots.")
    parser.add_argument("--bot-image", help="default bot image (env H1BOT_BOT_IMAGE)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", dest="namespaces", metavar="NAMESPACE",
                       help="watch this namespace (repeatable; env H1BOT_NAMESPACES, comma-separated)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument("--log-format", choices=("text", "json"), help="log format (env LOG_FORMAT)")
    parser.add_argument("--peering", help="kopf peering name; empty: standalone (env H1BOT_PEERING)")
    parser.add_argument("--liveness", help="liveness endpoint URL, empty to disable (default: %(default)s)",
                        default=OperatorSettings.liveness_endpoint)
    parser.add_argument("--kubeconfig", help="kubeconfig file(s), `:`-separated (default: $KUBECONFIG, else the pod's "
                        "service account, else ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--metrics-port", type=int, help="port of /metrics, 0 to disable (env H1BOT_METRICS_PORT, "
                        "default 9090)")
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {"liveness_endpoint": args.liveness}
    if args.metrics_port is not None:
        overrides["metrics_port"] = args.metrics_port
    if args.kubeconfig:
        overrides["kubeconfig"] = args.kubeconfig
    if args.context:
        overrides["context"] = args.context
    if args.bot_image:
        overrides["bot_image"] = args.bot_image
    if args.all_namespaces:
        overrides["namespaces"] = ()
    elif args.namespaces:
        overrides["namespaces"] = tuple(ns for value in args.namespaces for ns in split_namespaces(value))
    if args.log_format:
        overrides["log_format"] = args.log_format
    if args.peering is not None:
        overrides["peering"] = args.peering.strip()
    return OperatorSettings.from_env(env, **overrides)
