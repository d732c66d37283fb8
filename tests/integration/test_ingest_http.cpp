// ChirpStack's HTTP integration: the simulator POSTs its events to an http_integration feeding the
// relay service; every refusal is checked with a plain HTTP client over loopback.
#include "../support/event_json.hpp"
#include "../support/faulty_store.hpp"
#include "../support/ports.hpp"
#include "../support/service_rig.hpp"

#include <relaylink/ingest/http_integration.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

using namespace relaylink;
using relaylink::test::req;
using relaylink::test::up_json;
using relaylink::test::service_rig;
using command::state;
using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

namespace {

const std::string A = "0101010101010101";
const std::string B = "0202020202020202";

struct answer {
    int status = 0;
    std::string body;
    std::string allow;
    bool keep_alive = false;
    std::string retry_after;
};

struct post_options {
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    http::verb verb = http::verb::post;
    bool chunked = false;
};

answer send(unsigned short port, const std::string& target, const std::string& body, const post_options& o = {}) {
    asio::io_context io;
    beast::tcp_stream s(io);
    s.expires_after(std::chrono::seconds(10)); // a server that never answers fails the test, not the run
    s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> r{o.verb, target, 11};
    r.set(http::field::host, "127.0.0.1");
    if (!o.content_type.empty()) r.set(http::field::content_type, o.content_type);
    for (const auto& [k, v] : o.headers) r.set(k, v);
    r.body() = body;
    if (o.chunked) r.chunked(true);
    else r.prepare_payload();
    beast::error_code ec;
    http::write(s, r, ec); // a server that refuses early may close before the whole body is written
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    answer a{static_cast<int>(res.result_int()), res.body(), std::string(res[http::field::allow]), res.keep_alive(),
             std::string(res[http::field::retry_after])};
    return a;
}


/// A server on its own io_context and thread.
struct server {
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::mutex mu;
    std::vector<chirpstack::event> got;
    std::unique_ptr<ingest::http_integration> http;
    std::thread thread;
    explicit server(ingest::http_integration_config cfg, ingest::event_sink sink = {}) {
        if (!sink)
            sink = [this](chirpstack::event e) {
                std::lock_guard lock(mu);
                got.push_back(std::move(e));
            };
        http = std::make_unique<ingest::http_integration>(io.get_executor(), std::move(cfg), std::move(sink));
        http->start();
        thread = std::thread([this] { io.run(); });
    }
    ~server() {
        http->stop();
        work.reset();
        thread.join();
    }
    std::size_t count() {
        std::lock_guard lock(mu);
        return got.size();
    }
};

} // namespace

TEST(IngestHttp, TheSimulatorsPostsDriveADisconnectToConfirmed) {
    // The integration listens on the rig's own io_context, as an application would run it.
    auto simcfg = test::manual_sim();
    ingest::http_integration_config hc;
    hc.secret = "integration-secret";
    hc.path = "/chirpstack";
    hc.port = test::free_port(); // the simulator must know the port before the integration listens
    simcfg.integration_url = "http://127.0.0.1:" + std::to_string(hc.port) + "/chirpstack";
    simcfg.integration_headers = {{"X-Relaylink-Secret", "integration-secret"}};
    service_rig r(store::make_memory_store(), test::quiet_config(), device::profile_registry::with_builtins(), simcfg, false);
    ingest::http_integration in(r.io.get_executor(), hc, ingest::to_service(*r.svc));
    in.start();
    EXPECT_EQ(in.url(), "http://127.0.0.1:" + std::to_string(hc.port) + "/chirpstack");
    r.add(A);
    const auto c = r.svc->disconnect(req(A));
    r.settle();
    auto through = [&] {
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (in.stats().delivered < r.sim.events_emitted() || r.svc->pending_events() > 0) {
            if (std::chrono::steady_clock::now() > until) return false;
            std::this_thread::sleep_for(5ms);
        }
        r.settle();
        return true;
    };
    r.advance(10min);
    ASSERT_TRUE(through());
    r.advance(5s);
    ASSERT_TRUE(through());
    EXPECT_EQ(r.state_of(c.id), state::confirmed) << r.get(c.id).rec.error;
    EXPECT_FALSE(r.sim.device(A)->relay_closed);
    const auto s = in.stats();
    EXPECT_EQ(s.received, s.delivered);
    EXPECT_EQ(s.rejected + s.malformed + s.unsupported, 0u);
    in.stop();
}

TEST(IngestHttp, EachRefusalHasItsStatusAndAReasonAPersonCanActOn) {
    ingest::http_integration_config cfg;
    cfg.secret = "s3cret";
    cfg.body_limit = 4096;
    std::vector<std::string> warnings;
    std::mutex mu;
    cfg.log = [&](ingest::log_level, std::string_view m) {
        std::lock_guard lock(mu);
        warnings.emplace_back(m);
    };
    server srv(cfg);
    const auto port = srv.http->port();
    post_options ok;
    ok.headers = {{"X-Relaylink-Secret", "s3cret"}};

    auto a = send(port, "/?event=up", up_json(A), ok);
    EXPECT_EQ(a.status, 200) << a.body;
    EXPECT_TRUE(a.keep_alive);

    post_options wrong = ok;
    wrong.headers = {{"X-Relaylink-Secret", "s3cres"}};
    a = send(port, "/?event=up", up_json(A), wrong);
    EXPECT_EQ(a.status, 401);
    EXPECT_NE(a.body.find("wrong value in header X-Relaylink-Secret"), std::string::npos) << a.body;
    a = send(port, "/?event=up", up_json(A));
    EXPECT_EQ(a.status, 401);
    EXPECT_NE(a.body.find("missing header X-Relaylink-Secret"), std::string::npos) << a.body;

    a = send(port, "/?event=up", std::string(5000, ' '), ok);
    EXPECT_EQ(a.status, 413);
    EXPECT_NE(a.body.find("over the limit of 4096 bytes"), std::string::npos) << a.body;
    post_options chunked = ok;
    chunked.chunked = true;
    a = send(port, "/?event=up", std::string(5000, ' '), chunked);
    EXPECT_EQ(a.status, 413) << "chunked, with no Content-Length";

    post_options proto = ok;
    proto.content_type = "application/octet-stream";
    a = send(port, "/?event=up", std::string("\x0a\x24\x33", 3), proto);
    EXPECT_EQ(a.status, 415);
    EXPECT_NE(a.body.find("set the HTTP integration's payload encoding to JSON"), std::string::npos) << a.body;
    a = send(port, "/?event=up", "\x0a\x24" + std::string("3ac7e3c4-4401-4b8d-9386-a5c902f9202d") + "\x12\x0c", ok); // protobuf labelled JSON
    EXPECT_EQ(a.status, 415);

    a = send(port, "/", up_json(A), ok);
    EXPECT_EQ(a.status, 400);
    EXPECT_NE(a.body.find("missing ?event=<type>"), std::string::npos) << a.body;
    a = send(port, "/?event=UP!", up_json(A), ok);
    EXPECT_EQ(a.status, 400);
    a = send(port, "/?event=uplink", up_json(A), ok); // well formed, but not one of ChirpStack's types
    EXPECT_EQ(a.status, 400);
    EXPECT_NE(a.body.find("'uplink' is not one of ChirpStack's event types (up, join"), std::string::npos) << a.body;
    a = send(port, "/?event=up", "{\"deduplicationId\":", ok);
    EXPECT_EQ(a.status, 400);
    EXPECT_NE(a.body.find("not valid JSON"), std::string::npos) << a.body;
    a = send(port, "/?event=up", R"({"deduplicationId":"x"})", ok);
    EXPECT_EQ(a.status, 400);
    EXPECT_NE(a.body.find("field 'time' is required"), std::string::npos) << a.body;
    EXPECT_TRUE(a.keep_alive) << "a malformed event does not cost the connection";

    post_options get = ok;
    get.verb = http::verb::get;
    a = send(port, "/?event=up", "", get);
    EXPECT_EQ(a.status, 405);
    EXPECT_EQ(a.allow, "POST");
    a = send(port, "/other?event=up", up_json(A), ok);
    EXPECT_EQ(a.status, 404);

    a = send(port, "/?x=1&event=ack&y=2", R"({"deduplicationId":"d","time":"2026-07-18T09:34:15+00:00","deviceInfo":{"tenantId":"t","tenantName":"T","applicationId":"app","applicationName":"App","deviceProfileId":"dp","deviceProfileName":"DP","deviceName":"Dev","devEui":")" + B + R"(","deviceClassEnabled":"CLASS_A","tags":{}},"queueItemId":"q","acknowledged":true,"fCntDown":3})", ok);
    EXPECT_EQ(a.status, 200) << a.body;

    const auto s = srv.http->stats();
    EXPECT_EQ(s.received, 15u);
    EXPECT_EQ(s.delivered, 2u);
    EXPECT_EQ(s.rejected, 5u); // 2 × 401, 2 × 413, 405
    EXPECT_EQ(s.unsupported, 2u);
    EXPECT_EQ(s.malformed, 5u);
    EXPECT_EQ(s.foreign, 1u);
    EXPECT_EQ(srv.count(), 2u);
    std::lock_guard lock(mu);
    EXPECT_FALSE(warnings.empty());
}

namespace {

/// Many connections at once, from one thread: each opens, sends `request` (all of it, or only `prefix`
/// then a byte every `trickle` until `hold` has passed), and records the status it was answered with
/// (0: closed without an answer).
struct crowd {
    asio::io_context io;
    std::vector<int> statuses;
    unsigned short port;
    explicit crowd(unsigned short p) : port(p) {}

    asio::awaitable<void> one(std::size_t i, std::string request, std::chrono::milliseconds trickle, std::chrono::milliseconds hold) {
        beast::tcp_stream s(co_await asio::this_coro::executor);
        beast::error_code ec;
        s.expires_after(std::chrono::seconds(30));
        co_await s.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                 asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        if (trickle.count() == 0) {
            co_await asio::async_write(s, asio::buffer(request), asio::redirect_error(asio::use_awaitable, ec));
        } else { // slowloris: a header that never ends
            co_await asio::async_write(s, asio::buffer(request), asio::redirect_error(asio::use_awaitable, ec));
            asio::steady_timer t(co_await asio::this_coro::executor);
            const auto until = std::chrono::steady_clock::now() + hold;
            while (!ec && std::chrono::steady_clock::now() < until) {
                t.expires_after(trickle);
                co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                co_await asio::async_write(s, asio::buffer(std::string("X")), asio::redirect_error(asio::use_awaitable, ec));
            }
        }
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        co_await http::async_read(s, buf, res, asio::redirect_error(asio::use_awaitable, ec));
        if (!ec || res.result_int() != 0) statuses[i] = static_cast<int>(res.result_int());
    }
    void add(std::string request, std::chrono::milliseconds trickle = {}, std::chrono::milliseconds hold = {}) {
        statuses.push_back(0);
        asio::co_spawn(io, one(statuses.size() - 1, std::move(request), trickle, hold), asio::detached);
    }
    std::thread run() {
        return std::thread([this] { io.run(); });
    }
    std::size_t with(int status) const { return static_cast<std::size_t>(std::count(statuses.begin(), statuses.end(), status)); }
};

std::string raw_post(const std::string& body, const std::string& secret) {
    return "POST /?event=up HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Relaylink-Secret: " + secret +
           "\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::vector<std::string> captured_warnings(ingest::http_integration_config& cfg, std::mutex& mu, std::vector<std::string>& out) {
    cfg.log = [&](ingest::log_level l, std::string_view m) {
        if (l < ingest::log_level::warning) return;
        std::lock_guard lock(mu);
        out.emplace_back(m);
    };
    return {};
}

} // namespace

TEST(IngestHttp, SlowConnectionsCannotKeepLegitimateEventsOut) {
    ingest::http_integration_config cfg;
    cfg.secret = "s3cret";
    cfg.header_timeout = 3000ms;
    std::mutex mu;
    std::vector<std::string> warnings;
    captured_warnings(cfg, mu, warnings);
    server srv(cfg);
    crowd slow(srv.http->port());
    for (int i = 0; i < 300; ++i) slow.add("POST /?event=up HTTP/1.1\r\nHost: x\r\nX-Pad: ", 200ms, 2500ms); // slowloris
    auto t = slow.run();
    std::this_thread::sleep_for(800ms); // all 300 connected and trickling: more than the 256 slots
    post_options ok;
    ok.headers = {{"X-Relaylink-Secret", "s3cret"}};
    int served = 0;
    for (int i = 0; i < 50; ++i) {
        const auto a = send(srv.http->port(), "/?event=up", up_json(A, "dedup-" + std::to_string(i)), ok);
        served += a.status == 200;
    }
    t.join();
    EXPECT_EQ(served, 50) << "every legitimate POST is served while slow connections hold the slots";
    EXPECT_EQ(srv.count(), 50u);
    const auto s = srv.http->stats();
    EXPECT_GT(s.evicted, 44u) << "the 44 slow ones beyond the limit, and the slots legitimate ones needed";
    std::printf("slowloris: 300 slow connections, 50 of 50 legitimate POSTs served; %llu evicted, %llu timed out, %zu slow ones answered 503\n",
                static_cast<unsigned long long>(s.evicted), static_cast<unsigned long long>(s.timed_out), slow.with(503));
    // The slow ones were answered (503 when closed for room) or closed by the header timeout.
    EXPECT_GT(slow.with(503), 0u);
    std::lock_guard lock(mu);
    EXPECT_LE(warnings.size(), 11u) << "warnings at a bounded rate, not one per refused connection";
    EXPECT_GT(s.logs_suppressed, 0u);
}

TEST(IngestHttp, AHeaderThatDoesNotArriveInTimeClosesTheConnection) {
    ingest::http_integration_config cfg;
    cfg.header_timeout = 300ms;
    server srv(cfg);
    crowd slow(srv.http->port());
    slow.add("POST /?event=up HTTP/1.1\r\nHost: x\r\n", 100ms, 5000ms);
    const auto start = std::chrono::steady_clock::now();
    slow.run().join();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4s) << "the server closed it long before the client gave up";
    EXPECT_EQ(srv.http->stats().timed_out, 1u);
}

TEST(IngestHttp, AThousandConcurrentConnectionsAreEachAnsweredAndLegitimateEventsGetThrough) {
    ingest::http_integration_config cfg;
    cfg.secret = "s3cret";
    server srv(cfg);
    crowd flood(srv.http->port());
    const std::string bad = raw_post(up_json(A), "wrong"), good_body = up_json(B);
    for (int i = 0; i < 1000; ++i) flood.add(i % 2 ? bad : raw_post(up_json(B, "flood-" + std::to_string(i)), "s3cret"));
    auto t = flood.run();
    post_options ok;
    ok.headers = {{"X-Relaylink-Secret", "s3cret"}};
    int served = 0;
    for (int i = 0; i < 20; ++i) served += send(srv.http->port(), "/?event=up", up_json(A, "legit-" + std::to_string(i)), ok).status == 200;
    t.join();
    EXPECT_EQ(flood.with(0), 0u) << "no connection closed without an answer";
    EXPECT_EQ(flood.with(200) + flood.with(401) + flood.with(503), 1000u);
    EXPECT_EQ(flood.with(401) + flood.with(503) >= 500, true);
    EXPECT_EQ(served, 20) << "the legitimate sender is not shut out by the flood";
    EXPECT_EQ(srv.count(), flood.with(200) + 20);
    std::printf("flood: 1000 connections answered 200 × %zu, 401 × %zu, 503 × %zu, none unanswered; 20 of 20 legitimate served\n",
                flood.with(200), flood.with(401), flood.with(503));
}

TEST(IngestHttp, ListeningBeyondLoopbackWithoutASecretIsWarnedAbout) {
    for (const char* address : {"0.0.0.0", "127.0.0.1"}) {
        ingest::http_integration_config cfg;
        cfg.address = address;
        std::mutex mu;
        std::vector<std::string> warnings;
        captured_warnings(cfg, mu, warnings);
        server srv(cfg);
        std::lock_guard lock(mu);
        const bool warned = std::any_of(warnings.begin(), warnings.end(), [](const std::string& w) { return w.find("without a shared secret") != std::string::npos; });
        EXPECT_EQ(warned, std::string(address) == "0.0.0.0") << address;
    }
}

TEST(IngestHttp, AStoreCallStalledForSecondsHoldsUpNothingElse) {
    // One meter's write waits 3 s in the store (a statement waiting on a row lock, a slow disk). Meanwhile
    // the HTTP integration answers, another meter's command is claimed, enqueued and its ChirpStack
    // answer recorded: the store call runs on the service's own thread, and its lock is not held across it.
    auto simcfg = test::manual_sim();
    ingest::http_integration_config hc;
    hc.port = test::free_port();
    simcfg.integration_url = "http://127.0.0.1:" + std::to_string(hc.port) + "/";
    auto store = std::make_unique<test::faulty_store>();
    auto& db = *store;
    service_rig r(std::move(store), test::quiet_config(), device::profile_registry::with_builtins(), simcfg, false);
    ingest::http_integration in(r.io.get_executor(), hc, ingest::to_service(*r.svc, 1000, ingest::when_full::refuse));
    in.start();
    r.add(A);
    r.add(B);
    r.svc->track_meter(A, "eastron_sdm320c");
    db.stall_only_dev_eui = A;
    db.stall_writes_ms = 3000;
    ASSERT_TRUE(r.sim.trigger_uplink(A)); // its `up` is posted, answered, and its write stalls
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (db.writes_stalled == 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(2ms);
    ASSERT_EQ(db.writes_stalled.load(), 1);
    const auto stalled_at = std::chrono::steady_clock::now();

    // The endpoint answers at once.
    const auto a = send(hc.port, "/?event=up", up_json(B, "during-the-stall"));
    EXPECT_EQ(a.status, 200) << a.body;
    // Another meter's disconnect goes all the way to ChirpStack's queue, its answer recorded.
    const auto c = r.svc->disconnect(req(B));
    while (r.state_of(c.id) != state::queued && std::chrono::steady_clock::now() < stalled_at + 2500ms)
        std::this_thread::sleep_for(2ms);
    EXPECT_EQ(r.state_of(c.id), state::queued) << test::causes(r.svc->command(c.id)->events);
    EXPECT_EQ(r.sim.device(B)->queue_length, 1u);
    EXPECT_EQ(db.writes_stalled.load(), 1) << "all of that happened while A's write was still waiting";
    const auto during = std::chrono::steady_clock::now() - stalled_at;
    EXPECT_LT(during, 2500ms);
    std::cout << "while one write stalled 3 s: the endpoint answered, and another meter's command was claimed, enqueued and "
                 "recorded queued in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(during).count() << " ms\n";

    // Once the store answers, A's uplink is committed and nothing was lost.
    db.stall_writes_ms = 0;
    const auto back = std::chrono::steady_clock::now() + 10s;
    while ((r.svc->pending_events() > 0 || !r.svc->meter(A)->last_uplink) && std::chrono::steady_clock::now() < back)
        std::this_thread::sleep_for(5ms);
    EXPECT_TRUE(r.svc->meter(A)->last_uplink);
    EXPECT_EQ(r.svc->pending_events(), 0u);
    in.stop();
}

TEST(IngestHttp, AnswersAtOnceWhileTheServiceCannotCommit) {
    // The service's executor is not running: nothing can be committed. The integration still answers
    // 200 at once; the events wait in the service's inbox, and are committed once it runs.
    asio::io_context svc_io;
    sim::simulator_config sc = test::manual_sim();
    chirpstack::config cc;
    cc.url = "http://127.0.0.1:9"; // never called: no command is sent
    chirpstack::client api(svc_io.get_executor(), cc);
    auto db = store::make_memory_store();
    service::service svc(svc_io.get_executor(), api, *db, device::profile_registry::with_builtins(), test::quiet_config());
    server srv({}, ingest::to_service(svc));
    for (int i = 0; i < 50; ++i) {
        const auto a = send(srv.http->port(), "/?event=up", up_json(A));
        ASSERT_EQ(a.status, 200) << a.body;
    }
    EXPECT_EQ(svc.pending_events(), 50u);
    EXPECT_EQ(svc.stats().events, 0u);
    // The batch's short linger is a timer of the executor: once it runs, the batch is committed on the
    // service's own store thread, which hands its outcome back to the executor. The executor runs until
    // the inbox is empty (not for a fixed time: on a loaded machine the store thread may answer after it).
    for (const auto until = std::chrono::steady_clock::now() + 20s;
         (svc.pending_events() > 0 || svc.stats().events < 50) && std::chrono::steady_clock::now() < until;) {
        if (svc_io.stopped()) svc_io.restart(); // out of work for a moment: the store thread's answer is still to come
        if (svc_io.run_for(10ms) == 0) std::this_thread::sleep_for(2ms);
    }
    EXPECT_EQ(svc.pending_events(), 0u);
    EXPECT_EQ(svc.stats().events, 50u);
}

TEST(IngestHttp, AFullServiceIsAnswered503NeverAHangAndTakesEventsAgainOnceTheStoreRecovers) {
    // relayctl watch --http's setup: the integration and the service on one I/O thread. A store that fails
    // fast (a full disk) keeps the events in the service's inbox; at its limit the integration answers 503
    // with Retry-After at once, instead of waiting on the thread that would drain the inbox.
    asio::io_context io;
    auto work = asio::make_work_guard(io);
    chirpstack::config cc;
    cc.url = "http://127.0.0.1:9"; // never called: no command is sent
    chirpstack::client api(io.get_executor(), cc);
    test::faulty_store db;
    service::service svc(io.get_executor(), api, db, device::profile_registry::with_builtins(), test::quiet_config());
    svc.track_meter(A, "eastron_sdm320c"); // its uplinks are written (an untracked device's would write nothing)
    ingest::http_integration http(io.get_executor(), {}, ingest::to_service(svc, 20, ingest::when_full::refuse));
    http.start();
    std::thread t([&] { io.run(); });
    db.fail_writes = true;
    int ok = 0, full = 0;
    answer refused;
    for (int i = 0; i < 60; ++i) {
        const auto a = send(http.port(), "/?event=up", up_json(A, "full-" + std::to_string(i)));
        ASSERT_TRUE(a.status == 200 || a.status == 503) << a.status << " " << a.body;
        if (a.status == 200) ++ok;
        else {
            ++full;
            refused = a;
        }
    }
    EXPECT_EQ(ok, 20); // the limit
    EXPECT_EQ(full, 40);
    EXPECT_EQ(refused.retry_after, "1");
    EXPECT_NE(refused.body.find("not yet committed"), std::string::npos) << refused.body;
    EXPECT_NE(refused.body.find("disk is full"), std::string::npos) << refused.body;
    EXPECT_EQ(http.stats().full, 40u);
    EXPECT_EQ(svc.pending_events(), 20u); // nothing lost of what was answered 200

    db.fail_writes = false; // space again: the inbox drains (its retry backs off to at most 5 s)
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (svc.pending_events() > 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
    EXPECT_EQ(svc.pending_events(), 0u);
    EXPECT_EQ(send(http.port(), "/?event=up", up_json(A, "after")).status, 200);
    const auto back = std::chrono::steady_clock::now() + 5s;
    while (svc.pending_events() > 0 && std::chrono::steady_clock::now() < back) std::this_thread::sleep_for(5ms);
    EXPECT_GE(svc.stats().events, 21u);
    EXPECT_TRUE(svc.meter(A)->uplink_f_cnt);
    http.stop();
    work.reset();
    io.stop();
    t.join();
}

TEST(IngestHttp, BadSettingsAreRefusedNamingTheField) {
    asio::io_context io;
    auto refused = [&](auto tweak, const std::string& expected) {
        ingest::http_integration_config c;
        tweak(c);
        try {
            ingest::http_integration h(io.get_executor(), c, [](chirpstack::event) {});
            ADD_FAILURE() << "accepted; expected: " << expected;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
        }
    };
    refused([](auto& c) { c.address = "localhost:80"; }, "HTTP integration address: 'localhost:80' is not an IP address");
    refused([](auto& c) { c.path = "events"; }, "HTTP integration path: 'events' must start with '/'");
    refused([](auto& c) { c.path = "/e?x"; }, "must start with '/' and hold no '?'");
    refused([](auto& c) { c.secret = "x", c.secret_header = ""; }, "secret_header: empty");
    refused([](auto& c) { c.secret_header = "X Secret"; }, "is not an HTTP header name");
    refused([](auto& c) { c.secret = "a\nb"; }, "secret: contains control characters");
    refused([](auto& c) { c.body_limit = 10; }, "body_limit: 10 bytes is too small");
    refused([](auto& c) { c.max_connections = 0; }, "max_connections");

    // a port in use: a system_error naming the address
    server first({});
    ingest::http_integration_config c;
    c.port = first.http->port();
    ingest::http_integration second(io.get_executor(), c, [](chirpstack::event) {});
    try {
        second.start();
        ADD_FAILURE() << "bound a port in use";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(c.port)), std::string::npos) << e.what();
    }
}
