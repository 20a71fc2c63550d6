"""A local moto server standing in for AWS (S3, SSM, Secrets Manager, Lambda, …).

In-process (``ThreadedMotoServer``) for tests and ``make run``; as a detached
process for ``totes local up``, which must outlive the command that started it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess  # nosec B404
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from local.postgres_server import free_port

REGION = "eu-west-2"
# moto accepts any credentials; these make sure no real AWS credentials are ever used locally.
_FAKE = "testing"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": _FAKE, "AWS_SECRET_ACCESS_KEY": _FAKE, "AWS_SESSION_TOKEN": _FAKE}


def moto_client(service: str, endpoint: str) -> Any:
    """A boto3 client of the moto server at ``endpoint``, with moto's fake credentials."""
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    )


@dataclass
class MotoServer:
    port: int
    host: str = "127.0.0.1"
    pid: int | None = None  # a detached process; None when in-process
    _threaded: ThreadedMotoServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment that points boto3 (and Terraform's provider) at this server."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def reset(self) -> None:
        """Forget every resource (moto's own reset API)."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(req, timeout=30).close()  # noqa: S310  # nosec B310

    def stop(self) -> None:
        if self._threaded is not None:
            self._threaded.stop()
            self._threaded = None
        elif self.pid:
            with contextlib.suppress(ProcessLookupError):  # already gone is fine
                os.kill(self.pid, signal.SIGTERM)
            self.pid = None


def _wait_until_up(endpoint: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()  # noqa: S310  # nosec B310
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start_moto(*, detached: bool = False, port: int | None = None) -> MotoServer:
    """Start moto on 127.0.0.1; in this process unless ``detached``."""
    # Terraform attaches AWS-managed policies (e.g. AWSLambdaBasicExecutionRole) by ARN.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    port = port or free_port()
    if detached:
        proc = subprocess.Popen(  # noqa: S603  # nosec B603
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
        )
        server = MotoServer(port=port, pid=proc.pid)
    else:
        threaded = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        threaded.start()
        server = MotoServer(port=port, _threaded=threaded)
    _wait_until_up(server.endpoint)
    return server
