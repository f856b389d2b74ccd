"""Scenarios: people mention the bot in Slack and read its answer in the thread."""

import itertools

from tests.fakes.openai import Reply


async def test_mention_in_thread_answers_with_the_thread_as_context(running_bot, fake_slack, fake_openai):
    root = fake_slack.say("C1", "UALICE", "Our deploys to staging fail since this morning.")
    fake_slack.say("C1", "UBOB", "Same here, the image pull times out.", thread_ts=root["ts"])
    fake_openai.script("Looks like the registry is down. Check `kubectl get events`.")

    question, _ = await fake_slack.mention("C1", "UALICE", "any idea what's wrong?", thread_ts=root["ts"])

    reply = await fake_slack.wait_for_texts("C1", root["ts"])
    assert reply == ["Looks like the registry is down. Check `kubectl get events`."]
    seen = fake_openai.chat_requests[-1].messages
    assert seen == [
        {"role": "system", "content": "You are the platform team's helpdesk bot."},
        {"role": "user", "content": "Alice (UALICE): Our deploys to staging fail since this morning."},
        {"role": "user", "content": "Bob (UBOB): Same here, the image pull times out."},
        {"role": "user", "content": "Alice (UALICE): any idea what's wrong?"},
    ]
    assert question["thread_ts"] == root["ts"]


async def test_streamed_reply_is_updated_in_place(running_bot, fake_slack, fake_openai):
    fake_openai.script(Reply("word " * 60, chunk_chars=5, chunk_delay=0.005))
    question, _ = await fake_slack.mention("C1", "UBOB", "write a long answer")
    replies = await fake_slack.wait_for_texts("C1", question["ts"])
    assert replies == [("word " * 60).strip()]
    updates = fake_slack.calls_to("chat.update")
    assert len(updates) >= 2  # at least one interim update and the final one


async def test_mention_outside_a_thread_starts_one(running_bot, fake_slack, fake_openai):
    question, _ = await fake_slack.mention("C1", "UALICE", "hello there")
    [reply] = await fake_slack.wait_for_replies("C1", question["ts"])
    assert reply["thread_ts"] == question["ts"]
    assert reply["text"] == "Answer to: Alice (UALICE): hello there"


async def test_direct_message_is_answered_without_a_mention(running_bot, fake_slack, fake_openai):
    first, _ = await fake_slack.dm("D1", "UBOB", "how do I restart a deployment?")
    await fake_slack.wait_for_replies("D1", first["ts"])
    fake_openai.script("Use `kubectl rollout restart`.")
    follow_up, _ = await fake_slack.dm("D1", "UBOB", "and to watch it?", thread_ts=first["ts"])
    replies = await fake_slack.wait_for_texts("D1", first["ts"], count=2)
    assert replies == ["Answer to: Bob (UBOB): how do I restart a deployment?", "Use `kubectl rollout restart`."]
    roles = [(m["role"], m["content"]) for m in fake_openai.chat_requests[-1].messages[1:]]
    assert roles == [("user", "Bob (UBOB): how do I restart a deployment?"),
                     ("assistant", "Answer to: Bob (UBOB): how do I restart a deployment?"),
                     ("user", "Bob (UBOB): and to watch it?")]
    assert follow_up["thread_ts"] == first["ts"]


async def test_bot_turns_are_assistant_and_mentions_of_people_read_as_names(running_bot, fake_slack, fake_openai):
    root, _ = await fake_slack.mention("C1", "UALICE", "ping <@UBOB>, can you check?")
    [first] = await fake_slack.wait_for_texts("C1", root["ts"])
    await fake_slack.mention("C1", "UBOB", "checked, all good", thread_ts=root["ts"])
    await fake_slack.wait_for_replies("C1", root["ts"], count=2)
    seen = fake_openai.chat_requests[-1].messages
    assert seen[1] == {"role": "user", "content": "Alice (UALICE): ping @Bob, can you check?"}
    assert seen[2] == {"role": "assistant", "content": first}
    assert seen[3] == {"role": "user", "content": "Bob (UBOB): checked, all good"}
    # Display names are cached: each person was looked up once across both mentions.
    looked_up = sorted(c.params["user"] for c in fake_slack.calls_to("users.info"))
    assert looked_up == ["UALICE", "UBOB"]


async def test_long_thread_is_read_across_pages(running_bot, fake_slack, fake_openai):
    fake_slack.replies_page_limit = 100
    root = fake_slack.say("C1", "UALICE", "message 0")
    for i in range(1, 250):
        fake_slack.say("C1", "UBOB" if i % 2 else "UALICE", f"message {i}", thread_ts=root["ts"])
    await fake_slack.mention("C1", "UALICE", "summarize please", thread_ts=root["ts"])
    await fake_slack.wait_for_replies("C1", root["ts"])
    contents = [m["content"] for m in fake_openai.chat_requests[0].messages[1:]]
    assert len(contents) == 251
    assert contents[0] == "Alice (UALICE): message 0" and contents[249] == "Bob (UBOB): message 249"
    assert len(fake_slack.calls_to("conversations.replies")) == 3


async def test_updates_are_throttled_per_message(start_bot, fake_slack, fake_openai):
    async with start_bot(update_interval=0.2):
        fake_openai.script(Reply("tick " * 100, chunk_chars=5, chunk_delay=0.01))  # 100 pieces, ~1 s of streaming
        question, _ = await fake_slack.mention("C1", "UALICE", "count")
        assert await fake_slack.wait_for_texts("C1", question["ts"]) == [("tick " * 100).strip()]
    [placeholder] = fake_slack.calls_to("chat.postMessage")
    updates = [c.at for c in fake_slack.calls_to("chat.update")]
    assert len(updates) >= 2  # interim updates, then the final one
    gaps = [b - a for a, b in itertools.pairwise(updates)]
    assert min(gaps) >= 0.19  # as Slack receives them, however loaded the machine
    # At most one update per interval over however long the streaming took here (far fewer than the 100 pieces).
    assert len(updates) <= (updates[-1] - placeholder.at) / 0.2 + 1


async def test_a_slow_slack_still_gets_at_most_one_update_per_interval(start_bot, fake_slack, fake_openai):
    fake_slack.latency["chat.update"] = 0.15  # Slack takes a while to answer each update
    async with start_bot(update_interval=0.3):
        fake_openai.script(Reply("tock " * 60, chunk_chars=5, chunk_delay=0.02))
        question, _ = await fake_slack.mention("C1", "UALICE", "count slowly")
        assert await fake_slack.wait_for_texts("C1", question["ts"]) == [("tock " * 60).strip()]
    updates = fake_slack.calls_to("chat.update")
    assert len(updates) >= 3
    # The interval counts from Slack's answer to the previous update, not from when it was sent.
    assert all(later.at - earlier.answered_at >= 0.29 for earlier, later in itertools.pairwise(updates))


async def test_reply_longer_than_a_slack_message_continues_in_follow_ups(running_bot, fake_slack, fake_openai):
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum dolor sit amet " * 12 for i in range(40)]  # ~13k chars
    fake_openai.script(Reply("\n\n".join(paragraphs), chunk_chars=500))
    question, _ = await fake_slack.mention("C1", "UALICE", "tell me everything")
    replies = await fake_slack.wait_for_replies("C1", question["ts"], count=4)
    assert len(replies) == 4
    assert all(len(m["text"]) <= 3900 for m in replies)
    shown = "\n\n".join(m["text"] for m in replies)
    assert [p.strip() for p in shown.split("\n\n")] == [p.strip() for p in paragraphs]


async def test_markdown_is_shown_as_slack_mrkdwn(running_bot, fake_slack, fake_openai):
    fake_openai.script("## Fix\n**Restart** the pod, see [runbook](https://runbooks.example/pods).\n"
                       "```bash\nkubectl delete pod web-0 **now**\n```")
    question, _ = await fake_slack.mention("C1", "UALICE", "how to fix?")
    reply = await fake_slack.wait_for_texts("C1", question["ts"])
    assert reply == [("*Fix*\n*Restart* the pod, see <https://runbooks.example/pods|runbook (runbooks.example)>.\n"
                      "```bash\nkubectl delete pod web-0 **now**\n```")]
