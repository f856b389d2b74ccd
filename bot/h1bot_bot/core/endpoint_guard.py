"""Keeps the bot's model endpoint inside the operator's allow-list (pure, no I/O).

The bot sends its OpenAI key to the endpoint of its spec, which may change live. The operator refuses a SlackBot
whose spec.model.baseURL is not allowed, but the bot reloads its spec by itself: so it checks too, and on a change to
a URL the allow-list refuses it keeps the endpoint it had (h1bot_api.endpoints has the patterns' rules).
"""

from collections.abc import Sequence

from h1bot_api.endpoints import base_url_problem


class EndpointRefused(ValueError):
    """The only endpoint there is to use is not allowed (e.g. at start-up)."""


class EndpointGuard:
    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)  # empty: any URL (the bot run by hand, without the operator)
        self.current: str | None = None
        self._refused: str | None = None

    def choose(self, wanted: str, source: str = "spec.model.baseURL") -> tuple[str, str | None]:
        """(the endpoint to use, a message the first time `wanted` is refused); raises EndpointRefused when there is
        no allowed endpoint to keep. `source`: where `wanted` came from, named in the messages."""
        problem = base_url_problem(wanted, self.patterns) if self.patterns else None
        if problem is None:
            self.current, self._refused = wanted, None
            return wanted, None
        if self.current is None:
            raise EndpointRefused(f"{source}: {problem}")
        message = None
        if wanted != self._refused:
            self._refused = wanted
            message = f"refusing the new {source} and keeping {self.current}: {problem}"
        return self.current, message
