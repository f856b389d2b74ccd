"""Which Slack events the bot answers, and remembering which it already answered (Slack retries and duplicates)."""

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from h1bot_bot.core.conversation import BotIdentity, is_from_bot

# Message subtypes that still are someone saying something to the bot.
_ANSWERABLE_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})


@dataclass(frozen=True)
class Decision:
    """`kind` is "mention" or "dm" when the bot answers, else None with the reason it does not."""

    kind: str | None
    reason: str = ""


def classify(event: Mapping[str, Any], bot: BotIdentity, answer_bots: bool = False) -> Decision:
    event_type = event.get("type")
    subtype = event.get("subtype")
    if event_type not in ("app_mention", "message"):
        return Decision(None, f"event type {event_type} is not answered")
    if is_from_bot(event, bot):
        return Decision(None, "own message")
    if subtype == "bot_message" or event.get("bot_id"):
        if not answer_bots:
            return Decision(None, "message from another bot")
    elif subtype not in _ANSWERABLE_SUBTYPES:
        return Decision(None, f"message subtype {subtype}")
    if event_type == "app_mention":
        return Decision("mention")
    if event.get("channel_type") == "im":
        return Decision("dm")
    return Decision(None, "channel message without a mention (app_mention answers those)")


def thread_root(event: Mapping[str, Any]) -> str:
    """The thread to answer in: the event's thread, or a new one under the message itself."""
    return event.get("thread_ts") or event["ts"]


class SeenEvents:
    """A bounded memory of handled keys (event ids, channel+message ts), oldest forgotten first."""

    def __init__(self, max_size: int = 10_000):
        self.max_size = max_size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def first_time(self, *keys: str) -> bool:
        """True (and remembers all keys) unless one of them was seen before."""
        present = [k for k in keys if k]
        if any(k in self._keys for k in present):
            return False
        for key in present:
            self._keys[key] = None
        while len(self._keys) > self.max_size:
            self._keys.popitem(last=False)
        return True


# ---- one reply across replicas: a claim through Slack itself ---------------------------------------------------
# Every replica of a bot is connected; Slack sends an event to one connection, and may send it (or its retry, or the
# `message.im` twin of an `app_mention`) to another. Before answering, a replica adds this reaction to the message:
# Slack adds a user's reaction once, so exactly one replica gets `ok` and answers; the others get `already_reacted`.
CLAIM_REACTION = "eyes"

# Slack errors that say the claim cannot be made at all (the app lacks `reactions:write`, a token without it): the
# bot then answers without claiming (one replica answers as before) and stops trying for a while.
CLAIMS_UNAVAILABLE = frozenset({"missing_scope", "not_allowed_token_type", "no_permission", "not_authed",
                                "invalid_auth", "access_denied"})


@dataclass(frozen=True)
class Claim:
    """`won`: this replica answers. `lost`: another replica claimed the message first. `unclaimed`: the claim could
    not be made (Slack said `error`); the bot answers anyway: a missed answer is worse than a rare second one."""

    outcome: str
    error: str = ""

    @property
    def answer(self) -> bool:
        return self.outcome != "lost"


def claim_result(error: str | None) -> Claim:
    """What Slack's answer to `reactions.add` means: no error → won; `already_reacted` → lost; else unclaimed."""
    if not error:
        return Claim("won")
    if error == "already_reacted":
        return Claim("lost", error)
    return Claim("unclaimed", error)
