"""Slack threads from exported data, for `h1bot chat --thread FILE` (replaying a real thread through the engine).

Pure: the caller reads the files and hands over their parsed JSON. Two shapes are understood:
- the response of `conversations.replies` (`{"ok": true, "messages": [...]}`, or the bare list of messages), possibly
  several pages concatenated;
- a channel folder of a Slack workspace export: one `YYYY-MM-DD.json` file per day, each a list of messages, with the
  export's `users.json` one level up. A folder holds many threads: the one asked for by `thread_ts`, else the one
  with the most messages; a channel without threads is replayed as one conversation.
Messages stay Slack-shaped dicts (what core/conversation.py reads); what the engine cannot use (joins, topic changes,
deleted messages) is left out, and names come from the export (`user_profile` on messages, `users.json`).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Message subtypes that say nothing to the model (membership and channel housekeeping, tombstones).
SKIPPED_SUBTYPES = frozenset({
    "channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "channel_archive",
    "channel_unarchive", "group_join", "group_leave", "group_topic", "group_purpose", "group_name", "pinned_item",
    "unpinned_item", "tombstone", "joiner_notification", "bot_add", "bot_remove", "reminder_add",
})


class ExportError(ValueError):
    """The data is not a Slack thread export; the message says what was expected."""


@dataclass(frozen=True)
class ExportedThread:
    messages: list[dict[str, Any]]  # oldest first
    names: dict[str, str] = field(default_factory=dict)  # user id → display name, from the export
    thread_ts: str = ""
    threads_in_source: int = 1  # how many threads the folder held (1 for conversations.replies)


def ts_key(ts: Any) -> tuple[int, int]:
    """A Slack timestamp ("1700000000.000100") as a sortable pair; malformed ones sort first."""
    seconds, _, micros = str(ts or "").partition(".")
    try:
        return int(seconds or 0), int((micros or "0").ljust(6, "0")[:6])
    except ValueError:
        return 0, 0


def _usable(message: Any) -> bool:
    if not isinstance(message, dict) or not message.get("ts"):
        return False
    if message.get("subtype") in SKIPPED_SUBTYPES:
        return False
    if not (message.get("user") or message.get("bot_id")):
        return False
    return bool(str(message.get("text") or "").strip() or message.get("files"))


def _profile_name(profile: Any) -> str | None:
    if not isinstance(profile, dict):
        return None
    for key in ("display_name", "real_name", "name"):
        value = str(profile.get(key) or "").strip()
        if value:
            return value
    return None


def names_from(messages: Iterable[dict[str, Any]], users: Iterable[Any] = ()) -> dict[str, str]:
    """Display names from an export's `users.json` entries and the `user_profile` the messages carry."""
    names: dict[str, str] = {}
    for user in users:
        if isinstance(user, dict) and user.get("id"):
            name = _profile_name(user.get("profile")) or _profile_name(user)
            if name:
                names[user["id"]] = name
    for message in messages:
        name = _profile_name(message.get("user_profile"))
        if message.get("user") and name:
            names.setdefault(message["user"], name)
    return names


def _message_list(data: Any, where: str) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if data.get("ok") is False:
            raise ExportError(f"{where} is a failed Slack API response (error: {data.get('error', 'unknown')})")
        if isinstance(data.get("messages"), list):
            return data["messages"]
    raise ExportError(f"{where} is not a Slack thread: expected the JSON of conversations.replies "
                      "({\"messages\": [...]}) or a list of messages")


def _clean(messages: Iterable[Any]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for message in messages:
        if _usable(message):
            seen.setdefault(str(message["ts"]), dict(message))  # pages may overlap: each message once
    return sorted(seen.values(), key=lambda m: ts_key(m["ts"]))


def from_replies(data: Any, where: str = "the file") -> ExportedThread:
    """A thread from the JSON of `conversations.replies` (one response, a list of pages, or the bare messages)."""
    if isinstance(data, list) and data and all(isinstance(page, dict) and "messages" in page for page in data):
        raw = [m for page in data for m in _message_list(page, where)]
    else:
        raw = _message_list(data, where)
    messages = _clean(raw)
    if not messages:
        raise ExportError(f"{where} holds no messages with text")
    root = messages[0]
    return ExportedThread(messages, names_from(messages), str(root.get("thread_ts") or root["ts"]))


def threads_of(messages: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The threads of a channel's messages by thread ts (a message outside any thread is a thread of one)."""
    threads: dict[str, list[dict[str, Any]]] = {}
    for message in _clean(messages):
        threads.setdefault(str(message.get("thread_ts") or message["ts"]), []).append(message)
    return threads


def from_channel_folder(days: Mapping[str, Any], users: Iterable[Any] = (), thread_ts: str | None = None,
                        where: str = "the folder") -> ExportedThread:
    """A thread from a Slack export's channel folder: `days` maps each `YYYY-MM-DD.json` file name to its content.

    `thread_ts` picks a thread; without it, the thread with the most messages (the latest among equals). When the
    channel has no thread with replies, the whole channel is the conversation."""
    messages: list[Any] = []
    for name in sorted(days):
        content = days[name]
        if not isinstance(content, list):
            raise ExportError(f"{where}/{name} is not a day of a Slack export (expected a list of messages)")
        messages.extend(content)
    threads = threads_of(messages)
    if not threads:
        raise ExportError(f"{where} holds no messages with text")
    if thread_ts is not None:
        if thread_ts not in threads:
            raise ExportError(f"{where} has no thread {thread_ts} (threads with replies: "
                              f"{', '.join(sorted(t for t, m in threads.items() if len(m) > 1)[:10]) or 'none'})")
        chosen = threads[thread_ts]
    elif all(len(thread) == 1 for thread in threads.values()):
        chosen, thread_ts = _clean(messages), next(iter(threads))
    else:
        thread_ts = max(threads, key=lambda ts: (len(threads[ts]), ts_key(ts)))
        chosen = threads[thread_ts]
    return ExportedThread(chosen, names_from(chosen, users), thread_ts, threads_in_source=len(threads))
