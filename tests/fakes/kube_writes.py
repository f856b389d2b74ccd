"""The emulator's writes, as the API server does them: create, patch, replace (PUT) and delete of objects.

Create takes the namespace from the URL, fills `generateName` and sets uid / creationTimestamp / generation; a patch
is a JSON patch (a failing `test` op → 422) or a merge patch; a resourceVersion precondition that no longer matches
→ 409. `dryRun` and no-op writes store nothing; the `status` subresource writes only the status. Delete sets
`deletionTimestamp` while finalizers remain, then removes the object and (with `garbage_collection`) its dependents
by owner reference. Validation and canonical quantities apply on the way in (tests/fakes/kube_validation.py).
"""

import copy
import uuid
from collections.abc import Callable
from typing import Any

import jsonpatch
import kmock

from tests.fakes.kube_protocol import api_error, check_delete_preconditions, merge_patch, now_iso, stored_form
from tests.fakes.kube_validation import canonical_quantities, validate


class ObjectWrites:
    """Mixed into KubeEmulator (uses its store: `_store`, `_info`, `_current`, `_commit`, `_api_version`)."""

    __slots__ = ()  # KubeEmulator is a slotted attrs class

    validation: bool
    canonical_quantities: bool
    garbage_collection: bool
    _store: dict[Any, dict[tuple[str | None, str], dict[str, Any]]]
    _info: Callable[[Any], kmock.ResourceInfo]
    _current: Callable[[kmock.Request], dict[str, Any]]
    _commit: Callable[[Any, str, dict[str, Any]], dict[str, Any]]
    _api_version: Callable[[Any], str]

    def _prepare(self, res: Any, info: kmock.ResourceInfo, new: dict[str, Any], old: dict[str, Any] | None,
                 subresource: str | None) -> dict[str, Any]:
        if subresource not in (None, "status") or (subresource == "status" and "status" not in info.subresources):
            raise api_error(404, "NotFound", f"subresource {subresource!r} is not served")
        stored = stored_form(new, old, api_version=self._api_version(res), kind=info.kind,
                             status_subresource="status" in info.subresources, writes_status=subresource == "status")
        if self.validation and subresource is None:
            validate(stored)
        return canonical_quantities(stored) if self.canonical_quantities else stored

    async def _serve_create(self, request: kmock.Request) -> Any:
        obj = self.created(request.resource, request.data, request.namespace)
        if request.params.get("dryRun"):
            return obj
        return kmock.Response(status=201, payload=self._commit(request.resource, "ADDED", obj))

    def created(self, res: Any, body: Any, namespace: str | None) -> dict[str, Any]:
        """The object a POST of `body` to the collection of `res` in `namespace` creates (not stored yet)."""
        info = self._info(res)
        if not isinstance(body, dict):
            raise api_error(400, "BadRequest", "the body must be a JSON object")
        meta = body.setdefault("metadata", {})
        if info.namespaced:
            if meta.get("namespace") not in (None, namespace):
                raise api_error(400, "BadRequest", "the namespace of the object does not match the URL")
            meta["namespace"] = namespace
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise api_error(422, "Invalid", "metadata.name: Required value")
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if (meta.get("namespace"), meta["name"]) in self._store[res]:
            raise api_error(409, "AlreadyExists", f'{res.plural} "{meta["name"]}" already exists')
        obj = self._prepare(res, info, body, None, None)
        obj["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=now_iso(), generation=1)
        return obj

    async def _serve_update(self, request: kmock.Request) -> dict[str, Any]:
        info = self._info(request.resource)
        old = self._current(request)
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        patch = request.data
        if content_type == "application/json-patch+json":
            if not isinstance(patch, list):
                raise api_error(400, "BadRequest", "a JSON patch must be a list of operations")
            try:
                new = jsonpatch.apply_patch(copy.deepcopy(old), patch)
            except jsonpatch.JsonPatchTestFailed as exc:
                raise api_error(422, "Invalid", f"the server rejected our request: {exc}") from None
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise api_error(422, "Invalid", str(exc)) from None
        elif content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if not isinstance(patch, dict):
                raise api_error(400, "BadRequest", "a merge patch must be a JSON object")
            new = merge_patch(old, patch)
        else:
            raise api_error(415, "UnsupportedMediaType", f"the patch type {content_type!r} is not supported")
        self._check_precondition(patch if isinstance(patch, dict) else {}, old)
        return self._update(request, info, new, old)

    async def _serve_replace(self, request: kmock.Request) -> dict[str, Any]:
        info = self._info(request.resource)
        old = self._current(request)
        if not isinstance(request.data, dict):
            raise api_error(400, "BadRequest", "the body must be a JSON object")
        self._check_precondition(request.data, old)
        return self._update(request, info, request.data, old)

    def _check_precondition(self, body: dict[str, Any], old: dict[str, Any]) -> None:
        expected = (body.get("metadata") or {}).get("resourceVersion")
        if expected and expected != old["metadata"]["resourceVersion"]:
            raise api_error(409, "Conflict", "the object has been modified; please apply your changes to the latest "
                                          "version and try again")

    def _update(self, request: kmock.Request, info: kmock.ResourceInfo, new: dict[str, Any],
                old: dict[str, Any]) -> dict[str, Any]:
        new = self._prepare(request.resource, info, new, old, request.subresource)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old or request.params.get("dryRun"):
            return new  # a no-op write changes nothing, like the real API server
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._remove(request.resource, new)
        return self._commit(request.resource, "MODIFIED", new)

    async def _serve_delete(self, request: kmock.Request) -> dict[str, Any]:
        self._info(request.resource)
        obj = copy.deepcopy(self._current(request))
        check_delete_preconditions(request.data, obj, request.resource.plural)
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = now_iso()
                return self._commit(request.resource, "MODIFIED", obj)
            return obj
        return self._remove(request.resource, obj)

    def _remove(self, res: Any, obj: dict[str, Any]) -> dict[str, Any]:
        removed = self._commit(res, "DELETED", obj)
        uid = obj["metadata"].get("uid")
        if self.garbage_collection and uid:
            for dep_res, objects in list(self._store.items()):
                for dependent in list(objects.values()):
                    if any(ref.get("uid") == uid for ref in dependent["metadata"].get("ownerReferences") or ()):
                        self._remove(dep_res, copy.deepcopy(dependent))
        return removed
