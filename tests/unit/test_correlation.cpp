// Event correlation: each kind of ChirpStack event with the lifecycle input it means for the device's open
// commands — logs (a table of code × command), DOWNLINK_GATEWAY's bounded notes, which open command an
// uplink answers (order, replays, exceptions, a read's relay state) and what a read-back proves.
#include <relaylink/service/correlation.hpp>

#include <gtest/gtest.h>

using namespace relaylink;
using namespace relaylink::service;
using command::state;
using namespace std::chrono_literals;

namespace {

const sys_time t0 = parse_rfc3339("2026-07-18T09:00:00Z").value();
const auto sdm = device::eastron_sdm320c();

store::command_row relay_cmd(std::int64_t id, bool on, state s) {
    store::command_row c;
    c.id = id;
    c.dev_eui = "0101010101010101";
    c.profile = sdm.name;
    c.kind = on ? store::command_kind::relay_on : store::command_kind::relay_off;
    const auto d = sdm.relay(on).value();
    c.payload.assign(d.payload.begin(), d.payload.end());
    c.f_port = d.fport;
    c.rec.current = s;
    c.rec.deadline = t0 + 24h;
    if (s == state::sent || s == state::acknowledged) c.rec.sent_at = t0;
    return c;
}
chirpstack::up_event up_with(const store::command_row& c, std::string dedup = "u1") {
    chirpstack::up_event u;
    u.device.dev_eui = c.dev_eui;
    u.deduplication_id = std::move(dedup);
    u.f_port = c.f_port;
    u.data = c.payload; // a write's reply is its echo
    u.f_cnt = 10;
    u.time = t0 + 1min;
    return u;
}
std::string name(const command::input& in) { return std::string(command::input_name(in)); }

} // namespace

TEST(Correlation, TxackAndAckNameTheirQueueItem) {
    chirpstack::txack_event t;
    t.queue_item_id = "q1";
    t.f_cnt_down = 7;
    t.gateway_id = "gw1";
    const auto s = correlate::txack(t);
    EXPECT_EQ(std::get<command::txack_received>(s.in).f_cnt_down, 7u);
    EXPECT_EQ(s.detail, "txack: queue item q1, fCntDown 7, gateway gw1");
    chirpstack::ack_event a;
    a.queue_item_id = "q1";
    a.acknowledged = false;
    EXPECT_FALSE(std::get<command::ack_received>(correlate::ack(a).in).acknowledged);
}

TEST(Correlation, ALogsInputByItsCodeAndTheCommandsWindows) {
    struct row {
        const char* code;
        state st;
        bool deferring;
        sys_time now;
        const char* want;
    };
    const row rows[] = {
        {"EXPIRED", state::queued, true, t0, "window_closed"},        // dropped at the window's end: wait for the next
        {"EXPIRED", state::queued, false, t0, "log"},                 // no deferring windows: expired
        {"EXPIRED", state::queued, true, t0 + 25h, "log"},            // past its deadline: expired
        {"EXPIRED", state::sent, true, t0, "log"},                    // not waiting in the queue
        {"F_CNT_DOWN", state::queued, true, t0, "log"},
        {"DOWNLINK_PAYLOAD_SIZE", state::queued, true, t0, "log"},
    };
    for (const auto& r : rows) {
        chirpstack::log_event x;
        x.code = r.code;
        x.description = "d";
        const auto s = correlate::log(x, relay_cmd(1, false, r.st), r.deferring, r.now, t0 + 8h);
        EXPECT_EQ(name(s.in), r.want) << r.code << " in " << command::to_string(r.st);
        EXPECT_EQ(s.detail, std::string("log ") + r.code + ": d");
    }
}

TEST(Correlation, GatewayErrorsAreNotedAtMostThreeTimesOnQueuedCommands) {
    chirpstack::log_event x;
    x.code = "DOWNLINK_GATEWAY";
    x.description = "TX_FREQ";
    const auto q = relay_cmd(1, false, state::queued);
    EXPECT_TRUE(correlate::gateway_error(x, q, 0));
    EXPECT_NE(correlate::gateway_error(x, q, 2)->detail.find("noted no more"), std::string::npos);
    EXPECT_FALSE(correlate::gateway_error(x, q, 3));
    EXPECT_FALSE(correlate::gateway_error(x, relay_cmd(1, false, state::sent), 0)); // only a queued item waits for the gateway
    std::vector<store::audit_event> ev(2);
    ev[0].detail = "log DOWNLINK_GATEWAY: TX_FREQ";
    ev[1].detail = "txack: queue item q1";
    EXPECT_EQ(correlate::gateway_notes(ev), 1);
}

TEST(Correlation, AnUplinkAnswersTheFirstCommandOnTheRadioItIsTheReplyOf) {
    const std::vector<store::command_row> open{
        relay_cmd(1, false, state::pending),      // never sent: never answered
        relay_cmd(2, false, state::queued),       // queued: after those on the radio
        relay_cmd(3, false, state::sent),         // on the radio: first
    };
    const auto a = correlate::uplink(up_with(open[2]), open, device::profile_registry::with_builtins(), {});
    ASSERT_TRUE(a.index);
    EXPECT_EQ(open[*a.index].id, 3);
    EXPECT_EQ(name(a.reply->in), "reply");
    EXPECT_FALSE(std::get<command::reply_received>(a.reply->in).exception);
    EXPECT_NE(a.reply->detail.find("up: fCnt 10, fPort " + std::to_string(open[2].f_port) + ", data 010500000000CDCA"), std::string::npos)
        << a.reply->detail;

    // A replay of the one on the radio: the next it answers (queued) is tried; counted once, with why.
    const auto r = correlate::uplink(up_with(open[2]), open, device::profile_registry::with_builtins(),
                                     [](const store::command_row& c) -> std::optional<std::string> {
                                         if (c.id == 3) return "its time is not after the claim's";
                                         return std::nullopt;
                                     });
    EXPECT_EQ(open[*r.index].id, 2);
    EXPECT_EQ(r.replays, 1u);
    EXPECT_EQ(r.first_replay, "its time is not after the claim's");
    EXPECT_EQ(open[*r.first_replay_index].id, 3);

    // Data that answers nothing: no command.
    auto other = up_with(open[2]);
    other.data = {0x01, 0x02};
    EXPECT_FALSE(correlate::uplink(other, open, device::profile_registry::with_builtins(), {}).index);
    // A Modbus exception: the command's reply, as an exception.
    auto ex = up_with(open[2]);
    ex.data = {0x01, 0x85, 0x02, 0xC3, 0x51}; // write single coil, illegal data address
    const auto e = correlate::uplink(ex, open, device::profile_registry::with_builtins(), {});
    ASSERT_TRUE(e.reply);
    EXPECT_TRUE(std::get<command::reply_received>(e.reply->in).exception);
    // An unknown profile: not matched.
    auto lost = open;
    for (auto& c : lost) c.profile = "gone";
    EXPECT_FALSE(correlate::uplink(up_with(open[2]), lost, device::profile_registry::with_builtins(), {}).index);
    // A retry that went back to pending is answered (its reply proves it, ACK lost or not).
    auto retried = relay_cmd(4, false, state::pending);
    retried.rec.retry_count = 1;
    EXPECT_TRUE(correlate::uplink(up_with(retried), std::vector{retried}, device::profile_registry::with_builtins(), {}).index);
}

TEST(Correlation, AReadBackProvesOrDisprovesOnlyTheRelayCommandsThatWentOutBeforeIt) {
    store::command_row read;
    read.id = 9;
    read.kind = store::command_kind::read;
    read.created_at = t0 + 5min;
    auto off_sent = relay_cmd(1, false, state::acknowledged);           // out at t0: judged
    auto on_sent = relay_cmd(2, true, state::acknowledged);             // out at t0: judged (the other state)
    auto later = relay_cmd(3, false, state::acknowledged);
    later.rec.sent_at = t0 + 10min;                                     // went out after the read was asked: not judged
    auto unsent = relay_cmd(4, false, state::queued);                   // not out: not judged
    auto no_read_back = relay_cmd(5, false, state::acknowledged);       // completes on its reply
    const std::vector<store::command_row> open{off_sent, on_sent, later, unsent, no_read_back};
    const auto steps = correlate::read_back(read, false, open, [](const store::command_row& c) { return c.id != 5; }, "up: …");
    ASSERT_EQ(steps.size(), 2u);
    EXPECT_EQ(open[steps[0].first].id, 1);
    EXPECT_EQ(name(steps[0].second.in), "state_verified");
    EXPECT_EQ(open[steps[1].first].id, 2);
    EXPECT_EQ(name(steps[1].second.in), "state_differs");
    EXPECT_EQ(std::get<command::state_differs>(steps[1].second.in).detail, "read-back by command 9: relay off");
}
