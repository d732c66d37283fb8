// Integration-event parsing speed: relaylink's typed parse of an `up` event (its fast path: one pass, no DOM)
// against its DOM path and against only parsing the same bytes into a Boost.JSON DOM (the floor of any DOM-based
// parser), measured in the same run; and, after Google Benchmark's table, against what a Python portal does with
// an event (json.loads, then base64 of the data), timed in interleaved repetitions in the same run.
// Goals: >= 200,000 up events/s on one core; >= 5x Python's json.loads + base64.
//   bench_events [google benchmark flags] [--python-reps=N]   (N = 0: no Python comparison; default 5)
#include "args.hpp"

#include <relaylink/chirpstack/event.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {
const std::string up = R"({"deduplicationId":"3ac7e3c4-4401-4b8d-9386-a5c902f9202d","time":"2026-07-18T09:34:15.775023242+00:00",
 "deviceInfo":{"tenantId":"52f14cd4-c6f1-4fbd-8f87-4025e1d49242","tenantName":"ChirpStack","applicationId":"17c82e96-be03-4f38-aef3-f83d48582d97","applicationName":"App",
  "deviceProfileId":"14855bf7-d10d-4aee-b618-ebfcb64dc7ad","deviceProfileName":"DP","deviceName":"Dev","devEui":"0101010101010101",
  "deviceClassEnabled":"CLASS_A","tags":{"key":"value"}},
 "devAddr":"00189440","adr":true,"dr":1,"fCnt":10,"fPort":5,"confirmed":false,"data":"AQUAAAAAzco=",
 "rxInfo":[{"gatewayId":"0016c001f153a14c","uplinkId":4217106255,"rssi":-36,"snr":10.5,"context":"E3OWOQ==",
  "metadata":{"region_config_id":"eu868","region_common_name":"EU868"},"crcStatus":"CRC_OK"}],
 "txInfo":{"frequency":867100000,"modulation":{"lora":{"bandwidth":125000,"spreadingFactor":11,"codeRate":"CR_4_5"}}},
 "regionConfigId":"eu868"})";

void json_dom_only_baseline(benchmark::State& s) {
    for (auto _ : s) {
        auto v = boost::json::parse(up);
        benchmark::DoNotOptimize(v);
    }
    s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations()));
    s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * up.size()));
}
BENCHMARK(json_dom_only_baseline);

void parse_up_event(benchmark::State& s) {
    relaylink::chirpstack::event_parser p;
    for (auto _ : s) {
        auto e = p.parse("up", up);
        benchmark::DoNotOptimize(e);
    }
    s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations()));
    s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * up.size()));
}
BENCHMARK(parse_up_event);

void parse_up_event_dom_path(benchmark::State& s) {
    relaylink::chirpstack::event_parser p;
    for (auto _ : s) {
        auto e = p.parse_dom("up", up);
        benchmark::DoNotOptimize(e);
    }
    s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations()));
    s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * up.size()));
}
BENCHMARK(parse_up_event_dom_path);

void parse_topic(benchmark::State& s) {
    for (auto _ : s) {
        auto t = relaylink::chirpstack::parse_topic("application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up");
        benchmark::DoNotOptimize(t);
    }
    s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations()));
}
BENCHMARK(parse_topic);
/// relaylink's up events per second over about `seconds`.
double relaylink_rate(double seconds) {
    relaylink::chirpstack::event_parser p;
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    std::size_t n = 0;
    while (clock::now() - start < std::chrono::duration<double>(seconds)) {
        for (int i = 0; i < 1000; ++i) {
            auto e = p.parse("up", up);
            benchmark::DoNotOptimize(e);
        }
        n += 1000;
    }
    if (p.dom_parses() != 0) {
        std::fprintf(stderr, "bench_events: the up event went to the DOM path\n");
        std::exit(1);
    }
    return static_cast<double>(n) / std::chrono::duration<double>(clock::now() - start).count();
}

/// What a Python portal does with the same event, per second (python3 on PATH), or a negative value.
double python_rate(const std::string& payload_file, double seconds) {
    const std::string cmd = "python3 -c 'import base64, json, sys, time\n"
                            "s = open(sys.argv[1]).read(); d = float(sys.argv[2]); n = 0; t = time.perf_counter()\n"
                            "while time.perf_counter() - t < d:\n"
                            "    for _ in range(200): base64.b64decode(json.loads(s)[\"data\"])\n"
                            "    n += 200\n"
                            "print(n / (time.perf_counter() - t))' " +
                            payload_file + " " + std::to_string(seconds);
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f) return -1;
    double rate = -1;
    if (std::fscanf(f, "%lf", &rate) != 1) rate = -1;
    return ::pclose(f) == 0 ? rate : -1;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}
} // namespace

int main(int argc, char** argv) {
    int reps = 5;
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.rfind("--python-reps=", 0) == 0) {
            char* value[] = {argv[0], argv[i] + 14};
            reps = static_cast<int>(relaylink::bench::number_arg(2, value, 1, 5, 0, 1000, "--python-reps",
                                                                 "bench_events [google benchmark flags] [--python-reps=N]"));
        } else
            rest.push_back(argv[i]);
    }
    int n = static_cast<int>(rest.size());
    benchmark::Initialize(&n, rest.data());
    if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (reps == 0) return 0;

    char path[] = "/tmp/bench_events_XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) return std::perror("bench_events: mkstemp"), 1;
    ::close(fd);
    std::ofstream(path) << up;
    std::vector<double> ours, python;
    for (int r = 0; r < reps; ++r) { // interleaved: the machine's drift touches both alike
        ours.push_back(relaylink_rate(0.3));
        python.push_back(python_rate(path, 0.3));
        if (python.back() < 0) break;
    }
    ::unlink(path);
    if (python.back() < 0) {
        std::printf("Python json.loads + base64: n/a (python3 did not run)\n");
        return 0;
    }
    const double a = median(ours), b = median(python);
    std::printf("up event, medians of %d interleaved repetitions: relaylink %.0f/s, Python json.loads + base64 %.0f/s: "
                "%.2fx (goal >= 5x)\n",
                reps, a, b, a / b);
    return 0;
}
