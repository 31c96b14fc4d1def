"""providers: the shapes of the LLM APIs the mocks speak and the SDK clients need."""
