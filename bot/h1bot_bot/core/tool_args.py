"""What every tool's definition and argument check shares (pure): the refusal the model reads back, the OpenAI
function shape, string arguments. core/tools.py (Kubernetes, actions) and core/prom_tools.py (Prometheus) build on it.
"""

from typing import Any


class ToolRefused(Exception):
    """A tool call that cannot run as asked; `message` goes back to the model as the tool's result."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """One OpenAI tool definition; arguments outside `properties` are refused (additionalProperties: false)."""
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required,
                       "additionalProperties": False}}}


def string_arg(args: dict[str, Any], key: str, tool: str, required: bool = True) -> str:
    value = args.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ToolRefused(f"{tool}: `{key}` must be a {'non-empty ' if required else ''}string")
    return value.strip()


def integer_arg(args: dict[str, Any], key: str, tool: str, default: int, low: int, high: int) -> int:
    """An integer argument within low..high (JSON booleans are not integers here)."""
    value = args.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ToolRefused(f"{tool}: `{key}` must be an integer from {low} to {high}")
    return value
