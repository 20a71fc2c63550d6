"""Loading an exchange-rate run's rates into ``fx_rate``: an upsert keyed by (rate_date, currency_code).

The Parquet (``lake.fx_rates.SCHEMA``) is a few rows per date, so it goes in one
``INSERT ... SELECT FROM unnest(...)`` with every value bound as an array parameter,
the rate as decimal text cast to ``numeric`` (exact end to end). A rate fetched again
(a new currency, a date asked again) replaces the old one, type-1 like a dimension;
an unchanged one is not rewritten. Runs inside the run's transaction, before the ledger row.
"""

from __future__ import annotations

from pathlib import Path

import pg8000.native
import pyarrow.parquet as pq

from lake.fx_rates import SCHEMA

_UPSERT = """
INSERT INTO fx_rate AS f (rate_date, currency_code, rate, base_currency, source, run_seq)
SELECT u.d::date, u.c, u.r::numeric, u.b, u.s, :seq
FROM unnest(CAST(:d AS text[]), CAST(:c AS text[]), CAST(:r AS text[]), CAST(:b AS text[]), CAST(:s AS text[]))
     AS u(d, c, r, b, s)
ON CONFLICT (rate_date, currency_code) DO UPDATE
SET rate = EXCLUDED.rate, base_currency = EXCLUDED.base_currency, source = EXCLUDED.source, run_seq = EXCLUDED.run_seq
WHERE (f.rate, f.base_currency, f.source) IS DISTINCT FROM (EXCLUDED.rate, EXCLUDED.base_currency, EXCLUDED.source)
"""


def load_fx_rates(con: pg8000.native.Connection, path: Path, run_seq: int) -> tuple[int, int]:
    """Upsert the rates of ``path`` into ``fx_rate``; returns (rows in the file, rows inserted or changed)."""
    table = pq.read_table(path, schema=SCHEMA)
    if not table.num_rows:
        return 0, 0
    con.run(
        _UPSERT,
        seq=run_seq,
        d=[d.isoformat() for d in table.column("rate_date").to_pylist()],
        c=table.column("currency_code").to_pylist(),
        r=[str(r) for r in table.column("rate").to_pylist()],
        b=table.column("base_currency").to_pylist(),
        s=table.column("source").to_pylist(),
    )
    return table.num_rows, con.row_count
