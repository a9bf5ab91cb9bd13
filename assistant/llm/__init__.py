"""The optional language model: an OpenAI-compatible client, the prompt, and checks of what the model wrote."""
