"""Generate docs/configuration.md: every SlackBot field (from the CRD), chart value (from values.schema.json and
values.yaml) and environment variable (from the table below).

    .venv/bin/python docs/gen_configuration.py          # rewrite docs/configuration.md
    .venv/bin/python docs/gen_configuration.py --check  # exit 1 when the file is out of date

tests/e2e/test_docs.py fails when the committed file differs from what this script renders.
"""

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CRD_PATH = ROOT / "crds" / "slackbots.chatops.h1bot.dev.yaml"
CHART_DIR = ROOT / "charts" / "h1bot-operator"
OUTPUT = ROOT / "docs" / "configuration.md"


@dataclass(frozen=True)
class EnvVar:
    name: str
    default: str
    description: str


# The process contracts. Secrets reach the bot as env vars mapped by the operator from the SlackBot's secretKeyRefs.
OPERATOR_ENV = (
    EnvVar("H1BOT_BOT_IMAGE", "`ghcr.io/h1bot/h1bot-bot:<version>`", "Bot image put into every bot Deployment "
           "whose SlackBot sets no spec.template.image (CLI `--bot-image`). The chart sets it from `botImage`."),
    EnvVar("H1BOT_NAMESPACES", "empty", "Comma-separated namespaces to serve; empty serves all namespaces (CLI "
           "`--namespace/-n`, repeatable, or `--all-namespaces/-A`). The chart sets it from `watchNamespaces`."),
    EnvVar("LOG_FORMAT", "`text`", "`text` or `json`: one JSON object per line with `time` (RFC 3339), `severity` "
           "(Cloud Logging's DEBUG/INFO/WARNING/ERROR/CRITICAL), `message`, `logger` and, for a handler's lines, "
           "kopf's `object` reference (CLI `--log-format`). The chart sets it from `logFormat`."),
    EnvVar("H1BOT_BOTS_STREAMING", "empty", "Default spec.slack.streaming of every bot (`update` or `native`); "
           "empty: the bot's own (`update`). The chart sets it from `bots.streaming`."),
    EnvVar("H1BOT_BOTS_UPDATE_INTERVAL", "empty", "Default spec.slack.updateIntervalSeconds of every bot (0.1 to "
           "30); empty: the bot's own (1). The chart sets it from `bots.updateIntervalSeconds`."),
    EnvVar("H1BOT_BOTS_LOG_FORMAT", "empty", "Default spec.logging.format of every bot (`text` or `json`); empty: "
           "the bot's own (`text`). The chart sets it from `bots.logFormat`."),
    EnvVar("H1BOT_BOTS_LOG_LEVEL", "empty", "Default spec.logging.level of every bot (DEBUG, INFO, WARNING, "
           "ERROR); empty: the bot's own (INFO). The chart sets it from `bots.logLevel`."),
    EnvVar("H1BOT_BOTS_ENV", "`[]`", "A JSON list of env entries (`{name, value}` or `{name, valueFrom}`) put into "
           "every bot container after the operator's own; a SlackBot's spec.template.env entry of the same name "
           "replaces one. A variable the operator sets is refused at start-up. The chart sets it from `bots.env`."),
    EnvVar("H1BOT_PEERING", "empty", "kopf peering object name; empty runs the operator standalone."),
    EnvVar("H1BOT_METRICS_PORT", "`9090`", "Port of the operator's Prometheus `/metrics`: "
           "`h1bot_operator_reconciles_total{outcome}`, `h1bot_operator_reconcile_seconds`, "
           "`h1bot_operator_slackbots{phase}`; `0` turns it off (CLI `--metrics-port`). The chart sets it from "
           "`metricsPort`."),
    EnvVar("H1BOT_RESYNC_SECONDS", "`300`", "Every SlackBot is reconciled again this often, whatever the watches "
           "saw (changes lost during an API outage); `0` turns it off."),
    EnvVar("H1BOT_REQUIRE_SECRET_LABEL", "`true`", "Only Secrets labelled `chatops.h1bot.dev/credentials=true` may "
           "be referenced by a SlackBot; `false` allows any Secret of its namespace (docs/security.md). The chart "
           "sets it from `secrets.requireOptInLabel`."),
    EnvVar("H1BOT_TOOL_NAMESPACES", "empty", "Comma-separated namespaces beyond a SlackBot's own where its "
           "spec.tools may let the bot read or act (`*`: any); a SlackBot naming another is refused (InvalidSpec). "
           "The chart sets it from `tools.namespaces`."),
    EnvVar("H1BOT_ALLOWED_BASE_URLS", "`https://*`", "Comma-separated globs of the model base URLs a SlackBot may "
           "use (docs/security.md); passed on to every bot. The chart sets it from `models.allowedBaseURLs`."),
    EnvVar("LOG_LEVEL", "`INFO`", "`DEBUG` turns on kopf's verbose logging."),
    EnvVar("KUBECONFIG", "unset", "Kubeconfig file(s), `:`-separated and merged like kubectl's (CLI "
           "`--kubeconfig`; `--context` picks a context, default the current one). Unset: the pod's ServiceAccount "
           "in a cluster, else `~/.kube/config`. Exec plugins (`gke-gcloud-auth-plugin`, `aws eks get-token`, "
           "kubelogin), token files, client certificates and oidc work, and expiring tokens are renewed."),
)
BOT_ENV = (
    EnvVar("SLACK_BOT_TOKEN", "(required)", "Slack bot token (xoxb-...), from spec.secrets.slackBotToken."),
    EnvVar("SLACK_APP_TOKEN", "(required)", "Slack app-level token with `connections:write` (xapp-...), for "
           "Socket Mode, from spec.secrets.slackAppToken."),
    EnvVar("OPENAI_API_KEY", "(required)", "API key of the OpenAI-compatible endpoint, from "
           "spec.secrets.openAIAPIKey."),
    EnvVar("OPENAI_ORG_ID", "empty", "OpenAI organization id, from spec.secrets.openAIOrganization when set."),
    EnvVar("H1BOT_NAME", "(required in a cluster)", "Name of the bot's SlackBot (set by the operator)."),
    EnvVar("H1BOT_NAMESPACE", "(required in a cluster)", "Namespace of the bot's SlackBot (set by the operator)."),
    EnvVar("H1BOT_HTTP_PORT", "`8080`", "Port of /healthz, /readyz and /metrics (container port `http`; set by the "
           "operator)."),
    EnvVar("SLACK_API_URL", "`https://slack.com/api/`", "Slack Web API base URL."),
    EnvVar("OPENAI_BASE_URL", "`https://api.openai.com/v1`", "OpenAI-compatible endpoint; spec.model.baseURL wins "
           "when set."),
    EnvVar("H1BOT_ALLOWED_BASE_URLS", "empty (any URL)", "Comma-separated globs of the model endpoints the bot may "
           "send its key to (set by the operator from its own setting); a live change of spec.model.baseURL to "
           "another URL is refused and the bot keeps its endpoint."),
    EnvVar("H1BOT_UPDATE_INTERVAL", "`1`", "Seconds between `chat.update` calls of a streamed reply (in `native` "
           "streaming: text buffered this long goes out with the next piece, however short). From "
           "spec.slack.updateIntervalSeconds."),
    EnvVar("H1BOT_ANSWER_DEADLINE", "`300`", "Seconds a whole answer may take (retries included; reasoning models "
           "think for minutes). Then the reply shows the text so far with a note that it was cut."),
    EnvVar("H1BOT_SLACK_STREAMING", "`update`", "How replies stream into Slack: `update` posts a placeholder and "
           "edits it with throttled `chat.update` (Markdown converted to mrkdwn, follow-up messages past Slack's "
           "limit); `native` uses Slack's text streaming (`chat.startStream`/`appendStream`/`stopStream`, standard "
           "Markdown, appends batched), needs no scope beyond `chat:write`, and falls back to `update` for a reply "
           "where Slack refuses to start a stream (logged once per channel). From spec.slack.streaming."),
    EnvVar("LOG_FORMAT", "`text`", "`text` or `json`: one JSON object per line with `time` (RFC 3339), `severity` "
           "(Cloud Logging's names), `message`, `logger` and the ids of the event (`event_id`, `channel`, "
           "`thread_ts`, `user`, ...). From spec.logging.format."),
    EnvVar("LOG_LEVEL", "`INFO`", "DEBUG, INFO, WARNING or ERROR. From spec.logging.level."),
    EnvVar("KUBECONFIG", "unset", "Kubeconfig file(s) for a bot run outside a cluster (not with `--spec`), "
           "read like the operator's; unset: the bot's ServiceAccount in a pod, else `~/.kube/config`."),
    EnvVar("TIKTOKEN_CACHE_DIR", "`/opt/tiktoken` (image)", "Where tiktoken finds its encodings; the bot image bakes "
           "o200k_base and cl100k_base there, so nothing is downloaded at runtime."),
)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _type_name(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"array of {_type_name(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict) and "properties" not in schema:
        return f"map of {_type_name(schema['additionalProperties'])}"
    if kind is None and schema.get("x-kubernetes-preserve-unknown-fields"):
        return "any"
    return kind or "any"


def _constraints(schema: dict[str, Any], required: bool) -> str:
    notes = []
    if required:
        notes.append("Required.")
    if "enum" in schema:
        notes.append("One of " + ", ".join(f"`{v}`" if v != "" else '`""`' for v in schema["enum"]) + ".")
    for key, word in (("minimum", "Min"), ("maximum", "Max"), ("minLength", "Min length"),
                      ("maxLength", "Max length"), ("maxItems", "Max items")):
        if key in schema:
            notes.append(f"{word} {schema[key]}.")
    if "pattern" in schema:
        notes.append(f"Pattern `{schema['pattern']}`.")
    if schema.get("uniqueItems"):
        notes.append("Unique items.")
    return " ".join(notes)


def _default(value: Any) -> str:
    if value is None:
        return ""
    return "`" + json.dumps(value, separators=(", ", ": ")) + "`"


def walk(schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(dotted path, field schema, required) for every field below `schema`, depth first in declaration order."""
    required = set(schema.get("required", []))
    for name, field in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        yield path, field, name in required
        yield from walk(field, path + ".")
        items = field.get("items", {})
        if field.get("type") == "array" and "properties" in items:
            yield from walk(items, path + "[].")
        extra = field.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in extra:
            yield from walk(extra, path + ".<name>.")


def _field_table(rows: list[tuple[str, dict[str, Any], bool]], defaults: dict[str, Any] | None = None,
                 heading: str = "Field") -> list[str]:
    """A Markdown table of fields; `defaults` (chart values) replaces the schema's defaults, shown on leaves only."""
    lines = [f"| {heading} | Type | Default | Description |", "|---|---|---|---|"]
    for path, field, required in rows:
        if defaults is None:
            default = field.get("default")
        else:
            default = None if "properties" in field else defaults.get(path)
        description = " ".join(filter(None, [field.get("description", ""), _constraints(field, required)]))
        lines.append(f"| `{path}` | {_cell(_type_name(field))} | {_cell(_default(default))} | {_cell(description)} |")
    return lines


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        flat[prefix + key] = value
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
    return flat


def _crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_PATH.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    return version["schema"]["openAPIV3Schema"]


def _env_table(variables: tuple[EnvVar, ...]) -> list[str]:
    lines = ["| Variable | Default | Description |", "|---|---|---|"]
    lines += [f"| `{v.name}` | {_cell(v.default)} | {_cell(v.description)} |" for v in variables]
    return lines


def _bot_container_section() -> list[str]:
    from h1bot_api.botenv import SECRET_ENV, TYPED_ENV
    from h1bot_operator.settings import BOT_DEFAULT_ENV

    chart_key = {field: f"bots.{ {'format': 'logFormat', 'level': 'logLevel'}.get(field, field)}"
                 for _, field in BOT_DEFAULT_ENV.values()}
    secret_field = {"slack_bot_token": "slackBotToken", "slack_app_token": "slackAppToken",
                    "open_ai_api_key": "openAIAPIKey", "open_ai_organization": "openAIOrganization"}
    lines = ["### What the operator sets in each bot", "",
             "The bot container's `env`, in this order: the variables the operator owns (below), then the chart's "
             "`bots.env`",
             "merged with spec.template.env (the SlackBot's entry replaces the chart's of the same name). "
             "Kubernetes resolves",
             "`$(VAR)` only to variables defined earlier, so an extra entry may use `$(H1BOT_NAMESPACE)`; and "
             "`env` wins over",
             "`envFrom`, so a key of a spec.template.envFrom Secret or ConfigMap never overrides an owned variable. "
             "The CRD",
             "refuses spec.template.env entries naming an owned variable (the chart's schema refuses them in "
             "`bots.env`).",
             "", "| Variable | From |", "|---|---|",
             "| `H1BOT_NAME`, `H1BOT_NAMESPACE` | The SlackBot's name and namespace. |",
             "| `H1BOT_HTTP_PORT` | `8080`, the container port `http`. |"]
    lines += [f"| `{env}` | spec.secrets.{secret_field[field]} (a `secretKeyRef`; omitted when the field is unset). |"
              for field, env in SECRET_ENV.items()]
    for (section, field), env in TYPED_ENV.items():
        lines.append(f"| `{env}` | spec.{section}.{field}, else the chart's `{chart_key[field]}`, else the bot's "
                     "default; always set, so `kubectl get deploy -o yaml` shows what applies. |")
    lines += ["", "A change to any of these rolls the bot's pods; model, persona, summarization and access "
              "changes apply live.", ""]
    return lines


def render() -> str:
    root = _crd_schema()
    values_schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    chart_defaults = _flatten(yaml.safe_load((CHART_DIR / "values.yaml").read_text()))
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by docs/gen_configuration.py from the CRD, the chart's values.schema.json and values.yaml.",
        "     Do not edit by hand: run `.venv/bin/python docs/gen_configuration.py`. -->",
        "",
        "- [SlackBot spec](#slackbot-spec) and [status](#slackbot-status) "
        "(`chatops.h1bot.dev/v1alpha1`, short name `sb`)",
        "- [Chart values](#chart-values) (`charts/h1bot-operator`)",
        "- [Environment variables](#environment-variables) of the operator and the bot",
        "",
        "## SlackBot spec",
        "",
        _cell(root["properties"]["spec"].get("description", "")),
        "",
    ]
    for rule in root["properties"]["spec"].get("x-kubernetes-validations", []):
        lines.append(f"- Rule: {_cell(rule['message'])}.")
    lines += ["", *_field_table(list(walk(root["properties"]["spec"]))), ""]
    lines += ["## SlackBot status", "", _cell(root["properties"]["status"].get("description", "")), ""]
    lines += [*_field_table(list(walk(root["properties"]["status"]))), ""]
    lines += [
        "## Chart values",
        "",
        "Set with `--set`/`-f` on `helm install`/`helm upgrade`, or `setValues` in skaffold.yaml. Values outside this",
        "table are rejected by the chart's values.schema.json.",
        "",
        *_field_table(list(walk(values_schema)), defaults=chart_defaults, heading="Value"),
        "",
        "## Environment variables",
        "",
        "### Operator (`h1bot-operator`)",
        "",
        *_env_table(OPERATOR_ENV),
        "",
        "### Bot (`h1bot-bot`)",
        "",
        "In a cluster the operator sets the variables of the [next table](#what-the-operator-sets-in-each-bot); "
        "the others",
        "(`SLACK_API_URL`, `OPENAI_BASE_URL`, ...) come from spec.template.env or the chart's `bots.env`. "
        "`h1bot-bot --spec path.yaml`",
        "runs a bot from a manifest file with the credentials in its environment and takes spec.slack and "
        "spec.logging from the",
        "manifest (read at start), a variable set in the environment winning over the manifest.",
        "",
        *_env_table(BOT_ENV),
        "",
        *_bot_container_section(),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/configuration.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is out of date: run .venv/bin/python docs/gen_configuration.py")
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
