"""skaffold.yaml: valid for skaffold v4beta13, builds what exists, and hands the built images to the chart values the
operator reads (so `skaffold dev` rolls the operator and, through it, the bots).

skaffold's official schema is not part of this repository: it is read from ../shared/schemas/skaffold/ next to the
checkout when present (CI and the dev machines have it), and that one check is skipped otherwise.
"""

import json
import re
from typing import Any

import helm_python as helm
import jsonpatch
import jsonschema
import pytest
import yaml

from tests.paths import REPO

# Next to the checkout (../shared), or next to the folder of worktrees (../../shared) for a checkout in one.
_SCHEMA_CANDIDATES = [base / "shared" / "schemas" / "skaffold" / "v4beta13.json"
                      for base in (REPO.parent, REPO.parent.parent)]
SKAFFOLD_SCHEMA = next((path for path in _SCHEMA_CANDIDATES if path.exists()), _SCHEMA_CANDIDATES[0])
TEMPLATE_VARIABLE = re.compile(r"\{\{\s*\.(IMAGE_(?:FULLY_QUALIFIED|REPO|TAG|DIGEST)_([A-Za-z0-9_]+))\s*\}\}")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.safe_load((REPO / "skaffold.yaml").read_text())


def profile(config: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [p for p in config["profiles"] if p["name"] == name]
    return found


def the_release(config: dict[str, Any]) -> dict[str, Any]:
    (release,) = config["deploy"]["helm"]["releases"]
    return release


def test_skaffold_config_is_v4beta13():
    text = (REPO / "skaffold.yaml").read_text()
    assert re.search(r"^apiVersion: skaffold/v4beta13$", text, re.MULTILINE)
    assert re.search(r"^kind: Config$", text, re.MULTILINE)


@pytest.mark.skipif(not SKAFFOLD_SCHEMA.exists(), reason=f"skaffold's schema is not at {SKAFFOLD_SCHEMA}")
def test_skaffold_config_matches_the_official_schema(config):
    validator = jsonschema.Draft7Validator(json.loads(SKAFFOLD_SCHEMA.read_text()))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(config)]
    assert errors == []
    # and the schema is strict enough to notice a typo, so the check above means something
    typo = {**config, "build": {**config["build"], "artifact": config["build"]["artifacts"]}}
    assert list(validator.iter_errors(typo))


def test_both_images_are_built_from_dockerfiles_that_exist(config):
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    assert set(artifacts) == {"h1bot-operator", "h1bot-bot"}
    for name, artifact in artifacts.items():
        context = REPO / artifact.get("context", ".")
        assert context.resolve() == REPO, "the images need pyproject.toml and both source roots"
        dockerfile = context / artifact["docker"]["dockerfile"]
        assert dockerfile.is_file(), dockerfile
        assert dockerfile.name == f"Dockerfile.{name.removeprefix('h1bot-')}"


def test_the_release_deploys_the_chart_in_this_repository(config):
    release = the_release(config)
    chart_dir = REPO / release["chartPath"]
    assert (chart_dir / "Chart.yaml").is_file()
    with helm.Chart.load(chart_dir) as chart:
        assert chart.name == "h1bot-operator"


def test_built_image_references_land_in_the_values_the_chart_renders(config):
    """Substitute skaffold's template variables the way skaffold does and render: the operator runs the operator
    image just built, and its H1BOT_BOT_IMAGE names the bot image just built."""
    release = the_release(config)
    artifacts = {a["image"].replace("-", "_").replace("/", "_") for a in config["build"]["artifacts"]}
    built = {f"IMAGE_FULLY_QUALIFIED_{name}": f"europe-docker.pkg.dev/p/h1bot/{name}:abc@sha256:{i * 64}"
             for name, i in (("h1bot_operator", "1"), ("h1bot_bot", "2"))}
    values: dict[str, Any] = {}
    for key, template in release["setValueTemplates"].items():
        variables = TEMPLATE_VARIABLE.findall(template)
        assert variables, f"{key} names no image variable"
        assert {artifact for _, artifact in variables} <= artifacts, f"{key} names an image that is not built"
        rendered = TEMPLATE_VARIABLE.sub(lambda m: built[m.group(1)], template)
        node = values
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = rendered
    for key, value in release.get("setValues", {}).items():
        values[key] = value
    with helm.Chart.load(REPO / release["chartPath"]) as chart:
        manifests = chart.render(values, name=release["name"], namespace=release["namespace"])
    (deployment,) = [d for path, text in manifests.items() if path.endswith(".yaml")
                     for d in yaml.safe_load_all(text) if d and d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == built["IMAGE_FULLY_QUALIFIED_h1bot_operator"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["H1BOT_BOT_IMAGE"] == built["IMAGE_FULLY_QUALIFIED_h1bot_bot"]


def test_gke_profile_pushes_amd64_images_and_pins_no_cluster(config):
    gke = profile(config, "gke")
    assert gke["build"]["local"]["push"] is True
    assert gke["build"]["platforms"] == ["linux/amd64"]
    text = (REPO / "skaffold.yaml").read_text()
    assert "kubeContext" not in text, "the kube context comes from the user (current context or --kube-context)"
    assert "--default-repo" in text


def test_on_gke_the_operator_and_every_bot_log_json_for_cloud_logging(config):
    """The gke profile's patches applied as skaffold applies them, its setValues passed as `--set` (dotted keys)."""
    patched = jsonpatch.apply_patch(config, profile(config, "gke")["patches"])
    if SKAFFOLD_SCHEMA.exists():
        assert list(jsonschema.Draft7Validator(json.loads(SKAFFOLD_SCHEMA.read_text())).iter_errors(patched)) == []
    release = the_release(patched)
    values: dict[str, Any] = {}
    for key, value in release["setValues"].items():
        *parents, leaf = key.split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    with helm.Chart.load(REPO / release["chartPath"]) as chart:
        manifests = chart.render(values, name=release["name"], namespace=release["namespace"])
    (deployment,) = [d for path, text in manifests.items() if path.endswith(".yaml")
                     for d in yaml.safe_load_all(text) if d and d["kind"] == "Deployment"]
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (env["LOG_FORMAT"], env["H1BOT_BOTS_LOG_FORMAT"]) == ("json", "json")
    assert "bots.logFormat" not in the_release(config)["setValues"], "text logs elsewhere (skaffold dev -p local)"


def test_local_profile_never_pushes(config):
    assert profile(config, "local")["build"]["local"]["push"] is False
