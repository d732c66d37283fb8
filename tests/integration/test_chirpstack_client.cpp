// The ChirpStack REST client against a scripted server over loopback: requests, typed replies,
// every error body, transport faults (slow, dropped, oversized, garbage), keep-alive, concurrency,
// retries, validation, cancellation, and the API key kept out of every message.
#include "../support/fake_http_server.hpp"
#include "../support/refusal_of.hpp"

#include <relaylink/chirpstack/client.hpp>
#include <relaylink/chirpstack/sync_client.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include "../support/expect_api_error.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <cstdlib>

using relaylink::error_code;
using relaylink::format_rfc3339;
using relaylink::to_hex;
using namespace relaylink::chirpstack;
using relaylink::test::fake_http_server;
using relaylink::test::reply;
namespace json = boost::json;

namespace {

constexpr const char* eui = "0102030405060708";
constexpr const char* queue_path = "/api/devices/0102030405060708/queue";

reply ok(std::string body) {
    reply r;
    r.body = std::move(body);
    return r;
}
reply status(unsigned code, std::string body) {
    reply r;
    r.status = code;
    r.body = std::move(body);
    return r;
}

config cfg_for(const fake_http_server& s) {
    config c;
    c.url = s.url();
    c.api_key = "test-key-0123456789";
    c.request_timeout = std::chrono::milliseconds(2000);
    c.connect_timeout = std::chrono::milliseconds(2000);
    c.retry.initial_backoff = std::chrono::milliseconds(5);
    c.retry.max_backoff = std::chrono::milliseconds(20);
    return c;
}

enqueue_request relay_off() {
    enqueue_request r;
    r.confirmed = true;
    r.f_port = 5;
    r.data = {0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xCD, 0xCA};
    return r;
}

using relaylink::test::expect_api_error;

const char* queue_json = R"({"totalCount":1,"result":[{"id":"6f1c2c4e-0c3e-4a55-9b1a-2f0d2a9c1e11","devEui":"0102030405060708",
  "confirmed":true,"fPort":10,"data":"AQID","object":null,"isPending":false,"fCntDown":0,"isEncrypted":false,
  "expiresAt":"2026-08-01T12:00:00Z","someFutureField":{"x":1}}],"alsoNew":true})";

/// The device queue's answer, sent after `delay`.
reply queue_after(std::chrono::milliseconds delay) {
    reply r = ok(queue_json);
    r.delay = delay;
    return r;
}

} // namespace

TEST(ChirpStackClient, EnqueueSendsTheDocumentedJsonAndReturnsTheQueueItemId) {
    fake_http_server s;
    s.expect("POST", queue_path, ok(R"({"id":"6f1c2c4e-0c3e-4a55-9b1a-2f0d2a9c1e11"})"));
    sync_client c(cfg_for(s));
    auto req = relay_off();
    req.expires_at = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now() + std::chrono::hours(1));
    EXPECT_EQ(c.enqueue(eui, req), "6f1c2c4e-0c3e-4a55-9b1a-2f0d2a9c1e11");
    auto reqs = s.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].headers["grpc-metadata-authorization"], "Bearer test-key-0123456789");
    EXPECT_EQ(reqs[0].headers["content-type"], "application/json");
    auto body = json::parse(reqs[0].body).as_object();
    EXPECT_EQ(body.at("flushQueue"), false);
    auto item = body.at("queueItem").as_object();
    EXPECT_EQ(item.at("confirmed"), true);
    EXPECT_EQ(item.at("fPort"), 5);
    EXPECT_EQ(item.at("data"), "AQUAAAAAzco=");
    EXPECT_TRUE(item.at("expiresAt").as_string().ends_with("Z"));
}

TEST(ChirpStackClient, DevEuiIsNormalisedToLowerCaseInThePath) {
    fake_http_server s;
    s.expect("POST", "/api/devices/a1b2c3d4e5f60708/queue", ok(R"({"id":"x"})"));
    sync_client c(cfg_for(s));
    EXPECT_EQ(c.enqueue("A1B2C3D4E5F60708", relay_off()), "x");
}

TEST(ChirpStackClient, AuthorizationHeaderIsConfigurable) {
    fake_http_server s;
    s.expect("DELETE", queue_path, ok("{}"));
    auto cfg = cfg_for(s);
    cfg.header = auth_header::authorization;
    sync_client c(cfg);
    c.flush_queue(eui);
    auto r = s.requests().at(0);
    EXPECT_EQ(r.headers["authorization"], "Bearer test-key-0123456789");
    EXPECT_EQ(r.headers.count("grpc-metadata-authorization"), 0u);
}

TEST(ChirpStackClient, GetQueueParsesItemsAndIgnoresUnknownFields) {
    fake_http_server s;
    s.expect("GET", queue_path, ok(queue_json));
    sync_client c(cfg_for(s));
    auto q = c.get_queue(eui);
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].id, "6f1c2c4e-0c3e-4a55-9b1a-2f0d2a9c1e11");
    EXPECT_EQ(q[0].f_port, 10u);
    EXPECT_EQ(to_hex(q[0].data), "010203");
    EXPECT_TRUE(q[0].confirmed);
    EXPECT_FALSE(q[0].is_pending);
    ASSERT_TRUE(q[0].expires_at);
    EXPECT_EQ(format_rfc3339(*q[0].expires_at), "2026-08-01T12:00:00Z");
}

TEST(ChirpStackClient, EmptyQueueIsAnEmptyList) {
    fake_http_server s;
    s.expect("GET", queue_path, ok(R"({"totalCount":0,"result":[]})"));
    sync_client c(cfg_for(s));
    EXPECT_TRUE(c.get_queue(eui).empty());
}

TEST(ChirpStackClient, GetDeviceParsesTheReferenceShape) {
    fake_http_server s;
    s.expect("GET", "/api/devices/0102030405060708", ok(R"({"device":{"devEui":"0102030405060708","name":"meter-7",
      "description":"unit 7","applicationId":"17c82e96-be03-4f38-aef3-f83d48582d97","deviceProfileId":"14855bf7",
      "skipFcntCheck":false,"isDisabled":false,"variables":{},"tags":{"unit":"7"},"joinEui":"0000000000000000"},
      "createdAt":"2026-07-01T08:00:00Z","updatedAt":"2026-07-02T08:00:00.5Z","lastSeenAt":"2026-07-18T09:34:15.775023242Z",
      "deviceStatus":{"margin":7,"externalPowerSource":true,"batteryLevel":0},"classEnabled":"CLASS_A"})"));
    s.expect("GET", "/api/devices/0102030405060708", ok(R"({"device":{"devEui":"0102030405060708","name":"n"},
      "createdAt":null,"updatedAt":null,"lastSeenAt":null,"deviceStatus":null,"classEnabled":"CLASS_A"})"));
    sync_client c(cfg_for(s));
    auto d = c.get_device(eui);
    EXPECT_EQ(d.name, "meter-7");
    EXPECT_EQ(d.tags.at("unit"), "7");
    ASSERT_TRUE(d.last_seen_at);
    EXPECT_EQ(format_rfc3339(*d.last_seen_at), "2026-07-18T09:34:15.775023242Z");
    ASSERT_TRUE(d.status);
    EXPECT_EQ(d.status->margin, 7);
    EXPECT_TRUE(d.status->external_power_source);
    auto never_seen = c.get_device(eui);
    EXPECT_FALSE(never_seen.last_seen_at);
    EXPECT_FALSE(never_seen.status);
}

TEST(ChirpStackClient, NextFCntDown) {
    fake_http_server s;
    s.expect("POST", "/api/devices/0102030405060708/get-next-f-cnt-down", ok(R"({"fCntDown":42})"));
    sync_client c(cfg_for(s));
    EXPECT_EQ(c.get_next_f_cnt_down(eui), 42u);
}

TEST(ChirpStackClient, EveryErrorStatusMapsToItsErrorWithChirpStacksMessage) {
    struct row {
        unsigned status;
        int grpc;
        errc expected;
        bool transient;
    };
    const row rows[] = {{400, 3, errc::bad_request, false},     {403, 7, errc::permission_denied, false},
                        {404, 5, errc::not_found, false},       {409, 6, errc::already_exists, false},
                        {429, 8, errc::rate_limited, true},     {500, 13, errc::server_error, true},
                        {501, 12, errc::not_implemented, false}, {503, 14, errc::unavailable, true},
                        {504, 4, errc::gateway_timeout, true},  {418, 2, errc::http_error, false}};
    for (const auto& r : rows) {
        fake_http_server s;
        const std::string msg = "Object does not exist (id: 0102030405060708) #" + std::to_string(r.status);
        s.always("DELETE", queue_path,
                 status(r.status, R"({"code":)" + std::to_string(r.grpc) + R"(,"message":")" + msg + R"(","details":[]})"));
        sync_client c(cfg_for(s));
        auto e = expect_api_error([&] { c.flush_queue(eui); });
        EXPECT_EQ(e.code(), r.expected) << r.status;
        EXPECT_EQ(is_transient(e.code()), r.transient) << r.status;
        EXPECT_EQ(e.details().http_status, r.status);
        EXPECT_EQ(e.details().grpc_code, r.grpc);
        EXPECT_EQ(e.details().message, msg);
        EXPECT_EQ(std::string(e.what()), "ChirpStack HTTP " + std::to_string(r.status) + ": " + msg);
        // DELETE is idempotent: transient errors were retried up to max_attempts
        EXPECT_EQ(e.details().attempts, r.transient ? 3 : 1) << r.status;
        EXPECT_EQ(s.requests().size(), r.transient ? 3u : 1u) << r.status;
    }
}

TEST(ChirpStackClient, A401WithAnEmptyMessageIsExplained) {
    fake_http_server s;
    s.expect("GET", queue_path, status(401, R"({"code":16,"message":"","details":[]})"));
    sync_client c(cfg_for(s));
    auto e = expect_api_error([&] { c.get_queue(eui); });
    EXPECT_EQ(e.code(), errc::unauthenticated);
    EXPECT_NE(e.details().message.find("lacks rights"), std::string::npos) << e.details().message;
}

TEST(ChirpStackClient, MissingBearerPrefixMessageIsPassedThrough) {
    fake_http_server s;
    s.expect("GET", queue_path,
             status(401, R"({"code":16,"message":"authorization metadata must be in format 'Bearer <TOKEN>'","details":[]})"));
    sync_client c(cfg_for(s));
    auto e = expect_api_error([&] { c.get_queue(eui); });
    EXPECT_EQ(e.details().message, "authorization metadata must be in format 'Bearer <TOKEN>'");
}

TEST(ChirpStackClient, ErrorFieldIsUsedWhenMessageIsAbsentAndNonJsonBodiesAreQuoted) {
    fake_http_server s;
    s.expect("GET", queue_path, status(400, R"({"error":"bad things"})"));
    s.expect("GET", queue_path, status(502, "<html>Bad Gateway</html>"));
    auto cfg = cfg_for(s);
    cfg.retry.max_attempts = 1;
    sync_client c(cfg);
    EXPECT_EQ(expect_api_error([&] { c.get_queue(eui); }).details().message, "bad things");
    auto e = expect_api_error([&] { c.get_queue(eui); });
    EXPECT_EQ(e.code(), errc::server_error);
    EXPECT_NE(e.details().message.find("body is not JSON: '<html>Bad Gateway</html>'"), std::string::npos) << e.details().message;
}

TEST(ChirpStackClient, ChunkedAndContentLengthRepliesBothWork) {
    fake_http_server s;
    reply chunked = ok(queue_json);
    chunked.chunked = true;
    s.expect("GET", queue_path, chunked);
    s.expect("GET", queue_path, ok(queue_json));
    sync_client c(cfg_for(s));
    EXPECT_EQ(c.get_queue(eui).size(), 1u);
    EXPECT_EQ(c.get_queue(eui).size(), 1u);
}

TEST(ChirpStackClient, ASlowReplyTimesOut) {
    fake_http_server s;
    s.always("GET", queue_path, queue_after(std::chrono::milliseconds(1500)));
    auto cfg = cfg_for(s);
    cfg.request_timeout = std::chrono::milliseconds(150);
    cfg.retry.max_attempts = 2;
    sync_client c(cfg);
    const auto t0 = std::chrono::steady_clock::now();
    auto e = expect_api_error([&] { c.get_queue(eui); });
    EXPECT_EQ(e.code(), errc::timeout);
    EXPECT_TRUE(is_transient(e.code()));
    EXPECT_EQ(e.details().attempts, 2);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1400)); // did not wait for the reply

    // retry_timeouts = false: someone waits on this call (a web page): one attempt, as the portal's module makes.
    cfg.retry.retry_timeouts = false;
    sync_client once(cfg);
    auto e1 = expect_api_error([&] { once.get_queue(eui); });
    EXPECT_EQ(e1.code(), errc::timeout);
    EXPECT_EQ(e1.details().attempts, 1);
}

TEST(ChirpStackClient, ADroppedConnectionIsRetriedForIdempotentCalls) {
    fake_http_server s;
    reply drop;
    drop.drop = true;
    s.expect("GET", queue_path, drop);
    s.expect("GET", queue_path, ok(queue_json));
    sync_client c(cfg_for(s));
    EXPECT_EQ(c.get_queue(eui).size(), 1u);
    EXPECT_EQ(s.requests().size(), 2u);
    EXPECT_EQ(c.stats().retries, 1u);
    EXPECT_EQ(s.connections(), 2);
}

TEST(ChirpStackClient, AnEnqueueIsNeverRetriedAndSaysItMayHaveBeenSent) {
    fake_http_server s;
    reply drop;
    drop.drop = true;
    s.expect("POST", queue_path, drop);
    s.expect("POST", queue_path, status(503, R"({"code":14,"message":"unavailable","details":[]})"));
    sync_client c(cfg_for(s));
    auto e1 = expect_api_error([&] { c.enqueue(eui, relay_off()); });
    EXPECT_TRUE(is_transient(e1.code())) << e1.code().message();
    EXPECT_TRUE(e1.details().request_sent);
    EXPECT_EQ(e1.details().attempts, 1);
    auto e2 = expect_api_error([&] { c.enqueue(eui, relay_off()); });
    EXPECT_EQ(e2.code(), errc::unavailable);
    EXPECT_EQ(s.requests().size(), 2u);
}

TEST(ChirpStackClient, AnEnqueueForADeviceChirpStackDoesNotKnowIsNotFoundNotAnUnknownOutcome) {
    // Observed on ChirpStack 4.20: 500, code 13, the database's foreign-key message.
    fake_http_server s;
    s.expect("POST", queue_path,
             status(500, R"({"code":13,"message":"insert or update on table \"device_queue_item\" violates foreign key constraint \"device_queue_item_dev_eui_fkey\"","details":[]})"));
    s.expect("POST", queue_path, status(500, R"({"code":13,"message":"connection pool timed out","details":[]})"));
    sync_client c(cfg_for(s));
    auto e = expect_api_error([&] { c.enqueue(eui, relay_off()); });
    EXPECT_EQ(e.code(), errc::not_found);
    EXPECT_FALSE(is_transient(e.code()));
    EXPECT_FALSE(outcome_unknown(e.code(), e.details()));
    EXPECT_EQ(e.details().http_status, 500u);
    EXPECT_NE(e.details().message.find("device 0102030405060708 is not in ChirpStack"), std::string::npos) << e.what();
    EXPECT_NE(e.details().message.find("add the device in ChirpStack, or correct the DevEUI"), std::string::npos) << e.what();
    // Any other 500 may have been applied: its outcome is unknown.
    auto other = expect_api_error([&] { c.enqueue(eui, relay_off()); });
    EXPECT_EQ(other.code(), errc::server_error);
    EXPECT_TRUE(outcome_unknown(other.code(), other.details()));
}

TEST(ChirpStackClient, WhichFailedEnqueuesMayHaveBeenApplied) {
    fake_http_server s;
    reply drop;
    drop.drop = true;
    s.expect("POST", queue_path, drop);                                           // no answer
    s.expect("POST", queue_path, ok("<html>502 Bad Gateway</html>"));              // a 200 that is not JSON
    s.expect("POST", queue_path, status(400, R"({"code":3,"message":"bad","details":[]})")); // a refusal
    s.expect("POST", queue_path, status(503, R"({"code":14,"message":"unavailable","details":[]})"));
    sync_client c(cfg_for(s));
    auto lost = expect_api_error([&] { c.enqueue(eui, relay_off()); });
    EXPECT_TRUE(outcome_unknown(lost.code(), lost.details()));
    auto garbled = expect_api_error([&] { c.enqueue(eui, relay_off()); });
    EXPECT_EQ(garbled.code(), errc::malformed_response);
    EXPECT_TRUE(outcome_unknown(garbled.code(), garbled.details())) << "a 2xx relaylink cannot read may have queued the item";
    auto refused = expect_api_error([&] { c.enqueue(eui, relay_off()); });
    EXPECT_FALSE(outcome_unknown(refused.code(), refused.details()));
    auto unavailable = expect_api_error([&] { c.enqueue(eui, relay_off()); });
    EXPECT_TRUE(outcome_unknown(unavailable.code(), unavailable.details()));
    // Refused before sending: certainly not applied.
    auto invalid = expect_api_error([&] { c.enqueue("01020304", relay_off()); });
    EXPECT_FALSE(outcome_unknown(invalid.code(), invalid.details()));
}

TEST(ChirpStackClient, FlushUnsentEnqueuesAnExpiredEmptyPlaceholderWithFlushQueue) {
    fake_http_server s;
    s.expect("POST", queue_path, ok(R"({"id":"placeholder-1"})"));
    sync_client c(cfg_for(s));
    EXPECT_EQ(c.flush_unsent(eui, 5), "placeholder-1");
    const auto body = json::parse(s.requests().at(0).body).as_object();
    EXPECT_EQ(body.at("flushQueue"), true);
    const auto& item = body.at("queueItem").as_object();
    EXPECT_EQ(item.at("confirmed"), false);
    EXPECT_EQ(item.at("fPort"), 5);
    EXPECT_EQ(item.at("data"), "");
    EXPECT_EQ(item.at("expiresAt"), "2000-01-01T00:00:00Z");
    EXPECT_EQ(expect_api_error([&] { c.flush_unsent(eui, 0); }).code(), errc::invalid_fport);
}

TEST(ChirpStackClient, KeepAliveReusesOneConnectionForSequentialCalls) {
    fake_http_server s;
    s.always("GET", queue_path, ok(queue_json));
    sync_client c(cfg_for(s));
    for (int i = 0; i < 20; ++i) c.get_queue(eui);
    EXPECT_EQ(s.connections(), 1);
    EXPECT_EQ(c.stats().connections_opened, 1u);
    EXPECT_EQ(c.stats().connections_reused, 19u);
}

TEST(ChirpStackClient, AConnectionTheServerClosedWhileIdleIsNotReused) {
    fake_http_server s;
    reply closing = ok(queue_json);
    closing.close_after = true; // closes silently, without Connection: close
    s.always("GET", queue_path, closing);
    sync_client c(cfg_for(s));
    c.get_queue(eui);
    std::this_thread::sleep_for(std::chrono::milliseconds(50)); // let the FIN arrive
    EXPECT_EQ(c.get_queue(eui).size(), 1u);
    EXPECT_EQ(c.stats().stale_discarded, 1u);
    EXPECT_EQ(c.stats().retries, 0u); // found before sending, not by failing
    EXPECT_EQ(s.connections(), 2);
}

TEST(ChirpStackClient, ConnectionCloseFromTheServerIsHonoured) {
    fake_http_server s;
    reply r = ok(queue_json);
    r.connection_close = true;
    s.always("GET", queue_path, r);
    sync_client c(cfg_for(s));
    c.get_queue(eui);
    c.get_queue(eui);
    EXPECT_EQ(s.connections(), 2);
    EXPECT_EQ(c.stats().connections_reused, 0u);
}

TEST(ChirpStackClient, ManyCallsInFlightUseAtMostPoolSizeConnections) {
    fake_http_server s;
    s.always("GET", queue_path, queue_after(std::chrono::milliseconds(20)));
    asio::io_context io;
    auto cfg = cfg_for(s);
    cfg.pool_size = 4;
    client c(io.get_executor(), cfg);
    int done = 0, failed = 0;
    for (int i = 0; i < 40; ++i)
        c.async_get_queue(eui, [&](error_code ec, std::vector<queue_item> q) {
            ++done;
            if (ec || q.size() != 1) ++failed;
        });
    io.run();
    EXPECT_EQ(done, 40);
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(s.connections(), 4);
    EXPECT_EQ(c.stats().connections_opened, 4u);
}

TEST(ChirpStackClient, BlockingCallsFromManyThreadsRunSideBySideOnAtMostPoolSizeConnections) {
    // Each blocking call runs on its caller's thread, on one of at most pool_size lanes (a connection each);
    // a caller finding every lane busy waits for one. A lane is made only when every other one is busy, so
    // three connections mean three calls were in flight at once.
    fake_http_server s;
    s.always("GET", queue_path, queue_after(std::chrono::milliseconds(30)));
    auto cfg = cfg_for(s);
    cfg.pool_size = 3;
    sync_client c(cfg);
    std::atomic<int> good{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < 8; ++t)
        callers.emplace_back([&] {
            for (int i = 0; i < 5; ++i)
                if (c.get_queue(eui).size() == 1) ++good;
        });
    for (auto& t : callers) t.join();
    EXPECT_EQ(good.load(), 40);
    EXPECT_EQ(s.connections(), 3);
    const auto st = c.stats();
    EXPECT_EQ(st.connections_opened, 3u);
    EXPECT_EQ(st.requests, 40u);
    EXPECT_EQ(st.connections_reused, 37u);
}

TEST(ChirpStackClient, ABlockingCallRunsOnItsCallersThread) {
    // The configured clock is read by the enqueue that checks expires_at: on the thread that called.
    fake_http_server s;
    s.always("POST", queue_path, ok(R"({"id":"6f1c2c4e-0c3e-4a55-9b1a-2f0d2a9c1e11"})"));
    auto cfg = cfg_for(s);
    std::mutex m;
    std::vector<std::thread::id> readers;
    cfg.clock = [&] {
        std::lock_guard lk(m);
        readers.push_back(std::this_thread::get_id());
        return std::chrono::sys_time<std::chrono::nanoseconds>(std::chrono::system_clock::now());
    };
    sync_client c(cfg);
    auto req = relay_off();
    req.expires_at = std::chrono::system_clock::now() + std::chrono::hours(1);
    std::thread::id other;
    std::thread t([&] {
        other = std::this_thread::get_id();
        c.enqueue(eui, req);
    });
    t.join();
    c.enqueue(eui, req);
    ASSERT_EQ(readers.size(), 2u);
    EXPECT_EQ(readers[0], other);
    EXPECT_EQ(readers[1], std::this_thread::get_id());
}

TEST(ChirpStackClient, ABlockingCallFromAnAsyncHandlerCompletes) {
    // A blocking call made on the async side's own thread (a handler calling the blocking API) runs on a lane:
    // it no longer waits for the thread it blocks. Both sides count in stats().
    fake_http_server s;
    s.always("GET", queue_path, ok(queue_json));
    sync_client c(cfg_for(s));
    std::promise<std::size_t> inner;
    c.async().async_get_queue(eui, [&](error_code ec, std::vector<queue_item>) {
        if (ec) return inner.set_value(0);
        inner.set_value(c.get_queue(eui).size());
    });
    auto f = inner.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_EQ(f.get(), 1u);
    EXPECT_EQ(c.stats().requests, 2u);
    EXPECT_EQ(c.stats().connections_opened, 2u); // one for each side
}

TEST(ChirpStackClient, AnOversizedBodyIsRefused) {
    fake_http_server s;
    s.always("GET", queue_path, ok(std::string(R"({"result":[],"pad":")") + std::string(100000, 'x') + "\"}"));
    auto cfg = cfg_for(s);
    cfg.max_response_size = 4096;
    sync_client c(cfg);
    auto e = expect_api_error([&] { c.get_queue(eui); });
    EXPECT_EQ(e.code(), errc::response_too_large);
    EXPECT_FALSE(is_transient(e.code()));
}

TEST(ChirpStackClient, GarbageInsteadOfHttpIsAMalformedResponse) {
    fake_http_server s;
    reply g;
    g.raw = "SSH-2.0-OpenSSH_9.2\r\n\x01\x02\xff garbage\r\n\r\n";
    s.always("GET", queue_path, g);
    auto cfg = cfg_for(s);
    cfg.retry.max_attempts = 1;
    sync_client c(cfg);
    auto e = expect_api_error([&] { c.get_queue(eui); });
    EXPECT_EQ(e.code(), errc::malformed_response) << e.code().message();
}

TEST(ChirpStackClient, A200WithTheWrongShapeNamesTheField) {
    fake_http_server s;
    s.expect("GET", queue_path, ok("not json at all"));
    s.expect("GET", queue_path, ok(R"({"result":{"id":"x"}})"));
    s.expect("GET", queue_path, ok(R"({"result":[{"id":"x","fPort":"many"}]})"));
    s.expect("GET", queue_path, ok(R"({"result":[{"id":"x","fPort":5,"data":"%%%"}]})"));
    s.expect("POST", queue_path, ok(R"({"id":""})"));
    sync_client c(cfg_for(s));
    auto e1 = expect_api_error([&] { c.get_queue(eui); });
    EXPECT_EQ(e1.code(), errc::malformed_response);
    EXPECT_NE(e1.details().message.find("not JSON: 'not json at all'"), std::string::npos) << e1.details().message;
    EXPECT_NE(expect_api_error([&] { c.get_queue(eui); }).details().message.find("field 'result' is not an array"), std::string::npos);
    EXPECT_NE(expect_api_error([&] { c.get_queue(eui); }).details().message.find("field 'result[0].fPort' is not a number"),
              std::string::npos);
    EXPECT_NE(expect_api_error([&] { c.get_queue(eui); }).details().message.find("field 'result[0].data' is not base64"),
              std::string::npos);
    EXPECT_NE(expect_api_error([&] { c.enqueue(eui, relay_off()); }).details().message.find("field 'id' is empty"),
              std::string::npos);
}

TEST(ChirpStackClient, ValidationRefusesBadArgumentsBeforeSendingAnything) {
    fake_http_server s;
    sync_client c(cfg_for(s));
    auto e = expect_api_error([&] { c.enqueue("010203040506070", relay_off()); });
    EXPECT_EQ(e.code(), errc::invalid_dev_eui);
    EXPECT_EQ(std::string(e.what()), "DevEUI must be 16 hex digits, got 15: '010203040506070'");
    EXPECT_EQ(expect_api_error([&] { c.get_queue("01020304050607zz"); }).details().message,
              "DevEUI must be 16 hex digits, got '01020304050607zz' (contains 'z')");
    auto r = relay_off();
    r.f_port = 0;
    EXPECT_EQ(expect_api_error([&] { c.enqueue(eui, r); }).code(), errc::invalid_fport);
    r.f_port = 224;
    EXPECT_NE(std::string(expect_api_error([&] { c.enqueue(eui, r); }).what()).find("got 224"), std::string::npos);
    r = relay_off();
    r.data.clear();
    EXPECT_EQ(expect_api_error([&] { c.enqueue(eui, r); }).code(), errc::invalid_payload);
    r.data.assign(243, 0);
    EXPECT_EQ(std::string(expect_api_error([&] { c.enqueue(eui, r); }).what()), "payload is 243 bytes; a LoRaWAN downlink carries at most 242");
    r = relay_off();
    r.expires_at = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now() - std::chrono::seconds(1));
    EXPECT_EQ(expect_api_error([&] { c.enqueue(eui, r); }).code(), errc::expires_in_past);
    EXPECT_EQ(expect_api_error([&] { c.request(method::get, "api/x"); }).code(), errc::invalid_argument);
    // The request is written by hand: nothing in a target may end its line early or add a field.
    for (const char* bad : {"/api/x y", "/api/x\tHTTP/1.1", "/api/x\r\nX-Injected: 1", "/api/x\x7f"})
        EXPECT_EQ(expect_api_error([&] { c.request(method::get, bad); }).code(), errc::invalid_argument) << bad;
    EXPECT_TRUE(s.requests().empty());
}

TEST(ChirpStackClient, TheApiKeyNeverAppearsInMessages) {
    fake_http_server s;
    s.always("GET", queue_path, status(401, R"({"code":16,"message":"invalid token test-key-0123456789","details":[]})"));
    s.always("POST", queue_path, status(500, "<pre>token=test-key-0123456789</pre>"));
    auto cfg = cfg_for(s);
    cfg.retry.max_attempts = 1;
    sync_client c(cfg);
    auto e1 = expect_api_error([&] { c.get_queue(eui); });
    auto e2 = expect_api_error([&] { c.enqueue(eui, relay_off()); });
    for (const auto& e : {e1, e2}) {
        EXPECT_EQ(std::string(e.what()).find("test-key-0123456789"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("***"), std::string::npos) << e.what();
    }
}

TEST(ChirpStackClient, A200ThatIsNotJsonAndEchoesTheKeyIsQuotedWithoutIt) {
    fake_http_server s; // a proxy's login page, say, that shows the token it was sent
    s.always("GET", queue_path, ok("<html>Authorization: Bearer test-key-0123456789 is not welcome</html>"));
    s.always("POST", queue_path, ok("<html>token test-key-0123456789</html>"));
    sync_client c(cfg_for(s));
    for (const auto& e : {expect_api_error([&] { c.get_queue(eui); }), expect_api_error([&] { c.enqueue(eui, relay_off()); })}) {
        EXPECT_EQ(e.code(), errc::malformed_response);
        EXPECT_EQ(std::string(e.what()).find("test-key-0123456789"), std::string::npos) << e.what();
        EXPECT_EQ(e.details().message.find("test-key-0123456789"), std::string::npos) << e.details().message;
        EXPECT_NE(e.details().message.find("***"), std::string::npos) << e.details().message;
    }
}

TEST(ChirpStackClient, ARefusedConnectionIsTransientAndRetriedForReads) {
    unsigned short dead_port;
    {
        fake_http_server s;
        dead_port = s.port();
    }
    config cfg;
    cfg.url = "http://127.0.0.1:" + std::to_string(dead_port);
    cfg.retry.initial_backoff = std::chrono::milliseconds(1);
    sync_client c(cfg);
    auto e = expect_api_error([&] { c.get_queue(eui); });
    EXPECT_EQ(e.code(), asio::error::connection_refused);
    EXPECT_TRUE(is_transient(e.code()));
    EXPECT_EQ(e.details().attempts, 3);
    EXPECT_FALSE(e.details().request_sent);
}

TEST(ChirpStackClient, CancellationAbortsACallInFlight) {
    fake_http_server s;
    s.always("GET", queue_path, queue_after(std::chrono::milliseconds(3000)));
    asio::io_context io;
    client c(io.get_executor(), cfg_for(s));
    asio::cancellation_signal sig;
    error_code got;
    bool done = false;
    c.async_get_queue(eui, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, std::vector<queue_item>) {
                          got = ec;
                          done = true;
                      }));
    asio::steady_timer t(io, std::chrono::milliseconds(100));
    t.async_wait([&](error_code) { sig.emit(asio::cancellation_type::terminal); });
    const auto t0 = std::chrono::steady_clock::now();
    io.run();
    EXPECT_TRUE(done);
    EXPECT_EQ(got, asio::error::operation_aborted);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2000));
}

TEST(ChirpStackClient, ASyncClientDestroyedWithCallsInFlightReleasesThemSafely) {
    // Its io_context is destroyed with the calls' coroutine frames still pending (resolving,
    // connecting, waiting for a slow reply): those frames must not reach a freed pool. ASan saw
    // it through the Python bindings, where closing a client with a call in flight is ordinary.
    fake_http_server s;
    s.always("GET", queue_path, queue_after(std::chrono::milliseconds(500)));
    std::atomic<int> completed{0};
    for (int round = 0; round < 20; ++round) {
        auto c = std::make_unique<sync_client>(cfg_for(s));
        for (int i = 0; i < 4; ++i)
            c->async().async_get_queue(eui, [&completed](error_code, std::vector<queue_item>) { ++completed; });
        if (round % 2) std::this_thread::sleep_for(std::chrono::milliseconds(round)); // different phases
        c.reset();
    }
    EXPECT_EQ(completed.load(), 0); // handlers of destroyed calls are dropped, never called late
}

TEST(ChirpStackClient, GenericRequestsCarryJsonBothWays) {
    fake_http_server s;
    s.expect("GET", "/api/applications?limit=10&tenantId=t1", ok(R"({"totalCount":1,"result":[{"id":"a1","name":"Estate"}]})"));
    s.expect("POST", "/api/applications", ok(R"({"id":"a2"})"));
    sync_client c(cfg_for(s));
    auto v = c.request(method::get, "/api/applications?limit=10&tenantId=t1");
    EXPECT_EQ(v.at("result").at(0).at("name"), "Estate");
    auto created = c.request(method::post, "/api/applications", json::value{{"application", {{"name", "x"}, {"tenantId", "t1"}}}});
    EXPECT_EQ(created.at("id"), "a2");
    EXPECT_EQ(json::parse(s.requests().at(1).body).at("application").at("name"), "x");
}

TEST(ChirpStackClient, UrlPrefixIsKeptAndBadUrlsAreRefused) {
    fake_http_server s;
    s.expect("GET", "/chirpstack/api/devices/0102030405060708/queue", ok(queue_json));
    auto cfg = cfg_for(s);
    cfg.url = s.url() + "/chirpstack/";
    sync_client c(cfg);
    EXPECT_EQ(c.get_queue(eui).size(), 1u);
    // The last ones carry a key where it does not belong: the refusal never echoes it.
    for (const char* bad : {"localhost:8090", "ftp://x", "http://", "http://host:0", "http://host:99999", "http://u:p@host",
                            "http://host/api?x=1", "http://[::1", "http://host/api?api_key=s3cr3t-k3y", "http://host/api#s3cr3t-k3y",
                            "http://user:s3cr3t-k3y@host", "ftp://host/?token=s3cr3t-k3y", "http://host:99999/?k=s3cr3t-k3y"}) {
        config b;
        b.url = bad;
        const auto why = relaylink::test::refusal_of(b);
        EXPECT_NE(why.find("ChirpStack URL"), std::string::npos) << bad << ": " << why;
        EXPECT_EQ(why.find("s3cr3t-k3y"), std::string::npos) << why;
    }
}

TEST(ChirpStackClient, AHeaderOrKeyThatWouldBreakTheRequestIsRefusedWhenTheClientIsMade) {
    // The request is written by hand (request_head.hpp): a CR or LF in a configured value would end its field
    // and add another, so such a configuration never makes a client. The key is never echoed.
    fake_http_server s;
    auto cfg = cfg_for(s);
    cfg.headers = {{"X-Proxy-Token", "t\r\nX-Injected: 1"}};
    EXPECT_NE(relaylink::test::refusal_of(cfg).find("'X-Proxy-Token' has a control character"), std::string::npos);
    cfg.headers.clear();
    cfg.api_key = "s3cr3t-k3y\n";
    const auto key = relaylink::test::refusal_of(cfg);
    EXPECT_NE(key.find("API key has a control character"), std::string::npos) << key;
    EXPECT_EQ(key.find("s3cr3t"), std::string::npos) << key;
    cfg.api_key = "k";
    cfg.headers = {{"X-Proxy-Token", "t"}};
    sync_client ok_client(cfg);
    s.expect("GET", queue_path, ok(queue_json));
    EXPECT_EQ(ok_client.get_queue(eui).size(), 1u);
    const auto reqs = s.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].headers.at("x-proxy-token"), "t");
    EXPECT_EQ(reqs[0].headers.count("x-injected"), 0u);
}

TEST(ChirpStackClient, EveryRefusalAtConstructionNamesItsSetting) {
    // relaylink::config_error (a std::invalid_argument) carries the setting: the Python module's ConfigError.field.
    auto field_of = [](auto edit) {
        config c;
        c.api_key = "k";
        edit(c);
        try {
            sync_client s(c);
        } catch (const relaylink::config_error& e) {
            return e.field();
        }
        return std::string("(made)");
    };
    EXPECT_EQ(field_of([](config&) {}), "(made)");
    EXPECT_EQ(field_of([](config& c) { c.url = "ftp://h"; }), "url");
    EXPECT_EQ(field_of([](config& c) { c.request_timeout = std::chrono::milliseconds(0); }), "request_timeout");
    EXPECT_EQ(field_of([](config& c) { c.connect_timeout = std::chrono::milliseconds(-1); }), "connect_timeout");
    EXPECT_EQ(field_of([](config& c) { c.max_response_size = 0; }), "max_response_size");
    EXPECT_EQ(field_of([](config& c) { c.headers = {{"Content-Length", "1"}}; }), "headers");
    EXPECT_EQ(field_of([](config& c) { c.user_agent = "a\nb"; }), "user_agent");
    EXPECT_EQ(field_of([](config& c) { c.api_key = "k\r\n"; }), "api_key");
    EXPECT_EQ(field_of([](config& c) {
                  c.url = "https://localhost:1";
                  c.ca_file = "/nonexistent/ca.pem";
              }),
              "ca_file");
}

TEST(ChirpStackConfig, FromEnvReadsThePortalsVariablesAndRefusesABadPort) {
    ::setenv("CHIRPSTACK_API_URL", "https://ns.example:8090", 1);
    ::setenv("CHIRPSTACK_API_KEY", "k", 1);
    ::setenv("CHIRPSTACK_TENANT_ID", "t", 1);
    ::setenv("CHIRPSTACK_PASSTHROUGH_PORT", "7", 1);
    auto c = config::from_env().value();
    EXPECT_EQ(c.url, "https://ns.example:8090");
    EXPECT_EQ(c.api_key, "k");
    EXPECT_EQ(c.tenant_id, "t");
    EXPECT_EQ(c.passthrough_port, 7);
    ::setenv("CHIRPSTACK_PASSTHROUGH_PORT", "300", 1);
    auto bad = config::from_env();
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message, "CHIRPSTACK_PASSTHROUGH_PORT must be an fPort 1-223, got '300'");
    ::setenv("CHIRPSTACK_PASSTHROUGH_PORT", "5x", 1);
    EXPECT_FALSE(config::from_env());
    for (const char* v : {"CHIRPSTACK_API_URL", "CHIRPSTACK_API_KEY", "CHIRPSTACK_TENANT_ID", "CHIRPSTACK_PASSTHROUGH_PORT"})
        ::unsetenv(v);
    // Nothing configured: refused, naming the variables (value() throws it: no client for localhost without a key).
    auto none = config::from_env();
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().field, "CHIRPSTACK_API_KEY");
    for (const char* v : {"CHIRPSTACK_API_URL", "CHIRPSTACK_API_KEY", "CHIRPSTACK_TENANT_ID", "CHIRPSTACK_PASSTHROUGH_PORT"})
        EXPECT_NE(none.error().message.find(v), std::string::npos) << none.error().message;
    EXPECT_THROW(config::from_env().value(), std::invalid_argument);
    ::setenv("CHIRPSTACK_API_KEY", "", 1);
    EXPECT_FALSE(config::from_env());
    ::unsetenv("CHIRPSTACK_API_KEY");
    EXPECT_EQ(config::from_env(false).value().url, "http://localhost:8090"); // the key from elsewhere
}
