"""Reading a thread into the chat the model sees: the persona first, the bot's own messages as `assistant`,
everyone else's as `user` with who said what (core/conversation.py), whatever the surface."""

from h1bot_bot.core.conversation import BotIdentity, ChatMessage, authors_to_resolve, build_chat
from h1bot_bot.core.surface import Incoming, Surface


class ThreadReader:
    def __init__(self, surface: Surface, identity: BotIdentity):
        self.surface = surface
        self.identity = identity

    async def chat(self, incoming: Incoming, system_prompt: str) -> list[ChatMessage]:
        """The chat for `incoming`: its thread up to and including it, names resolved."""
        messages = await self.surface.thread(incoming)
        names = await self.surface.names.many(authors_to_resolve(messages, self.identity))
        return build_chat(system_prompt, messages, self.identity, names)
