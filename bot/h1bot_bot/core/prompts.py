"""Summarization prompts. Bump PROMPT_VERSION whenever a prompt changes: it is part of every summary-cache key."""

PROMPT_VERSION = "rsf-1"

# Level passed to the summarizer for the user-facing summary of a whole thread (the `summarize` command);
# levels 1, 2, … are the recursive compression levels.
FINAL_LEVEL = 0

SUMMARY_HEADER = "Summary of earlier conversation"

_KEEP = ("Keep who said what (names as given), decisions, numbers, names, dates, links, commands and code, "
         "and open questions. Leave out greetings and chatter. Write plain text, no preamble.")

_INSTRUCTIONS = {
    "messages": "You condense part of a Slack thread. Each message starts with who wrote it. " + _KEEP,
    "summaries": "You merge consecutive summaries of one Slack thread, oldest first, into one summary. " + _KEEP,
    "final": ("You write a summary of a whole Slack thread for someone who has not read it: the topic, what was "
              "decided, who does what next, and open questions. Use short paragraphs or bullet points. " + _KEEP),
}


def summary_instructions(level: int, max_tokens: int | None = None) -> str:
    kind = "final" if level == FINAL_LEVEL else "messages" if level == 1 else "summaries"
    text = _INSTRUCTIONS[kind]
    if max_tokens:
        text += f" Use at most {max(10, max_tokens * 3 // 4)} words."
    return text


def summary_messages(text: str, level: int, max_tokens: int | None = None) -> list[dict[str, str]]:
    """The chat request for one summarization call (the adapter sends it with its max-output limit)."""
    return [{"role": "system", "content": summary_instructions(level, max_tokens)},
            {"role": "user", "content": text}]
