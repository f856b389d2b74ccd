"""Which Secret keys a SlackBot references, and their state: a checksum over the referenced values only (pure).

Secure by default: a Secret is usable only once it opts in with the label CREDENTIALS_LABEL=true, so that the right to
create SlackBots is not the right to read every Secret of the namespace (a bot sends its OpenAI key to its endpoint).
"""

import dataclasses
import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from h1bot_api import CREDENTIALS_LABEL
from h1bot_api.botenv import SECRET_ENV
from h1bot_api.spec import SlackBotSpec


@dataclasses.dataclass(frozen=True)
class SecretRef:
    env: str
    name: str
    key: str


@dataclasses.dataclass(frozen=True)
class SecretsState:
    checksum: str | None  # None while anything is missing
    missing: tuple[str, ...] = ()  # one readable line per missing Secret or key (or Secret not opted in)
    not_opted_in: tuple[str, ...] = ()  # names of existing Secrets without the credentials label

    @property
    def resolved(self) -> bool:
        return not self.missing

    @property
    def reason(self) -> str:
        return "Resolved" if self.resolved else "SecretNotOptedIn" if self.not_opted_in else "SecretMissing"

    @property
    def message(self) -> str:
        return "; ".join(self.missing) if self.missing else "every referenced Secret key exists"


def references(spec: SlackBotSpec) -> list[SecretRef]:
    refs = []
    for field, env in SECRET_ENV.items():
        ref = getattr(spec.secrets, field)
        if ref is not None:
            refs.append(SecretRef(env=env, name=ref.name, key=ref.key))
    return refs


def template_secret_names(spec: SlackBotSpec) -> list[str]:
    """Secrets the pod template itself names: env valueFrom.secretKeyRef, envFrom secretRef, secret and projected
    volumes. They too are a way to put a Secret into the bot pod, so they too must opt in."""
    template, names = spec.template, set()
    for entry in template.env:
        names.add(((entry.value_from or {}).get("secretKeyRef") or {}).get("name"))
    for source in template.env_from:
        names.add((source.get("secretRef") or {}).get("name"))
    for volume in template.volumes:
        extra = volume.model_extra or {}
        names.add((extra.get("secret") or {}).get("secretName"))
        for projected in (extra.get("projected") or {}).get("sources") or ():
            names.add((projected.get("secret") or {}).get("name"))
    return sorted(name for name in names if isinstance(name, str) and name)


def secret_names(spec: SlackBotSpec) -> list[str]:
    """Every Secret the SlackBot puts into its pod (spec.secrets and spec.template)."""
    return sorted({ref.name for ref in references(spec)} | set(template_secret_names(spec)))


def opted_in(secret: Mapping[str, Any]) -> bool:
    return ((secret.get("metadata") or {}).get("labels") or {}).get(CREDENTIALS_LABEL) == "true"


def opt_in_hint(namespace: str, name: str) -> str:
    return (f"Secret {namespace}/{name} has not opted in to be used by SlackBots: if it is meant for this bot, "
            f"run `kubectl label secret {name} -n {namespace} {CREDENTIALS_LABEL}=true`")


def resolve(refs: list[SecretRef], secrets: Mapping[str, Mapping[str, str] | None], namespace: str,
            not_opted_in: Collection[str] = (), pod_secrets: Collection[str] = ()) -> SecretsState:
    """`secrets` maps each referenced Secret name to its `data` (None: the Secret does not exist);
    `not_opted_in` names the existing ones that lack the credentials label (refused, their keys not even checked);
    `pod_secrets` are the Secrets spec.template names: they must exist and opt in too (their keys are the pod's).

    The checksum covers only the referenced keys (name, key and value), so a change to any other key of the same
    Secret leaves it, and the bot's pods, alone.
    """
    missing: list[str] = []
    lines: list[str] = []
    named = {ref.name for ref in refs} | set(pod_secrets)
    refused = sorted({name for name in named if name in not_opted_in and secrets.get(name) is not None})
    for name in sorted(named):
        if secrets.get(name) is None:
            where = "" if any(ref.name == name for ref in refs) else " (named in spec.template)"
            missing.append(f"Secret {namespace}/{name} not found{where}")
        elif name in refused:
            missing.append(opt_in_hint(namespace, name))
    for ref in sorted(refs, key=lambda r: (r.name, r.key, r.env)):
        data = secrets.get(ref.name)
        if data is None or ref.name in refused:
            continue
        if ref.key not in data:
            missing.append(f"key {ref.key!r} not found in Secret {namespace}/{ref.name} (needed for {ref.env})")
        else:
            lines.append(f"{ref.name}\0{ref.key}\0{data[ref.key]}")
    if missing:
        return SecretsState(checksum=None, missing=tuple(missing), not_opted_in=tuple(refused))
    digest = hashlib.sha256("\n".join(sorted(set(lines))).encode()).hexdigest()
    return SecretsState(checksum=f"sha256:{digest}")
