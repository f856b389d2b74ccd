"""The chart as a dependency of a platform team's umbrella chart: Helm passes the parent's `global` values to every
subchart, so the values schema must accept them, and the parent's overrides reach this chart."""

import shutil
from pathlib import Path

import helm_python as helm
import yaml

from tests.e2e.helm_chart import CHART_DIR, NAMESPACE


def umbrella(tmp_path: Path) -> Path:
    parent = tmp_path / "platform"
    shutil.copytree(CHART_DIR, parent / "charts" / CHART_DIR.name)
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    (parent / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "platform", "version": "1.0.0",
        "dependencies": [{"name": chart["name"], "version": chart["version"]}]}))
    return parent


def test_the_chart_renders_as_a_subchart_with_the_parents_globals_and_overrides(tmp_path):
    values = {"global": {"imageRegistry": "registry.example", "labels": {"team": "platform"}},
              "h1bot-operator": {"logFormat": "json", "watchNamespaces": ["chatops"]}}
    with helm.Chart.load(umbrella(tmp_path)) as parent:
        manifests = parent.render(values, name="platform", namespace=NAMESPACE)
    objects = [doc for path, text in sorted(manifests.items()) if path.endswith(".yaml")
               for doc in yaml.safe_load_all(text) if doc]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["LOG_FORMAT"] == "json"
    assert [o["metadata"]["namespace"] for o in objects if o["kind"] == "Role"] == ["chatops"]
