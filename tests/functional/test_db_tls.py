"""Every database connection is TLS with the server's certificate verified (SPEC §3, Safe).

Against the real local PostgreSQL (TLS only, ``hostssl`` + SCRAM) and, for certificates
that must be refused, a real TLS peer on loopback that answers PostgreSQL's SSLRequest
and then presents a certificate of our choosing: one from a CA the client does not
trust, one from the trusted CA but for another host.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pg8000
import pg8000.exceptions
import pytest

from common.db import DatabaseTlsError, DbCredentials, connect, connect_dbapi
from ingestion.errors import SourceConnectionError
from ingestion.handler import lambda_handler as ingestion_handler
from load.errors import WarehouseLoadError
from load.handler import lambda_handler as load_handler
from local.tls import Issued, issue_server_cert, make_ca

_SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


@contextmanager
def tls_peer(cert: Issued, tmp_path: Path) -> Iterator[int]:
    """A loopback server that accepts PostgreSQL's SSLRequest and handshakes with ``cert``
    (the leaf only, as the local PostgreSQL sends it); yields its port."""
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.cert_pem)
    key_file.write_bytes(cert.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                if conn.recv(8) != _SSL_REQUEST:
                    continue
                conn.sendall(b"S")
                try:
                    with context.wrap_socket(conn, server_side=True):
                        pass  # the client must hang up during the handshake
                except (ssl.SSLError, OSError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=10)


@pytest.fixture
def trusted_ca() -> Issued:
    return make_ca("the CA the client trusts")


def _client(port: int, ca: Issued, password: str = "pw-never-printed-1234") -> DbCredentials:
    return DbCredentials("127.0.0.1", port, "loader", password, "warehouse", sslrootcert=ca.cert_pem.decode())


def test_every_fixture_connection_is_tls_with_verify_full(source_db, warehouse_db) -> None:
    for db in (source_db, warehouse_db):
        assert db.credentials.sslmode == "verify-full"
        assert db.credentials.sslrootcert
        con = db.connect()
        try:
            ((ssl_on, version),) = con.run("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        finally:
            con.close()
        assert ssl_on is True
        assert version in ("TLSv1.2", "TLSv1.3")


def test_the_dbapi_connection_is_tls_too_and_what_awswrangler_takes(warehouse_db) -> None:
    con = connect_dbapi(warehouse_db.credentials, "test-dbapi")
    try:
        assert isinstance(con, pg8000.Connection)  # awswrangler.postgresql refuses anything else
        cursor = con.cursor()
        cursor.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ((ssl_on,),) = cursor.fetchall()
        assert ssl_on is True
    finally:
        con.close()


def test_the_timeout_bounds_the_login_not_a_long_statement(warehouse_db) -> None:
    """A statement longer than the connect timeout must finish (a 1M-row load's constraint checks
    run for minutes on a busy server); with pg8000's socket timeout left on, this read timed out."""
    con = connect(warehouse_db.credentials, "test-long-statement", timeout=1)
    try:
        assert con.run("SELECT pg_sleep(2.5), 1")[0][1] == 1
    finally:
        con.close()


def test_a_plain_connection_is_refused_by_the_local_stack(warehouse_db, caplog) -> None:
    plain = dataclasses.replace(warehouse_db.credentials, sslmode="disable")
    with caplog.at_level(logging.WARNING, logger="common.db"), pytest.raises(pg8000.exceptions.DatabaseError) as err:
        connect(plain, "test-plain")
    assert "no encryption" in str(err.value)
    assert "pg_hba.conf rejects connection" in str(err.value)
    # sslmode=disable is never silent: a WARNING on every such connection attempt.
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "sslmode=disable" in r.getMessage()]
    assert len(warnings) == 1
    assert f"{plain.host}:{plain.port}" in warnings[0].getMessage()


def test_require_encrypts_without_checking_the_certificate(warehouse_db) -> None:
    unverified = dataclasses.replace(warehouse_db.credentials, sslmode="require", sslrootcert=None)
    con = connect(unverified, "test-require")
    try:
        assert con.run("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [[True]]
    finally:
        con.close()


def test_the_local_stack_certificate_is_refused_without_its_ca(warehouse_db) -> None:
    system_ca_only = dataclasses.replace(warehouse_db.credentials, sslrootcert=None)
    with pytest.raises(DatabaseTlsError) as err:
        connect(system_ca_only, "test-no-ca")
    where = f"{system_ca_only.host}:{system_ca_only.port}"
    assert f"TLS certificate of {where} rejected: unable to get local issuer certificate" in str(err.value)


def test_a_certificate_from_an_untrusted_ca_is_refused_naming_host_and_reason(trusted_ca, tmp_path) -> None:
    other_ca = make_ca("some other CA")
    with tls_peer(issue_server_cert(other_ca), tmp_path) as port, pytest.raises(DatabaseTlsError) as err:
        connect(_client(port, trusted_ca), "test-untrusted")
    message = str(err.value)
    assert f"TLS certificate of 127.0.0.1:{port} rejected" in message
    assert "unable to get local issuer certificate" in message
    assert "sslmode=verify-full" in message


def test_a_certificate_for_another_host_is_refused_naming_host_and_reason(trusted_ca, tmp_path) -> None:
    elsewhere = issue_server_cert(trusted_ca, hosts=("db.example.com",), ips=())
    with tls_peer(elsewhere, tmp_path) as port, pytest.raises(DatabaseTlsError) as err:
        connect(_client(port, trusted_ca), "test-wrong-host")
    message = str(err.value)
    assert f"TLS certificate of 127.0.0.1:{port} rejected" in message
    assert "IP address mismatch, certificate is not valid for '127.0.0.1'" in message


def test_the_same_peer_is_accepted_when_the_certificate_names_the_host(trusted_ca, tmp_path) -> None:
    """The control for the two tests above: with a matching certificate the handshake completes
    (the peer then hangs up, as it speaks no PostgreSQL), so the refusals above are the certificate's."""
    peer = tls_peer(issue_server_cert(trusted_ca), tmp_path)
    with peer as port, pytest.raises((pg8000.exceptions.InterfaceError, OSError)) as err:
        connect(_client(port, trusted_ca), "test-good-cert")
    assert not isinstance(err.value, DatabaseTlsError)


def test_handlers_fail_with_the_tls_reason_and_never_print_the_password(
    pipeline, trusted_ca, tmp_path, caplog, capsys
) -> None:
    password = "Handler-Pw-must-not-leak-9876"
    other_ca = make_ca("some other CA")
    with tls_peer(issue_server_cert(other_ca), tmp_path) as port:
        creds = _client(port, trusted_ca, password)
        res = pipeline.resources
        for secret in (res.source_db_secret, res.warehouse_db_secret):
            pipeline.aws.secretsmanager.put_secret_value(SecretId=secret, SecretString=creds.to_secret_string())
        with caplog.at_level(logging.INFO), pytest.raises(SourceConnectionError) as ingestion_err:
            ingestion_handler({}, None)
        with caplog.at_level(logging.INFO), pytest.raises(WarehouseLoadError) as load_err:
            load_handler({}, None)
    for err in (ingestion_err.value, load_err.value):
        assert f"127.0.0.1:{port}" in str(err)
        assert "unable to get local issuer certificate" in str(err)
        chain: BaseException | None = err
        while chain is not None:
            assert password not in str(chain)
            assert password not in repr(chain)
            chain = chain.__cause__ or chain.__context__
    out = capsys.readouterr()
    assert password not in out.out + out.err
    assert password not in caplog.text


def test_a_wrong_password_error_does_not_print_it(warehouse_db, caplog) -> None:
    wrong = dataclasses.replace(warehouse_db.credentials, password="Wrong-Pw-never-printed-5555")
    with caplog.at_level(logging.DEBUG), pytest.raises(pg8000.exceptions.DatabaseError) as err:
        connect(wrong, "test-wrong-password")
    assert "password authentication failed" in str(err.value)
    assert wrong.password not in str(err.value) + repr(err.value) + caplog.text
