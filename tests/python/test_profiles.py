"""relaylink.profiles: built-ins, lookup by alias, JSON (and its refusals), reply matching."""
import json

import pytest

from relaylink import ProfileError, modbus, profiles


def test_builtins_answer_to_the_portals_device_types():
    sdm = profiles.get("eastron_sdm")
    assert sdm.name == "eastron_sdm320c" and sdm.fport == 5 and sdm.confirmed
    assert sdm.relay_off().payload == bytes.fromhex("010500000000CDCA")
    assert sdm.relay(True).payload == bytes.fromhex("01050000FF008C3A")
    ivy = profiles.get("ivy_em114")
    assert ivy.fport == 10 and ivy.relay_on().payload == bytes.fromhex("011000A700020400000000B831")
    assert "voltage" in sdm.measurements and sdm.measurements["voltage"] == "V"
    assert set(profiles.names()) >= {"eastron_sdm320c", "ivy_em114039"}


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ProfileError, match="known: eastron_sdm320c"):
        profiles.get("landis_gyr")


def test_reply_matching_and_measurements():
    sdm = profiles.get("eastron_sdm320c")
    off = sdm.relay_off().payload
    assert sdm.match_reply(off, 5, off).kind == "reply"
    assert sdm.match_reply(off, 6, off).kind == "unrelated"
    exc = modbus.encode_exception(1, 5, 2)
    m = sdm.match_reply(off, 5, exc)
    assert m.kind == "exception" and m.response.exception == "illegal_data_address"
    read = sdm.read("voltage").payload
    reply = modbus.encode_response(read, [0x4366, 0x1999])
    assert sdm.value_of("voltage", modbus.decode_response(read, reply)) == pytest.approx(230.1, abs=1e-3)
    with pytest.raises(ProfileError, match="no measurement 'volts'"):
        sdm.read("volts")


def test_json_round_trip_and_load_registers(tmp_path):
    doc = json.loads(profiles.get("eastron_sdm320c").to_json())
    doc["name"], doc["aliases"], doc["slave"] = "sdm320c_slave7", ["sdm7"], 7
    path = tmp_path / "site.json"
    path.write_text(json.dumps({"profiles": [doc]}))
    reg = profiles.ProfileRegistry()
    [p] = profiles.load(path, registry=reg)
    assert reg.get("sdm7").relay_off().payload == modbus.write_single_coil(7, 0, False)
    assert p == reg.get("sdm320c_slave7")


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d.update(fport=0), "fport"),
    (lambda d: d.update(slave=300), "slave"),
    (lambda d: d["relay_off"].update(function="explode"), "relay_off.function"),
    (lambda d: d.pop("name"), "name"),
])
def test_bad_profiles_are_refused_naming_the_field(mutate, field):
    doc = json.loads(profiles.get("eastron_sdm320c").to_json())
    doc["name"] = "custom"
    doc["aliases"] = []
    mutate(doc)
    with pytest.raises(ProfileError) as e:
        profiles.from_json(json.dumps(doc))
    assert e.value.field == field, str(e.value)


def test_load_refuses_all_or_nothing_and_names_the_file(tmp_path):
    reg = profiles.ProfileRegistry()
    before = reg.names()
    good = json.loads(profiles.get("eastron_sdm320c").to_json())
    good.update(name="good_one", aliases=[])
    bad = dict(good, name="bad_one", fport=999)
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([good, bad]))
    with pytest.raises(ProfileError, match="mixed.json"):
        profiles.load(path, registry=reg)
    assert reg.names() == before
    with pytest.raises(ProfileError, match="cannot read profile file"):
        profiles.load(tmp_path / "missing.json", registry=reg)
    with pytest.raises(ProfileError, match="not valid JSON"):
        profiles.from_json("{nope")
    clash = dict(good, name="clash", aliases=["eastron_sdm"])
    with pytest.raises(ProfileError, match="already another profile"):
        profiles.load(json.dumps(clash), registry=reg)
