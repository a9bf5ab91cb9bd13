"""The reader: a model that reads a question with a passage and points at the span that answers it."""
