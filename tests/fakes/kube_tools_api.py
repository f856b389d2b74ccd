"""What the emulator adds for the bot's cluster tools (kmock serves neither): `pods/log`, `deployments/scale`, and
RBAC enforced from the Roles and RoleBindings stored in it, as the API server's authorizer would.

`ToolsAPI` is consulted by KubeEmulator before kmock for every request. RBAC applies only to bearer tokens mapped
to a ServiceAccount (`service_accounts`: token → (namespace, name)) while `enforce_rbac` is True; other callers (the
tests, the operator) stay unrestricted. A ServiceAccount gets what the RoleBindings of the request's namespace grant
it through their Roles; cluster-scoped requests are refused (this project renders nothing cluster-wide).
"""

import copy
import re
from typing import Any

import aiohttp.web
import attrs
import kmock

from tests.fakes.kube_protocol import merge_patch, status_body

ROLES, BINDINGS = "rbac.authorization.k8s.io/v1/roles", "rbac.authorization.k8s.io/v1/rolebindings"
PATH = re.compile(r"/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
                  r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<res>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?/?")


@attrs.define
class Target:
    verb: str
    group: str
    resource: str  # with its subresource: pods/log, deployments/scale
    namespace: str | None
    name: str | None


def target(method: str, path: str, query: Any) -> Target | None:
    """The RBAC attributes of a request, or None for a non-resource URL (discovery, /version)."""
    match = PATH.fullmatch(path)
    if match is None:
        return None
    res, name = match["res"], match["name"]
    verb = {"GET": "get" if name else ("watch" if query.get("watch") in ("true", "1") else "list"),
            "POST": "create", "PATCH": "patch", "PUT": "update",
            "DELETE": "delete" if name else "deletecollection"}.get(method, method.lower())
    resource = f"{res}/{match['sub']}" if match["sub"] else res
    return Target(verb, match["group"] or "", resource, match["ns"], name)


def allows(rule: dict[str, Any], want: Target) -> bool:
    def has(values: list[str] | None, value: str) -> bool:
        return "*" in (values or ()) or value in (values or ())
    names = rule.get("resourceNames")
    return (has(rule.get("apiGroups"), want.group) and has(rule.get("resources"), want.resource)
            and has(rule.get("verbs"), want.verb) and (not names or want.name in names))


@attrs.define
class ToolsAPI:
    enforce_rbac: bool = True
    service_accounts: dict[str, tuple[str, str]] = attrs.field(factory=dict)
    pod_logs: dict[tuple[str, str], str] = attrs.field(factory=dict)  # (namespace, pod) → the log's text
    refused: list[str] = attrs.field(factory=list)  # "system:serviceaccount:NS:NAME VERB RESOURCE in NS"

    def identity(self, raw: aiohttp.web.BaseRequest) -> tuple[str, str] | None:
        scheme, _, token = raw.headers.get("Authorization", "").partition(" ")
        return self.service_accounts.get(token.strip()) if scheme.lower() == "bearer" else None

    def authorize(self, emulator: Any, account: tuple[str, str], want: Target) -> str | None:
        """Why the ServiceAccount may not do this, or None when a RoleBinding of the namespace grants it."""
        user = f"system:serviceaccount:{account[0]}:{account[1]}"
        what = (f'{want.resource.split("/")[0]}{" " + repr(want.name) if want.name else ""} is forbidden: User '
                f'"{user}" cannot {want.verb} resource "{want.resource}" in API group "{want.group}"')
        if want.namespace is None:
            return f"{what} at the cluster scope"
        for binding in emulator.find_all(BINDINGS, want.namespace):
            subjects = binding.get("subjects") or ()
            if not any(s.get("kind") == "ServiceAccount" and (s.get("namespace"), s.get("name")) == account
                       for s in subjects):
                continue
            ref = binding.get("roleRef") or {}
            role = emulator.find(ROLES, want.namespace, ref.get("name", "")) if ref.get("kind") == "Role" else None
            if role and any(allows(rule, want) for rule in role.get("rules") or ()):
                return None
        return f'{what} in the namespace "{want.namespace}"'

    async def serve(self, emulator: Any, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse | None:
        """A response for what this module handles (a refusal, a log, a scale), or None to let kmock serve it."""
        want = target(raw.method, raw.path, raw.query)
        if want is None:
            return None
        account = self.identity(raw)
        if account is not None and self.enforce_rbac and (why := self.authorize(emulator, account, want)):
            self.refused.append(f"system:serviceaccount:{account[0]}:{account[1]} {want.verb} {want.resource} "
                                f"in {want.namespace}")
            return aiohttp.web.json_response(status_body(403, "Forbidden", why), status=403)
        if want.resource == "pods/log" and want.verb == "get":
            return self._log(emulator, want, raw.query)
        if want.resource == "deployments/scale" and want.verb in ("get", "patch"):
            body = await raw.json() if want.verb == "patch" else None
            return self._scale(emulator, want, body)
        return None

    def _log(self, emulator: Any, want: Target, query: Any) -> aiohttp.web.StreamResponse:
        if emulator.find("v1/pods", want.namespace, want.name or "") is None:
            return aiohttp.web.json_response(status_body(404, "NotFound", f'pods "{want.name}" not found'),
                                             status=404)
        lines = self.pod_logs.get((want.namespace or "", want.name or ""), "").splitlines()
        if "tailLines" in query:
            lines = lines[-int(query["tailLines"]):] if int(query["tailLines"]) else []
        return aiohttp.web.Response(text="".join(f"{line}\n" for line in lines), content_type="text/plain")

    def _scale(self, emulator: Any, want: Target, patch: dict[str, Any] | None) -> aiohttp.web.StreamResponse:
        res = kmock.resource("apps/v1/deployments")
        current = emulator.find(res, want.namespace, want.name or "")
        if current is None:
            return aiohttp.web.json_response(
                status_body(404, "NotFound", f'deployments.apps "{want.name}" not found'), status=404)
        if patch is not None:
            replicas = ((merge_patch({"spec": {"replicas": current["spec"].get("replicas", 1)}}, patch)
                         .get("spec")) or {}).get("replicas")
            updated = copy.deepcopy(current)
            updated["spec"]["replicas"] = replicas
            updated["metadata"]["generation"] = int(current["metadata"].get("generation") or 1) + 1
            current = emulator._commit(res, "MODIFIED", updated)
        meta = current["metadata"]
        return aiohttp.web.json_response({
            "apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid"),
                         "resourceVersion": meta.get("resourceVersion")},
            "spec": {"replicas": current["spec"].get("replicas", 1)},
            "status": {"replicas": (current.get("status") or {}).get("replicas", 0)}})
