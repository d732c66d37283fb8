// The reply decoder: every normal reply, every exception code, every decode error, round trips.
#include <relaylink/encoding.hpp>
#include <relaylink/modbus.hpp>

#include <gtest/gtest.h>

#include <random>

using namespace relaylink::modbus;

namespace {
std::vector<std::uint8_t> hexb(std::string_view s) { return relaylink::from_hex(s).value(); }
std::vector<std::uint8_t> with_crc(std::vector<std::uint8_t> b) {
    auto c = crc16(b);
    b.push_back(static_cast<std::uint8_t>(c & 0xFF));
    b.push_back(static_cast<std::uint8_t>(c >> 8));
    return b;
}
request req(const relaylink::result<frame>& f) { return parse_request(f.value().bytes()).value(); }
} // namespace

TEST(DecodeResponse, WriteSingleCoilReplyIsTheEcho) {
    auto off = write_single_coil(1, 0, false).value();
    auto r = decode_response(off.bytes(), off.bytes());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->ok());
    EXPECT_EQ(r->function, function_code::write_single_coil);
    EXPECT_EQ(r->values, std::vector<std::uint16_t>{coil_off});
}

TEST(DecodeResponse, AnEchoOfTheOtherRelayCommandIsAnEchoMismatch) {
    auto off = write_single_coil(1, 0, false).value();
    auto on = write_single_coil(1, 0, true).value();
    EXPECT_EQ(decode_response(off.bytes(), on.bytes()).error(), errc::echo_mismatch);
}

TEST(DecodeResponse, ReadCoilReplyOpenAndClosed) {
    auto rq = read_coils(1, 0, 1);
    auto open = decode_response(req(rq), hexb("010101005188"));
    ASSERT_TRUE(open);
    EXPECT_EQ(open->values, std::vector<std::uint16_t>{0});
    auto closed = decode_response(req(rq), hexb("010101019048"));
    ASSERT_TRUE(closed);
    EXPECT_EQ(closed->values, std::vector<std::uint16_t>{1});
}

TEST(DecodeResponse, ReadRegistersGivesTheRegisters) {
    auto rq = req(read_input_registers(1, 0, 2));
    auto reply = with_crc({0x01, 0x04, 0x04, 0x43, 0x66, 0x00, 0x00});
    auto r = decode_response(rq, reply);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->values, (std::vector<std::uint16_t>{0x4366, 0x0000}));
    EXPECT_FLOAT_EQ(to_float32(r->values).value(), 230.0f);
}

TEST(DecodeResponse, WriteMultipleRegistersReplyEchoesAddressAndQuantity) {
    const std::uint16_t v[] = {0xFFFF, 0xFFFF};
    auto rq = req(write_multiple_registers(1, 167, v));
    auto r = decode_response(rq, with_crc({0x01, 0x10, 0x00, 0xA7, 0x00, 0x02}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->address, 167);
    EXPECT_EQ(r->quantity, 2);
    EXPECT_EQ(decode_response(rq, with_crc({0x01, 0x10, 0x00, 0xA7, 0x00, 0x01})).error(), errc::echo_mismatch);
    EXPECT_EQ(decode_response(rq, with_crc({0x01, 0x10, 0x00, 0xA8, 0x00, 0x02})).error(), errc::echo_mismatch);
}

TEST(DecodeResponse, ExceptionReplyFromTheReference) {
    auto off = write_single_coil(1, 0, false).value();
    auto r = decode_response(off.bytes(), hexb("018502C351"));
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->exception);
    EXPECT_EQ(*r->exception, exception_code::illegal_data_address);
    EXPECT_EQ(to_string(*r->exception), "illegal_data_address");
    EXPECT_EQ(r->exception_error(), exception_code::illegal_data_address);
    EXPECT_FALSE(r->ok());
}

TEST(DecodeResponse, EveryDefinedExceptionCodeDecodesWithItsName) {
    const std::pair<std::uint8_t, std::string_view> codes[] = {
        {0x01, "illegal_function"}, {0x02, "illegal_data_address"}, {0x03, "illegal_data_value"},
        {0x04, "server_device_failure"}, {0x05, "acknowledge"}, {0x06, "server_device_busy"},
        {0x07, "negative_acknowledge"}, {0x08, "memory_parity_error"}, {0x0A, "gateway_path_unavailable"},
        {0x0B, "gateway_target_failed_to_respond"}};
    auto rq = req(read_holding_registers(3, 0, 1));
    for (auto [code, name] : codes) {
        auto r = decode_response(rq, with_crc({0x03, 0x83, code}));
        ASSERT_TRUE(r) << int(code);
        ASSERT_TRUE(r->exception);
        EXPECT_EQ(to_string(*r->exception), name);
        EXPECT_EQ(encode_exception(3, function_code::read_holding_registers, *r->exception).bytes().size(), 5u);
        EXPECT_NE(make_error_code(*r->exception).message().find(name), std::string::npos);
        EXPECT_STREQ(make_error_code(*r->exception).category().name(), "relaylink.modbus.exception");
    }
}

TEST(DecodeResponse, UndefinedExceptionCodesAreRefused) {
    auto rq = req(read_holding_registers(1, 0, 1));
    for (int code : {0x00, 0x09, 0x0C, 0x7F, 0xFF})
        EXPECT_EQ(decode_response(rq, with_crc({0x01, 0x83, static_cast<std::uint8_t>(code)})).error(), errc::invalid_exception_code) << code;
}

TEST(DecodeResponse, ShortExceptionReplyIsTruncatedNotAHang) {
    auto rq = req(read_holding_registers(1, 0, 1));
    EXPECT_EQ(decode_response(rq, hexb("018302")).error(), errc::truncated);
    EXPECT_EQ(decode_response(rq, hexb("0183")).error(), errc::truncated);
    EXPECT_EQ(decode_response(rq, hexb("01")).error(), errc::truncated);
    EXPECT_EQ(decode_response(rq, std::vector<std::uint8_t>{}).error(), errc::truncated);
}

TEST(DecodeResponse, EachDecodeError) {
    auto rq = req(read_holding_registers(1, 0, 2));
    auto good = with_crc({0x01, 0x03, 0x04, 0x00, 0x01, 0x00, 0x02});
    ASSERT_TRUE(decode_response(rq, good));

    auto bad_crc = good;
    bad_crc.back() ^= 0xFF;
    EXPECT_EQ(decode_response(rq, bad_crc).error(), errc::crc_mismatch);

    EXPECT_EQ(decode_response(rq, std::span(good).first(good.size() - 1)).error(), errc::truncated);
    auto longer = good;
    longer.push_back(0);
    EXPECT_EQ(decode_response(rq, longer).error(), errc::trailing_bytes);

    EXPECT_EQ(decode_response(rq, with_crc({0x02, 0x03, 0x04, 0x00, 0x01, 0x00, 0x02})).error(), errc::wrong_slave);
    EXPECT_EQ(decode_response(rq, with_crc({0x01, 0x04, 0x04, 0x00, 0x01, 0x00, 0x02})).error(), errc::unexpected_function);
    EXPECT_EQ(decode_response(rq, with_crc({0x01, 0x84, 0x02})).error(), errc::unexpected_function);
    EXPECT_EQ(decode_response(rq, with_crc({0x01, 0x03, 0x02, 0x00, 0x01})).error(), errc::byte_count_mismatch);

    std::vector<std::uint8_t> huge(257, 0);
    EXPECT_EQ(decode_response(rq, huge).error(), errc::frame_too_long);

    auto bcast = write_single_coil(0, 0, true).value();
    EXPECT_EQ(decode_response(bcast.bytes(), bcast.bytes()).error(), errc::no_reply_expected);

    std::vector<std::uint8_t> not_a_request{0x01, 0x02};
    EXPECT_EQ(decode_response(not_a_request, good).error(), errc::invalid_request);
}

TEST(DecodeResponse, RoundTripEncodeResponseThenDecodeForEveryFunction) {
    std::mt19937 rng(11);
    for (int round = 0; round < 400; ++round) {
        const auto q = static_cast<std::uint16_t>(1 + rng() % 120);
        std::vector<std::uint16_t> regs(q), bits(q);
        for (auto& v : regs) v = static_cast<std::uint16_t>(rng());
        for (auto& v : bits) v = rng() % 2;
        const auto slave = static_cast<std::uint8_t>(1 + rng() % 247);
        const auto addr = static_cast<std::uint16_t>(rng() % 1000);
        std::vector<std::pair<request, std::vector<std::uint16_t>>> cases = {
            {req(read_coils(slave, addr, q)), bits},
            {req(read_discrete_inputs(slave, addr, q)), bits},
            {req(read_holding_registers(slave, addr, q)), regs},
            {req(read_input_registers(slave, addr, q)), regs},
            {req(write_single_coil(slave, addr, rng() % 2)), {}},
            {req(write_single_register(slave, addr, regs[0])), {}},
            {req(write_multiple_coils<std::uint16_t>(slave, addr, bits)), {}},
            {req(write_multiple_registers(slave, addr, std::span(regs).first(std::min<std::size_t>(q, 123)))), {}},
        };
        for (auto& [rq, values] : cases) {
            auto reply = encode_response(rq, values);
            ASSERT_TRUE(reply) << to_string(rq.function);
            ASSERT_EQ(reply->size(), expected_reply_size(rq));
            ASSERT_EQ(crc16(reply->bytes()), 0);
            auto r = decode_response(rq, reply->bytes());
            ASSERT_TRUE(r) << to_string(rq.function) << ": " << r.error().message();
            if (is_read(rq.function)) {
                ASSERT_EQ(r->values, values);
            } else if (rq.function == function_code::write_single_coil || rq.function == function_code::write_single_register) {
                ASSERT_EQ(r->values, rq.values);
            }
            ASSERT_EQ(r->address, rq.address);
        }
    }
}

TEST(DecodeResponse, SingleBitFlipsNeverDecodeAsAValidReply) {
    auto rq = req(read_input_registers(1, 0x48, 2));
    auto good = encode_response(rq, std::vector<std::uint16_t>{0x4120, 0x0000}).value();
    std::vector<std::uint8_t> b(good.begin(), good.end());
    for (std::size_t i = 0; i < b.size() * 8; ++i) {
        auto c = b;
        c[i / 8] ^= static_cast<std::uint8_t>(1U << (i % 8));
        auto r = decode_response(rq, c);
        const bool still_valid = r && r->values == std::vector<std::uint16_t>{0x4120, 0x0000};
        EXPECT_FALSE(still_valid) << "bit " << i;
    }
}

TEST(DecodeResponse, NeverReadsOutOfBoundsOnRandomInput) {
    // Random garbage of every length: any outcome is fine as long as it is a value (sanitizers watch).
    std::mt19937 rng(1);
    auto rq = req(read_holding_registers(1, 0, 3));
    for (int i = 0; i < 20000; ++i) {
        std::vector<std::uint8_t> b(rng() % 20);
        for (auto& x : b) x = static_cast<std::uint8_t>(rng());
        if (!b.empty() && rng() % 2) b[0] = 1;
        if (b.size() > 1 && rng() % 2) b[1] = 3;
        (void)decode_response(rq, b);
    }
    SUCCEED();
}

TEST(ExceptionCodes, ToExceptionCodeAcceptsOnlyDefinedCodes) {
    int defined = 0;
    for (int raw = 0; raw < 256; ++raw)
        if (to_exception_code(static_cast<std::uint8_t>(raw))) ++defined;
    EXPECT_EQ(defined, 10);
}
