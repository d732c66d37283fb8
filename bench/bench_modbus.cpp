// Codec speed. Each figure is read against a baseline measured in the same run:
//  - CRC: the table-driven (slicing-by-8) CRC against the textbook bitwise loop, same buffers;
//  - relay frames: encode and decode time per frame, against a hand-written encoder (a vector and
//    the bitwise CRC, as a script would do it).
// bench/report.py turns the JSON output into ratios (docs/benchmarks.md).
#include <relaylink/device.hpp>
#include <relaylink/modbus.hpp>

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

using namespace relaylink;

namespace {
std::vector<std::uint8_t> random_buffer(std::size_t n) {
    std::mt19937 rng(1);
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) b = static_cast<std::uint8_t>(rng());
    return v;
}

void crc_bitwise(benchmark::State& s) {
    auto buf = random_buffer(static_cast<std::size_t>(s.range(0)));
    for (auto _ : s) benchmark::DoNotOptimize(modbus::crc16_bitwise(buf));
    s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations()) * s.range(0));
}
void crc_table(benchmark::State& s) {
    auto buf = random_buffer(static_cast<std::size_t>(s.range(0)));
    for (auto _ : s) benchmark::DoNotOptimize(modbus::crc16(buf));
    s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations()) * s.range(0));
}
BENCHMARK(crc_bitwise)->Arg(6)->Arg(256)->Arg(4096);
BENCHMARK(crc_table)->Arg(6)->Arg(256)->Arg(4096);

// The baseline: a relay frame the way a hand-written script builds it (a vector, the bitwise CRC).
void handwritten_relay_frame_baseline(benchmark::State& s) {
    bool on = false;
    std::uint8_t slave = 1;
    for (auto _ : s) {
        benchmark::DoNotOptimize(slave);
        std::vector<std::uint8_t> f{slave, 0x05, 0x00, 0x00, static_cast<std::uint8_t>(on ? 0xFF : 0x00), 0x00};
        const auto crc = modbus::crc16_bitwise(f);
        f.push_back(static_cast<std::uint8_t>(crc & 0xFF));
        f.push_back(static_cast<std::uint8_t>(crc >> 8));
        benchmark::DoNotOptimize(f.data());
        on = !on;
    }
}
BENCHMARK(handwritten_relay_frame_baseline);

void encode_relay_frame(benchmark::State& s) {
    bool on = false;
    std::uint8_t slave = 1;
    for (auto _ : s) {
        benchmark::DoNotOptimize(slave);
        auto f = modbus::write_single_coil(slave, 0, on);
        benchmark::DoNotOptimize(f);
        on = !on;
    }
}
BENCHMARK(encode_relay_frame);

void profile_relay_downlink(benchmark::State& s) {
    const auto p = device::eastron_sdm320c();
    bool on = false;
    for (auto _ : s) {
        auto d = p.relay(on);
        benchmark::DoNotOptimize(d);
        on = !on;
    }
}
BENCHMARK(profile_relay_downlink);

void decode_relay_echo(benchmark::State& s) {
    const auto req = modbus::parse_request(modbus::write_single_coil(1, 0, false).value().bytes()).value();
    const auto reply = modbus::write_single_coil(1, 0, false).value();
    for (auto _ : s) {
        auto r = modbus::decode_response(req, reply.bytes());
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(decode_relay_echo);

void match_reply_through_profile(benchmark::State& s) {
    const auto p = device::eastron_sdm320c();
    const auto off = p.relay(false).value();
    for (auto _ : s) {
        auto m = p.match_reply(off.payload.bytes(), 5, off.payload.bytes());
        benchmark::DoNotOptimize(m);
    }
}
BENCHMARK(match_reply_through_profile);
} // namespace

BENCHMARK_MAIN();
