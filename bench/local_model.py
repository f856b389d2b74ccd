"""The embedded default model (the `local` extra): load time, time to first token, tokens/s, the server's RSS.

Starts the server with h1bot_bot.adapters.local_model exactly as `h1bot chat` would, then streams a few short answers
through the real openai client (the bot's request shape: streamed, with a usage chunk).

    .venv/bin/python bench/local_model.py [--answers 3] [--max-tokens 64]
"""

import argparse
import statistics
import sys
import time

import openai
import psutil

from h1bot_bot.adapters.local_model import LocalModelError, embedded_model_server

QUESTIONS = ["What is the capital of France?", "Name three primary colors.", "What does a Kubernetes Pod run?"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    try:
        server = embedded_model_server().start()
    except LocalModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with server:
        process = psutil.Process(server.process.pid)
        idle_rss = process.memory_info().rss
        client = openai.OpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=300)
        first_token, rates, peak_rss, usage_seen = [], [], idle_rss, True
        for n in range(args.answers):
            messages = [{"role": "system", "content": "You are a helpful assistant. Answer briefly."},
                        {"role": "user", "name": "alice", "content": QUESTIONS[n % len(QUESTIONS)]}]
            started = time.perf_counter()
            first, tokens, pieces = None, 0, 0
            stream = client.chat.completions.create(model=server.model_id, messages=messages, stream=True,
                                                    max_tokens=args.max_tokens, temperature=0,
                                                    stream_options={"include_usage": True})
            for chunk in stream:
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
                if any(choice.delta.content for choice in chunk.choices):
                    pieces += 1
                    first = first or time.perf_counter()
            done = time.perf_counter()
            peak_rss = max(peak_rss, process.memory_info().rss)
            first_token.append(first - started)
            # Decoding speed after the first token. llama_cpp.server sends no usage chunk (it ignores
            # stream_options): then count its chunks, one per token.
            usage_seen = usage_seen and bool(tokens)
            rates.append(((tokens or pieces) - 1) / (done - first))
        print(f"model load (start → /v1/models answers): {server.load_seconds:.2f} s")
        print(f"time to first token: median {statistics.median(first_token) * 1000:.0f} ms "
              f"(max {max(first_token) * 1000:.0f} ms) over {args.answers} answers")
        counted = "usage chunk" if usage_seen else "streamed chunks: the server sent no usage"
        print(f"generation: median {statistics.median(rates):.0f} tokens/s (max_tokens={args.max_tokens}, "
              f"tokens from the {counted})")
        print(f"server RSS: {idle_rss / 2**20:.0f} MB after load, {peak_rss / 2**20:.0f} MB after answering")
    return 0


if __name__ == "__main__":
    sys.exit(main())
