"""The load stage: processed runs (Parquet) into the PostgreSQL star-schema warehouse.

One processed run = one warehouse transaction (COPY into staging, upsert dimensions,
append fact versions, write the ledger row). Design: docs/load.md.
"""

from __future__ import annotations

__all__ = ["LoadResult", "RunLoad", "run_load"]


def __getattr__(name: str) -> object:
    # Lazy, so ``import load.errors`` does not pull in pyarrow and pg8000.
    if name in __all__:
        from load import run

        return getattr(run, name)
    raise AttributeError(name)
