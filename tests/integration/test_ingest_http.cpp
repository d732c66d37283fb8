// ChirpStack's HTTP integration: the simulator POSTs its events to an http_integration feeding the
// relay service; every refusal is checked with a plain HTTP client over loopback.
#include "../support/event_json.hpp"
#include "../support/ports.hpp"
#include "../support/service_rig.hpp"

#include <relaylink/ingest/http_integration.hpp>

#include <boost/asio/connect.hpp>
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
    answer a{static_cast<int>(res.result_int()), res.body(), std::string(res[http::field::allow]), res.keep_alive()};
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
    EXPECT_EQ(s.received, 14u);
    EXPECT_EQ(s.delivered, 2u);
    EXPECT_EQ(s.rejected, 5u); // 2 × 401, 2 × 413, 405
    EXPECT_EQ(s.unsupported, 2u);
    EXPECT_EQ(s.malformed, 4u);
    EXPECT_EQ(s.foreign, 1u);
    EXPECT_EQ(srv.count(), 2u);
    std::lock_guard lock(mu);
    EXPECT_FALSE(warnings.empty());
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
    svc_io.run_for(500ms);
    EXPECT_EQ(svc.pending_events(), 0u);
    EXPECT_EQ(svc.stats().events, 50u);
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
