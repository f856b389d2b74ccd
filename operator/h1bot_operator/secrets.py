"""Which Secret keys a SlackBot references, and their state: a checksum over the referenced values only (pure)."""

import dataclasses
import hashlib
from collections.abc import Mapping

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
    missing: tuple[str, ...] = ()  # one readable line per missing Secret or key

    @property
    def resolved(self) -> bool:
        return not self.missing

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


def secret_names(spec: SlackBotSpec) -> list[str]:
    return sorted({ref.name for ref in references(spec)})


def resolve(refs: list[SecretRef], secrets: Mapping[str, Mapping[str, str] | None], namespace: str) -> SecretsState:
    """`secrets` maps each referenced Secret name to its `data` (None: the Secret does not exist).

    The checksum covers only the referenced keys (name, key and value), so a change to any other key of the same
    Secret leaves it, and the bot's pods, alone.
    """
    missing: list[str] = []
    lines: list[str] = []
    for name in sorted({ref.name for ref in refs}):
        if secrets.get(name) is None:
            missing.append(f"Secret {namespace}/{name} not found")
    for ref in sorted(refs, key=lambda r: (r.name, r.key, r.env)):
        data = secrets.get(ref.name)
        if data is None:
            continue
        if ref.key not in data:
            missing.append(f"key {ref.key!r} not found in Secret {namespace}/{ref.name} (needed for {ref.env})")
        else:
            lines.append(f"{ref.name}\0{ref.key}\0{data[ref.key]}")
    if missing:
        return SecretsState(checksum=None, missing=tuple(missing))
    digest = hashlib.sha256("\n".join(sorted(set(lines))).encode()).hexdigest()
    return SecretsState(checksum=f"sha256:{digest}")
