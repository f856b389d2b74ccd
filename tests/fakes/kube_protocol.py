"""Kubernetes API semantics the emulator needs, as pure functions: merge patch, selectors, printer-column JSONPath."""

import base64
import copy
import datetime
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import kmock
from kmock._internal import k8s  # kmock is pinned at 0.8


class ApiError(k8s.KubernetesError):
    """A Kubernetes Status error (`reason` is the machine-readable StatusReason)."""


def api_error(code: int, reason: str, message: str) -> ApiError:
    return ApiError(status=code, reason=reason, message=message, details={"causes": []})


def check_delete_preconditions(options: Any, obj: dict[str, Any], plural: str) -> None:
    """A DELETE's DeleteOptions `preconditions` (uid, resourceVersion) that `obj` no longer meets → 409 Conflict."""
    preconditions = (options.get("preconditions") if isinstance(options, dict) else None) or {}
    meta = obj["metadata"]
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        if preconditions.get(field) and preconditions[field] != meta.get(field):
            raise api_error(409, "Conflict", f'Operation cannot be fulfilled on {plural} "{meta["name"]}": '
                            f"Precondition failed: {label} in precondition: {preconditions[field]}, "
                            f"{label} in object meta: {meta.get(field)}")


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch; strategic-merge directives (`$...` keys) are dropped, lists replace."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


_LABEL_REQUIREMENT = re.compile(
    r"\s*(?P<neg>!)?(?P<key>[\w./-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[\w./-]*)|\s+(?P<setop>in|notin)\s*"
    r"\((?P<values>[^)]*)\))?\s*(?:,|$)")


def match_labels(selector: str, labels: dict[str, str]) -> bool:
    pos = 0
    while pos < len(selector):
        m = _LABEL_REQUIREMENT.match(selector, pos)
        if not m or m.end() == pos:
            raise api_error(400, "BadRequest", f"unable to parse requirement: {selector[pos:]!r}")
        pos = m.end()
        value, present = labels.get(m["key"]), m["key"] in labels
        if m["op"] in ("=", "=="):
            ok = value == m["value"]
        elif m["op"] == "!=":
            ok = value != m["value"]
        elif m["setop"]:
            values = {v.strip() for v in m["values"].split(",")}
            ok = (present and value in values) if m["setop"] == "in" else not (present and value in values)
        else:
            ok = not present if m["neg"] else present
        if not ok:
            return False
    return True


def match_fields(selector: str, obj: dict[str, Any]) -> bool:
    for requirement in filter(None, (s.strip() for s in selector.split(","))):
        m = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", requirement)
        if not m:
            raise api_error(400, "BadRequest", f"invalid field selector: {requirement!r}")
        value: Any = obj
        for part in m[1].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        actual = "" if value is None else str(value)
        if (actual == m[3]) != (m[2] != "!="):
            return False
    return True


def request_matcher(namespace: str | None, name: str | None,
                    params: Mapping[str, str]) -> Callable[[dict[str, Any]], bool]:
    """Whether an object is one a request addresses: its namespace, name, labelSelector and fieldSelector."""
    labels, fields = params.get("labelSelector", ""), params.get("fieldSelector", "")

    def matches(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        return ((namespace is None or meta.get("namespace") == namespace)
                and (name is None or meta.get("name") == name)
                and (not labels or match_labels(labels, meta.get("labels") or {}))
                and (not fields or match_fields(fields, obj)))
    return matches


def page(items: list[dict[str, Any]], params: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`limit` and `continue` of a list, as the API server pages: in key order (namespace, name), the token naming the
    last key served; the list metadata to add (`continue`, `remainingItemCount`) when more remain."""
    limit, token = params.get("limit", ""), params.get("continue", "")
    if not limit and not token:
        return items, {}
    if limit and not limit.isdigit():
        raise api_error(400, "BadRequest", f"limit: Invalid value: {limit!r}")

    def key(obj: dict[str, Any]) -> list[str]:
        return [obj["metadata"].get("namespace") or "", obj["metadata"]["name"]]
    ordered = sorted(items, key=key)
    if token:
        try:
            after = json.loads(base64.urlsafe_b64decode(token.encode()))
        except ValueError:
            raise api_error(400, "BadRequest", "continue key is not valid") from None
        ordered = [obj for obj in ordered if key(obj) > after]
    size = int(limit or 0)
    if not size or len(ordered) <= size:
        return ordered, {}
    next_token = base64.urlsafe_b64encode(json.dumps(key(ordered[size - 1])).encode()).decode()
    return ordered[:size], {"continue": next_token, "remainingItemCount": len(ordered) - size}


def jsonpath(obj: Any, path: str) -> Any:
    """The simple JSONPaths of printer columns: `.a.b`, `[0]`, `[?(@.type=="Ready")]`."""
    values = [obj]
    for name, fkey, fval, index in re.findall(r"\.([\w-]+)|\[\?\(@\.([\w-]+)==[\"']([^\"']*)[\"']\)\]|\[(\d+)\]", path):
        found = []
        for value in values:
            if name and isinstance(value, dict) and name in value:
                found.append(value[name])
            elif fkey and isinstance(value, list):
                found.extend(v for v in value if isinstance(v, dict) and str(v.get(fkey)) == fval)
            elif index and isinstance(value, list) and int(index) < len(value):
                found.append(value[int(index)])
        values = found
    return values[0] if values else None


def human_age(timestamp: str | None) -> str | None:
    if not timestamp:
        return None
    then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = max(0, int((datetime.datetime.now(datetime.UTC) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def essence(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": code,
            "reason": reason, "message": message}


def namespace_object(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": f"ns-{name}", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Active"}}




AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def printer_table(columns: list[dict[str, Any]] | None, items: list[dict[str, Any]],
                  resource_version: str) -> dict[str, Any]:
    """The server-side Table `kubectl get` asks for, from a CRD's additionalPrinterColumns."""
    columns = columns or [AGE_COLUMN]
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    definitions += [{"name": c["name"], "type": c["type"], "format": c.get("format", ""),
                     "description": c.get("description", ""), "priority": c.get("priority", 0)} for c in columns]
    rows = []
    for obj in items:
        cells: list[Any] = [obj["metadata"]["name"]]
        for column in columns:
            value = jsonpath(obj, column["jsonPath"])
            cells.append(human_age(value) if column["type"] == "date" else value)
        rows.append({"cells": cells, "object": {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                                                "metadata": obj["metadata"]}})
    return {"apiVersion": "meta.k8s.io/v1", "kind": "Table", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions, "rows": rows}


def stored_form(new: dict[str, Any], old: dict[str, Any] | None, *, api_version: str, kind: str,
                status_subresource: bool, writes_status: bool) -> dict[str, Any]:
    """An object as the API server stores a write of it: identity kept, status written only through its
    subresource, generation bumped on other changes, a Secret's stringData folded into data."""
    new = copy.deepcopy(new)
    new.setdefault("apiVersion", api_version)
    new.setdefault("kind", kind)
    meta = new.setdefault("metadata", {})
    if old is not None:
        for field in ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
        if writes_status:
            new = {**copy.deepcopy(old), "status": new.get("status")}
            if new["status"] is None:
                del new["status"]
        elif status_subresource:
            new.pop("status", None)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        if essence(new) != essence(old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
    elif status_subresource:
        new.pop("status", None)
    if (api_version, kind) == ("v1", "Secret") and "stringData" in new:
        new.setdefault("data", {}).update(
            {k: base64.b64encode(str(v).encode()).decode() for k, v in new.pop("stringData").items()})
    return new


def crd_resources(crd: dict[str, Any]) -> list[tuple[Any, kmock.ResourceInfo, list[dict[str, Any]]]]:
    """(resource, kmock's ResourceInfo, printer columns) of each served version of a CRD."""
    spec, names = crd["spec"], crd["spec"]["names"]
    return [(kmock.resource(spec["group"], version["name"], names["plural"]), kmock.ResourceInfo(
                kind=names["kind"], singular=names.get("singular"), namespaced=spec["scope"] == "Namespaced",
                shortnames=set(names.get("shortNames", [])), categories=set(names.get("categories", [])),
                subresources=set(version.get("subresources") or {}),
                verbs={"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}),
             version.get("additionalPrinterColumns", []))
            for version in spec["versions"] if version.get("served", True)]
