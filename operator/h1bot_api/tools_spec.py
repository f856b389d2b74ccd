"""spec.tools: what the bot may look at and do in the cluster, mirroring the CRD (crds/; tests/operator/test_crd.py
keeps the two equal). The operator renders exactly this as RBAC for the bot's ServiceAccount
(h1bot_operator/tool_rbac.py); the bot builds its tool definitions from it (h1bot_bot/core/tools.py).

Nothing is granted unless written here: no `tools`, no RBAC beyond the bot's own SlackBot. Namespaces left empty mean
the bot's own namespace. Secrets are never readable: the resource list refuses them (a CEL rule in the CRD, the same
message here).
"""

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

# The read-only resources a bot may be given, with their API group ("" is core). One place for this fact.
READABLE_RESOURCES: dict[str, str] = {
    "pods": "", "events": "", "services": "", "configmaps": "", "endpoints": "", "persistentvolumeclaims": "",
    "deployments": "apps", "replicasets": "apps", "statefulsets": "apps", "daemonsets": "apps",
    "jobs": "batch", "cronjobs": "batch", "ingresses": "networking.k8s.io", "horizontalpodautoscalers": "autoscaling",
}
READ_VERBS = ("get", "list", "watch")
DEFAULT_RESOURCES = ("pods", "events", "deployments", "replicasets")
ACTION_NAMES = ("rollout-restart", "scale")
DEFAULT_LOG_LINES = 200

NO_SECRETS_MESSAGE = ("spec.tools.kubernetes.resources must never list secrets: no secret value may reach the model "
                      "(configmaps are readable)")
KNOWN_RESOURCES_MESSAGE = ("spec.tools.kubernetes.resources: each entry must be one of "
                           + ", ".join(READABLE_RESOURCES))
SCALE_BOUNDS_MESSAGE = "spec.tools.actions: a scale action's minReplicas must not exceed its maxReplicas"
BOUNDS_ONLY_FOR_SCALE_MESSAGE = "spec.tools.actions: minReplicas and maxReplicas apply only to the scale action"
UNIQUE_ACTIONS_MESSAGE = "spec.tools.actions: each action may be listed once"

Namespace = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class LogsSpec(_Model):
    """pods/log of the pods the bot may read; at most `maxLines` lines (the last ones) per call."""

    max_lines: int = Field(default=DEFAULT_LOG_LINES, ge=1, le=5000)


class KubernetesToolsSpec(_Model):
    namespaces: tuple[Namespace, ...] = Field(default=(), max_length=32)
    resources: tuple[str, ...] = Field(default=DEFAULT_RESOURCES, max_length=16)
    logs: LogsSpec | None = None

    @field_validator("resources")
    @classmethod
    def _readable(cls, resources: tuple[str, ...]) -> tuple[str, ...]:
        if "secrets" in resources:
            raise ValueError(NO_SECRETS_MESSAGE)
        if any(r not in READABLE_RESOURCES for r in resources):
            raise ValueError(KNOWN_RESOURCES_MESSAGE)
        return resources


class ActionSpec(_Model):
    """One action the bot may propose; it runs only after an admin approves it in the thread."""

    name: Literal[ACTION_NAMES]  # type: ignore[valid-type]
    namespaces: tuple[Namespace, ...] = Field(default=(), max_length=32)
    min_replicas: int | None = Field(default=None, ge=0, le=1000)
    max_replicas: int | None = Field(default=None, ge=0, le=1000)

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.name != "scale" and (self.min_replicas is not None or self.max_replicas is not None):
            raise ValueError(BOUNDS_ONLY_FOR_SCALE_MESSAGE)
        if self.min_replicas is not None and self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError(SCALE_BOUNDS_MESSAGE)
        return self


class PrometheusSpec(_Model):
    """A Prometheus HTTP API the bot may query (instant and range PromQL); read-only, no Kubernetes RBAC involved."""

    url: str = Field(pattern=r"^https?://", max_length=2048)
    timeout_seconds: int = Field(default=10, ge=1, le=60)
    max_series: int = Field(default=20, ge=1, le=200)


class ToolLimitsSpec(_Model):
    max_tool_calls: int = Field(default=8, ge=1, le=64)
    max_output_tokens: int = Field(default=4000, ge=256, le=100_000)
    deadline_seconds: int = Field(default=60, ge=5, le=600)


class ToolsSpec(_Model):
    kubernetes: KubernetesToolsSpec | None = None
    actions: tuple[ActionSpec, ...] = Field(default=(), max_length=8)
    prometheus: PrometheusSpec | None = None
    limits: ToolLimitsSpec = ToolLimitsSpec()

    @field_validator("actions")
    @classmethod
    def _unique(cls, actions: tuple[ActionSpec, ...]) -> tuple[ActionSpec, ...]:
        if len({a.name for a in actions}) != len(actions):
            raise ValueError(UNIQUE_ACTIONS_MESSAGE)
        return actions

    def read_namespaces(self, own: str) -> tuple[str, ...]:
        """Where the bot may read (empty: nowhere), the bot's own namespace standing in for an empty list."""
        if self.kubernetes is None:
            return ()
        return self.kubernetes.namespaces or (own,)

    def action(self, name: str) -> ActionSpec | None:
        return next((a for a in self.actions if a.name == name), None)

    def action_namespaces(self, action: ActionSpec, own: str) -> tuple[str, ...]:
        return action.namespaces or (own,)

    def summary(self, own: str) -> str:
        """What is enabled, in a few words (status.tools.enabled, the `Tools` printer column), e.g.
        `read pods,events in payments; logs; scale in payments; prometheus`; `none` when nothing is."""
        parts = []
        if self.kubernetes is not None:
            parts.append(f"read {','.join(self.kubernetes.resources)} in {','.join(self.read_namespaces(own))}")
            if self.kubernetes.logs is not None:
                parts.append(f"logs ({self.kubernetes.logs.max_lines} lines)")
        parts += [f"{a.name} in {','.join(self.action_namespaces(a, own))}" for a in self.actions]
        if self.prometheus is not None:
            parts.append("prometheus")
        return "; ".join(parts) or "none"
