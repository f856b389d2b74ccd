"""Exported Slack threads as the terminal chat replays them (core/slack_export.py, pure)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from h1bot_bot.core.slack_export import ExportError, from_channel_folder, from_replies


def msg(ts, text="hi", user="UALICE", **extra):
    return {"type": "message", "ts": ts, "user": user, "text": text, **extra}


def test_a_conversations_replies_response_is_the_thread_in_order_without_housekeeping():
    data = {"ok": True, "has_more": False, "messages": [
        msg("100.000200", "second", thread_ts="100.000100", user_profile={"display_name": "Bob"}, user="UBOB"),
        msg("100.000100", "first", thread_ts="100.000100"),
        msg("100.000300", "", subtype="channel_join"),
        msg("100.000400", "gone", subtype="tombstone")]}
    thread = from_replies(data)
    assert [m["text"] for m in thread.messages] == ["first", "second"]
    assert thread.thread_ts == "100.000100" and thread.names == {"UBOB": "Bob"}


def test_pages_overlap_and_each_message_counts_once():
    pages = [{"ok": True, "messages": [msg("1.1"), msg("1.2")]}, {"ok": True, "messages": [msg("1.2"), msg("1.3")]}]
    assert [m["ts"] for m in from_replies(pages).messages] == ["1.1", "1.2", "1.3"]


def test_not_a_thread_says_what_was_expected():
    with pytest.raises(ExportError, match=r"conversations\.replies"):
        from_replies({"channels": []}, "x.json")
    with pytest.raises(ExportError, match="invalid_auth"):
        from_replies({"ok": False, "error": "invalid_auth"})
    with pytest.raises(ExportError, match="no messages"):
        from_replies({"messages": [msg("1.1", "")]})


def test_a_channel_folder_gives_its_longest_thread_with_names_from_users_json():
    days = {"2024-01-02.json": [msg("200.1", "reply", thread_ts="100.1", user="UBOB")],
            "2024-01-01.json": [msg("100.1", "root", thread_ts="100.1"), msg("150.1", "alone"),
                                msg("160.1", "other", thread_ts="160.1"), msg("161.1", "r", thread_ts="160.1")],
            "2024-01-03.json": [msg("300.1", "late reply", thread_ts="100.1")]}
    users = [{"id": "UBOB", "name": "bob", "profile": {"display_name": "", "real_name": "Robert"}}]
    thread = from_channel_folder(days, users)
    assert [m["text"] for m in thread.messages] == ["root", "reply", "late reply"]
    assert thread.names == {"UBOB": "Robert"} and thread.threads_in_source == 3
    assert [m["text"] for m in from_channel_folder(days, users, thread_ts="160.1").messages] == ["other", "r"]
    with pytest.raises(ExportError, match=r"no thread 999\.1"):
        from_channel_folder(days, users, thread_ts="999.1")


def test_a_channel_without_threads_is_one_conversation():
    days = {"2024-01-01.json": [msg("2.1", "b"), msg("1.1", "a")]}
    assert [m["text"] for m in from_channel_folder(days).messages] == ["a", "b"]


@given(st.lists(st.tuples(st.integers(1, 10**9), st.integers(0, 999_999), st.text(min_size=1)), max_size=40))
def test_replies_come_out_sorted_unique_and_with_text(items):
    messages = [msg(f"{s}.{u:06d}", t) for s, u, t in items]
    try:
        thread = from_replies({"messages": messages})
    except ExportError:
        assert not any(t.strip() for _, _, t in items)
        return
    keys = [tuple(map(int, m["ts"].split("."))) for m in thread.messages]
    assert keys == sorted(set(keys)) and all(m["text"].strip() for m in thread.messages)
