"""Benchmarks: each prints its figures on stdout (progress on stderr), and most write them as JSON with ``--save``.

Run them from the repository's root, with the project's interpreter, as modules of this package:

    .venv/bin/python -m bench.retrieval_realtimeqa   # Recall@k / MRR of the index beside a LangChain pipeline
    .venv/bin/python -m bench.answer_quality         # answers: gold stated and cited, abstention, latency
    .venv/bin/python -m bench.real_pages             # saved news pages and feeds, graded right / partly / wrong
    .venv/bin/python -m bench.crossval_realtimeqa --rtqa-index DIR   # tuned beside cross-validated figures
    .venv/bin/python -m bench.timeline_realtimeqa --rtqa-index DIR   # timelines of stories spanning weeks
    .venv/bin/python -m bench.backends               # Milvus Lite beside the local index
    .venv/bin/python -m bench.embedding_backends --work DIR   # PyTorch, ONNX Runtime, OpenVINO embedders
    .venv/bin/python -m bench.ingest_speed          # build speed and `assistant ask` time: OpenVINO, torch, LangChain
    .venv/bin/python -m bench.feed_rounds           # feed rounds: 25 feeds over loopback, 5 of them failing
    .venv/bin/python -m bench.follow_ups            # follow-up rewrites over RealTime QA: standalone, right subject
    .venv/bin/python -m bench.multihop_rag          # questions needing several articles: answered, evidence, verdicts
    .venv/bin/python -m bench.train_reader --work DIR   # train the reader (SQuAD v1.1, seeded, resumable)
    .venv/bin/python -m bench.reader_squad          # the reader on XQuAD (en, de, es, ru), beside published figures
    .venv/bin/python -m bench.reader_calibration --rtqa-index DIR   # the reader's confidence and its bar, by week
    .venv/bin/python -m bench.lexical_engines --index DIR     # BM25: the index's own, tantivy, FTS5
    .venv/bin/python -m bench.ray_ingest             # ingestion on one process, one Ray node and two
    .venv/bin/python -m bench.scale --work DIR       # the index at 50k, 200k and 1M passages (bench/scale.md)
    .venv/bin/python -m bench.ui_load                # concurrent chat sessions, then a soak

``--help`` on each says what it measures and its options; ``make bench`` runs the first two and the load test.
The data sets are read from ``../shared/bench/`` beside the repository (never copied into it; each folder's
README.md describes its files); a benchmark whose data is absent prints ``skip: …`` and exits 0.

What they share is in :mod:`bench.harness` (data paths, JSON Lines, gold articles, percentiles, number formatting,
the ``--save`` writer, free ports, building an index once); :mod:`bench.scale_corpus` is the scale benchmark's
replicated corpus; :mod:`bench.squad` reads SQuAD v1.1 and XQuAD (``../shared/data/``) for the reader. Importing
a module runs nothing: each benchmark runs from its ``main()``.
"""
