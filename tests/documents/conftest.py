"""Document fixtures: a real ClamAV daemon with a signature database written here, a real S3 API (moto's server
on loopback), and the seed catalogue on a real Temporal server with a worker."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from document_samples import EICAR
from running import dev_settings, running_engine, running_seed
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from onestop.engine.container import Engine

CLAMD = Path("/usr/sbin/clamd")


def _install_clamd() -> None:
    """Debian's clamav-daemon, like chromium for the web tests: installed by the session when root and missing."""
    if CLAMD.exists() or not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)  # noqa: S607
    subprocess.run(["apt-get", "install", "-y", "-q", "clamav-daemon"], check=True, env=env,  # noqa: S607
                   capture_output=True)


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A clamd on a unix socket whose only signature (written here, no download) detects EICAR anywhere in a file."""
    _install_clamd()
    assert CLAMD.exists(), "clamd is missing: apt-get install clamav-daemon"
    root = tmp_path_factory.mktemp("clamd")
    (root / "db").mkdir()
    (root / "db" / "onestop-test.ndb").write_text(f"Onestop.Test.EICAR:0:*:{EICAR.hex()}\n", encoding="ascii")
    sock = root / "clamd.sock"
    (root / "clamd.conf").write_text(
        f"Foreground yes\nLocalSocket {sock}\nDatabaseDirectory {root / 'db'}\nTemporaryDirectory {root}\n"
        f"LogFile {root / 'clamd.log'}\nStreamMaxLength 60M\n", encoding="ascii")
    process = subprocess.Popen([str(CLAMD), "-c", str(root / "clamd.conf")],  # noqa: S603
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(240):
            if process.poll() is not None:
                raise RuntimeError(f"clamd exited: {(root / 'clamd.log').read_text(errors='replace')}")
            if _pong(sock):
                break
            time.sleep(0.25)
        else:
            raise RuntimeError("clamd did not answer PING within 60 s")
        yield f"unix:{sock}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _pong(sock: Path) -> bool:
    if not sock.exists():
        return False
    with socket.socket(socket.AF_UNIX) as conn:
        try:
            conn.settimeout(2)
            conn.connect(str(sock))
            conn.sendall(b"zPING\0")
            return conn.recv(16) == b"PONG\0"
        except OSError:
            return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode: the S3 HTTP API on loopback."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def running(temporal_env: WorkflowEnvironment, definitions_dir: Path, clamd: str,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Engine, Client]]:
    settings = dev_settings(definitions_dir, tmp_path_factory.mktemp("documents-data"), clamd_address=clamd)
    async with running_engine(temporal_env, settings) as both:
        yield both


engine, api = running_seed("documents-data")[1:]  # over the module's own `running` above (it needs clamd)
