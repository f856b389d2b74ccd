"""Model Markdown as Slack mrkdwn, made safe (core/slack_safety.py), cut into messages Slack accepts."""

from markdown_to_mrkdwn import SlackMarkdownConverter

from h1bot_bot.core.slack_safety import redact, safe_mrkdwn

# Slack refuses `chat.update` text over 4,000 characters; stay below with room for a code-fence reopening.
INTERNAL_ERROR = "Sorry, something went wrong on my side while answering. Please try again."
SLACK_MESSAGE_LIMIT = 3900
_FENCE = "```"


def to_mrkdwn(markdown: str, allow_user_mentions: bool = False) -> str:
    """Markdown (what models write) as Slack mrkdwn: bold, italics, links, headings, lists; code kept verbatim.

    Every text that reaches Slack as mrkdwn passes here: keys and tokens are redacted, broadcasts, group and
    (unless allowed) user mentions are shown without notifying, and links show their real host."""
    if not markdown.strip():
        return ""
    # A fresh converter per call: the converter keeps code-block state between lines of one conversion.
    return safe_mrkdwn(redact(SlackMarkdownConverter().convert(markdown), named=False), allow_user_mentions)


def _cut_point(text: str, limit: int) -> int:
    """Where to cut `text` (longer than `limit`): the last paragraph, line, sentence or word break that keeps a
    reasonable first part; a hard cut when there is none."""
    window = text[:limit]
    for separator in ("\n\n", "\n", ". ", " "):
        at = window.rfind(separator)
        if at >= limit // 2:
            return at + len(separator)
    return limit


def split_message(text: str, limit: int = SLACK_MESSAGE_LIMIT) -> list[str]:
    """Parts of at most `limit` characters, cut at natural breaks; a code block cut in two is closed at the end of
    one part and reopened at the start of the next, so each message renders on its own."""
    if limit < 2 * len(_FENCE) + 16:
        raise ValueError("limit too small")
    parts: list[str] = []
    rest = text
    reopen = ""
    while rest:
        rest = reopen + rest
        if len(rest) <= limit:
            parts.append(rest)
            break
        cut = _cut_point(rest, limit - len(_FENCE) - 1)
        part = rest[:cut]
        in_code = part.count(_FENCE) % 2 == 1
        if in_code:
            part = part.rstrip("\n") + "\n" + _FENCE
            reopen = _FENCE + "\n"
        else:
            reopen = ""
        parts.append(part.rstrip() if not in_code else part)
        rest = rest[cut:].lstrip("\n") if not in_code else rest[cut:]
    return [p for p in parts if p.strip()] or [""]


def ending_note(finish_reason: str | None, *, max_output_tokens: int, deadline: float, answered: bool) -> str:
    """What the reply says under an answer that did not end normally (`""` when it did): the answer was cut at
    the output limit, withheld by the provider's filter, or cut by the bot's answer deadline."""
    if finish_reason == "length":
        return (f"_:scissors: Cut off at the output limit ({max_output_tokens} tokens). An admin can raise it with "
                "`config set maxOutputTokens N` or `spec.model.maxOutputTokens`._")
    if finish_reason == "content_filter":
        what = "The rest of this answer was" if answered else "The answer was"
        return f"_:no_entry: {what} withheld by the model provider's content filter._"
    if finish_reason == "deadline":
        return (f"_:hourglass: Cut off: the answer took longer than the bot's {deadline:g}-second answer deadline "
                "(H1BOT_ANSWER_DEADLINE). Ask again for the rest._")
    return ""
