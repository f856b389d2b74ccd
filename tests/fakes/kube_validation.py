"""What the real API server checks and rewrites on every write, for the kinds h1bot creates (pure).

`validate()` answers like the API server: a metadata.name that is not a DNS-1123 subdomain (or, for RBAC kinds, a
path segment), an invalid label key or value (metadata.labels, a pod template's labels, a selector) → 422 Invalid
with the API server's wording; a quantity that does not parse (`memory: lots`) in a pod template → 400 BadRequest, as
the API server fails to decode the object. `canonical_quantities()` stores quantities as the API server does (`cpu: 1`
→ "1", `0.5` → "500m"; see h1bot_operator.quantity, whose known answers come from apimachinery).
KubeEmulator switches them with `validation` and `canonical_quantities` (both on by default).
"""

import re
from typing import Any

from h1bot_operator.quantity import canonical, canonical_resources
from tests.fakes.kube_protocol import api_error

DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = rf"{DNS1123_LABEL}(\.{DNS1123_LABEL})*"
LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
QUANTITY = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
SUBDOMAIN_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                     "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                     f"validation is '{DNS1123_SUBDOMAIN}')")
LABEL_VALUE_MESSAGE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                       "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                       f"'12345', regex used for validation is '{LABEL_VALUE}')")
LABEL_NAME_MESSAGE = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                      "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                      f"validation is '{LABEL_NAME}')")
PATH_SEGMENT_KINDS = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


def _subdomain(value: str, field: str) -> list[str]:
    errors = []
    if len(value) > 253:
        errors.append(f"{field}: Invalid value: {value!r}: must be no more than 253 characters")
    if not re.fullmatch(DNS1123_SUBDOMAIN, value):
        errors.append(f'{field}: Invalid value: "{value}": {SUBDOMAIN_MESSAGE}')
    return errors


def _name(kind: str, name: str) -> list[str]:
    if kind in PATH_SEGMENT_KINDS:
        bad = name in (".", "..") or "/" in name or "%" in name
        return [f'metadata.name: Invalid value: "{name}": may not contain \'/\' or \'%\''] if bad else []
    return _subdomain(name, "metadata.name")


def _labels(labels: Any, field: str) -> list[str]:
    errors: list[str] = []
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if prefix:
            errors += _subdomain(prefix, f"{field}")
        if len(name) > 63:
            errors.append(f'{field}: Invalid value: "{key}": name part must be no more than 63 characters')
        if not re.fullmatch(LABEL_NAME, name):
            errors.append(f'{field}: Invalid value: "{key}": {LABEL_NAME_MESSAGE}')
        if not isinstance(value, str):
            errors.append(f"{field}: Invalid value: {value!r}: label values must be strings")
            continue
        if len(value) > 63:
            errors.append(f'{field}: Invalid value: "{value}": must be no more than 63 characters')
        if not re.fullmatch(LABEL_VALUE, value):
            errors.append(f'{field}: Invalid value: "{value}": {LABEL_VALUE_MESSAGE}')
    return errors


def _pod_templates(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(field path, pod template) of a Deployment-like object (spec.template) or a Pod itself."""
    if obj.get("kind") == "Pod":
        return [("", obj)]
    template = (obj.get("spec") or {}).get("template")
    return [("spec.template.", template)] if isinstance(template, dict) else []


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    return [c for field in ("initContainers", "containers") for c in spec.get(field) or () if isinstance(c, dict)]


def _group_suffix(api_version: str) -> str:
    return f".{api_version.split('/')[0]}" if "/" in api_version else ""


def validate(obj: dict[str, Any]) -> None:
    """Raise the API server's error for what it would refuse in `obj` (an object about to be stored)."""
    kind, api_version, meta = obj.get("kind", ""), obj.get("apiVersion", ""), obj.get("metadata") or {}
    for _, pod in _pod_templates(obj):
        for container in _containers(pod):
            for values in ((container.get("resources") or {}).get(f) or {} for f in ("requests", "limits")):
                for value in values.values():
                    if canonical(value) is None:
                        raise api_error(400, "BadRequest", f'{kind} in version "{api_version.split("/")[-1]}" '
                                        f"cannot be handled as a {kind}: quantities must match the regular "
                                        f"expression '{QUANTITY}'")
    errors = _name(kind, meta.get("name", "")) + _labels(meta.get("labels"), "metadata.labels")
    for path, pod in _pod_templates(obj):
        errors += _labels((pod.get("metadata") or {}).get("labels"), f"{path}metadata.labels")
    selects = kind in ("Deployment", "ReplicaSet", "PodDisruptionBudget")
    selector = ((obj.get("spec") or {}).get("selector") or {}) if selects else {}
    errors += _labels(selector.get("matchLabels"), "spec.selector.matchLabels")
    if errors:
        detail = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        raise api_error(422, "Invalid", f'{kind}{_group_suffix(api_version)} "{meta.get("name")}" is invalid: '
                        f"{detail}")


def canonical_quantities(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with its pod templates' resource quantities (and emptyDir size limits) stored canonically."""
    for _, pod in _pod_templates(obj):
        spec = pod.get("spec") or {}
        for container in _containers(pod):
            if "resources" in container:
                container["resources"] = canonical_resources(container["resources"])
        for volume in spec.get("volumes") or ():
            empty_dir = volume.get("emptyDir") if isinstance(volume, dict) else None
            if isinstance(empty_dir, dict) and canonical(empty_dir.get("sizeLimit")) is not None:
                empty_dir["sizeLimit"] = canonical(empty_dir["sizeLimit"])
    return obj
