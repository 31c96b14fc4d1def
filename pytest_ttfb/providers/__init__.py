"""providers: the shapes of the LLM APIs the mocks speak and the SDK clients need.

- ``anthropic``: Messages (JSON, events, errors); ``openai``: Chat Completions and
  Responses; ``replies``: the reply format both share (text, thinking, tool use);
  ``options``: an SDK client's options in each mode (placeholder key offline).
"""
