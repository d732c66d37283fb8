// Register value helpers in both word orders.
#include <relaylink/modbus/values.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace relaylink::modbus;

TEST(Values, U32HighWordFirstIsEastronOrder) {
    EXPECT_EQ(to_u32(0x1234, 0x5678), 0x12345678u);
    EXPECT_EQ(to_u32(0x1234, 0x5678, word_order::low_word_first), 0x56781234u);
}

TEST(Values, I32IsSigned) {
    EXPECT_EQ(to_i32(0xFFFF, 0xFFFE), -2);
    EXPECT_EQ(to_i32(0xFFFE, 0xFFFF, word_order::low_word_first), -2);
}

TEST(Values, Float32DecodesEastronVoltage) {
    EXPECT_FLOAT_EQ(to_float32(0x4366, 0x199A), 230.1f);
    EXPECT_FLOAT_EQ(to_float32(0x199A, 0x4366, word_order::low_word_first), 230.1f);
}

TEST(Values, FromAndToAreInversesInBothOrders) {
    for (auto order : {word_order::high_word_first, word_order::low_word_first}) {
        for (std::uint32_t v : {0u, 1u, 0xDEADBEEFu, 0xFFFFFFFFu}) {
            auto w = from_u32(v, order);
            EXPECT_EQ(to_u32(w[0], w[1], order), v);
        }
        for (std::int32_t v : {0, -1, std::numeric_limits<std::int32_t>::min(), 123456789}) {
            auto w = from_i32(v, order);
            EXPECT_EQ(to_i32(w[0], w[1], order), v);
        }
        for (float v : {0.0f, -1.5f, 230.1f, 1e30f, std::numeric_limits<float>::infinity()}) {
            auto w = from_float32(v, order);
            EXPECT_EQ(to_float32(w[0], w[1], order), v);
        }
        auto n = from_float32(std::numeric_limits<float>::quiet_NaN(), order);
        EXPECT_TRUE(std::isnan(to_float32(n[0], n[1], order)));
    }
}

TEST(Values, SpanFormsNeedTwoRegisters) {
    const std::uint16_t one[] = {1};
    EXPECT_EQ(to_u32(std::span<const std::uint16_t>(one)).error(), errc::truncated);
    EXPECT_EQ(to_float32(std::span<const std::uint16_t>(one)).error(), errc::truncated);
    EXPECT_EQ(to_i32(std::span<const std::uint16_t>(one)).error(), errc::truncated);
    const std::uint16_t two[] = {0x4366, 0x0000};
    EXPECT_FLOAT_EQ(to_float32(std::span<const std::uint16_t>(two)).value(), 230.0f);
}

TEST(Values, WordOrderNamesRoundTrip) {
    for (auto o : {word_order::high_word_first, word_order::low_word_first}) EXPECT_EQ(word_order_from_name(to_string(o)), o);
    EXPECT_FALSE(word_order_from_name("big"));
}
