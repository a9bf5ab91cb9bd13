"""One settings object for the whole assistant.

Values come from keyword arguments, then ``ASSISTANT_*`` environment variables, then a ``.env`` file, then the
defaults below. Nothing is read at import time: call :func:`get_settings` (or build :class:`Settings`) when needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

Answerer = Literal["extractive", "llm"]
ANSWERERS: tuple[str, ...] = get_args(Answerer)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore", frozen=True)

    index_dir: Path = Field(
        Path("index"),
        description=(
            "Where the index is: a folder (the local store, holding its generations), milvus-lite:PATH (Milvus "
            "Lite, the embedded engine, in a local folder) or milvus://HOST:PORT/COLLECTION (a Milvus server)."
        ),
    )
    corpus_dir: Path = Field(Path("corpus"), description="Default folder of articles to index.")
    model: str | None = Field(
        None,
        description="Sentence-transformers model folder or name; empty means the packaged all-MiniLM-L6-v2.",
    )
    embedder: str | None = Field(
        None,
        description=(
            "module:factory of another Embedder (called with no arguments), in place of the sentence-transformers "
            "model; for tests and custom deployments, e.g. assistant.testing:HashingEmbedder."
        ),
    )
    model_multilingual: bool | None = Field(
        None,
        description=(
            "Whether the embedding model understands languages other than English; empty: guessed from its name "
            "(multilingual, LaBSE, XLM, bge-m3, distiluse). With an English-only model (the packaged one), a "
            "question in another language is answered from word matches, and the answer says so."
        ),
    )
    device: str = Field("cpu", description="Torch device for the embedder.")
    embed_backend: Literal["torch", "openvino"] = Field(
        "openvino",
        description=(
            "What runs the embedding model: openvino (the model compiled by OpenVINO, converted once into the cache "
            "folder: the same vectors as torch, about 2.6x faster on this CPU), or torch (sentence-transformers). "
            "Left unset, openvino when it can run the model on the CPU, else torch with a one-line notice; set, "
            "exactly that one. Indexes are shared between the two."
        ),
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "news-assistant",
        description="Where converted models are kept (the openvino backend's, a few hundred MB per model).",
    )
    chunk_size: int = Field(
        900,
        ge=100,
        le=8000,
        description="Target chunk length in characters; 900 (~200 tokens) plus the title fits MiniLM's 256 tokens.",
    )
    chunk_overlap: int = Field(
        60,
        ge=0,
        le=2000,
        description="Characters shared by consecutive chunks; small, as chunks already end on sentence boundaries.",
    )
    batch_size: int = Field(64, ge=1, le=4096, description="Chunks embedded per model call.")
    query_threads: int = Field(
        1,
        ge=0,
        le=512,
        description=(
            "Torch threads for embedding a question and its few candidate sentences (0: as many as for index "
            "builds, which use every core). One thread is fastest for a short input, and does not stall when "
            "another process holds a core."
        ),
    )
    max_file_mb: float = Field(20.0, gt=0, le=4096, description="Input files larger than this are skipped.")
    k: int = Field(8, ge=1, le=200, description="Passages returned by a search.")
    max_chunks_per_article: int = Field(
        2, ge=1, le=100, description="At most this many passages of one article in the top k."
    )
    candidates: int = Field(
        200, ge=10, le=10000, description="Candidates taken from each of the dense and BM25 rankings."
    )
    rrf_k: float = Field(60.0, gt=0, le=10000, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(1.0, ge=0, le=10, description="Weight of the dense ranking in the fusion.")
    bm25_weight: float = Field(1.0, ge=0, le=10, description="Weight of the BM25 ranking in the fusion.")
    bm25_max_df: float = Field(
        0.1,
        gt=0,
        le=1,
        description="Query words found in more than this share of chunks are left out of BM25 (at least two stay).",
    )
    bm25_max_terms: int = Field(
        10, ge=1, le=64, description="BM25 uses at most this many of the question's rarest words."
    )
    recency_half_life_days: float = Field(
        30.0,
        ge=0,
        le=36500,
        description="Age (days before as-of) at which the recency prior halves a score; 0 turns it off.",
    )
    recency_floor: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Lowest multiplier the recency prior applies, so old news stays findable.",
    )
    keep_generations: int = Field(
        2,
        ge=1,
        le=100,
        description=(
            "Index generations kept readable: a reader can be pinned to any of them (IndexReader.open(generation=)), "
            "and removed articles are forgotten only when no kept generation has them."
        ),
    )
    segment_rows: int = Field(
        50_000,
        ge=10,
        le=10_000_000,
        description=(
            "Passages a writer holds in memory before writing them as a segment (bounds a build's memory); a Milvus "
            "writer sends at most 512 at a time."
        ),
    )
    ann_min_rows: int = Field(
        20_000,
        ge=1000,
        le=100_000_000,
        description="Segments with at least this many passages get an IVF index; smaller ones are searched exactly.",
    )
    exact_max_rows: int = Field(
        20_000,
        ge=0,
        le=10_000_000,
        description="A date window of at most this many passages of a segment is searched exactly, not by its IVF.",
    )
    ann_probes: int = Field(
        16,
        ge=1,
        le=65_536,
        description="IVF cells probed when a search covers a whole segment (more for a narrower window): recall/time.",
    )
    merge_factor: int = Field(
        8,
        ge=2,
        le=100,
        description="Segments of one size tier that are merged into one: lower keeps fewer segments, rewrites more.",
    )
    merge_floor_rows: int = Field(
        1000,
        ge=1,
        le=10_000_000,
        description="Segments under this many passages count as this size in the merge policy (small ones merge soon).",
    )
    merge_after_write: bool = Field(
        True, description="Merge segments right after an update publishes (off: only `assistant index optimize`)."
    )
    progress: bool = Field(True, description="Show progress bars on stderr while indexing.")

    # -- answers ---------------------------------------------------------------------------------------------
    answerer: Answerer = Field(
        "extractive",
        description="Default answerer: 'extractive' (offline) or 'llm' (the OpenAI-compatible endpoint below).",
    )
    max_question_chars: int = Field(2000, ge=10, le=100_000, description="Longer questions are refused.")
    answer_sentences: int = Field(3, ge=1, le=8, description="Most sentences an extractive answer quotes.")
    sentence_candidates: int = Field(
        8, ge=1, le=400, description="Best lexical sentences that are also embedded and ranked per question."
    )
    reader: bool = Field(
        True,
        description=(
            "Let the reader model (assistant/reader: MiniLM fine-tuned on SQuAD v1.1) pick the answering sentence and "
            "the direct answer; off, answer-type rules pick them."
        ),
    )
    reader_confidence: float = Field(
        0.69,
        ge=0,
        le=1,
        description=(
            "The reader's calibrated confidence a direct answer needs to be shown in bold; below it the answer says "
            "it holds one back. The lowest that keeps the shown answers right 85% of the time on RealTime QA dev "
            "(python -m bench.reader_calibration gave 0.689)."
        ),
    )
    part_support: float = Field(
        0.2,
        ge=0,
        le=1,
        description=(
            "Support a sentence needs to answer one part of a question about several articles (outlets, dates); "
            "when no part reaches it, the answer declines. Chosen on MultiHop-RAG dev (bench.multihop_rag)."
        ),
    )
    second_quote_margin: float = Field(
        0.03,
        ge=0,
        le=1,
        description="How close a second article of the same outlet must score to the best one to be quoted too.",
    )
    reader_windows: int = Field(
        4, ge=1, le=24, description="Passages the reader reads per question: the best sentences with their neighbours."
    )
    answer_margin: float = Field(
        0.2, ge=0, le=1, description="Sentences scoring within this of the best one may join it in the answer."
    )
    mmr_lambda: float = Field(
        0.7, ge=0, le=1, description="Relevance against novelty when picking answer sentences (1 ignores novelty)."
    )
    abstain_below: float = Field(
        0.45,
        ge=0,
        le=1,
        description=(
            "Abstain when the best sentence's support is below this. Calibrated: the highest value that still "
            "answers 92% of the RealTime QA dev questions (`python -m bench.answer_quality --calibrate` gave 0.450)."
        ),
    )
    excerpt_chars: int = Field(
        900,
        ge=80,
        le=8000,
        description="Most characters of whole sentences shown around a cited sentence (900: about the passage).",
    )
    conflict_similarity: float = Field(
        0.75,
        ge=0,
        le=1,
        description="Sentences from two articles this similar that state different values are shown as a conflict.",
    )
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible API root, e.g. http://127.0.0.1:8080/v1; empty disables the LLM."
    )
    llm_model: str | None = Field(None, description="Model name sent to the endpoint.")
    llm_api_key: SecretStr | None = Field(None, description="Bearer token for the endpoint, if it needs one.")
    llm_timeout: float = Field(60.0, gt=0, le=3600, description="Seconds to wait for the endpoint per request.")
    llm_retries: int = Field(2, ge=0, le=10, description="Retries after a connection error, timeout or 5xx.")
    llm_max_tokens: int = Field(400, ge=16, le=32_000, description="Most tokens the LLM may generate per answer.")
    llm_temperature: float = Field(0.1, ge=0, le=2, description="Sampling temperature for the LLM.")
    llm_excerpts: int = Field(6, ge=1, le=50, description="Numbered excerpts given to the LLM.")

    # -- Milvus ---------------------------------------------------------------------------------------------
    milvus_token: SecretStr | None = Field(
        None, description="Token for a Milvus server (user:password, or an API key); empty for none."
    )
    milvus_timeout: float = Field(
        10.0, gt=0, le=600, description="Seconds to wait for a Milvus server to answer a connection or a request."
    )

    # -- feeds and watched questions ------------------------------------------------------------------------
    watch_dir: Path | None = Field(
        None,
        description=(
            "Where the watched feeds and questions are kept (a SQLite file and the feed entries as read); "
            "default: watch/ in the index folder, or in the corpus folder for a Milvus server."
        ),
    )
    watch_every: float = Field(
        900.0, ge=1, le=7 * 24 * 3600, description="Seconds between two rounds over the watched feeds (15 min)."
    )
    feed_timeout: float = Field(
        20.0, gt=0, le=600, description="Seconds to wait for a feed or a page linked from it before giving up."
    )
    feed_hosts_at_once: int = Field(
        4, ge=1, le=64, description="Feed hosts fetched at the same time; one request at a time per host."
    )
    feed_max_backoff: float = Field(
        24 * 3600.0,
        ge=1,
        le=30 * 24 * 3600,
        description="Longest wait before retrying a failing feed; the wait doubles with each failure up to this.",
    )

    # -- chat page ------------------------------------------------------------------------------------------
    ui_auth: SecretStr | None = Field(
        None, description="user:password for the chat page; required to serve on anything but loopback."
    )
    ui_concurrency: int = Field(2, ge=1, le=64, description="Questions the page answers at the same time.")
    ui_queue_size: int = Field(
        64, ge=1, le=10_000, description="Requests that may wait; beyond this a user is told the page is busy."
    )
    ui_fetch_private: bool = Field(
        False,
        description=(
            "Let 'add a URL', feeds added in the page and the pages feed entries link to be fetched from loopback, "
            "private, link-local and other non-public addresses; off, neither a page user nor a feed can make the "
            "server reach internal services (SSRF). Feeds named on the command line or in --watch's file may be."
        ),
    )

    @property
    def max_file_bytes(self) -> int:
        """``max_file_mb`` in bytes: the one conversion every reader of the limit uses."""
        return int(self.max_file_mb * 1024 * 1024)


def get_settings(**overrides: Any) -> Settings:
    """Settings as of now: environment and ``.env`` are read at each call, overrides win.

    A value out of bounds or of the wrong kind is a ConfigError naming the setting as a user sets it
    (``ASSISTANT_K``), what it got and what it needs, not pydantic's traceback.
    """
    # Any, not object: these are forwarded to fields of every type, and pydantic validates each one.
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        problems = "; ".join(
            f"ASSISTANT_{str(error['loc'][0]).upper()}={error.get('input')!r}: {error['msg']}"
            if error["loc"]
            else error["msg"]
            for error in exc.errors()
        )
        raise ConfigError(f"invalid setting: {problems}") from None
