"""What the chart tests share: the values they install with (namespaced, everything changed), a SlackBot's
metadata, and the operator's container and env as the chart renders them.
"""

from typing import Any

from tests.e2e.helm_chart import only

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


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = only(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}
