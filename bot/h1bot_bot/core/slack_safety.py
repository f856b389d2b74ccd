"""Text that did not come from us, made safe to show in Slack, in status and in Events.

Two pure steps, applied where every such text passes on its way out:
- `redact`: credentials (OpenAI keys, Slack tokens, bearer strings, `Authorization:` headers, `api_key=…`)
  replaced by `[redacted]`. For every text from outside: model output, endpoint error messages, exceptions.
- `safe_mrkdwn` / `safe_markdown`: Slack markup that would act rather than show — `<!channel>`, `<!here>`,
  `<!everyone>`, `<!subteam^…>`, `<!date…>`, `<#C…>` and user mentions `<@U…>` (unless the SlackBot allows them,
  `spec.access.allowUserMentions`) — is shown as text and never triggers; a link with a label shows its real host
  (`<https://evil|sso.company.com>` → `<https://evil|sso.company.com (evil)>`).

`safe_mrkdwn` is for mrkdwn (`text` of chat.postMessage/chat.update): neutralised markup is escaped with Slack's
entities (`&lt;!channel&gt;`, shown as `<!channel>`, in code too: Slack decodes the entities everywhere).
`safe_markdown` is for standard Markdown that Slack renders itself (native streaming `markdown_text`): entities are
not decoded inside code spans there, so neutralised markup gets a zero-width joiner after its `<` instead, and
Markdown links `[label](url)` show their host too.
"""

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from h1bot_api.redaction import REDACTED, redact

__all__ = ["REDACTED", "ZWJ", "link_host", "outside_text", "redact", "safe_markdown", "safe_mrkdwn",
           "stable_length"]

ZWJ = "\u200d"

_TOKEN = re.compile(r"<([^<>\n]*)>")  # a Slack markup token: <@U1>, <!here>, <#C1|x>, <url|label>
_URL = re.compile(r"(?i:https?://|mailto:)[^\s|<>]+")
_USER = re.compile(r"@[UW][A-Z0-9]+(?:\|[^|]*)?")
_STRAY_MARK = re.compile(r"<(?=[!@#])")
_TRAILING_WORD = re.compile(r"\S+$")
_LINK_SYNTAX = re.compile(r"\](?=[(\[:])")  # `](`, `][`, `]:`: what makes a Markdown link or reference
_MD_LINK = re.compile(r"\[([^\[\]\n]*)\]\(((?i:https?://|mailto:)[^\s()<>]+)\)")


def link_host(url: str) -> str:
    """What a reader should see to know where a link goes: the host a browser opens (the address for mailto:).
    Browsers read `\\` as `/` in http(s) URLs (WHATWG), so `https://evil\\@sso.company.com` goes to `evil`."""
    if url.lower().startswith("mailto:"):
        return url[7:]
    try:
        return urlsplit(url.replace("\\", "/")).hostname or url
    except ValueError:
        return url


def _labelled(label: str, url: str) -> str:
    """The label with the link's real host after it, unless the label already is the URL or ends with the host."""
    host = link_host(url)
    label = label.strip()
    if not label or label in (url, host) or label.endswith(f"({host})"):
        return label or url
    return f"{label} ({host})"


def _is_link(target: str) -> bool:
    return bool(_URL.fullmatch(target))


def _rewrite_markup(text: str, allow_user_mentions: bool, plain: Callable[[str], str],
                    link: Callable[[str, str], str], neutral: Callable[[re.Match], str]) -> str:
    """Walk the Slack markup tokens of `text`: text between them goes through `plain`, a labelled link through
    `link(label, target)`, an allowed user mention stays, and every other token through `neutral`."""
    out: list[str] = []
    at = 0
    for match in _TOKEN.finditer(text):
        out.append(plain(text[at:match.start()]))
        inner = match.group(1)
        target, bar, label = inner.partition("|")
        if _is_link(target):
            out.append(link(label, target) if bar and label.strip() else f"<{target}>")
        elif allow_user_mentions and _USER.fullmatch(inner):
            out.append(match.group(0))
        else:
            out.append(neutral(match))
        at = match.end()
    out.append(plain(text[at:]))
    return "".join(out)


def safe_mrkdwn(text: str, allow_user_mentions: bool = False) -> str:
    """Slack mrkdwn in which nothing from outside can notify anyone it may not or hide where a link goes."""
    if "<" not in text:
        return text
    return _rewrite_markup(text, allow_user_mentions, plain=lambda part: part.replace("<", "&lt;"),
                           link=lambda label, target: f"<{target}|{_labelled(label, target)}>",
                           neutral=lambda match: f"&lt;{match.group(1)}&gt;")


def _joined(part: str) -> str:
    return _STRAY_MARK.sub("<" + ZWJ, part)


def _markdown_links(text: str) -> str:
    """Plain `[label](url)` links get their host after the label; every other link form (brackets in the label, a
    `<url>` destination, a title, reference links, or a link whose label was streamed in an earlier piece) is
    broken with a zero-width joiner after its `]`, so it shows as text and cannot hide where it goes."""
    out: list[str] = []
    at = 0
    for match in _MD_LINK.finditer(text):
        out.append(_LINK_SYNTAX.sub("]" + ZWJ, text[at:match.start()]))
        out.append(f"[{_labelled(match.group(1), match.group(2))}]({match.group(2)})")
        at = match.end()
    out.append(_LINK_SYNTAX.sub("]" + ZWJ, text[at:]))
    return "".join(out)


def safe_markdown(text: str, allow_user_mentions: bool = False) -> str:
    """Standard Markdown (rendered by Slack) with the same guarantees as `safe_mrkdwn`."""
    if "]" in text:
        text = _markdown_links(text)
    if "<" not in text:
        return text
    return _rewrite_markup(text, allow_user_mentions, plain=_joined,
                           link=lambda label, target: f"[{_labelled(label, target)}]({target})",
                           neutral=lambda match: _joined(match.group(0)))


def stable_length(markdown: str, lookback: int = 400) -> int:
    """How much of streamed `markdown` can be made safe and sent now: everything but what may still change
    meaning when more arrives — the trailing word (a key being written), an unclosed `<…` or `[…](…` on the last
    line. Looks back at most `lookback` characters, so a long answer costs the same per piece."""
    floor = max(0, len(markdown) - lookback)
    tail_start = max(markdown.rfind("\n", floor) + 1, floor)
    tail = markdown[tail_start:]
    word = _TRAILING_WORD.search(tail)
    cut = tail_start + word.start() if word else len(markdown)
    angle = tail.rfind("<")
    if angle != -1 and ">" not in tail[angle:]:
        cut = min(cut, tail_start + angle)
    bracket = tail.rfind("[")
    if bracket != -1:
        rest = tail[bracket:]
        close = rest.find("]")
        open_link = close == -1 or close == len(rest) - 1 or (rest[close + 1] == "(" and ")" not in rest[close:])
        if open_link:
            cut = min(cut, tail_start + bracket)
    return cut - 1 if cut and markdown[cut - 1] == "<" else cut


def escape(text: str) -> str:
    """Text shown as-is in mrkdwn: Slack's three control characters escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def outside_text(text: str, limit: int | None = None) -> str:
    """A text from outside (an endpoint's error message, an exception) for the thread, status or an Event:
    credentials redacted, Slack markup escaped, optionally cut to `limit` characters."""
    shown = escape(redact(text or ""))
    return shown if limit is None or len(shown) <= limit else shown[:limit - 1] + "…"
