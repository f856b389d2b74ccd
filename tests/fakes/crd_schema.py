"""What the API server checks when a SlackBot is written: the CRD's structural schema and its CEL rules.

kmock admits anything, so tests that need admission ask this module. The schema is read from crds/ (the one
source); CEL rules are evaluated with cel-python, walking the object alongside the schema as the API server does.
"""

import copy
from dataclasses import dataclass
from functools import cache
from typing import Any

import celpy
import jsonschema
import yaml

from tests.paths import CRD_PATH


@dataclass(frozen=True)
class Rejection:
    path: str
    message: str
    by: str  # "schema" or "cel"

    def __str__(self) -> str:
        return f"{self.path}: {self.message} ({self.by})"


@cache
def load_crd() -> dict[str, Any]:
    return yaml.safe_load(CRD_PATH.read_text())


def open_api_schema() -> dict[str, Any]:
    return load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def with_defaults(schema: dict[str, Any], value: Any) -> Any:
    """`value` with the schema's defaults filled in, as the API server does before it validates: a missing field
    with a `default` is set, inside every object that is present (an absent object gets no defaults)."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        filled = {name: with_defaults(properties.get(name) or schema.get("additionalProperties") or {}, child)
                  for name, child in value.items()}
        for name, field in properties.items():
            if name not in filled and "default" in field:
                filled[name] = with_defaults(field, copy.deepcopy(field["default"]))
        return filled
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [with_defaults(schema["items"], item) for item in value]
    return value


def admit(obj: dict[str, Any]) -> list[Rejection]:
    """Every reason the API server would refuse `obj` (once defaulted); empty when it would be admitted."""
    schema = open_api_schema()
    obj = with_defaults(schema, obj)
    validator = jsonschema.Draft7Validator(schema)
    rejections = [Rejection(_path(error.absolute_path), error.message, "schema")
                  for error in validator.iter_errors(obj)]
    if not rejections:  # The API server runs CEL only on objects that pass the structural schema.
        rejections += list(_cel_rejections(schema, obj, "."))
    return rejections


def _path(parts) -> str:
    return "." + ".".join(str(p) for p in parts) if parts else "."


@cache
def _program(rule: str):
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _cel_rejections(schema: dict[str, Any], value: Any, path: str):
    for rule in schema.get("x-kubernetes-validations", ()):
        if not _program(rule["rule"]).evaluate({"self": celpy.json_to_cel(value)}):
            yield Rejection(path, rule.get("message", rule["rule"]), "cel")
    if isinstance(value, dict):
        for name, child in value.items():
            child_schema = schema.get("properties", {}).get(name) or schema.get("additionalProperties")
            if isinstance(child_schema, dict):
                yield from _cel_rejections(child_schema, child, f"{path.rstrip('.')}.{name}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _cel_rejections(schema["items"], item, f"{path}[{index}]")
