// CRC-16/MODBUS: the check value, the table against the bitwise reference, incremental use.
#include <relaylink/modbus/crc.hpp>

#include <gtest/gtest.h>

#include <random>
#include <string_view>
#include <vector>

using namespace relaylink::modbus;

namespace {
std::vector<std::uint8_t> ascii(std::string_view s) { return {s.begin(), s.end()}; }
std::vector<std::uint8_t> random_bytes(std::mt19937& rng, std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) b = static_cast<std::uint8_t>(rng());
    return v;
}
} // namespace

TEST(Crc16, CheckValueOf123456789Is4B37) {
    EXPECT_EQ(crc16(ascii("123456789")), 0x4B37);
    EXPECT_EQ(crc16_bitwise(ascii("123456789")), 0x4B37);
}

TEST(Crc16, EmptyInputGivesTheInitialValue) { EXPECT_EQ(crc16({}), 0xFFFF); }

TEST(Crc16, TableAndBitwiseAgreeOnRandomDataOfEveryLengthUpTo300) {
    std::mt19937 rng(42);
    for (std::size_t n = 0; n <= 300; ++n) {
        auto data = random_bytes(rng, n);
        ASSERT_EQ(crc16(data), crc16_bitwise(data)) << "length " << n;
    }
}

TEST(Crc16, IncrementalEqualsWholeForEverySplitPoint) {
    std::mt19937 rng(7);
    auto data = random_bytes(rng, 97);
    const auto whole = crc16(data);
    for (std::size_t split = 0; split <= data.size(); ++split) {
        crc16_accumulator acc;
        acc.update(std::span(data).first(split));
        acc.update(std::span(data).subspan(split));
        ASSERT_EQ(acc.value(), whole) << "split at " << split;
        ASSERT_EQ(crc16_update(crc16_update(crc16_init, std::span(data).first(split)), std::span(data).subspan(split)), whole);
    }
}

TEST(Crc16, AccumulatorFedByteByByteMatches) {
    std::mt19937 rng(9);
    auto data = random_bytes(rng, 1000);
    crc16_accumulator acc;
    for (auto b : data) acc.update(std::span(&b, 1));
    EXPECT_EQ(acc.value(), crc16(data));
    acc.reset();
    EXPECT_EQ(acc.value(), crc16_init);
}

TEST(Crc16, CrcOverAFrameIncludingItsCrcIsZero) {
    std::mt19937 rng(3);
    for (int i = 0; i < 200; ++i) {
        auto data = random_bytes(rng, 1 + rng() % 250);
        const auto c = crc16(data);
        data.push_back(static_cast<std::uint8_t>(c & 0xFF));
        data.push_back(static_cast<std::uint8_t>(c >> 8));
        ASSERT_EQ(crc16(data), 0);
    }
}

TEST(Crc16, IsUsableInConstantExpressions) {
    constexpr std::array<std::uint8_t, 6> off{0x01, 0x05, 0x00, 0x00, 0x00, 0x00};
    static_assert(crc16(off) == 0xCACD); // sent as CD CA
    SUCCEED();
}
