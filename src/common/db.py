"""Database credentials from Secrets Manager, and the one way to open a pg8000 connection.

Every connection to either database, from the Lambdas, the CLI, the local stack, the
tests and the benchmarks, is opened by :func:`connect` (or :func:`connect_dbapi`), so
TLS is decided in one place (SPEC §3, Safe: encrypted, server certificate verified).

TLS settings travel with the credentials (the secret's JSON, docs/architecture.md):

* ``sslmode``: ``verify-full`` (the default: TLS, the certificate must chain to a
  trusted CA *and* name the host we dialled), ``require`` (TLS without checking the
  certificate: encrypted, but open to a man in the middle), or ``disable`` (no TLS;
  only when set explicitly, and logged at WARNING on every connection).
* ``sslrootcert``: the CA(s) to trust for ``verify-full``: PEM text (a value that
  starts with ``-----BEGIN``) or the path of a PEM file, absolute or relative to the
  code root (the unpacked zip in Lambda). Absent: the RDS CA bundle the build puts in
  the zip (``common/certs/rds-global-bundle.pem``) when there is one, else the
  system's trust store.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import pg8000
import pg8000.exceptions
import pg8000.native

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
else:
    SecretsManagerClient = Any

logger = logging.getLogger(__name__)
_Con = TypeVar("_Con", pg8000.native.Connection, pg8000.Connection)

SSLMODES = ("verify-full", "require", "disable")
DEFAULT_SSLMODE = "verify-full"
CODE_ROOT = Path(__file__).resolve().parents[1]  # src/ in a checkout, the zip's root in Lambda
# Put into every zip by lambda_build.zips when the RDS bundle is available.
BUNDLED_CA = Path(__file__).resolve().parent / "certs" / "rds-global-bundle.pem"
_PEM_PREFIX = "-----BEGIN"


class CredentialsError(RuntimeError):
    """The secret is missing, unreadable, or lacks a required field, or its TLS settings are invalid."""


class DatabaseTlsError(ConnectionError):
    """The TLS handshake failed: the server offers no TLS, or its certificate was rejected.

    A ``ConnectionError`` (so an ``OSError``), like the socket errors callers already
    treat as "cannot connect".
    """


@dataclass(frozen=True)
class DbCredentials:
    host: str
    port: int
    username: str
    password: str
    dbname: str
    sslmode: str = DEFAULT_SSLMODE
    sslrootcert: str | None = None

    def __post_init__(self) -> None:
        if self.sslmode not in SSLMODES:
            allowed = ", ".join(SSLMODES)
            raise CredentialsError(f"sslmode {self.sslmode!r} for {self.host}:{self.port} is not one of {allowed}")

    def __repr__(self) -> str:  # never let a password reach a log line; a PEM is summarised
        return (
            f"DbCredentials(host={self.host!r}, port={self.port}, username={self.username!r}, "
            f"dbname={self.dbname!r}, sslmode={self.sslmode!r}, sslrootcert={_describe_ca(self.sslrootcert)!r})"
        )

    def to_secret_string(self) -> str:
        doc: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "dbname": self.dbname,
            "sslmode": self.sslmode,
        }
        if self.sslrootcert is not None:
            doc["sslrootcert"] = self.sslrootcert
        return json.dumps(doc)


def get_db_credentials(secret_id: str, client: SecretsManagerClient) -> DbCredentials:
    """Read a database secret (JSON: host, port, username, password, dbname; sslmode, sslrootcert optional)."""
    try:
        raw = client.get_secret_value(SecretId=secret_id)["SecretString"]
        doc = json.loads(raw)
        return DbCredentials(
            host=doc["host"],
            port=int(doc.get("port", 5432)),
            username=doc["username"],
            password=doc["password"],
            dbname=doc["dbname"],
            sslmode=doc.get("sslmode") or DEFAULT_SSLMODE,
            sslrootcert=doc.get("sslrootcert") or None,
        )
    except CredentialsError as exc:
        raise CredentialsError(f"secret {secret_id!r}: {exc}") from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise CredentialsError(f"secret {secret_id!r} is not a database secret: missing or bad {exc}") from exc
    except Exception as exc:  # botocore errors: keep the type in the chain, name the secret
        raise CredentialsError(f"cannot read secret {secret_id!r}: {exc}") from exc


# -- TLS ---------------------------------------------------------------------------------


def _describe_ca(sslrootcert: str | None) -> str:
    if sslrootcert is None:
        return "bundled RDS CA" if BUNDLED_CA.is_file() else "system trust store"
    if sslrootcert.lstrip().startswith(_PEM_PREFIX):
        return f"PEM text ({sslrootcert.count(_PEM_PREFIX)} certificate(s))"
    return sslrootcert


def ca_path(sslrootcert: str) -> Path:
    """The file a path-valued ``sslrootcert`` names (relative paths: from the code root)."""
    path = Path(sslrootcert)
    return path if path.is_absolute() else CODE_ROOT / path


def tls_context(creds: DbCredentials) -> ssl.SSLContext | Literal[False]:
    """What pg8000 takes as ``ssl_context`` for these credentials (``False``: no TLS)."""
    if creds.sslmode == "disable":
        return False
    if creds.sslmode == "require":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # nosec B501 - only when the secret asks for sslmode=require
    else:
        context = _verifying_context(creds)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _verifying_context(creds: DbCredentials) -> ssl.SSLContext:
    """verify-full: certificate chain to the configured CA, and the host name checked."""
    root = creds.sslrootcert
    try:
        if root is None:
            bundled = BUNDLED_CA if BUNDLED_CA.is_file() else None
            return ssl.create_default_context(cafile=str(bundled) if bundled else None)
        if root.lstrip().startswith(_PEM_PREFIX):
            return ssl.create_default_context(cadata=root)
        path = ca_path(root)
        if not path.is_file():
            raise CredentialsError(f"sslrootcert for {creds.host}:{creds.port}: no CA file at {path}")
        return ssl.create_default_context(cafile=str(path))
    except ssl.SSLError as exc:  # not PEM, or no certificate in it
        raise CredentialsError(
            f"sslrootcert for {creds.host}:{creds.port} ({_describe_ca(root)}) holds no usable CA certificate: {exc}"
        ) from exc


def _connection_kwargs(creds: DbCredentials, application_name: str, timeout: float) -> dict[str, Any]:
    if creds.sslmode == "disable":
        logger.warning(
            "TLS is disabled (sslmode=disable) for %s:%s/%s: the password and every row travel unencrypted",
            creds.host,
            creds.port,
            creds.dbname,
        )
    return {
        "user": creds.username,
        "password": creds.password,
        "host": creds.host,
        "port": creds.port,
        "database": creds.dbname,
        "application_name": application_name,
        "timeout": timeout,
        "ssl_context": tls_context(creds),
    }


def _tls_failure(creds: DbCredentials, exc: BaseException) -> DatabaseTlsError | None:
    """A clear error naming the server and the reason when ``exc`` is a TLS failure; else None."""
    where = f"{creds.host}:{creds.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DatabaseTlsError(
            f"TLS certificate of {where} rejected: {exc.verify_message} "
            f"(sslmode={creds.sslmode}, trusted CA: {_describe_ca(creds.sslrootcert)})"
        )
    if isinstance(exc, ssl.SSLError):
        return DatabaseTlsError(f"TLS handshake with {where} failed: {exc.reason or exc}")
    if isinstance(exc, pg8000.exceptions.InterfaceError) and "refuses SSL" in str(exc):
        return DatabaseTlsError(f"{where} does not offer TLS (sslmode={creds.sslmode} requires it)")
    return None


def _open(factory: Callable[..., _Con], creds: DbCredentials, application_name: str, timeout: float) -> _Con:
    try:
        con = factory(**_connection_kwargs(creds, application_name, timeout))
    except (ssl.SSLError, pg8000.exceptions.InterfaceError) as exc:
        failure = _tls_failure(creds, exc)
        if failure is None:
            raise
        raise failure from exc
    # `timeout` bounds reaching the server and logging in. After that a statement may take
    # as long as it needs (a 1M-row load's foreign-key checks run for minutes on a busy
    # server; a read timeout would roll the run back every time): the Lambda timeout
    # bounds an invocation, and TCP keepalive (pg8000's default) notices a dead peer.
    con._usock.settimeout(None)  # pg8000 has no public setting for it
    return con


def connect(creds: DbCredentials, application_name: str, timeout: float = 30) -> pg8000.native.Connection:
    """Open a pg8000 native connection over TLS as ``creds`` say. Values are always bound as parameters.

    ``timeout`` (seconds) bounds the connection and the login, not the statements.

    Raises
    ------
    DatabaseTlsError
        The server offers no TLS, or its certificate does not verify (names host and reason).
    CredentialsError
        The TLS settings cannot be used (unknown CA file, no certificate in it).
    """
    return _open(pg8000.native.Connection, creds, application_name, timeout)


def connect_dbapi(creds: DbCredentials, application_name: str, timeout: float = 30) -> pg8000.Connection:
    """The same connection as :func:`connect`, as pg8000's DB-API ``pg8000.Connection`` (what awswrangler takes)."""
    return _open(pg8000.Connection, creds, application_name, timeout)
