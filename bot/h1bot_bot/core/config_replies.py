"""The replies to a change of the configuration (accepted, refused, reset, or an override the spec won over), and
the plain lines that record each in the log and the Kubernetes Event. Pure; the person who changed a setting is
mentioned, admins named in a refusal are not pinged.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from h1bot_bot.core.command_parser import ParseError
from h1bot_bot.core.overrides import Change, ChangeRejected, DroppedOverride, NotAdmin, Reset
from h1bot_bot.core.reply_text import LABELS, listed, person, value_text, who
from h1bot_bot.core.slack_safety import escape

NOT_PERSISTED = (":warning: Applied now, but not saved yet (the cluster cannot be reached): I keep retrying, and "
                 "it is lost only if I restart before then.")


def saved_text(where: str) -> str:
    """Told in a thread whose change could not be saved at first, once it is."""
    return f":floppy_disk: Saved now: the change above is recorded in {escape(where)}."


def _brief(value: Any, limit: int = 60) -> str:
    """A value in a plain one-line log or Event message (an Event message holds 1,024 characters)."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit] + f"…' ({len(str(value))} characters)"


def describe_change(change: Change) -> str:
    """One plain line for the log and the Kubernetes Event."""
    if change.outcome == "unchanged":
        return f"{change.key} left at {_brief(change.value)} by {change.by} (already in effect)"
    where = "back to the spec" if change.outcome == "spec" else f"spec: {_brief(change.spec_value)}"
    return f"{change.key}: {_brief(change.previous)} → {_brief(change.value)} by {change.by} ({where})"


def change_text(change: Change, persisted: bool = True) -> str:
    """The thread reply to an accepted `config set` / `model`."""
    label = f"*{LABELS[change.key]}*"
    if change.outcome == "unchanged":
        text = f"{label} is already {value_text(change.key, change.value)}: nothing to change."
    elif change.outcome == "spec":
        text = (f":white_check_mark: {label} is back to the spec's {value_text(change.key, change.value)}"
                f" (was {value_text(change.key, change.previous)}); the Slack override is gone.")
    else:
        text = (f":white_check_mark: {label} is now {value_text(change.key, change.value)}"
                f" (was {value_text(change.key, change.previous)}; the spec says"
                f" {value_text(change.key, change.spec_value)}). Changed by {who(change.by)}.")
    if change.note:
        text += f"\n:information_source: {escape(change.note)}"
    if change.outcome != "unchanged" and not persisted:
        text += "\n" + NOT_PERSISTED
    return text


def refusal_text(error: ChangeRejected | ParseError, names: Mapping[str, str] | None = None) -> str:
    """The thread reply to a change that was refused, or a command that could not be parsed. It names the admins
    (by `names`, display names by id) without pinging them."""
    if isinstance(error, ParseError):
        return f":grey_question: {error.message}"
    if isinstance(error, NotAdmin):
        admins = listed([person(a, names) for a in error.admins]) or "nobody is listed in spec.access.admins"
        return (f"Sorry {who(error.user_id)}, only this bot's admins can change its settings ({admins}). "
                "You can still look at them with `config`.")
    return f":x: Not changed: {escape(str(error))}"


def reset_text(resets: Sequence[Reset], key: str | None, persisted: bool = True) -> str:
    if not resets:
        return (f"*{LABELS[key]}* has no Slack override: it already follows the spec." if key
                else "Nothing to reset: every setting already follows the spec.")
    lines = [f":leftwards_arrow_with_hook: *{LABELS[r.key]}* is back to the spec's {value_text(r.key, r.spec_value)}"
             f" (was {value_text(r.key, r.value)}, set by {who(r.by)})." for r in resets]
    if not persisted:
        lines.append(NOT_PERSISTED)
    return "\n".join(lines)


def describe_reset(resets: Sequence[Reset], actor: str) -> str:
    """One plain line for the log and the Kubernetes Event."""
    return f"reset by {actor}: " + ", ".join(f"{r.key} {_brief(r.value)} → {_brief(r.spec_value)} (spec)"
                                             for r in resets)


def dropped_text(dropped: Iterable[DroppedOverride]) -> str:
    """For the thread (and, with Slack markup, the Event): the overrides the spec won over, and why."""
    lines = []
    for d in dropped:
        override = f"the Slack override {value_text(d.key, d.value)} (set by {who(d.by)})"
        if d.reason == "spec-changed":
            lines.append(f"The spec now sets *{LABELS[d.key]}* to {value_text(d.key, d.spec_value)} (it was"
                         f" {value_text(d.key, d.replaced)}): the spec wins, {override} is dropped.")
        else:
            lines.append(f"{override.capitalize()} of *{LABELS[d.key]}* no longer fits the spec"
                         f" ({escape(d.detail)}), so it is dropped.")
    return "\n".join(lines)


def describe_dropped(dropped: DroppedOverride) -> str:
    """One plain line for the log and the Kubernetes Event."""
    why = (f"the spec changed it from {_brief(dropped.replaced)} to {_brief(dropped.spec_value)}"
           if dropped.reason == "spec-changed" else f"it no longer fits the spec: {dropped.detail}")
    return f"override of {dropped.key} ({_brief(dropped.value)}, by {dropped.by}) dropped: {why}"
