// The command lifecycle: every (state, input) pair with its outcome, then the paths that matter
// (retries and backoff, out-of-order and duplicated events, cancellation in flight, evidence).
#include <relaylink/command/lifecycle.hpp>

#include <gtest/gtest.h>

#include <map>
#include <random>

using namespace relaylink;
using namespace relaylink::command;

namespace {

const sys_time t0 = parse_rfc3339("2026-07-18T09:00:00Z").value();

/// A command in `st`, as it would be when it reached that state.
record in_state(state st) {
    record r;
    r.current = st;
    r.deadline = t0 + std::chrono::hours(24);
    if (st == state::queued || st == state::sent || st == state::acknowledged) r.queue_item_id = "q1";
    if (st == state::sent || st == state::acknowledged) {
        r.sent_at = t0;
        r.proof = st == state::sent ? evidence::gateway_accepted : evidence::device_acknowledged;
    }
    if (st == state::confirmed) r.proof = evidence::device_replied;
    return r;
}

struct named_input {
    std::string name;
    input in;
    sys_time at;
};

std::vector<named_input> inputs() {
    const auto late = t0 + std::chrono::hours(25); // past the deadline and any reply timeout
    const auto soon = t0 + std::chrono::hours(2);  // past the reply timeout (3 x 20 min), before the deadline
    return {
        {"dispatch", dispatch_begin{}, t0},
        {"enqueue_ok", enqueue_succeeded{"q2"}, t0},
        {"enqueue_refused", enqueue_failed{"400 bad request", false, false}, t0},
        {"enqueue_transient", enqueue_failed{"connection refused", true, false}, t0},
        {"enqueue_unknown", enqueue_failed{"timeout", true, true}, t0},
        {"enqueue_unreadable", enqueue_failed{"a 200 that is not JSON", false, true}, t0},
        {"reconciled_found", reconciled{std::string("q3")}, t0},
        {"reconciled_none", reconciled{std::nullopt}, t0},
        {"reconciled_heard", reconciled{std::nullopt, true}, t0},
        {"reconciled_unknown_device", reconciled{std::nullopt, false, true, "device 0101 is not in ChirpStack"}, t0},
        {"txack", txack_received{"q1", 7}, t0},
        {"txack_other", txack_received{"zz", 7}, t0},
        {"ack_true", ack_received{"q1", true, 7}, t0},
        {"ack_false", ack_received{"q1", false, 7}, t0},
        {"ack_other", ack_received{"zz", true, 7}, t0},
        {"reply", reply_received{false, ""}, t0},
        {"reply_exception", reply_received{true, "illegal_data_address"}, t0},
        {"state_verified", state_verified{}, t0},
        {"state_differs", state_differs{"relay on"}, t0},
        {"log_expired", log_received{"EXPIRED", ""}, t0},
        {"log_payload_size", log_received{"DOWNLINK_PAYLOAD_SIZE", "max 51, item 60"}, t0},
        {"log_fcnt_down", log_received{"F_CNT_DOWN", ""}, t0},
        {"log_gateway", log_received{"DOWNLINK_GATEWAY", ""}, t0},
        {"timer_reply", timer_fired{timer::reply_timeout}, soon},
        {"timer_deadline", timer_fired{timer::deadline}, late},
        {"cancel", cancel{"operator"}, t0},
        {"supersede", supersede{"c2"}, t0},
        {"flushed", flushed{"the device rejoined"}, t0},
        {"left_queue", left_queue{}, t0},
        {"device_silent", device_silent{"no uplink for 3 intervals"}, soon},
    };
}

// "-" means ignored; otherwise the state it ends in ("dispatching*": same state, not ignored).
const std::map<std::string, std::map<std::string, std::string>> expected = {
    {"pending", {{"dispatch", "dispatching"}, {"timer_deadline", "expired"},
                 {"cancel", "cancelled"}, {"supersede", "superseded"}}},
    {"dispatching", {{"enqueue_ok", "queued"}, {"enqueue_refused", "failed"}, {"enqueue_transient", "pending"},
                     {"enqueue_unknown", "dispatching*"}, {"enqueue_unreadable", "dispatching*"}, {"reconciled_found", "queued"},
                     {"reconciled_none", "pending"}, {"reconciled_heard", "sent"}, {"reconciled_unknown_device", "failed"},
                     {"reply", "confirmed"}, {"reply_exception", "failed"},
                     {"timer_deadline", "expired"}, {"cancel", "dispatching*"}, {"supersede", "dispatching*"}}},
    {"queued", {{"txack", "sent"}, {"ack_true", "acknowledged"}, {"ack_false", "pending"}, {"reply", "confirmed"},
                {"reply_exception", "failed"}, {"log_expired", "expired"},
                {"log_payload_size", "failed"}, {"log_fcnt_down", "pending"}, {"log_gateway", "queued*"}, {"timer_deadline", "expired"},
                {"cancel", "cancelled"}, {"supersede", "superseded"}, {"flushed", "pending"}, {"left_queue", "sent"}}},
    {"sent", {{"ack_true", "acknowledged"}, {"ack_false", "pending"}, {"reply", "confirmed"}, {"reply_exception", "failed"},
              {"state_verified", "confirmed"}, {"state_differs", "pending"}, {"log_expired", "expired"}, {"log_payload_size", "failed"},
              {"log_fcnt_down", "pending"}, {"timer_reply", "pending"}, {"timer_deadline", "expired"},
              {"device_silent", "failed"}}},
    {"acknowledged", {{"reply", "confirmed"}, {"reply_exception", "failed"}, {"state_verified", "confirmed"}, {"state_differs", "pending"},
                      {"log_expired", "expired"}, {"log_payload_size", "failed"}, {"log_fcnt_down", "pending"},
                      {"timer_reply", "pending"}, {"timer_deadline", "expired"}, {"device_silent", "failed"}}},
    {"confirmed", {{"state_verified", "confirmed*"}}},
    {"failed", {}},
    {"expired", {}},
    {"cancelled", {}},
    {"superseded", {}},
};

} // namespace

TEST(Lifecycle, EveryStateAndInputPairHasItsOutcome) {
    policy p;
    int pairs = 0;
    for (auto st : all_states) {
        for (const auto& ni : inputs()) {
            record r = in_state(st);
            const outcome o = step(r, ni.in, p, ni.at, 0.5);
            const auto& row = expected.at(std::string(to_string(st)));
            const auto it = row.find(ni.name);
            const std::string want = it == row.end() ? "-" : it->second;
            std::string got;
            if (o.ignored)
                got = "-";
            else
                got = std::string(to_string(o.to)) + (o.to == st ? "*" : "");
            EXPECT_EQ(got, want) << to_string(st) << " + " << ni.name << " (cause: " << o.cause << ")";
            EXPECT_EQ(r.current, o.to) << to_string(st) << " + " << ni.name;
            EXPECT_FALSE(o.cause.empty()) << to_string(st) << " + " << ni.name;
            if (!o.ignored && o.to != st) {
                EXPECT_TRUE(o.has(action_kind::persist)) << to_string(st) << " + " << ni.name;
                EXPECT_TRUE(o.has(action_kind::notify)) << to_string(st) << " + " << ni.name;
            }
            if (o.ignored) {
                EXPECT_TRUE(o.actions.empty()) << to_string(st) << " + " << ni.name;
                EXPECT_EQ(o.to, st);
            }
            ++pairs;
        }
    }
    EXPECT_EQ(pairs, 10 * 30);
}

TEST(Lifecycle, DispatchPersistsBeforeEnqueueing) {
    record r;
    auto o = step(r, dispatch_begin{}, policy{}, t0);
    ASSERT_EQ(o.actions.size(), 3u);
    EXPECT_EQ(o.actions[0].kind, action_kind::persist);
    EXPECT_EQ(o.actions[1].kind, action_kind::enqueue);
}

TEST(Lifecycle, NotBeforeAndBackoffHoldTheDispatch) {
    record r;
    r.not_before = t0 + std::chrono::hours(1);
    EXPECT_TRUE(step(r, dispatch_begin{}, policy{}, t0).ignored);
    EXPECT_EQ(step(r, dispatch_begin{}, policy{}, t0 + std::chrono::hours(1)).to, state::dispatching);
}

TEST(Lifecycle, RetriesBackOffExponentiallyWithJitterThenFail) {
    policy p;
    p.max_retries = 3;
    record r;
    std::vector<std::chrono::seconds> waits;
    for (int attempt = 0; attempt < 4; ++attempt) {
        auto now = r.next_attempt_at.value_or(t0);
        ASSERT_EQ(step(r, dispatch_begin{}, p, now).to, state::dispatching);
        ASSERT_FALSE(step(r, enqueue_succeeded{"q" + std::to_string(attempt)}, p, now).ignored);
        ASSERT_EQ(step(r, txack_received{r.queue_item_id, 1}, p, now).to, state::sent);
        auto o = step(r, ack_received{r.queue_item_id, false, 1}, p, now, 0.5);
        if (attempt < 3) {
            ASSERT_EQ(o.to, state::pending) << o.cause;
            EXPECT_EQ(r.retry_count, attempt + 1);
            EXPECT_TRUE(r.queue_item_id.empty());
            EXPECT_EQ(next_due(r, p, t0), r.next_attempt_at); // the dispatcher takes it up when the backoff ends
            waits.push_back(std::chrono::duration_cast<std::chrono::seconds>(*r.next_attempt_at - now));
        } else {
            EXPECT_EQ(o.to, state::failed);
            EXPECT_NE(r.error.find("retries exhausted (3)"), std::string::npos) << r.error;
        }
    }
    EXPECT_EQ(waits, (std::vector<std::chrono::seconds>{std::chrono::seconds(30), std::chrono::seconds(60), std::chrono::seconds(120)}));
    // jitter moves the wait within +/- 20 %
    record j;
    j.current = state::queued;
    j.queue_item_id = "q";
    step(j, ack_received{"q", false, 0}, p, t0, 0.0);
    EXPECT_EQ(*j.next_attempt_at - t0, std::chrono::seconds(24));
    record k = in_state(state::queued);
    step(k, ack_received{"q1", false, 0}, p, t0, 1.0);
    EXPECT_EQ(*k.next_attempt_at - t0, std::chrono::seconds(36));
}

TEST(Lifecycle, EventsOutOfOrderStillEndConfirmed) {
    policy p;
    record r = in_state(state::queued);
    EXPECT_EQ(step(r, ack_received{"q1", true, 3}, p, t0).to, state::acknowledged); // ack before txack
    auto late_tx = step(r, txack_received{"q1", 3}, p, t0);
    EXPECT_FALSE(late_tx.ignored);
    EXPECT_EQ(r.current, state::acknowledged);
    EXPECT_EQ(r.f_cnt_down, 3u);
    EXPECT_EQ(step(r, reply_received{}, p, t0).to, state::confirmed);
    EXPECT_EQ(r.proof, evidence::device_replied);
    record s = in_state(state::queued);
    EXPECT_EQ(step(s, reply_received{}, p, t0).to, state::confirmed); // the reply before everything else
}

TEST(Lifecycle, DuplicatedEventsAreIgnored) {
    policy p;
    record r = in_state(state::queued);
    step(r, txack_received{"q1", 3}, p, t0);
    EXPECT_TRUE(step(r, txack_received{"q1", 3}, p, t0).ignored);
    step(r, ack_received{"q1", true, 3}, p, t0);
    EXPECT_TRUE(step(r, ack_received{"q1", true, 3}, p, t0).ignored);
    step(r, reply_received{}, p, t0);
    EXPECT_TRUE(step(r, reply_received{}, p, t0).ignored);
    EXPECT_EQ(r.current, state::confirmed);
}

TEST(Lifecycle, CompletionFollowsThePolicysEvidence) {
    policy ack_done;
    ack_done.completion = evidence::device_acknowledged;
    record r = in_state(state::queued);
    EXPECT_EQ(step(r, ack_received{"q1", true, 0}, ack_done, t0).to, state::confirmed);
    policy gw_done;
    gw_done.completion = evidence::gateway_accepted;
    record g = in_state(state::queued);
    EXPECT_EQ(step(g, txack_received{"q1", 0}, gw_done, t0).to, state::confirmed);
    policy verify;
    verify.completion = evidence::state_verified;
    record v = in_state(state::sent);
    EXPECT_EQ(step(v, reply_received{}, verify, t0).to, state::acknowledged);
    EXPECT_EQ(step(v, state_verified{}, verify, t0).to, state::confirmed);
    EXPECT_EQ(v.proof, evidence::state_verified);
}

TEST(Lifecycle, AReplyAfterALostAckConfirmsTheRetryingCommand) {
    policy p;
    record r = in_state(state::sent);
    EXPECT_EQ(step(r, ack_received{"q1", false, 0}, p, t0).to, state::pending);
    EXPECT_EQ(step(r, reply_received{}, p, t0).to, state::confirmed);
    record d = in_state(state::sent);
    step(d, ack_received{"q1", false, 0}, p, t0);
    step(d, dispatch_begin{}, p, *d.next_attempt_at);
    auto o = step(d, reply_received{}, p, *d.next_attempt_at);
    EXPECT_EQ(o.to, state::confirmed);
    EXPECT_TRUE(o.has(action_kind::flush_and_requeue)); // the retry's duplicate must not go out
}

TEST(Lifecycle, CancelWhileTheEnqueueIsInFlightTakesEffectWhenItReturns) {
    policy p;
    record r = in_state(state::dispatching);
    auto c = step(r, cancel{"wrong meter"}, p, t0);
    EXPECT_FALSE(c.ignored);
    EXPECT_EQ(r.current, state::dispatching);
    auto o = step(r, enqueue_succeeded{"q9"}, p, t0);
    EXPECT_EQ(o.to, state::cancelled);
    EXPECT_TRUE(o.has(action_kind::flush_and_requeue));
}

TEST(Lifecycle, CancellingAQueuedCommandFlushesAndRequeuesTheRest) {
    record r = in_state(state::queued);
    auto o = step(r, cancel{}, policy{}, t0);
    EXPECT_EQ(o.to, state::cancelled);
    EXPECT_TRUE(o.has(action_kind::flush_and_requeue));
    EXPECT_FALSE(next_due(r, policy{}, t0)); // finished: never due again
    EXPECT_TRUE(r.completed_at);
}

TEST(Lifecycle, AnAmbiguousEnqueueFailureReadsTheQueueNeverGuesses) {
    record r = in_state(state::dispatching);
    auto o = step(r, enqueue_failed{"timeout after sending", true, true}, policy{}, t0);
    EXPECT_TRUE(o.has(action_kind::reconcile_queue));
    EXPECT_FALSE(o.has(action_kind::enqueue));
    EXPECT_EQ(r.current, state::dispatching);
    EXPECT_EQ(r.retry_count, 0);
    EXPECT_EQ(step(r, reconciled{std::string("q7")}, policy{}, t0).to, state::queued);
    EXPECT_EQ(r.queue_item_id, "q7");
}

TEST(Lifecycle, AClaimNotInTheQueueAfterTheDeviceUplinkedWaitsForItsReplyBeforeSendingAgain) {
    // A crashed process's claim: the item is not in the device queue, but the device has uplinked since,
    // so the downlink may have gone out in that uplink's receive window.
    record r = in_state(state::dispatching);
    policy p;
    auto o = step(r, reconciled{std::nullopt, true, false, "lastSeenAt after the claim"}, p, t0);
    EXPECT_EQ(o.to, state::sent);
    EXPECT_EQ(r.retry_count, 0); // the same attempt: its reply, when it comes, confirms it
    EXPECT_EQ(r.sent_at, t0);
    EXPECT_EQ(next_due(r, p, t0), t0 + p.uplink_interval * p.reply_timeout_intervals);
    EXPECT_NE(o.cause.find("may have gone out"), std::string::npos) << o.cause;
    EXPECT_NE(o.cause.find("lastSeenAt after the claim"), std::string::npos) << o.cause;
    EXPECT_TRUE(step(r, dispatch_begin{}, p, t0 + std::chrono::minutes(1)).ignored); // not sent again
    EXPECT_EQ(step(r, reply_received{false, ""}, p, t0 + std::chrono::minutes(2)).to, state::confirmed);
    // Without a reply, the reply timeout retries it (counted) as any sent command.
    record silent = in_state(state::dispatching);
    step(silent, reconciled{std::nullopt, true}, p, t0);
    EXPECT_EQ(step(silent, timer_fired{timer::reply_timeout}, p, t0 + p.uplink_interval * p.reply_timeout_intervals).to, state::pending);
    EXPECT_EQ(silent.retry_count, 1);

    // Without an uplink since the claim, the queue read is conclusive: it never reached ChirpStack. That
    // counts as an attempt and backs off, so a ChirpStack that keeps losing enqueues cannot loop.
    record never = in_state(state::dispatching);
    auto n = step(never, reconciled{std::nullopt, false}, p, t0, 0.5);
    EXPECT_EQ(n.to, state::pending);
    EXPECT_EQ(never.retry_count, 1);
    ASSERT_TRUE(never.next_attempt_at);
    EXPECT_EQ(*never.next_attempt_at, t0 + p.initial_backoff);
    EXPECT_TRUE(step(never, dispatch_begin{}, p, t0).ignored);
    EXPECT_EQ(step(never, dispatch_begin{}, p, *never.next_attempt_at).to, state::dispatching);
}

TEST(Lifecycle, ADeviceChirpStackDoesNotKnowFailsTheCommandSayingSo) {
    record r = in_state(state::dispatching);
    auto o = step(r, reconciled{std::nullopt, false, true, "device 70b3d5e7000000ff is not in ChirpStack: add it, or correct the DevEUI"}, policy{}, t0);
    EXPECT_EQ(o.to, state::failed);
    EXPECT_EQ(r.error, "device 70b3d5e7000000ff is not in ChirpStack: add it, or correct the DevEUI");
    record refused = in_state(state::dispatching); // the enqueue itself said so (the client reads the foreign-key 500)
    step(refused, enqueue_failed{"device 70b3d5e7000000ff is not in ChirpStack", false, false}, policy{}, t0);
    EXPECT_EQ(refused.current, state::failed);
    EXPECT_NE(refused.error.find("is not in ChirpStack"), std::string::npos);
}

TEST(Lifecycle, AnItemLostToAFlushIsEnqueuedAgainAsACountedAttempt) {
    policy p;
    p.max_retries = 2;
    record r = in_state(state::queued);
    for (int i = 1; i <= 2; ++i) {
        auto o = step(r, flushed{"the device rejoined"}, p, t0);
        EXPECT_EQ(o.to, state::pending);
        EXPECT_EQ(r.retry_count, i);
        EXPECT_FALSE(r.next_attempt_at); // at once: it only lost its place
        EXPECT_NE(o.cause.find("the device rejoined: enqueue again (attempt " + std::to_string(i + 1) + " of 3)"), std::string::npos) << o.cause;
        step(r, dispatch_begin{}, p, t0);
        step(r, enqueue_succeeded{"q" + std::to_string(i)}, p, t0);
    }
    EXPECT_EQ(step(r, flushed{"the device rejoined"}, p, t0).to, state::failed);
    EXPECT_NE(r.error.find("retries exhausted (2)"), std::string::npos) << r.error;
}

TEST(Lifecycle, AGatewayErrorIsNotedOnTheQueuedCommandWhichStaysQueued) {
    record r = in_state(state::queued);
    auto o = step(r, log_received{"DOWNLINK_GATEWAY", "TX_FREQ"}, policy{}, t0);
    EXPECT_FALSE(o.ignored);
    EXPECT_EQ(o.to, state::queued);
    EXPECT_TRUE(o.has(action_kind::persist));
    EXPECT_NE(o.cause.find("TX_FREQ"), std::string::npos) << o.cause;
    EXPECT_EQ(r.queue_item_id, "q1");
}

TEST(Lifecycle, NoSequenceOfInputsEnqueuesACommandMoreThanMaxRetriesPlusOneTimes) {
    // Random inputs (of every kind, any order, at random times) on one command: whatever happens, the
    // number of enqueues stays within max_retries + 1 and the command ends.
    std::mt19937_64 rng(20261201);
    const auto all = inputs();
    int most = 0;
    for (int run = 0; run < 2000; ++run) {
        policy p;
        p.max_retries = static_cast<int>(rng() % 4);
        record r;
        r.deadline = t0 + std::chrono::hours(24 * 365);
        int enqueues = 0;
        sys_time now = t0;
        for (int i = 0; i < 300 && !is_terminal(r.current); ++i) {
            now += std::chrono::minutes(static_cast<int>(rng() % 90));
            input in = all[rng() % all.size()].in;
            if (auto* e = std::get_if<enqueue_succeeded>(&in)) e->queue_item_id = "q" + std::to_string(i);
            if (auto* t = std::get_if<txack_received>(&in); t && rng() % 2) t->queue_item_id = r.queue_item_id;
            if (auto* a = std::get_if<ack_received>(&in); a && rng() % 2) a->queue_item_id = r.queue_item_id;
            if (std::holds_alternative<cancel>(in) || std::holds_alternative<supersede>(in) || std::holds_alternative<state_verified>(in) ||
                std::holds_alternative<reply_received>(in) || std::holds_alternative<timer_fired>(in))
                if (rng() % 8) continue; // the inputs that end a command quickly come more rarely, to reach long runs
            const auto o = step(r, in, p, now, static_cast<double>(rng() % 1000) / 1000.0);
            if (o.has(action_kind::enqueue)) ++enqueues;
            ASSERT_LE(enqueues, p.max_retries + 1) << "run " << run << ", input " << input_name(in) << ": " << o.cause;
        }
        most = std::max(most, enqueues);
    }
    EXPECT_EQ(most, 4) << "some run reached the bound (max_retries 3 + 1): the property was exercised";
}

TEST(Lifecycle, AModbusExceptionFailsWithItsName) {
    record r = in_state(state::sent);
    step(r, reply_received{true, "illegal_data_address: the device has no such coil"}, policy{}, t0);
    EXPECT_EQ(r.current, state::failed);
    EXPECT_EQ(r.error, "the meter refused: illegal_data_address: the device has no such coil");
}

TEST(Lifecycle, PortalStatusMapping) {
    EXPECT_EQ(portal_status(state::dispatching), "pending");
    EXPECT_EQ(portal_status(state::acknowledged), "sent");
    EXPECT_EQ(portal_status(state::confirmed), "completed");
    EXPECT_EQ(portal_status(state::expired), "failed");
    EXPECT_EQ(portal_status(state::superseded), "cancelled");
    for (auto s : all_states) EXPECT_EQ(state_from_name(to_string(s)), s);
}

TEST(Lifecycle, ASilentMeterStopsTheDisconnectsRetries) {
    policy p;
    record r = in_state(state::queued); // a retry, queued behind a silent bridge
    r.retry_count = 1;
    const outcome o = step(r, device_silent{"no uplink for 3 intervals"}, p, t0);
    EXPECT_EQ(o.to, state::failed);
    EXPECT_TRUE(o.has(action_kind::flush_and_requeue)); // the retry copy must not wait in the queue
    EXPECT_NE(r.error.find("not retried"), std::string::npos) << r.error;

    record d = in_state(state::dispatching);
    d.retry_count = 1;
    const outcome od = step(d, device_silent{}, p, t0);
    EXPECT_EQ(od.to, state::dispatching);
    EXPECT_TRUE(d.cancel_requested);
    EXPECT_EQ(step(d, enqueue_succeeded{"q9"}, p, t0).to, state::cancelled);
}

TEST(Lifecycle, AnItemThatLeftTheQueueUnobservedAwaitsItsReply) {
    policy p;
    record r = in_state(state::queued);
    const outcome o = step(r, left_queue{}, p, t0);
    EXPECT_EQ(o.to, state::sent);
    ASSERT_TRUE(r.sent_at);
    EXPECT_EQ(reply_due(r, p), t0 + p.uplink_interval * p.reply_timeout_intervals);
    EXPECT_EQ(step(r, timer_fired{timer::reply_timeout}, p, t0 + p.uplink_interval * p.reply_timeout_intervals).to, state::pending);
    // Still in the queue, but as sent and awaiting its ACK: it went out too, with that frame counter.
    record q = in_state(state::queued);
    const outcome oq = step(q, left_queue{true, 7}, p, t0);
    EXPECT_EQ(oq.to, state::sent);
    EXPECT_EQ(q.f_cnt_down, 7u);
    EXPECT_EQ(q.queue_item_id, "q1"); // its ACK, when it comes, finds it
    EXPECT_NE(oq.cause.find("awaiting its ACK (fCntDown 7)"), std::string::npos) << oq.cause;
    EXPECT_EQ(step(q, ack_received{"q1", true, 7}, p, t0).to, state::acknowledged);
}

TEST(Lifecycle, AProfileThatCompletesOnARead_backAsksForItOnceAndWaitsForItsAnswer) {
    policy p;
    p.completion = evidence::state_verified;
    const auto interval = p.uplink_interval * p.reply_timeout_intervals;
    // The ACK first: acknowledged, and the read-back asked for, due reply_timeout_intervals from now.
    record r = in_state(state::sent);
    const auto later = t0 + std::chrono::minutes(20);
    const outcome a = step(r, ack_received{"q1", true, 7}, p, later);
    EXPECT_EQ(a.to, state::acknowledged);
    EXPECT_TRUE(a.has(action_kind::read_back));
    EXPECT_NE(a.cause.find("reading the relay state back"), std::string::npos) << a.cause;
    EXPECT_EQ(reply_due(r, p), later + interval);
    EXPECT_EQ(next_due(r, p, t0), later + interval);
    // The meter's reply next: more evidence, but no second read-back.
    const outcome rep = step(r, reply_received{false, ""}, p, later + std::chrono::seconds(2));
    EXPECT_EQ(rep.to, state::acknowledged);
    EXPECT_FALSE(rep.has(action_kind::read_back));
    EXPECT_EQ(r.proof, evidence::device_replied);
    // Not due before the read-back's own time, although sent_at + the timeout has passed.
    EXPECT_TRUE(step(r, timer_fired{timer::reply_timeout}, p, t0 + interval).ignored);
    EXPECT_EQ(step(r, state_verified{}, p, later + std::chrono::minutes(30)).to, state::confirmed);
    EXPECT_EQ(r.proof, evidence::state_verified);

    // A reply first (no ACK seen): the read-back is asked for then.
    record s = in_state(state::sent);
    const outcome rs = step(s, reply_received{false, ""}, p, later);
    EXPECT_EQ(rs.to, state::acknowledged);
    EXPECT_TRUE(rs.has(action_kind::read_back));

    // The read shows the other state: sent again, counted.
    record d = in_state(state::sent);
    step(d, ack_received{"q1", true, 7}, p, later);
    const outcome od = step(d, state_differs{"relay on"}, p, later + std::chrono::minutes(40));
    EXPECT_EQ(od.to, state::pending);
    EXPECT_EQ(d.retry_count, 1);
    EXPECT_NE(od.cause.find("other state (relay on)"), std::string::npos) << od.cause;

    // No read-back answer at all: the timeout says so, and it is sent again.
    record n = in_state(state::sent);
    step(n, ack_received{"q1", true, 7}, p, later);
    const outcome on = step(n, timer_fired{timer::reply_timeout}, p, later + interval);
    EXPECT_EQ(on.to, state::pending);
    EXPECT_NE(on.cause.find("read-back did not come"), std::string::npos) << on.cause;

    // A profile completing on the reply never asks for a read-back.
    record q = in_state(state::sent);
    EXPECT_FALSE(step(q, ack_received{"q1", true, 7}, policy{}, later).has(action_kind::read_back));
}

TEST(Lifecycle, NextDueIsTheLifecyclesOneAnswerForEveryState) {
    policy p;
    const auto reply = p.uplink_interval * p.reply_timeout_intervals;
    for (auto st : all_states) {
        record r = in_state(st);
        const auto lease = t0 + std::chrono::minutes(2);
        const auto due = next_due(r, p, t0, lease);
        switch (st) {
        case state::pending: EXPECT_EQ(due, t0); break;
        case state::dispatching: EXPECT_EQ(due, lease); break;
        case state::queued: EXPECT_EQ(due, r.deadline); break; // only the deadline: ChirpStack holds it
        case state::sent:
        case state::acknowledged: EXPECT_EQ(due, t0 + reply) << to_string(st); break;
        default: EXPECT_FALSE(due) << to_string(st); break;
        }
    }
    record waiting = in_state(state::pending);
    waiting.not_before = t0 + std::chrono::hours(1);
    waiting.next_attempt_at = t0 + std::chrono::hours(2);
    EXPECT_EQ(next_due(waiting, p, t0), t0 + std::chrono::hours(2));
    waiting.deadline = t0 + std::chrono::minutes(30);
    EXPECT_EQ(next_due(waiting, p, t0), t0 + std::chrono::minutes(30)); // the deadline comes first
    // Unconfirmed raw frame: only the txack is awaited, nothing more is due but the deadline.
    policy txack_only;
    txack_only.completion = evidence::gateway_accepted;
    record s = in_state(state::sent);
    EXPECT_EQ(next_due(s, txack_only, t0), s.deadline);
}
