// Integration-event parsing speed: relaylink's typed parse of an `up` event against the cost of
// only parsing the same bytes into a Boost.JSON DOM (a floor no JSON-based parser can beat),
// measured in the same run. Goal: >= 200,000 up events/s on one core.
#include <relaylink/chirpstack/event.hpp>

#include <benchmark/benchmark.h>

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

void parse_topic(benchmark::State& s) {
    for (auto _ : s) {
        auto t = relaylink::chirpstack::parse_topic("application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up");
        benchmark::DoNotOptimize(t);
    }
    s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations()));
}
BENCHMARK(parse_topic);
} // namespace

BENCHMARK_MAIN();
