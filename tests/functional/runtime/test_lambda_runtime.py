"""The zips run on the Lambda runtime: python3.12 with only the AWS SDK for pandas layer's packages.

One full cycle, each stage's handler imported from its own unpacked zip (read-only, no
repository path on sys.path) by the layer's python3.12, against the local stack over
verify-full TLS: migrate the empty warehouse through the load zip (its ``sql/warehouse``),
ingest the seeded totesys, transform, load; then the warehouse must reconcile with the
source, and every Parquet object must use a codec the layer's pyarrow was built with.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambda_build.layer import LAYER_REQUIREMENTS, aws_sdk_pandas_version, layer_pins
from local.generator import seed_database
from local.moto_server import REGION
from local.paths import REPO_ROOT
from ops.reconcile import reconcile
from ops.runner import s3_event, scheduled_event
from transform.snapshot import PARQUET_OPTIONS

pytestmark = pytest.mark.slow

# The layer's pyarrow is built with ARROW_WITH_SNAPPY and ARROW_WITH_ZLIB only (GZIP in
# Parquet is zlib): see layer-requirements.txt. Any other codec cannot be read there.
LAYER_PARQUET_CODECS = frozenset({"SNAPPY", "GZIP", "UNCOMPRESSED"})


def parquet_codecs(data: bytes) -> set[str]:
    """Every compression codec used by any column chunk of a Parquet file."""
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    return {
        meta.row_group(g).column(c).compression for g in range(meta.num_row_groups) for c in range(meta.num_columns)
    }


_PROBE = """
import os
import pyarrow as pa
import pyarrow.parquet as pq


def handler(event, context):
    out = {}
    for name, folder in event.items():
        folder = folder or os.environ["TMPDIR"]
        try:
            with open(os.path.join(folder, "probe.txt"), "w") as f:
                f.write("x")
            out[name + "/python"] = "written"
        except OSError as exc:
            out[name + "/python"] = type(exc).__name__
        try:
            pq.write_table(pa.table({"x": [1]}), os.path.join(folder, "probe.parquet"))
            out[name + "/arrow"] = "written"
        except OSError as exc:
            out[name + "/arrow"] = type(exc).__name__
    return out
"""


def test_the_runtime_writes_only_to_its_temporary_directory(lambda_runtime, tmp_path: Path) -> None:
    """The sandbox itself: a probe function tries Python and Arrow (C++) writes everywhere."""
    probe = tmp_path / "probe-code"
    probe.mkdir()
    (probe / "probe.py").write_text(_PROBE)
    lambda_runtime.code_dirs["probe"] = probe
    os.chmod(probe / "probe.py", 0o444)
    os.chmod(probe, 0o555)
    try:
        out = lambda_runtime.invoke("probe", {"code": str(probe), "repo": str(REPO_ROOT), "tmp": ""}, {},
                                    handler="probe.handler")  # fmt: skip
    finally:
        os.chmod(probe, 0o755)
        for stray in ("probe.txt", "probe.parquet"):
            (REPO_ROOT / stray).unlink(missing_ok=True)
    assert out["tmp/python"] == out["tmp/arrow"] == "written"
    assert out["code/python"] != "written"
    assert out["code/arrow"] != "written"  # C++ writes too: read-only mount (root) or permissions
    assert out["repo/python"] != "written"  # the audit hook
    if lambda_runtime.bind_read_only:
        assert out["repo/arrow"] != "written"  # the read-only bind mount of the repository


def test_the_codec_check_sees_a_codec_the_layer_lacks() -> None:
    """The check below can fail: a file written with zstd (the PyPI wheel has it; the layer does not)."""
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": list(range(100))}), buf, compression="zstd")
    assert parquet_codecs(buf.getvalue()) == {"ZSTD"}
    assert not parquet_codecs(buf.getvalue()) <= LAYER_PARQUET_CODECS


def test_transform_writes_parquet_with_a_codec_the_layer_has() -> None:
    assert PARQUET_OPTIONS["compression"].upper() in LAYER_PARQUET_CODECS


def test_the_layer_pin_names_its_layer_version() -> None:
    text = LAYER_REQUIREMENTS.read_text()
    declared = [ln.split("=", 1)[1].strip() for ln in text.splitlines() if ln.startswith("# aws_sdk_pandas_version =")]
    assert declared == [aws_sdk_pandas_version()]  # the layer of awswrangler X is published as version X
    assert layer_pins()["pyarrow"] == "24.0.0"  # what that release's layer build compiles (ARROW_VERSION)


def _event_for(s3, bucket: str, key: str) -> dict:
    head = s3.head_object(Bucket=bucket, Key=key)
    return s3_event(bucket=bucket, key=key, size=head["ContentLength"], etag=head["ETag"].strip('"'),
                    sequencer="0000000000000001", region=REGION)  # fmt: skip


def test_one_full_cycle_on_python_312_with_only_the_layer(
    lambda_runtime, pipeline, stack, bare_warehouse, tmp_path: Path
) -> None:
    seed_database(pipeline.source.admin, seed=3, scale=0.05)
    res, s3 = pipeline.resources, pipeline.aws.s3
    lambda_runtime.env = {**stack.moto.env(), "POWERTOOLS_METRICS_NAMESPACE": "TotesRuntimeTest"}
    env = res.handler_env()

    migrated = lambda_runtime.invoke("load", {"action": "migrate"}, env)
    assert migrated["applied"]  # the zip's sql/warehouse, applied over TLS by python3.12

    ingested = lambda_runtime.invoke("ingestion", scheduled_event(REGION), env)
    assert ingested["status"] == "committed"
    assert ingested["run_seq"] == 1

    run_key = "runs/0000000001.json"
    transformed = lambda_runtime.invoke("transform", _event_for(s3, res.ingest_bucket, run_key), env)
    assert transformed["runs_committed"] == [1], transformed
    assert transformed["rows_out"] > 0

    loaded = lambda_runtime.invoke("load", _event_for(s3, res.processed_bucket, run_key), env)
    assert loaded["run_seqs"] == [1]
    assert loaded["rows_loaded"] > 0

    # Each handler ran on 3.12 from its own zip and the layer's packages, never the repository.
    for result in lambda_runtime.results:
        runtime = result["runtime"]
        assert runtime["python"][:2] == [3, 12]
        code_dir, layer_dir = str(lambda_runtime.code_dirs[result["stage"]]), str(lambda_runtime.python.parents[1])
        modules = runtime["modules"]
        assert modules["common"].startswith(code_dir)
        assert modules["aws_lambda_powertools"].startswith(code_dir)  # shipped in the zip
        for layer_package in ("pyarrow", "pg8000", "boto3"):
            if layer_package in modules:
                assert modules[layer_package].startswith(layer_dir), (result["stage"], modules)
        assert ("pg8000" in modules) == (result["stage"] in ("ingestion", "load"))
        assert not any(p.startswith(str(REPO_ROOT / "src")) for p in runtime["sys_path"])

    # Every Parquet object is readable by the layer's pyarrow.
    parquet = [o["Key"] for o in s3.list_objects_v2(Bucket=res.processed_bucket)["Contents"]
               if o["Key"].endswith(".parquet")]  # fmt: skip
    assert parquet
    for key in parquet:
        codecs = parquet_codecs(s3.get_object(Bucket=res.processed_bucket, Key=key)["Body"].read())
        assert codecs <= LAYER_PARQUET_CODECS, f"{key} uses {codecs - LAYER_PARQUET_CODECS}, not in the layer"

    # And the warehouse is exactly the source's derivation.
    src, wh = pipeline.source.connect(), bare_warehouse.connect()
    try:
        report = reconcile(src, wh)
    finally:
        src.close()
        wh.close()
    assert report.ok, report.summary()
