"""Database credentials from Secrets Manager, and pg8000 connections built from them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pg8000.native

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
else:
    SecretsManagerClient = Any


class CredentialsError(RuntimeError):
    """The secret is missing, unreadable, or lacks a required field."""


@dataclass(frozen=True)
class DbCredentials:
    host: str
    port: int
    username: str
    password: str
    dbname: str

    def __repr__(self) -> str:  # never let a password reach a log line
        return (
            f"DbCredentials(host={self.host!r}, port={self.port}, username={self.username!r}, dbname={self.dbname!r})"
        )

    def to_secret_string(self) -> str:
        return json.dumps(
            {
                "host": self.host,
                "port": self.port,
                "username": self.username,
                "password": self.password,
                "dbname": self.dbname,
            }
        )


def get_db_credentials(secret_id: str, client: SecretsManagerClient) -> DbCredentials:
    """Read a database secret (JSON with host, port, username, password, dbname)."""
    try:
        raw = client.get_secret_value(SecretId=secret_id)["SecretString"]
        doc = json.loads(raw)
        return DbCredentials(
            host=doc["host"],
            port=int(doc.get("port", 5432)),
            username=doc["username"],
            password=doc["password"],
            dbname=doc["dbname"],
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CredentialsError(f"secret {secret_id!r} is not a database secret: missing or bad {exc}") from exc
    except Exception as exc:  # botocore errors: keep the type in the chain, name the secret
        raise CredentialsError(f"cannot read secret {secret_id!r}: {exc}") from exc


def connect(creds: DbCredentials, application_name: str, timeout: int = 30) -> pg8000.native.Connection:
    """Open a pg8000 native connection. Values are always bound as parameters."""
    return pg8000.native.Connection(
        user=creds.username,
        password=creds.password,
        host=creds.host,
        port=creds.port,
        database=creds.dbname,
        application_name=application_name,
        timeout=timeout,
    )
