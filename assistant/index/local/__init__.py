"""The local engine: one folder holding SQLite and immutable memory-mapped segments (FAISS, BM25 postings)."""
