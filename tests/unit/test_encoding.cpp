// Hex and base64, including the early plan's wrong base64 for relay OFF.
#include <relaylink/encoding.hpp>
#include <relaylink/modbus.hpp>

#include <gtest/gtest.h>

#include <random>

using namespace relaylink;

TEST(Hex, RoundTripsAndAcceptsSeparators) {
    EXPECT_EQ(to_hex(from_hex("01 05 00 00 00 00 CD CA").value()), "010500000000CDCA");
    EXPECT_EQ(to_hex(from_hex("0x010500000000cdca").value(), " "), "01 05 00 00 00 00 CD CA");
    EXPECT_EQ(to_hex(from_hex("01:05-00").value()), "010500");
    EXPECT_TRUE(from_hex("").value().empty());
}

TEST(Hex, RefusesBadDigitsAndOddLengths) {
    EXPECT_EQ(from_hex("0G").error(), errc::invalid_hex);
    EXPECT_EQ(from_hex("010").error(), errc::odd_hex_length);
    EXPECT_EQ(from_hex("0 10").error(), errc::odd_hex_length);
}

TEST(Base64, RelayFramesMatchTheReference) {
    EXPECT_EQ(to_base64(modbus::write_single_coil(1, 0, false).value().bytes()), "AQUAAAAAzco=");
    EXPECT_EQ(to_base64(modbus::write_single_coil(1, 0, true).value().bytes()), "AQUAAP8AjDo=");
}

TEST(Base64, TheEarlyPlansBase64IsNotTheRelayOffFrame) {
    auto decoded = from_base64("AQUAAAANyg==").value();
    EXPECT_EQ(decoded.size(), 7u); // a Modbus frame cannot be 7 bytes of FC05
    EXPECT_EQ(to_hex(decoded), "01050000000DCA");
    auto off = modbus::write_single_coil(1, 0, false).value();
    EXPECT_NE(decoded, std::vector<std::uint8_t>(off.begin(), off.end()));
    EXPECT_FALSE(modbus::parse_request(decoded));
}

TEST(Base64, RoundTripsRandomData) {
    std::mt19937 rng(2);
    for (std::size_t n = 0; n < 300; ++n) {
        bytes b(n);
        for (auto& x : b) x = static_cast<std::uint8_t>(rng());
        ASSERT_EQ(from_base64(to_base64(b)).value(), b);
    }
}

TEST(Base64, RefusesInvalidText) {
    EXPECT_EQ(from_base64("AQU*").error(), errc::invalid_base64);
    EXPECT_EQ(from_base64("A").error(), errc::invalid_base64);
    EXPECT_EQ(from_base64("AQ=").error(), errc::invalid_base64);
    EXPECT_EQ(from_base64("AR==").error(), errc::invalid_base64); // non-zero leftover bits
    EXPECT_EQ(to_hex(from_base64("AQ").value()), "01");          // unpadded is accepted
}
