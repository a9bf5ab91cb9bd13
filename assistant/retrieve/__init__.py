"""Finding passages: hybrid (dense + BM25), time-aware search over one index generation."""
