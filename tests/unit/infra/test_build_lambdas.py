"""lambda_build.zips (scripts/build_lambdas.py, make build): reproducible zips with the right contents.

The dependency install (pip, python3.12 manylinux wheels) is cached in the user's cache
(lambda_build.cache) by requirements hash, so only the first run on a machine downloads.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from lambda_build import zips as build_lambdas

pytestmark = pytest.mark.slow  # builds nine 9 MB zips

REPO_ROOT = Path(__file__).resolve().parents[3]
STAGES = ("ingestion", "transform", "load")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built_twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], dict[str, Path]]:
    first = build_lambdas.build(out_dir=tmp_path_factory.mktemp("first"))
    second = build_lambdas.build(out_dir=tmp_path_factory.mktemp("second"))
    return first, second


def test_zip_requirements_are_the_marked_lines(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# a comment line\n"
        "boto3>=1.35\n"
        "pandas>=2.2,<3  # the layer ships pandas 2.x\n"
        "aws-lambda-powertools>=3.2  # zip\n"
        "pycountry>=24.6 #zip\n"
        "zipp>=3  # not zip\n"
    )
    assert build_lambdas.zip_requirements(requirements) == ["aws-lambda-powertools>=3.2", "pycountry>=24.6"]


def test_repository_zip_requirements_exclude_what_the_layer_provides() -> None:
    names = {spec.split(">")[0].split("=")[0].split("<")[0].strip() for spec in build_lambdas.zip_requirements()}
    assert {"aws-lambda-powertools", "pycountry"} <= names
    # pandas & co. come from the AWS SDK for pandas layer; boto3 from the runtime.
    assert not names & {"pandas", "pyarrow", "pg8000", "awswrangler", "boto3", "numpy"}


def test_same_code_gives_the_same_bytes(built_twice: tuple[dict[str, Path], dict[str, Path]]) -> None:
    first, second = built_twice
    assert set(first) == set(STAGES)
    for stage in STAGES:
        assert _sha256(first[stage]) == _sha256(second[stage]), stage


@pytest.mark.parametrize("stage", STAGES)
def test_zip_holds_common_the_stage_and_the_zip_dependencies(
    built_twice: tuple[dict[str, Path], dict[str, Path]], stage: str
) -> None:
    with zipfile.ZipFile(built_twice[0][stage]) as archive:
        names = archive.namelist()
        infos = archive.infolist()
    top_level = {name.split("/", 1)[0] for name in names}

    assert f"{stage}/handler.py" in names
    assert "common/__init__.py" in names
    assert "common/s3_store.py" in names
    assert "aws_lambda_powertools/__init__.py" in names
    assert "pycountry/__init__.py" in names
    # Every file of our packages is in, with its exact bytes.
    for package in ("common", stage):
        for source in (REPO_ROOT / "src" / package).rglob("*.py"):
            if "__pycache__" not in source.parts:
                assert source.relative_to(REPO_ROOT / "src").as_posix() in names
    # The other stages, the local stack, the CLI and the layer's packages are not.
    for other in set(STAGES) - {stage}:
        assert other not in top_level
    assert not top_level & {"local", "cli", "ops", "tests", "pandas", "pyarrow", "pg8000", "awswrangler", "boto3"}
    # Nothing machine-made or test-only.
    for name in names:
        parts = name.split("/")
        assert "__pycache__" not in parts, name
        assert not name.endswith((".pyc", ".pyo")), name
        assert "tests" not in parts, name
        assert parts[0] != "bin", name

    # Fixed order, time and permissions: what makes the bytes reproducible.
    assert names == sorted(names)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert stat.S_IMODE(info.external_attr >> 16) == 0o644, info.filename
        assert stat.S_ISREG(info.external_attr >> 16), info.filename


def test_zip_file_matches_source_bytes(built_twice: tuple[dict[str, Path], dict[str, Path]]) -> None:
    with zipfile.ZipFile(built_twice[0]["load"]) as archive:
        assert archive.read("load/handler.py") == (REPO_ROOT / "src" / "load" / "handler.py").read_bytes()


def test_a_code_change_changes_the_hash_and_a_touch_does_not(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for package in (*build_lambdas.SHARED_PACKAGES, "load"):
        shutil.copytree(REPO_ROOT / "src" / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    before = _sha256(build_lambdas.build(["load"], out_dir=tmp_path / "a", src_dir=src)["load"])

    handler = src / "load" / "handler.py"
    handler.touch()  # a new mtime only
    (src / "load" / "__pycache__").mkdir(exist_ok=True)
    (src / "load" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"machine specific")
    assert _sha256(build_lambdas.build(["load"], out_dir=tmp_path / "b", src_dir=src)["load"]) == before

    handler.write_text(handler.read_text() + "\n# changed\n")
    assert _sha256(build_lambdas.build(["load"], out_dir=tmp_path / "c", src_dir=src)["load"]) != before


def test_a_reused_zip_is_the_zip_of_the_same_entries_and_a_change_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "handler.py"
    source.write_text("x = 1\n")
    entries, cache = {"load/handler.py": source}, tmp_path / "cache"
    fresh = tmp_path / "fresh.zip"
    build_lambdas.write_zip(entries, fresh)
    build_lambdas.write_zip_reusing(entries, tmp_path / "a" / "load.zip", cache)
    assert _sha256(tmp_path / "a" / "load.zip") == _sha256(fresh)

    def no_writing(*_args: object) -> str:
        raise AssertionError("the same entries were zipped again")

    with monkeypatch.context() as patch:
        patch.setattr(build_lambdas, "write_zip", no_writing)
        build_lambdas.write_zip_reusing(entries, tmp_path / "b" / "load.zip", cache)
    assert _sha256(tmp_path / "b" / "load.zip") == _sha256(fresh)

    source.write_text("x = 2\n")  # same name and size, other content
    build_lambdas.write_zip_reusing(entries, tmp_path / "c" / "load.zip", cache)
    with zipfile.ZipFile(tmp_path / "c" / "load.zip") as archive:
        assert archive.read("load/handler.py") == b"x = 2\n"

    monkeypatch.setattr(build_lambdas, "ZIP_CACHE_KEEP", 2)
    source.write_text("x = 3\n")
    build_lambdas.write_zip_reusing(entries, tmp_path / "d" / "load.zip", cache)
    assert len(list(cache.glob("*.zip"))) == 2


def test_missing_stage_package_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for package in build_lambdas.SHARED_PACKAGES:
        shutil.copytree(REPO_ROOT / "src" / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    with pytest.raises(build_lambdas.BuildError, match="transform"):
        build_lambdas.build(["transform"], out_dir=tmp_path / "out", src_dir=src)


def test_unknown_stage_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(build_lambdas.BuildError, match="unknown stage"):
        build_lambdas.build(["reporting"], out_dir=tmp_path)


def test_dependency_cache_is_reused(tmp_path: Path) -> None:
    specs = build_lambdas.zip_requirements()
    cache = build_lambdas.DEPS_CACHE
    first = build_lambdas.install_dependencies(specs, cache)
    marker = first / "aws_lambda_powertools" / "__init__.py"
    assert marker.is_file()
    # The same requirements hit the same folder (no second pip run).
    assert build_lambdas.install_dependencies(specs, cache) == first
    assert first.name == build_lambdas._deps_key(specs)
    assert build_lambdas._deps_key([*specs, "six"]) != first.name


def _pem_bundle(tmp_path: Path) -> Path:
    from local.tls import make_ca

    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(make_ca("RDS stand-in 1").cert_pem + make_ca("RDS stand-in 2").cert_pem)
    return bundle


def test_the_load_zip_carries_the_migrations_and_every_zip_the_rds_ca(tmp_path: Path) -> None:
    bundle = _pem_bundle(tmp_path)
    built = build_lambdas.build(out_dir=tmp_path / "out", rds_ca=bundle)
    migrations = sorted(p.name for p in (REPO_ROOT / "sql" / "warehouse").glob("[0-9][0-9][0-9]_*.sql"))
    assert migrations
    for stage, path in built.items():
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            assert archive.read("common/certs/rds-global-bundle.pem") == bundle.read_bytes(), stage
        shipped = sorted(n.removeprefix("sql/warehouse/") for n in names if n.startswith("sql/"))
        assert shipped == (migrations if stage == "load" else []), stage
    # Without a bundle nothing is added (the build never needs one).
    with zipfile.ZipFile(build_lambdas.build(["ingestion"], out_dir=tmp_path / "bare")["ingestion"]) as archive:
        assert not [n for n in archive.namelist() if n.startswith("common/certs/")]


def test_the_rds_ca_download_is_checked_against_the_pin(tmp_path: Path) -> None:
    bundle = _pem_bundle(tmp_path)
    digest = _sha256(bundle)
    fetched = build_lambdas.fetch_rds_ca(tmp_path / "cache" / "ca.pem", url=bundle.as_uri(), sha256=digest)
    assert fetched.read_bytes() == bundle.read_bytes()
    with pytest.raises(build_lambdas.BuildError, match=f"has sha256 {digest}, not the pinned 0{{64}}"):
        build_lambdas.fetch_rds_ca(tmp_path / "other" / "ca.pem", url=bundle.as_uri(), sha256="0" * 64)
    assert not (tmp_path / "other" / "ca.pem").exists()  # a mismatch is never cached


def test_without_the_rds_ca_the_build_warns_and_a_deploy_build_fails(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(build_lambdas, "RDS_CA_URL", (tmp_path / "missing.pem").as_uri())  # offline stand-in
    cache = tmp_path / "cache" / "ca.pem"
    assert build_lambdas.resolve_rds_ca(None, fetch=True, required=False, cache=cache) is None
    assert "built without it" in capsys.readouterr().err
    with pytest.raises(build_lambdas.BuildError, match="cannot download the RDS CA bundle"):
        build_lambdas.resolve_rds_ca(None, fetch=True, required=True, cache=cache)
    with pytest.raises(build_lambdas.BuildError, match="not a PEM file"):
        build_lambdas.resolve_rds_ca(REPO_ROOT / "README.md", fetch=False, required=True)
