"""The SlackBot spec as a validated model, mirroring the CRD's openAPIV3Schema (crds/).

`SlackBotSpec.from_manifest(obj)` parses a SlackBot object; bounds, enums and cross-field rules are the CRD's own
(tests/operator/test_crd.py checks the two agree). `resolve_limits` applies the model table.
"""

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from h1bot_api.botenv import (
    LOG_FORMATS,
    LOG_LEVELS,
    OWNED_ENV,
    OWNED_ENV_MESSAGE,
    RESERVED_MOUNT_PATH,
    RESERVED_VOLUME,
    STREAMING_MODES,
)
from h1bot_api.models import ModelInfo, lookup
from h1bot_api.tools_spec import ToolsSpec

MAX_PROMPT_CHARS = 20_000
# Tokens left free in every request: counting is exact, but servers may add a few tokens of their own.
SAFETY_MARGIN_TOKENS = 64
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant in a Slack workspace. Answer concisely."
# maxOutputTokens when the spec gives none: this, or a quarter of spec.model.contextTokens when that is smaller, so a
# default never contradicts the rule that the output limit is below the context window. The CRD therefore declares
# no default for the field (the API server would apply a fixed one before its CEL rules run).
DEFAULT_MAX_OUTPUT_TOKENS = 1024


class ConfigError(ValueError):
    """A SlackBot whose settings cannot work; the message names the field to fix."""


class PromptTooLarge(ConfigError):
    """The system prompt leaves no room for history (or does not fit at all) in the model's context window."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class ModelSpec(_Model):
    name: str = Field(min_length=1, max_length=128)
    context_tokens: int | None = Field(default=None, ge=1024, le=10_000_000)
    max_output_tokens: int = Field(default=DEFAULT_MAX_OUTPUT_TOKENS, ge=16, le=200_000)
    temperature: float = Field(default=0.7, ge=0, le=2)
    base_url: str | None = Field(default=None, alias="baseURL", pattern=r"^https?://", max_length=2048)
    allowed_models: tuple[Annotated[str, Field(min_length=1, max_length=128)], ...] = Field(default=(), max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _adaptive_output_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        context = data.get("contextTokens", data.get("context_tokens"))
        if "maxOutputTokens" in data or "max_output_tokens" in data or not isinstance(context, int):
            return data
        return {**data, "maxOutputTokens": min(DEFAULT_MAX_OUTPUT_TOKENS, max(context // 4, 16))}


class SummarizationSpec(_Model):
    threshold_tokens: int | None = Field(default=None, ge=256)
    chunk_tokens: int = Field(default=2000, ge=128, le=100_000)
    max_depth: int = Field(default=3, ge=1, le=8)
    recent_share: float = Field(default=0.5, ge=0.05, le=0.95)


class ChannelPersona(_Model):
    id: str = Field(min_length=1)
    system_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    model: str | None = Field(default=None, min_length=1)


class PersonaSpec(_Model):
    system_prompt: str = Field(default=DEFAULT_SYSTEM_PROMPT, max_length=MAX_PROMPT_CHARS)
    channels: tuple[ChannelPersona, ...] = Field(default=(), max_length=256)


class SecretKeyRef(_Model):
    name: str = Field(min_length=1, max_length=253)
    key: str = Field(min_length=1, max_length=253)


class SecretsSpec(_Model):
    slack_bot_token: SecretKeyRef
    slack_app_token: SecretKeyRef
    open_ai_api_key: SecretKeyRef = Field(alias="openAIAPIKey")
    open_ai_organization: SecretKeyRef | None = Field(default=None, alias="openAIOrganization")


class ChannelAccess(_Model):
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


# Who the bot answers in direct messages; None (unset) follows channels.allow: DMs are answered when it is empty.
DirectMessages = Literal["allow", "admins", "deny"]


class AccessSpec(_Model):
    admins: tuple[Annotated[str, Field(min_length=1)], ...] = Field(default=(), max_length=256)
    channels: ChannelAccess = ChannelAccess()
    direct_messages: DirectMessages | None = None
    answer_bots: bool = False
    allow_user_mentions: bool = False

    @property
    def direct_message_rule(self) -> str:
        """The rule in effect for DMs: `directMessages`, or when unset `allow` if channels.allow is empty
        (the bot answers everywhere) and `deny` if it lists channels (an allow-list means only those places)."""
        return self.direct_messages or ("deny" if self.channels.allow else "allow")


class SlackSpec(_Model):
    """How replies reach Slack (rendered into the bot's environment; unset: the chart's `bots` values)."""

    streaming: Literal[STREAMING_MODES] | None = None  # type: ignore[valid-type]
    update_interval_seconds: float | None = Field(default=None, ge=0.1, le=30)


class LoggingSpec(_Model):
    format: Literal[LOG_FORMATS] | None = None  # type: ignore[valid-type]
    level: Literal[LOG_LEVELS] | None = None  # type: ignore[valid-type]


class EnvVar(_Model):
    """A container env entry, as in a Pod (`valueFrom` passes through)."""

    name: str = Field(min_length=1, max_length=256)
    value: str | None = None
    value_from: dict[str, Any] | None = None


class _Named(BaseModel):
    """A Kubernetes object passed through as written; only the fields named here are checked."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(min_length=1, max_length=253)


class VolumeMount(_Named):
    mount_path: str = Field(alias="mountPath", min_length=1, max_length=4096)  # bounds the CEL rule's cost


class TemplateSpec(_Model):
    """Pod-level settings; passed through to the Deployment as Kubernetes objects."""

    image: str | None = Field(default=None, min_length=1)
    image_pull_policy: str | None = Field(default=None, pattern=r"^(Always|IfNotPresent|Never)$")
    resources: dict[str, Any] | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    pod_labels: dict[str, str] = Field(default_factory=dict)
    pod_annotations: dict[str, str] = Field(default_factory=dict)
    image_pull_secrets: tuple[dict[str, str], ...] = ()
    env: tuple[EnvVar, ...] = Field(default=(), max_length=128)
    env_from: tuple[dict[str, Any], ...] = Field(default=(), max_length=32)
    volumes: tuple[_Named, ...] = Field(default=(), max_length=32)
    volume_mounts: tuple[VolumeMount, ...] = Field(default=(), max_length=32)
    service_account_annotations: dict[str, str] = Field(default_factory=dict)
    affinity: dict[str, Any] | None = None
    topology_spread_constraints: tuple[dict[str, Any], ...] = Field(default=(), max_length=16)
    priority_class_name: str | None = Field(default=None, min_length=1, max_length=253)

    # Same rules as the CRD's x-kubernetes-validations on these fields, with the same messages.
    @field_validator("env")
    @classmethod
    def _no_owned_env(cls, env: tuple[EnvVar, ...]) -> tuple[EnvVar, ...]:
        if any(e.name in OWNED_ENV for e in env):
            raise ValueError(OWNED_ENV_MESSAGE)
        return env

    @field_validator("volumes")
    @classmethod
    def _no_reserved_volume(cls, volumes: tuple[_Named, ...]) -> tuple[_Named, ...]:
        if any(v.name == RESERVED_VOLUME for v in volumes):
            raise ValueError(RESERVED_VOLUME_MESSAGE)
        return volumes

    @field_validator("volume_mounts")
    @classmethod
    def _no_reserved_mount(cls, mounts: tuple[VolumeMount, ...]) -> tuple[VolumeMount, ...]:
        if any(m.mount_path == RESERVED_MOUNT_PATH for m in mounts):
            raise ValueError(RESERVED_MOUNT_MESSAGE)
        return mounts


RESERVED_VOLUME_MESSAGE = f"spec.template.volumes must not name a volume {RESERVED_VOLUME!r}: the operator's own"
RESERVED_MOUNT_MESSAGE = (f"spec.template.volumeMounts must not mount at {RESERVED_MOUNT_PATH}: the operator mounts "
                          "its own there")


class SlackBotSpec(_Model):
    model: ModelSpec
    summarization: SummarizationSpec = SummarizationSpec()
    persona: PersonaSpec = PersonaSpec()
    # Required by the CRD and by the operator (the pod's credentials: parse with `require_secrets=True`); optional
    # for the bot itself, which reads its credentials from the environment: `h1bot chat --spec` and `h1bot-bot
    # --spec` take a manifest without it.
    secrets: SecretsSpec | None = None
    access: AccessSpec = AccessSpec()
    suspend: bool = False
    slack: SlackSpec = SlackSpec()
    logging: LoggingSpec = LoggingSpec()
    # Every replica is connected; one answers each mention (bot/h1bot_bot/adapters/reply_claim.py). Slack allows
    # at most 10 Socket Mode connections per app token.
    replicas: int = Field(default=1, ge=1, le=10)
    template: TemplateSpec = TemplateSpec()
    # What the bot may look at and do in the cluster (h1bot_api/tools_spec.py); None: no tools, no extra RBAC.
    tools: ToolsSpec | None = None

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Self:
        # Same rules as the CRD's x-kubernetes-validations, with the same messages.
        if self.model.allowed_models and self.model.name not in self.model.allowed_models:
            raise ValueError("spec.model.name must be one of spec.model.allowedModels")
        threshold, context = self.summarization.threshold_tokens, self.model.context_tokens
        if threshold is not None and context is not None and threshold >= context:
            raise ValueError("spec.summarization.thresholdTokens must be below spec.model.contextTokens")
        if context is not None and self.model.max_output_tokens >= context:
            raise ValueError("spec.model.maxOutputTokens must be below spec.model.contextTokens")
        return self

    @classmethod
    def parse(cls, spec: dict[str, Any], *, require_secrets: bool = False) -> "SlackBotSpec":
        """Validate a raw spec dict; raises ConfigError with a readable, field-naming message. The operator passes
        `require_secrets` (it renders the pod's credentials from spec.secrets, which the CRD requires)."""
        try:
            parsed = cls.model_validate(spec)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from None
        if require_secrets and parsed.secrets is None:
            raise ConfigError("spec.secrets: Field required")
        return parsed

    @classmethod
    def from_manifest(cls, obj: dict[str, Any], *, require_secrets: bool = False) -> "SlackBotSpec":
        return cls.parse(obj.get("spec") or {}, require_secrets=require_secrets)

    def to_dict(self) -> dict[str, Any]:
        """The spec in the CRD's own camelCase shape, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"spec.{where}: {message}" if where and not message.startswith(f"spec.{where}") else message)
    return "; ".join(parts)


class Limits(_Model):
    """The token limits a bot works with once the model table is applied."""

    context_tokens: int
    max_output_tokens: int
    history_tokens: int  # context − output − system prompt − safety margin
    threshold_tokens: int  # at most history_tokens
    info: ModelInfo


def resolve_limits(model: ModelSpec, summarization: SummarizationSpec, system_prompt_tokens: int = 0,
                   safety_margin: int = SAFETY_MARGIN_TOKENS) -> Limits:
    """Context window from the spec or the model table; the history threshold defaults to the whole budget.

    Raises ConfigError for an unknown model without `contextTokens`, or limits that leave no room for history.
    """
    known = lookup(model.name)
    context = model.context_tokens or (known.context_tokens if known else None)
    if context is None:
        raise ConfigError(f"model {model.name!r} is not in the table of known models: "
                          "set spec.model.contextTokens to its context window")
    info = known or ModelInfo(context_tokens=context, max_output_tokens=model.max_output_tokens)
    max_output = min(model.max_output_tokens, info.max_output_tokens) if known else model.max_output_tokens
    budget = context - max_output - system_prompt_tokens - safety_margin
    if budget <= 0 and system_prompt_tokens and context - max_output - safety_margin > 0:
        raise PromptTooLarge(f"the system prompt ({system_prompt_tokens:,} tokens) does not fit the "
                             f"{context:,}-token context window of {model.name} with {max_output:,} tokens kept "
                             "for the answer: shorten spec.persona.systemPrompt or lower spec.model.maxOutputTokens")
    if budget <= 0:
        raise ConfigError(f"spec.model.maxOutputTokens ({max_output}) and the system prompt leave no room for "
                          f"history in a {context}-token context window")
    threshold = summarization.threshold_tokens or budget
    if threshold >= context:
        raise ConfigError(f"spec.summarization.thresholdTokens ({threshold}) must be below the context window "
                          f"of {model.name} ({context})")
    return Limits(context_tokens=context, max_output_tokens=max_output, history_tokens=budget,
                  threshold_tokens=min(threshold, budget), info=info)
