// The relay service end to end against the simulator (manual time, real HTTP over loopback): the
// paths DESIGN.md promises, each checked in the store, the audit trail and the simulated meter.
#include "../support/service_rig.hpp"
#include "../support/temp_db.hpp"

#include <relaylink/chirpstack/sync_client.hpp>
#include <relaylink/device/builtin.hpp>
#include <relaylink/device/profile_json.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

using namespace relaylink;
using relaylink::test::req;
using relaylink::test::service_rig;
using command::state;
using namespace std::chrono_literals;

namespace {

const std::string A = "0101010101010101";
const std::string B = "0202020202020202";

std::vector<state> states_of(const std::vector<store::audit_event>& ev) {
    std::vector<state> out;
    for (const auto& e : ev)
        if (out.empty() || out.back() != e.to) out.push_back(e.to);
    return out;
}

} // namespace

TEST(Service, SubscribersAreToldAsCommandsChangeInTheOrderOfTheChanges) {
    // The request thread tells "pending" while the service's threads dispatch the command and note "dispatching"
    // and "queued": a slow subscriber must still see them in that order (two threads delivering side by side
    // told a portal's subscriber "queued" before "pending", 2026-12-04).
    service_rig r;
    r.add(A);
    std::mutex m;
    std::vector<state> seen;
    std::atomic<bool> first{true};
    r.svc->on_command([&](const service::command_change& c) {
        if (first.exchange(false)) std::this_thread::sleep_for(std::chrono::milliseconds(300)); // the dispatch goes on meanwhile
        std::lock_guard lk(m);
        seen.push_back(c.command.rec.current);
    });
    const auto c = r.svc->disconnect(req(A));
    r.settle();
    ASSERT_EQ(r.get(c.id).rec.current, state::queued);
    std::lock_guard lk(m);
    ASSERT_GE(seen.size(), 3u);
    EXPECT_EQ(seen[0], state::pending);
    EXPECT_EQ(seen[1], state::dispatching);
    EXPECT_EQ(seen[2], state::queued);
}

TEST(Service, DisconnectIsConfirmedWithTheRelayOpen) {
    service_rig r;
    r.add(A);
    std::vector<service::command_change> changes;
    std::vector<service::meter_change> meters;
    r.svc->on_command([&](const service::command_change& c) { changes.push_back(c); });
    r.svc->on_meter([&](const service::meter_change& m) { meters.push_back(m); });

    const auto c = r.svc->disconnect(req(A));
    EXPECT_EQ(c.rec.current, state::pending);
    EXPECT_EQ(to_hex(c.payload), "010500000000CDCA");
    r.settle();
    auto q = r.get(c.id);
    ASSERT_EQ(q.rec.current, state::queued);
    ASSERT_EQ(r.sim.device(A)->queue_length, 1u);

    r.advance(10min); // the uplink opens the receive window: txack; the meter switches and replies 2 s later
    r.advance(5s);
    const auto done = r.get(c.id);
    EXPECT_EQ(done.rec.current, state::confirmed) << done.rec.error;
    EXPECT_EQ(done.rec.proof, evidence::device_replied);
    EXPECT_FALSE(r.sim.device(A)->relay_closed);
    EXPECT_EQ(r.svc->meter(A)->relay, store::relay_state::disconnected);
    EXPECT_EQ(r.svc->meter(A)->last_confirmed_command, c.id);

    const auto view = r.svc->command(c.id).value();
    const auto path = states_of(view.events);
    ASSERT_GE(path.size(), 5u);
    EXPECT_EQ(path.front(), state::pending);
    EXPECT_EQ(path[1], state::dispatching);
    EXPECT_EQ(path[2], state::queued);
    EXPECT_EQ(path.back(), state::confirmed);
    for (std::size_t i = 0; i < view.events.size(); ++i) EXPECT_EQ(view.events[i].sequence, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(view.events.front().actor, "tester");
    EXPECT_TRUE(std::any_of(changes.begin(), changes.end(), [](auto& ch) { return ch.command.rec.current == state::confirmed; }));
    ASSERT_FALSE(meters.empty());
    EXPECT_EQ(meters.back().meter.relay, store::relay_state::disconnected);

    // Reconnect.
    const auto on = r.svc->reconnect(req(A));
    r.settle();
    r.advance(10min);
    r.advance(5s);
    EXPECT_EQ(r.state_of(on.id), state::confirmed);
    EXPECT_TRUE(r.sim.device(A)->relay_closed);
    EXPECT_EQ(r.svc->meter(A)->relay, store::relay_state::connected);
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), 2u);
}

TEST(Service, TheIvyCompletesOnTheDevicesAck) {
    service_rig r;
    r.add(B, sim::wiring::line_side, sim::device_kind::ivy_em114039);
    const auto c = r.svc->disconnect(req(B, "ivy_em114039"));
    r.settle();
    r.advance(10min);
    r.advance(5s);
    const auto done = r.get(c.id);
    EXPECT_EQ(done.rec.current, state::confirmed);
    EXPECT_GE(done.rec.proof, evidence::device_acknowledged);
    EXPECT_FALSE(r.sim.device(B)->relay_closed);
}

TEST(Service, ALostDownlinkIsRetriedAndThenSucceeds) {
    service_rig r;
    r.add(A);
    sim::device_faults lossy;
    lossy.downlink_loss = 1;
    r.sim.set_faults(A, lossy);
    const auto c = r.svc->disconnect(req(A));
    r.settle();
    r.advance(10min); // transmitted, lost on the air
    r.advance(10min); // the next uplink carries no ACK: ack(false) -> retry with backoff
    auto mid = r.get(c.id);
    EXPECT_EQ(mid.rec.retry_count, 1);
    EXPECT_NE(mid.rec.current, state::confirmed);
    r.sim.set_faults(A, {});
    r.advance_in_steps(30min, 1min);
    const auto done = r.get(c.id);
    EXPECT_EQ(done.rec.current, state::confirmed) << done.rec.error;
    EXPECT_EQ(done.rec.retry_count, 1);
    EXPECT_FALSE(r.sim.device(A)->relay_closed);
    const auto ev = r.svc->command(c.id)->events;
    EXPECT_TRUE(std::any_of(ev.begin(), ev.end(), [](auto& e) { return e.cause.find("did not acknowledge") != std::string::npos; }));
}

TEST(Service, RetriesExhaustedEndFailed) {
    service::service_config cfg = test::quiet_config();
    cfg.policy.max_retries = 2;
    service_rig r(store::make_memory_store(), cfg);
    r.add(A);
    sim::device_faults lossy;
    lossy.downlink_loss = 1;
    r.sim.set_faults(A, lossy);
    const auto c = r.svc->disconnect(req(A));
    r.advance_in_steps(3h, 2min);
    const auto done = r.get(c.id);
    EXPECT_EQ(done.rec.current, state::failed);
    EXPECT_NE(done.rec.error.find("retries exhausted"), std::string::npos) << done.rec.error;
    EXPECT_EQ(done.rec.retry_count, 2);
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), 3u); // the first attempt and two retries
    EXPECT_TRUE(r.sim.device(A)->relay_closed);
}

TEST(Service, TheDeadlineExpiresACommandTheDeviceNeverFetched) {
    service_rig r;
    r.add(A);
    sim::device_faults deaf;
    deaf.uplink_loss = 1; // no uplink reaches the network server: no receive window for the downlink
    r.sim.set_faults(A, deaf);
    auto rq = req(A);
    rq.deadline = r.sim.now() + 15min;
    const auto c = r.svc->disconnect(rq);
    r.settle();
    EXPECT_EQ(r.state_of(c.id), state::queued);
    EXPECT_EQ(r.sim.device(A)->queue_length, 1u);
    r.advance(14min);
    EXPECT_EQ(r.state_of(c.id), state::queued);
    r.advance(2min);
    const auto done = r.get(c.id);
    EXPECT_EQ(done.rec.current, state::expired);
    EXPECT_NE(done.rec.error.find("deadline"), std::string::npos) << done.rec.error;
    EXPECT_TRUE(r.sim.device(A)->downlinks.empty());
    EXPECT_TRUE(r.sim.device(A)->relay_closed);
}

TEST(Service, AModbusExceptionFailsWithItsName) {
    auto profiles = device::profile_registry::with_builtins();
    auto wrong = device::eastron_sdm320c();
    wrong.name = "sdm_wrong_coil";
    wrong.aliases.clear();
    wrong.relay_off.address = 7; // the SDM320C answers illegal data address
    ASSERT_TRUE(profiles.add(wrong));
    service_rig r(store::make_memory_store(), test::quiet_config(), profiles);
    r.add(A);
    const auto c = r.svc->disconnect(req(A, "sdm_wrong_coil"));
    r.settle();
    r.advance(10min);
    r.advance(5s);
    const auto done = r.get(c.id);
    EXPECT_EQ(done.rec.current, state::failed);
    EXPECT_NE(done.rec.error.find("illegal_data_address"), std::string::npos) << done.rec.error;
    EXPECT_TRUE(r.sim.device(A)->relay_closed);
}

TEST(Service, OffThenOnBeforeDeliverySendsOneDownlinkTheOn) {
    service_rig r;
    r.add(A);
    const auto off = r.svc->disconnect(req(A));
    r.settle();
    ASSERT_EQ(r.state_of(off.id), state::queued);
    const auto on = r.svc->reconnect(req(A));
    r.settle();
    EXPECT_EQ(r.state_of(off.id), state::superseded);
    // The off was removed by an enqueue with flushQueue (an expired placeholder, dropped unsent), then the on queued.
    ASSERT_EQ(r.sim.device(A)->queue_length, 2u);
    r.advance(10min);
    r.advance(5s);
    EXPECT_EQ(r.state_of(on.id), state::confirmed);
    const auto log = r.sim.device(A)->downlinks;
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(to_hex(log[0].data), to_hex(on.payload));
    EXPECT_TRUE(r.sim.device(A)->relay_closed);
    const auto ev = r.svc->command(off.id)->events;
    EXPECT_NE(ev.back().cause.find("superseded by command " + std::to_string(on.id)), std::string::npos);
}

TEST(Service, ALoadSideBridgeEndsUnreachableAfterDisconnect) {
    service_rig r;
    r.add(B, sim::wiring::load_side);
    const auto off = r.svc->disconnect(req(B));
    r.settle();
    r.advance(10min); // delivered: the relay opens, the bridge loses its supply before replying
    r.advance(5s);
    EXPECT_FALSE(r.sim.device(B)->relay_closed);
    EXPECT_EQ(r.state_of(off.id), state::sent);
    r.advance_in_steps(70min, 5min); // 3 x the SDM320C's 20-minute interval
    const auto m = r.svc->meter(B).value();
    EXPECT_EQ(m.relay, store::relay_state::unreachable_after_disconnect);
    EXPECT_NE(m.note.find("power is restored on site"), std::string::npos) << m.note;
    const auto done = r.get(off.id);
    EXPECT_EQ(done.rec.current, state::failed);
    EXPECT_NE(done.rec.error.find("fell silent"), std::string::npos);
    EXPECT_EQ(r.sim.device(B)->downlinks.size(), 1u); // never retried into a dead bridge

    const auto on = r.svc->reconnect(req(B));
    EXPECT_NE(on.note.find("unreachable"), std::string::npos);
    r.settle();
    EXPECT_EQ(r.state_of(on.id), state::queued);
    r.sim.restore_power(B); // someone closed the relay on site: the bridge wakes up
    r.advance(10min);
    r.advance(5s);
    EXPECT_EQ(r.state_of(on.id), state::confirmed);
    EXPECT_EQ(r.svc->meter(B)->relay, store::relay_state::connected);
}

TEST(Service, EventsOutOfOrderAndTwiceChangeNothingTwice) {
    service_rig r;
    r.add(A);
    const auto c = r.svc->disconnect(req(A));
    r.settle();
    r.deliver = false; // hold the events, then play them backwards, each twice
    r.advance(10min);
    r.advance(5s);
    std::vector<chirpstack::event> held;
    {
        std::lock_guard lock(r.held_mu);
        held = r.held;
    }
    ASSERT_GE(held.size(), 3u); // up, txack, up + ack, up (the reply)
    std::reverse(held.begin(), held.end());
    const auto before = r.svc->stats();
    for (const auto& e : held) {
        r.svc->ingest(e);
        r.svc->ingest(e);
    }
    const auto done = r.get(c.id);
    EXPECT_EQ(done.rec.current, state::confirmed);
    EXPECT_EQ(done.rec.proof, evidence::device_replied);
    const auto after = r.svc->stats();
    EXPECT_GT(after.ignored + after.uplinks_unmatched, before.ignored + before.uplinks_unmatched);
    const auto ev = r.svc->command(c.id)->events;
    const auto confirmations = std::count_if(ev.begin(), ev.end(), [](auto& e) { return e.to == state::confirmed; });
    EXPECT_EQ(confirmations, 1);
}

TEST(Service, IdempotencyKeysAndDuplicatesInFlight) {
    service_rig r;
    r.add(A);
    auto rq = req(A);
    rq.idempotency_key = "portal-42";
    const auto a = r.svc->disconnect(rq);
    const auto b = r.svc->disconnect(rq);
    EXPECT_EQ(a.id, b.id);
    auto other = rq;
    other.dev_eui = B;
    try {
        r.svc->disconnect(other);
        FAIL() << "a reused key with another meter must be refused";
    } catch (const service::request_error& e) {
        EXPECT_EQ(e.field(), "idempotency_key");
        EXPECT_NE(std::string(e.what()).find("portal-42"), std::string::npos);
    }
    auto again = req(A); // no key, same intent while the first is in flight
    const auto c = r.svc->disconnect(again);
    EXPECT_EQ(c.id, a.id);
    EXPECT_EQ(r.svc->stats().duplicates_returned, 2u);
    r.settle();
    EXPECT_EQ(r.sim.device(A)->queue_length, 1u);
}

TEST(Service, CancellingAQueuedCommandFlushesAndRequeuesTheRest) {
    service_rig r;
    r.add(A);
    const auto off = r.svc->disconnect(req(A));
    r.settle();
    const auto read = r.svc->send(req(A), store::command_kind::raw, bytes{0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0xfd, 0xca});
    r.settle();
    ASSERT_EQ(r.sim.device(A)->queue_length, 2u);
    const auto cancelled = r.svc->cancel(off.id, "operator", "customer paid");
    ASSERT_TRUE(cancelled);
    r.settle();
    EXPECT_EQ(r.state_of(off.id), state::cancelled);
    EXPECT_EQ(r.state_of(read.id), state::queued); // flushed and enqueued again
    EXPECT_EQ(r.get(read.id).rec.retry_count, 1);   // which counts as an attempt
    const auto q = r.sim.device(A)->queue_length;
    EXPECT_EQ(q, 2u); // the placeholder of the flush (expired, dropped unsent at the next uplink) and the read
    EXPECT_EQ(r.get(read.id).rec.queue_item_id.size(), 36u);
    r.advance(10min);
    EXPECT_TRUE(r.sim.device(A)->relay_closed);
    ASSERT_EQ(r.sim.device(A)->downlinks.size(), 1u);
    EXPECT_EQ(r.sim.device(A)->downlinks[0].data, read.payload);
    // A command on the radio cannot be cancelled: the refusal is recorded.
    r.advance(5s);
    const auto late = r.svc->cancel(read.id, "operator");
    EXPECT_NE(late->rec.current, state::cancelled);
    const auto ev = r.svc->command(read.id)->events;
    EXPECT_NE(ev.back().cause.find("cancel refused"), std::string::npos) << ev.back().cause;
    EXPECT_FALSE(r.svc->cancel(999999, "operator"));
}

TEST(Service, BadRequestsAreRefusedWithTheFieldAndNothingIsWritten) {
    service_rig r;
    auto expect = [&](service::request rq, const std::string& field, const std::string& words,
                      store::command_kind k = store::command_kind::relay_off, bytes raw = {}) {
        try {
            r.svc->send(rq, k, raw);
            ADD_FAILURE() << "accepted a request with a bad " << field;
        } catch (const service::request_error& e) {
            EXPECT_EQ(e.field(), field);
            EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
        }
    };
    auto rq = req("xyz");
    expect(rq, "dev_eui", "xyz");
    rq = req(A, "no_such_meter");
    expect(rq, "profile", "no_such_meter");
    rq = req(A, "");
    expect(rq, "profile", "none on record");
    rq = req(A);
    rq.priority = 11;
    expect(rq, "priority", "11");
    rq = req(A);
    rq.deadline = r.sim.now() - 1s;
    expect(rq, "deadline", "not after");
    rq = req(A);
    rq.actor.clear();
    expect(rq, "actor", "who asks");
    expect(req(A), "payload", "payload", store::command_kind::raw, {});
    expect(req(A, "ivy_em114039"), "kind", "cannot read", store::command_kind::read);
    // Careless text: each field bounded, valid UTF-8, no control characters; the message stays readable.
    rq = req("01010101010101\xC3\xA9"); // "…é": one character, two bytes
    expect(rq, "dev_eui", "contains a non-ASCII character");
    try {
        r.svc->disconnect(rq);
    } catch (const service::request_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("\\xC3\\xA9"), std::string::npos) << m; // shown as escapes: the message is ASCII
        EXPECT_TRUE(std::all_of(m.begin(), m.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) << m;
    }
    rq = req(A);
    rq.reason = std::string(5 * 1024 * 1024, 'r');
    expect(rq, "reason", "at most 2000 bytes, got 5242880");
    rq = req(A);
    rq.actor = std::string(1024 * 1024, 'a');
    expect(rq, "actor", "at most 200 bytes");
    rq = req(A);
    rq.idempotency_key = std::string(1024 * 1024, 'k');
    expect(rq, "idempotency_key", "at most 200 bytes");
    rq = req(A);
    rq.meter_ref = std::string("MTR\0-1", 6);
    expect(rq, "meter_ref", "control characters (found \\x00)");
    rq = req(A);
    rq.actor = "al\xFFice";
    expect(rq, "actor", "not valid UTF-8");
    rq = req(A);
    rq.reason = "arrears\nsecond line\tok";
    EXPECT_NO_THROW(r.svc->disconnect(rq)); // a reason may span lines
    EXPECT_THROW(r.svc->cancel(1, std::string(300, 'x')), service::request_error);
    EXPECT_EQ(r.svc->history(A).size(), 1u); // only the good one was written (it may have ended already: A is not in ChirpStack)
}

TEST(Service, UplinksOfDevicesNeverCommandedLeaveNoMeterBehind) {
    service_rig r;
    r.add(A);
    // A flood of uplinks naming 2,003 devices relaylink was never asked about (forged, or another application's).
    std::vector<chirpstack::event> flood;
    for (int i = 0; i < 2003; ++i) {
        chirpstack::up_event up;
        char eui[17];
        std::snprintf(eui, sizeof eui, "70b3d5e7%08x", i);
        up.device.dev_eui = eui;
        up.deduplication_id = "flood-" + std::to_string(i);
        up.time = r.sim.now();
        up.f_cnt = 1;
        up.f_port = 5;
        flood.emplace_back(std::move(up));
    }
    r.svc->ingest(flood);
    EXPECT_TRUE(r.svc->meters().empty());
    EXPECT_EQ(r.svc->stats().uplinks_untracked, 2003u);

    // A meter the portal tracks before any command keeps its last uplink.
    const auto tracked = r.svc->track_meter(A, "eastron_sdm", "MTR-1");
    EXPECT_EQ(tracked.profile, "eastron_sdm320c");
    EXPECT_EQ(tracked.meter_ref, "MTR-1");
    ASSERT_TRUE(r.sim.trigger_uplink(A));
    r.settle();
    ASSERT_TRUE(r.svc->meter(A));
    EXPECT_TRUE(r.svc->meter(A)->last_uplink);
    EXPECT_EQ(r.svc->meters().size(), 1u);
    EXPECT_THROW(r.svc->track_meter("nope"), service::request_error);
    EXPECT_THROW(r.svc->track_meter(B, "acme"), service::request_error);
    EXPECT_THROW(r.svc->track_meter(B, "", std::string("a\0b", 3)), service::request_error);
    EXPECT_EQ(r.svc->meters().size(), 1u);
}

// A request writes its command, then its meter row; another process may send the command in between
// (four processes on one SQLite file did: the meter's reply arrived first and was dropped as an uplink of
// a device never asked about, leaving the command `acknowledged` for good).
TEST(Service, AReplyToACommandWhoseMeterRowIsNotWrittenYetIsApplied) {
    service_rig r;
    r.add(A);
    const auto now = r.sim.now();
    store::command_row c;
    c.dev_eui = A;
    c.profile = "eastron_sdm320c";
    c.kind = store::command_kind::relay_off;
    c.payload = bytes{0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xcd, 0xca};
    c.f_port = 5;
    c.created_by = "portal";
    c.created_at = c.updated_at = now;
    c.rec.current = state::queued;
    c.rec.queue_item_id = "item-1";
    c.rec.deadline = now + std::chrono::hours(1);
    c.timer_at = c.rec.deadline;
    ASSERT_TRUE(r.db->insert(c, {0, 0, now, std::nullopt, state::queued, "queued by another process", "other", ""}));
    ASSERT_FALSE(r.db->meter(A)); // the gap: no meter row yet

    chirpstack::up_event reply;
    reply.device.dev_eui = A;
    reply.deduplication_id = "reply-1";
    reply.time = now + std::chrono::seconds(5);
    reply.f_cnt = 7;
    reply.f_port = 5;
    reply.data = c.payload; // the SDM320C echoes a write
    r.svc->ingest(std::vector<chirpstack::event>{reply});

    const auto done = r.db->get(c.id);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->rec.current, state::confirmed);
    EXPECT_EQ(r.svc->stats().uplinks_untracked, 0u);
    const auto m = r.db->meter(A);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->relay, store::relay_state::disconnected);
    EXPECT_EQ(m->uplink_f_cnt, 7u);
}

TEST(Service, TheSafetyGuardRefusesDefersAndDryRuns) {
    service::service_config cfg = test::quiet_config();
    cfg.safety.protected_meters = {B};
    service_rig r(store::make_memory_store(), cfg);
    r.add(A);
    r.add(B);
    const auto refused = r.svc->disconnect(req(B));
    EXPECT_EQ(refused.rec.current, state::failed);
    EXPECT_NE(refused.rec.error.find("protected"), std::string::npos) << refused.rec.error;
    const auto ev = r.svc->command(refused.id)->events;
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_NE(ev[0].cause.find("refused by the safety guard"), std::string::npos);
    EXPECT_EQ(r.svc->reconnect(req(B)).rec.current, state::pending); // reconnects are never blocked
    r.settle();
    EXPECT_EQ(r.svc->stats().refused, 1u);

    // Windows: the simulator's clock starts on a given instant; a window that excludes it defers.
    service::service_config win = test::quiet_config();
    win.safety.windows = true;
    win.safety.weekdays = {true, true, true, true, true, true, true};
    service::safety_guard probe(win.safety);
    service_rig w(store::make_memory_store(), win);
    w.add(A);
    const auto start = w.sim.now();
    const auto c = w.svc->disconnect(req(A));
    if (probe.in_window(start)) {
        EXPECT_FALSE(c.rec.not_before);
    } else {
        ASSERT_TRUE(c.rec.not_before);
        EXPECT_TRUE(probe.in_window(*c.rec.not_before));
        w.settle();
        EXPECT_EQ(w.state_of(c.id), state::pending); // waits for the window
        EXPECT_EQ(w.sim.device(A)->queue_length, 0u);
    }

    service::service_config dry = test::quiet_config();
    dry.safety.dry_run = true;
    service_rig d(store::make_memory_store(), dry);
    d.add(A);
    const auto would = d.svc->disconnect(req(A));
    d.settle();
    EXPECT_EQ(would.rec.current, state::cancelled);
    EXPECT_NE(d.svc->command(would.id)->events[0].cause.find("dry run: would send 010500000000CDCA"), std::string::npos);
    // The reason is on the command too, where a page listing commands finds it.
    EXPECT_NE(d.svc->command(would.id)->command.note.find("dry run: would send 010500000000CDCA"), std::string::npos);
    EXPECT_EQ(d.sim.device(A)->queue_length, 0u);
}

TEST(Service, ARestartAdoptsWhatIsQueuedAndNeverSendsTwice) {
    const test::temp_db file("service-restart");
    const auto& path = file.path();
    std::int64_t id = 0;
    std::string item;
    {
        service_rig r(store::open_sqlite(path));
        r.add(A);
        id = r.svc->disconnect(req(A)).id;
        r.settle();
        item = r.get(id).rec.queue_item_id;
        ASSERT_EQ(item.size(), 36u);
        // A crash between the enqueue and its answer leaves `dispatching`: simulate it by hand.
        auto row = r.get(id);
        row.rec.current = state::dispatching;
        row.rec.queue_item_id.clear();
        std::vector<store::update> u{{row, {id, 0, r.sim.now(), state::queued, state::dispatching, "test: crash mid-enqueue", "test", ""}}};
        ASSERT_TRUE(r.db->write(u));
        r.restart(); // "the process dies"; the simulator keeps the queued item
        const auto row2 = r.get(id);
        EXPECT_EQ(row2.rec.current, state::queued);
        EXPECT_EQ(row2.rec.queue_item_id, item); // adopted, not enqueued again
        EXPECT_EQ(r.sim.device(A)->queue_length, 1u);
        r.advance(10min);
        r.advance(5s);
        EXPECT_EQ(r.state_of(id), state::confirmed);
        EXPECT_EQ(r.sim.device(A)->downlinks.size(), 1u);
    }
    auto reopened = store::open_sqlite(path);
    EXPECT_EQ(reopened->get(id)->rec.current, state::confirmed);
}

TEST(Service, AnotherLiveInstancesClaimIsLeftAloneUntilItsLeaseEndsThenAdopted) {
    service_rig r;
    r.add(A);
    const auto id = r.svc->disconnect(req(A)).id;
    r.settle();
    const std::string item = r.get(id).rec.queue_item_id;
    ASSERT_EQ(item.size(), 36u);
    // Another process (another host) claimed it and died before recording the queue item; its lease runs 60 s.
    auto row = r.get(id);
    row.rec.current = state::dispatching;
    row.rec.queue_item_id.clear();
    row.claim_owner = "other-host:4242";
    row.lease_until = r.sim.now() + 60s;
    row.timer_at = row.lease_until;
    std::vector<store::update> u{{row, {id, 0, r.sim.now(), state::queued, state::dispatching, "test: claimed elsewhere", "test", ""}}};
    ASSERT_TRUE(r.db->write(u));
    r.restart(); // a process starting now must not touch a live claim of another
    EXPECT_EQ(r.state_of(id), state::dispatching);
    EXPECT_EQ(r.svc->stats().reconciliations, 0u);
    r.advance(30s);
    EXPECT_EQ(r.state_of(id), state::dispatching);
    r.advance(31s); // the lease has ended: the queue is read and the item adopted, not sent again
    EXPECT_EQ(r.state_of(id), state::queued);
    EXPECT_EQ(r.get(id).rec.queue_item_id, item);
    EXPECT_EQ(r.get(id).claim_owner, "");
    EXPECT_FALSE(r.get(id).lease_until);
    EXPECT_EQ(r.sim.device(A)->queue_length, 1u);
    r.advance(10min);
    r.advance(5s);
    EXPECT_EQ(r.state_of(id), state::confirmed);
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), 1u);
}

TEST(Service, AClaimIsTimedByItsAuditRowNotByThisInstancesClaimTimeout) {
    // Unconfirmed downlinks leave ChirpStack's queue when they go out; the bridge is powered from the load
    // side, so no reply comes after the cut. The device uplinks every 10 min.
    auto profiles = device::profile_registry::with_builtins();
    auto unconfirmed = *profiles.find("eastron_sdm320c");
    unconfirmed.confirmed = false;
    ASSERT_TRUE(profiles.add(unconfirmed));
    service_rig r(store::make_memory_store(), test::quiet_config(), profiles); // this instance: claim_timeout 120 s
    r.add(A, sim::wiring::load_side);
    const auto id = r.svc->disconnect(req(A)).id;
    r.settle();
    const auto claimed = r.sim.now();
    // Another host with a 15 min claim_timeout claimed it, enqueued it and died before recording the item.
    auto row = r.get(id);
    row.rec.current = state::dispatching;
    row.rec.queue_item_id.clear();
    row.claim_owner = "other-host:4242";
    row.lease_until = claimed + 15min;
    row.timer_at = row.lease_until;
    std::vector<store::update> u{{row, {id, 0, claimed, state::queued, state::dispatching, "claimed by other-host:4242", "relaylink", ""}}};
    ASSERT_TRUE(r.db->write(u));
    r.restart();
    r.advance(10min); // the device uplinks and takes the item: it has gone out (and the bridge lost power)
    r.advance(1s);
    ASSERT_EQ(r.sim.device(A)->downlinks.size(), 1u);
    ASSERT_EQ(r.sim.device(A)->queue_length, 0u);
    ASSERT_EQ(r.state_of(id), state::dispatching);
    r.advance(5min); // the lease has ended. The claim was made 15 min before, not 2 min (lease − our timeout)
    const auto c = r.get(id);
    EXPECT_EQ(c.rec.current, state::sent); // it may have gone out: awaiting its reply, as an item that left the queue
    EXPECT_EQ(c.rec.retry_count, 0);
    ASSERT_TRUE(c.timer_at);
    EXPECT_GT(*c.timer_at, r.sim.now() + 10min); // sent again only if no reply comes in the reply window
    EXPECT_NE(r.svc->command(id)->events.back().cause.find("may have gone out"), std::string::npos)
        << r.svc->command(id)->events.back().cause;
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), 1u);
}

TEST(Service, AClaimWhoseProcessOnThisHostIsGoneIsTakenBackAtOnce) {
    service_rig r;
    r.add(A);
    const auto id = r.svc->disconnect(req(A)).id;
    r.settle();
    const pid_t child = ::fork(); // a pid that existed and no longer does
    if (child == 0) ::_exit(0);
    ::waitpid(child, nullptr, 0);
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    auto row = r.get(id);
    row.rec.current = state::dispatching;
    row.rec.queue_item_id.clear();
    row.claim_owner = std::string(host) + ":" + std::to_string(child);
    row.lease_until = r.sim.now() + 1h;
    row.timer_at = row.lease_until;
    std::vector<store::update> u{{row, {id, 0, r.sim.now(), state::queued, state::dispatching, "test: claimed by a dead process", "test", ""}}};
    ASSERT_TRUE(r.db->write(u));
    r.restart();
    EXPECT_EQ(r.state_of(id), state::queued); // adopted at start-up, not an hour later
    EXPECT_GE(r.svc->stats().reconciliations, 1u);
}

TEST(Service, AStoppedServiceSendsNothingNewButRecordsWhatIsInFlight) {
    service_rig r;
    r.add(A);
    r.add(B);
    r.sim.set_http_faults({.latency = std::chrono::milliseconds(300)}); // ChirpStack answers after 0.3 s
    const auto first = r.svc->disconnect(req(A)).id;
    for (int i = 0; i < 200 && r.state_of(first) != state::dispatching; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(r.state_of(first), state::dispatching);
    EXPECT_FALSE(r.svc->stop()); // not waiting: the enqueue is still in flight
    EXPECT_TRUE(r.svc->stop(5s)); // waits for it: recorded, not left to the lease
    EXPECT_EQ(r.state_of(first), state::queued);
    const auto second = r.svc->disconnect(req(B)).id; // accepted, but nothing new goes out
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(r.state_of(second), state::pending);
    EXPECT_EQ(r.sim.device(B)->queue_length, 0u);
    r.sim.set_http_faults({});
}

// The answer to an enqueue that comes after the service is destroyed is dropped, and the service with it:
// its job used to wait in the stopped pool holding the service, which holds the pool (a cycle; LeakSanitizer
// found it in CI). What the service owns is seen through its clock, a copy of which it keeps.
TEST(Service, AServiceDestroyedWithAnEnqueueInFlightIsFreedWhenTheAnswerComes) {
    service_rig r;
    r.add(A);
    r.svc.reset();
    auto token = std::make_shared<int>(0);
    auto cfg = r.cfg;
    cfg.clock = [token, &r] { return r.sim.now(); };
    r.svc = std::make_unique<service::service>(r.io.get_executor(), *r.api, *r.db, r.profiles, std::move(cfg));
    r.svc->start();
    EXPECT_EQ(token.use_count(), 2); // here and in the service
    r.sim.set_http_faults({.latency = std::chrono::milliseconds(300)}); // ChirpStack answers after 0.3 s
    const auto id = r.svc->disconnect(req(A)).id;
    for (int i = 0; i < 200 && r.state_of(id) != state::dispatching; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(r.state_of(id), state::dispatching);
    r.svc.reset(); // the enqueue still in flight
    for (int i = 0; i < 400 && token.use_count() > 1; ++i) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(token.use_count(), 1) << "the service outlived its owner";
    EXPECT_EQ(r.sim.device(A)->queue_length, 1u); // ChirpStack did take the item: it is reconciled at the next start
    r.sim.set_http_faults({});
}

TEST(Service, ItsOwnClaimsCarryItsNameAndTheLease) {
    auto cfg = test::quiet_config();
    cfg.instance = "web-7";
    cfg.claim_timeout = 90s;
    service_rig r(store::make_memory_store(), cfg);
    r.add(A);
    const auto id = r.svc->disconnect(req(A)).id;
    r.settle();
    const auto events = r.svc->command(id)->events;
    auto claim = std::find_if(events.begin(), events.end(), [](const auto& e) { return e.to == state::dispatching; });
    ASSERT_NE(claim, events.end());
    EXPECT_EQ(claim->detail, "claimed by web-7");
    EXPECT_EQ(r.get(id).claim_owner, ""); // queued now: the claim is over
}

TEST(Service, ABadConfigurationIsRefusedNamingTheSetting) {
    boost::asio::io_context io;
    chirpstack::config cc;
    cc.url = "http://127.0.0.1:1";
    chirpstack::client api(io.get_executor(), cc);
    auto db = store::make_memory_store();
    auto expect = [&](service::service_config cfg, const std::string& words) {
        try {
            service::service s(io.get_executor(), api, *db, device::profile_registry::with_builtins(), std::move(cfg));
            ADD_FAILURE() << "accepted a configuration with " << words;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
        }
    };
    service::service_config c;
    c.max_in_flight = 0;
    expect(c, "max_in_flight");
    c = {};
    c.max_batch = 0;
    expect(c, "max_batch");
    c = {};
    c.unreachable_after_intervals = 0;
    expect(c, "unreachable_after_intervals");
    c = {};
    c.default_deadline = std::chrono::seconds(0);
    expect(c, "default_deadline");
    c = {};
    c.safety.time_zone = "Nowhere/Atlantis";
    expect(c, "Nowhere/Atlantis");
    c = {};
    c.claim_timeout = std::chrono::seconds(0);
    expect(c, "claim_timeout");
    c = {};
    c.instance = std::string(201, 'x');
    expect(c, "instance");
}

TEST(Service, TheDispatcherTakesTheHighestPriorityFirstAndSendsTheDeadlineAsExpiresAt) {
    service::service_config cfg = test::quiet_config();
    cfg.max_in_flight = 1;
    service_rig r(store::make_memory_store(), cfg);
    std::vector<std::int64_t> ids;
    const auto start = r.sim.now() + std::chrono::minutes(1); // all due at the same moment
    for (int i = 0; i < 5; ++i) {
        const std::string eui = "0a0a0a0a0a0a0a0" + std::to_string(i);
        r.add(eui);
        auto rq = req(eui);
        rq.priority = i == 3 ? 1 : 8; // 1 is the highest, as in the portal's device_commands
        rq.not_before = start;
        rq.deadline = r.sim.now() + std::chrono::hours(2 + i);
        ids.push_back(r.svc->disconnect(rq).id);
    }
    std::vector<std::int64_t> order;
    r.svc->on_command([&](const service::command_change& c) {
        if (c.command.rec.current == state::dispatching) order.push_back(c.command.id);
    });
    r.settle();
    EXPECT_TRUE(order.empty());
    r.advance(std::chrono::seconds(61));
    ASSERT_EQ(order.size(), 5u);
    EXPECT_EQ(order.front(), ids[3]); // priority 1 first, then the others oldest first
    EXPECT_EQ(order[1], ids[0]);
    EXPECT_EQ(order[2], ids[1]);
    for (auto id : ids) {
        const auto c = r.get(id);
        ASSERT_EQ(c.rec.current, state::queued);
        chirpstack::config cc;
        cc.url = r.sim.url();
        cc.api_key = r.sim.settings().api_key;
        const auto q = chirpstack::sync_client(cc).get_queue(c.dev_eui);
        ASSERT_EQ(q.size(), 1u);
        ASSERT_TRUE(q[0].expires_at);
        EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*q[0].expires_at - *c.rec.deadline).count(), 0);
    }
}

namespace {
device::profile_registry with_read_back() {
    auto reg = device::profile_registry::with_builtins();
    std::ifstream f(std::string(RELAYLINK_EXAMPLE_PROFILES) + "/sdm320c_readback.json");
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto p = device::profiles_from_json(text);
    if (!p || p->size() != 1 || !reg.add(p->front())) throw std::runtime_error("examples/profiles/sdm320c_readback.json does not load");
    return reg;
}
} // namespace

TEST(Service, AProfileCompletingOnARead_backConfirmsWhenTheReadShowsTheCommandedState) {
    service_rig r(store::make_memory_store(), test::quiet_config(), with_read_back());
    r.add(A);
    const auto c = r.svc->disconnect(req(A, "sdm320c_readback"));
    r.settle();
    r.advance(10min); // the write goes out
    r.advance(5s);    // the meter's reply and the ACK: the service asks for the read-back itself
    const auto mid = r.get(c.id);
    ASSERT_EQ(mid.rec.current, state::acknowledged) << test::causes(r.svc->command(c.id)->events);
    EXPECT_FALSE(r.sim.device(A)->relay_closed);
    auto open = r.svc->open_commands();
    const auto read = std::find_if(open.begin(), open.end(), [](const store::command_row& o) { return o.kind == store::command_kind::read; });
    ASSERT_NE(read, open.end());
    EXPECT_EQ(read->created_by, "relaylink");
    EXPECT_EQ(read->reason, "read-back of command " + std::to_string(c.id));
    EXPECT_EQ(to_hex(read->payload), to_hex(device::profiles_from_json(R"({"name":"x","fport":5,"relay_off":{"function":5,"address":0,"value":0},
        "relay_on":{"function":5,"address":0,"value":65280},"relay_state":{"function":1,"address":0,"quantity":1,"on":[1],"off":[0]}})")
                                                .value().front().read_relay_state().value().payload.bytes()));
    r.advance(10min); // the read goes out
    r.advance(5s);    // its answer: coil 0 off
    const auto done = r.get(c.id);
    EXPECT_EQ(done.rec.current, state::confirmed) << test::causes(r.svc->command(c.id)->events);
    EXPECT_EQ(done.rec.proof, evidence::state_verified);
    EXPECT_EQ(done.rec.retry_count, 0);
    EXPECT_EQ(r.state_of(read->id), state::confirmed);
    EXPECT_EQ(r.svc->meter(A)->relay, store::relay_state::disconnected);
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), 2u); // the write and the read, nothing sent twice
    const auto ev = r.svc->command(c.id)->events;
    EXPECT_NE(ev.back().detail.find("read-back by command " + std::to_string(read->id) + ": relay off"), std::string::npos)
        << test::causes(ev);
}

TEST(Service, ARead_backShowingTheOtherStateSendsTheCommandAgainBoundedByItsRetries) {
    auto cfg = test::quiet_config();
    cfg.policy.max_retries = 1;
    cfg.policy.initial_backoff = 1s;
    service_rig r(store::make_memory_store(), cfg, with_read_back());
    r.add(A);
    sim::device_faults stuck;
    stuck.relay_stuck = true; // the meter says done, the relay stays closed
    r.sim.set_faults(A, stuck);
    const auto c = r.svc->disconnect(req(A, "sdm320c_readback"));
    r.settle();
    r.advance_in_steps(2h, 5min);
    const auto done = r.get(c.id);
    const auto ev = r.svc->command(c.id)->events;
    EXPECT_EQ(done.rec.current, state::failed) << test::causes(ev);
    EXPECT_EQ(done.rec.retry_count, 1);
    EXPECT_NE(done.rec.error.find("read-back shows the relay in the other state"), std::string::npos) << done.rec.error;
    EXPECT_NE(done.rec.error.find("retries exhausted"), std::string::npos) << done.rec.error;
    EXPECT_TRUE(r.sim.device(A)->relay_closed);
    EXPECT_NE(r.svc->meter(A)->relay, store::relay_state::disconnected); // the read showed it on
    // Bounded: two writes (the first and one retry), each with its read-back.
    EXPECT_EQ(r.sim.device(A)->downlinks.size(), 4u);
    EXPECT_LE(ev.size(), 20u) << test::causes(ev);
}
