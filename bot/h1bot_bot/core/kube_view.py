"""Kubernetes objects as the text a tool returns to the model (pure): short, one line per object for lists, and
never a secret's value: a container env entry from `valueFrom` is shown by where it comes from, not what it holds,
and annotations that may copy whole manifests (last-applied-configuration) and managedFields are dropped.
"""

import json
from typing import Any

DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
MAX_MESSAGE = 500  # characters of a status message in a pod's details (the JSON after them has it whole)


def _env_entry(entry: dict[str, Any]) -> dict[str, Any]:
    source = entry.get("valueFrom")
    if source is None:
        return entry
    kind = next(iter(source), "valueFrom")
    ref = source.get(kind) or {}
    where = "/".join(str(ref[k]) for k in ("name", "key") if k in ref) or ref.get("fieldPath", "")
    return {"name": entry.get("name"), "valueFrom": f"{kind} {where} (value not shown)".replace("  ", " ")}


def _containers(spec: dict[str, Any]) -> None:
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or ():
            if "env" in container:
                container["env"] = [_env_entry(e) for e in container["env"]]


def sanitized(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of `obj` safe to show: no env valueFrom contents, no managedFields, no last-applied annotation."""
    obj = json.loads(json.dumps(obj))
    meta = obj.get("metadata") or {}
    meta.pop("managedFields", None)
    for key in DROPPED_ANNOTATIONS:
        (meta.get("annotations") or {}).pop(key, None)
    spec = obj.get("spec") or {}
    _containers(spec)
    _containers(((spec.get("template") or {}).get("spec")) or {})  # deployments, jobs, ...
    _containers(((((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")) or {})
    return obj


def _pod_line(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    reasons = []
    for c in containers:
        waiting = (c.get("state") or {}).get("waiting") or {}
        last = (c.get("lastState") or {}).get("terminated") or {}
        if waiting.get("reason"):
            reasons.append(f"{c.get('name')}: {waiting['reason']}")
        if last.get("reason"):
            reasons.append(f"{c.get('name')} last exit: {last['reason']} (code {last.get('exitCode')})")
    return (f"{pod['metadata']['name']}  phase={status.get('phase', '?')}  ready={ready}/{len(containers)}  "
            f"restarts={restarts}" + (f"  {'; '.join(reasons)}" if reasons else ""))


def _deployment_line(dep: dict[str, Any]) -> str:
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    return (f"{dep['metadata']['name']}  replicas={spec.get('replicas', '?')}  ready={status.get('readyReplicas', 0)}"
            f"  updated={status.get('updatedReplicas', 0)}  available={status.get('availableReplicas', 0)}")


def _pod_healthy(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    return status.get("phase") in ("Running", "Succeeded") and all(
        c.get("ready") and not c.get("restartCount") for c in containers)


def object_lines(resource: str, items: list[dict[str, Any]]) -> str:
    """One line per object; pods and deployments with their health, other kinds by name. Pods in trouble (not
    ready, restarting, not running) come first, so a list clipped to the tool output limit keeps them."""
    if not items:
        return f"no {resource} found"
    line = {"pods": _pod_line, "deployments": _deployment_line}.get(
        resource, lambda o: str((o.get("metadata") or {}).get("name")))
    if resource == "pods":
        items = sorted(items, key=_pod_healthy)  # stable: name order within each group, as the API lists them
    return "\n".join(line(item) for item in items)


def object_text(obj: dict[str, Any]) -> str:
    """One object in full (sanitized), as compact JSON; a pod led by what explains its state (`pod_details`), so
    that clipping to the tool output limit keeps that first."""
    text = json.dumps(sanitized(obj), separators=(",", ":"), sort_keys=True)
    if obj.get("kind") == "Pod":
        return f"{pod_details(obj)}\nthe pod as JSON (values from Secrets not shown):\n{text}"
    return text


def _short(text: Any, limit: int = MAX_MESSAGE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _state(state: dict[str, Any]) -> str:
    """`waiting CrashLoopBackOff: back-off 5m0s ...`, `terminated OOMKilled exitCode=137 at ...: ...`."""
    if not state:
        return "none"
    kind = next(iter(state))
    detail = state[kind] or {}
    words = [kind, str(detail.get("reason", ""))]
    if kind == "terminated":
        words.append(f"exitCode={detail.get('exitCode')}" + (f" signal={detail['signal']}" if "signal" in detail
                                                              else ""))
    at = detail.get("finishedAt") or detail.get("startedAt")
    words.append(f"at {at}" if at else "")
    text = " ".join(w for w in words if w)
    return text + (f": {_short(detail['message'])}" if detail.get("message") else "")


def pod_details(pod: dict[str, Any]) -> str:
    """What explains a pod's state, one line a fact: phase and why, each container's image, limits, restarts, its
    state and last state (reason, exit code, message), and the conditions that are not True."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    why = " ".join(f"{k}={_short(status[k])}" for k in ("reason", "message") if status.get(k))
    lines = [f"pod {meta.get('name')} in {meta.get('namespace')}: phase={status.get('phase', '?')}"
             f"{' ' + why if why else ''} node={spec.get('nodeName', '?')}"]
    for kind, specs, statuses in (("init container", "initContainers", "initContainerStatuses"),
                                  ("container", "containers", "containerStatuses")):
        found = {c.get("name"): c for c in status.get(statuses) or ()}
        for container in spec.get(specs) or ():
            name = container.get("name")
            limits = ",".join(f"{k}={v}" for k, v in ((container.get("resources") or {}).get("limits") or {}).items())
            line = f"{kind} {name}: image={container.get('image')}" + (f" limits={limits}" if limits else "")
            state = found.get(name)
            if state is None:
                lines.append(f"{line} (no status yet)")
                continue
            lines += [f"{line} ready={str(bool(state.get('ready'))).lower()} restarts={state.get('restartCount', 0)}",
                      f"  state: {_state(state.get('state') or {})}",
                      f"  last state: {_state(state.get('lastState') or {})}"]
    for condition in status.get("conditions") or ():
        if condition.get("status") != "True":
            reason = f" {condition['reason']}" if condition.get("reason") else ""
            message = f": {_short(condition['message'])}" if condition.get("message") else ""
            lines.append(f"condition {condition.get('type')}={condition.get('status')}{reason}{message}")
    return "\n".join(lines)


def event_lines(events: list[dict[str, Any]], about: str = "", max_lines: int = 0, unread: int | None = None) -> str:
    """Events oldest first, one a line: `time type reason kind/name: message (xN)`; only those about `about`, the
    newest `max_lines` of them (0: all). `unread`: events the API had beyond those read (0: an unknown number)."""
    chosen = [e for e in events if not about or (e.get("involvedObject") or {}).get("name") == about]
    notes = []
    if unread is not None:
        notes.append(f"({unread or 'more'} more events were not read: the newest may be among them"
                     + ("" if about else "; ask about one object by name") + ")")
    if not chosen:
        return "\n".join([f"no events about {about}" if about else "no events", *notes])

    def when(event: dict[str, Any]) -> str:
        return event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or ""
    ordered = sorted(chosen, key=when)
    if max_lines and len(ordered) > max_lines:
        notes.append(f"({len(ordered) - max_lines} older events not shown)")
        ordered = ordered[-max_lines:]
    lines = []
    for e in ordered:
        obj = e.get("involvedObject") or {}
        count = f" (x{e['count']})" if (e.get("count") or 1) > 1 else ""
        what = f"{obj.get('kind', '')}/{obj.get('name', '')}"
        lines.append(f"{when(e)} {e.get('type', '')} {e.get('reason', '')} {what}: {e.get('message', '')}{count}")
    return "\n".join(notes + lines)
