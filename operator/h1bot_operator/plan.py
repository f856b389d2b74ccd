"""How to bring an existing child to its rendered state with one merge patch that touches only our fields (pure).

Fields the operator renders are restored when edited by hand; fields it never rendered (labels or annotations others
add, e.g. `kubectl rollout restart`) are kept; fields it rendered last time but no longer renders are removed, using
the record of the last apply kept in an annotation (like kubectl's client-side apply).
"""

import json
from typing import Any

from h1bot_operator.render import APPLIED_ANNOTATION


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
    """The merge patch that restores our fields of `current`, or None when nothing differs."""
    meta, current_meta = desired["metadata"], current.get("metadata") or {}
    ours = meta["ownerReferences"][0]
    refs = current_meta.get("ownerReferences") or []
    has_owner = any(ref.get("uid") == ours["uid"] and ref.get("controller") for ref in refs)
    body = {k: v for k, v in desired.items() if k != "metadata"}
    wanted_meta = {"labels": meta["labels"], "annotations": meta["annotations"]}
    # The record may name metadata annotations we rendered (e.g. a ServiceAccount's): those we no longer render go.
    drop = removals(last_applied(current), {**body, "metadata": wanted_meta})
    if has_owner and is_subset(body, current) and is_subset(wanted_meta, current_meta) and not _present(drop, current):
        return None
    patch = _merge(body, {k: v for k, v in drop.items() if k != "metadata"})
    patch["metadata"] = _merge(wanted_meta, drop.get("metadata") or {})
    if not has_owner:
        patch["metadata"]["ownerReferences"] = [ref for ref in refs if not ref.get("controller")] + [ours]
    return patch


def controller_uid(obj: dict[str, Any]) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("uid")
    return None
