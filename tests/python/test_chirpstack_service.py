"""relaylink.chirpstack_service, function by function, against the portal's documented behaviour
(../shared/reference/portal.md): names, parameters, defaults, (success, value) returns, messages,
configuration from Flask or the environment, module constants. Over loopback against the simulator,
and a plain HTTP server for answers the simulator never gives."""
import inspect
import logging

import pytest

from relaylink import chirpstack_service as cs
from conftest import IVY, SDM, free_port

NO_KEY = (False, "ChirpStack API key not configured")


# ---- the interface ---------------------------------------------------------------------------

SIGNATURES = {
    "get_config": "()",
    "send_downlink": "(device_eui, payload, port=None, confirmed=False)",
    "send_relay_command": "(device_eui, action, device_type='eastron_sdm')",
    "get_device_queue": "(device_eui)",
    "list_applications": "(limit=100)",
    "get_application": "(application_id)",
    "create_application": "(name, description='')",
    "update_application": "(application_id, name, description='')",
    "delete_application": "(application_id)",
    "list_device_profiles": "(limit=100)",
    "get_device_profile": "(device_profile_id)",
    "list_devices": "(application_id=None, limit=100, offset=0)",
    "get_device": "(device_eui)",
    "create_device": "(device_eui, name, application_id, device_profile_id, description='', skip_fcnt_check=False, "
                     "is_disabled=False, join_eui=None)",
    "update_device": "(device_eui, name=None, description=None, is_disabled=None, skip_fcnt_check=None)",
    "delete_device": "(device_eui)",
    "set_device_keys": "(device_eui, app_key, nwk_key=None)",
    "get_device_keys": "(device_eui)",
    "list_gateways": "(limit=100, offset=0, tenant_id=None)",
    "get_gateway": "(gateway_id)",
    "create_gateway": "(gateway_id, name, tenant_id, description='', location_latitude=None, location_longitude=None, "
                      "location_altitude=None, stats_interval_secs=30)",
    "update_gateway": "(gateway_id, name=None, description=None, location_latitude=None, location_longitude=None, "
                      "location_altitude=None)",
    "delete_gateway": "(gateway_id)",
    "list_tenants": "(limit=100)",
    "get_tenant": "(tenant_id)",
    "test_connection": "()",
    "get_device_with_status": "(device_eui)",
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_every_function_has_the_portals_name_parameters_and_defaults(name):
    sig = inspect.signature(getattr(cs, name))
    plain = sig.replace(parameters=[p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()],
                        return_annotation=inspect.Signature.empty)
    assert str(plain) == SIGNATURES[name]


def test_module_constants():
    assert cs.RELAY_OFF_COMMAND == bytes.fromhex("010500000000CDCA")
    assert cs.RELAY_ON_COMMAND == bytes.fromhex("01050000FF008C3A")
    assert cs.IVY_RELAY_OFF_COMMAND == bytes.fromhex("011000A7000204FFFFFFFFB9A5")
    assert cs.IVY_RELAY_ON_COMMAND == bytes.fromhex("011000A700020400000000B831")
    assert cs.IVY_FPORT == 10


# ---- configuration ---------------------------------------------------------------------------

def test_config_defaults_and_environment(monkeypatch):
    for k in ("CHIRPSTACK_API_URL", "CHIRPSTACK_API_KEY", "CHIRPSTACK_TENANT_ID", "CHIRPSTACK_PASSTHROUGH_PORT"):
        monkeypatch.delenv(k, raising=False)
    assert cs.get_config() == {"api_url": "http://localhost:8090", "api_key": "", "tenant_id": "", "passthrough_port": 5}
    monkeypatch.setenv("CHIRPSTACK_API_URL", "http://cs:8090")
    monkeypatch.setenv("CHIRPSTACK_API_KEY", "k")
    monkeypatch.setenv("CHIRPSTACK_TENANT_ID", "t")
    monkeypatch.setenv("CHIRPSTACK_PASSTHROUGH_PORT", "6")
    assert cs.get_config() == {"api_url": "http://cs:8090", "api_key": "k", "tenant_id": "t", "passthrough_port": 6}


def test_config_comes_from_flask_inside_an_app_context(monkeypatch, quiet_sim):
    sim = quiet_sim
    flask = pytest.importorskip("flask")
    monkeypatch.setenv("CHIRPSTACK_API_KEY", "from-env")
    app = flask.Flask("portal")
    app.config.update(CHIRPSTACK_API_URL=sim.url, CHIRPSTACK_API_KEY=sim.api_key, CHIRPSTACK_PASSTHROUGH_PORT=7)
    with app.app_context():
        assert cs.get_config() == {"api_url": sim.url, "api_key": sim.api_key, "tenant_id": "", "passthrough_port": 7}
        assert cs.send_relay_command(SDM, "off") == (True, "Downlink queued successfully")
        ok, queue = cs.get_device_queue(SDM)
        assert ok and queue[0]["fPort"] == 7
    assert cs.get_config()["api_key"] == "from-env"
    cs.close_clients()


@pytest.mark.parametrize("call", [
    lambda: cs.send_downlink(SDM, b"\x01"),
    lambda: cs.send_relay_command(SDM, "off"),
    lambda: cs.send_relay_command(SDM, "on", device_type="ivy_em114"),
    lambda: cs.get_device_queue(SDM),
    lambda: cs.list_applications(),
    lambda: cs.get_application("a"),
    lambda: cs.create_application("a"),
    lambda: cs.update_application("a", "b"),
    lambda: cs.delete_application("a"),
    lambda: cs.list_device_profiles(),
    lambda: cs.get_device_profile("p"),
    lambda: cs.list_devices(),
    lambda: cs.list_devices("app"),
    lambda: cs.get_device(SDM),
    lambda: cs.create_device(SDM, "n", "a", "p"),
    lambda: cs.update_device(SDM, name="n"),
    lambda: cs.delete_device(SDM),
    lambda: cs.set_device_keys(SDM, "00" * 16),
    lambda: cs.get_device_keys(SDM),
    lambda: cs.list_gateways(),
    lambda: cs.get_gateway("g"),
    lambda: cs.create_gateway("g", "n", "t"),
    lambda: cs.update_gateway("g", name="n"),
    lambda: cs.delete_gateway("g"),
    lambda: cs.list_tenants(),
    lambda: cs.get_tenant("t"),
    lambda: cs.test_connection(),
    lambda: cs.get_device_with_status(SDM),
])
def test_without_an_api_key_every_call_says_so(monkeypatch, call):
    monkeypatch.delenv("CHIRPSTACK_API_KEY", raising=False)
    assert call() == NO_KEY


# ---- downlinks -------------------------------------------------------------------------------

def test_send_downlink_defaults_to_the_passthrough_port_unconfirmed(chirpstack_env):
    assert cs.send_downlink(SDM, b"\x01\x02") == (True, "Downlink queued successfully")
    assert cs.send_downlink(SDM, b"\x03", port=9, confirmed=True) == (True, "Downlink queued successfully")
    ok, queue = cs.get_device_queue(SDM)
    assert ok and [(q["fPort"], q["confirmed"], q["data"]) for q in queue] == [(5, False, "AQI="), (9, True, "Aw==")]


def test_send_relay_command_both_device_types(chirpstack_env):
    assert cs.send_relay_command(SDM, "off") == (True, "Downlink queued successfully")
    assert cs.send_relay_command(SDM, "on") == (True, "Downlink queued successfully")
    assert cs.send_relay_command(IVY, "off", device_type="ivy_em114") == (True, "Downlink queued successfully")
    _, sdm = cs.get_device_queue(SDM)
    _, ivy = cs.get_device_queue(IVY)
    assert [q["data"] for q in sdm] == ["AQUAAAAAzco=", "AQUAAP8AjDo="]  # never the known-bad AQUAAAANyg==
    assert ivy[0]["fPort"] == 10 and ivy[0]["data"] == "ARAApwACBP////+5pQ=="


def test_send_relay_command_refusals(chirpstack_env):
    assert cs.send_relay_command(SDM, "toggle") == (False, "Invalid action: toggle. Must be 'on' or 'off'")
    assert cs.send_relay_command(SDM, "OFF") == (False, "Invalid action: OFF. Must be 'on' or 'off'")


@pytest.mark.parametrize("device_type", [None, "sdm", "eastron_sdm320c", "sdm320c", "milesight_em300", "qalcosonic_w1",
                                         "fengbo_4g", "", "landis"])
def test_every_device_type_but_the_ivys_is_the_eastron_frame_as_in_the_portals_module(chirpstack_env, device_type):
    cs._warned_types.clear()
    assert cs.send_relay_command(SDM, "off", device_type=device_type) == (True, "Downlink queued successfully")
    _, queue = cs.get_device_queue(SDM)
    assert [(q["fPort"], q["data"]) for q in queue] == [(5, "AQUAAAAAzco=")]


@pytest.mark.parametrize("device_type", ["ivy_em114", "ivy_em114039", "em114039"])
def test_the_ivys_names_are_the_ivy_frame_on_fport_10(chirpstack_env, device_type):
    assert cs.send_relay_command(IVY, "off", device_type=device_type) == (True, "Downlink queued successfully")
    _, queue = cs.get_device_queue(IVY)
    assert [(q["fPort"], q["data"]) for q in queue] == [(10, "ARAApwACBP////+5pQ==")]


def test_an_unknown_device_type_is_warned_about_once(chirpstack_env, caplog):
    cs._warned_types.clear()
    with caplog.at_level(logging.WARNING, logger="relaylink"):
        for _ in range(3):
            cs.send_relay_command(SDM, "on", device_type="milesight_em300")
        cs.send_relay_command(SDM, "on", device_type="eastron_sdm")  # known: no warning
    warned = [r.getMessage() for r in caplog.records if "milesight_em300" in r.getMessage()]
    assert len(warned) == 1 and "Eastron SDM320C" in warned[0]
    assert not [r for r in caplog.records if "'eastron_sdm'" in r.getMessage()]


@pytest.mark.parametrize("args,message", [
    ((SDM[:-2], b"\x01"), "DevEUI must be 16 hex digits, got 14: '01010101010101'"),
    (("zz" * 8, b"\x01"), "DevEUI must be 16 hex digits, got 'zzzzzzzzzzzzzzzz' (contains 'z')"),
    ((SDM, b""), "payload is empty: a downlink needs at least 1 byte"),
    ((SDM, bytes(243)), "payload is 243 bytes; a LoRaWAN downlink carries at most 242"),
    ((SDM, b"\x01", 0), "fPort must be 1-223 (0 is MAC commands, 224 the LoRaWAN test port, above reserved), got 0"),
    ((SDM, "0105"), "payload must be bytes, got str"),
    ((SDM, b"\x01", "five"), "fPort must be 1-223, got 'five'"),
])
def test_send_downlink_checks_before_sending(chirpstack_env, args, message):
    assert cs.send_downlink(*args) == (False, message)
    assert cs.get_device_queue(SDM) == (True, [])


# ---- management API --------------------------------------------------------------------------

def test_applications(chirpstack_env, monkeypatch):
    assert cs.create_application("Estate A") == (False, "ChirpStack tenant_id not configured")
    monkeypatch.setenv("CHIRPSTACK_TENANT_ID", "tenant-1")
    ok, created = cs.create_application("Estate A", "north")
    assert ok and created["id"]
    app_id = created["id"]
    ok, apps = cs.list_applications()
    assert ok and [a["name"] for a in apps] == ["Estate A"]
    assert cs.get_application(app_id)[1]["application"]["description"] == "north"
    assert cs.update_application(app_id, "Estate B")[0]
    assert cs.get_application(app_id)[1]["application"]["name"] == "Estate B"
    assert cs.delete_application(app_id) == (True, "Application deleted successfully")
    ok, msg = cs.get_application(app_id)
    assert not ok and msg.startswith("Object does not exist")
    assert cs.test_connection() == (True, "ChirpStack connection successful")


def test_devices_and_keys(chirpstack_env):
    eui = "A1B2C3D4E5F60708"
    ok, _ = cs.create_device(eui, "Meter 9", "app-1", "dp-1", join_eui="ABCDEF0123456789")
    assert ok
    ok, dev = cs.get_device(eui.lower())
    assert ok and dev["device"]["devEui"] == eui.lower() and dev["device"]["description"] == "Meter 9"
    assert dev["device"]["joinEui"] == "abcdef0123456789"
    assert cs.update_device(eui.lower(), is_disabled=True)[0]
    after = cs.get_device(eui.lower())[1]["device"]
    assert after["isDisabled"] is True and after["name"] == "Meter 9"  # only the given field changed
    assert cs.list_devices("app-1")[1][0]["devEui"] == eui.lower()
    assert cs.set_device_keys(eui.lower(), "AA" * 16)[0]
    keys = cs.get_device_keys(eui.lower())[1]["deviceKeys"]
    assert keys["appKey"] == "aa" * 16 and keys["nwkKey"] == "aa" * 16
    status = cs.get_device_with_status(SDM)[1]
    assert set(status) == {"device", "lastSeenAt", "deviceStatus", "classEnabled"} and status["classEnabled"] == "CLASS_A"
    assert cs.delete_device(eui.lower()) == (True, "Device deleted successfully")
    ok, msg = cs.update_device(eui.lower(), name="x")
    assert not ok and msg == f"Device not found: Object does not exist (id: {eui.lower()})"


def test_list_devices_without_an_application_walks_every_application(chirpstack_env, monkeypatch):
    monkeypatch.setenv("CHIRPSTACK_TENANT_ID", "tenant-1")
    a = cs.create_application("A")[1]["id"]
    b = cs.create_application("B")[1]["id"]
    cs.create_device("1111111111111111", "one", a, "dp")
    cs.create_device("2222222222222222", "two", b, "dp")
    ok, devices = cs.list_devices()
    assert ok and sorted(d["devEui"] for d in devices) == ["1111111111111111", "2222222222222222"]


def test_gateways_tenants_and_profiles(chirpstack_env):
    ok, _ = cs.create_gateway("AA555A0000000001", "Roof", "tenant-1", location_latitude=-26.2, location_longitude=28.0)
    assert ok
    gw = cs.get_gateway("aa555a0000000001")[1]["gateway"]
    assert gw["description"] == "Roof" and gw["location"]["latitude"] == -26.2 and gw["statsInterval"] == 30
    assert cs.update_gateway("aa555a0000000001", location_altitude=1700.0)[0]
    gw = cs.get_gateway("aa555a0000000001")[1]["gateway"]
    assert gw["location"] == {"latitude": -26.2, "longitude": 28.0, "altitude": 1700.0}
    assert [g["gatewayId"] for g in cs.list_gateways()[1]] == ["aa555a0000000001"]
    assert cs.delete_gateway("aa555a0000000001") == (True, "Gateway deleted successfully")
    ok, msg = cs.update_gateway("aa555a0000000001", name="x")
    assert not ok and msg.startswith("Gateway not found: ")
    assert cs.list_tenants() == (True, [])
    assert cs.list_device_profiles() == (True, [])
    assert not cs.get_tenant("t-404")[0] and not cs.get_device_profile("dp-404")[0]


def test_ids_in_urls_are_encoded(chirpstack_env):
    ok, msg = cs.get_device("../tenants")
    assert not ok  # not the tenants list


# ---- errors: the portal's messages -----------------------------------------------------------

def test_error_message_is_chirpstacks_message(chirpstack_env):
    assert cs.get_device("0909090909090909") == (False, "Object does not exist (id: 0909090909090909)")


def test_a_wrong_key_gets_chirpstacks_own_word_for_it(chirpstack_env, monkeypatch):
    monkeypatch.setenv("CHIRPSTACK_API_KEY", "not-the-key")
    # ChirpStack 4.20 answers a wrong key 401 {"code":16,"message":"InvalidToken"}; the module passes the message on.
    assert cs.list_tenants() == (False, "InvalidToken")
    assert cs.test_connection() == (False, "ChirpStack connection failed: InvalidToken")


@pytest.fixture
def fake_env(fake_chirpstack, monkeypatch):
    monkeypatch.setenv("CHIRPSTACK_API_URL", fake_chirpstack.url)
    monkeypatch.setenv("CHIRPSTACK_API_KEY", "the-key")
    yield fake_chirpstack
    cs.close_clients()


def test_a_key_of_another_tenant_gets_an_empty_message_and_the_status(fake_env):
    fake_env.reply(401, {"code": 16, "message": "", "details": []})  # observed for a key of another tenant
    assert cs.list_tenants() == (False, "ChirpStack API error: 401")


def test_authorization_is_a_bearer_header(fake_env):
    fake_env.reply(200, {"result": [{"id": "t"}]})
    assert cs.list_tenants(limit=5) == (True, [{"id": "t"}])
    req = fake_env.requests[-1]
    assert req["headers"]["Authorization"] == "Bearer the-key" and req["path"] == "/api/tenants?limit=5"


@pytest.mark.parametrize("status,body,ctype,message", [
    (400, {"error": "bad thing"}, "application/json", "bad thing"),
    (409, {"code": 6, "message": "object already exists"}, "application/json", "object already exists"),
    (502, b"<html>Bad Gateway</html>", "text/html", "ChirpStack API error: 502"),
    (418, {"code": 2}, "application/json", "ChirpStack API error: 418"),
])
def test_error_bodies(fake_env, status, body, ctype, message):
    fake_env.reply(status, body, ctype)
    assert cs.get_tenant("t") == (False, message)


def test_transport_errors_each_have_their_message(monkeypatch, silent_server):
    monkeypatch.setenv("CHIRPSTACK_API_KEY", "k")
    monkeypatch.setenv("CHIRPSTACK_API_URL", f"http://127.0.0.1:{free_port()}")
    assert cs.list_tenants() == (False, "Failed to connect to ChirpStack")
    monkeypatch.setenv("CHIRPSTACK_API_URL", f"http://127.0.0.1:{silent_server.port}")
    monkeypatch.setenv("CHIRPSTACK_TIMEOUT", "0.3")
    assert cs.list_tenants() == (False, "ChirpStack request timed out")
    # As the portal's module: a timeout is not tried again (its test-connection page would wait twice as long).
    assert len(silent_server.conns) == 1
    monkeypatch.setenv("CHIRPSTACK_API_URL", "ftp://example.com")
    ok, msg = cs.list_tenants()
    assert not ok and msg.startswith("ChirpStack request failed: ") and "http://" in msg
    cs.close_clients()


def test_the_api_key_never_appears_in_a_message_or_a_log_line(fake_env, caplog, monkeypatch):
    key = "super-secret-key-123"
    monkeypatch.setenv("CHIRPSTACK_API_KEY", key)
    fake_env.reply(403, {"message": f"key {key} may not do this"})
    with caplog.at_level(logging.DEBUG):
        results = [cs.list_tenants(), cs.send_relay_command(SDM, "off"), cs.get_device(SDM)]
    assert all(not ok for ok, _ in results)
    assert all(key not in msg for _, msg in results)
    assert all(key not in r.getMessage() for r in caplog.records)


def test_connections_are_kept_alive_across_calls(chirpstack_env):
    for _ in range(10):
        assert cs.get_device_queue(SDM)[0]
    stats = cs._client(cs.get_config()).stats()
    assert stats["connections_opened"] == 1 and stats["connections_reused"] >= 9


def test_calls_from_many_threads(chirpstack_env):
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: cs.send_relay_command(SDM if i % 2 else IVY, "off",
                                                                "eastron_sdm" if i % 2 else "ivy_em114"), range(40)))
    assert results == [(True, "Downlink queued successfully")] * 40
    assert len(cs.get_device_queue(SDM)[1]) + len(cs.get_device_queue(IVY)[1]) == 40
