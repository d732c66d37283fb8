// Built-in meter profiles: downlinks, reply recognition, read-back and measurements, the registry.
#include <relaylink/device.hpp>
#include <relaylink/encoding.hpp>

#include <gtest/gtest.h>

using namespace relaylink;
using namespace relaylink::device;

namespace {
bytes hexb(std::string_view s) { return from_hex(s).value(); }
}

TEST(Profiles, Sdm320cUsesThePassThroughPortAndCoil0) {
    auto p = eastron_sdm320c();
    auto off = p.relay(false).value();
    EXPECT_EQ(off.fport, 5);
    EXPECT_TRUE(off.confirmed);
    EXPECT_EQ(to_hex(off.payload.bytes()), "010500000000CDCA");
    auto p7 = eastron_sdm320c(7);
    EXPECT_EQ(p7.relay(true).value().fport, 7);
    EXPECT_EQ(p7.reply_fport, 7);
}

TEST(Profiles, IvyUsesFport10AndRegister167) {
    auto p = ivy_em114039();
    auto off = p.relay(false).value();
    EXPECT_EQ(off.fport, 10);
    EXPECT_EQ(to_hex(off.payload.bytes()), "011000A7000204FFFFFFFFB9A5");
    EXPECT_EQ(to_hex(p.relay(true).value().payload.bytes()), "011000A700020400000000B831");
}

TEST(Profiles, PortalDeviceTypesMapOntoBuiltIns) {
    auto reg = profile_registry::with_builtins();
    ASSERT_NE(reg.find("eastron_sdm"), nullptr);
    EXPECT_EQ(reg.find("eastron_sdm")->name, "eastron_sdm320c");
    ASSERT_NE(reg.find("ivy_em114"), nullptr);
    EXPECT_EQ(reg.find("ivy_em114")->name, "ivy_em114039");
    EXPECT_EQ(reg.find("nope"), nullptr);
    EXPECT_NE(reg.describe_names().find("eastron_sdm320c (eastron_sdm"), std::string::npos);
}

TEST(Profiles, RegistryRefusesANameThatAnotherProfileAnswersTo) {
    auto reg = profile_registry::with_builtins();
    auto p = ivy_em114039();
    p.name = "clone";
    p.aliases = {"eastron_sdm"};
    EXPECT_FALSE(reg.add(p));
    p.aliases = {"clone_alias"};
    EXPECT_TRUE(reg.add(p));
    p.description = "replaced";
    EXPECT_TRUE(reg.add(p)); // same name replaces
    EXPECT_EQ(reg.find("clone_alias")->description, "replaced");
    EXPECT_EQ(reg.all().size(), 3u);
}

TEST(Profiles, TheEchoOnTheReplyPortIsTheReply) {
    auto p = eastron_sdm320c();
    auto off = p.relay(false).value();
    auto m = p.match_reply(off.payload, 5, off.payload.bytes());
    EXPECT_EQ(m.kind, reply_kind::reply);
    EXPECT_TRUE(m);
}

TEST(Profiles, AnUplinkOnAnotherPortIsUnrelated) {
    auto p = eastron_sdm320c();
    auto off = p.relay(false).value();
    EXPECT_EQ(p.match_reply(off.payload, 85, off.payload.bytes()).kind, reply_kind::unrelated);
}

TEST(Profiles, GarbageOrAnotherFrameOnTheReplyPortIsUnrelatedWithAReason) {
    auto p = eastron_sdm320c();
    auto off = p.relay(false).value();
    auto on = p.relay(true).value();
    auto m = p.match_reply(off.payload, 5, on.payload.bytes());
    EXPECT_EQ(m.kind, reply_kind::unrelated);
    EXPECT_EQ(m.reason, modbus::errc::echo_mismatch);
    // A UC100 periodic report on the same port (Milesight TLV), not Modbus: unrelated.
    auto tlv = p.match_reply(off.payload, 5, hexb("FF0BFF"));
    EXPECT_EQ(tlv.kind, reply_kind::unrelated);
    EXPECT_TRUE(tlv.reason);
}

TEST(Profiles, AnExceptionReplyIsRecognisedWithItsName) {
    auto p = eastron_sdm320c();
    auto off = p.relay(false).value();
    auto m = p.match_reply(off.payload, 5, hexb("018502C351"));
    EXPECT_EQ(m.kind, reply_kind::exception);
    EXPECT_EQ(m.reason, modbus::exception_code::illegal_data_address);
}

TEST(Profiles, NoReplyPortMeansNothingIsEverAReply) {
    auto p = eastron_sdm320c();
    p.reply_fport.reset();
    auto off = p.relay(false).value();
    EXPECT_EQ(p.match_reply(off.payload, 5, off.payload.bytes()).kind, reply_kind::unrelated);
}

TEST(Profiles, MeasurementsReadEastronFloatRegisters) {
    auto p = eastron_sdm320c();
    const auto* v = p.find_measurement("voltage");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(to_hex(p.read(*v).value().payload.bytes()), "01040000000271CB");
    const auto* kwh = p.find_measurement("import_energy");
    ASSERT_NE(kwh, nullptr);
    auto d = p.read(*kwh).value();
    EXPECT_EQ(to_hex(d.payload.bytes()), "010400480002F1DD");
    auto reply = modbus::encode_response(modbus::parse_request(d.payload.bytes()).value(),
                                         std::vector<std::uint16_t>{0x4120, 0x0000})
                     .value();
    auto m = p.match_reply(d.payload, 5, reply.bytes());
    ASSERT_EQ(m.kind, reply_kind::reply);
    EXPECT_DOUBLE_EQ(profile::value_of(*kwh, m.response).value(), 10.0);
    EXPECT_EQ(p.find_measurement("nope"), nullptr);
}

TEST(Profiles, ValueOfHonoursTypeScaleAndWordOrder) {
    measurement m{"x", "", modbus::function_code::read_holding_registers, 0, value_type::u32, modbus::word_order::low_word_first, 0.5};
    modbus::response r;
    r.values = {0x0002, 0x0001}; // low word first: 0x00010002 = 65538
    EXPECT_DOUBLE_EQ(profile::value_of(m, r).value(), 32769.0);
    m.type = value_type::u16;
    EXPECT_DOUBLE_EQ(profile::value_of(m, r).value(), 1.0);
    m.type = value_type::i32;
    r.values = {0xFFFF, 0xFFFF};
    EXPECT_DOUBLE_EQ(profile::value_of(m, r).value(), -0.5);
    r.values = {1};
    EXPECT_EQ(profile::value_of(m, r).error(), modbus::errc::truncated);
    r.exception = modbus::exception_code::illegal_data_address;
    EXPECT_EQ(profile::value_of(m, r).error(), modbus::exception_code::illegal_data_address);
}

TEST(Profiles, RelayStateReadBackIsOffByDefaultAndWorksWhenConfigured) {
    auto p = eastron_sdm320c();
    EXPECT_FALSE(p.relay_state);
    EXPECT_FALSE(p.read_relay_state());
    p.relay_state = relay_state_read{modbus::function_code::read_coils, 0, 1, {1}, {0}};
    auto d = p.read_relay_state().value();
    EXPECT_EQ(to_hex(d.payload.bytes()), "010100000001FDCA");
    auto open = p.match_reply(d.payload, 5, hexb("010101005188"));
    ASSERT_EQ(open.kind, reply_kind::reply);
    EXPECT_EQ(p.relay_state_from(open.response), false);
    auto closed = p.match_reply(d.payload, 5, hexb("010101019048"));
    EXPECT_EQ(p.relay_state_from(closed.response), true);
}

TEST(Profiles, RelayEncodingRefusesAnInvalidProfile) {
    auto p = eastron_sdm320c();
    p.slave = 0xF8;
    EXPECT_EQ(p.relay(false).error(), modbus::errc::invalid_slave);
    p = eastron_sdm320c();
    p.relay_off.values = {0x0001};
    EXPECT_EQ(p.relay(false).error(), modbus::errc::invalid_coil_value);
}
