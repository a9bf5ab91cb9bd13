"""Embedding: the :class:`~.base.Embedder` protocol, one module per backend (PyTorch, OpenVINO), and the factory
that picks one from the settings."""
