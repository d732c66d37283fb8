// Request encoders: exact bytes, protocol limits, and parse_request as their inverse.
#include <relaylink/encoding.hpp>
#include <relaylink/modbus.hpp>

#include <gtest/gtest.h>

#include <random>

using namespace relaylink::modbus;
using relaylink::to_hex;

namespace {
std::string hex(const relaylink::result<frame>& f) { return f ? to_hex(f->bytes()) : "error: " + f.error().message(); }
} // namespace

TEST(Encode, RelayOffAndOnFramesForTheSdm320c) {
    EXPECT_EQ(hex(write_single_coil(1, 0, false)), "010500000000CDCA");
    EXPECT_EQ(hex(write_single_coil(1, 0, true)), "01050000FF008C3A");
}

TEST(Encode, ReadFunctionsProduceTheReferenceFrames) {
    EXPECT_EQ(hex(read_holding_registers(1, 0, 10)), "01030000000AC5CD");
    EXPECT_EQ(hex(read_holding_registers(1, 0, 1)), "010300000001840A");
    EXPECT_EQ(hex(read_input_registers(1, 0, 2)), "01040000000271CB");
    EXPECT_EQ(hex(read_input_registers(1, 0x48, 2)), "010400480002F1DD");
    EXPECT_EQ(hex(read_coils(1, 0, 1)), "010100000001FDCA");
}

TEST(Encode, WriteFunctionsProduceTheReferenceFrames) {
    EXPECT_EQ(hex(write_single_coil(0x0A, 4, true)).substr(0, 12), "0A050004FF00");
    EXPECT_EQ(hex(write_single_coil_value(0x0A, 4, 0x0001)), "error: " + make_error_code(errc::invalid_coil_value).message());
    EXPECT_EQ(hex(write_single_register(1, 0, 1)), "010600000001480A");
    const bool one[] = {false};
    EXPECT_EQ(hex(write_multiple_coils(1, 0, std::span<const bool>(one))), "010F0000000101002E97");
    const std::uint16_t ivy_off[] = {0xFFFF, 0xFFFF};
    EXPECT_EQ(hex(write_multiple_registers(1, 167, ivy_off)), "011000A7000204FFFFFFFFB9A5");
    const std::uint16_t ivy_on[] = {0, 0};
    EXPECT_EQ(hex(write_multiple_registers(1, 167, ivy_on)), "011000A700020400000000B831");
}

TEST(Encode, ReferenceVectorsForSlave10) {
    // devices.md: 0A 05 00 04 00 01 4C B0 is a *raw* FC05 frame with value 0x0001 (not valid for a
    // coil write); its CRC is still right, and the encoder refuses to produce it.
    EXPECT_FALSE(write_single_coil_value(0x0A, 4, 0x0001));
    EXPECT_EQ(to_hex(std::vector<std::uint8_t>{0x0A, 0x05, 0x00, 0x04, 0x00, 0x01, 0x4C, 0xB0}), "0A05000400014CB0");
    EXPECT_EQ(crc16(std::vector<std::uint8_t>{0x0A, 0x05, 0x00, 0x04, 0x00, 0x01, 0x4C, 0xB0}), 0);
    EXPECT_EQ(hex(write_single_coil_value(0x0A, 4, 0x0000)), "0A05000400008D70");
}

TEST(Encode, SlaveMustBe1To247AndBroadcastOnlyForWrites) {
    EXPECT_EQ(read_coils(0, 0, 1).error(), errc::broadcast_read);
    EXPECT_EQ(read_coils(248, 0, 1).error(), errc::invalid_slave);
    EXPECT_EQ(write_single_coil(248, 0, true).error(), errc::invalid_slave);
    EXPECT_TRUE(write_single_coil(0, 0, true));
    EXPECT_TRUE(read_coils(247, 0, 1));
    EXPECT_TRUE(read_coils(1, 0, 1));
}

TEST(Encode, ReadQuantityLimitsAre2000BitsAnd125Registers) {
    EXPECT_TRUE(read_coils(1, 0, 2000));
    EXPECT_EQ(read_coils(1, 0, 2001).error(), errc::invalid_quantity);
    EXPECT_TRUE(read_discrete_inputs(1, 0, 2000));
    EXPECT_EQ(read_discrete_inputs(1, 0, 2001).error(), errc::invalid_quantity);
    EXPECT_TRUE(read_holding_registers(1, 0, 125));
    EXPECT_EQ(read_holding_registers(1, 0, 126).error(), errc::invalid_quantity);
    EXPECT_EQ(read_input_registers(1, 0, 126).error(), errc::invalid_quantity);
    EXPECT_EQ(read_input_registers(1, 0, 0).error(), errc::invalid_quantity);
}

TEST(Encode, WriteQuantityLimitsAre1968BitsAnd123Registers) {
    std::vector<std::uint16_t> regs(123, 7);
    EXPECT_TRUE(write_multiple_registers(1, 0, regs));
    regs.push_back(7);
    EXPECT_EQ(write_multiple_registers(1, 0, regs).error(), errc::invalid_quantity);
    EXPECT_EQ(write_multiple_registers(1, 0, {}).error(), errc::invalid_quantity);
    std::vector<std::uint16_t> coils(1968, 1);
    EXPECT_TRUE(write_multiple_coils<std::uint16_t>(1, 0, coils));
    coils.push_back(1);
    EXPECT_EQ(write_multiple_coils<std::uint16_t>(1, 0, coils).error(), errc::invalid_quantity);
}

TEST(Encode, AddressPlusQuantityMustStayWithin65535) {
    EXPECT_TRUE(read_holding_registers(1, 0xFFFF, 1));
    EXPECT_EQ(read_holding_registers(1, 0xFFFF, 2).error(), errc::address_overflow);
    EXPECT_TRUE(read_coils(1, 0xFFFF - 1999, 2000));
    EXPECT_EQ(read_coils(1, 0xFFFF - 1998, 2000).error(), errc::address_overflow);
    const std::uint16_t two[] = {1, 2};
    EXPECT_EQ(write_multiple_registers(1, 0xFFFF, two).error(), errc::address_overflow);
}

TEST(Encode, MultipleCoilsArePackedLeastSignificantBitFirst) {
    const bool coils[] = {true, false, true, true, false, false, true, true, true, false};
    auto f = write_multiple_coils(1, 0x13, std::span<const bool>(coils));
    ASSERT_TRUE(f);
    // 1 0F 0013 000A 02 CD 01 (the Modbus specification's own example)
    EXPECT_EQ(to_hex(f->bytes()).substr(0, 18), "010F0013000A02CD01");
}

TEST(Encode, DescribedRequestEncodesLikeTheDirectEncoder) {
    EXPECT_EQ(encode({1, function_code::write_single_coil, 0, 1, {coil_off}}).value(), write_single_coil(1, 0, false).value());
    EXPECT_EQ(encode({1, function_code::read_input_registers, 0x48, 2, {}}).value(), read_input_registers(1, 0x48, 2).value());
    EXPECT_EQ(encode({1, function_code::write_single_register, 0, 1, {}}).error(), errc::invalid_quantity);
    EXPECT_EQ(encode({1, static_cast<function_code>(0x2B), 0, 1, {}}).error(), errc::unsupported_function);
}

TEST(ParseRequest, IsTheInverseOfEncodeForEveryFunction) {
    std::mt19937 rng(5);
    const function_code all[] = {function_code::read_coils, function_code::read_discrete_inputs,
                                 function_code::read_holding_registers, function_code::read_input_registers,
                                 function_code::write_single_coil, function_code::write_single_register,
                                 function_code::write_multiple_coils, function_code::write_multiple_registers};
    for (int round = 0; round < 500; ++round) {
        request r;
        r.function = all[rng() % 8];
        r.slave = static_cast<std::uint8_t>(1 + rng() % 247);
        r.address = static_cast<std::uint16_t>(rng() % 60000);
        switch (r.function) {
        case function_code::write_single_coil: r.values = {rng() % 2 ? coil_on : coil_off}; break;
        case function_code::write_single_register: r.values = {static_cast<std::uint16_t>(rng())}; break;
        case function_code::write_multiple_coils:
            r.values.resize(1 + rng() % 100);
            for (auto& v : r.values) v = rng() % 2;
            break;
        case function_code::write_multiple_registers:
            r.values.resize(1 + rng() % 123);
            for (auto& v : r.values) v = static_cast<std::uint16_t>(rng());
            break;
        default: r.quantity = static_cast<std::uint16_t>(1 + rng() % 100); break;
        }
        if (!r.values.empty()) r.quantity = static_cast<std::uint16_t>(r.values.size());
        auto f = encode(r);
        ASSERT_TRUE(f) << f.error().message();
        auto back = parse_request(f->bytes());
        ASSERT_TRUE(back) << back.error().message();
        ASSERT_EQ(*back, r);
    }
}

TEST(ParseRequest, RefusesDamagedFrames) {
    auto f = write_single_coil(1, 0, false).value();
    std::vector<std::uint8_t> b(f.begin(), f.end());
    EXPECT_EQ(parse_request(std::span(b).first(7)).error(), errc::truncated);
    EXPECT_EQ(parse_request(std::span(b).first(2)).error(), errc::truncated);
    auto longer = b;
    longer.push_back(0);
    EXPECT_EQ(parse_request(longer).error(), errc::trailing_bytes);
    auto bad = b;
    bad[3] ^= 1;
    EXPECT_EQ(parse_request(bad).error(), errc::crc_mismatch);
    std::vector<std::uint8_t> unknown{0x01, 0x2B, 0x0E, 0x01, 0x00};
    auto c = crc16(unknown);
    unknown.push_back(static_cast<std::uint8_t>(c & 0xFF));
    unknown.push_back(static_cast<std::uint8_t>(c >> 8));
    EXPECT_EQ(parse_request(unknown).error(), errc::unsupported_function);
    // FC05 with a value other than FF00/0000 (CRC right): refused as a request
    std::vector<std::uint8_t> coil1{0x0A, 0x05, 0x00, 0x04, 0x00, 0x01, 0x4C, 0xB0};
    EXPECT_EQ(parse_request(coil1).error(), errc::invalid_coil_value);
    // a read to broadcast
    auto bc = read_coils(1, 0, 1).value();
    std::vector<std::uint8_t> bcb(bc.begin(), bc.end() - 2);
    bcb[0] = 0;
    auto c2 = crc16(bcb);
    bcb.push_back(static_cast<std::uint8_t>(c2 & 0xFF));
    bcb.push_back(static_cast<std::uint8_t>(c2 >> 8));
    EXPECT_EQ(parse_request(bcb).error(), errc::broadcast_read);
    std::vector<std::uint8_t> huge(300, 0);
    EXPECT_EQ(parse_request(huge).error(), errc::frame_too_long);
}

TEST(ParseRequest, ByteCountMustMatchQuantityInMultipleWrites) {
    const std::uint16_t regs[] = {1, 2};
    auto f = write_multiple_registers(1, 0, regs).value();
    std::vector<std::uint8_t> b(f.begin(), f.end() - 2);
    b[5] = 3; // quantity 3 while 4 data bytes follow (byte count 4)
    auto c = crc16(b);
    b.push_back(static_cast<std::uint8_t>(c & 0xFF));
    b.push_back(static_cast<std::uint8_t>(c >> 8));
    EXPECT_EQ(parse_request(b).error(), errc::byte_count_mismatch);
}

TEST(Frame, FromBytesRefusesMoreThan256Bytes) {
    std::vector<std::uint8_t> big(257, 1);
    EXPECT_EQ(frame::from_bytes(big).error(), errc::frame_too_long);
    std::vector<std::uint8_t> ok(256, 1);
    EXPECT_EQ(frame::from_bytes(ok).value().size(), 256u);
}

TEST(ModbusErrors, EveryCodeHasAMessageAndTheCategoryName) {
    for (int e = 1; e <= static_cast<int>(errc::invalid_request); ++e) {
        auto ec = make_error_code(static_cast<errc>(e));
        EXPECT_STREQ(ec.category().name(), "relaylink.modbus");
        EXPECT_NE(ec.message(), "unknown relaylink.modbus error") << e;
    }
}
