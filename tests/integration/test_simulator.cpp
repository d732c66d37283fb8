// The simulator over loopback: the ChirpStack client works against it unchanged, its REST API
// behaves as ChirpStack's (auth, EUI errors, unknown keys, codes), the control API drives devices,
// HTTP faults show up as ChirpStack outages would, and timed mode runs devices by itself.
#include <relaylink/chirpstack/event.hpp>
#include <relaylink/chirpstack/sync_client.hpp>
#include <relaylink/device.hpp>
#include <relaylink/sim/simulator.hpp>

#include "../support/fake_http_server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include "../support/expect_api_error.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

using namespace relaylink;
namespace cs = relaylink::chirpstack;
namespace json = boost::json;

namespace {

/// A simulator on its own thread, for blocking clients.
struct running_sim {
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    sim::simulator s;
    std::thread t;
    explicit running_sim(sim::simulator_config c) : s(io.get_executor(), std::move(c)) {
        s.start();
        t = std::thread([this] { io.run(); });
    }
    ~running_sim() {
        s.stop();
        work.reset();
        io.stop();
        t.join();
    }
};

sim::simulator_config manual() {
    sim::simulator_config c;
    c.manual_time = true;
    return c;
}

cs::config client_cfg(const running_sim& r) {
    cs::config c;
    c.url = r.s.url();
    c.api_key = r.s.settings().api_key;
    c.retry.initial_backoff = std::chrono::milliseconds(1);
    return c;
}

sim::device_config sdm(std::string eui = "0101010101010101") {
    sim::device_config d;
    d.dev_eui = std::move(eui);
    return d;
}

using relaylink::test::expect_api_error;

} // namespace

TEST(Simulator, TheClientEnqueuesReadsAndFlushesUnchanged) {
    running_sim r(manual());
    r.s.add_device(sdm());
    cs::sync_client c(client_cfg(r));
    auto off = device::eastron_sdm320c().relay(false).value();
    cs::enqueue_request req{true, off.fport, bytes(off.payload.begin(), off.payload.end()), std::nullopt, false};
    const std::string id = c.enqueue("0101010101010101", req);
    EXPECT_EQ(id.size(), 36u);
    auto q = c.get_queue("0101010101010101");
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].id, id);
    EXPECT_EQ(q[0].data, req.data);
    EXPECT_TRUE(q[0].confirmed);
    EXPECT_FALSE(q[0].is_pending);
    c.flush_queue("0101010101010101");
    EXPECT_TRUE(c.get_queue("0101010101010101").empty());
    auto d = c.get_device("0101010101010101");
    EXPECT_EQ(d.dev_eui, "0101010101010101");
    EXPECT_EQ(d.class_enabled, "CLASS_A");
    EXPECT_FALSE(d.last_seen_at);
    EXPECT_EQ(c.get_next_f_cnt_down("0101010101010101"), 1u); // ChirpStack never answers less than 1
}

TEST(Simulator, ADownlinkTravelsToTheMeterAndTheEventsSayWhatHappened) {
    running_sim r(manual());
    r.s.add_device(sdm());
    std::mutex m;
    std::vector<std::pair<std::string, std::string>> seen;
    r.s.on_event([&](const sim::event_out& e) {
        std::lock_guard lock(m);
        seen.emplace_back(e.type, e.json);
    });
    cs::sync_client c(client_cfg(r));
    auto off = device::eastron_sdm320c().relay(false).value();
    const std::string id = c.enqueue("0101010101010101", {true, 5, bytes(off.payload.begin(), off.payload.end()), std::nullopt, false});
    EXPECT_TRUE(r.s.trigger_uplink("0101010101010101")); // periodic uplink: downlink goes out
    EXPECT_TRUE(c.get_queue("0101010101010101").at(0).is_pending);
    EXPECT_TRUE(r.s.trigger_uplink("0101010101010101")); // the reply uplink, with the ACK
    EXPECT_FALSE(r.s.device("0101010101010101")->relay_closed);
    EXPECT_TRUE(c.get_queue("0101010101010101").empty());
    std::lock_guard lock(m);
    std::vector<std::string> types;
    for (auto& [t, j] : seen) types.push_back(t);
    EXPECT_EQ(types, (std::vector<std::string>{"up", "txack", "up", "ack"}));
    auto ack = cs::parse_event("ack", seen[3].second).value();
    EXPECT_EQ(std::get<cs::ack_event>(ack).queue_item_id, id);
    EXPECT_TRUE(c.get_device("0101010101010101").last_seen_at);
    auto dl = r.s.device("0101010101010101")->downlinks;
    ASSERT_EQ(dl.size(), 1u);
    EXPECT_EQ(dl[0].queue_item_id, id);
}

TEST(Simulator, AuthIsCheckedAsChirpStackDoes) {
    running_sim r(manual());
    r.s.add_device(sdm());
    auto cfg = client_cfg(r);
    cfg.api_key = "";
    EXPECT_EQ(expect_api_error([&] { cs::sync_client(cfg).get_queue("0101010101010101"); }).details().message,
              "no authorization provided");
    cfg.api_key = "wrong";
    auto e = expect_api_error([&] { cs::sync_client(cfg).get_queue("0101010101010101"); });
    EXPECT_EQ(e.code(), cs::errc::unauthenticated);
    EXPECT_EQ(e.details().grpc_code, 16);
    EXPECT_EQ(e.details().message, "InvalidToken"); // as ChirpStack 4.20 answers a wrong key
    cfg = client_cfg(r);
    cfg.header = cs::auth_header::authorization;
    EXPECT_TRUE(cs::sync_client(cfg).get_queue("0101010101010101").empty());
}

TEST(Simulator, UnknownDevicesMalformedEuisAndBadItemsGetChirpStacksAnswers) {
    running_sim r(manual());
    r.s.add_device(sdm());
    cs::sync_client c(client_cfg(r));
    auto nf = expect_api_error([&] { c.get_device("0202020202020202"); });
    EXPECT_EQ(nf.code(), cs::errc::not_found);
    EXPECT_EQ(nf.details().message, "Object does not exist (id: 0202020202020202)");
    // The client refuses a malformed EUI itself; sent raw, ChirpStack answers 500 "Odd number of digits".
    auto odd = expect_api_error([&] { c.request(cs::method::get, "/api/devices/010101010101010/queue"); });
    EXPECT_EQ(odd.details().http_status, 500u);
    EXPECT_EQ(odd.details().message, "Odd number of digits");
    // A wrong wrapper is silently discarded by grpc-gateway: the item is empty, so fPort 0 is refused.
    auto wrapped = expect_api_error([&] {
        c.request(cs::method::post, "/api/devices/0101010101010101/queue", json::value{{"item", {{"fPort", 5}, {"data", "AQI="}}}});
    });
    EXPECT_EQ(wrapped.code(), cs::errc::bad_request);
    // fPort is cast to a byte when stored: 261 becomes 5.
    c.request(cs::method::post, "/api/devices/0101010101010101/queue",
              json::value{{"queueItem", {{"fPort", 261}, {"data", "AQI="}, {"unknownField", 1}}}});
    EXPECT_EQ(c.get_queue("0101010101010101").at(0).f_port, 5u);
    auto bad64 = expect_api_error([&] {
        c.request(cs::method::post, "/api/devices/0101010101010101/queue", json::value{{"queueItem", {{"fPort", 5}, {"data", "%%"}}}});
    });
    EXPECT_EQ(bad64.code(), cs::errc::bad_request);
}

TEST(Simulator, ManagementCrudForApplicationsDevicesKeysAndGateways) {
    running_sim r(manual());
    cs::sync_client c(client_cfg(r));
    auto app = c.request(cs::method::post, "/api/applications", json::value{{"application", {{"name", "Estate"}, {"tenantId", "t1"}}}});
    const std::string app_id(app.at("id").as_string());
    EXPECT_EQ(c.request(cs::method::get, "/api/applications/" + app_id).at("application").at("name"), "Estate");
    EXPECT_EQ(c.request(cs::method::get, "/api/applications?limit=10&tenantId=t1").at("totalCount"), 1);
    c.request(cs::method::put, "/api/applications/" + app_id, json::value{{"application", {{"name", "Estate 2"}}}});
    EXPECT_EQ(c.request(cs::method::get, "/api/applications/" + app_id).at("application").at("name"), "Estate 2");
    c.request(cs::method::post, "/api/devices",
              json::value{{"device", {{"devEui", "0A0B0C0D0E0F1011"}, {"name", "meter 9"}, {"applicationId", app_id}, {"deviceProfileId", "p"},
                                      {"tags", {{"relaylink_kind", "ivy_em114039"}}}}}});
    EXPECT_EQ(r.s.device("0a0b0c0d0e0f1011")->cfg.kind, sim::device_kind::ivy_em114039);
    EXPECT_EQ(c.get_device("0a0b0c0d0e0f1011").name, "meter 9");
    EXPECT_EQ(c.request(cs::method::get, "/api/devices?applicationId=" + app_id + "&limit=10").at("totalCount"), 1);
    auto dup = expect_api_error([&] {
        c.request(cs::method::post, "/api/devices", json::value{{"device", {{"devEui", "0a0b0c0d0e0f1011"}}}});
    });
    EXPECT_EQ(dup.code(), cs::errc::already_exists);
    c.request(cs::method::post, "/api/devices/0a0b0c0d0e0f1011/keys", json::value{{"deviceKeys", {{"nwkKey", "00"}, {"appKey", "00"}}}});
    EXPECT_EQ(c.request(cs::method::get, "/api/devices/0a0b0c0d0e0f1011/keys").at("deviceKeys").at("appKey"), "00");
    c.request(cs::method::put, "/api/devices/0a0b0c0d0e0f1011", json::value{{"device", {{"name", "meter 10"}}}});
    EXPECT_EQ(c.get_device("0a0b0c0d0e0f1011").name, "meter 10");
    c.request(cs::method::del, "/api/devices/0a0b0c0d0e0f1011");
    EXPECT_EQ(expect_api_error([&] { c.get_device("0a0b0c0d0e0f1011"); }).code(), cs::errc::not_found);
    c.request(cs::method::post, "/api/gateways", json::value{{"gateway", {{"gatewayId", "0016c001f153a14c"}, {"name", "roof"}}}});
    EXPECT_EQ(c.request(cs::method::get, "/api/gateways/0016c001f153a14c").at("gateway").at("name"), "roof");
    c.request(cs::method::del, "/api/applications/" + app_id);
    EXPECT_EQ(expect_api_error([&] { c.request(cs::method::get, "/api/applications/" + app_id); }).code(), cs::errc::not_found);
}

TEST(Simulator, ControlApiDrivesDevicesAndRefusesBadValues) {
    running_sim r(manual());
    cs::sync_client c(client_cfg(r));
    auto v = c.request(cs::method::post, "/sim/devices",
                       json::value{{"devEui", "0303030303030303"}, {"kind", "uc100_sdm320c"}, {"wiring", "load_side"}});
    EXPECT_EQ(v.at("relay"), "closed");
    auto bad = expect_api_error([&] { c.request(cs::method::post, "/sim/devices", json::value{{"devEui", "03"}}); });
    EXPECT_NE(bad.details().message.find("devEui must be 16 hex digits"), std::string::npos);
    auto bad_kind = expect_api_error([&] {
        c.request(cs::method::post, "/sim/devices", json::value{{"devEui", "0404040404040404"}, {"kind", "toaster"}});
    });
    EXPECT_NE(bad_kind.details().message.find("kind must be uc100_sdm320c or ivy_em114039"), std::string::npos);
    auto bad_fault = expect_api_error([&] {
        c.request(cs::method::put, "/sim/devices/0303030303030303/faults", json::value{{"uplinkLoss", 2}});
    });
    EXPECT_EQ(bad_fault.details().message, "uplinkLoss must be a probability 0-1, got 2");
    auto bad_latency = expect_api_error([&] { c.request(cs::method::put, "/sim/faults", json::value{{"latencyMs", "soon"}}); });
    EXPECT_EQ(bad_latency.details().message, "latencyMs must be 0-3600000 milliseconds, got \"soon\"");
    auto off = device::eastron_sdm320c().relay(false).value();
    c.enqueue("0303030303030303", {true, 5, bytes(off.payload.begin(), off.payload.end()), std::nullopt, false});
    EXPECT_EQ(c.request(cs::method::post, "/sim/devices/0303030303030303/uplink").at("sent"), true);
    auto after = c.request(cs::method::get, "/sim/devices/0303030303030303");
    EXPECT_EQ(after.at("relay"), "open");
    EXPECT_EQ(after.at("bridgePowered"), false);
    EXPECT_EQ(after.at("downlinks").as_array().size(), 1u);
    EXPECT_EQ(after.at("downlinks").at(0).at("hex"), "010500000000CDCA");
    EXPECT_EQ(c.request(cs::method::post, "/sim/devices/0303030303030303/uplink").at("sent"), false);
    EXPECT_EQ(c.request(cs::method::post, "/sim/devices/0303030303030303/restore-power").at("bridgePowered"), true);
    EXPECT_EQ(c.request(cs::method::post, "/sim/devices/0303030303030303/uplink").at("sent"), true);
    c.request(cs::method::post, "/sim/reset");
    EXPECT_TRUE(c.request(cs::method::get, "/sim/devices").as_array().empty());
}

TEST(Simulator, DeviceFaultsCanBeSetForAllDevicesAtOnce) {
    running_sim r(manual());
    r.s.add_device(sdm("0101010101010101"));
    r.s.add_device(sdm("0202020202020202"));
    cs::sync_client c(client_cfg(r));
    c.request(cs::method::put, "/sim/faults", json::value{{"uplinkLoss", 1.0}, {"replyDelayMs", 500}});
    for (const char* eui : {"0101010101010101", "0202020202020202"}) {
        EXPECT_DOUBLE_EQ(r.s.device(eui)->cfg.faults.uplink_loss, 1.0);
        EXPECT_EQ(r.s.device(eui)->cfg.faults.reply_delay, std::chrono::milliseconds(500));
        EXPECT_TRUE(r.s.trigger_uplink(eui));
        EXPECT_EQ(r.s.device(eui)->uplinks_lost, 1u);
    }
    // a bad value changes nothing
    auto e = expect_api_error([&] { c.request(cs::method::put, "/sim/faults", json::value{{"dropRate", 0.5}, {"downlinkLoss", -1}}); });
    EXPECT_NE(e.details().message.find("downlinkLoss must be a probability"), std::string::npos);
    EXPECT_TRUE(c.get_queue("0101010101010101").empty()); // dropRate was not applied
}

TEST(Simulator, AStuckRelayAnswersTheWriteButDoesNotMove) {
    running_sim r(manual());
    r.s.add_device(sdm());
    cs::sync_client c(client_cfg(r));
    c.request(cs::method::put, "/sim/faults", json::value{{"relayStuck", true}});
    EXPECT_TRUE(r.s.device("0101010101010101")->cfg.faults.relay_stuck);
    auto e = expect_api_error([&] { c.request(cs::method::put, "/sim/faults", json::value{{"relayStuck", "yes"}}); });
    EXPECT_NE(e.details().message.find("relayStuck must be true or false"), std::string::npos);
    cs::enqueue_request off;
    off.f_port = 5;
    off.data = {0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xCD, 0xCA};
    c.enqueue("0101010101010101", off);
    EXPECT_TRUE(r.s.trigger_uplink("0101010101010101")); // the write goes out
    EXPECT_TRUE(r.s.trigger_uplink("0101010101010101")); // the meter's answer, as if done, with the ACK
    EXPECT_EQ(r.s.device("0101010101010101")->downlinks.size(), 1u);
    EXPECT_TRUE(c.get_queue("0101010101010101").empty());
    EXPECT_TRUE(r.s.device("0101010101010101")->relay_closed); // but the relay did not move
}

TEST(Simulator, HttpFaultsLookLikeAChirpStackOutage) {
    running_sim r(manual());
    r.s.add_device(sdm());
    cs::sync_client c(client_cfg(r));
    r.s.set_http_faults({.error_5xx_rate = 1.0});
    auto e = expect_api_error([&] { c.get_queue("0101010101010101"); });
    EXPECT_EQ(e.code(), cs::errc::unavailable);
    EXPECT_EQ(e.details().attempts, 3);
    r.s.set_http_faults({.rate_limit_rate = 1.0});
    EXPECT_EQ(expect_api_error([&] { c.get_queue("0101010101010101"); }).code(), cs::errc::rate_limited);
    r.s.set_http_faults({.drop_rate = 1.0});
    auto dropped = expect_api_error([&] { c.get_queue("0101010101010101"); });
    EXPECT_TRUE(cs::is_transient(dropped.code())) << dropped.code().message();
    r.s.set_http_faults({.latency = std::chrono::milliseconds(300)});
    auto slow = client_cfg(r);
    slow.request_timeout = std::chrono::milliseconds(100);
    slow.retry.max_attempts = 1;
    EXPECT_EQ(expect_api_error([&] { cs::sync_client(slow).get_queue("0101010101010101"); }).code(), cs::errc::timeout);
    r.s.set_http_faults({});
    EXPECT_TRUE(c.get_queue("0101010101010101").empty());
}

TEST(Simulator, FaultsBeforeTheRequestLeaveTheQueueFaultsAfterItApplyIt) {
    running_sim r(manual());
    r.s.add_device(sdm());
    auto cfg = client_cfg(r);
    cfg.request_timeout = std::chrono::milliseconds(150);
    cs::sync_client c(cfg);
    const cs::enqueue_request item{.confirmed = true, .f_port = 5, .data = {1, 5, 0, 0, 0, 0, 0xCD, 0xCA}};
    // Refused before anything happens: the queue stays empty.
    r.s.set_http_faults({.error_500_rate = 1.0});
    auto internal = expect_api_error([&] { c.enqueue("0101010101010101", item); });
    EXPECT_EQ(internal.code(), cs::errc::server_error);
    EXPECT_EQ(internal.details().grpc_code, 13);
    r.s.set_http_faults({.refuse_rate = 1.0});
    EXPECT_EQ(expect_api_error([&] { c.enqueue("0101010101010101", item); }).code(), cs::errc::bad_request);
    r.s.set_http_faults({.drop_rate = 1.0});
    expect_api_error([&] { c.enqueue("0101010101010101", item); });
    r.s.set_http_faults({});
    EXPECT_TRUE(c.get_queue("0101010101010101").empty());
    // Applied, but the answer is lost, unreadable or late: each leaves an item in the queue.
    r.s.set_http_faults({.lost_response_rate = 1.0});
    EXPECT_TRUE(cs::is_transient(expect_api_error([&] { c.enqueue("0101010101010101", item); }).code()));
    r.s.set_http_faults({.garbled_rate = 1.0});
    auto garbled = expect_api_error([&] { c.enqueue("0101010101010101", item); });
    EXPECT_EQ(garbled.code(), cs::errc::malformed_response);
    EXPECT_NE(garbled.details().message.find("not JSON"), std::string::npos) << garbled.what();
    r.s.set_http_faults({.slow_rate = 1.0, .slow_latency = std::chrono::milliseconds(400)});
    EXPECT_EQ(expect_api_error([&] { c.enqueue("0101010101010101", item); }).code(), cs::errc::timeout);
    r.s.set_http_faults({});
    EXPECT_EQ(c.get_queue("0101010101010101").size(), 3u);
    // Rates that add up to more than one are refused, through the C++ API and the control API.
    EXPECT_THROW(r.s.set_http_faults({.error_5xx_rate = 0.7, .garbled_rate = 0.7}), std::invalid_argument);
    auto sum = expect_api_error([&] { c.request(cs::method::put, "/sim/faults", json::value{{"error5xxRate", 0.6}, {"slowRate", 0.6}}); });
    EXPECT_NE(sum.details().message.find("add up to"), std::string::npos) << sum.what();
    auto method = expect_api_error([&] { c.request(cs::method::put, "/sim/faults", json::value{{"onlyMethod", "PATCH"}}); });
    EXPECT_NE(method.details().message.find("onlyMethod must be"), std::string::npos) << method.what();
}

TEST(Simulator, ADeviceChirpStackDoesNotKnowAnswersAsTheRealOneDoes) {
    running_sim r(manual());
    cs::sync_client c(client_cfg(r));
    const std::string eui = "70b3d5e7000000ff";
    // Observed on ChirpStack 4.20: the enqueue fails on the foreign key (500, code 13), not with a 404 ...
    auto e = expect_api_error([&] { c.enqueue(eui, {.confirmed = true, .f_port = 5, .data = {1, 5, 0, 0, 0, 0, 0xCD, 0xCA}}); });
    EXPECT_EQ(e.details().http_status, 500u);
    EXPECT_EQ(e.details().grpc_code, 13);
    EXPECT_EQ(e.code(), cs::errc::not_found) << "the client reads the foreign-key 500 as what it is";
    EXPECT_NE(e.details().message.find("is not in ChirpStack"), std::string::npos) << e.what();
    // ... while the queue reads empty and flushes fine, and the device itself is 404.
    EXPECT_TRUE(c.get_queue(eui).empty());
    EXPECT_NO_THROW(c.flush_queue(eui));
    EXPECT_EQ(expect_api_error([&] { c.get_device(eui); }).code(), cs::errc::not_found);
    EXPECT_EQ(expect_api_error([&] { c.get_next_f_cnt_down(eui); }).code(), cs::errc::not_found);
}

TEST(Simulator, TimedModeRunsDevicesByItself) {
    sim::simulator_config cfg;
    cfg.speed = 600; // a 10-minute interval passes in one second
    running_sim r(cfg);
    auto d = sdm();
    d.uplink_interval = std::chrono::minutes(2); // 0.2 s of real time
    r.s.add_device(d);
    std::atomic<int> ups{0};
    r.s.on_event([&](const sim::event_out& e) {
        if (e.type == "up") ++ups;
    });
    cs::sync_client c(client_cfg(r));
    auto off = device::eastron_sdm320c().relay(false).value();
    c.enqueue("0101010101010101", {true, 5, bytes(off.payload.begin(), off.payload.end()), std::nullopt, false});
    // The relay moves inside the uplink that fetched the frame; its `up` event reaches subscribers after
    // (a fresh-clone run under the sanitizers read 0 of them the moment the relay had moved): wait for both.
    for (int i = 0; i < 250 && (r.s.device("0101010101010101")->relay_closed || ups.load() < 1); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(r.s.device("0101010101010101")->relay_closed);
    EXPECT_GE(ups.load(), 1);
}

TEST(Simulator, EventsArePostedToTheHttpIntegrationAsChirpStackDoes) {
    relaylink::test::fake_http_server hook;
    hook.always("POST", "/chirpstack-hook?event=up", relaylink::test::reply{});
    hook.always("POST", "/chirpstack-hook?event=txack", relaylink::test::reply{});
    auto cfg = manual();
    cfg.integration_url = hook.url() + "/chirpstack-hook";
    running_sim r(cfg);
    r.s.add_device(sdm());
    cs::sync_client c(client_cfg(r));
    auto off = device::eastron_sdm320c().relay(false).value();
    c.enqueue("0101010101010101", {false, 5, bytes(off.payload.begin(), off.payload.end()), std::nullopt, false});
    r.s.trigger_uplink("0101010101010101");
    for (int i = 0; i < 100 && hook.requests().size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto reqs = hook.requests();
    ASSERT_EQ(reqs.size(), 2u);
    // ChirpStack does not order its integration posts, and neither does the simulator.
    std::sort(reqs.begin(), reqs.end(), [](const auto& a, const auto& b) { return a.target.size() < b.target.size(); });
    EXPECT_EQ(reqs[0].target, "/chirpstack-hook?event=up");
    EXPECT_EQ(reqs[1].target, "/chirpstack-hook?event=txack");
    EXPECT_EQ(reqs[0].headers["content-type"], "application/json");
    auto up = cs::parse_event("up", reqs[0].body);
    ASSERT_TRUE(up) << up.error().message;
    EXPECT_EQ(cs::dev_eui_of(*up), "0101010101010101");
}

TEST(Simulator, ABadIntegrationUrlIsRefusedAtConstruction) {
    auto cfg = manual();
    cfg.integration_url = "hook.example";
    boost::asio::io_context io;
    try {
        sim::simulator s(io.get_executor(), cfg);
        ADD_FAILURE() << "accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("must start with http://"), std::string::npos);
    }
}

TEST(Simulator, FlushUnsentKeepsTheItemThatAwaitsItsAckAndThePlaceholderNeverGoesOut) {
    running_sim r(manual());
    r.s.add_device(sdm());
    cs::sync_client c(client_cfg(r));
    const cs::enqueue_request off{.confirmed = true, .f_port = 5, .data = {1, 5, 0, 0, 0, 0, 0xCD, 0xCA}};
    const cs::enqueue_request on{.confirmed = true, .f_port = 5, .data = {1, 5, 0, 0, 0xFF, 0, 0x8C, 0x3A}};
    const auto sent = c.enqueue("0101010101010101", off);
    ASSERT_TRUE(r.s.trigger_uplink("0101010101010101")); // off goes out and awaits its ACK
    const auto unwanted = c.enqueue("0101010101010101", on);
    const auto placeholder = c.flush_unsent("0101010101010101", 5);
    auto q = c.get_queue("0101010101010101");
    ASSERT_EQ(q.size(), 2u);
    EXPECT_EQ(q[0].id, sent);
    EXPECT_TRUE(q[0].is_pending);
    EXPECT_EQ(q[1].id, placeholder);
    EXPECT_NE(q[1].id, unwanted);
    std::vector<std::string> types;
    r.s.on_event([&](const sim::event_out& e) { types.push_back(e.type); });
    ASSERT_TRUE(r.s.trigger_uplink("0101010101010101"));
    EXPECT_EQ(types, (std::vector<std::string>{"up", "ack", "log"})) << "the ack arrives; the placeholder is dropped (EXPIRED)";
    EXPECT_EQ(r.s.device("0101010101010101")->downlinks.size(), 1u) << "nothing but the off went out";
    EXPECT_TRUE(c.get_queue("0101010101010101").empty());
}

TEST(Simulator, AnEnqueueIsCheckedAsChirpStack420ChecksIt) {
    running_sim r(manual());
    r.s.add_device(sdm());
    cs::sync_client c(client_cfg(r));
    auto post = [&](json::value item) {
        return c.request(cs::method::post, "/api/devices/0101010101010101/queue", json::value{{"queueItem", std::move(item)}});
    };
    // fPort 0 is refused with ChirpStack's words; 224 and 255 (reserved by LoRaWAN) are accepted.
    auto zero = expect_api_error([&] { post({{"fPort", 0}, {"data", "AQI="}}); });
    EXPECT_EQ(zero.details().http_status, 400u);
    EXPECT_EQ(zero.details().message, "FPort must be between 1 - 255");
    EXPECT_NO_THROW(post({{"fPort", 224}, {"data", "AQI="}}));
    EXPECT_NO_THROW(post({{"fPort", 255}, {"data", "AQI="}}));
    // No size check at enqueue: a 243-byte item is accepted, and dropped at the next uplink as too large.
    EXPECT_NO_THROW(post({{"fPort", 5}, {"data", relaylink::to_base64(relaylink::bytes(243, 0x01))}}));
    EXPECT_EQ(c.get_queue("0101010101010101").size(), 3u);
}
