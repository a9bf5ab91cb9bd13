"""The index: chunking and embedding articles, and the crash-safe generations of SQLite + FAISS files on disk."""
