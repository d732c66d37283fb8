// ChirpStack's events through a real mosquitto broker (started by the test on a free loopback port)
// into the relay service: the simulator publishes on ChirpStack's topics, an mqtt_source subscribes.
#include "../support/certs.hpp"
#include "../support/event_json.hpp"
#include "../support/mosquitto.hpp"
#include "../support/service_rig.hpp"

#include <relaylink/ingest/mqtt_source.hpp>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include <map>
#include <set>

#include <unistd.h>

using namespace relaylink;
using relaylink::test::req;
using relaylink::test::up_json;
using relaylink::test::service_rig;
using command::state;
using namespace std::chrono_literals;

namespace {

const std::string A = "0101010101010101";
const std::string B = "0202020202020202";

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds timeout = 15s) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!p()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

sim::simulator_config sim_to(const test::mosquitto_broker& b, int qos = 1) {
    auto c = test::manual_sim();
    c.mqtt_url = b.url();
    c.mqtt_qos = qos; // 1 as docs/ingest.md says to set ChirpStack's [integration.mqtt] qos; its default is 0
    return c;
}

ingest::mqtt_config source_cfg(const test::mosquitto_broker& b, const std::string& id = "relaylink-test") {
    ingest::mqtt_config c;
    c.url = b.url();
    c.client_id = id;
    c.min_retry = 20ms;
    c.max_retry = 200ms;
    c.connect_timeout = 3s;
    return c;
}

/// An event's identity: what makes two deliveries the same message.
std::string identity(const chirpstack::event& e) {
    return std::visit(
        [&](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            std::string id = std::string(chirpstack::type_of(e)) + "/" + chirpstack::dev_eui_of(e);
            if constexpr (std::is_same_v<T, chirpstack::up_event>) id += "/" + x.deduplication_id;
            if constexpr (std::is_same_v<T, chirpstack::ack_event>) id += "/" + x.deduplication_id + "/" + x.queue_item_id;
            if constexpr (std::is_same_v<T, chirpstack::txack_event>) id += "/" + std::to_string(x.downlink_id) + "/" + x.queue_item_id;
            if constexpr (!std::is_same_v<T, chirpstack::unknown_event>) id += "/" + std::to_string(x.time.time_since_epoch().count());
            return id;
        },
        e);
}

/// Counts distinct and repeated deliveries, then feeds the service.
struct tap {
    std::mutex mu;
    std::map<std::string, int> seen;
    ingest::event_sink next;
    ingest::event_sink sink() {
        return [this](chirpstack::event e) {
            {
                std::lock_guard lock(mu);
                ++seen[identity(e)];
            }
            next(std::move(e));
        };
    }
    std::size_t distinct() {
        std::lock_guard lock(mu);
        return seen.size();
    }
};

/// Every event the simulator emitted has reached the service and been committed.
bool all_through(service_rig& r, tap& t) {
    return eventually([&] { return t.distinct() == r.sim.events_emitted() && r.svc->pending_events() == 0; });
}

void publish(mqtt::async_client& c, const std::string& topic, const std::string& payload, int qos = 1) {
    c.publish(topic, payload.data(), payload.size(), qos, false)->wait();
}


/// How a protobuf `up` event begins: field 1 (deduplicationId, 36 bytes), then field 2 (time).
std::string protobuf_like() { return "\x0a\x24" + std::string("3ac7e3c4-4401-4b8d-9386-a5c902f9202d") + "\x12\x0c\x08\x97"; }

} // namespace

TEST(IngestMqtt, EventsFlowFromTheSimulatorThroughTheBrokerIntoTheService) {
    test::mosquitto_broker broker;
    service_rig r(store::make_memory_store(), test::quiet_config(), device::profile_registry::with_builtins(), sim_to(broker), false);
    r.add(A);
    r.add(B, sim::wiring::line_side, sim::device_kind::ivy_em114039);
    tap t;
    t.next = ingest::to_service(*r.svc, 1000);
    std::vector<std::string> logs;
    std::mutex log_mu;
    auto cfg = source_cfg(broker);
    cfg.log = [&](ingest::log_level, std::string_view m) {
        std::lock_guard lock(log_mu);
        logs.emplace_back(m);
    };
    ingest::mqtt_source src(cfg, t.sink());
    src.start();
    ASSERT_TRUE(src.wait_connected(10s)) << src.last_error();
    EXPECT_EQ(src.subscription(), "application/+/device/+/event/+");

    const auto a = r.svc->disconnect(req(A));
    const auto b = r.svc->disconnect(req(B, "ivy_em114039"));
    r.settle();
    r.advance(10min);
    ASSERT_TRUE(all_through(r, t));
    r.advance(5s);
    ASSERT_TRUE(all_through(r, t));
    r.settle();
    EXPECT_EQ(r.state_of(a.id), state::confirmed) << r.get(a.id).rec.error;
    EXPECT_EQ(r.state_of(b.id), state::confirmed) << r.get(b.id).rec.error;
    EXPECT_FALSE(r.sim.device(A)->relay_closed);
    EXPECT_FALSE(r.sim.device(B)->relay_closed);

    const auto s = src.stats();
    EXPECT_GE(s.delivered, r.sim.events_emitted());
    EXPECT_EQ(s.malformed + s.foreign + s.unsupported + s.sink_errors, 0u);
    EXPECT_EQ(s.connects, 1u);
    std::lock_guard lock(log_mu);
    ASSERT_FALSE(logs.empty());
    EXPECT_NE(logs.front().find("subscribed to 'application/+/device/+/event/+' (QoS 1"), std::string::npos) << logs.front();
}

TEST(IngestMqtt, ABrokerRestartMidStreamLosesNoEventAndAppliesNoTransitionTwice) {
    test::mosquitto_broker broker;
    auto scfg = sim_to(broker);
    scfg.seed = 11;
    service_rig r(store::make_memory_store(), test::quiet_config(), device::profile_registry::with_builtins(), scfg, false);
    std::vector<std::string> euis;
    for (int i = 0; i < 24; ++i) {
        char eui[17];
        std::snprintf(eui, sizeof eui, "a0b0c0d0%08x", i + 1);
        euis.emplace_back(eui);
        auto d = r.add(eui, sim::wiring::line_side, i % 3 == 0 ? sim::device_kind::ivy_em114039 : sim::device_kind::uc100_sdm320c);
        (void)d;
    }
    tap t;
    t.next = ingest::to_service(*r.svc, 1000);
    ingest::mqtt_source src(source_cfg(broker), t.sink());
    src.start();
    ASSERT_TRUE(src.wait_connected(10s)) << src.last_error();

    std::vector<std::int64_t> ids;
    for (std::size_t i = 0; i < euis.size(); ++i)
        ids.push_back(r.svc->disconnect(req(euis[i], i % 3 == 0 ? "ivy_em114039" : "eastron_sdm320c")).id);
    r.settle();

    // The devices uplink spread over their 10-minute interval; the broker goes away twice while
    // events are being published (once by a clean stop, once between two bursts).
    for (int step = 0; step < 12; ++step) {
        if (step == 3 || step == 7) broker.stop();
        r.advance(1min);
        if (step == 4 || step == 8) {
            r.advance(2s);
            broker.start();
            ASSERT_TRUE(src.wait_connected(10s)) << src.last_error();
        }
    }
    r.advance(10s);
    ASSERT_TRUE(all_through(r, t)) << "distinct events " << t.distinct() << " of " << r.sim.events_emitted();
    r.settle();

    for (std::size_t i = 0; i < ids.size(); ++i) {
        const auto view = r.svc->command(ids[i]).value();
        EXPECT_EQ(view.command.rec.current, state::confirmed) << euis[i] << ": " << view.command.rec.error;
        std::map<state, int> entered;
        for (const auto& e : view.events)
            if (e.from != e.to) ++entered[e.to];
        for (const auto& [st, n] : entered) EXPECT_EQ(n, 1) << euis[i] << " entered " << command::to_string(st) << " " << n << " times";
        EXPECT_EQ(r.sim.device(euis[i])->downlinks.size(), 1u) << euis[i];
        EXPECT_FALSE(r.sim.device(euis[i])->relay_closed) << euis[i];
    }
    const auto s = src.stats();
    EXPECT_GE(s.connections_lost, 2u);
    EXPECT_GE(s.connects, 3u);
    EXPECT_EQ(t.distinct(), r.sim.events_emitted());
    EXPECT_EQ(s.malformed + s.foreign + s.unsupported, 0u);
}

TEST(IngestMqtt, EventsPublishedWhileRelaylinkIsAwayArriveWhenItComesBack) {
    test::mosquitto_broker broker;
    std::mutex mu;
    std::vector<std::string> got;
    auto sink = [&](chirpstack::event e) {
        std::lock_guard lock(mu);
        got.push_back(std::get<chirpstack::up_event>(e).deduplication_id);
    };
    {
        ingest::mqtt_source first(source_cfg(broker, "relaylink-away"), sink);
        first.start();
        ASSERT_TRUE(first.wait_connected(10s)) << first.last_error();
    } // relaylink stops (or its process ends): the broker keeps the session

    mqtt::async_client pub(broker.url(), "relaylink-test-pub");
    pub.connect()->wait();
    for (int i = 0; i < 50; ++i) publish(pub, "application/app/device/" + A + "/event/up", up_json(A, "away-" + std::to_string(i)));
    pub.disconnect()->wait();
    broker.restart(); // and the broker restarts meanwhile, too

    ingest::mqtt_source again(source_cfg(broker, "relaylink-away"), sink);
    again.start();
    ASSERT_TRUE(again.wait_connected(10s)) << again.last_error();
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(mu);
        return got.size() >= 50;
    }));
    {
        std::lock_guard lock(mu);
        for (int i = 0; i < 50; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "away-" + std::to_string(i)) << "in the order published";
    }
    again.stop();

    // a clean session (clean_session = true) gets nothing of what was published while it was away
    auto clean = source_cfg(broker, "relaylink-clean");
    clean.clean_session = true;
    std::atomic<int> none{0};
    {
        ingest::mqtt_source c(clean, [&](chirpstack::event) { ++none; });
        c.start();
        ASSERT_TRUE(c.wait_connected(10s));
    }
    mqtt::async_client pub2(broker.url(), "relaylink-test-pub2");
    pub2.connect()->wait();
    publish(pub2, "application/app/device/" + A + "/event/up", up_json(A, "while-clean-away"));
    pub2.disconnect()->wait();
    ingest::mqtt_source c(clean, [&](chirpstack::event) { ++none; });
    c.start();
    ASSERT_TRUE(c.wait_connected(10s));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(none, 0);
}

TEST(IngestMqtt, EventsPublishedAtQos0WhileRelaylinkIsAwayAreLostEvenWithAPersistentSession) {
    // Observed on ChirpStack 4.20: its MQTT integration publishes at QoS 0 unless `qos = 1` is set under
    // [integration.mqtt]; the broker then keeps nothing for a subscriber that is away.
    test::mosquitto_broker broker;
    std::atomic<int> got{0};
    auto sink = [&](chirpstack::event) { ++got; };
    {
        ingest::mqtt_source first(source_cfg(broker, "relaylink-qos0"), sink);
        first.start();
        ASSERT_TRUE(first.wait_connected(10s)) << first.last_error();
    }
    mqtt::async_client pub(broker.url(), "relaylink-test-pub-qos0");
    pub.connect()->wait();
    for (int i = 0; i < 5; ++i) publish(pub, "application/app/device/" + A + "/event/up", up_json(A, "lost-" + std::to_string(i)), 0);
    ingest::mqtt_source again(source_cfg(broker, "relaylink-qos0"), sink);
    again.start();
    ASSERT_TRUE(again.wait_connected(10s)) << again.last_error();
    publish(pub, "application/app/device/" + A + "/event/up", up_json(A, "seen"), 0); // while connected: delivered
    ASSERT_TRUE(eventually([&] { return got.load() >= 1; }));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(got.load(), 1) << "only the event published while the subscriber was connected arrives";
    pub.disconnect()->wait();
}

TEST(IngestMqtt, TwoSourcesWithDefaultClientIdsDoNotKickEachOtherOffTheBroker) {
    // Observed: two clients under one id take turns being disconnected ("connection lost"). relayctl watch and
    // relayctl on --wait on one host used to share the default id.
    test::mosquitto_broker broker;
    auto cfg = source_cfg(broker, "");
    std::atomic<int> got{0};
    ingest::mqtt_source a(cfg, [&](chirpstack::event) { ++got; });
    ingest::mqtt_source b(cfg, [&](chirpstack::event) { ++got; });
    EXPECT_NE(a.settings().client_id, b.settings().client_id);
    EXPECT_NE(a.settings().client_id.find("-" + std::to_string(::getpid()) + "-"), std::string::npos) << a.settings().client_id;
    EXPECT_TRUE(a.settings().clean_session) << "a session under a generated id is never resumed: kept clean";
    a.start();
    b.start();
    ASSERT_TRUE(a.wait_connected(10s)) << a.last_error();
    ASSERT_TRUE(b.wait_connected(10s)) << b.last_error();
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(a.stats().connections_lost, 0u);
    EXPECT_EQ(b.stats().connections_lost, 0u);
    EXPECT_EQ(a.stats().connects, 1u);
    EXPECT_EQ(b.stats().connects, 1u);

    // The same named id twice: the broker disconnects the older one, again and again.
    auto same = source_cfg(broker, "relaylink-twice");
    ingest::mqtt_source x(same, [&](chirpstack::event) {});
    ingest::mqtt_source y(same, [&](chirpstack::event) {});
    EXPECT_FALSE(x.settings().clean_session) << "a named id keeps its persistent session";
    x.start();
    ASSERT_TRUE(x.wait_connected(10s)) << x.last_error();
    y.start();
    EXPECT_TRUE(eventually([&] { return x.stats().connections_lost + y.stats().connections_lost >= 1; }, 10s));
}

TEST(IngestMqtt, MalformedPayloadsAndForeignTopicsAreCountedNotFatal) {
    test::mosquitto_broker broker;
    std::atomic<int> got{0};
    std::vector<std::string> warnings;
    std::mutex mu;
    auto cfg = source_cfg(broker);
    cfg.topic = "application/#";
    cfg.max_payload = 4096;
    cfg.log = [&](ingest::log_level l, std::string_view m) {
        std::lock_guard lock(mu);
        if (l >= ingest::log_level::warning) warnings.emplace_back(m);
    };
    ingest::mqtt_source src(cfg, [&](chirpstack::event e) {
        EXPECT_EQ(chirpstack::dev_eui_of(e), A);
        ++got;
    });
    src.start();
    ASSERT_TRUE(src.wait_connected(10s)) << src.last_error();

    mqtt::async_client pub(broker.url(), "relaylink-test-pub");
    pub.connect()->wait();
    const std::string topic = "application/app/device/" + A + "/event/up";
    publish(pub, topic, "{not json");
    publish(pub, topic, protobuf_like());                                    // protobuf
    publish(pub, topic, R"({"deduplicationId":"x"})");                       // no deviceInfo
    publish(pub, topic, up_json(B));                                          // the topic names A
    publish(pub, topic, std::string(5000, ' '));                              // over max_payload
    publish(pub, "application/app/device/" + A + "/command/down", "{}");      // ChirpStack's downlink topic
    publish(pub, "application/app/status", "hello");
    publish(pub, topic, up_json(A));                                          // and a good one after all that
    ASSERT_TRUE(eventually([&] { return got == 1; }));
    ASSERT_TRUE(eventually([&] { return src.stats().received == 8; }));
    const auto s = src.stats();
    EXPECT_EQ(s.delivered, 1u);
    EXPECT_EQ(s.malformed, 4u);
    EXPECT_EQ(s.unsupported, 1u);
    EXPECT_EQ(s.foreign, 2u);
    EXPECT_TRUE(src.connected());
    std::lock_guard lock(mu);
    auto logged = [&](const std::string& what) {
        return std::any_of(warnings.begin(), warnings.end(), [&](const std::string& w) { return w.find(what) != std::string::npos; });
    };
    EXPECT_TRUE(logged("not valid JSON"));
    EXPECT_TRUE(logged("set the integration's payload encoding to JSON"));
    EXPECT_TRUE(logged("field 'time' is required"));
    EXPECT_TRUE(logged("the topic names device " + A + " but the event's deviceInfo.devEui is " + B));
    EXPECT_TRUE(logged("over max_payload"));
    pub.disconnect()->wait();
}

TEST(IngestMqtt, ASharedSubscriptionSplitsTheStreamBetweenInstances) {
    test::mosquitto_broker broker;
    std::atomic<int> one{0}, two{0};
    auto c1 = source_cfg(broker, "relaylink-1");
    auto c2 = source_cfg(broker, "relaylink-2");
    c1.shared_group = c2.shared_group = "relaylink";
    c2.url = "mqtt://127.0.0.1:" + std::to_string(broker.port()); // the mqtt:// spelling reaches the same broker
    ingest::mqtt_source s1(c1, [&](chirpstack::event) { ++one; });
    ingest::mqtt_source s2(c2, [&](chirpstack::event) { ++two; });
    EXPECT_EQ(s1.subscription(), "$share/relaylink/application/+/device/+/event/+");
    s1.start();
    s2.start();
    ASSERT_TRUE(s1.wait_connected(10s)) << s1.last_error();
    ASSERT_TRUE(s2.wait_connected(10s)) << s2.last_error();

    mqtt::async_client pub(broker.url(), "relaylink-test-pub");
    pub.connect()->wait();
    for (int i = 0; i < 200; ++i) publish(pub, "application/app/device/" + A + "/event/up", up_json(A, "dedup-" + std::to_string(i)));
    ASSERT_TRUE(eventually([&] { return one + two == 200; })) << one << " + " << two;
    EXPECT_GT(one, 0);
    EXPECT_GT(two, 0);
    pub.disconnect()->wait();
}

TEST(IngestMqtt, ABrokerDownAtStartIsRetriedUntilItComes) {
    test::mosquitto_broker broker;
    broker.stop();
    ingest::mqtt_source src(source_cfg(broker), [](chirpstack::event) {});
    src.start();
    ASSERT_TRUE(eventually([&] { return src.stats().connect_failures >= 2; }));
    EXPECT_FALSE(src.connected());
    EXPECT_NE(src.last_error().find("cannot connect to " + broker.url()), std::string::npos) << src.last_error();
    broker.start();
    EXPECT_TRUE(src.wait_connected(10s)) << src.last_error();
    src.stop();
    EXPECT_FALSE(src.connected());
}

TEST(IngestMqtt, TlsAndAPasswordAreUsedAndAWrongOneIsNamed) {
    const auto& certs = test::test_certs();
    test::mosquitto_broker broker({certs.pem("good"), certs.key("good"), "monitor", "s3cret"});
    std::atomic<int> got{0};

    auto good = source_cfg(broker, "relaylink-tls");
    good.ca_file = certs.pem("good");
    good.username = "monitor";
    good.password = "s3cret";
    ingest::mqtt_source ok(good, [&](chirpstack::event) { ++got; });
    ok.start();
    ASSERT_TRUE(ok.wait_connected(10s)) << ok.last_error();

    auto wrong_pw = good;
    wrong_pw.client_id = "relaylink-wrong-pw";
    wrong_pw.password = "guess";
    ingest::mqtt_source refused(wrong_pw, [](chirpstack::event) {});
    refused.start();
    ASSERT_TRUE(eventually([&] { return refused.stats().connect_failures >= 1; }));
    EXPECT_NE(refused.last_error().find("not authorised: a wrong user name or password"), std::string::npos) << refused.last_error();

    auto wrong_ca = good;
    wrong_ca.client_id = "relaylink-wrong-ca";
    wrong_ca.ca_file = certs.pem("other");
    ingest::mqtt_source untrusted(wrong_ca, [](chirpstack::event) {});
    untrusted.start();
    ASSERT_TRUE(eventually([&] { return untrusted.stats().connect_failures >= 1; }));
    EXPECT_FALSE(untrusted.connected());
    EXPECT_NE(untrusted.last_error().find("cannot connect to " + broker.url()), std::string::npos) << untrusted.last_error();
    EXPECT_NE(untrusted.last_error().find("is the broker's certificate signed by '" + certs.pem("other") + "'"), std::string::npos) << untrusted.last_error();

    mqtt::async_client pub(broker.url(), "relaylink-test-pub");
    auto popts = mqtt::connect_options_builder()
                     .user_name("monitor")
                     .password("s3cret")
                     .ssl(mqtt::ssl_options_builder().trust_store(certs.pem("good")).finalize())
                     .finalize();
    pub.connect(popts)->wait();
    publish(pub, "application/app/device/" + A + "/event/up", up_json(A));
    EXPECT_TRUE(eventually([&] { return got == 1; }));
    pub.disconnect()->wait();
}

TEST(IngestMqtt, BadSettingsAreRefusedNamingTheField) {
    auto refused = [](auto tweak, const std::string& expected) {
        ingest::mqtt_config c;
        tweak(c);
        try {
            ingest::mqtt_source s(c, [](chirpstack::event) {});
            ADD_FAILURE() << "accepted; expected: " << expected;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
        }
    };
    refused([](auto& c) { c.url = "broker.example:1883"; }, "MQTT url: 'broker.example:1883' must start with tcp://");
    refused([](auto& c) { c.url = "tcp://"; }, "names no host");
    refused([](auto& c) { c.qos = 3; }, "MQTT qos: 3 is not 0, 1 or 2");
    refused([](auto& c) { c.topic = "application/#/event"; }, "'#' must be the last character");
    refused([](auto& c) { c.topic = "application/x+/device"; }, "a wildcard must fill a whole level");
    refused([](auto& c) { c.topic = ""; }, "MQTT topic: empty");
    refused([](auto& c) { c.topic = "$share/g/application/#"; }, "give the group in shared_group");
    refused([](auto& c) { c.shared_group = "a/b"; }, "MQTT shared_group: 'a/b'");
    refused([](auto& c) { c.password = "x"; }, "MQTT password: given without a username");
    refused([](auto& c) { c.ca_file = "/etc/hostname"; }, "is not TLS");
    refused([](auto& c) { c.url = "ssl://h:8883", c.ca_file = "/nonexistent/ca.pem"; }, "cannot read '/nonexistent/ca.pem'");
    refused([](auto& c) { c.min_retry = 0ms; }, "min_retry");
    try {
        ingest::mqtt_source s(ingest::mqtt_config{}, nullptr);
        ADD_FAILURE() << "accepted without a sink";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("no event sink"), std::string::npos);
    }
}
