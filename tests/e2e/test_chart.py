"""The h1bot-operator Helm chart, rendered offline with Helm's own Go SDK (helm-python-sdk): what an install creates
in each RBAC mode, how values change it, strict lint, Kubernetes 1.32 schemas, and values.schema.json refusals.

test_chart_install.py runs what it renders.
"""

import json
import re
import tomllib
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, validate

from h1bot_api import CREDENTIALS_LABEL
from h1bot_api.botenv import OWNED_ENV
from h1bot_api.spec import SlackBotSpec
from h1bot_api.tools_spec import ACTION_NAMES, READABLE_RESOURCES
from h1bot_operator import render as bot_render
from h1bot_operator.settings import OperatorSettings
from h1bot_operator.tool_rbac import rules_by_namespace
from tests.e2e.helm_chart import CHART_DIR, KUBE_VERSION, NAMESPACE, RELEASE, only, render
from tests.paths import REPO

BOT = {"metadata": {"name": "helpdesk", "namespace": "team-a", "uid": "0000-1111"}}

NAMESPACED = {"watchNamespaces": ["team-a", "team-b"]}
EVERYTHING_CHANGED = {
    "image": {"repository": "europe-docker.pkg.dev/p/h1bot/h1bot-operator", "tag": "1.2.3", "pullPolicy": "Always"},
    "botImage": {"repository": "europe-docker.pkg.dev/p/h1bot/h1bot-bot", "tag": "1.2.3"},
    "imagePullSecrets": [{"name": "registry"}],
    "watchNamespaces": ["team-a"],
    "logFormat": "json",
    "bots": {"streaming": "native", "updateIntervalSeconds": 0.5, "logFormat": "json", "logLevel": "WARNING",
             "env": [{"name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"},
                     {"name": "NO_PROXY", "value": ".svc,.cluster.local"}]},
    "peering": {"name": "h1bot"},
    "serviceAccount": {"create": True, "name": "bots-operator", "annotations": {"example.com/owner": "platform"}},
    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": 1, "memory": "512Mi"}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
    "podAnnotations": {"example.com/scrape": "false"},
    "commonLabels": {"team": "platform"},
    "metricsPort": 9100,
    "resyncSeconds": 60,
    "secrets": {"requireOptInLabel": False},
    "models": {"allowedBaseURLs": ["https://api.openai.com/*", "https://*.openai.azure.com/*"]},
    "tools": {"namespaces": ["payments", "checkout"]},
    "podMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prometheus"}},
    "fullnameOverride": "chatops",
}


NO_BOT_DEFAULTS = {"H1BOT_BOTS_STREAMING": "", "H1BOT_BOTS_UPDATE_INTERVAL": "", "H1BOT_BOTS_LOG_FORMAT": "",
                   "H1BOT_BOTS_LOG_LEVEL": "", "H1BOT_BOTS_ENV": "[]"}


def aggregated(role: dict[str, Any]) -> bool:
    return any(k.startswith("rbac.authorization.k8s.io/aggregate-to-") for k in role["metadata"]["labels"])


def operator_cluster_roles(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operator's own ClusterRoles (not the ones aggregated into view/edit/admin for SlackBot users)."""
    return [role for role in only(objects, "ClusterRole") if not aggregated(role)]


def notes(chart, values: dict[str, Any] | None = None) -> str:
    return chart.render(values or {}, name=RELEASE, namespace=NAMESPACE)[f"{chart.name}/templates/NOTES.txt"]


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = only(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def grants(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def test_default_install_serves_all_namespaces_through_one_cluster_role(chart):
    objects = render(chart)
    assert sorted(o["kind"] for o in objects if not (o["kind"] == "ClusterRole" and aggregated(o))) == [
        "ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"]
    (role,), (binding,) = operator_cluster_roles(objects), only(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]
    rules = role["rules"]
    for verb in ("get", "list", "watch", "patch", "update"):
        assert grants(rules, "chatops.h1bot.dev", "slackbots", verb)
        assert grants(rules, "chatops.h1bot.dev", "slackbots/status", verb)
    for group, resource in (("apps", "deployments"), ("", "serviceaccounts"),
                            ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings")):
        for verb in ("create", "get", "list", "watch", "patch", "update", "delete"):
            assert grants(rules, group, resource, verb), (group, resource, verb)
    assert all(grants(rules, "", "secrets", verb) for verb in ("get", "list", "watch"))
    assert not any(grants(rules, "", "secrets", verb) for verb in ("create", "patch", "update", "delete"))
    assert grants(rules, "", "events", "create") and grants(rules, "", "events", "patch")
    assert grants(rules, "apiextensions.k8s.io", "customresourcedefinitions", "watch")
    assert not grants(rules, "kopf.dev", "clusterkopfpeerings", "get"), "no peering rules unless peering is on"
    assert env_of(operator_container(objects))["H1BOT_NAMESPACES"] == ""


def test_watched_namespaces_get_a_role_each_and_the_cluster_sees_only_discovery(chart):
    objects = render(chart, NAMESPACED)
    for namespace in ("team-a", "team-b"):
        (role,), (binding,) = only(objects, "Role", namespace), only(objects, "RoleBinding", namespace)
        assert grants(role["rules"], "apps", "deployments", "create")
        assert grants(role["rules"], "", "secrets", "watch")
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": role["metadata"]["name"]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]
    assert not only(objects, "Role", NAMESPACE), "the operator's own namespace is not served unless listed"
    (cluster_role,) = operator_cluster_roles(objects)
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {"customresourcedefinitions",
                                                                                 "namespaces"}
    assert env_of(operator_container(objects))["H1BOT_NAMESPACES"] == "team-a,team-b"


def test_peering_grants_kopf_peering_objects_at_the_scope_the_operator_serves(chart):
    cluster_wide = render(chart, {"peering": {"name": "h1bot"}})
    (role,) = operator_cluster_roles(cluster_wide)
    for group in ("kopf.dev", "zalando.org"):
        assert grants(role["rules"], group, "clusterkopfpeerings", "patch")
    assert env_of(operator_container(cluster_wide))["H1BOT_PEERING"] == "h1bot"

    namespaced = render(chart, {**NAMESPACED, "peering": {"name": "h1bot"}})
    for role in only(namespaced, "Role"):
        assert grants(role["rules"], "kopf.dev", "kopfpeerings", "patch")
    assert env_of(operator_container(render(chart)))["H1BOT_PEERING"] == "", "standalone by default"


def test_operator_runs_once_non_root_read_only_with_kopf_liveness_probes(chart):
    objects = render(chart)
    (deployment,) = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    container = operator_container(objects)
    assert container["image"] == f"ghcr.io/h1bot/h1bot-operator:{chart.metadata['appVersion']}"
    assert container["command"] == ["h1bot-operator"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    health, metrics = container["ports"]
    assert (health["containerPort"], metrics["name"], metrics["containerPort"]) == (8080, "metrics", 9090)
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": health["name"]}
    assert container["resources"] == {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
    env = env_of(container)
    assert env == {"H1BOT_BOT_IMAGE": f"ghcr.io/h1bot/h1bot-bot:{chart.metadata['appVersion']}",
                   "H1BOT_NAMESPACES": "", "LOG_FORMAT": "text", "H1BOT_PEERING": "", "H1BOT_METRICS_PORT": "9090",
                   "H1BOT_RESYNC_SECONDS": "300", **NO_BOT_DEFAULTS, "H1BOT_REQUIRE_SECRET_LABEL": "true",
                   "H1BOT_ALLOWED_BASE_URLS": "https://*", "H1BOT_TOOL_NAMESPACES": ""}


def test_non_default_values_reach_the_objects(chart):
    objects = render(chart, EVERYTHING_CHANGED)
    (deployment,) = only(objects, "Deployment")
    assert deployment["metadata"]["name"] == "chatops"
    pod = deployment["spec"]["template"]
    container = operator_container(objects)
    assert container["image"] == "europe-docker.pkg.dev/p/h1bot/h1bot-operator:1.2.3"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == EVERYTHING_CHANGED["resources"]
    assert env_of(container) == {"H1BOT_BOT_IMAGE": "europe-docker.pkg.dev/p/h1bot/h1bot-bot:1.2.3",
                                 "H1BOT_NAMESPACES": "team-a", "LOG_FORMAT": "json", "H1BOT_PEERING": "h1bot",
                                 "H1BOT_METRICS_PORT": "9100", "H1BOT_RESYNC_SECONDS": "60",
                                 "H1BOT_BOTS_STREAMING": "native", "H1BOT_BOTS_UPDATE_INTERVAL": "0.5",
                                 "H1BOT_BOTS_LOG_FORMAT": "json", "H1BOT_BOTS_LOG_LEVEL": "WARNING",
                                 "H1BOT_BOTS_ENV": json.dumps(EVERYTHING_CHANGED["bots"]["env"],
                                                              separators=(",", ":")),
                                 "H1BOT_REQUIRE_SECRET_LABEL": "false",
                                 "H1BOT_ALLOWED_BASE_URLS": "https://api.openai.com/*,https://*.openai.azure.com/*",
                                 "H1BOT_TOOL_NAMESPACES": "payments,checkout"}
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in container["ports"]
    for key in ("nodeSelector", "tolerations", "affinity", "imagePullSecrets"):
        assert pod["spec"][key] == EVERYTHING_CHANGED[key]
    assert pod["spec"]["serviceAccountName"] == "bots-operator"
    assert pod["metadata"]["annotations"] == {"example.com/scrape": "false"}
    (account,) = only(objects, "ServiceAccount")
    assert account["metadata"]["annotations"] == {"example.com/owner": "platform"}
    for obj in objects:
        assert obj["metadata"]["labels"]["team"] == "platform", obj["kind"]
    assert pod["metadata"]["labels"]["team"] == "platform"
    operator_monitor, monitor = only(objects, "PodMonitor")
    assert operator_monitor["metadata"]["labels"]["release"] == monitor["metadata"]["labels"]["release"]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["team-a"]}


def test_skaffold_style_full_references_win_over_repository_and_tag(chart):
    operator_ref = "europe-docker.pkg.dev/p/h1bot/h1bot-operator:abc123@sha256:" + "a" * 64
    bot_ref = "europe-docker.pkg.dev/p/h1bot/h1bot-bot:abc123@sha256:" + "b" * 64
    container = operator_container(render(chart, {"image": {"reference": operator_ref},
                                                  "botImage": {"reference": bot_ref}}))
    assert container["image"] == operator_ref
    assert env_of(container)["H1BOT_BOT_IMAGE"] == bot_ref


def test_a_new_bot_image_changes_the_operator_pod_template_so_the_operator_restarts(chart):
    """The operator re-renders every bot Deployment when it starts: a new botImage must restart it."""
    before = only(render(chart, {"botImage": {"tag": "1.0.0"}}), "Deployment")[0]["spec"]["template"]
    after = only(render(chart, {"botImage": {"tag": "1.0.1"}}), "Deployment")[0]["spec"]["template"]
    assert before != after
    (before_container,), (after_container,) = before["spec"]["containers"], after["spec"]["containers"]
    assert env_of(after_container)["H1BOT_BOT_IMAGE"].endswith(":1.0.1")
    assert {k: v for k, v in env_of(before_container).items() if k != "H1BOT_BOT_IMAGE"} == \
        {k: v for k, v in env_of(after_container).items() if k != "H1BOT_BOT_IMAGE"}


def test_pod_monitor_scrapes_the_bots_pods_wherever_they_run(chart):
    assert not only(render(chart), "PodMonitor"), "off by default: it needs the Prometheus Operator CRDs"
    _, monitor = only(render(chart, {"podMonitor": {"enabled": True}}), "PodMonitor")
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
    # the labels and port of the pods the operator renders for a bot
    pod = bot_render.deployment(BOT, _example_spec(), OperatorSettings(bot_image="bot:1"), "sum")["spec"]["template"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert selector.items() <= bot_render.labels("another-bot").items(), "one selector for every bot"
    (container,) = pod["spec"]["containers"]
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] in {p["name"] for p in container["ports"]}


def test_pod_monitor_scrapes_the_operators_own_metrics_port(chart):
    objects = render(chart, {"podMonitor": {"enabled": True}})
    operator_monitor, _ = only(objects, "PodMonitor")
    (deployment,) = only(objects, "Deployment")
    assert operator_monitor["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert operator_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert [m["metadata"]["name"] for m in only(render(chart, {"podMonitor": {"enabled": True}, "metricsPort": 0}),
                                                "PodMonitor")] == ["h1bot-operator-bots"], "no port, no monitor"


def _example_spec():
    from h1bot_api.spec import SlackBotSpec

    return SlackBotSpec.from_manifest(yaml.safe_load((REPO / "examples" / "slackbot.yaml").read_text()))


def covered(rules: list[dict[str, Any]], needed: dict[str, Any]) -> bool:
    """Whether `rules` grant everything `needed` grants (a rule without resourceNames covers every name)."""
    return all(any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
                   and (not r.get("resourceNames") or set(needed.get("resourceNames", ())) <= set(r["resourceNames"]))
                   for r in rules)
               for group in needed["apiGroups"] for resource in needed["resources"] for verb in needed["verbs"])


@pytest.mark.parametrize("values", [{}, {"watchNamespaces": ["team-a"]}], ids=["cluster-wide", "namespaced"])
def test_operator_holds_every_permission_it_grants_to_a_bot(chart, values):
    """RBAC escalation prevention: a Role can only be created by a subject that holds its permissions itself."""
    objects = render(chart, values)
    roles = only(objects, "ClusterRole") if not values else only(objects, "Role", "team-a")
    operator_rules = [rule for role in roles for rule in role["rules"]]
    for rule in bot_render.role(BOT)["rules"]:
        assert covered(operator_rules, rule), f"the operator cannot grant {rule}"


@pytest.mark.parametrize("values", [{}, {"watchNamespaces": ["team-a"]}], ids=["cluster-wide", "namespaced"])
def test_operator_may_manage_every_child_kind_it_watches(chart, values):
    """Each kind in handlers.CHILDREN (among them policy/v1 PodDisruptionBudgets of replicated bots) is watched,
    created, patched and deleted by the operator: both RBAC modes grant it all."""
    from h1bot_operator.handlers import CHILDREN

    objects = render(chart, values)
    roles = operator_cluster_roles(objects) if not values else only(objects, "Role", "team-a")
    rules = [rule for role in roles for rule in role["rules"]]
    assert ("policy", "v1", "poddisruptionbudgets") in CHILDREN
    for group, _version, plural in CHILDREN:
        for verb in ("get", "list", "watch", "create", "patch", "delete"):
            assert grants(rules, group, plural, verb), (group, plural, verb)


def test_probes_hit_the_operators_own_liveness_endpoint(chart):
    default = urlsplit(OperatorSettings().liveness_endpoint)
    container = operator_container(render(chart))
    assert container["ports"][0]["containerPort"] == default.port
    assert container["livenessProbe"]["httpGet"]["path"] == default.path


def test_every_object_carries_the_standard_labels(chart):
    for obj in render(chart, NAMESPACED):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "h1bot-operator"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/version"] == chart.metadata["appVersion"]
        assert labels["app.kubernetes.io/part-of"] == "h1bot"


@pytest.mark.parametrize("values", [{}, NAMESPACED, EVERYTHING_CHANGED], ids=["default", "namespaced", "changed"])
def test_every_rendered_object_passes_the_kubernetes_1_32_strict_schemas(chart, values):
    checked = 0
    for obj in render(chart, values) + [yaml.safe_load(crd["data"]) for crd in chart.crds]:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # Prometheus Operator kinds are not in the Kubernetes schemas; checked field by field above
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


def test_bot_defaults_reach_every_bot_deployment_through_the_operator(chart):
    """Chart values → the operator's env → OperatorSettings → the Deployment of a bot that sets nothing itself."""
    settings = OperatorSettings.from_env(env_of(operator_container(render(chart, EVERYTHING_CHANGED))))
    bot = {"metadata": {"name": "plain", "namespace": "team-a", "uid": "u-1"},
           "spec": {"model": {"name": "gpt-4o-mini"}, "secrets": {
               key: {"name": "creds", "key": key} for key in ("slackBotToken", "slackAppToken", "openAIAPIKey")}}}
    deployment = bot_render.deployment(bot, SlackBotSpec.from_manifest(bot), settings, "sha256:1")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (env["H1BOT_SLACK_STREAMING"], env["H1BOT_UPDATE_INTERVAL"]) == ("native", "0.5")
    assert (env["LOG_FORMAT"], env["LOG_LEVEL"]) == ("json", "WARNING")
    assert (env["HTTPS_PROXY"], env["NO_PROXY"]) == ("http://proxy.corp:3128", ".svc,.cluster.local")
    defaults = OperatorSettings.from_env(env_of(operator_container(render(chart)))).bot_defaults
    assert defaults.slack.model_dump(exclude_none=True) == {} and defaults.logging.model_dump(exclude_none=True) == {}
    assert defaults.env == ()


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


def test_notes_tell_the_next_steps(chart):
    text = notes(chart)
    for step in ("kubectl create secret generic", "kubectl apply -f examples/slackbot.yaml", "kubectl get sb"):
        assert step in text
    assert "every namespace" in text
    assert "team-a, team-b" in notes(chart, NAMESPACED)
    # the Secret the notes create holds every key of the SlackBot they apply, and opts in, or it never resolves
    example = yaml.safe_load((REPO / "examples" / "slackbot.yaml").read_text())
    assert set(re.findall(r"--from-literal=([\w-]+)=", text)) == {
        ref["key"] for ref in example["spec"]["secrets"].values()}
    assert f"kubectl label secret h1bot-credentials {CREDENTIALS_LABEL}=true" in text



def test_namespace_users_get_slackbots_through_the_built_in_view_edit_and_admin_roles(chart):
    roles = [r for r in only(render(chart), "ClusterRole") if aggregated(r)]
    for role in roles:
        validate(role, KUBE_VERSION, strict=True)

    def aggregated_into(name: str) -> list[dict[str, Any]]:
        return [rule for role in roles if role["metadata"]["labels"].get(
            f"rbac.authorization.k8s.io/aggregate-to-{name}") == "true" for rule in role["rules"]]
    view, edit, admin = aggregated_into("view"), aggregated_into("edit"), aggregated_into("admin")
    for verb in ("get", "list", "watch"):
        assert grants(view, "chatops.h1bot.dev", "slackbots", verb) and grants(view, "chatops.h1bot.dev",
                                                                                "slackbots/status", verb)
    for verb in ("create", "update", "patch", "delete"):
        assert not grants(view, "chatops.h1bot.dev", "slackbots", verb), f"view may {verb}"
        for rules in (edit, admin):
            assert grants(rules, "chatops.h1bot.dev", "slackbots", verb)
            assert not grants(rules, "chatops.h1bot.dev", "slackbots/status", verb), "status is not theirs"
    assert not any(r["resources"] != ["slackbots"] and set(r["verbs"]) - {"get", "list", "watch"}
                   for r in view + edit + admin), "nothing but SlackBots is granted"
    assert not [r for r in only(render(chart, {"aggregateRoles": False}), "ClusterRole") if aggregated(r)]


def test_the_operator_holds_every_permission_a_bots_tools_may_grant(chart):
    """Kubernetes lets a Role be written only with permissions its author holds: every rule spec.tools can render
    (all readable resources, logs, both actions) is one the chart grants the operator, in both RBAC modes."""
    tools = SlackBotSpec.parse({
        "model": {"name": "gpt-4o-mini"},
        "secrets": {k: {"name": "s", "key": k} for k in ("slackBotToken", "slackAppToken", "openAIAPIKey")},
        "tools": {"kubernetes": {"resources": list(READABLE_RESOURCES), "logs": {}},
                  "actions": [{"name": name} for name in ACTION_NAMES]}}).tools
    (wanted,) = rules_by_namespace(tools, NAMESPACE).values()
    for values in ({}, {"watchNamespaces": [NAMESPACE]}):
        objects = render(chart, values)
        rules = [r for role in [*operator_cluster_roles(objects), *only(objects, "Role")] for r in role["rules"]]
        missing = [(group, resource, verb) for rule in wanted for group in rule["apiGroups"]
                   for resource in rule["resources"] for verb in rule["verbs"]
                   if not grants(rules, group, resource, verb)]
        assert missing == [], values
        assert not any(grants(rules, "", "secrets", verb) for verb in ("create", "patch", "delete")), values
