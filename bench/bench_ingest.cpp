// Event intake end to end: ChirpStack's events published to a real mosquitto broker (started by the
// benchmark on a free loopback port), received by relaylink's mqtt_source (QoS 1, persistent
// session), parsed, correlated, applied by the relay service and committed to SQLite (WAL,
// synchronous=NORMAL). N disconnects are queued beforehand; their 3N events (txack, ack, the
// meter's Modbus echo in an uplink) each make a transition with its audit row.
//
//   backlog: the 3N messages wait in the broker (relaylink was away), then relaylink connects:
//            time from connecting to the last commit.
//   live:    relaylink is connected while a publisher sends the 3N messages as fast as QoS 1
//            allows: time from the first publish to the last commit.
// Baseline, same run, same broker: a bare Paho subscriber (QoS 1, persistent session) that only
// counts the backlog's messages: the broker-to-client ceiling on this machine.
//
// usage: bench_ingest [commands=10000] [repetitions=3] [broker max_inflight_messages=20]
#include "args.hpp"
#include "service_fixture.hpp"

#include "../tests/support/mosquitto.hpp"

#include <relaylink/ingest/mqtt_source.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <mqtt/async_client.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

using namespace relaylink;
using command::state;
using clock_type = std::chrono::steady_clock;

namespace {

std::string info(const std::string& eui) {
    return R"({"tenantId":"52f14cd4-c6f1-4fbd-8f87-4025e1d49242","tenantName":"T","applicationId":"17c82e96-be03-4f38-aef3-f83d48582d97","applicationName":"meters","deviceProfileId":"14855bf7-d10d-4aee-b618-ebfcb64dc7ad","deviceProfileName":"UC100","deviceName":"m","devEui":")" +
           eui + R"(","deviceClassEnabled":"CLASS_A","tags":{}})";
}

struct message {
    std::string topic, payload;
};

/// The 3N events as ChirpStack's MQTT integration publishes them.
std::vector<message> messages_for(int n) {
    std::vector<message> m;
    m.reserve(static_cast<std::size_t>(3 * n));
    const std::string t = R"("time":"2026-11-27T10:00:00.123456789+00:00")";
    auto topic = [](const std::string& eui, const char* type) { return "application/app/device/" + eui + "/event/" + type; };
    for (int i = 0; i < n; ++i) {
        const auto e = bench::eui(i);
        m.push_back({topic(e, "txack"), R"({"downlinkId":)" + std::to_string(i + 1) + "," + t + R"(,"deviceInfo":)" + info(e) +
                                            R"(,"queueItemId":"q-)" + std::to_string(i) +
                                            R"(","fCntDown":1,"gatewayId":"0016c001f153a14c","txInfo":{"frequency":867100000}})"});
    }
    for (int i = 0; i < n; ++i) {
        const auto e = bench::eui(i);
        m.push_back({topic(e, "ack"), R"({"deduplicationId":"a-)" + std::to_string(i) + R"(",)" + t + R"(,"deviceInfo":)" + info(e) +
                                          R"(,"queueItemId":"q-)" + std::to_string(i) + R"(","acknowledged":true,"fCntDown":1})"});
    }
    for (int i = 0; i < n; ++i) {
        const auto e = bench::eui(i);
        m.push_back({topic(e, "up"), R"({"deduplicationId":"u-)" + std::to_string(i) + R"(",)" + t + R"(,"deviceInfo":)" + info(e) +
                                         R"(,"devAddr":"01020304","adr":true,"dr":5,"fCnt":2,"fPort":5,"confirmed":false,"data":"AQUAAAAAzco=","rxInfo":[],"txInfo":{"frequency":868100000},"regionConfigId":"eu868"})"});
    }
    return m;
}

void publish_all(const std::string& url, const std::vector<message>& msgs) {
    mqtt::async_client pub(url, "bench-publisher", mqtt::create_options(MQTTVERSION_3_1_1));
    pub.connect(mqtt::connect_options_builder().clean_session(true).max_inflight(2000).finalize())->wait();
    mqtt::delivery_token_ptr last;
    for (const auto& m : msgs) {
        for (;;) {
            try {
                last = pub.publish(m.topic, m.payload.data(), m.payload.size(), 1, false);
                break;
            } catch (const mqtt::exception&) { // too many in flight: let the broker catch up
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        }
    }
    if (last) last->wait();
    pub.disconnect()->wait();
}

/// The session must exist at the broker before messages can wait in it.
void create_session(const std::string& url, const std::string& id) {
    mqtt::async_client c(url, id);
    c.connect(mqtt::connect_options_builder().clean_session(false).finalize())->wait();
    c.subscribe("application/+/device/+/event/+", 1)->wait();
    c.disconnect()->wait();
}

double bare_subscriber(const std::string& url, const std::vector<message>& msgs) {
    const std::string id = "bench-bare";
    create_session(url, id);
    publish_all(url, msgs);
    std::atomic<std::size_t> got{0};
    mqtt::async_client c(url, id);
    c.set_message_callback([&](mqtt::const_message_ptr) { ++got; });
    const auto t0 = clock_type::now();
    c.connect(mqtt::connect_options_builder().clean_session(false).finalize())->wait();
    while (got < msgs.size()) std::this_thread::sleep_for(std::chrono::microseconds(200));
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    c.disconnect()->wait();
    return static_cast<double>(msgs.size()) / s;
}

/// relaylink's source alone: receive and parse, no service.
double source_only(const std::string& url, const std::vector<message>& msgs, int rep) {
    ingest::mqtt_config mc;
    mc.url = url;
    mc.client_id = "bench-source-" + std::to_string(rep);
    create_session(url, mc.client_id);
    publish_all(url, msgs);
    ingest::mqtt_source src(mc, [](chirpstack::event) {});
    const auto t0 = clock_type::now();
    src.start();
    while (src.stats().delivered + src.stats().malformed < msgs.size()) std::this_thread::sleep_for(std::chrono::microseconds(200));
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    src.stop();
    return static_cast<double>(msgs.size()) / s;
}

struct run_result {
    double events_per_s = 0;
    std::size_t confirmed = 0;
    std::uint64_t malformed = 0;
};

run_result through_relaylink(const std::string& url, int n, const std::vector<message>& msgs, bool backlog, int rep) {
    const auto path = bench::fresh("ingest");
    auto db = store::open_sqlite(path);
    bench::seed(*db, n);
    bench::offline_service o(*db);
    auto& io = o.io;
    auto& svc = o.svc;
    auto work = boost::asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });

    ingest::mqtt_config mc;
    mc.url = url;
    mc.client_id = "bench-relaylink-" + std::string(backlog ? "backlog-" : "live-") + std::to_string(rep);
    ingest::mqtt_source src(mc, ingest::to_service(svc, 20000));
    clock_type::time_point t0;
    if (backlog) {
        create_session(url, mc.client_id);
        publish_all(url, msgs);
        t0 = clock_type::now();
        src.start();
    } else {
        src.start();
        src.wait_connected(std::chrono::seconds(10));
        t0 = clock_type::now();
        publish_all(url, msgs);
    }
    while (src.stats().delivered + src.stats().malformed < msgs.size() || svc.pending_events() > 0)
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    src.stop();
    run_result r{static_cast<double>(msgs.size()) / s, db->counts()[state::confirmed], src.stats().malformed};
    work.reset();
    io.stop();
    runner.join();
    return r;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
    const char* usage = "bench_ingest [commands=10000] [repetitions=3] [broker max_inflight_messages=20]";
    const int n = static_cast<int>(relaylink::bench::number_arg(argc, argv, 1, 10000, 1, 10000000, "commands", usage));
    const int reps = static_cast<int>(relaylink::bench::number_arg(argc, argv, 2, 3, 1, 1000, "repetitions", usage));
    test::mosquitto_options bo;
    bo.persistence = false; // the broker's periodic save of 30,000 queued messages would dominate
    if (argc > 3) bo.max_inflight = static_cast<int>(relaylink::bench::number_arg(argc, argv, 3, 20, 0, 65535, "max_inflight_messages", usage));
    test::mosquitto_broker broker(bo);
    const auto msgs = messages_for(n);
    std::vector<double> bare, parsed, backlog, live;
    bool ok = true;
    for (int r = 0; r < reps; ++r) {
        bare.push_back(bare_subscriber(broker.url(), msgs));
        parsed.push_back(source_only(broker.url(), msgs, r));
        const auto b = through_relaylink(broker.url(), n, msgs, true, r);
        const auto l = through_relaylink(broker.url(), n, msgs, false, r);
        backlog.push_back(b.events_per_s);
        live.push_back(l.events_per_s);
        ok = ok && b.confirmed == static_cast<std::size_t>(n) && l.confirmed == static_cast<std::size_t>(n) && b.malformed + l.malformed == 0;
        std::printf("  run %d: bare %.0f/s, source only %.0f/s, backlog %.0f/s (%zu confirmed), live %.0f/s (%zu confirmed)\n", r + 1, bare.back(), parsed.back(),
                    b.events_per_s, b.confirmed, l.events_per_s, l.confirmed);
    }
    const double mb = median(bare), mk = median(backlog), ml = median(live);
    std::printf("\nbroker -> committed transition, %d commands, %zu events, medians of %d runs (mosquitto on loopback, SQLite WAL):\n", n,
                msgs.size(), reps);
    std::printf("  bare Paho subscriber, counting only (ceiling): %9.0f events/s\n", mb);
    std::printf("  relaylink's mqtt_source alone (receive, parse): %9.0f events/s  (%.2fx the ceiling)\n", median(parsed), median(parsed) / mb);
    std::printf("  relaylink, backlog waiting in the session:     %9.0f events/s  (%.2fx the ceiling; goal 10,000/s: %s)\n", mk, mk / mb,
                mk >= 10000 ? "met" : "NOT met");
    std::printf("  relaylink, live publisher:                     %9.0f events/s  (%.2fx the ceiling; goal 10,000/s: %s)\n", ml, ml / mb,
                ml >= 10000 ? "met" : "NOT met");
    if (!ok) std::printf("ERROR: not every command was confirmed\n");
    return ok ? 0 : 1;
}
