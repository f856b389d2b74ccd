"""Which model endpoints a bot may send its API key to: the operator-wide allow-list of base URLs (pure).

A SlackBot's `spec.model.baseURL` is where the bot sends the OpenAI key of its Secret as a Bearer token, so whoever
may edit SlackBots could otherwise send that key anywhere. The operator refuses a SlackBot whose baseURL is not
allowed (Ready=False, InvalidSpec) and passes the list to its bots (H1BOT_ALLOWED_BASE_URLS), which refuse a live
change to a URL that is not allowed and keep the endpoint they have.

Patterns are shell-style globs (`fnmatch`, case-sensitive) matched against the whole URL; `*` matches anything,
`/` included. So end a host with a slash, or the pattern also matches other hosts that merely start the same way:
`https://api.openai.com/*`, `https://*.openai.azure.com/*`, `http://ollama.ai.svc.cluster.local:11434/*`.
The default, `https://*`, allows any https endpoint (the key never travels in clear text); `*` allows any URL.
"""

import fnmatch
from collections.abc import Sequence
from urllib.parse import urlsplit

DEFAULT_ALLOWED_BASE_URLS = ("https://*",)
ENV = "H1BOT_ALLOWED_BASE_URLS"  # comma-separated, as the operator sets it for its bots


def parse_patterns(raw: str | None, default: Sequence[str] = DEFAULT_ALLOWED_BASE_URLS) -> tuple[str, ...]:
    """Comma-separated patterns; unset or blank: `default`."""
    patterns = tuple(p.strip() for p in (raw or "").split(",") if p.strip())
    return patterns or tuple(default)


def base_url_problem(url: str, patterns: Sequence[str]) -> str | None:
    """Why `url` may not be used as a model endpoint, or None when one of `patterns` allows it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    if any(fnmatch.fnmatchcase(url, pattern) for pattern in patterns):
        return None
    return (f"{url!r} is not an allowed model endpoint (the operator allows {', '.join(patterns)}; ask the platform "
            "team to add it to the chart value models.allowedBaseURLs)")
