"""The one path to the Kubernetes API: plain-dict requests through the `kubernetes` client's ApiClient.

`apply()` creates a child or merge-patches only the fields the operator owns (see plan.py), and only in a child that
is this SlackBot's own (plan.foreign): any other object holding the name is a ChildConflict, never written.
`delete_own()` removes a child no longer rendered, under the same check: someone else's object is never deleted.
The client is synchronous; kopf runs the handlers that use it in its thread pool.
"""

import json
import logging
from dataclasses import dataclass
from typing import Any

import kubernetes

from h1bot_api import GROUP, PLURAL, VERSION
from h1bot_operator.plan import foreign, plan_patch

MERGE_PATCH = "application/merge-patch+json"
log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message


class ChildConflict(Exception):
    """A child's name is taken by an object this SlackBot does not control."""


class ChildRejected(Exception):
    """The API server refused to store a child as rendered (invalid, or denied by admission): the author must act."""


REJECTED = (400, 403, 422)  # BadRequest (e.g. an unparseable quantity), Forbidden (admission), Invalid

@dataclass(frozen=True)
class Applied:
    action: str  # created | patched | unchanged; delete_own: deleted | absent | foreign
    obj: dict[str, Any]


def object_path(obj: dict[str, Any], collection: bool = False) -> str:
    """URL path of a namespaced object from its apiVersion/kind/metadata (our kinds pluralise with an `s`:
    serviceaccounts, roles, rolebindings, deployments, poddisruptionbudgets)."""
    api_version, meta = obj["apiVersion"], obj["metadata"]
    prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    path = f"{prefix}/namespaces/{meta['namespace']}/{obj['kind'].lower()}s"
    return path if collection else f"{path}/{meta['name']}"


def slackbot_path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"


class Kube:
    """Requests through one ApiClient (`h1bot_kube.load_credentials().api_client()`: its tokens stay fresh)."""

    def __init__(self, api_client: kubernetes.client.ApiClient, timeout: float = 30) -> None:
        self.api, self.timeout = api_client, timeout

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _, url, headers, body, _ = self.api.param_serialize(method=method, resource_path=path, header_params=headers,
                                                            body=body, auth_settings=["BearerToken"])
        response = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=self.timeout)
        response.read()
        data = json.loads(response.data) if response.data else {}
        if response.status >= 400:
            raise ApiError(response.status, data.get("reason") or str(response.reason), data.get("message") or "")
        return data

    def get(self, path: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")

    def slackbot(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(slackbot_path(namespace, name))

    def slackbot_names(self, namespaces: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """(namespace, name) of every SlackBot in `namespaces` (all namespaces when empty)."""
        paths = [f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURAL}" for ns in namespaces] or [
            f"/apis/{GROUP}/{VERSION}/{PLURAL}"]
        return [(item["metadata"]["namespace"], item["metadata"]["name"])
                for path in paths for item in self.request("GET", path).get("items", ())]

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch the status subresource: only the given fields change (the bot's runtime/slack stay)."""
        return self.request("PATCH", slackbot_path(namespace, name) + "/status", {"status": status}, MERGE_PATCH)

    def apply(self, desired: dict[str, Any]) -> Applied:
        try:
            return self._apply(desired)
        except ApiError as exc:
            if exc.status not in REJECTED:
                raise
            meta = desired["metadata"]
            raise ChildRejected(f"the API server rejected {desired['kind']} {meta['namespace']}/{meta['name']}: "
                                f"{exc.message or exc.reason}") from exc

    def _apply(self, desired: dict[str, Any]) -> Applied:
        path = object_path(desired)
        current = self.get(path)
        if current is None:
            try:
                return Applied("created", self.request("POST", object_path(desired, collection=True), desired))
            except ApiError as exc:
                if exc.status != 409:
                    raise
                current = self.get(path)
                if current is None:
                    raise
        if problem := foreign(desired, current):
            raise ChildConflict(problem)
        patch = plan_patch(desired, current)
        if patch is None:
            return Applied("unchanged", current)
        return Applied("patched", self.request("PATCH", path, patch, MERGE_PATCH))

    def delete_own(self, desired: dict[str, Any]) -> Applied:
        """Delete the object holding the name of the child `desired` if it is this SlackBot's own; anything else
        (absent, or someone else's: not ours to remove, and we no longer need the name) is left as it is.

        Preconditions on its uid and resourceVersion: an object replaced or edited since we read it is not deleted
        unseen (409 Conflict, and the reconcile is retried)."""
        path = object_path(desired)
        current = self.get(path)
        if current is None:
            return Applied("absent", desired)
        if foreign(desired, current):
            return Applied("foreign", current)
        meta = current["metadata"]
        options = {"apiVersion": "v1", "kind": "DeleteOptions",
                   "preconditions": {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}}
        try:
            self.request("DELETE", path, options)
        except ApiError as exc:
            if exc.status == 404:
                return Applied("absent", current)
            raise
        return Applied("deleted", current)
