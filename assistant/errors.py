"""The exceptions the library raises.

    AssistantError                 base of everything below
    ├── ConfigError                a setting or argument is invalid
    │   └── FetchError             a URL (a page, a feed) cannot be fetched: refused, HTTP error, too big, timed out
    ├── ModelError                 an embedding model cannot be found or loaded
    ├── InputError                 an article could not be read (file, line, field)
    ├── EndpointError              an LLM endpoint failed (unreachable, timed out, bad reply)
    ├── ClusterError               a Ray cluster could not be reached, or a worker failed unexpectedly
    └── StoreError                 base of problems with an index on disk
        ├── IndexNotFoundError     no index at the given location
        │   └── GenerationGoneError  an index generation asked for is no longer kept
        ├── IndexCorruptError      files do not match the manifest
        ├── IndexLockedError       another writer holds the lock
        ├── ModelMismatchError     the index was built with another model
        ├── NothingIndexedError    a build where every input failed
        └── StoreUnavailableError  an index server is down, or refuses the credentials

The CLI maps each to a message and an exit code (see ``EXIT_CODES``).
"""

from __future__ import annotations

from pathlib import Path


class AssistantError(Exception):
    """Base class of every error raised on purpose by the assistant."""


class ConfigError(AssistantError):
    """A setting or argument has an invalid value."""


class FetchError(ConfigError):
    """A URL cannot be fetched: its address is refused, the server answers an error, or the body is too big.

    ``status`` is the HTTP status when the server answered one; ``retry_after`` the seconds its ``Retry-After``
    header asks a client to wait (a 429 or 503), or None.
    """

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ModelError(AssistantError):
    """An embedding model cannot be located or loaded."""


class InputError(AssistantError):
    """An input article could not be used. Carries where, so the message can name it."""

    def __init__(
        self,
        reason: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        where = self.path or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field is not None:
            where += f" (field {self.field!r})"
        return f"{where}: {self.reason}"


class EndpointError(AssistantError):
    """An OpenAI-compatible endpoint was unreachable, too slow, or replied with something unusable.

    The assistant answers extractively instead and says why; only code calling the endpoint directly sees this.
    """


class ClusterError(AssistantError):
    """Distributed ingestion failed: the Ray cluster could not be reached, or a worker raised an unexpected error."""


class StoreError(AssistantError):
    """Base class of problems with an index on disk."""


class IndexNotFoundError(StoreError):
    """There is no index at the given location."""


class GenerationGoneError(IndexNotFoundError):
    """The index generation asked for (a permalink's) is no longer on disk: only a few are kept."""

    def __init__(self, message: str, generation: int) -> None:
        super().__init__(message)
        self.generation = generation


class IndexCorruptError(StoreError):
    """The index files do not match their manifest; nothing is answered from them."""


class IndexLockedError(StoreError):
    """Another process is writing the index."""


class ModelMismatchError(StoreError):
    """The index was built with a different embedding model than the one configured."""


class NothingIndexedError(StoreError):
    """Every input of a build failed, so no index was written."""


class StoreUnavailableError(StoreError):
    """The index's server (Milvus) cannot be reached, refuses the credentials, or its engine is held elsewhere."""


# The CLI's exit codes: 1 is reserved for unexpected failures.
EXIT_CODES: dict[type[AssistantError], int] = {
    ConfigError: 2,
    InputError: 3,
    ModelError: 4,
    IndexNotFoundError: 5,
    IndexCorruptError: 6,
    IndexLockedError: 7,
    ModelMismatchError: 8,
    NothingIndexedError: 9,
    EndpointError: 11,
    StoreUnavailableError: 13,
    ClusterError: 14,
}


def exit_code(error: AssistantError) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 10
