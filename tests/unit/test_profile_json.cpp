// Profiles as data: good documents load; bad ones are refused with the field and the value named.
#include <relaylink/device.hpp>
#include <relaylink/encoding.hpp>

#include <gtest/gtest.h>

using namespace relaylink;
using namespace relaylink::device;

namespace {
constexpr const char* good = R"({
  "name": "acme_x100",
  "aliases": ["acme"],
  "description": "ACME X100 behind a UC100",
  "fport": 6,
  "slave": 3,
  "confirmed": false,
  "completion": "device_replied",
  "uplink_interval_s": 600,
  "relay_off": {"function": "write_single_register", "address": "0x0100", "value": 0},
  "relay_on":  {"function": 6, "address": 256, "value": 1},
  "relay_state": {"function": "read_holding_registers", "address": 256, "quantity": 1, "on": [1], "off": [0]},
  "measurements": [
    {"name": "voltage", "unit": "V", "function": "read_input_registers", "address": 0, "type": "float32"},
    {"name": "energy", "unit": "Wh", "function": "read_holding_registers", "address": "0x10", "type": "u32",
     "word_order": "low_word_first", "scale": 10}
  ]
})";

/// The message for a document with `key` replaced by `value` (a JSON fragment) in the good document.
std::string refusal(std::string_view doc) {
    auto r = profiles_from_json(doc);
    if (r) return "accepted";
    return r.error().message;
}

std::string with(std::string_view key_and_value, std::string_view replacement) {
    std::string d = good;
    auto at = d.find(key_and_value);
    if (at == std::string::npos) throw std::logic_error("test bug: no " + std::string(key_and_value));
    d.replace(at, key_and_value.size(), replacement);
    return d;
}
} // namespace

TEST(ProfileJson, AGoodDocumentLoadsEveryField) {
    auto r = profiles_from_json(good);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 1u);
    const profile& p = r->front();
    EXPECT_EQ(p.name, "acme_x100");
    EXPECT_EQ(p.aliases, std::vector<std::string>{"acme"});
    EXPECT_EQ(p.fport, 6);
    EXPECT_EQ(p.reply_fport, 6); // defaults to fport
    EXPECT_EQ(p.slave, 3);
    EXPECT_FALSE(p.confirmed);
    EXPECT_EQ(p.uplink_interval, std::chrono::seconds{600});
    EXPECT_EQ(to_hex(p.relay(false).value().payload.bytes()).substr(0, 12), "030601000000");
    ASSERT_TRUE(p.relay_state);
    ASSERT_EQ(p.measurements.size(), 2u);
    EXPECT_EQ(p.measurements[1].address, 0x10);
    EXPECT_EQ(p.measurements[1].order, modbus::word_order::low_word_first);
    EXPECT_DOUBLE_EQ(p.measurements[1].scale, 10.0);
}

TEST(ProfileJson, BuiltInsRoundTripThroughJson) {
    for (const auto& p : builtin_profiles()) {
        auto back = profile_from_json(to_json(p));
        ASSERT_TRUE(back) << back.error().message;
        EXPECT_EQ(*back, p) << p.name;
    }
    auto loaded = profiles_from_json(good).value().front();
    EXPECT_EQ(profile_from_json(to_json(loaded)).value(), loaded);
}

TEST(ProfileJson, ArraysAndProfilesWrapperLoadSeveral) {
    std::string two = std::string("[") + good + "," + with("\"acme_x100\"", "\"acme_x200\"").replace(0, 0, "") + "]";
    two = std::string("[") + good + "," + with("\"name\": \"acme_x100\",\n  \"aliases\": [\"acme\"]", "\"name\": \"acme_x200\"") + "]";
    auto r = profiles_from_json(two);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->size(), 2u);
    auto w = profiles_from_json(std::string("{\"profiles\":") + two + "}");
    ASSERT_TRUE(w) << w.error().message;
    EXPECT_EQ(w->size(), 2u);
    EXPECT_EQ(refusal("[]"), "profile document holds no profiles");
}

TEST(ProfileJson, NotJsonAtAll) {
    EXPECT_NE(refusal("{\"name\": ").find("not valid JSON"), std::string::npos);
    EXPECT_NE(refusal("").find("not valid JSON"), std::string::npos);
}

TEST(ProfileJson, FportZeroOrAbove223IsRefusedNamingTheValue) {
    EXPECT_EQ(refusal(with("\"fport\": 6", "\"fport\": 0")),
              "profile 'acme_x100': field 'fport' must be an integer 1-223 (a number or \"0x…\"), got 0");
    EXPECT_EQ(refusal(with("\"fport\": 6", "\"fport\": 224")),
              "profile 'acme_x100': field 'fport' must be an integer 1-223 (a number or \"0x…\"), got 224");
    EXPECT_NE(refusal(with("\"fport\": 6", "\"fport\": -1")).find("got -1"), std::string::npos);
    EXPECT_NE(refusal(with("\"fport\": 6", "\"fport\": 5.5")).find("got 5.5E0"), std::string::npos);
}

TEST(ProfileJson, SlaveOutOfRange) {
    EXPECT_EQ(refusal(with("\"slave\": 3", "\"slave\": 248")),
              "profile 'acme_x100': field 'slave' must be an integer 1-247 (a number or \"0x…\"), got 248");
    EXPECT_NE(refusal(with("\"slave\": 3", "\"slave\": 0")).find("field 'slave'"), std::string::npos);
}

TEST(ProfileJson, UnknownFunctionIsRefusedWithTheListOfKnownOnes) {
    auto m = refusal(with("\"function\": \"write_single_register\"", "\"function\": \"flip_relay\""));
    EXPECT_NE(m.find("field 'relay_off.function' must be a supported Modbus function"), std::string::npos) << m;
    EXPECT_NE(m.find("got \"flip_relay\""), std::string::npos) << m;
    auto n = refusal(with("\"function\": 6", "\"function\": 43"));
    EXPECT_NE(n.find("field 'relay_on.function'"), std::string::npos) << n;
    EXPECT_NE(n.find("got 43"), std::string::npos) << n;
}

TEST(ProfileJson, ReadFunctionForARelayWriteIsRefused) {
    auto m = refusal(with("\"function\": 6", "\"function\": \"read_coils\""));
    EXPECT_NE(m.find("field 'relay_on.function' must be a write function"), std::string::npos) << m;
}

TEST(ProfileJson, MissingFieldIsNamed) {
    EXPECT_EQ(refusal(with("\"fport\": 6,", "")), "profile 'acme_x100': field 'fport' is missing");
    EXPECT_EQ(refusal(with("\"relay_on\":  {\"function\": 6, \"address\": 256, \"value\": 1},", "")),
              "profile 'acme_x100': field 'relay_on' is missing");
    EXPECT_EQ(refusal(with(", \"value\": 1}", "}")), "profile 'acme_x100': field 'relay_on.value' is missing");
    EXPECT_EQ(refusal("{}"), "profile: field 'name' is missing");
}

TEST(ProfileJson, WrongTypesAreNamed) {
    EXPECT_EQ(refusal(with("\"confirmed\": false", "\"confirmed\": \"no\"")),
              "profile 'acme_x100': field 'confirmed' must be true or false, got \"no\"");
    EXPECT_EQ(refusal(with("\"name\": \"acme_x100\"", "\"name\": 5")), "profile: field 'name' must be a string, got 5");
    EXPECT_EQ(refusal(with("\"aliases\": [\"acme\"]", "\"aliases\": \"acme\"")),
              "profile 'acme_x100': field 'aliases' must be an array, got \"acme\"");
    EXPECT_EQ(refusal(with("\"relay_off\": {\"function\": \"write_single_register\", \"address\": \"0x0100\", \"value\": 0}",
                           "\"relay_off\": 3")),
              "profile 'acme_x100': field 'relay_off' must be an object, got 3");
    EXPECT_EQ(refusal("[1]"), "[0] profile: field 'profile' must be an object, got 1");
}

TEST(ProfileJson, UnknownFieldsAreRefusedSoTyposShowUp) {
    EXPECT_EQ(refusal(with("\"fport\": 6", "\"fport\": 6, \"fprot\": 6")).substr(0, 58),
              "profile 'acme_x100': field 'fprot' is not a known field (k");
}

TEST(ProfileJson, BadValuesForTheFunctionAreRefused) {
    // FC05 must be 0xFF00 / 0x0000
    std::string coil = with("\"relay_off\": {\"function\": \"write_single_register\", \"address\": \"0x0100\", \"value\": 0}",
                            "\"relay_off\": {\"function\": \"write_single_coil\", \"address\": 0, \"value\": 1}");
    auto m = refusal(coil);
    EXPECT_NE(m.find("field 'relay_off.value' does not make a valid request: write single coil value must be 0xFF00"),
              std::string::npos) << m;
    std::string multi = with("\"value\": 0}", "\"values\": [0]}");
    EXPECT_NE(refusal(multi).find("'relay_off.values' is for multiple writes"), std::string::npos);
    EXPECT_EQ(refusal(with("\"value\": 1}", "\"value\": \"0x10000\"}")),
              "profile 'acme_x100': field 'relay_on.value' must be an integer 0-65535 (a number or \"0x…\"), got \"0x10000\"");
    EXPECT_NE(refusal(with("\"address\": \"0x0100\"", "\"address\": \"0xZZ\"")).find("got \"0xZZ\""), std::string::npos);
}

TEST(ProfileJson, BadNamesCompletionsAndMeasurements) {
    EXPECT_NE(refusal(with("\"acme_x100\"", "\"Acme X\"")).find("must be lower case"), std::string::npos);
    EXPECT_NE(refusal(with("\"device_replied\"", "\"vibes\"")).find("field 'completion' must be gateway_accepted"), std::string::npos);
    EXPECT_NE(refusal(with("\"device_replied\"", "\"device_acknowledged\"")).find("unconfirmed downlinks are never acknowledged"),
              std::string::npos);
    EXPECT_NE(refusal(with("\"fport\": 6", "\"fport\": 6, \"reply_fport\": null")).find("reply could never be seen"),
              std::string::npos);
    EXPECT_NE(refusal(with("\"type\": \"u32\"", "\"type\": \"u64\"")).find("field 'measurements[1].type' must be u16"),
              std::string::npos);
    EXPECT_NE(refusal(with("\"name\": \"energy\"", "\"name\": \"voltage\"")).find("defined twice"), std::string::npos);
    EXPECT_NE(refusal(with("\"low_word_first\"", "\"middle\"")).find("word_order"), std::string::npos);
    EXPECT_NE(refusal(with("\"on\": [1]", "\"on\": [0]")).find("must differ"), std::string::npos);
    EXPECT_NE(refusal(with("\"on\": [1]", "\"on\": [1, 2]")).find("'quantity' (1)"), std::string::npos);
    EXPECT_NE(refusal(with("\"address\": \"0x10\"", "\"address\": 65535")).find("runs past register 65535"), std::string::npos);
}

TEST(ProfileJson, ValueTakesTheApiExceptionOnMisuse) {
    auto r = profiles_from_json("{}");
    EXPECT_THROW(r.value(), std::invalid_argument);
}
