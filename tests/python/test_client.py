"""relaylink.ChirpStackClient against the simulator over loopback: calls, errors, GIL, asyncio."""
import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

import relaylink
from relaylink import ChirpStackClient, ChirpStackError, ConfigError
from conftest import IVY, SDM, free_port


def test_enqueue_then_read_the_queue_and_flush(client):
    qid = client.enqueue(SDM, relaylink.modbus.RELAY_OFF, confirmed=True)
    [item] = client.get_queue(SDM)
    assert item.id == qid and item.data == relaylink.modbus.RELAY_OFF and item.f_port == 5 and item.confirmed
    client.flush_queue(SDM)
    assert client.get_queue(SDM) == []


def test_device_and_generic_requests(client):
    d = client.get_device(IVY)
    assert d.dev_eui == IVY and d.class_enabled == "CLASS_A"
    body = client.request("GET", f"/api/devices/{SDM}")
    assert body["device"]["devEui"] == SDM
    assert client.request("get", "/api/tenants?limit=10")["result"] == []
    assert isinstance(client.get_next_f_cnt_down(SDM), int)


def test_keep_alive_reuses_one_connection(client):
    for _ in range(20):
        client.get_queue(SDM)
    s = client.stats()
    assert s["requests"] == 20 and s["connections_opened"] == 1 and s["connections_reused"] == 19


def test_errors_carry_code_status_and_chirpstacks_message(client):
    with pytest.raises(ChirpStackError) as e:
        client.get_device("0909090909090909")
    assert e.value.code == "not_found" and e.value.http_status == 404 and e.value.grpc_code == 5
    assert e.value.server_message and "Object does not exist" in e.value.detail
    assert not e.value.transient


@pytest.mark.parametrize("call,code", [
    (lambda c: c.enqueue("0102", b"\x01"), "invalid_dev_eui"),
    (lambda c: c.enqueue(SDM, b""), "invalid_payload"),
    (lambda c: c.enqueue(SDM, bytes(243)), "invalid_payload"),
    (lambda c: c.enqueue(SDM, b"\x01", f_port=224), "invalid_fport"),
    (lambda c: c.enqueue(SDM, b"\x01", expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)), "expires_in_past"),
])
def test_bad_arguments_are_refused_before_sending(client, call, code):
    before = client.stats()["requests"]
    with pytest.raises(ChirpStackError) as e:
        call(client)
    assert e.value.code == code and not e.value.request_sent
    assert client.stats()["requests"] == before


def test_python_mistakes_are_type_and_value_errors(client):
    with pytest.raises(TypeError, match="must be bytes"):
        client.enqueue(SDM, "010500000000CDCA")
    with pytest.raises(ValueError, match="timezone-aware"):
        client.enqueue(SDM, b"\x01", expires_at=datetime.now())
    with pytest.raises(ValueError, match="GET, POST, PUT or DELETE"):
        client.request("PATCH", "/api/tenants")
    with pytest.raises(ValueError, match="must start with '/'"):
        client.request("GET", "api/tenants")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        client.request("POST", "/api/tenants", {"x": object()})


def test_wrong_key_is_unauthenticated_and_the_key_never_appears(sim):
    secret = "s3cret-key-that-must-not-leak"
    with ChirpStackClient(url=sim.url, api_key=secret) as c:
        with pytest.raises(ChirpStackError) as e:
            c.get_queue(SDM)
        assert e.value.code == "unauthenticated" and e.value.http_status == 401
        assert secret not in str(e.value) and secret not in repr(c) and secret not in repr(e.value)


def test_refused_connection_and_timeout_have_their_own_codes(silent_server):
    with ChirpStackClient(url=f"http://127.0.0.1:{free_port()}", api_key="k", max_attempts=1) as c:
        with pytest.raises(ChirpStackError) as e:
            c.get_queue(SDM)
        assert e.value.code == "connection_refused" and e.value.transient
    with ChirpStackClient(url=f"http://127.0.0.1:{silent_server.port}", api_key="k", request_timeout=0.3,
                          max_attempts=1) as c:
        with pytest.raises(ChirpStackError) as e:
            c.get_queue(SDM)
        assert e.value.code == "timeout" and e.value.transient


@pytest.mark.parametrize("kw,field", [
    (dict(url="ftp://x"), "url"),
    (dict(url="http://"), "url"),
    (dict(passthrough_port=0), "passthrough_port"),
    (dict(auth_header="basic"), "auth_header"),
    (dict(request_timeout=0), "request_timeout"),
    (dict(pool_size=0), "pool_size"),
    (dict(max_attempts=0), "max_attempts"),
    (dict(url="http://cs.example/pre fix"), "url"),
    (dict(headers={"X-Proxy": "a\r\nX-Injected: 1"}), "headers"),
    (dict(headers={"Bad Name": "a"}), "headers"),
    (dict(headers={"content-length": "0"}), "headers"),
    (dict(user_agent="portal\n"), "user_agent"),
    (dict(api_key="key-read-with-its-newline\n"), "api_key"),
    (dict(url="https://cs.example", ca_file="/nonexistent/ca.pem"), "ca_file"),
])
def test_bad_settings_raise_config_error_naming_the_field(kw, field):
    with pytest.raises(ConfigError) as e:
        ChirpStackClient(**kw)
    assert e.value.field == field, str(e.value)
    assert "key-read" not in str(e.value)  # a key is never echoed


def test_settings_are_keyword_only():
    with pytest.raises(TypeError):
        ChirpStackClient("http://localhost:8090")


def test_from_env(monkeypatch, quiet_sim):
    sim = quiet_sim
    monkeypatch.setenv("CHIRPSTACK_API_URL", sim.url)
    monkeypatch.setenv("CHIRPSTACK_API_KEY", sim.api_key)
    monkeypatch.setenv("CHIRPSTACK_PASSTHROUGH_PORT", "7")
    with ChirpStackClient.from_env() as c:
        assert c.url == sim.url and c.passthrough_port == 7 and c.has_api_key
        c.enqueue(SDM, b"\x01")
        assert c.get_queue(SDM)[0].f_port == 7
    monkeypatch.setenv("CHIRPSTACK_PASSTHROUGH_PORT", "five")
    with pytest.raises(ConfigError, match="CHIRPSTACK_PASSTHROUGH_PORT"):
        ChirpStackClient.from_env()
    monkeypatch.setenv("CHIRPSTACK_PASSTHROUGH_PORT", "5")
    monkeypatch.setenv("CHIRPSTACK_API_URL", "localhost:8090")
    with pytest.raises(ConfigError, match="CHIRPSTACK_API_URL"):
        ChirpStackClient.from_env()
    # Nothing configured: refused, naming every variable it reads (not a client for localhost without a key).
    for v in ("CHIRPSTACK_API_URL", "CHIRPSTACK_API_KEY", "CHIRPSTACK_TENANT_ID", "CHIRPSTACK_PASSTHROUGH_PORT"):
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(ConfigError) as e:
        ChirpStackClient.from_env()
    assert e.value.field == "CHIRPSTACK_API_KEY"
    assert all(v in str(e.value) for v in ("CHIRPSTACK_API_URL", "CHIRPSTACK_API_KEY", "CHIRPSTACK_TENANT_ID"))
    monkeypatch.setenv("CHIRPSTACK_API_KEY", "")
    with pytest.raises(ConfigError, match="CHIRPSTACK_API_KEY is not set"):
        ChirpStackClient.from_env()
    with ChirpStackClient.from_env(url=sim.url, api_key=sim.api_key) as c:  # an override is enough
        assert c.has_api_key


def test_closed_client_says_so(sim):
    c = ChirpStackClient.for_simulator(sim)
    c.close()
    c.close()
    assert c.closed and "closed" in repr(c)
    with pytest.raises(ValueError, match="closed"):
        c.get_queue(SDM)


def test_another_python_thread_runs_during_a_blocking_call(silent_server):
    """The call waits 1 s on a server that never answers; a Python thread counts meanwhile."""
    counts = []
    stop = threading.Event()

    def count():
        n = 0
        while not stop.is_set():
            n += 1
            if n % 1000 == 0:
                counts.append(time.monotonic())
    with ChirpStackClient(url=f"http://127.0.0.1:{silent_server.port}", api_key="k", request_timeout=1.0,
                          max_attempts=1) as c:
        t = threading.Thread(target=count)
        t.start()
        start = time.monotonic()
        with pytest.raises(ChirpStackError):
            c.get_queue(SDM)
        end = time.monotonic()
        stop.set()
        t.join()
    during = [x for x in counts if start + 0.1 < x < end - 0.1]
    assert len(during) > 100, "the other thread was starved: the GIL was held during the call"


def test_asyncio_awaitables(client):
    async def main():
        ids = await asyncio.gather(*(client.enqueue_async(SDM, bytes([1, 5, 0, 0, 0, 0, 0xCD, 0xCA]), confirmed=True)
                                     for _ in range(10)))
        assert len(set(ids)) == 10
        queue = await client.get_queue_async(SDM)
        assert sorted(q.id for q in queue) == sorted(ids)  # concurrent: the server decides the order
        assert await client.get_next_f_cnt_down_async(SDM) == client.get_next_f_cnt_down(SDM)
        dev = await client.get_device_async(IVY)
        assert dev.dev_eui == IVY
        body = await client.request_async("GET", "/api/tenants")
        assert body["result"] == []
        await client.flush_queue_async(SDM)
        assert await client.get_queue_async(SDM) == []
        with pytest.raises(ChirpStackError) as e:
            await client.get_device_async("0909090909090909")
        assert e.value.code == "not_found"
    asyncio.run(main())


def test_asyncio_call_pending_when_the_client_closes_is_failed_not_left_hanging(silent_server):
    async def main():
        c = ChirpStackClient(url=f"http://127.0.0.1:{silent_server.port}", api_key="k", request_timeout=30, max_attempts=1)
        fut = c.get_queue_async(SDM)
        await asyncio.sleep(0.2)
        c.close()
        with pytest.raises(ChirpStackError) as e:
            await asyncio.wait_for(fut, 5)
        assert e.value.code == "cancelled"
    asyncio.run(main())


def test_awaitables_need_a_running_loop(client):
    with pytest.raises(RuntimeError):
        client.get_queue_async(SDM)
