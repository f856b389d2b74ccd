"""The replies to the read-only commands `help`, `models` and `debug`. Pure; errors shown in them are redacted."""

from collections.abc import Iterable, Sequence

from h1bot_api.models import is_chat_model
from h1bot_api.status import RUNTIME_KEYS
from h1bot_bot.core.command_parser import USAGE_MODEL, USAGE_RESET, USAGE_SET
from h1bot_bot.core.reply_text import code, truncated
from h1bot_bot.core.slack_safety import escape, redact


def help_text() -> str:
    settings = ", ".join(f"`{key}`" for key in RUNTIME_KEYS)
    return "\n".join([
        "*What I can do* (mention me with one of these; anything else is a question for me)",
        "• `help`: this message",
        "• `config`: the settings in effect, and who changed what from Slack",
        f"• {USAGE_SET}: change a setting (admins only). Settings: {settings}"
        " (also `threshold`, `chunk`, `persona`/`prompt`, `max-output-tokens`)",
        "    e.g. `config set model gpt-4o-mini`, `config set threshold 12000`,"
        " `config set persona \"You are a pirate. Answer in rhymes.\"`",
        f"• {USAGE_RESET}: go back to the spec's values (admins only)",
        "• `models`: the models I can use; the current one is marked",
        f"• {USAGE_MODEL}: switch model (admins only)",
        "• `summarize`: summarize this thread",
        "• `debug`: version, model, and how big this thread is for me",
    ])


def models_text(model_ids: Iterable[str] | None, current: str, allowed: Sequence[str] = (),
                error: str | None = None) -> str:
    """The `models` reply: the endpoint's chat models (only `allowed` ones when set), the current one marked.
    `model_ids` None (with `error`) when the endpoint could not be asked."""
    if model_ids is None:
        listed = sorted(set(allowed) | {current})
        head = f":warning: I could not list the endpoint's models ({escape(redact(error or 'unknown error'))})."
        head += " The allowed models:" if allowed else " The current model:"
    else:
        listed = sorted({m for m in model_ids if is_chat_model(m) and (not allowed or m in allowed)})
        head = "*Models I can use*" + (" (limited to spec.model.allowedModels)" if allowed else "") + ":"
    lines = [head] + [f"• {code(m)}" + ("  ← current" if m == current else "") for m in listed]
    if current not in listed:
        lines.append(f"• {code(current)}  ← current (not listed by the endpoint)")
    lines.append(f"Switch with {USAGE_MODEL}.")
    return "\n".join(lines)


def debug_text(*, version: str, uptime_seconds: float, model: str, thread_tokens: int, threshold_tokens: int,
               summarization: str, last_error: str | None, source: str = "", bounded: bool = False,
               tokenizer_exact: bool = True) -> str:
    """The `debug` reply. `summarization` says how this thread would be summarized (from the summarizer).

    `bounded`: `thread_tokens` is the UTF-8 byte bound (the thread is under the threshold even so, and was not
    tokenized); `tokenizer_exact=False`: the model has its own tokenizer, so tiktoken's counts are estimates."""
    minutes, seconds = divmod(int(uptime_seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    uptime = (f"{days}d " if days else "") + f"{hours}h {minutes:02d}m {seconds:02d}s"
    lines = [f"*Version*: {code(version)}   *Uptime*: {uptime}" + (f"   *Config from*: {code(source)}"
                                                                    if source else ""),
             f"*Model*: {code(model)}",
             f"*This thread*: {'at most ' if bounded else ''}{thread_tokens:,} tokens of history; summarized above"
             f" {threshold_tokens:,} ({'over' if thread_tokens > threshold_tokens else 'under'} the threshold)"
             + (" — an upper bound from its UTF-8 bytes: answers load the tokenizer only for threads that could"
                " exceed the threshold" if bounded else "")
             + ("" if tokenizer_exact else f"; counts are estimates: tiktoken, not {code(model)}'s own tokenizer"),
             f"*Summarization*: {escape(summarization)}",
             "*Last error*: " + (code(truncated(redact(last_error), 500)) if last_error else "none")]
    return "\n".join(lines)
