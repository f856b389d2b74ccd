"""A SlackBot's children as plain manifests (pure): ServiceAccount, Role, RoleBinding, the bot Deployment, and a
PodDisruptionBudget while more than one replica runs.

Only pod-level inputs feed the Deployment (spec.template, spec.secrets refs, spec.slack, spec.logging, the secrets
checksum, spec.suspend and the operator's defaults: image and the chart's `bots` values): model, persona,
summarization and access changes are reloaded live by the bot and never roll it.

The bot container's env: first the variables the operator owns (h1bot_api.botenv.OWNED_ENV: identity, Secret-backed
credentials, the typed spec.slack/spec.logging fields or their chart defaults), then the chart's `bots.env` merged with
spec.template.env (an entry of the SlackBot replaces the chart's of the same name). Kubernetes resolves `$(VAR)` only
to variables defined earlier, so extra entries may refer to the owned ones; and `env` always wins over `envFrom`, so
a Secret or ConfigMap in spec.template.envFrom cannot override an owned variable.
"""

import hashlib
import json
from typing import Any

from h1bot_api import API_VERSION, GROUP, KIND, PLURAL
from h1bot_api.botenv import (
    ALLOWED_BASE_URLS_ENV,
    BUILTIN_DEFAULTS,
    HTTP_PORT_ENV,
    NAME_ENV,
    NAMESPACE_ENV,
    RESERVED_MOUNT_PATH,
    RESERVED_VOLUME,
    typed_env,
)
from h1bot_api.spec import SlackBotSpec
from h1bot_operator.quantity import canonical_resources
from h1bot_operator.secret_refs import references
from h1bot_operator.settings import OperatorSettings

MANAGED_BY = "h1bot-operator"
CHECKSUM_ANNOTATION = f"{GROUP}/secrets-checksum"
APPLIED_ANNOTATION = f"{GROUP}/applied-keys"  # the map keys last applied: keys no longer rendered get removed
HTTP_PORT = 8080
BOT_UID = 10001
DEFAULT_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}


CHILD_PREFIX = "h1bot-"
# Every child takes one name. A Deployment's name may be a 253-character DNS subdomain, but its pods take their
# hostname from it (cut at 63), so Kubernetes recommends a DNS label: at most 63 characters for every child.
MAX_CHILD_NAME = 63


def child_name(bot_name: str) -> str:
    """`h1bot-NAME`; a SlackBot name too long for that keeps a prefix and a stable hash of the whole name (so two
    long names that share a prefix never share children). The bot's own Role still names the SlackBot itself."""
    name = CHILD_PREFIX + bot_name
    if len(name) <= MAX_CHILD_NAME:
        return name
    digest = hashlib.sha256(bot_name.encode()).hexdigest()[:10]
    keep = MAX_CHILD_NAME - len(CHILD_PREFIX) - 1 - len(digest)
    return f"{CHILD_PREFIX}{bot_name[:keep].rstrip('-.')}-{digest}"


def label_value(value: str) -> str:
    """Label values are at most 63 characters: long names keep a prefix and a hash."""
    if len(value) <= 63:
        return value
    return f"{value[:54].rstrip('-_.')}-{hashlib.sha256(value.encode()).hexdigest()[:8]}"


def selector_labels(bot_name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "h1bot-bot", "app.kubernetes.io/instance": label_value(bot_name)}


def labels(bot_name: str) -> dict[str, str]:
    return {**selector_labels(bot_name), "app.kubernetes.io/component": "bot", "app.kubernetes.io/part-of": "h1bot",
            "app.kubernetes.io/managed-by": MANAGED_BY}


def owner_reference(bot: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": KIND, "name": bot["metadata"]["name"], "uid": bot["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _metadata(bot: dict[str, Any]) -> dict[str, Any]:
    meta = bot["metadata"]
    return {"name": child_name(meta["name"]), "namespace": meta["namespace"], "labels": labels(meta["name"]),
            "ownerReferences": [owner_reference(bot)]}


def skeleton(value: Any) -> Any:
    """The map keys of a manifest, nested, without values (lists and scalars are atomic: 1)."""
    return {k: skeleton(v) for k, v in value.items()} if isinstance(value, dict) else 1


def _finish(obj: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """Record which keys are applied (the body's, and the extra metadata `annotations`) so that a later apply can
    remove the keys it no longer renders."""
    applied = skeleton({k: v for k, v in obj.items() if k != "metadata"})
    if annotations:
        applied["metadata"] = {"annotations": skeleton(annotations)}
    obj["metadata"]["annotations"] = {**(annotations or {}),
                                      APPLIED_ANNOTATION: json.dumps(applied, sort_keys=True, separators=(",", ":"))}
    return obj


def service_account(bot: dict[str, Any], spec: SlackBotSpec | None = None) -> dict[str, Any]:
    """spec.template.serviceAccountAnnotations go on it (GKE Workload Identity, EKS IRSA)."""
    annotations = dict(spec.template.service_account_annotations) if spec else {}
    return _finish({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(bot)}, annotations)


def role(bot: dict[str, Any]) -> dict[str, Any]:
    """The bot may read and watch only its own SlackBot and patch only its status; and record audit Events."""
    own = [bot["metadata"]["name"]]
    return _finish({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _metadata(bot),
        "rules": [
            {"apiGroups": [GROUP], "resources": [PLURAL], "resourceNames": own, "verbs": ["get", "list", "watch"]},
            {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "resourceNames": own, "verbs": ["get", "patch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
        ],
    })


def role_binding(bot: dict[str, Any]) -> dict[str, Any]:
    name = child_name(bot["metadata"]["name"])
    return _finish({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _metadata(bot),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": bot["metadata"]["namespace"]}],
    })


def _env(bot: dict[str, Any], spec: SlackBotSpec, settings: OperatorSettings) -> list[dict[str, Any]]:
    defaults = settings.bot_defaults
    env: list[dict[str, Any]] = [
        {"name": NAME_ENV, "value": bot["metadata"]["name"]},
        {"name": NAMESPACE_ENV, "value": bot["metadata"]["namespace"]},
        {"name": HTTP_PORT_ENV, "value": str(HTTP_PORT)},
        {"name": ALLOWED_BASE_URLS_ENV, "value": ",".join(settings.allowed_base_urls)},
    ]
    env += [{"name": ref.env, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
            for ref in references(spec)]
    typed = {**BUILTIN_DEFAULTS, **typed_env({"slack": defaults.slack, "logging": defaults.logging}),
             **typed_env({"slack": spec.slack, "logging": spec.logging})}
    env += [{"name": name, "value": value} for name, value in typed.items()]
    extra = {e.name: e for e in defaults.env} | {e.name: e for e in spec.template.env}
    env += [e.model_dump(by_alias=True, exclude_none=True) for e in extra.values()]
    return env


def _dumped(items: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [item.model_dump(by_alias=True, exclude_none=True) if hasattr(item, "model_dump") else dict(item)
            for item in items]


def deployment(bot: dict[str, Any], spec: SlackBotSpec, settings: OperatorSettings, checksum: str) -> dict[str, Any]:
    template = spec.template
    name = bot["metadata"]["name"]
    restricted = {"runAsNonRoot": True, "runAsUser": BOT_UID, "runAsGroup": BOT_UID,
                  "seccompProfile": {"type": "RuntimeDefault"}}
    container: dict[str, Any] = {
        "name": "bot",
        "image": template.image or settings.bot_image,
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": _env(bot, spec, settings),
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 10,
                          "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 3},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5,
                           "failureThreshold": 3},
        # As the API server will store them, so that reading them back shows nothing to patch.
        "resources": canonical_resources(template.resources if template.resources is not None else DEFAULT_RESOURCES),
        "securityContext": {**restricted, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": RESERVED_VOLUME, "mountPath": RESERVED_MOUNT_PATH},
                         *_dumped(template.volume_mounts)],
    }
    if template.env_from:
        container["envFrom"] = _dumped(template.env_from)
    if template.image_pull_policy:
        container["imagePullPolicy"] = template.image_pull_policy
    pod_spec: dict[str, Any] = {
        "serviceAccountName": child_name(name),
        "securityContext": {**restricted, "fsGroup": BOT_UID},
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": [{"name": RESERVED_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}}, *_dumped(template.volumes)],
    }
    if template.node_selector:
        pod_spec["nodeSelector"] = dict(template.node_selector)
    if template.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in template.tolerations]
    if template.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [dict(s) for s in template.image_pull_secrets]
    if template.affinity:
        pod_spec["affinity"] = dict(template.affinity)
    # Replicas on different nodes where the scheduler can (never blocks scheduling): a node lost leaves the others.
    # spec.template.topologySpreadConstraints replaces this default.
    pod_spec["topologySpreadConstraints"] = (_dumped(template.topology_spread_constraints)
                                             if template.topology_spread_constraints else
                                             [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                               "whenUnsatisfiable": "ScheduleAnyway",
                                               "labelSelector": {"matchLabels": selector_labels(name)}}])
    if template.priority_class_name:
        pod_spec["priorityClassName"] = template.priority_class_name
    return _finish({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _metadata(bot),
        "spec": {
            "replicas": 0 if spec.suspend else spec.replicas,
            "revisionHistoryLimit": 3,
            # Socket Mode connections stay up during a rollout: a new pod is ready (connected) before an old one
            # goes, and the old one drains its replies after closing its connection. The two pods both receive
            # events meanwhile; the claim before answering (bot) keeps it to one reply per mention.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "selector": {"matchLabels": selector_labels(name)},
            "template": {
                "metadata": {"labels": {**template.pod_labels, **labels(name)},
                             "annotations": {**template.pod_annotations, CHECKSUM_ANNOTATION: checksum}},
                "spec": pod_spec,
            },
        },
    })


def disruption_budget_wanted(spec: SlackBotSpec) -> bool:
    """Only with two replicas or more: a budget over a single pod would block every node drain."""
    return not spec.suspend and spec.replicas > 1


def pod_disruption_budget(bot: dict[str, Any]) -> dict[str, Any]:
    """At most one bot pod evicted at a time (a node drain waits for its replacement to be ready), whatever the
    replicas; pods that are not ready answer nothing anyway, so they never hold a drain up (AlwaysAllow)."""
    return _finish({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _metadata(bot),
        "spec": {"maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow",
                 "selector": {"matchLabels": selector_labels(bot["metadata"]["name"])}},
    })


def children(bot: dict[str, Any], spec: SlackBotSpec | None = None) -> list[dict[str, Any]]:
    """The children that do not depend on Secrets (the Deployment waits until every referenced key exists)."""
    return [service_account(bot, spec), role(bot), role_binding(bot)]
