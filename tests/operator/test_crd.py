"""The SlackBot CRD as a cluster admin and a bot author meet it: it installs, documents itself, admits the
example and refuses broken bots with a message that says what to fix."""

import copy
import re
from pathlib import Path
from typing import Literal, get_args, get_origin

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic.fields import FieldInfo

from h1bot_api import API_VERSION, CRD_NAME, GROUP, KIND, PLURAL, SHORT_NAME, VERSION
from h1bot_api.botenv import OWNED_ENV, OWNED_ENV_CEL, OWNED_ENV_MESSAGE, SECRET_ENV, TYPED_ENV
from h1bot_api.spec import ConfigError, DirectMessages, SlackBotSpec, resolve_limits
from h1bot_api.status import BOT_HEALTH, BOT_REASONS, CONDITION_TYPES, PHASES, RUNTIME_KEYS
from tests.fakes.crd_schema import admit, load_crd, open_api_schema
from tests.paths import EXAMPLES


def example_bot() -> dict:
    return yaml.safe_load((EXAMPLES / "slackbot.yaml").read_text())


def test_crd_passes_the_kubernetes_1_32_schema_strictly():
    kubernetes_validate.validate(load_crd(), "1.32.0", strict=True)


def test_crd_names_match_the_shared_api_constants():
    crd = load_crd()
    assert crd["metadata"]["name"] == CRD_NAME
    assert crd["spec"]["group"] == GROUP
    assert crd["spec"]["names"]["kind"] == KIND
    assert crd["spec"]["names"]["plural"] == PLURAL
    assert SHORT_NAME in crd["spec"]["names"]["shortNames"]
    (version,) = crd["spec"]["versions"]
    assert version["name"] == VERSION and version["subresources"] == {"status": {}}


def test_open_api_schema_is_a_well_formed_json_schema():
    jsonschema.Draft7Validator.check_schema(open_api_schema())


def _walk(schema: dict, path: str = ""):
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _walk(schema[key], f"{path}[]")


def test_every_field_is_documented_for_kubectl_explain():
    # Array items and map values are explained by the field that holds them.
    undocumented = [f"{top}{path}" for top in ("spec", "status")
                    for path, node in _walk(open_api_schema()["properties"][top])
                    if "description" not in node and not path.endswith("[]")]
    assert undocumented == []


def test_printer_columns_show_model_effective_model_readiness_phase_the_bots_verdict_and_age():
    columns = {c["name"]: c["jsonPath"] for c in load_crd()["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert columns == {
        "Model": ".spec.model.name",
        "Effective": ".status.runtime.overrides.model.value",
        "Ready": '.status.conditions[?(@.type=="Ready")].status',
        "Phase": ".status.phase",
        "Bot": ".status.bot.reason",
        "Tools": ".status.tools.enabled",  # -o wide only
        "Message": '.status.conditions[?(@.type=="Ready")].message',  # -o wide only
        "Age": ".metadata.creationTimestamp",
    }


def test_the_bots_health_subtree_is_documented_with_every_reason():
    bot = open_api_schema()["properties"]["status"]["properties"][BOT_HEALTH]
    assert set(bot["properties"]) == {"ready", "reason", "message", "pod", "at"}
    assert all(reason in bot["properties"]["reason"]["description"] for reason in BOT_REASONS)
    access = open_api_schema()["properties"]["spec"]["properties"]["access"]["properties"]
    assert access["directMessages"]["enum"] == list(DirectMessages.__args__)


def test_status_enums_are_the_shared_phases_and_runtime_keys_are_documented():
    status = open_api_schema()["properties"]["status"]["properties"]
    assert tuple(status["phase"]["enum"]) == PHASES
    overrides_doc = status["runtime"]["properties"]["overrides"]["description"]
    assert all(key in overrides_doc for key in RUNTIME_KEYS)
    assert all(t in status["conditions"]["description"] for t in CONDITION_TYPES)


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: p.name)
def test_examples_pass_the_kubernetes_schemas(path: Path):
    for doc in yaml.safe_load_all(path.read_text()):
        if doc["apiVersion"] == API_VERSION:
            assert admit(doc) == []
            SlackBotSpec.from_manifest(doc)
        else:
            kubernetes_validate.validate(doc, "1.32.0", strict=True)


def _broken(mutate) -> dict:
    bot = copy.deepcopy(example_bot())
    mutate(bot["spec"])
    return bot


BROKEN_BOTS = {
    "temperature is a word": (lambda s: s["model"].__setitem__("temperature", "hot"), ".spec.model.temperature",
                              "is not of type 'number'"),
    "temperature above 2": (lambda s: s["model"].__setitem__("temperature", 2.5), ".spec.model.temperature",
                            "greater than the maximum of 2"),
    "more replicas than Slack has connections": (lambda s: s.__setitem__("replicas", 11), ".spec.replicas",
                                                 "greater than the maximum of 10"),
    "no secrets": (lambda s: s.pop("secrets"), ".spec", "'secrets' is a required property"),
    "no model name": (lambda s: s["model"].pop("name"), ".spec.model", "'name' is a required property"),
    "unknown pull policy": (lambda s: s["template"].__setitem__("imagePullPolicy", "Sometimes"),
                            ".spec.template.imagePullPolicy", "is not one of"),
    "unknown direct-message rule": (lambda s: s["access"].__setitem__("directMessages", "sometimes"),
                                    ".spec.access.directMessages", "is not one of"),
    "threshold above the context window": (
        lambda s: s["summarization"].__setitem__("thresholdTokens", 200_000), ".spec",
        "spec.summarization.thresholdTokens must be below spec.model.contextTokens"),
    "model outside the allowed list": (
        lambda s: s["model"].__setitem__("name", "gpt-5"), ".spec.model",
        "spec.model.name must be one of spec.model.allowedModels"),
    "extra env setting a variable the operator owns": (
        lambda s: s["template"].__setitem__("env", [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
                                                    {"name": "SLACK_BOT_TOKEN", "value": "xoxb-stolen"}]),
        ".spec.template.env", OWNED_ENV_MESSAGE),
    "a volume named like the operator's /tmp": (
        lambda s: s["template"].__setitem__("volumes", [{"name": "tmp", "emptyDir": {}}]), ".spec.template.volumes",
        "must not name a volume 'tmp'"),
    "a mount over the operator's /tmp": (
        lambda s: s["template"].__setitem__("volumeMounts", [{"name": "x", "mountPath": "/tmp"}]),
        ".spec.template.volumeMounts", "must not mount at /tmp"),
    "unknown streaming mode": (lambda s: s.__setitem__("slack", {"streaming": "fast"}), ".spec.slack.streaming",
                               "is not one of"),
    "unknown log format": (lambda s: s.__setitem__("logging", {"format": "xml"}), ".spec.logging.format",
                           "is not one of"),
    "output limit as large as the context window": (
        lambda s: s["model"].__setitem__("maxOutputTokens", 128_000), ".spec",
        "spec.model.maxOutputTokens must be below spec.model.contextTokens"),
}


@pytest.mark.parametrize("case", BROKEN_BOTS, ids=str)
def test_a_broken_bot_is_refused_by_the_crd_and_the_bot_alike_saying_why(case):
    mutate, where, why = BROKEN_BOTS[case]
    rejections = admit(_broken(mutate))
    assert [(r.path, why in r.message) for r in rejections] == [(where, True)], rejections
    with pytest.raises(ConfigError):  # the operator's view
        SlackBotSpec.from_manifest(_broken(mutate), require_secrets=True)
    if case != "no secrets":  # the bot's own: its credentials come from the environment (`h1bot chat --spec`)
        with pytest.raises(ConfigError):
            SlackBotSpec.from_manifest(_broken(mutate))


def test_cel_messages_are_the_ones_the_bot_gives():
    for case in ("threshold above the context window", "model outside the allowed list",
                 "output limit as large as the context window", "extra env setting a variable the operator owns",
                 "a volume named like the operator's /tmp", "a mount over the operator's /tmp"):
        mutate, _, why = BROKEN_BOTS[case]
        with pytest.raises(ConfigError, match=re.escape(why)):
            SlackBotSpec.from_manifest(_broken(mutate))


def with_env(*names: str) -> dict:
    return _broken(lambda s: s["template"].__setitem__("env", [{"name": n, "value": "x"} for n in names]))


@pytest.mark.parametrize("name", OWNED_ENV)
def test_every_variable_the_operator_owns_is_refused_in_extra_env(name):
    assert [(r.path, r.message, r.by) for r in admit(with_env("TZ", name))] == [
        (".spec.template.env", OWNED_ENV_MESSAGE, "cel")]
    with pytest.raises(ConfigError, match=re.escape(OWNED_ENV_MESSAGE)):
        SlackBotSpec.from_manifest(with_env("TZ", name))


def test_proxy_ca_bundle_and_placement_are_admitted():
    def mutate(spec):
        spec["slack"] = {"streaming": "native", "updateIntervalSeconds": 0.5}
        spec["logging"] = {"format": "json", "level": "DEBUG"}
        spec["template"].update(
            env=[{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}, {"name": "NO_PROXY", "value": ".svc"},
                 {"name": "SSL_CERT_FILE", "value": "/etc/ca/ca.crt"},
                 {"name": "SLACK_BOT_TOKEN_FILE", "value": "not owned: a different name"}],
            envFrom=[{"secretRef": {"name": "proxy-auth"}}],
            volumes=[{"name": "ca", "configMap": {"name": "corp-ca"}}],
            volumeMounts=[{"name": "ca", "mountPath": "/etc/ca", "readOnly": True}],
            serviceAccountAnnotations={"iam.gke.io/gcp-service-account": "b@p.iam.gserviceaccount.com"},
            affinity={"podAntiAffinity": {}}, topologySpreadConstraints=[{"maxSkew": 1}], priorityClassName="high")
    bot = _broken(mutate)
    assert admit(bot) == []
    spec = SlackBotSpec.from_manifest(bot)
    assert (spec.slack.streaming, spec.logging.format, spec.template.volume_mounts[0].mount_path) == (
        "native", "json", "/etc/ca")


def test_the_crds_list_of_owned_variables_is_the_shared_one():
    env = open_api_schema()["properties"]["spec"]["properties"]["template"]["properties"]["env"]
    (rule,) = env["x-kubernetes-validations"]
    assert (rule["rule"], rule["message"]) == (OWNED_ENV_CEL, OWNED_ENV_MESSAGE)
    assert set(OWNED_ENV) == {*SECRET_ENV.values(), *TYPED_ENV.values(), "H1BOT_NAME", "H1BOT_NAMESPACE",
                              "H1BOT_HTTP_PORT", "H1BOT_ALLOWED_BASE_URLS"}


def minimal_bot(**model) -> dict:
    """A SlackBot with nothing but its model and its Secrets: every other field comes from the defaults."""
    bot = example_bot()
    bot["spec"] = {"model": model, "secrets": bot["spec"]["secrets"]}
    return bot


def test_a_bot_giving_only_a_small_context_window_is_admitted_with_a_default_output_limit_below_it():
    # The API server fills in defaults before its CEL rules run: a fixed maxOutputTokens default of 1024 made this
    # SlackBot contradict the rule that the output limit is below the context window.
    bot = minimal_bot(name="my-local-model", contextTokens=1024)
    assert admit(bot) == []
    spec = SlackBotSpec.from_manifest(bot)
    assert spec.model.max_output_tokens == 256
    assert resolve_limits(spec.model, spec.summarization).history_tokens > 0


def test_the_output_limit_defaults_to_1024_when_the_context_window_allows_it():
    assert SlackBotSpec.from_manifest(minimal_bot(name="gpt-4o-mini")).model.max_output_tokens == 1024
    big = minimal_bot(name="my-local-model", contextTokens=32_768)
    assert SlackBotSpec.from_manifest(big).model.max_output_tokens == 1024
    explicit = minimal_bot(name="m", contextTokens=1024, maxOutputTokens=1024)
    assert [r.message for r in admit(explicit)] == ["spec.model.maxOutputTokens must be below spec.model.contextTokens"]
    with pytest.raises(ConfigError, match="maxOutputTokens must be below"):
        SlackBotSpec.from_manifest(explicit)


def test_no_default_of_the_crd_breaks_its_own_rules():
    # The smallest context windows the schema allows, with every other field left to its default.
    for context in (1024, 1025, 4096):
        bot = minimal_bot(name="m", contextTokens=context)
        assert admit(bot) == [], context
        SlackBotSpec.from_manifest(bot)


def _pydantic_field(model_cls, camel_name: str) -> FieldInfo | None:
    for name, field in model_cls.model_fields.items():
        if (field.alias or name) == camel_name:
            return field
    return None


def _bounds(field: FieldInfo) -> dict:
    found = {}
    for meta in field.metadata:
        for attr, key in (("ge", "minimum"), ("le", "maximum"), ("min_length", "minLength"),
                          ("max_length", "maxLength")):
            if getattr(meta, attr, None) is not None:
                found[key] = getattr(meta, attr)
    return found


def _compare(schema: dict, model_cls, path: str, mismatches: list):
    for camel, node in schema.get("properties", {}).items():
        field = _pydantic_field(model_cls, camel)
        if field is None:
            mismatches.append(f"{path}.{camel}: not in the pydantic model")
            continue
        # Arrays: maxItems is the tuple's max_length; strings: minLength/maxLength.
        schema_bounds = {k: node[k] for k in ("minimum", "maximum", "minLength", "maxLength") if k in node}
        if "maxItems" in node:
            schema_bounds["maxLength"] = node["maxItems"]
        model_bounds = _bounds(field)
        if schema_bounds != model_bounds:
            mismatches.append(f"{path}.{camel}: CRD {schema_bounds} != model {model_bounds}")
        literals = [a for a in getattr(field.annotation, "__args__", ()) if get_origin(a) is Literal]
        if "enum" in node and literals and set(node["enum"]) != set(get_args(literals[0])):
            mismatches.append(f"{path}.{camel}: CRD enum {node['enum']} != model {get_args(literals[0])}")
        default = list(field.default) if isinstance(field.default, tuple) else field.default  # tuples: frozen lists
        if "default" in node and default != node["default"]:
            mismatches.append(f"{path}.{camel}: CRD default {node['default']!r} != model {field.default!r}")
        annotation = field.annotation
        nested = next((a for a in getattr(annotation, "__args__", (annotation,)) if hasattr(a, "model_fields")), None)
        if node.get("type") == "object" and "properties" in node and nested is not None:
            _compare(node, nested, f"{path}.{camel}", mismatches)
    for name, field in model_cls.model_fields.items():
        if (field.alias or name) not in schema.get("properties", {}):
            mismatches.append(f"{path}.{field.alias or name}: not in the CRD")


def test_the_bots_spec_model_agrees_with_the_crd_on_fields_bounds_and_defaults():
    mismatches: list[str] = []
    _compare(open_api_schema()["properties"]["spec"], SlackBotSpec, "spec", mismatches)
    assert mismatches == []
