// Every checked vector of tests/data/modbus.json (copied from the project's shared vectors).
#include <relaylink/device.hpp>
#include <relaylink/encoding.hpp>
#include <relaylink/modbus.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace relaylink;
namespace json = boost::json;

namespace {
json::object load() {
    std::ifstream in(RELAYLINK_TEST_DATA "/modbus.json");
    std::stringstream s;
    s << in.rdbuf();
    return json::parse(s.str()).as_object();
}
std::string str(const json::value& v) { return std::string(v.as_string()); }
} // namespace

TEST(Vectors, CrcCheckValues) {
    auto doc = load();
    for (const auto& v : doc.at("crc16_modbus").as_array()) {
        const auto& o = v.as_object();
        bytes data;
        if (o.contains("ascii")) {
            const std::string text = str(o.at("ascii"));
            data.assign(text.begin(), text.end());
        } else {
            data = from_hex(str(o.at("hex"))).value();
        }
        const auto expected = static_cast<std::uint16_t>(std::stoul(str(o.at("crc")), nullptr, 16));
        EXPECT_EQ(modbus::crc16(data), expected);
        EXPECT_EQ(modbus::crc16_bitwise(data), expected);
        if (o.contains("wire")) {
            const auto c = modbus::crc16(data);
            EXPECT_EQ(to_hex(bytes{static_cast<std::uint8_t>(c & 0xFF), static_cast<std::uint8_t>(c >> 8)}), str(o.at("wire")));
        }
    }
}

TEST(Vectors, EveryRequestParsesAndReEncodesToTheSameBytes) {
    auto doc = load();
    int n = 0;
    for (const auto& v : doc.at("requests").as_array()) {
        const auto& o = v.as_object();
        SCOPED_TRACE(str(o.at("name")));
        const auto frame_bytes = from_hex(str(o.at("frame"))).value();
        EXPECT_EQ(modbus::crc16(frame_bytes), 0);
        auto r = modbus::parse_request(frame_bytes);
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(r->slave, o.at("slave").to_number<int>());
        EXPECT_EQ(static_cast<int>(r->function), o.at("function").to_number<int>());
        auto again = modbus::encode(*r);
        ASSERT_TRUE(again);
        EXPECT_EQ(to_hex(again->bytes()), str(o.at("frame")));
        if (o.contains("base64")) {
            EXPECT_EQ(to_base64(frame_bytes), str(o.at("base64")));
            EXPECT_EQ(from_base64(str(o.at("base64"))).value(), frame_bytes);
        }
        ++n;
    }
    EXPECT_EQ(n, 9);
}

TEST(Vectors, BuiltInProfilesProduceTheRelayVectors) {
    auto doc = load();
    auto frame_named = [&](std::string_view prefix) {
        for (const auto& v : doc.at("requests").as_array())
            if (str(v.at("name")).starts_with(prefix)) return str(v.at("frame"));
        return std::string();
    };
    EXPECT_EQ(to_hex(device::eastron_sdm320c().relay(false).value().payload.bytes()), frame_named("SDM320C relay OFF"));
    EXPECT_EQ(to_hex(device::eastron_sdm320c().relay(true).value().payload.bytes()), frame_named("SDM320C relay ON"));
    EXPECT_EQ(to_hex(device::ivy_em114039().relay(false).value().payload.bytes()), frame_named("IVY EM114039 relay OFF"));
    EXPECT_EQ(to_hex(device::ivy_em114039().relay(true).value().payload.bytes()), frame_named("IVY EM114039 relay ON"));
}

TEST(Vectors, ResponsesDecodeAgainstTheirRequests) {
    auto doc = load();
    const auto& rs = doc.at("responses").as_array();
    ASSERT_EQ(rs.size(), 3u);
    auto off = modbus::write_single_coil(1, 0, false).value();
    auto read_coil = modbus::read_coils(1, 0, 1).value();
    // 1: write single coil echo
    auto echo = modbus::decode_response(off.bytes(), from_hex(str(rs[0].at("frame"))).value());
    ASSERT_TRUE(echo);
    EXPECT_TRUE(echo->ok());
    // 2: read coil open
    auto open = modbus::decode_response(read_coil.bytes(), from_hex(str(rs[1].at("frame"))).value());
    ASSERT_TRUE(open);
    EXPECT_EQ(open->values, std::vector<std::uint16_t>{0});
    // 3: exception 2 to function 5
    auto ex = modbus::decode_response(off.bytes(), from_hex(str(rs[2].at("frame"))).value());
    ASSERT_TRUE(ex);
    ASSERT_TRUE(ex->exception);
    EXPECT_EQ(static_cast<int>(*ex->exception), rs[2].at("exception").to_number<int>());
}

TEST(Vectors, KnownBadBase64IsRecognisedAsBad) {
    auto doc = load();
    for (const auto& v : doc.at("known_bad").as_array()) {
        auto b = from_base64(str(v.at("base64"))).value();
        EXPECT_EQ(to_hex(b), str(v.at("decodes_to")));
        EXPECT_FALSE(modbus::parse_request(b)) << "a known-bad payload must not pass as a request";
        EXPECT_NE(to_hex(b), to_hex(device::eastron_sdm320c().relay(false).value().payload.bytes()));
    }
}
