"""Where an index lives, from the one value a user names it by (``--index``, ``ASSISTANT_INDEX_DIR``).

index/                         the local store: a folder (FAISS segments and SQLite), the default
milvus-lite:PATH               Milvus Lite, the embedded engine, in a local folder (one process at a time)
milvus://HOST:PORT/COLLECTION  a Milvus server, standalone or distributed (token: ASSISTANT_MILVUS_TOKEN)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

__all__ = ["MilvusAddress", "disk_usage", "milvus_address"]

LITE_PREFIX = "milvus-lite:"
DEFAULT_COLLECTION = "news"
# A path setting collapses "//": milvus://host reaches us as milvus:/host, and both spellings mean the same.
_SERVER = re.compile(r"^milvus:/{1,2}(?P<host>[^/:]+)(?::(?P<port>\d+))?(?:/(?P<collection>[^/]*))?/?$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")  # what Milvus accepts as a collection name


@dataclass(frozen=True)
class MilvusAddress:
    """A Milvus index: the embedded engine's folder (``lite``) or a server's URI, and the collections' prefix."""

    uri: str
    collection: str
    lite: bool

    def __str__(self) -> str:
        if self.lite:
            return LITE_PREFIX + self.uri
        return f"milvus://{self.uri.removeprefix('http://')}/{self.collection}"


def milvus_address(location: str | Path) -> MilvusAddress | None:
    """The Milvus index ``location`` names, or None for a local folder; ConfigError for a malformed one."""
    text = str(location)
    if text.startswith(LITE_PREFIX):
        path = text.removeprefix(LITE_PREFIX)
        if not path:
            raise ConfigError(f"{text!r}: name the folder of the Milvus Lite index, e.g. milvus-lite:index.db")
        return MilvusAddress(str(Path(path).expanduser().resolve()), DEFAULT_COLLECTION, lite=True)
    if not text.startswith("milvus:"):
        return None
    found = _SERVER.match(text)
    if found is None:
        raise ConfigError(f"{text!r} is not a Milvus address: write milvus://HOST:PORT/COLLECTION")
    collection = found["collection"] or DEFAULT_COLLECTION
    if not _NAME.match(collection):
        raise ConfigError(
            f"{text!r}: {collection!r} cannot name a Milvus collection (letters, digits and _, not starting with a "
            "digit)"
        )
    return MilvusAddress(f"http://{found['host']}:{found['port'] or 19530}", collection, lite=False)


def disk_usage(directory: str | Path) -> int:
    """Bytes of every file under ``directory`` (an index folder, or a Milvus Lite folder)."""
    return sum(p.stat().st_size for p in _walk_files(Path(directory)))


def _walk_files(directory: Path) -> Iterator[Path]:
    for path in directory.rglob("*"):
        if path.is_file():
            yield path
