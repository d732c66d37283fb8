"""Fixtures: a real simulator (ChirpStack's REST API and devices) on loopback, clients, services.

The package under test is the one on sys.path: the build tree (`PYTHONPATH=<build>/python`, what
scripts/test.sh sets) or an installed wheel.
"""
from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

import relaylink

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"

SDM = "0101010101010101"
IVY = "0202020202020202"
LOAD_SIDE = "0303030303030303"


# The longest tests (several processes, Celery, mypy), seconds to tens of seconds each, go first: run in
# several processes (pytest-xdist, as scripts/test.sh does), they then overlap the short ones instead of
# ending the run alone. The order within each group is kept.
_LONG_FIRST = {"test_multiprocess.py": 0, "test_portal_integration.py": 1, "test_deploy.py": 1, "test_package.py": 1}


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: _LONG_FIRST.get(item.path.name, 2))


# What tests keep for a person to look at (the browser test's screenshots). Emptied once per run, by the
# process that runs the session (pytest-xdist's controller, or pytest alone), never by a worker: two workers
# each emptying it for their share of a module once raced (one's mkdir met the other's).
ARTIFACTS = Path(os.environ.get("RELAYLINK_ARTIFACTS", REPO / "build" / "test-artifacts"))


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):
        shutil.rmtree(ARTIFACTS / "portal", ignore_errors=True)


@pytest.fixture
def sim():
    """Time at 600x; devices report every simulated minute (0.1 s real)."""
    with relaylink.Simulator(speed=600) as s:
        s.add_device(SDM, kind="uc100_sdm320c", uplink_interval=60)
        s.add_device(IVY, kind="ivy_em114039", uplink_interval=60)
        yield s


@pytest.fixture
def sim_client(sim):
    """A client for `sim` (the one whose devices talk)."""
    with relaylink.ChirpStackClient.for_simulator(sim) as c:
        yield c


@pytest.fixture
def client(quiet_sim):
    """A client for `quiet_sim`: what it queues stays queued."""
    with relaylink.ChirpStackClient.for_simulator(quiet_sim) as c:
        yield c


@pytest.fixture
def service(sim, sim_client, tmp_path):
    with relaylink.RelayService(sim_client, db=str(tmp_path / "relay.db"), simulator=sim, safety={"windows": False},
                                tick=0.02) as s:
        yield s


@pytest.fixture
def quiet_sim():
    """Manual time: devices transmit only when told, so what is queued stays queued."""
    with relaylink.Simulator(manual_time=True) as s:
        s.add_device(SDM, kind="uc100_sdm320c")
        s.add_device(IVY, kind="ivy_em114039")
        yield s


@pytest.fixture
def chirpstack_env(quiet_sim, monkeypatch):
    """The portal's configuration in the environment, pointing at a (quiet) simulator."""
    from relaylink import chirpstack_service
    for k in ("CHIRPSTACK_TENANT_ID", "CHIRPSTACK_PASSTHROUGH_PORT", "CHIRPSTACK_TIMEOUT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CHIRPSTACK_API_URL", quiet_sim.url)
    monkeypatch.setenv("CHIRPSTACK_API_KEY", quiet_sim.api_key)
    yield quiet_sim
    chirpstack_service.close_clients()


class SilentServer:
    """A TCP server that accepts connections and never answers (for timeouts)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list = []
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self) -> None:
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            c.close()


MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if os.path.exists(p)), None)


@pytest.fixture
def broker(tmp_path):
    """A real mosquitto on a free loopback port (no persistence): its URL."""
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n"
                    "max_queued_messages 100000\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def accepts():
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        eventually(accepts, timeout=10)
        yield f"tcp://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


PG_SERVER = REPO / "tests" / "support" / "pg_server.sh"
_schemas = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL server (tests/support/pg_server.sh) for the whole session: its URL.
    Skipped without PostgreSQL, failed instead when RELAYLINK_REQUIRE_POSTGRES=1 (scripts/test.sh)."""
    folder = f"/tmp/relaylink-pytest-pg-{os.getpid()}"
    r = subprocess.run([str(PG_SERVER), "start", folder], capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        why = f"no PostgreSQL server for the tests: {r.stderr.strip() or r.stdout.strip()}"
        if os.environ.get("RELAYLINK_REQUIRE_POSTGRES") == "1":
            pytest.fail(why)
        pytest.skip(why)
    yield r.stdout.strip()
    subprocess.run([str(PG_SERVER), "stop", folder], capture_output=True, timeout=60)


def fresh_schema(tag: str) -> str:
    """A schema of its own for each store a test opens on the shared server."""
    return f"t_{tag}_{os.getpid()}_{next(_schemas)}"


@pytest.fixture
def silent_server():
    s = SilentServer()
    yield s
    s.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeChirpStack:
    """An HTTP server answering every request with what the test sets, recording what it received:
    for answers the simulator never gives (HTML error pages, {"error": ...} bodies, empty messages)."""

    def __init__(self) -> None:
        import http.server

        self.status, self.body, self.content_type = 200, b"{}", "application/json"
        self.requests: list = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(outer.status)
                self.send_header("Content-Type", outer.content_type)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, status: int, body, content_type: str = "application/json") -> None:
        import json as _json
        self.status = status
        self.body = body if isinstance(body, bytes) else _json.dumps(body).encode()
        self.content_type = content_type

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_chirpstack():
    f = FakeChirpStack()
    yield f
    f.close()


def stop_process(p: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; waits for it to end."""
    import signal
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def eventually(check, timeout: float = 10.0, interval: float = 0.01):
    """Poll `check()` until it returns something true (that value is returned) or fail after `timeout`."""
    import time
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"still false after {timeout} s: {check}")
        time.sleep(interval)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Marks a failed test (`request.node.failed`), for fixtures that keep evidence of failures (screenshots)."""
    outcome = yield
    if outcome.get_result().failed:
        item.failed = True
