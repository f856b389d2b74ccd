"""h1bot's Slack bot process: answers mentions with the thread as context, streamed from an OpenAI-compatible model."""

__version__ = "0.1.0"
