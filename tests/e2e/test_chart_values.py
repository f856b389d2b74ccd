"""The h1bot-operator chart's operator Deployment, rendered offline with Helm's own Go SDK (helm-python-sdk): what an
install creates by default and how values change it (images, env, the bots' defaults, PodMonitors, labels), and
the next steps its NOTES tell.

test_chart_install.py runs what it renders.
"""

import json
import re
from typing import Any
from urllib.parse import urlsplit

import yaml

from h1bot_api import CREDENTIALS_LABEL
from h1bot_api.spec import SlackBotSpec
from h1bot_operator import render as bot_render
from h1bot_operator.settings import OperatorSettings
from tests.e2e.chart_cases import BOT, EVERYTHING_CHANGED, NAMESPACED, env_of, operator_container
from tests.e2e.helm_chart import NAMESPACE, RELEASE, only, render
from tests.paths import REPO

NO_BOT_DEFAULTS = {"H1BOT_BOTS_STREAMING": "", "H1BOT_BOTS_UPDATE_INTERVAL": "", "H1BOT_BOTS_LOG_FORMAT": "",
                   "H1BOT_BOTS_LOG_LEVEL": "", "H1BOT_BOTS_ENV": "[]"}


def notes(chart, values: dict[str, Any] | None = None) -> str:
    return chart.render(values or {}, name=RELEASE, namespace=NAMESPACE)[f"{chart.name}/templates/NOTES.txt"]


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
