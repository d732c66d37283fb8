// The meter's relay-state machine: every (relay state, fact) pair with the state it ends in, then the
// details (silence measured from the disconnect, stamps that never move back, the uplink that opened the
// disconnect's own window).
#include <relaylink/service/relay_state.hpp>

#include <gtest/gtest.h>

#include <map>

using namespace relaylink;
using namespace relaylink::service;
using store::relay_state;
using namespace std::chrono_literals;

namespace {

const sys_time t0 = parse_rfc3339("2026-07-18T09:00:00Z").value();

store::meter_row in(relay_state r, bool disconnect_out) {
    store::meter_row m;
    m.dev_eui = "0101010101010101";
    m.relay = r;
    if (disconnect_out) m.disconnect_sent_at = t0;
    return m;
}

struct named {
    std::string name;
    relay::fact f;
};
std::vector<named> facts() {
    return {
        {"confirmed_off", relay::confirmed{false, 7, t0 + 1min}},
        {"confirmed_on", relay::confirmed{true, 8, t0 + 1min}},
        {"disconnect_out", relay::disconnect_went_out{t0 + 1min, t0 + 1min}},
        {"uplink_after", relay::uplink{t0 + 5min, t0 + 5min, 9}},
        {"uplink_before", relay::uplink{t0 + 5min, t0 - 1min, 9}}, // the uplink that opened the window, applied late
        {"read_on", relay::read_shows{true}},
        {"read_off", relay::read_shows{false}},
        {"silent_long", relay::silence_check{t0 + 1h, 30min, 3}},
        {"silent_short", relay::silence_check{t0 + 10min, 30min, 3}},
    };
}

// For each starting state (with a disconnect out, "+out", or not): the state each fact ends in, "-" when
// the row does not change, and whether the disconnect is still awaited ("+out").
const std::map<std::string, std::map<std::string, std::string>> expected = {
    {"unknown", {{"confirmed_off", "disconnected"}, {"confirmed_on", "connected"}, {"disconnect_out", "unknown+out"},
                 {"uplink_after", "unknown"}, {"uplink_before", "unknown"}, {"read_on", "connected"}, {"read_off", "disconnected"},
                 {"silent_long", "-"}, {"silent_short", "-"}}},
    {"unknown+out", {{"confirmed_off", "disconnected+out"}, {"confirmed_on", "connected"}, {"disconnect_out", "-"},
                     {"uplink_after", "unknown"}, {"uplink_before", "unknown+out"}, {"read_on", "connected+out"},
                     {"read_off", "disconnected+out"}, {"silent_long", "unreachable_after_disconnect"}, {"silent_short", "-"}}},
    {"connected", {{"confirmed_off", "disconnected"}, {"confirmed_on", "connected"}, {"disconnect_out", "connected+out"},
                   {"uplink_after", "connected"}, {"uplink_before", "connected"}, {"read_on", "connected"}, {"read_off", "disconnected"},
                   {"silent_long", "-"}, {"silent_short", "-"}}},
    {"disconnected+out", {{"confirmed_off", "disconnected+out"}, {"confirmed_on", "connected"}, {"disconnect_out", "-"},
                          {"uplink_after", "disconnected"}, {"uplink_before", "disconnected+out"}, {"read_on", "connected+out"},
                          {"read_off", "disconnected+out"}, {"silent_long", "unreachable_after_disconnect"}, {"silent_short", "-"}}},
    {"unreachable_after_disconnect", {{"confirmed_off", "disconnected"}, {"confirmed_on", "connected"}, {"disconnect_out", "-"},
                                      {"uplink_after", "unknown"}, {"uplink_before", "unknown"}, {"read_on", "connected"},
                                      {"read_off", "disconnected"}, {"silent_long", "-"}, {"silent_short", "-"}}},
};

} // namespace

TEST(RelayState, EveryStateAndFactPairHasItsOutcome) {
    int pairs = 0;
    for (const auto& [start, row] : expected) {
        const bool out = start.ends_with("+out");
        const auto st = store::relay_state_from_name(out ? start.substr(0, start.size() - 4) : start).value();
        for (const auto& nf : facts()) {
            auto m = in(st, out);
            const bool changed = relay::apply(m, nf.f);
            const std::string got = changed ? std::string(store::to_string(m.relay)) + (m.disconnect_sent_at ? "+out" : "") : "-";
            EXPECT_EQ(got, row.at(nf.name)) << start << " + " << nf.name << " (note: " << m.note << ")";
            ++pairs;
        }
    }
    EXPECT_EQ(pairs, 45);
}

TEST(RelayState, TheDetailsEachFactKeeps) {
    // A confirmed command is the meter's last; its note goes.
    auto m = in(relay_state::unreachable_after_disconnect, false);
    m.note = "unreachable";
    relay::apply(m, relay::confirmed{true, 42, t0 + 2h});
    EXPECT_EQ(m.last_confirmed_command, 42);
    EXPECT_TRUE(m.note.empty());
    EXPECT_EQ(m.updated_at, t0 + 2h);
    // ChirpStack's stamps never move back: an older uplink applied late keeps the newer stamps.
    auto u = in(relay_state::connected, false);
    relay::apply(u, relay::uplink{t0 + 10min, t0 + 10min, 20});
    relay::apply(u, relay::uplink{t0 + 11min, t0 + 5min, 19});
    EXPECT_EQ(u.uplink_f_cnt, 20u);
    EXPECT_EQ(u.uplink_time, t0 + 10min);
    EXPECT_EQ(u.last_uplink, t0 + 11min); // but it was heard
    relay::apply(u, relay::uplink{t0 + 12min, std::nullopt, 21}); // no stamp: heard, stamps kept
    EXPECT_EQ(u.uplink_f_cnt, 20u);
    // The silence is measured from the disconnect, in the profile's intervals, and said in the note.
    auto s = in(relay_state::disconnected, true);
    EXPECT_FALSE(relay::apply(s, relay::silence_check{t0 + 59min, 60min, 3}));
    EXPECT_TRUE(relay::apply(s, relay::silence_check{t0 + 60min, 60min, 3}));
    EXPECT_NE(s.note.find("no uplink for 3 expected intervals (60 min) since the disconnect went out at 2026-07-18T09:00:00Z"),
              std::string::npos)
        << s.note;
    EXPECT_FALSE(s.disconnect_sent_at);
    // Heard from again: unknown, and the note says why.
    relay::apply(s, relay::uplink{t0 + 2h, t0 + 2h, 1});
    EXPECT_EQ(s.relay, relay_state::unknown);
    EXPECT_NE(s.note.find("heard from again at 2026-07-18T11:00:00Z"), std::string::npos) << s.note;
}
