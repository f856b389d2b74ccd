"""`debug` says what its token count is: exact, an upper bound from UTF-8 bytes, or tiktoken's estimate."""


def ordinary_thread(fake_slack, messages: int = 200) -> dict:
    root = fake_slack.say("C1", "UALICE", "Our deploys are failing, let's collect what we know.")
    for i in range(1, messages - 1):
        fake_slack.say("C1", "UBOB" if i % 2 else "UALICE", f"Message {i}: node pool {i % 7} restarted {i} times.",
                       thread_ts=root["ts"])
    return root


async def test_debug_in_a_thread_under_the_threshold_gives_its_byte_bound(start_bot, fake_slack):
    async with start_bot():
        root = ordinary_thread(fake_slack)
        await fake_slack.mention("C1", "UALICE", "debug", thread_ts=root["ts"])
        [debug] = await fake_slack.wait_for_texts("C1", root["ts"])
    assert "*This thread*: at most " in debug and "upper bound from its UTF-8 bytes" in debug
    assert "(under the threshold)" in debug and "estimates" not in debug


async def test_debug_in_a_thread_over_the_threshold_gives_the_exact_count(start_bot, fake_slack):
    spec = {"model": {"name": "gpt-4o-mini", "contextTokens": 4096, "maxOutputTokens": 256},
            "summarization": {"thresholdTokens": 1200, "chunkTokens": 400}}
    async with start_bot(spec):
        root = ordinary_thread(fake_slack)
        await fake_slack.mention("C1", "UALICE", "debug", thread_ts=root["ts"])
        [debug] = await fake_slack.wait_for_texts("C1", root["ts"])
    assert "*This thread*: " in debug and "at most" not in debug and "(over the threshold)" in debug


async def test_debug_says_counts_are_estimates_for_a_model_with_its_own_tokenizer(start_bot, fake_slack):
    async with start_bot({"model": {"name": "SmolLM2-135M-Instruct", "maxOutputTokens": 512}}):
        root = fake_slack.say("C1", "UALICE", "hello")
        await fake_slack.mention("C1", "UALICE", "debug", thread_ts=root["ts"])
        [debug] = await fake_slack.wait_for_texts("C1", root["ts"])
    assert "counts are estimates: tiktoken, not `SmolLM2-135M-Instruct`'s own tokenizer" in debug
