// The safety guard on every path a frame can take to the radio (issue 18), against the simulator in
// manual time from a chosen instant: a raw frame that switches the relay off, protection by the
// meter's record, the window re-checked at every dispatch and carried to ChirpStack as expiresAt,
// an item ChirpStack drops at the window's end; then replayed replies; then a property test over
// random requests, clocks, faults and retries.
#include "../support/service_rig.hpp"

#include <relaylink/device/builtin.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>

using namespace relaylink;
using relaylink::test::any_cause;
using relaylink::test::causes;
using relaylink::test::req;
using relaylink::test::service_rig;
using command::state;
using namespace std::chrono_literals;

namespace {

const std::string A = "0101010101010101";
const std::string B = "0202020202020202";
const std::string C = "0303030303030303";
const bytes off_frame{0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xCD, 0xCA};
const bytes read_frame{0x01, 0x04, 0x00, 0x00, 0x00, 0x02, 0x71, 0xCB};

sys_time utc(const char* s) { return parse_rfc3339(s).value(); }

/// Windows 08:00–16:00 UTC, every day.
service::service_config windowed() {
    auto c = test::quiet_config();
    c.safety.windows = true;
    c.safety.time_zone = "UTC";
    c.safety.weekdays = {true, true, true, true, true, true, true};
    return c;
}

sim::simulator_config starting(const char* at) {
    auto s = test::manual_sim();
    s.start = utc(at);
    return s;
}


/// The items that may switch the relay off (the built-in SDM profile judges), as ChirpStack accepted them.
std::vector<sim::accepted_item> off_items(service_rig& r, const std::string& dev) {
    const auto prof = device::eastron_sdm320c();
    std::vector<sim::accepted_item> out;
    for (auto& a : r.sim.accepted(dev))
        if (!a.flush_queue && prof.may_switch_off(a.item.data)) out.push_back(a);
    return out;
}

} // namespace

// ---- 1. the guard on every path ---------------------------------------------------------------

TEST(ServiceSafety, ARawFrameThatSwitchesTheRelayOffIsGuardedAsADisconnect) {
    auto cfg = windowed();
    cfg.safety.protected_meters = {B};
    service_rig r(store::make_memory_store(), cfg, device::profile_registry::with_builtins(), starting("2026-12-02T07:00:00Z"));
    r.add(A);
    r.add(B);
    const auto raw_off = r.svc->send(req(A), store::command_kind::raw, off_frame);
    ASSERT_TRUE(raw_off.rec.not_before) << "a raw relay-off frame outside the window must wait for it";
    EXPECT_EQ(*raw_off.rec.not_before, utc("2026-12-02T08:00:00Z"));
    EXPECT_TRUE(any_cause(r.svc->command(raw_off.id)->events, "guarded as a disconnect"));
    const auto to_protected = r.svc->send(req(B), store::command_kind::raw, off_frame);
    EXPECT_EQ(to_protected.rec.current, state::failed);
    EXPECT_NE(to_protected.rec.error.find("protected"), std::string::npos) << to_protected.rec.error;
    const auto read = r.svc->send(req(A), store::command_kind::raw, read_frame); // harmless: goes now
    EXPECT_FALSE(read.rec.not_before);
    r.settle();
    EXPECT_TRUE(off_items(r, A).empty());
    EXPECT_TRUE(off_items(r, B).empty());
    ASSERT_EQ(r.sim.accepted(A).size(), 1u);
    EXPECT_EQ(r.sim.accepted(A)[0].item.data, read_frame);

    r.advance_in_steps(70min, 5min);
    const auto items = off_items(r, A);
    ASSERT_EQ(items.size(), 1u);
    EXPECT_GE(items[0].at, utc("2026-12-02T08:00:00Z"));
    ASSERT_TRUE(items[0].item.expires_at);
    EXPECT_LE(*items[0].item.expires_at, utc("2026-12-02T16:00:00Z")) << "ChirpStack must drop it at the window's end";

    // A write elsewhere in the meter (not the relay's coil) and the relay-on frame are not guarded.
    const device::profile sdm = device::eastron_sdm320c();
    EXPECT_FALSE(sdm.may_switch_off(sdm.relay(true)->payload));
    EXPECT_TRUE(sdm.may_switch_off(sdm.relay(false)->payload));

    auto dry = test::quiet_config();
    dry.safety.dry_run = true;
    service_rig d(store::make_memory_store(), dry);
    d.add(A);
    EXPECT_EQ(d.svc->send(req(A), store::command_kind::raw, off_frame).rec.current, state::cancelled);
    d.settle();
    EXPECT_TRUE(d.sim.accepted(A).empty());
}

TEST(ServiceSafety, ProtectionFollowsTheMetersRecordNotTheRequest) {
    auto cfg = test::quiet_config();
    cfg.safety.protected_meters = {"MED-1"};
    service_rig r(store::make_memory_store(), cfg);
    r.add(A);
    auto on = req(A);
    on.meter_ref = "MED-1";
    r.svc->reconnect(on);
    r.settle();
    ASSERT_EQ(r.svc->meter(A)->meter_ref, "MED-1");

    const auto unnamed = r.svc->disconnect(req(A)); // no meter_ref in the request
    EXPECT_EQ(unnamed.rec.current, state::failed) << unnamed.rec.error;
    EXPECT_NE(unnamed.rec.error.find("MED-1"), std::string::npos) << unnamed.rec.error;
    auto other = req(A);
    other.meter_ref = "ACC-77";
    const auto renamed = r.svc->disconnect(other);
    EXPECT_EQ(renamed.rec.current, state::failed) << renamed.rec.error;
    // A reconnect naming another reference cannot lift the protection either.
    auto on_other = req(A);
    on_other.meter_ref = "ACC-77";
    r.svc->reconnect(on_other);
    r.settle();
    EXPECT_EQ(r.svc->meter(A)->meter_ref, "MED-1");
    EXPECT_EQ(r.svc->disconnect(req(A)).rec.current, state::failed);
    EXPECT_TRUE(off_items(r, A).empty());
}

TEST(ServiceSafety, AMeterProtectedAfterTheRequestIsRefusedWhenItsDisconnectWouldGoOut) {
    service_rig r;
    r.add(A);
    auto later = req(A);
    later.not_before = r.sim.now() + 1h;
    const auto c = r.svc->disconnect(later);
    r.settle();
    r.cfg.safety.protected_meters = {A}; // the operator adds the meter to the list and restarts
    r.restart();
    r.advance_in_steps(2h, 10min);
    EXPECT_EQ(r.state_of(c.id), state::failed);
    const auto ev = r.svc->command(c.id)->events;
    EXPECT_TRUE(any_cause(ev, "refused by the safety guard")) << causes(ev);
    EXPECT_TRUE(off_items(r, A).empty());

    // One already in ChirpStack's queue when the meter becomes protected is withdrawn at start.
    r.add(B);
    r.cfg.safety.protected_meters = {A};
    r.restart();
    const auto queued = r.svc->disconnect(req(B));
    r.settle();
    ASSERT_EQ(r.state_of(queued.id), state::queued);
    r.cfg.safety.protected_meters = {A, B};
    r.restart();
    r.advance_in_steps(1h, 10min);
    EXPECT_EQ(r.state_of(queued.id), state::cancelled) << causes(r.svc->command(queued.id)->events);
    EXPECT_TRUE(r.sim.device(B)->relay_closed) << "the withdrawn disconnect never reached the meter";
    EXPECT_TRUE(r.sim.device(B)->downlinks.empty());
}

TEST(ServiceSafety, ADisconnectWhoseEnqueueFailsUntilTheWindowClosesWaitsForTheNextWindow) {
    auto cfg = windowed();
    cfg.policy.max_retries = 10;
    service_rig r(store::make_memory_store(), cfg, device::profile_registry::with_builtins(), starting("2026-12-02T15:50:00Z"));
    r.add(A);
    r.sim.set_http_faults({.error_5xx_rate = 1.0, .only_method = "POST"});
    const auto c = r.svc->disconnect(req(A));
    EXPECT_FALSE(c.rec.not_before);
    r.advance_in_steps(20min, 1min); // 503 to every enqueue until 16:10
    r.sim.set_http_faults({});
    r.advance_in_steps(2h, 5min);
    EXPECT_TRUE(off_items(r, A).empty()) << "nothing may reach ChirpStack after the window closed" << causes(r.svc->command(c.id)->events);
    auto row = r.get(c.id);
    EXPECT_EQ(row.rec.current, state::pending);
    ASSERT_TRUE(row.rec.not_before);
    EXPECT_EQ(*row.rec.not_before, utc("2026-12-03T08:00:00Z"));
    const auto ev = r.svc->command(c.id)->events;
    EXPECT_TRUE(any_cause(ev, "outside the disconnect windows")) << causes(ev);

    r.advance_in_steps(15h, 1h); // the next morning
    const auto items = off_items(r, A);
    ASSERT_EQ(items.size(), 1u) << causes(r.svc->command(c.id)->events);
    EXPECT_GE(items[0].at, utc("2026-12-03T08:00:00Z"));
    EXPECT_LE(items[0].item.expires_at.value(), utc("2026-12-03T16:00:00Z"));
}

TEST(ServiceSafety, AReplyTimeoutRetryWaitsForTheWindowAndNoDisconnectReachesTheMeterAfterIt) {
    auto cfg = windowed();
    cfg.policy.max_retries = 5;
    // The meter switches and the bridge acknowledges, but relaylink never hears the reply (it listens on
    // another fPort): the reply timeout (3 uplink intervals of 20 min) sends it again, at 15:1x inside
    // the window and at 16:2x after it.
    auto registry = device::profile_registry::with_builtins();
    auto deaf = device::eastron_sdm320c();
    deaf.name = "sdm_deaf";
    deaf.aliases.clear();
    deaf.reply_fport = 6;
    ASSERT_TRUE(registry.add(deaf));
    service_rig r(store::make_memory_store(), cfg, registry, starting("2026-12-02T14:00:00Z"));
    r.add(A);
    const auto c = r.svc->disconnect(req(A, "sdm_deaf"));
    r.advance_in_steps(4h, 5min);
    for (const auto& item : off_items(r, A)) {
        EXPECT_LT(item.at, utc("2026-12-02T16:00:00Z"));
        EXPECT_LE(item.item.expires_at.value(), utc("2026-12-02T16:00:00Z"));
    }
    const auto seen = r.sim.device(A).value();
    for (const auto& d : seen.downlinks) EXPECT_LT(d.time, utc("2026-12-02T16:00:00Z")) << "a disconnect went out at " << format_rfc3339(d.time);
    const auto row = r.get(c.id);
    EXPECT_EQ(row.rec.current, state::pending) << causes(r.svc->command(c.id)->events);
    EXPECT_EQ(row.rec.not_before.value_or(sys_time{}), utc("2026-12-03T08:00:00Z")) << causes(r.svc->command(c.id)->events);
}

TEST(ServiceSafety, AnItemChirpStackDropsAtTheWindowsEndWaitsForTheNextWindowAsACountedAttempt) {
    auto cfg = windowed();
    service_rig r(store::make_memory_store(), cfg, device::profile_registry::with_builtins(), starting("2026-12-02T15:58:00Z"));
    r.add(A);
    r.sim.set_faults(A, {.uplink_loss = 1.0}); // nothing heard until after 16:00
    const auto c = r.svc->disconnect(req(A));
    r.settle();
    ASSERT_EQ(r.state_of(c.id), state::queued);
    r.advance(5min);
    r.sim.set_faults(A, {});
    r.advance_in_steps(30min, 5min); // the first uplink after 16:00: ChirpStack drops the expired item (log EXPIRED)
    const auto row = r.get(c.id);
    const auto ev = r.svc->command(c.id)->events;
    EXPECT_EQ(row.rec.current, state::pending) << causes(ev);
    EXPECT_EQ(row.rec.retry_count, 1) << causes(ev);
    EXPECT_EQ(row.rec.not_before.value_or(sys_time{}), utc("2026-12-03T08:00:00Z")) << causes(ev);
    EXPECT_TRUE(r.sim.device(A)->downlinks.empty());
    EXPECT_TRUE(r.sim.device(A)->relay_closed);
    r.advance_in_steps(17h, 1h);
    EXPECT_EQ(r.state_of(c.id), state::confirmed) << causes(r.svc->command(c.id)->events);
    EXPECT_FALSE(r.sim.device(A)->relay_closed);
    const auto seen = r.sim.device(A).value();
    for (const auto& d : seen.downlinks) EXPECT_GE(d.time, utc("2026-12-03T08:00:00Z"));
}

// ---- 2. replayed replies ------------------------------------------------------------------------

TEST(ServiceSafety, AReplayedUplinkCarryingAnOldEchoConfirmsNothing) {
    service_rig r;
    r.add(A);
    const auto first = r.svc->disconnect(req(A));
    r.settle();
    r.advance(10min);
    r.advance(5s); // the echo's uplink
    ASSERT_EQ(r.state_of(first.id), state::confirmed);
    const auto on = r.svc->reconnect(req(A));
    r.settle();
    r.advance(10min);
    r.advance(5s);
    ASSERT_EQ(r.state_of(on.id), state::confirmed);
    ASSERT_TRUE(r.sim.device(A)->relay_closed);

    const auto second = r.svc->disconnect(req(A));
    r.settle();
    ASSERT_EQ(r.state_of(second.id), state::queued);
    // The uplinks since the first disconnect: the 4th latest carried its echo (uplink, echo, uplink, echo).
    for (std::size_t back = 0; back < 8; ++back) r.sim.replay_uplink(A, back); // every one of them again
    r.settle();
    EXPECT_EQ(r.state_of(second.id), state::queued) << causes(r.svc->command(second.id)->events);
    EXPECT_EQ(r.svc->meter(A)->relay, store::relay_state::connected);
    EXPECT_GE(r.svc->stats().replays_ignored, 4u);

    // The same uplink with a new deduplication id (a forged POST, or a redelivery after a restart):
    // its frame counter and its time are from before the command was claimed.
    std::string forged;
    r.sim.on_event([&](const sim::event_out& e) {
        if (e.type == "up" && forged.empty()) forged = e.json;
    });
    for (std::size_t back = 0; back < 8; ++back) {
        forged.clear();
        if (!r.sim.replay_uplink(A, back)) break;
        r.settle();
        const auto at = forged.find("\"deduplicationId\":\"");
        ASSERT_NE(at, std::string::npos);
        forged.replace(at + 19, 8, "ffffffff");
        auto ev = chirpstack::parse_event("up", forged);
        ASSERT_TRUE(ev) << ev.error().message;
        r.svc->ingest(*ev);
    }
    r.settle();
    EXPECT_EQ(r.state_of(second.id), state::queued) << causes(r.svc->command(second.id)->events);

    // The real reply still confirms it.
    r.advance(10min);
    r.advance(5s);
    EXPECT_EQ(r.state_of(second.id), state::confirmed) << causes(r.svc->command(second.id)->events);
    EXPECT_EQ(r.svc->meter(A)->relay, store::relay_state::disconnected);
}

// ---- the property ------------------------------------------------------------------------------

TEST(ServiceSafety, NoRelayOffFrameGoesOutsideAWindowToAProtectedMeterOrInDryRunAndEveryReconnectIsAllowed) {
    int cases = 10; // RELAYLINK_PROPERTY_CASES=500 for a longer run
    if (const char* n = std::getenv("RELAYLINK_PROPERTY_CASES")) cases = std::max(1, std::atoi(n));
    const std::vector<std::string> devices = {A, B, C};
    std::size_t commands = 0, off_enqueued = 0, held = 0, reconnects = 0, deferred_at_dispatch = 0;
    for (int k = 0; k < cases; ++k) {
        std::mt19937_64 rng(static_cast<std::uint64_t>(k) * 104729 + 3);
        auto pick = [&](double hi) { return std::uniform_real_distribution<double>(0, hi)(rng); };
        auto cfg = windowed();
        cfg.seed = rng();
        cfg.policy.max_retries = static_cast<int>(rng() % 5);
        cfg.safety.window_start = std::chrono::minutes(60 * (6 + rng() % 4));
        cfg.safety.window_end = cfg.safety.window_start + std::chrono::minutes(60 * (1 + rng() % 8));
        for (auto& d : cfg.safety.weekdays) d = rng() % 4 != 0;
        cfg.safety.weekdays[rng() % 7] = true;
        cfg.safety.protected_meters = {"MED-" + std::to_string(rng() % 3)};
        if (rng() % 3 == 0) cfg.safety.protected_meters.insert(B);
        if (rng() % 4 == 0) cfg.safety.outside = service::safety_policy::outside_window::refuse;
        cfg.safety.dry_run = rng() % 8 == 0;
        auto simcfg = test::manual_sim();
        simcfg.seed = rng();
        simcfg.start = utc("2026-11-30T00:00:00Z") + std::chrono::minutes(rng() % (7 * 24 * 60));
        service::safety_guard judge(cfg.safety);
        service_rig r(store::make_memory_store(), cfg, device::profile_registry::with_builtins(), simcfg);
        r.add(A);
        r.add(B, sim::wiring::load_side);
        r.add(C);
        for (int step = 0; step < 14; ++step) {
            const std::string& dev = devices[rng() % devices.size()];
            auto q = req(dev);
            if (rng() % 2) q.meter_ref = "MED-" + std::to_string(rng() % 4);
            if (rng() % 5 == 0) q.not_before = r.sim.now() + std::chrono::minutes(rng() % 600);
            try {
                switch (rng() % 9) {
                case 0:
                case 1:
                case 2: r.svc->disconnect(q); break;
                case 3:
                case 4: r.svc->reconnect(q); break;
                case 5: r.svc->send(q, store::command_kind::raw, off_frame); break;
                case 6: r.svc->send(q, store::command_kind::raw, read_frame); break;
                case 7: r.sim.set_http_faults({.error_5xx_rate = pick(1.0), .only_method = "POST"}); break;
                default: r.sim.set_faults(dev, {.uplink_loss = pick(0.6), .downlink_loss = pick(0.8)});
                }
            } catch (const service::request_error&) {
                // a not_before after the deadline, say: refused as a request, nothing written
            }
            r.advance_in_steps(std::chrono::minutes(5 + rng() % 120), 20min);
        }
        r.sim.set_http_faults({});
        r.advance_in_steps(30h, 2h);

        const auto prof = device::eastron_sdm320c();
        for (const auto& dev : devices) {
            for (const auto& a : r.sim.accepted(dev)) {
                if (a.flush_queue || !prof.may_switch_off(a.item.data)) continue;
                ++off_enqueued;
                EXPECT_FALSE(cfg.safety.dry_run) << "case " << k << ": a relay-off frame enqueued in dry run";
                EXPECT_TRUE(judge.in_window(a.at)) << "case " << k << ": enqueued at " << judge.local(a.at);
                const auto end = judge.window_end(a.at);
                ASSERT_TRUE(a.item.expires_at) << "case " << k;
                if (end) {
                    EXPECT_LE(*a.item.expires_at, *end) << "case " << k << ": it may outlive its window";
                }
                EXPECT_FALSE(judge.is_protected(dev, "")) << "case " << k << ": to protected " << dev;
            }
            const auto seen = r.sim.device(dev).value();
            for (const auto& d : seen.downlinks) {
                if (prof.may_switch_off(d.data)) {
                    EXPECT_TRUE(judge.in_window(d.time)) << "case " << k << ": on the air at " << judge.local(d.time);
                }
            }
            for (const auto& c : r.db->history(dev, 1000)) {
                ++commands;
                const auto ev = r.db->events(c.id);
                if (c.kind == store::command_kind::relay_on) {
                    ++reconnects;
                    EXPECT_FALSE(any_cause(ev, "safety guard") || any_cause(ev, "outside the disconnect windows"))
                        << "case " << k << ": a reconnect held by the guard" << causes(ev);
                }
                if (any_cause(ev, "checked again at dispatch") || std::any_of(ev.begin(), ev.end(), [](const auto& e) {
                        return e.detail == "checked again at dispatch";
                    }))
                    ++deferred_at_dispatch;
                if (c.rec.current == state::failed && c.rec.error.find("safety guard") != std::string::npos) ++held;
                // A disconnect naming a protected reference never reached ChirpStack.
                if (c.kind == store::command_kind::relay_off && judge.is_protected("", c.meter_ref)) {
                    EXPECT_FALSE(std::any_of(ev.begin(), ev.end(), [](const auto& e) { return e.to == state::queued; }))
                        << "case " << k << causes(ev);
                }
            }
        }
        if (::testing::Test::HasFailure()) break;
    }
    std::printf("property: %d cases, %zu commands (%zu reconnects), %zu relay-off items enqueued, all inside a window and none "
                "to a protected meter; %zu refused by the guard, %zu held again at dispatch\n",
                cases, commands, reconnects, off_enqueued, held, deferred_at_dispatch);
    EXPECT_GT(off_enqueued, 0u) << "the property saw no disconnect go out: it tested nothing";
    EXPECT_GT(deferred_at_dispatch, 0u) << "no dispatch-time check happened";
}
