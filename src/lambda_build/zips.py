"""Build the three Lambda zips reproducibly: build/ingestion.zip, transform.zip, load.zip.

Each zip holds ``src/common``, ``src/lake`` (the lake contracts), ``src/<stage>`` and the run-time packages marked
``# zip`` in requirements.txt (aws-lambda-powertools, pycountry), installed as
python3.12 manylinux x86_64 wheels. pandas, pyarrow, pg8000 and awswrangler are
not in the zip: they come from the AWS SDK for pandas layer (terraform/lambda.tf;
the exact versions are in layer-requirements.txt). The load zip also carries
``sql/warehouse/`` (the migrations it applies, ``load.schema``), and every zip carries
the RDS CA bundle as ``common/certs/rds-global-bundle.pem`` when it is available, the
CA that ``common.db`` trusts by default for verify-full TLS.

The RDS CA bundle: ``--rds-ca-bundle PATH`` (``make build RDS_CA_BUNDLE=path``) takes
a file you have; otherwise ``build/certs/rds-global-bundle.pem`` is used, downloaded
from AWS when missing and checked against the pinned sha256 below. Without internet
the zips are built without it and a warning says so (``make build``/``run``/``test``
never need it); ``--require-rds-ca`` (``make deploy``) makes its absence an error.

Reproducible means the same code gives the same bytes, so Terraform's
``source_code_hash`` only changes (and a function is only redeployed) when the
code or its dependencies change. Every entry therefore has a fixed timestamp
(1980-01-01, the earliest a zip can hold), fixed permissions and a sorted place,
and nothing machine-specific goes in (no ``__pycache__``/``.pyc``, no tests, no
console-script launchers whose shebang names the build machine's Python).

The installed dependencies are cached under ``<user cache>/lambda-deps/<hash>/``
(``lambda_build.cache``), keyed by the ``# zip`` lines and the pip target, so a repeat
build, in this checkout or another, makes no network call. ``build(..., reuse=dir)``
(the local Terraform apply) also keeps each zip in ``dir`` under the hash of everything
that goes into it, and copies it from there when nothing changed: the bytes are the same
either way, since the build is reproducible.

Usage: ``make build``, i.e. ``python scripts/build_lambdas.py [--out-dir build] [--stage ingestion ...]``;
``local.terraform_local`` calls ``build`` before applying the Terraform to moto.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import ssl
import subprocess  # nosec B404 - runs pip with a fixed argument list
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from lambda_build.cache import user_cache_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
SRC_DIR = REPO_ROOT / "src"
BUILD_DIR = REPO_ROOT / "build"
REQUIREMENTS = REPO_ROOT / "requirements.txt"
WAREHOUSE_SQL_DIR = REPO_ROOT / "sql" / "warehouse"
DEPS_CACHE = user_cache_dir() / "lambda-deps"
ZIP_CACHE = BUILD_DIR / "zip-cache"  # zips by content hash (build(reuse=...)); the newest few are kept
ZIP_CACHE_KEEP = 6
SQL_ARCHIVE_DIR = "sql/warehouse"  # where load.schema looks in the zip
MIGRATION_STAGE = "load"

# The RDS CA bundle (every region's root and intermediate CAs), which the RDS docs name
# for verify-full: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html
RDS_CA_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
# sha256 of the bundle as last reviewed. AWS adds CAs to it (new regions, rotations):
# when the download no longer matches, the build says so; review the new file and
# update this pin (or pass --rds-ca-bundle).
RDS_CA_SHA256 = "05c6b4a9bf4daa95c888711481e19cc8e2e11aed4de8db759f51f4a6fce64917"
RDS_CA_CACHE = BUILD_DIR / "certs" / "rds-global-bundle.pem"
RDS_CA_ARCHIVE_NAME = "common/certs/rds-global-bundle.pem"  # common.db.BUNDLED_CA
_DOWNLOAD_TIMEOUT_S = 20

STAGES = ("ingestion", "transform", "load")
SHARED_PACKAGES = ("common", "lake")  # in every zip: what the stages share, and the lake contracts
ZIP_MARKER = "zip"  # the comment that marks a requirements.txt line for the zips

# The Lambda runtime: python3.12 on x86_64 (terraform/lambda.tf: runtime, architectures).
PIP_TARGET_ARGS = (
    "--only-binary=:all:",
    "--platform",
    "manylinux2014_x86_64",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
)

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
# Folder and file names never shipped: byte code is machine-made, tests are not run code.
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "test", "bin"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


class BuildError(RuntimeError):
    """The zips cannot be built (a stage package or the dependencies are missing)."""


def _is_pem_bundle(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----BEGIN CERTIFICATE-----") and b"-----END CERTIFICATE-----" in data


def fetch_rds_ca(cache: Path = RDS_CA_CACHE, url: str | None = None, sha256: str | None = None) -> Path:
    """Download the RDS CA bundle into ``cache`` unless it is there; verify the pinned sha256.

    Raises ``BuildError`` when it cannot be downloaded or does not match the pin.
    """
    url, sha256 = url or RDS_CA_URL, sha256 or RDS_CA_SHA256
    if cache.is_file():
        return cache
    try:
        context = ssl.create_default_context()
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S, context=context) as response:  # noqa: S310  # nosec B310 - fixed https URL
            data = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise BuildError(f"cannot download the RDS CA bundle from {url}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise BuildError(
            f"the RDS CA bundle from {url} has sha256 {digest}, not the pinned {sha256}: AWS may have "
            "updated it. Review the new bundle, then update RDS_CA_SHA256 in src/lambda_build/zips.py "
            "(or pass a reviewed file with --rds-ca-bundle / make RDS_CA_BUNDLE=path)."
        )
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(data)
    return cache


def resolve_rds_ca(given: Path | None, *, fetch: bool, required: bool, cache: Path = RDS_CA_CACHE) -> Path | None:
    """The RDS CA bundle to ship: ``given``, else the cached/fetched one; None if unavailable and not required."""
    if given is not None:
        if not given.is_file() or not _is_pem_bundle(given.read_bytes()):
            raise BuildError(f"--rds-ca-bundle {given}: not a PEM file of certificates")
        return given
    try:
        if cache.is_file() or fetch:
            return fetch_rds_ca(cache)
        raise BuildError(f"no RDS CA bundle at {cache} (and no download asked for)")
    except BuildError as exc:
        if required:
            raise
        print(
            f"build_lambdas: warning: {exc}; the zips are built without it (common.db then trusts the "
            "system store unless a secret names its CA in sslrootcert)",
            file=sys.stderr,
        )
        return None


def zip_requirements(requirements: Path = REQUIREMENTS) -> list[str]:
    """The requirement specifiers of the lines marked ``# zip``, in file order."""
    specs = []
    for line in requirements.read_text().splitlines():
        requirement, sep, comment = line.partition("#")
        if sep and comment.strip() == ZIP_MARKER and requirement.strip():
            specs.append(requirement.strip())
    return specs


def _deps_key(specs: Iterable[str]) -> str:
    material = "\n".join([*specs, *PIP_TARGET_ARGS]).encode()
    return hashlib.sha256(material).hexdigest()[:16]


def install_dependencies(specs: list[str], cache_root: Path) -> Path:
    """Install ``specs`` for the Lambda runtime into a cached folder and return it.

    The folder is created under a temporary name and renamed when pip succeeded, so
    an interrupted install is never mistaken for a complete cache entry.
    """
    target = cache_root / _deps_key(specs)
    if target.is_dir():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=cache_root))
    try:
        if specs:
            cmd = [
                sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "--no-compile", *PIP_TARGET_ARGS, "--target", str(staging), *specs,
            ]  # fmt: skip
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603
            if result.returncode != 0:
                raise BuildError(f"pip could not install {specs} for python3.12:\n{result.stderr}")
        try:
            staging.rename(target)
        except OSError:
            # Another build finished the same entry first; theirs is as good as ours.
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _files_under(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in EXCLUDED_DIRS]
        for name in filenames:
            if not name.endswith(EXCLUDED_SUFFIXES):
                yield Path(dirpath) / name


def stage_entries(
    stage: str,
    src_dir: Path,
    deps_dir: Path,
    *,
    sql_dir: Path = WAREHOUSE_SQL_DIR,
    rds_ca: Path | None = None,
) -> dict[str, Path]:
    """Map every archive name of ``stage``'s zip to the file it comes from."""
    entries: dict[str, Path] = {}
    for file in _files_under(deps_dir):
        entries[file.relative_to(deps_dir).as_posix()] = file
    # Our packages last, so they win over a same-named file from a dependency.
    for package in (*SHARED_PACKAGES, stage):
        package_dir = src_dir / package
        if not (package_dir / "__init__.py").is_file() and not (package_dir / "handler.py").is_file():
            raise BuildError(f"{package_dir} is not a Python package (no __init__.py or handler.py)")
        for file in _files_under(package_dir):
            entries[file.relative_to(src_dir).as_posix()] = file
    if stage == MIGRATION_STAGE:
        migrations = sorted(sql_dir.glob("[0-9][0-9][0-9]_*.sql"))
        if not migrations:
            raise BuildError(f"no warehouse migrations in {sql_dir}")
        for file in migrations:
            entries[f"{SQL_ARCHIVE_DIR}/{file.name}"] = file
    if rds_ca is not None:
        entries[RDS_CA_ARCHIVE_NAME] = rds_ca
    return entries


def write_zip(entries: dict[str, Path], out_path: Path) -> str:
    """Write a reproducible zip of ``entries`` to ``out_path``; return its sha256 (hex)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", dir=out_path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w") as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
                info.external_attr = (0o100000 | FILE_MODE) << 16  # regular file, rw-r--r--
                info.create_system = 3  # Unix, so the mode above is honoured everywhere
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, entries[name].read_bytes(), compresslevel=6)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it 0600; the zip is no secret
        os.replace(tmp_name, out_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return hashlib.sha256(out_path.read_bytes()).hexdigest()


def _entries_key(entries: dict[str, Path]) -> str:
    """A hash of every archive name and file content (and of how write_zip lays them out)."""
    digest = hashlib.sha256(repr((FIXED_DATE_TIME, FILE_MODE, zipfile.ZIP_DEFLATED, 6)).encode())
    for name in sorted(entries):
        digest.update(name.encode() + b"\0" + hashlib.sha256(entries[name].read_bytes()).digest())
    return digest.hexdigest()[:32]


def _copy_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp_name)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_zip_reusing(entries: dict[str, Path], out_path: Path, cache: Path) -> None:
    """``write_zip``, unless ``cache`` holds the zip of exactly these entries: then a copy of it.

    Concurrent builds (xdist workers) are safe: each writes and renames its own file.
    """
    cached = cache / f"{out_path.stem}-{_entries_key(entries)}.zip"
    try:
        _copy_atomically(cached, out_path)
        os.utime(cached)  # recently used: the pruning keeps it
        return
    except FileNotFoundError:  # not built yet, or pruned by another build meanwhile
        pass
    write_zip(entries, out_path)
    _copy_atomically(out_path, cached)
    _prune(cache, ZIP_CACHE_KEEP)


def _prune(cache: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently used zips of ``cache``."""
    dated = []
    for path in cache.glob("*.zip"):
        try:
            dated.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # another build pruned it
            continue
    for _, stale in sorted(dated, reverse=True)[keep:]:
        stale.unlink(missing_ok=True)


def build(
    stages: Iterable[str] = STAGES,
    *,
    out_dir: Path = BUILD_DIR,
    src_dir: Path = SRC_DIR,
    requirements: Path = REQUIREMENTS,
    deps_cache: Path | None = None,
    sql_dir: Path = WAREHOUSE_SQL_DIR,
    rds_ca: Path | None = None,
    reuse: Path | None = None,
) -> dict[str, Path]:
    """Build one zip per stage into ``out_dir``; return {stage: zip path}.

    ``rds_ca``: the RDS CA bundle to ship in every zip (``resolve_rds_ca``), or None.
    ``reuse``: a folder of zips by content hash (``write_zip_reusing``), or None to write every zip.
    """
    deps_dir = install_dependencies(zip_requirements(requirements), deps_cache or DEPS_CACHE)
    built = {}
    for stage in stages:
        if stage not in STAGES:
            raise BuildError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
        out_path = out_dir / f"{stage}.zip"
        entries = stage_entries(stage, src_dir, deps_dir, sql_dir=sql_dir, rds_ca=rds_ca)
        if reuse is None:
            write_zip(entries, out_path)
        else:
            write_zip_reusing(entries, out_path, reuse)
        built[stage] = out_path
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=BUILD_DIR, help="where the zips go (default: build/)")
    parser.add_argument("--stage", action="append", choices=STAGES, help="build only this stage (repeatable)")
    parser.add_argument("--rds-ca-bundle", type=Path, help="a reviewed RDS CA bundle file to ship (no download)")
    parser.add_argument("--no-fetch-rds-ca", action="store_true", help="do not download the RDS CA bundle")
    parser.add_argument("--require-rds-ca", action="store_true", help="fail without the RDS CA bundle (deploys)")
    args = parser.parse_args(argv)
    try:
        rds_ca = resolve_rds_ca(args.rds_ca_bundle, fetch=not args.no_fetch_rds_ca, required=args.require_rds_ca)
        built = build(args.stage or STAGES, out_dir=args.out_dir, rds_ca=rds_ca)
    except BuildError as exc:
        print(f"build_lambdas: {exc}", file=sys.stderr)
        return 1
    print(f"RDS CA bundle in the zips: {rds_ca or 'none'}")
    for stage, path in built.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{path}  sha256={digest}  {path.stat().st_size} bytes  ({stage})")
    return 0
