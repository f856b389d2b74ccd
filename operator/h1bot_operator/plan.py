"""How to bring an existing child to its rendered state with one merge patch that touches only our fields (pure).

Fields the operator renders are restored when edited by hand; fields it never rendered (labels or annotations others
add, e.g. `kubectl rollout restart`) are kept; fields it rendered last time but no longer renders are removed, using
the record of the last apply kept in an annotation (like kubectl's client-side apply).
"""

import json
from typing import Any

from h1bot_api import GROUP
from h1bot_operator.render import APPLIED_ANNOTATION, MANAGED_BY

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"


def is_subset(desired: Any, actual: Any) -> bool:
    """Every field in `desired` has that value in `actual` (lists: same length, item by item)."""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(k in actual and is_subset(v, actual[k]) for k, v in desired.items())
    if isinstance(desired, list):
        return (isinstance(actual, list) and len(desired) == len(actual)
                and all(is_subset(d, a) for d, a in zip(desired, actual, strict=True)))
    return desired == actual


def removals(last: Any, desired: Any) -> dict[str, Any]:
    """Merge-patch nulls for the keys of `last` that `desired` no longer has (nested dicts only; lists are atomic)."""
    if not isinstance(last, dict) or not isinstance(desired, dict):
        return {}
    drop: dict[str, Any] = {}
    for key, value in last.items():
        if key not in desired:
            drop[key] = None
        elif nested := removals(value, desired[key]):
            drop[key] = nested
    return drop


def _present(drop: dict[str, Any], actual: Any) -> bool:
    if not isinstance(actual, dict):
        return False
    return any(key in actual and (value is None or _present(value, actual[key])) for key, value in drop.items())


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        elif key not in result:
            result[key] = value
    return result


def last_applied(current: dict[str, Any]) -> dict[str, Any]:
    raw = ((current.get("metadata") or {}).get("annotations") or {}).get(APPLIED_ANNOTATION)
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def plan_patch(desired: dict[str, Any], current: dict[str, Any]) -> dict[str, Any] | None:
    """The merge patch that restores our fields of `current`, or None when nothing differs.

    Only for a child that `foreign()` says is ours: ownership is never taken, so the patch never touches
    ownerReferences."""
    meta, current_meta = desired["metadata"], current.get("metadata") or {}
    body = {k: v for k, v in desired.items() if k != "metadata"}
    wanted_meta = {"labels": meta["labels"], "annotations": meta["annotations"]}
    # The record may name metadata annotations we rendered (e.g. a ServiceAccount's): those we no longer render go.
    drop = removals(last_applied(current), {**body, "metadata": wanted_meta})
    if is_subset(body, current) and is_subset(wanted_meta, current_meta) and not _present(drop, current):
        return None
    patch = _merge(body, {k: v for k, v in drop.items() if k != "metadata"})
    patch["metadata"] = _merge(wanted_meta, drop.get("metadata") or {})
    return patch


def foreign(desired: dict[str, Any], current: dict[str, Any]) -> str | None:
    """Why `current` (which holds the name of the child `desired`) is not ours to touch, or None when it is.

    Ours means both: our managed-by value and a controller ownerReference to this very SlackBot (its uid). Anything
    else (made by Helm or by hand, another operator's, another SlackBot's, or ours for a deleted SlackBot of the same
    name that garbage collection has not removed yet) is left alone and reported as a conflict."""
    meta = current.get("metadata") or {}
    managed_by = (meta.get("labels") or {}).get(MANAGED_BY_LABEL)
    if not desired["metadata"].get("ownerReferences"):
        return _foreign_by_annotation(desired, current, managed_by)
    owner_uid = desired["metadata"]["ownerReferences"][0]["uid"]
    controller = next((ref for ref in meta.get("ownerReferences") or () if ref.get("controller")), None)
    if managed_by == MANAGED_BY and controller is not None and controller.get("uid") == owner_uid:
        return None
    if controller is not None and controller.get("uid") != owner_uid:
        why = f"it is controlled by {controller.get('kind')} {controller.get('name')} (uid {controller.get('uid')})"
    elif managed_by != MANAGED_BY:
        why = f"it is managed by {managed_by!r}" if managed_by else "it has no app.kubernetes.io/managed-by label"
    else:
        why = "it has no controller ownerReference to this SlackBot"
    return (f"{desired['kind']} {meta.get('namespace', desired['metadata']['namespace'])}/{meta.get('name')} "
            f"already exists and is not this SlackBot's: {why}. h1bot leaves it untouched; rename the SlackBot "
            f"or remove that {desired['kind']}")


# A child outside its SlackBot's namespace (the tools' RBAC) has no ownerReference: it names its owner here.
OWNER_ANNOTATION = f"{GROUP}/owner"


def _foreign_by_annotation(desired: dict[str, Any], current: dict[str, Any], managed_by: str | None) -> str | None:
    meta = current.get("metadata") or {}
    wanted = ((desired["metadata"].get("annotations")) or {}).get(OWNER_ANNOTATION)
    actual = (meta.get("annotations") or {}).get(OWNER_ANNOTATION)
    if managed_by == MANAGED_BY and wanted is not None and actual == wanted:
        return None
    why = (f"it belongs to SlackBot {actual.rsplit('/', 1)[0]}" if managed_by == MANAGED_BY and actual else
           f"it is managed by {managed_by!r}" if managed_by else "it has no app.kubernetes.io/managed-by label")
    return (f"{desired['kind']} {desired['metadata']['namespace']}/{desired['metadata']['name']} already exists and "
            f"is not this SlackBot's: {why}. h1bot leaves it untouched; remove that {desired['kind']} or the "
            "namespace from spec.tools")
