// The relay service under what a real ChirpStack 4.20 was seen to do (reference/chirpstack-v4.md,
// "Observed on a real ChirpStack"), each behaviour reproduced by the simulator first: a device
// ChirpStack does not know, a flush that would take a pending item, a rejoin that flushes the queue,
// DOWNLINK_GATEWAY without a queue item, events in either order, downlinks that went out unobserved,
// answers relaylink cannot read, a ChirpStack that answers 503 to everything, and a claim taken over
// by a process that has heard nothing. Then a property test: random ChirpStack faults, and no command
// enqueued more than max_retries + 1 times nor given audit rows without bound.
#include "../support/service_rig.hpp"

#include <relaylink/chirpstack/sync_client.hpp>

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
const std::string unknown = "70b3d5e7000000ff"; // not in ChirpStack

/// How often the command was enqueued, by its audit trail (each claim is one enqueue call).
int enqueues_of(const std::vector<store::audit_event>& ev) {
    return static_cast<int>(std::count_if(ev.begin(), ev.end(), [](const store::audit_event& e) {
        return e.to == state::dispatching && e.from && *e.from == state::pending;
    }));
}

/// A command claimed by a process that died right after (its enqueue may or may not have gone out).
void claim_as_dead_process(service_rig& r, std::int64_t id, sys_time at, std::chrono::seconds lease = 2min) {
    auto row = r.get(id);
    const auto from = row.rec.current;
    row.rec.current = state::dispatching;
    row.rec.queue_item_id.clear();
    row.rec.not_before.reset(); // it was due: it was claimed
    row.claim_owner = "gone-host:4242";
    row.lease_until = at + lease;
    row.timer_at = row.lease_until;
    std::vector<store::update> u{{row, {id, 0, at, from, state::dispatching, "claimed by gone-host:4242", "relaylink", ""}}};
    ASSERT_TRUE(r.db->write(u));
}

} // namespace

// ---- 1. a device ChirpStack does not know ------------------------------------------------------

TEST(ServiceChirpStack, ADeviceChirpStackDoesNotKnowEndsFailedAfterOneEnqueueSayingWhatToDo) {
    service_rig r; // the simulator answers as ChirpStack 4.20: 500 code 13, a foreign-key violation
    const auto c = r.svc->disconnect(req(unknown));
    r.settle();
    const auto row = r.get(c.id);
    EXPECT_EQ(row.rec.current, state::failed);
    EXPECT_NE(row.rec.error.find("device " + unknown + " is not in ChirpStack"), std::string::npos) << row.rec.error;
    EXPECT_NE(row.rec.error.find("add the device in ChirpStack, or correct the DevEUI"), std::string::npos) << row.rec.error;
    r.advance(1h); // nothing more happens
    EXPECT_EQ(r.sim.enqueue_requests(unknown), 1u);
    const auto ev = r.svc->command(c.id)->events;
    EXPECT_EQ(enqueues_of(ev), 1);
    EXPECT_LE(ev.size(), 3u) << causes(ev); // requested, dispatching, failed
}

TEST(ServiceChirpStack, AnUnknownOutcomeForAnUnknownDeviceIsReconciledAndFailsNamingIt) {
    service_rig r;
    r.sim.set_http_faults({.drop_rate = 1.0, .only_method = "POST"}); // the enqueue's answer never comes
    const auto c = r.svc->disconnect(req(unknown));
    r.settle();
    const auto row = r.get(c.id);
    EXPECT_EQ(row.rec.current, state::failed) << causes(r.svc->command(c.id)->events);
    EXPECT_NE(row.rec.error.find("is not in ChirpStack"), std::string::npos) << row.rec.error;
    EXPECT_NE(row.rec.error.find("Object does not exist"), std::string::npos) << row.rec.error; // ChirpStack's own words
    r.sim.set_http_faults({});
    r.advance(1h);
    EXPECT_EQ(r.sim.enqueue_requests(unknown), 1u);
}

// ---- 8. an answer relaylink cannot read is not a refusal ----------------------------------------

TEST(ServiceChirpStack, A200ThatIsNotJsonIsAnUnknownOutcomeTheQueuedItemIsAdoptedAndSentOnce) {
    service_rig r;
    r.add(A);
    r.sim.set_http_faults({.garbled_rate = 1.0, .only_method = "POST"}); // ChirpStack queued it; a proxy mangled the answer
    const auto c = r.svc->disconnect(req(A));
    r.settle();
    r.sim.set_http_faults({});
    const auto row = r.get(c.id);
    ASSERT_EQ(row.rec.current, state::queued) << causes(r.svc->command(c.id)->events);
    EXPECT_EQ(row.rec.queue_item_id.size(), 36u);
    r.advance(10min);
    r.advance(5s);
    EXPECT_EQ(r.state_of(c.id), state::confirmed);
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), 1u);
    EXPECT_FALSE(r.sim.device(A)->relay_closed);
    EXPECT_EQ(r.sim.enqueue_requests(A), 1u);
}

TEST(ServiceChirpStack, ChirpStackAnswering503ToEverythingGetsOneEnqueueAndAFewAuditRowsUntilTheDeadline) {
    service_rig r;
    r.add(A);
    r.sim.set_http_faults({.error_5xx_rate = 1.0}); // observed: ChirpStack down behind its REST proxy
    auto q = req(A);
    q.deadline = r.sim.now() + 8h;
    const auto c = r.svc->disconnect(q);
    r.settle();
    EXPECT_EQ(r.state_of(c.id), state::dispatching); // its outcome is not known: never guessed
    r.advance_in_steps(9h, 10min);
    const auto row = r.get(c.id);
    EXPECT_EQ(row.rec.current, state::expired) << causes(r.svc->command(c.id)->events);
    EXPECT_EQ(r.sim.enqueue_requests(A), 1u);
    const auto ev = r.svc->command(c.id)->events;
    const auto st = r.svc->stats();
    EXPECT_GE(st.device_op_failures, 15u) << "the queue was read again and again";
    EXPECT_LE(ev.size(), 10u) << "audit rows at the 1st, 2nd, 4th, 8th… failure only:" << causes(ev);
    EXPECT_TRUE(any_cause(ev, "8 times in a row")) << causes(ev);
}

// ---- 2. a cancel never destroys another command's pending item ----------------------------------

TEST(ServiceChirpStack, CancellingAQueuedCommandKeepsAnotherCommandsPendingItemAndItsAck) {
    service_rig r;
    r.add(A);
    // A confirmed raw frame the meter ignores (bad CRC): the device's ACK is its only evidence.
    const auto raw = r.svc->send(req(A), store::command_kind::raw, bytes{0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00});
    r.settle();
    r.advance(10min); // it goes out; ChirpStack holds it pending until the next uplink carries the ACK
    ASSERT_EQ(r.state_of(raw.id), state::sent);
    const auto off = r.svc->disconnect(req(A));
    r.settle();
    ASSERT_EQ(r.state_of(off.id), state::queued);
    ASSERT_TRUE(r.svc->cancel(off.id, "operator", "customer paid"));
    r.settle();
    EXPECT_EQ(r.state_of(off.id), state::cancelled);
    r.advance(10min); // the ACK arrives: ChirpStack still had the pending item
    EXPECT_EQ(r.state_of(raw.id), state::confirmed) << causes(r.svc->command(raw.id)->events);
    EXPECT_EQ(r.get(raw.id).rec.proof, evidence::device_acknowledged);
    r.advance_in_steps(2h, 10min);
    const auto downs = r.sim.device(A)->downlinks;
    ASSERT_EQ(downs.size(), 1u) << "the raw frame once, the cancelled disconnect never";
    EXPECT_EQ(downs[0].data, raw.payload);
    EXPECT_TRUE(r.sim.device(A)->relay_closed);
}

// ---- 3. rejoin ----------------------------------------------------------------------------------

TEST(ServiceChirpStack, ARejoinThatFlushedTheQueueEnqueuesTheLostCommandAgainAndSaysSo) {
    service_rig r;
    r.add(A);
    const auto c = r.svc->disconnect(req(A));
    r.settle();
    const auto first_item = r.get(c.id).rec.queue_item_id;
    ASSERT_TRUE(r.sim.join(A, false)); // a join that keeps the queue changes nothing
    r.settle();
    EXPECT_EQ(r.get(c.id).rec.queue_item_id, first_item);
    EXPECT_EQ(r.get(c.id).rec.retry_count, 0);
    ASSERT_TRUE(r.sim.join(A, true)); // "flush queue on activate": the queue is deleted silently, only a join event
    r.settle();
    const auto row = r.get(c.id);
    EXPECT_EQ(row.rec.current, state::queued);
    EXPECT_NE(row.rec.queue_item_id, first_item);
    EXPECT_EQ(row.rec.retry_count, 1);
    EXPECT_TRUE(any_cause(r.svc->command(c.id)->events, "the device rejoined")) << causes(r.svc->command(c.id)->events);
    EXPECT_EQ(r.svc->stats().rejoins, 2u);
    r.advance(10min);
    r.advance(5s);
    EXPECT_EQ(r.state_of(c.id), state::confirmed);
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), 1u);
}

TEST(ServiceChirpStack, ADeviceThatKeepsRejoiningCannotMakeTheCommandEnqueueWithoutBound) {
    service_rig r;
    r.add(A);
    const auto c = r.svc->disconnect(req(A));
    r.settle();
    for (int i = 0; i < 10; ++i) {
        r.sim.join(A, true);
        r.settle();
    }
    EXPECT_EQ(r.state_of(c.id), state::failed);
    EXPECT_NE(r.get(c.id).rec.error.find("retries exhausted"), std::string::npos) << r.get(c.id).rec.error;
    EXPECT_EQ(r.sim.enqueue_requests(A), static_cast<std::uint64_t>(r.cfg.policy.max_retries + 1));
}

// ---- 4. DOWNLINK_GATEWAY ------------------------------------------------------------------------

TEST(ServiceChirpStack, AGatewayErrorIsNotedOnTheQueuedCommandAtMostThreeTimesAndTheItemStillGoesOut) {
    service_rig r;
    r.add(A);
    r.sim.set_faults(A, {.gateway_tx_error = 1.0});
    const auto c = r.svc->disconnect(req(A));
    r.settle();
    r.advance_in_steps(50min, 10min); // five uplinks, five refusals to transmit
    EXPECT_EQ(r.state_of(c.id), state::queued);
    const auto ev = r.svc->command(c.id)->events;
    EXPECT_EQ(std::count_if(ev.begin(), ev.end(), [](const auto& e) { return e.cause.find("TX_FREQ") != std::string::npos; }), 3) << causes(ev);
    EXPECT_EQ(r.svc->stats().gateway_errors, 5u);
    r.sim.set_faults(A, {});
    r.advance(10min);
    r.advance(5s);
    EXPECT_EQ(r.state_of(c.id), state::confirmed);
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), 1u);
}

// ---- 5. order and loss of events ----------------------------------------------------------------

TEST(ServiceChirpStack, EventsInEitherOrderEndTheSameWay) {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        auto simcfg = test::manual_sim();
        simcfg.order = sim::event_order::shuffled;
        simcfg.seed = seed;
        service_rig r(store::make_memory_store(), test::quiet_config(), device::profile_registry::with_builtins(), simcfg);
        r.add(A);
        r.add(B, sim::wiring::load_side);
        r.add(C, sim::wiring::line_side, sim::device_kind::ivy_em114039);
        const auto off = r.svc->disconnect(req(A));
        const auto cut = r.svc->disconnect(req(B));
        const auto ivy = r.svc->disconnect(req(C, "ivy_em114039"));
        r.settle();
        r.advance_in_steps(20min, 2min);
        EXPECT_EQ(r.state_of(off.id), state::confirmed) << "seed " << seed << causes(r.svc->command(off.id)->events);
        EXPECT_EQ(r.state_of(ivy.id), state::confirmed) << "seed " << seed << causes(r.svc->command(ivy.id)->events);
        const auto on = r.svc->reconnect(req(A));
        r.settle();
        r.advance_in_steps(2h, 10min);
        EXPECT_EQ(r.state_of(on.id), state::confirmed) << "seed " << seed;
        EXPECT_EQ(r.svc->meter(A)->relay, store::relay_state::connected) << "seed " << seed;
        // The load-side bridge died with the cut: its `up` and the txack of the same uplink, in either order,
        // must not hide the silence that follows.
        EXPECT_EQ(r.svc->meter(B)->relay, store::relay_state::unreachable_after_disconnect) << "seed " << seed;
        EXPECT_EQ(r.state_of(cut.id), state::failed) << "seed " << seed;
        EXPECT_EQ(r.sim.device(A)->downlinks.size(), 2u) << "seed " << seed;
        EXPECT_EQ(r.sim.device(B)->downlinks.size(), 1u) << "seed " << seed;
    }
}

TEST(ServiceChirpStack, ADownlinkThatWentOutUnobservedWarnsOnceNamingTheMqttQosSetting) {
    auto cfg = test::quiet_config();
    std::mutex m;
    std::vector<std::string> warnings;
    cfg.log = [&](log_level l, std::string_view line) {
        std::lock_guard lock(m);
        if (l == log_level::warning) warnings.emplace_back(line);
    };
    service_rig r(store::make_memory_store(), cfg);
    r.add(A);
    r.add(B);
    const auto a = r.svc->disconnect(req(A));
    const auto b = r.svc->disconnect(req(B));
    r.settle();
    r.deliver = false; // the events are published while nobody listens (QoS 0: lost)
    r.advance(10min);
    r.deliver = true;
    r.restart(); // reads the queues: both items left unobserved
    EXPECT_EQ(r.state_of(a.id), state::sent);
    EXPECT_EQ(r.state_of(b.id), state::sent);
    EXPECT_EQ(r.svc->stats().unobserved_downlinks, 2u);
    std::lock_guard lock(m);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("qos = 1"), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[0].find("[integration.mqtt]"), std::string::npos) << warnings[0];
}

// ---- 9. reconciliation that has not heard the device --------------------------------------------

TEST(ServiceChirpStack, AClaimTakenOverWithoutEventsIsNotSentAgainWhenChirpStackSawTheDeviceSince) {
    service_rig r;
    r.add(A);
    r.deliver = false; // this process (and the dead one) ingests no event at all
    const auto c = r.svc->disconnect(req(A));
    r.settle();
    const auto claimed = r.sim.now();
    claim_as_dead_process(r, c.id, claimed); // its enqueue reached ChirpStack; its result was never recorded
    r.advance(10min);                         // the device uplinks and the item goes out
    ASSERT_EQ(r.sim.device(A)->downlinks.size(), 1u);
    r.restart(); // a new process takes the claim over: not in the queue, and it has heard nothing
    const auto row = r.get(c.id);
    EXPECT_EQ(row.rec.current, state::sent) << causes(r.svc->command(c.id)->events);
    EXPECT_TRUE(any_cause(r.svc->command(c.id)->events, "ChirpStack last saw the device at")) << causes(r.svc->command(c.id)->events);
    r.advance_in_steps(20min, 5min);
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), 1u) << "not sent again within the reply window";
    EXPECT_EQ(r.sim.enqueue_requests(A), 1u);
}

/// A command the dispatcher leaves alone for now (not before an hour from now), for a test to claim by hand.
std::int64_t held_back(service_rig& r, const std::string& dev) {
    auto q = req(dev);
    q.not_before = r.sim.now() + 1h;
    const auto id = r.svc->disconnect(q).id;
    r.settle();
    return id;
}

TEST(ServiceChirpStack, AClaimWhoseDeviceChirpStackHasNotSeenSinceIsSentAgainAsACountedAttempt) {
    service_rig r;
    r.add(A);
    r.deliver = false;
    const auto id = held_back(r, A);
    claim_as_dead_process(r, id, r.sim.now(), 0s); // it died before its enqueue reached ChirpStack; the device has not uplinked
    r.restart();
    const auto row = r.get(id);
    EXPECT_EQ(row.rec.current, state::pending) << causes(r.svc->command(id)->events);
    EXPECT_EQ(row.rec.retry_count, 1);
    EXPECT_TRUE(any_cause(r.svc->command(id)->events, "never reached ChirpStack")) << causes(r.svc->command(id)->events);
    r.deliver = true;
    r.advance(1min);
    r.advance(10min);
    r.advance(5s);
    EXPECT_EQ(r.state_of(id), state::confirmed);
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), 1u);
    EXPECT_EQ(r.sim.enqueue_requests(A), 1u);
}

TEST(ServiceChirpStack, TheFrameCounterShowsNoDownlinkWentOutSinceTheClaimAndTheCommandIsSentAgainAtOnce) {
    service_rig r;
    r.add(A);
    // Two earlier commands went out (fCntDown 0 and 1), seen through their txacks.
    for (bool on : {false, true}) {
        const auto x = on ? r.svc->reconnect(req(A)) : r.svc->disconnect(req(A));
        r.settle();
        r.advance(10min);
        r.advance(5s);
        ASSERT_EQ(r.state_of(x.id), state::confirmed);
    }
    r.deliver = false; // from here this process hears nothing
    const auto id = held_back(r, A);
    claim_as_dead_process(r, id, r.sim.now()); // its enqueue never reached ChirpStack
    const auto downs_before = r.sim.device(A)->downlinks.size();
    r.advance(10min); // the device uplinks after the claim (ChirpStack's lastSeenAt is after it), nothing goes out
    ASSERT_EQ(r.sim.device(A)->downlinks.size(), downs_before);
    r.restart();
    const auto ev = r.svc->command(id)->events;
    EXPECT_TRUE(any_cause(ev, "no downlink went out after fCntDown 1")) << causes(ev);
    EXPECT_EQ(r.get(id).rec.retry_count, 1);
    r.deliver = true;
    r.advance(1min);
    r.advance(10min);
    r.advance(5s);
    EXPECT_EQ(r.state_of(id), state::confirmed) << causes(r.svc->command(id)->events);
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), downs_before + 1);
}

// ---- the bound, whatever ChirpStack answers ----------------------------------------------------

TEST(ServiceChirpStack, NoCommandIsEnqueuedMoreThanMaxRetriesPlusOneTimesNorGivenAuditRowsWithoutBound) {
    int cases = 25; // RELAYLINK_PROPERTY_CASES=500 for a longer run
    if (const char* n = std::getenv("RELAYLINK_PROPERTY_CASES")) cases = std::max(1, std::atoi(n));
    const std::vector<std::string> devices = {A, B, C, unknown};
    std::size_t most_enqueues = 0, most_rows = 0, commands = 0, requests = 0;
    std::map<std::string, int> endings;
    for (int k = 0; k < cases; ++k) {
        std::mt19937_64 rng(static_cast<std::uint64_t>(k) * 7919 + 1);
        auto pick = [&](double hi) { return std::uniform_real_distribution<double>(0, hi)(rng); };
        auto cfg = test::quiet_config();
        cfg.policy.max_retries = static_cast<int>(rng() % 4);
        cfg.seed = rng();
        auto simcfg = test::manual_sim();
        simcfg.seed = rng();
        simcfg.order = rng() % 2 ? sim::event_order::shuffled : sim::event_order::observed;
        service_rig r(store::make_memory_store(), cfg, device::profile_registry::with_builtins(), simcfg, true, [](chirpstack::config& c) {
            c.request_timeout = 120ms; // a "slow" answer (250 ms) is a timeout
        });
        r.add(A);
        r.add(B, sim::wiring::load_side);
        r.add(C, sim::wiring::line_side, sim::device_kind::ivy_em114039);
        auto faults = [&] {
            sim::http_faults f;
            f.error_5xx_rate = pick(0.15);
            f.error_500_rate = pick(0.1);
            f.rate_limit_rate = pick(0.05);
            f.refuse_rate = pick(0.03);
            f.drop_rate = pick(0.1);
            f.lost_response_rate = pick(0.1);
            f.garbled_rate = pick(0.1);
            f.slow_rate = pick(0.05);
            f.slow_latency = 250ms;
            if (rng() % 4 == 0) f.only_method = "POST";
            if (rng() % 8 == 0) f = {.error_5xx_rate = 1.0}; // ChirpStack down for a while
            return f;
        };
        r.sim.set_http_faults(faults());
        for (int step = 0; step < 10; ++step) {
            const std::string& dev = devices[rng() % devices.size()];
            const std::string profile = dev == C ? "ivy_em114039" : "eastron_sdm320c";
            switch (rng() % 8) {
            case 0:
            case 1: r.svc->disconnect(req(dev, profile)); break;
            case 2: r.svc->reconnect(req(dev, profile)); break;
            case 3: r.svc->send(req(dev, profile), store::command_kind::raw, bytes{0x01, 0x04, 0x00, 0x00, 0x00, 0x02, 0x71, 0xCB}); break;
            case 4: {
                auto open = r.svc->open_commands();
                if (!open.empty()) r.svc->cancel(open[rng() % open.size()].id, "tester");
                break;
            }
            case 5:
                if (dev != unknown) r.sim.join(dev, rng() % 2 == 0);
                break;
            case 6: r.sim.set_http_faults(faults()); break;
            default:
                if (dev != unknown) r.sim.set_faults(dev, {.downlink_loss = pick(0.5), .gateway_tx_error = pick(0.3)});
            }
            r.settle();
            r.advance(std::chrono::minutes(1 + rng() % 15));
        }
        // Faults keep coming for a while, then ChirpStack recovers; every command must end (the deadline is 24 h).
        r.advance_in_steps(3h, 30min);
        r.sim.set_http_faults({});
        for (const auto& d : devices)
            if (d != unknown) r.sim.set_faults(d, {});
        r.advance_in_steps(25h, 5h);
        std::map<std::string, std::size_t> audited;
        for (const auto& d : devices) {
            for (const auto& c : r.db->history(d, 1000)) {
                const auto ev = r.db->events(c.id);
                const auto n = static_cast<std::size_t>(enqueues_of(ev));
                ++commands;
                ++endings[std::string(command::to_string(c.rec.current))];
                EXPECT_TRUE(command::is_terminal(c.rec.current)) << "case " << k << ": command " << c.id << causes(ev);
                EXPECT_LE(n, static_cast<std::size_t>(cfg.policy.max_retries + 1)) << "case " << k << ": command " << c.id << causes(ev);
                EXPECT_LE(ev.size(), static_cast<std::size_t>(8 * (cfg.policy.max_retries + 1) + 12))
                    << "case " << k << ": command " << c.id << causes(ev);
                most_enqueues = std::max(most_enqueues, n);
                most_rows = std::max(most_rows, ev.size());
                audited[d] += n;
            }
            // The wire agrees with the audit trail: no enqueue the trail does not show.
            const auto wire = r.sim.enqueue_requests(d);
            requests += wire;
            EXPECT_LE(wire, audited[d]) << "case " << k << ", device " << d;
        }
        if (::testing::Test::HasFailure()) break;
    }
    std::string ends;
    for (const auto& [s, n] : endings) ends += " " + s + " " + std::to_string(n);
    std::printf("property: %d cases, %zu commands, %zu enqueue requests; most enqueues of one command %zu, most audit rows %zu;%s\n",
                cases, commands, requests, most_enqueues, most_rows, ends.c_str());
    EXPECT_GE(most_enqueues, 2u) << "retries happened: the faults were felt";
}
