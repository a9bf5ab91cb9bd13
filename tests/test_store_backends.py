"""The store contract (tests/store_contract.py), run on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_contract import StoreContract


class TestLocalStore(StoreContract):
    @pytest.fixture
    def location(self, tmp_path: Path) -> Iterator[str | Path]:
        yield tmp_path / "index"


class TestMilvusLiteStore(StoreContract):
    keeps_open_generations = False  # Milvus keeps only the live generation (docs/scale.md)

    @pytest.fixture
    def location(self, tmp_path: Path) -> Iterator[str | Path]:
        pytest.importorskip("milvus_lite")
        yield f"milvus-lite:{tmp_path / 'index.db'}"
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_all()
