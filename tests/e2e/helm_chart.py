"""The h1bot-operator chart as the tests load and render it: Helm's own Go SDK (helm-python-sdk), offline."""

from typing import Any

import yaml

from tests.paths import REPO

CHART_DIR = REPO / "charts" / "h1bot-operator"
RELEASE, NAMESPACE = "h1bot-operator", "h1bot"
KUBE_VERSION = "1.32.0"


def render(chart, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object an install with `values` would create (templates only; CRDs come from crds/)."""
    manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE)
    return [doc for path, text in sorted(manifests.items()) if path.endswith(".yaml")
            for doc in yaml.safe_load_all(text) if doc]


def only(objects: list[dict[str, Any]], kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects
            if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)]
