"""The token budget of a chat request: how much of the context window the thread's history may use.

History budget = context window − max output tokens − system prompt − safety margin. The context window, output
limit and threshold come from `h1bot_api.spec.resolve_limits` (the model table lives there, not here).
"""

from dataclasses import dataclass

from h1bot_api.spec import SAFETY_MARGIN_TOKENS, Limits, ModelSpec, SummarizationSpec, resolve_limits
from h1bot_bot.core.tokens import TokenCounter


@dataclass(frozen=True)
class HistoryBudget:
    limits: Limits
    system_prompt_tokens: int  # the system message and the reply priming
    safety_margin: int
    history_tokens: int  # the most the history may take
    threshold_tokens: int  # above this, the history is summarized (at most history_tokens)

    @property
    def context_tokens(self) -> int:
        return self.limits.context_tokens

    @property
    def max_output_tokens(self) -> int:
        return self.limits.max_output_tokens


def system_prompt_tokens(counter: TokenCounter, system_prompt: str) -> int:
    """Tokens of a request with only the system message: its overhead plus the reply priming."""
    return counter.count_messages([{"role": "system", "content": system_prompt}])


def history_budget(model: ModelSpec, summarization: SummarizationSpec, counter: TokenCounter, system_prompt: str,
                   safety_margin: int = SAFETY_MARGIN_TOKENS) -> HistoryBudget:
    """The budget for one channel's model and persona. Raises h1bot_api.spec.ConfigError when nothing is left."""
    system = system_prompt_tokens(counter, system_prompt)
    limits = resolve_limits(model, summarization, system_prompt_tokens=system, safety_margin=safety_margin)
    return HistoryBudget(limits, system, safety_margin, limits.history_tokens, limits.threshold_tokens)
