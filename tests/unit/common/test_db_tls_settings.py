"""TLS settings of a database secret: parsing, defaults, the CA to trust, and no password in sight."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from common.db import CODE_ROOT, CredentialsError, DbCredentials, ca_path, get_db_credentials, tls_context
from local.tls import make_ca

PASSWORD = "s3cret-Pa55word-never-printed"


class _Secrets:
    """Secrets Manager's get_secret_value, for a pure parsing test (moto covers the real API elsewhere)."""

    def __init__(self, doc: dict) -> None:
        self.doc = doc

    def get_secret_value(self, SecretId: str) -> dict:  # noqa: N803 - boto3's argument name
        return {"SecretString": json.dumps(self.doc)}


def _secret(**extra: object) -> dict:
    return {"host": "db.example.com", "port": 5432, "username": "u", "password": PASSWORD, "dbname": "d", **extra}


def test_verify_full_is_the_default() -> None:
    creds = get_db_credentials("s", _Secrets(_secret()))
    assert creds.sslmode == "verify-full"
    context = tls_context(creds)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_require_encrypts_without_verifying_and_disable_turns_tls_off() -> None:
    context = tls_context(get_db_credentials("s", _Secrets(_secret(sslmode="require"))))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE
    assert tls_context(get_db_credentials("s", _Secrets(_secret(sslmode="disable")))) is False


@pytest.mark.parametrize("mode", ["prefer", "allow", "verify-ca", "VERIFY-FULL", "off"])
def test_an_unsupported_sslmode_is_rejected_naming_the_secret(mode: str) -> None:
    with pytest.raises(CredentialsError, match=rf"secret 'wh'.*sslmode '{mode}'"):
        get_db_credentials("wh", _Secrets(_secret(sslmode=mode)))


def test_sslrootcert_may_be_pem_text() -> None:
    ca = make_ca()
    creds = get_db_credentials("s", _Secrets(_secret(sslrootcert=ca.cert_pem.decode())))
    context = tls_context(creds)
    assert isinstance(context, ssl.SSLContext)
    subjects = [dict(x[0] for x in c["subject"]) for c in context.get_ca_certs()]
    assert subjects == [{"organizationName": "Terrific Totes local stack", "commonName": "Terrific Totes local CA"}]
    assert "PEM text (1 certificate(s))" in repr(creds)


def test_sslrootcert_may_be_a_path_relative_to_the_code_root(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(make_ca().cert_pem)
    assert tls_context(DbCredentials("h", 1, "u", PASSWORD, "d", sslrootcert=str(ca_file)))
    assert ca_path("common/certs/rds-global-bundle.pem") == CODE_ROOT / "common" / "certs" / "rds-global-bundle.pem"


def test_a_missing_or_empty_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(CredentialsError, match=f"h:1: no CA file at {missing}"):
        tls_context(DbCredentials("h", 1, "u", PASSWORD, "d", sslrootcert=str(missing)))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(CredentialsError, match="holds no usable CA certificate"):
        tls_context(DbCredentials("h", 1, "u", PASSWORD, "d", sslrootcert=str(junk)))


def test_the_password_never_shows_in_repr_str_or_errors() -> None:
    creds = get_db_credentials("s", _Secrets(_secret()))
    assert PASSWORD not in repr(creds)
    assert PASSWORD not in str(creds)
    assert PASSWORD not in f"{creds}"
    with pytest.raises(CredentialsError) as bad_mode:
        get_db_credentials("s", _Secrets(_secret(sslmode="bogus")))
    with pytest.raises(CredentialsError) as missing_field:
        get_db_credentials("s", _Secrets({"password": PASSWORD}))
    for err in (bad_mode.value, missing_field.value):
        assert PASSWORD not in str(err)
        assert PASSWORD not in repr(err)


def test_the_secret_string_round_trips_the_tls_settings() -> None:
    creds = DbCredentials("h", 5432, "u", PASSWORD, "d", sslmode="require", sslrootcert="x.pem")
    assert get_db_credentials("s", _Secrets(json.loads(creds.to_secret_string()))) == creds
