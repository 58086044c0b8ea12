"""Which SmolVLM2, where it is, what it costs, and how to prompt it."""
