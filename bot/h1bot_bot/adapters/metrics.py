"""Prometheus metrics of one bot, in its own registry (tests run several bots in one process)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.mentions = Counter("h1bot_mentions", "Messages addressed to the bot (mentions and DMs).",
                                ["kind"], registry=r)
        self.replies = Counter("h1bot_replies", "Replies the bot finished posting.", ["outcome"], registry=r)
        self.errors = Counter("h1bot_errors", "Errors by kind.", ["kind"], registry=r)
        self.duplicates = Counter("h1bot_duplicate_events",
                                  "Events delivered again (Slack retries, other replicas) and skipped.", registry=r)
        self.claims = Counter("h1bot_reply_claims", "Claims of a message before answering it (won: this replica "
                              "answers; lost: another replica does; unclaimed: answered without a claim).",
                              ["outcome"], registry=r)
        self.llm_latency = Histogram("h1bot_llm_latency_seconds", "Time of a whole LLM answer.", ["model"],
                                     buckets=_LATENCY_BUCKETS, registry=r)
        self.llm_ttft = Histogram("h1bot_llm_time_to_first_token_seconds", "Time to the first streamed token.",
                                  ["model"], buckets=_LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("h1bot_tokens", "Tokens sent to and received from the model.",
                              ["model", "direction"], registry=r)
        self.history_condensed = Counter("h1bot_history_condensed",
                                         "Replies whose history was summarized to fit the model's context.",
                                         registry=r)
        self.summarizations = Counter("h1bot_summarizations", "Recursive summarizations that called the model or "
                                      "the cache (kind: history of an answer, or the summarize command).",
                                      ["kind"], registry=r)
        self.summarize_calls = Counter("h1bot_summarize_calls", "Summarization calls to the model.", ["model"],
                                       registry=r)
        self.summary_cache_hits = Counter("h1bot_summary_cache_hits", "Chunk summaries taken from the cache.",
                                          registry=r)
        self.summarized_tokens = Counter("h1bot_summarized_tokens", "Tokens of history sent to be summarized.",
                                         ["model"], registry=r)
        self.tool_calls = Counter("h1bot_tool_calls", "Tool calls the model made, by tool and outcome (ok, "
                                  "refused, proposed).", ["tool", "outcome"], registry=r)
        self.in_flight = Gauge("h1bot_replies_in_flight", "Replies being produced right now.", registry=r)
        self.connected = Gauge("h1bot_socket_mode_connected", "1 when the Socket Mode websocket is up.",
                               registry=r)
