"""Which model endpoint a terminal chat talks to: a configured OpenAI-compatible one, or the embedded local model.

Pure: the environment and the spec come in as arguments; nothing here reads `os.environ` or starts anything.
Not wired into a surface yet: the `h1bot chat` command (issue 11) calls `choose_endpoint`, starts
`adapters.local_model.LocalModelServer` when the choice is `embedded`, and answers with `spec_for_embedded_model`.

The rule, in order:
1. the base URL is `OPENAI_BASE_URL` when set (an explicit choice of the user beats the manifest), else the spec's
   `baseURL`, else OpenAI's default. A URL equal to the default (trailing slash or not) counts as the default, so the
   example manifest, which spells the default out, never hides the user's environment.
2. with no `OPENAI_API_KEY` and the default URL, nothing is configured: the embedded model answers. An API key, or a
   URL other than the default (a self-hosted server may need no key), means that endpoint is used as it is.
"""

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from h1bot_api.models import ModelInfo

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"

Source = Literal["OPENAI_BASE_URL", "spec.model.baseURL", "default"]


@dataclass(frozen=True)
class EndpointChoice:
    """Where a chat's model requests go. `base_url` is None for the embedded model (known once its server is up)."""

    embedded: bool
    base_url: str | None
    # Which setting decided the URL, for `debug` and the startup line ("endpoint: ... (from OPENAI_BASE_URL)").
    source: Source
    has_api_key: bool

    def describe(self) -> str:
        if self.embedded:
            return ("the embedded local model (no OPENAI_API_KEY and no baseURL configured; set OPENAI_API_KEY, and "
                    "OPENAI_BASE_URL for another endpoint, to use a hosted model)")
        key = "" if self.has_api_key else ", no OPENAI_API_KEY"
        return f"{self.base_url} (from {self.source}{key})"


def _normalized(url: str | None) -> str | None:
    url = (url or "").strip()
    return url.rstrip("/") or None


def is_default_base_url(url: str | None) -> bool:
    """Whether `url` is OpenAI's public endpoint (or unset)."""
    url = _normalized(url)
    return url is None or url == DEFAULT_OPENAI_BASE_URL


def choose_endpoint(env: Mapping[str, str], spec_base_url: str | None) -> EndpointChoice:
    """The endpoint of a terminal chat from the environment (`OPENAI_API_KEY`, `OPENAI_BASE_URL`) and the spec's
    `spec.model.baseURL`. Blank variables count as unset."""
    has_key = bool((env.get("OPENAI_API_KEY") or "").strip())
    from_env, from_spec = _normalized(env.get("OPENAI_BASE_URL")), _normalized(spec_base_url)
    if from_env is not None:
        url, source = from_env, "OPENAI_BASE_URL"
    elif from_spec is not None and not is_default_base_url(from_spec):
        url, source = from_spec, "spec.model.baseURL"
    else:
        url, source = DEFAULT_OPENAI_BASE_URL, "default"
    if not has_key and is_default_base_url(url):
        return EndpointChoice(embedded=True, base_url=None, source=source, has_api_key=False)
    return EndpointChoice(embedded=False, base_url=url, source=source, has_api_key=has_key)


def spec_for_embedded_model(spec: Mapping[str, Any], model_id: str, info: ModelInfo) -> dict[str, Any]:
    """The manifest's `spec` (raw dict) adapted to the embedded model, which is the only model its server has.

    The model becomes `model_id` with the table's context window (a `contextTokens` or `baseURL` written for a hosted
    model would be wrong for it); the channels' own models and `allowedModels` go (the server serves one model); the
    output limit and the summarization sizes are clamped so that they fit the small window. Persona, access and
    everything else are kept. The input is not mutated."""
    result = copy.deepcopy(dict(spec))
    model = dict(result.get("model") or {})
    for key in ("contextTokens", "baseURL"):
        model.pop(key, None)
    model["name"] = model_id
    model["allowedModels"] = [model_id]
    output = int(model.get("maxOutputTokens") or info.max_output_tokens)
    model["maxOutputTokens"] = min(output, info.max_output_tokens)
    result["model"] = model
    persona = dict(result.get("persona") or {})
    if persona.get("channels"):
        persona["channels"] = [{k: v for k, v in dict(channel).items() if k != "model"}
                               for channel in persona["channels"]]
        result["persona"] = persona
    summarization = dict(result.get("summarization") or {})
    room = info.context_tokens - model["maxOutputTokens"]
    if summarization.get("thresholdTokens") and summarization["thresholdTokens"] >= room:
        summarization["thresholdTokens"] = room // 2
    if summarization.get("chunkTokens") and summarization["chunkTokens"] >= room // 2:
        summarization["chunkTokens"] = room // 4
    if summarization:
        result["summarization"] = summarization
    return result
