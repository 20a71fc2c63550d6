"""A warehouse whose summaries lag one pipeline batch, for ``bench_first_fold --batch``.

Starts a bench PostgreSQL (fsync off, TLS, autovacuum off so nothing is analyzed behind the
measurements) and moto under ``--dir``, seeds totesys at ``--scale``, runs ingestion and
transform, and loads into two warehouses through ``run_load``:

* ``wh_first``: the first load (folded after its commit), then a simulated batch (with its
  department rename and staff move) loaded without its fold; nothing analyzed. A load's
  state right after a first load.
* ``wh_quiet``: the same, that batch then folded and every table analyzed (as autovacuum
  does within minutes), then a batch without department changes
  (``simulate_changes(departments=False)``) loaded without its fold. A pipeline cycle.

"Without its fold": ``run_load`` only, not the fold the load Lambda asks for after it, so
``SELECT analytics.refresh_summaries()`` folds exactly that batch. The server
is left running; ``<dir>/server.json`` says how to reach it as the superuser. Stop it and
remove its files with ``--stop``::

    .venv/bin/python -m benchmarks.lagging_warehouse --scale 1m --dir .local/lagging-1m
    .venv/bin/python -m benchmarks.lagging_warehouse --stop --dir .local/lagging-1m
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from benchmarks.bench_dashboard import SCALES  # noqa: E402


def _load(store: Any, con: Any, *, fold: bool) -> None:
    """``run_load`` of what is pending, then the summaries' fold; without ``fold`` they are left behind."""
    from load.run import run_load
    from load.summaries import fold_pending

    with contextlib.redirect_stdout(io.StringIO()):
        run_load(store, con)
        if fold:
            fold_pending(con)


def build(scale: str, folder: Path) -> Path:
    """Build ``wh_first`` and ``wh_quiet`` (module docstring); return the server.json path."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from pg8000.native import identifier

    from benchmarks.server import in_process_pipeline, start_bench_postgres
    from common.config import SNAPSHOT_ROWS_PER_RUN
    from common.db import connect
    from local.generator import seed_database
    from local.moto_server import start_moto
    from local.simulator import simulate_changes
    from local.stack import WAREHOUSE_ROLE, create_source_database, create_warehouse_database

    server = start_bench_postgres(folder / "pg")
    moto = start_moto()
    admin_pg = server.connect()
    admin_pg.run("ALTER SYSTEM SET autovacuum = off")
    admin_pg.run("SELECT pg_reload_conf()")
    loader_pw, src_pw, reader_pw = (uuid.uuid4().hex for _ in range(3))
    create_source_database(server, "totesys", src_pw)
    create_warehouse_database(server, "wh", loader_pw, reader_pw)
    admin = server.connect("totesys")
    seed_database(admin, seed=42, scale=SCALES[scale])
    pipeline = in_process_pipeline(
        moto,
        "lw",
        source=server.credentials("totesys", "totes_reader", src_pw),
        warehouse=server.credentials("wh", WAREHOUSE_ROLE, loader_pw),
    )
    os.environ["SNAPSHOT_ROWS_PER_RUN"] = str(SNAPSHOT_ROWS_PER_RUN.high)  # run 1 is the whole data set
    store = pipeline.processed
    loader = connect(server.credentials("wh", WAREHOUSE_ROLE, loader_pw), "lagging-warehouse")
    pipeline.cycle()
    _load(store, loader, fold=True)
    for departments in (True, False):
        simulate_changes(admin, seed=100 if departments else 101, departments=departments)
        pipeline.cycle()
        _load(store, loader, fold=False)
        if departments:
            loader.close()
            admin_pg.run(f"CREATE DATABASE wh_first TEMPLATE wh OWNER {identifier(WAREHOUSE_ROLE)}")
            loader = connect(server.credentials("wh", WAREHOUSE_ROLE, loader_pw), "lagging-warehouse")
            loader.run("SELECT analytics.refresh_summaries()")
            loader.run("ANALYZE")
    loader.close()
    admin_pg.run("ALTER DATABASE wh RENAME TO wh_quiet")
    admin.close()
    admin_pg.close()
    moto.stop()
    doc = {"host": server.host, "port": server.port, "user": server.user, "password": server.password}
    path = folder / "server.json"
    path.write_text(json.dumps(doc | {"ca": str(server.ca_file), "data_dir": str(server.data_dir)}))
    return path


def stop(folder: Path) -> None:
    from local.postgres_server import PostgresServer

    doc = json.loads((folder / "server.json").read_text())
    server = PostgresServer(data_dir=Path(doc["data_dir"]), port=doc["port"], password=doc["password"])
    server.stop()
    server.remove_files()
    (folder / "server.json").unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--dir", type=Path, required=True, help="Folder for the server's files and server.json.")
    parser.add_argument("--stop", action="store_true", help="Stop the server built in --dir and remove its files.")
    args = parser.parse_args()
    if args.stop:
        stop(args.dir.resolve())
    else:
        print(build(args.scale, args.dir.resolve()))


if __name__ == "__main__":
    main()
