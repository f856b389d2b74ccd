"""The terminal surface of `h1bot chat`: a thread kept in memory, answers rendered with rich, input from
prompt_toolkit (both in the `chat` extra; imported only by the chat)."""
