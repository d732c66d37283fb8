// The simulated network, step by step with manual time: each queue rule of ChirpStack's Class A
// semantics, each device model, each fault. Every emitted event must parse as ChirpStack JSON.
#include "../support/test_data.hpp"

#include <relaylink/chirpstack/event.hpp>
#include <relaylink/device.hpp>
#include <relaylink/sim/network.hpp>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <set>

using namespace relaylink;
using namespace relaylink::sim;
namespace profile = relaylink::device;
namespace cs = relaylink::chirpstack;

namespace {

struct SimNetwork : ::testing::Test {
    network net{7};
    std::vector<cs::event> events;
    std::vector<std::string> topics;
    std::vector<event_out> raw;
    cs::event_parser parser;
    sys_time now = parse_rfc3339("2026-07-18T09:00:00Z").value();

    void SetUp() override {
        net.set_sink([this](const event_out& e) {
            auto parsed = parser.parse(e.type, e.json);
            ASSERT_TRUE(parsed) << e.type << ": " << parsed.error().message << "\n" << e.json;
            ASSERT_EQ(cs::dev_eui_of(*parsed), e.dev_eui);
            auto t = cs::parse_topic(e.topic());
            ASSERT_TRUE(t) << e.topic();
            ASSERT_EQ(e.json.find("+00:00") != std::string::npos, true) << "integration timestamps use +00:00";
            events.push_back(std::move(*parsed));
            topics.push_back(e.topic());
            raw.push_back(e);
        });
    }
    simulated_device& add(device_kind k = device_kind::uc100_sdm320c, wiring w = wiring::line_side, int dr = 5) {
        device_config c;
        c.dev_eui = k == device_kind::uc100_sdm320c ? "0101010101010101" : "0202020202020202";
        c.kind = k;
        c.power = w;
        c.data_rate = dr;
        net.add_device(c, now);
        return *net.find(c.dev_eui);
    }
    template <class T>
    std::vector<T> of() const {
        std::vector<T> out;
        for (const auto& e : events)
            if (auto* x = std::get_if<T>(&e)) out.push_back(*x);
        return out;
    }
    bytes frame(bool on) { return [&] { auto f = modbus::write_single_coil(1, 0, on).value(); return bytes(f.begin(), f.end()); }(); }
    void tick(simulated_device& d) {
        now += std::chrono::seconds(30);
        ASSERT_TRUE(net.uplink(d, now));
    }
};

} // namespace

TEST_F(SimNetwork, OneItemPerUplinkInFifoOrderWithFCntDownAssignedWhenChosen) {
    auto& d = add();
    const auto a = net.enqueue(d, false, 5, frame(false), std::nullopt, false);
    const auto b = net.enqueue(d, false, 5, frame(true), std::nullopt, false);
    EXPECT_EQ(d.queue[1].f_cnt_down, 0u);
    tick(d);
    auto tx = of<cs::txack_event>();
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].queue_item_id, a);
    EXPECT_EQ(tx[0].f_cnt_down, 0u);
    ASSERT_EQ(d.queue.size(), 1u); // unconfirmed: deleted after txack
    EXPECT_EQ(d.queue[0].id, b);
    tick(d);
    tx = of<cs::txack_event>();
    ASSERT_EQ(tx.size(), 2u);
    EXPECT_EQ(tx[1].queue_item_id, b);
    EXPECT_EQ(tx[1].f_cnt_down, 1u);
    EXPECT_TRUE(d.queue.empty());
}

TEST_F(SimNetwork, AConfirmedItemIsPendingUntilTheNextUplinkCarriesTheAck) {
    auto& d = add();
    const auto id = net.enqueue(d, true, 5, frame(false), std::nullopt, false);
    tick(d);
    ASSERT_EQ(d.queue.size(), 1u);
    EXPECT_TRUE(d.queue[0].is_pending);
    EXPECT_TRUE(of<cs::ack_event>().empty());
    tick(d); // the device's reply uplink: carries the ACK and the Modbus echo
    auto acks = of<cs::ack_event>();
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].queue_item_id, id);
    EXPECT_TRUE(acks[0].acknowledged);
    EXPECT_TRUE(d.queue.empty());
    auto ups = of<cs::up_event>();
    ASSERT_EQ(ups.size(), 2u);
    EXPECT_EQ(ups[1].f_port, 5);
    EXPECT_EQ(ups[1].data, frame(false)); // the SDM320C echoes a write
    EXPECT_EQ(profile::eastron_sdm320c().match_reply(frame(false), ups[1].f_port, ups[1].data).kind, profile::reply_kind::reply);
    EXPECT_FALSE(d.relay_closed);
}

TEST_F(SimNetwork, ALostConfirmedDownlinkGivesAckFalseAndIsNeverRetransmitted) {
    auto& d = add();
    d.cfg.faults.downlink_loss = 1.0;
    const auto id = net.enqueue(d, true, 5, frame(false), std::nullopt, false);
    tick(d);
    tick(d);
    auto acks = of<cs::ack_event>();
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].queue_item_id, id);
    EXPECT_FALSE(acks[0].acknowledged);
    EXPECT_TRUE(d.queue.empty());
    tick(d);
    EXPECT_EQ(of<cs::txack_event>().size(), 1u);
    ASSERT_EQ(d.downlinks.size(), 1u);
    EXPECT_FALSE(d.downlinks[0].reached_device);
    EXPECT_TRUE(d.relay_closed); // the meter never got it
}

TEST_F(SimNetwork, AnExpiredItemIsLoggedAndTheNextOneTriedInTheSameWindow) {
    auto& d = add();
    const auto old = net.enqueue(d, false, 5, frame(false), now + std::chrono::seconds(10), false);
    const auto next = net.enqueue(d, false, 5, frame(true), std::nullopt, false);
    tick(d); // 30 s later
    auto logs = of<cs::log_event>();
    ASSERT_EQ(logs.size(), 1u);
    EXPECT_EQ(logs[0].code, "EXPIRED");
    EXPECT_EQ(logs[0].queue_item_id(), old);
    auto tx = of<cs::txack_event>();
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].queue_item_id, next);
}

TEST_F(SimNetwork, AnItemTooLargeForTheDataRateIsDiscardedWithItsSizes) {
    auto& d = add(device_kind::uc100_sdm320c, wiring::line_side, 0);
    const auto big = net.enqueue(d, false, 5, bytes(60, 0xAA), std::nullopt, false);
    tick(d);
    auto logs = of<cs::log_event>();
    ASSERT_EQ(logs.size(), 1u);
    EXPECT_EQ(logs[0].code, "DOWNLINK_PAYLOAD_SIZE");
    EXPECT_EQ(logs[0].queue_item_id(), big);
    EXPECT_EQ(logs[0].context.at("max_payload_size"), "51");
    EXPECT_EQ(logs[0].context.at("item_size"), "60");
    EXPECT_TRUE(of<cs::txack_event>().empty());
}

TEST_F(SimNetwork, AGatewayTxErrorKeepsTheItemForTheNextUplink) {
    auto& d = add();
    d.cfg.faults.gateway_tx_error = 1.0;
    net.enqueue(d, false, 5, frame(false), std::nullopt, false);
    tick(d);
    auto logs = of<cs::log_event>();
    ASSERT_EQ(logs.size(), 1u);
    EXPECT_EQ(logs[0].code, "DOWNLINK_GATEWAY");
    EXPECT_FALSE(logs[0].queue_item_id());
    EXPECT_EQ(d.queue.size(), 1u);
    d.cfg.faults.gateway_tx_error = 0;
    tick(d);
    EXPECT_EQ(of<cs::txack_event>().size(), 1u);
}

TEST_F(SimNetwork, FlushIsSilentAndFlushQueueOnEnqueueKeepsPendingItems) {
    auto& d = add();
    net.enqueue(d, true, 5, frame(false), std::nullopt, false);
    tick(d); // now pending
    net.enqueue(d, false, 5, frame(true), std::nullopt, false);
    const auto before = events.size();
    net.enqueue(d, false, 5, frame(true), std::nullopt, true);
    ASSERT_EQ(d.queue.size(), 2u); // the pending one stays (v4.18+), the unsent one went
    EXPECT_TRUE(d.queue[0].is_pending);
    net.flush(d);
    EXPECT_TRUE(d.queue.empty());
    EXPECT_EQ(events.size(), before);
}

TEST_F(SimNetwork, TheSdm320cIgnoresAnotherSlaveAndABadCrcButStillAcksTheLoRaWanFrame) {
    auto& d = add();
    auto other = modbus::write_single_coil(2, 0, false).value();
    net.enqueue(d, true, 5, bytes(other.begin(), other.end()), std::nullopt, false);
    tick(d);
    tick(d);
    EXPECT_TRUE(d.relay_closed);
    ASSERT_EQ(of<cs::ack_event>().size(), 1u);
    EXPECT_TRUE(of<cs::ack_event>()[0].acknowledged);
    auto ups = of<cs::up_event>();
    EXPECT_EQ(ups.back().f_port, 85); // a periodic report, no Modbus reply
    auto bad = frame(false);
    bad.back() ^= 0xFF;
    net.enqueue(d, false, 5, bad, std::nullopt, false);
    tick(d);
    tick(d);
    EXPECT_TRUE(d.relay_closed);
    EXPECT_EQ(of<cs::up_event>().back().f_port, 85);
}

TEST_F(SimNetwork, TheSdm320cAnswersExceptionsForUnsupportedFunctionsAndAddresses) {
    auto& d = add();
    auto fc06 = modbus::write_single_register(1, 0, 1).value();
    net.enqueue(d, false, 5, bytes(fc06.begin(), fc06.end()), std::nullopt, false);
    tick(d);
    tick(d);
    auto up = of<cs::up_event>().back();
    auto m = profile::eastron_sdm320c().match_reply(fc06.bytes(), up.f_port, up.data);
    ASSERT_EQ(m.kind, profile::reply_kind::exception);
    EXPECT_EQ(m.reason, modbus::exception_code::illegal_function);
    auto coil5 = modbus::write_single_coil(1, 5, false).value();
    net.enqueue(d, false, 5, bytes(coil5.begin(), coil5.end()), std::nullopt, false);
    tick(d);
    tick(d);
    up = of<cs::up_event>().back();
    EXPECT_EQ(profile::eastron_sdm320c().match_reply(coil5.bytes(), up.f_port, up.data).reason, modbus::exception_code::illegal_data_address);
}

TEST_F(SimNetwork, TheSdm320cReportsPlausibleMeasurementsAndItsRelayState) {
    auto& d = add();
    const auto p = profile::eastron_sdm320c();
    auto volts = p.read(*p.find_measurement("voltage")).value();
    net.enqueue(d, false, 5, bytes(volts.payload.begin(), volts.payload.end()), std::nullopt, false);
    tick(d);
    tick(d);
    auto up = of<cs::up_event>().back();
    auto m = p.match_reply(volts.payload.bytes(), up.f_port, up.data);
    ASSERT_EQ(m.kind, profile::reply_kind::reply);
    const double v = profile::profile::value_of(*p.find_measurement("voltage"), m.response).value();
    EXPECT_GT(v, 220);
    EXPECT_LT(v, 240);
    auto readback = profile::profiles_from_json(R"({"name":"rb","fport":5,"relay_off":{"function":5,"address":0,"value":0},
      "relay_on":{"function":5,"address":0,"value":"0xFF00"},"relay_state":{"function":"read_coils","address":0,"on":[1],"off":[0]}})")
                        .value()
                        .front();
    auto st = readback.read_relay_state().value();
    net.enqueue(d, false, 5, bytes(st.payload.begin(), st.payload.end()), std::nullopt, false);
    tick(d);
    tick(d);
    up = of<cs::up_event>().back();
    EXPECT_EQ(readback.relay_state_from(readback.match_reply(st.payload.bytes(), up.f_port, up.data).response), true);
}

TEST_F(SimNetwork, TheIvyWritesRegister167AndEchoesOnPort10) {
    auto& d = add(device_kind::ivy_em114039);
    const auto p = profile::ivy_em114039();
    auto off = p.relay(false).value();
    net.enqueue(d, true, off.fport, bytes(off.payload.begin(), off.payload.end()), std::nullopt, false);
    tick(d);
    tick(d);
    EXPECT_FALSE(d.relay_closed);
    auto up = of<cs::up_event>().back();
    EXPECT_EQ(up.f_port, 10);
    EXPECT_EQ(p.match_reply(off.payload.bytes(), up.f_port, up.data).kind, profile::reply_kind::reply);
    EXPECT_TRUE(of<cs::ack_event>().back().acknowledged);
    // its periodic uplinks on port 10 are not mistaken for replies
    tick(d);
    up = of<cs::up_event>().back();
    EXPECT_EQ(p.match_reply(off.payload.bytes(), up.f_port, up.data).kind, profile::reply_kind::unrelated);
}

TEST_F(SimNetwork, ALoadSideBridgeFallsSilentAfterRelayOffUntilPowerIsRestored) {
    auto& d = add(device_kind::uc100_sdm320c, wiring::load_side);
    net.enqueue(d, true, 5, frame(false), std::nullopt, false);
    tick(d);
    EXPECT_FALSE(d.relay_closed);
    EXPECT_FALSE(d.bridge_powered);
    now += std::chrono::minutes(20);
    EXPECT_FALSE(net.uplink(d, now));
    EXPECT_EQ(d.queue.size(), 1u); // the confirmed item waits for an uplink that does not come
    EXPECT_TRUE(of<cs::ack_event>().empty());
    net.restore_power(d, now);
    EXPECT_EQ(of<cs::join_event>().size(), 1u);
    tick(d);
    ASSERT_EQ(of<cs::ack_event>().size(), 1u);
    EXPECT_FALSE(of<cs::ack_event>()[0].acknowledged); // it died before it could acknowledge
}

TEST_F(SimNetwork, UplinkLossMeansTheNetworkHearsNothing) {
    auto& d = add();
    d.cfg.faults.uplink_loss = 1.0;
    net.enqueue(d, false, 5, frame(false), std::nullopt, false);
    tick(d);
    EXPECT_TRUE(events.empty());
    EXPECT_EQ(d.uplinks_lost, 1u);
    EXPECT_EQ(d.queue.size(), 1u);
}

TEST_F(SimNetwork, AJoinCanFlushTheQueueSilently) {
    auto& d = add();
    net.enqueue(d, false, 5, frame(false), std::nullopt, false);
    net.join(d, now, true);
    EXPECT_TRUE(d.queue.empty());
    EXPECT_EQ(of<cs::join_event>().size(), 1u);
    EXPECT_EQ(events.size(), 1u);
}

TEST_F(SimNetwork, TimedRunsSendPeriodicUplinksAndRepliesWhenDue) {
    auto& d = add();
    d.cfg.uplink_interval = std::chrono::minutes(10);
    net.enqueue(d, false, 5, frame(false), std::nullopt, false);
    // within an interval and a half the device has sent its periodic uplink and then its reply
    sys_time t = now;
    for (int i = 0; i < 90; ++i) {
        t += std::chrono::seconds(10);
        net.run_due(t);
    }
    auto ups = of<cs::up_event>();
    ASSERT_GE(ups.size(), 2u);
    bool replied = false;
    for (const auto& u : ups) replied = replied || (u.f_port == 5 && u.data == frame(false));
    EXPECT_TRUE(replied);
    EXPECT_FALSE(d.relay_closed);
}

TEST_F(SimNetwork, TopicsAreChirpStacks) {
    auto& d = add();
    tick(d);
    ASSERT_EQ(topics.size(), 1u);
    EXPECT_EQ(topics[0], "application/00000000-0000-4000-8000-00000000a001/device/0101010101010101/event/up");
}

TEST_F(SimNetwork, AFlushAlsoDeletesAPendingItemAndItsAckNeverComes) {
    // Observed on ChirpStack 4.20: DELETE …/queue deletes the item that was sent and awaits its ACK; the
    // device's ACK then finds nothing and no `ack` event is published at all.
    auto& d = add();
    net.enqueue(d, true, 5, frame(false), std::nullopt, false);
    tick(d);
    ASSERT_TRUE(d.queue.at(0).is_pending);
    net.flush(d);
    tick(d); // carries the ACK
    EXPECT_TRUE(of<cs::ack_event>().empty());
}

TEST_F(SimNetwork, FlushQueueOnAnEnqueueKeepsThePendingItem) {
    auto& d = add();
    const auto a = net.enqueue(d, true, 5, frame(false), std::nullopt, false);
    const auto b = net.enqueue(d, true, 5, frame(true), std::nullopt, false);
    tick(d); // a goes out and is pending
    const auto c = net.enqueue(d, true, 5, frame(true), std::nullopt, true);
    ASSERT_EQ(d.queue.size(), 2u); // observed: [pending a, new c]; b is gone
    EXPECT_EQ(d.queue[0].id, a);
    EXPECT_TRUE(d.queue[0].is_pending);
    EXPECT_EQ(d.queue[1].id, c);
    EXPECT_NE(d.queue[1].id, b);
    tick(d);
    ASSERT_EQ(of<cs::ack_event>().size(), 1u);
    EXPECT_EQ(of<cs::ack_event>()[0].queue_item_id, a);
}

TEST_F(SimNetwork, AnItemThatExpiredLongAgoIsDroppedUnsentAndTheNextOneGoesOut) {
    auto& d = add();
    const auto old = net.enqueue(d, false, 5, {}, now - std::chrono::hours(24 * 365), false);
    const auto next = net.enqueue(d, false, 5, frame(true), std::nullopt, false);
    tick(d);
    ASSERT_EQ(of<cs::log_event>().size(), 1u);
    EXPECT_EQ(of<cs::log_event>()[0].code, "EXPIRED");
    EXPECT_EQ(of<cs::log_event>()[0].queue_item_id(), old);
    ASSERT_EQ(d.downlinks.size(), 1u);
    EXPECT_EQ(d.downlinks[0].queue_item_id, next);
}

TEST_F(SimNetwork, TheEventsOfAnUplinkComeUpBeforeAckAsObservedOrShuffledUnderTheSeed) {
    auto& d = add();
    net.enqueue(d, true, 5, frame(false), std::nullopt, false);
    tick(d);
    net.enqueue(d, true, 5, frame(true), std::nullopt, false);
    raw.clear();
    tick(d); // the reply uplink: up, ack (of the first), txack (of the second)
    std::vector<std::string> order;
    for (const auto& e : raw) order.push_back(e.type);
    EXPECT_EQ(order, (std::vector<std::string>{"up", "ack", "txack"}));
    // Shuffled: over a few uplinks, the ack comes before the up at least once.
    net.set_event_order(event_order::shuffled);
    bool ack_first = false;
    for (int i = 0; i < 12 && !ack_first; ++i) {
        net.enqueue(d, true, 5, frame(i % 2 == 0), std::nullopt, false);
        raw.clear();
        tick(d);
        std::size_t up = 99, ack = 99;
        for (std::size_t k = 0; k < raw.size(); ++k) {
            if (raw[k].type == "up") up = k;
            if (raw[k].type == "ack") ack = k;
        }
        ack_first = ack < up;
    }
    EXPECT_TRUE(ack_first);
}

TEST_F(SimNetwork, NextFCntDownIsNeverBelowOneAsChirpStacksAnswer) {
    auto& d = add();
    EXPECT_EQ(net.next_f_cnt_down(d), 1u); // ChirpStack: max(session counter, highest queued fCntDown + 1)
    net.enqueue(d, true, 5, frame(false), std::nullopt, false);
    tick(d); // fCntDown 0 went out
    EXPECT_EQ(net.next_f_cnt_down(d), 1u);
    net.enqueue(d, false, 5, frame(true), std::nullopt, false);
    tick(d); // fCntDown 1
    EXPECT_EQ(net.next_f_cnt_down(d), 2u);
}

// ---- the simulator's events against events captured from a real ChirpStack 4.20 -----------------
namespace {

namespace json = boost::json;

json::value captured(const std::string& name) { return json::parse(relaylink::test::read_test_data("chirpstack-4.20-events/" + name)); }

std::string kind_of(const json::value& v) {
    switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "bool";
    case json::kind::int64:
    case json::kind::uint64: return "integer";
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
    }
    return "?";
}

/// Every key of `real` present in `simulated` with the same JSON type, recursively, and no key more.
/// Free-form maps (deviceInfo.tags) compare by type only.
void compare(const json::value& real, const json::value& simulated, const std::string& path, std::vector<std::string>& diffs) {
    if (kind_of(real) != kind_of(simulated)) {
        diffs.push_back(path + ": " + kind_of(real) + " in ChirpStack's, " + kind_of(simulated) + " in the simulator's");
        return;
    }
    if (path == "deviceInfo.tags") return;
    if (real.is_object()) {
        const auto& r = real.get_object();
        const auto& s = simulated.get_object();
        for (const auto& kv : r) {
            const std::string p = path.empty() ? std::string(kv.key()) : path + "." + std::string(kv.key());
            if (auto* x = s.if_contains(kv.key())) compare(kv.value(), *x, p, diffs);
            else diffs.push_back(p + ": missing in the simulator's");
        }
        for (const auto& kv : s)
            if (!r.contains(kv.key())) diffs.push_back((path.empty() ? "" : path + ".") + std::string(kv.key()) + ": not in ChirpStack's");
    } else if (real.is_array() && !real.get_array().empty()) {
        if (simulated.get_array().empty()) diffs.push_back(path + ": empty in the simulator's");
        else compare(real.get_array()[0], simulated.get_array()[0], path + "[0]", diffs);
    }
}

} // namespace

TEST_F(SimNetwork, ItsEventsHaveTheShapeOfRealChirpStack420EventsFieldByField) {
    auto& d = add();
    d.cfg.status_every = 1;
    auto& lossy = *[&] {
        device_config c;
        c.dev_eui = "0303030303030303";
        c.faults.downlink_loss = 1; // no ACK: ack false
        net.add_device(c, now);
        return net.find(c.dev_eui);
    }();
    net.enqueue(d, true, 5, frame(false), std::nullopt, false);
    tick(d);                                    // up (and status), txack
    tick(d);                                    // the reply: up, ack true
    net.enqueue(lossy, true, 5, frame(false), std::nullopt, false);
    ASSERT_TRUE(net.uplink(lossy, now));
    ASSERT_TRUE(net.uplink(lossy, now + std::chrono::seconds(30))); // ack false
    net.enqueue(d, false, 5, frame(true), now - std::chrono::seconds(1), false);
    tick(d);                                    // log EXPIRED
    net.enqueue(d, false, 5, bytes(250, 0x01), std::nullopt, false);
    tick(d);                                    // log DOWNLINK_PAYLOAD_SIZE
    d.cfg.faults.gateway_tx_error = 1;
    net.enqueue(d, false, 5, frame(true), std::nullopt, false);
    tick(d);                                    // log DOWNLINK_GATEWAY
    net.join(d, now, true);                     // join

    auto first = [&](const std::string& type, const std::function<bool(const json::object&)>& pick = {}) -> json::value {
        for (const auto& e : raw) {
            if (e.type != type) continue;
            auto v = json::parse(e.json);
            if (!pick || pick(v.get_object())) return v;
        }
        ADD_FAILURE() << "the simulator emitted no such " << type << " event";
        return json::object{};
    };
    auto log_code = [](const char* code) { return [code](const json::object& o) { return o.at("code") == code; }; };
    auto acked = [](bool yes) { return [yes](const json::object& o) { return o.at("acknowledged") == yes; }; };
    const std::vector<std::pair<std::string, json::value>> cases = {
        {"up.json", first("up")},
        {"txack.json", first("txack")},
        {"ack_true.json", first("ack", acked(true))},
        {"ack_false.json", first("ack", acked(false))},
        {"join.json", first("join")},
        {"status.json", first("status")},
        {"log_EXPIRED.json", first("log", log_code("EXPIRED"))},
        {"log_DOWNLINK_PAYLOAD_SIZE.json", first("log", log_code("DOWNLINK_PAYLOAD_SIZE"))},
        {"log_DOWNLINK_GATEWAY.json", first("log", log_code("DOWNLINK_GATEWAY"))},
    };
    for (const auto& [file, simulated] : cases) {
        std::vector<std::string> diffs;
        compare(captured(file), simulated, "", diffs);
        std::string all;
        for (const auto& x : diffs) all += "\n  " + x;
        EXPECT_TRUE(diffs.empty()) << file << ":" << all << "\nsimulator: " << json::serialize(simulated);
    }
    // Values that carry meaning match too: log levels and the gateway error's description.
    EXPECT_EQ(first("log", log_code("EXPIRED")).at("level"), captured("log_EXPIRED.json").at("level"));
    EXPECT_EQ(first("log", log_code("DOWNLINK_GATEWAY")).at("description"), captured("log_DOWNLINK_GATEWAY.json").at("description"));
}
