"""The h1bot-operator chart checked offline with Helm's own Go SDK (helm-python-sdk): strict lint, Kubernetes 1.32
schemas for every object it renders, values.schema.json (its refusals, its descriptions, the owned variables),
and what it must keep in step with the project (the CRD copy, the versions).
"""

import tomllib
from typing import Any

import helm_python as helm
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, validate

from h1bot_api.botenv import OWNED_ENV
from tests.e2e.chart_cases import EVERYTHING_CHANGED, NAMESPACED
from tests.e2e.helm_chart import CHART_DIR, KUBE_VERSION, NAMESPACE, RELEASE, render
from tests.paths import REPO


@pytest.mark.parametrize("values", [{}, NAMESPACED, EVERYTHING_CHANGED], ids=["default", "namespaced", "changed"])
def test_every_rendered_object_passes_the_kubernetes_1_32_strict_schemas(chart, values):
    checked = 0
    for obj in render(chart, values) + [yaml.safe_load(crd["data"]) for crd in chart.crds]:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # not in the Kubernetes schemas (Prometheus Operator kinds): test_chart_values.py checks them
        try:
            validate(obj, KUBE_VERSION, strict=True)
        except ValidationError as error:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, error.path))}: {error.message}")
        except SchemaNotFoundError as error:
            pytest.fail(error.message)
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("values", [None, NAMESPACED, EVERYTHING_CHANGED], ids=["default", "namespaced", "changed"])
def test_strict_lint_finds_nothing(values):
    report = helm.lint(CHART_DIR, values, strict=True, kube_version=f"v{KUBE_VERSION}", namespace=NAMESPACE)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(("values", "complaint"), [
    ({"logFormat": "xml"}, "/logFormat"),
    ({"watchNamespaces": ["Team_A"]}, "/watchNamespaces/0"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"resources": "small"}, "/resources"),
    ({"podMonitor": {"interval": "often"}}, "/podMonitor/interval"),
    ({"replicas": 2}, "additional properties 'replicas' not allowed"),
    ({"botImage": {"repo": "x"}}, "additional properties 'repo' not allowed"),
    ({"bots": {"logFormat": "xml"}}, "/bots/logFormat"),
    ({"bots": {"updateIntervalSeconds": 0.01}}, "/bots/updateIntervalSeconds"),
    ({"bots": {"env": [{"name": "SLACK_BOT_TOKEN", "value": "xoxb-1"}]}}, "/bots/env/0/name"),
    ({"bots": {"env": [{"name": "LOG_LEVEL", "value": "DEBUG"}]}}, "/bots/env/0/name"),
], ids=["log-format", "namespace-name", "pull-policy", "resources-type", "interval", "replicas", "bot-image-key",
        "bots-log-format", "bots-update-interval", "bots-env-credential", "bots-env-typed"])
def test_values_schema_refuses_bad_values_and_names_them(chart, values, complaint):
    with pytest.raises(helm.HelmValuesError) as refused:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert complaint in str(refused.value)


def test_the_charts_list_of_owned_variables_is_the_shared_one(chart):
    name = chart.schema["properties"]["bots"]["properties"]["env"]["items"]["properties"]["name"]
    assert tuple(name["not"]["enum"]) == OWNED_ENV


def test_values_schema_describes_every_default_value(chart):
    def paths(values: dict[str, Any], schema: dict[str, Any], prefix: str = ""):
        for key, value in values.items():
            assert key in schema.get("properties", {}), f"{prefix}{key} is not in values.schema.json"
            field = schema["properties"][key]
            assert field.get("description"), f"{prefix}{key} has no description"
            yield prefix + key
            if isinstance(value, dict) and "properties" in field:
                yield from paths(value, field, f"{prefix}{key}.")

    schema = chart.schema
    assert schema["additionalProperties"] is False
    covered = set(paths(chart.values, schema))
    helm_owned = {"global"}  # Helm passes a parent chart's globals to its subcharts
    assert set(schema["properties"]) - helm_owned <= covered, "every schema value has a default in values.yaml"


def test_chart_ships_the_one_crd_byte_for_byte(chart):
    top = REPO / "crds" / "slackbots.chatops.h1bot.dev.yaml"
    copy = CHART_DIR / "crds" / top.name
    assert copy.read_bytes() == top.read_bytes(), f"CRD changed: cp {top.relative_to(REPO)} {copy.relative_to(REPO)}"
    assert [c["filename"] for c in chart.crds] == [f"{chart.name}/crds/{top.name}"]


def test_chart_versions_follow_the_project(chart):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart.metadata["apiVersion"] == "v2"
    assert chart.metadata["appVersion"] == project["version"]
