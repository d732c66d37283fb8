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
// Baselines, same run, same broker: a bare Paho subscriber (QoS 1, persistent session) that only
// counts the backlog's messages (the broker-to-client ceiling on this machine), the same subscriber
// connected while the publisher sends (the live ceiling: publisher, broker and subscriber share the
// cores), and the publisher alone into a waiting session.
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
#include <deque>
#include <filesystem>
#include <optional>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

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

/// QoS 1 as fast as the broker acknowledges: at most `window` unacknowledged, the oldest waited for (not a
/// sleep: a publisher that slept when Paho refused another message ran at a fifth of this).
void publish_all(const std::string& url, const std::vector<message>& msgs, std::size_t window = 256) {
    mqtt::async_client pub(url, "bench-publisher", mqtt::create_options(MQTTVERSION_3_1_1, static_cast<int>(window) + 8));
    pub.connect(mqtt::connect_options_builder().clean_session(true).max_inflight(static_cast<int>(window) + 8).finalize())->wait();
    std::deque<mqtt::delivery_token_ptr> unacked;
    for (const auto& m : msgs) {
        if (unacked.size() >= window) {
            unacked.front()->wait();
            unacked.pop_front();
        }
        unacked.push_back(pub.publish(m.topic, m.payload.data(), m.payload.size(), 1, false));
    }
    for (auto& t : unacked) t->wait();
    pub.disconnect()->wait();
}

/// The publisher of the live runs, in a process of its own, as ChirpStack is: Paho's client threads and its
/// lock are per process, and a publisher sharing them with the subscriber halved what either could do. This
/// program again (`--publish URL N`); the caller waits for it with `finish()`.
class publisher_process {
public:
    publisher_process(const std::string& url, int n) {
        const std::string self = std::filesystem::read_symlink("/proc/self/exe");
        const std::string count = std::to_string(n);
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::execl(self.c_str(), self.c_str(), "--publish", url.c_str(), count.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
    }
    publisher_process(const publisher_process&) = delete;
    publisher_process& operator=(const publisher_process&) = delete;
    ~publisher_process() {
        if (pid_ > 0) finish();
    }
    /// Waits for it; throws when it failed.
    void finish() {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("the publisher process failed");
    }

private:
    pid_t pid_ = -1;
};

/// The session must exist at the broker before messages can wait in it.
void create_session(const std::string& url, const std::string& id) {
    mqtt::async_client c(url, id);
    c.connect(mqtt::connect_options_builder().clean_session(false).finalize())->wait();
    c.subscribe("application/+/device/+/event/+", 1)->wait();
    c.disconnect()->wait();
}

struct bare_result {
    double publisher = 0; ///< the publisher alone, into the broker (the session waits for the subscriber)
    double subscriber = 0;
};
bare_result bare_subscriber(const std::string& url, const std::vector<message>& msgs) {
    const std::string id = "bench-bare";
    create_session(url, id);
    const auto p0 = clock_type::now();
    publish_all(url, msgs);
    const double publisher = static_cast<double>(msgs.size()) / std::chrono::duration<double>(clock_type::now() - p0).count();
    std::atomic<std::size_t> got{0};
    mqtt::async_client c(url, id);
    c.set_message_callback([&](mqtt::const_message_ptr) { ++got; });
    const auto t0 = clock_type::now();
    c.connect(mqtt::connect_options_builder().clean_session(false).finalize())->wait();
    while (got < msgs.size()) std::this_thread::sleep_for(std::chrono::microseconds(200));
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    c.disconnect()->wait();
    return {publisher, static_cast<double>(msgs.size()) / s};
}

/// The live ceiling: a bare subscriber, connected, counting while the publisher sends (time from the first
/// publish to the last message received).
double bare_live(const std::string& url, const std::vector<message>& msgs, int n, int rep) {
    const std::string id = "bench-bare-live-" + std::to_string(rep);
    std::atomic<std::size_t> got{0};
    mqtt::async_client c(url, id);
    c.set_message_callback([&](mqtt::const_message_ptr) { ++got; });
    c.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    c.subscribe("application/+/device/+/event/+", 1)->wait();
    const auto t0 = clock_type::now();
    publisher_process pub(url, n);
    while (got < msgs.size()) std::this_thread::sleep_for(std::chrono::microseconds(200));
    pub.finish();
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
    }
    std::optional<publisher_process> pub;
    if (!backlog) {
        src.start();
        src.wait_connected(std::chrono::seconds(10));
        t0 = clock_type::now();
        pub.emplace(url, n);
    }
    while (src.stats().delivered + src.stats().malformed < msgs.size() || svc.pending_events() > 0)
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (pub) pub->finish();
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
    if (argc == 4 && std::string(argv[1]) == "--publish") { // the live runs' publisher (publisher_process)
        try {
            publish_all(argv[2], messages_for(std::stoi(argv[3])));
            return 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "bench_ingest --publish: %s\n", e.what());
            return 2;
        }
    }
    const char* usage = "bench_ingest [commands=10000] [repetitions=3] [broker max_inflight_messages=20]";
    const int n = static_cast<int>(relaylink::bench::number_arg(argc, argv, 1, 10000, 1, 10000000, "commands", usage));
    const int reps = static_cast<int>(relaylink::bench::number_arg(argc, argv, 2, 3, 1, 1000, "repetitions", usage));
    test::mosquitto_options bo;
    bo.persistence = false; // the broker's periodic save of 30,000 queued messages would dominate
    if (argc > 3) bo.max_inflight = static_cast<int>(relaylink::bench::number_arg(argc, argv, 3, 20, 0, 65535, "max_inflight_messages", usage));
    test::mosquitto_broker broker(bo);
    const auto msgs = messages_for(n);
    std::vector<double> pub, bare, bare_l, parsed, backlog, live;
    bool ok = true;
    for (int r = 0; r < reps; ++r) {
        const auto br = bare_subscriber(broker.url(), msgs);
        pub.push_back(br.publisher);
        bare.push_back(br.subscriber);
        bare_l.push_back(bare_live(broker.url(), msgs, n, r));
        parsed.push_back(source_only(broker.url(), msgs, r));
        const auto b = through_relaylink(broker.url(), n, msgs, true, r);
        const auto l = through_relaylink(broker.url(), n, msgs, false, r);
        backlog.push_back(b.events_per_s);
        live.push_back(l.events_per_s);
        ok = ok && b.confirmed == static_cast<std::size_t>(n) && l.confirmed == static_cast<std::size_t>(n) && b.malformed + l.malformed == 0;
        std::printf("  run %d: publisher %.0f/s, bare %.0f/s, bare live %.0f/s, source only %.0f/s, backlog %.0f/s (%zu confirmed), live %.0f/s (%zu confirmed)\n", r + 1,
                    pub.back(), bare.back(), bare_l.back(), parsed.back(), b.events_per_s, b.confirmed, l.events_per_s, l.confirmed);
    }
    const double mb = median(bare), mbl = median(bare_l), mk = median(backlog), ml = median(live);
    std::printf("\nbroker -> committed transition, %d commands, %zu events, medians of %d runs (mosquitto on loopback, SQLite WAL):\n", n,
                msgs.size(), reps);
    std::printf("  bare Paho subscriber, counting only (ceiling): %9.0f events/s\n", mb);
    std::printf("  relaylink's mqtt_source alone (receive, parse): %9.0f events/s  (%.2fx the ceiling)\n", median(parsed), median(parsed) / mb);
    std::printf("  relaylink, backlog waiting in the session:     %9.0f events/s  (%.2fx the ceiling; goal 10,000/s: %s)\n", mk, mk / mb,
                mk >= 10000 ? "met" : "NOT met");
    std::printf("  the publisher alone, into the broker:           %9.0f events/s\n", median(pub));
    std::printf("  bare subscriber, live publisher (its ceiling):  %9.0f events/s\n", mbl);
    std::printf("  relaylink, live publisher:                     %9.0f events/s  (%.2fx the live ceiling; goal 10,000/s: %s)\n", ml, ml / mbl,
                ml >= 10000 ? "met" : "NOT met");
    if (!ok) std::printf("ERROR: not every command was confirmed\n");
    return ok ? 0 : 1;
}
