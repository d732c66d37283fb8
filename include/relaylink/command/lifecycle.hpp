// The command lifecycle: a pure function from (command, input, policy, now) to the command's next
// state and the actions the service must carry out. No I/O, no clock, no randomness of its own (the
// jitter draw comes in as an argument), so every (state, input) pair is provable by unit tests.
//
//  pending -> dispatching -> queued -> sent -> acknowledged -> confirmed
//     (and from each non-terminal state: failed | expired | cancelled | superseded)
// Transient failures, ack=false, F_CNT_DOWN, missing replies, an enqueue that never reached
// ChirpStack and an item lost to a flush go back to pending with retry_count+1 (a backoff where one
// helps), until max_retries; then failed. Every way back to pending counts, so no command is enqueued
// more than max_retries + 1 times, whatever ChirpStack answers.
#pragma once

#include <relaylink/backoff.hpp>
#include <relaylink/evidence.hpp>
#include <relaylink/time.hpp>

#include <boost/container/static_vector.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace relaylink::command {

enum class state : std::uint8_t {
    pending, dispatching, queued, sent, acknowledged, confirmed, failed, expired, cancelled, superseded,
};
inline constexpr state all_states[] = {state::pending,   state::dispatching, state::queued,    state::sent,
                                       state::acknowledged, state::confirmed, state::failed,   state::expired,
                                       state::cancelled, state::superseded};

constexpr std::string_view to_string(state s) noexcept {
    constexpr std::string_view names[] = {"pending", "dispatching", "queued", "sent", "acknowledged",
                                          "confirmed", "failed", "expired", "cancelled", "superseded"};
    return names[static_cast<std::size_t>(s)];
}
constexpr std::optional<state> state_from_name(std::string_view n) noexcept {
    for (auto s : all_states)
        if (to_string(s) == n) return s;
    return std::nullopt;
}
constexpr bool is_terminal(state s) noexcept { return s >= state::confirmed; }
/// The portal's device_commands.status for a state (DESIGN.md).
constexpr std::string_view portal_status(state s) noexcept {
    switch (s) {
    case state::pending:
    case state::dispatching: return "pending";
    case state::queued: return "queued";
    case state::sent:
    case state::acknowledged: return "sent";
    case state::confirmed: return "completed";
    case state::failed:
    case state::expired: return "failed";
    case state::cancelled:
    case state::superseded: return "cancelled";
    }
    return "pending";
}

/// How a command is handled; the profile supplies `completion` and `uplink_interval`.
struct policy {
    int max_retries = 3;
    std::chrono::seconds initial_backoff{30};
    std::chrono::seconds max_backoff{std::chrono::minutes(15)};
    double backoff_multiplier = 2.0;
    double jitter = 0.2;                              ///< +/- fraction of the backoff
    int reply_timeout_intervals = 3;                  ///< a reply is due within this many uplink intervals of `sent`
    std::chrono::seconds uplink_interval{1200};
    evidence completion = evidence::device_replied;
    bool confirmed_downlink = true;                   ///< whether ack events are expected at all
};

/// What the machine reads and writes of a command (the store keeps more).
struct record {
    state current = state::pending;
    evidence proof = evidence::none;
    std::string queue_item_id;
    std::optional<std::uint32_t> f_cnt_down;
    int retry_count = 0;
    std::optional<sys_time> not_before;
    std::optional<sys_time> deadline;
    std::optional<sys_time> next_attempt_at;
    std::optional<sys_time> sent_at;
    std::optional<sys_time> completed_at;
    bool cancel_requested = false; ///< asked while the enqueue was on the wire
    std::string error;
};

// ---- inputs ------------------------------------------------------------------------------------
struct dispatch_begin {};                                   ///< the dispatcher claimed the command
struct enqueue_succeeded { std::string queue_item_id; };
struct enqueue_failed {
    std::string message;
    bool transient = false;       ///< worth trying again (timeout, 5xx, 429, connection)
    bool outcome_unknown = false; ///< ChirpStack may have queued it (chirpstack::outcome_unknown): read the queue first
};
/// The device queue was read for a claim whose enqueue result was never recorded (a crash, a lost or
/// unreadable answer). Not adopted, what ChirpStack knows of the device decides:
/// `device_unknown`: it has no such device (nothing can be queued for it);
/// `device_heard_since_claim`: the device has uplinked since the claim, so the item may already have
/// gone out in that uplink's downlink window (and a downlink went out since, by the frame counter);
/// neither: the enqueue never reached ChirpStack.
struct reconciled {
    std::optional<std::string> adopted_queue_item_id;
    bool device_heard_since_claim = false;
    bool device_unknown = false;
    std::string detail; ///< what ChirpStack said, in words (the audit trail's cause)
};
struct txack_received { std::string queue_item_id; std::uint32_t f_cnt_down = 0; };
struct ack_received { std::string queue_item_id; bool acknowledged = false; std::uint32_t f_cnt_down = 0; };
struct reply_received {
    bool exception = false;  ///< a Modbus exception reply (function | 0x80)
    std::string detail;      ///< the exception's name and meaning
};
/// A read-back (a read command's reply) shows the relay in the commanded state.
struct state_verified {};
/// A read-back shows the relay in the other state: the command did not take; sent again (counted).
struct state_differs { std::string detail; };
struct log_received { std::string code; std::string description; }; ///< EXPIRED, DOWNLINK_PAYLOAD_SIZE, F_CNT_DOWN, DOWNLINK_GATEWAY
/// What came due (see next_due): a reply (or read-back) that did not come, or the deadline. A pending
/// command that comes due is dispatched (dispatch_begin), not fired.
enum class timer : std::uint8_t { reply_timeout, deadline };
struct timer_fired { timer which = timer::reply_timeout; };
struct cancel { std::string reason; };
struct supersede { std::string by_command; };
/// The item was deleted from the device queue before it went out (a flush that removed another command,
/// or a rejoin that flushed the queue): it must be enqueued again, which counts as an attempt.
struct flushed { std::string why; };
/// A device queue read shows the item went out while nobody was listening: it is no longer in the
/// queue, or it is there as sent and awaiting its ACK (`pending`, with the frame counter it went out with).
struct left_queue {
    bool pending = false;
    std::optional<std::uint32_t> f_cnt_down;
};
/// The meter fell silent after this disconnect went out (its bridge is powered from the load side):
/// stop, so that restoring power on site does not cut it again with a retry.
struct device_silent { std::string detail; };
/// The safety guard, checked again as a disconnect is about to go out, refuses it now (the meter is
/// protected, or the policy refuses disconnects outside the windows and this one's has closed).
struct guard_refused { std::string why; };
/// A disconnect is outside its window: about to be dispatched after the window closed (a retry, a
/// backoff, an enqueue that kept failing), or dropped by ChirpStack at the window's end (its item's
/// `expiresAt`) before an uplink came. It waits for `next_window`; an item that was queued and dropped
/// counts as an attempt. No next window (within a year): failed.
struct window_closed {
    std::optional<sys_time> next_window;
    std::string why;
};

using input = std::variant<dispatch_begin, enqueue_succeeded, enqueue_failed, reconciled, txack_received, ack_received,
                           reply_received, state_verified, state_differs, log_received, timer_fired, cancel, supersede,
                           flushed, left_queue, device_silent, guard_refused, window_closed>;

constexpr std::string_view input_name(const input& in) noexcept {
    constexpr std::string_view names[] = {"dispatch", "enqueue_ok", "enqueue_failed", "reconciled", "txack", "ack",
                                          "reply", "state_verified", "state_differs", "log", "timer", "cancel",
                                          "supersede", "flushed", "left_queue", "device_silent", "guard_refused",
                                          "window_closed"};
    static_assert(std::size(names) == std::variant_size_v<input>, "every input has its name");
    return names[in.index()];
}

// ---- actions -----------------------------------------------------------------------------------
enum class action_kind : std::uint8_t {
    persist,           ///< write the new state and its audit row, in one transaction
    enqueue,           ///< send the downlink (after persisting `dispatching`)
    flush_and_requeue, ///< flush the device queue and enqueue again what must stay (no per-item delete)
    reconcile_queue,   ///< read the device queue: adopt an identical item, or enqueue again
    read_back,         ///< read the relay state (the profile completes on state_verified): its answer is the next input
    notify,            ///< tell subscribers (state or evidence changed)
};
/// When the command is next due is not an action: next_due() reads it from the record, after any step.
struct action {
    action_kind kind = action_kind::persist;
    friend bool operator==(const action&, const action&) = default;
};

struct outcome {
    state from = state::pending;
    state to = state::pending;
    bool changed = false; ///< state or evidence changed
    bool ignored = false; ///< the input does not apply now (duplicate, too late, for a finished command…)
    std::string cause;    ///< for the audit trail: what happened, in words
    /// In order; a handful at most (persist, what to do, notify), held inline: an outcome per event, no allocation.
    boost::container::static_vector<action, 8> actions;

    bool has(action_kind k) const {
        return std::any_of(actions.begin(), actions.end(), [k](const action& a) { return a.kind == k; });
    }
};

namespace detail {

inline std::chrono::nanoseconds backoff(const policy& p, int retry, double random01) {
    return backoff_delay({p.initial_backoff, p.max_backoff, p.backoff_multiplier, p.jitter}, retry, random01);
}

template <class> inline constexpr bool unhandled_input = false;

} // namespace detail

/// Whether the command, its meter having replied or acknowledged, waits for the read-back its profile
/// completes on.
inline bool awaiting_read_back(const record& r, const policy& p) {
    return p.completion == evidence::state_verified && r.current == state::acknowledged && r.proof >= evidence::device_acknowledged;
}

/// When a command on the radio must have proven itself (its reply, or its read-back) before it is sent
/// again: `reply_timeout_intervals` uplink intervals after it went out, or after the read-back was asked
/// for. None when nothing more than the gateway's txack is awaited, or it has not gone out.
inline std::optional<sys_time> reply_due(const record& r, const policy& p) {
    if (p.completion <= evidence::gateway_accepted || !r.sent_at) return std::nullopt;
    if (r.current != state::sent && r.current != state::acknowledged) return std::nullopt;
    if (awaiting_read_back(r, p) && r.next_attempt_at && *r.next_attempt_at > *r.sent_at) return r.next_attempt_at;
    return *r.sent_at + p.uplink_interval * p.reply_timeout_intervals;
}

/// When the command is next due, the lifecycle's one answer: a pending command when it may be dispatched
/// (not before `floor`, its creation), one on the radio when its reply is due, any open command at its
/// deadline. A `dispatching` command is due when its claim's lease ends (`lease_until`, the claim's, not
/// the lifecycle's). None for a finished command.
inline std::optional<sys_time> next_due(const record& r, const policy& p, sys_time floor, std::optional<sys_time> lease_until = {}) {
    if (is_terminal(r.current)) return std::nullopt;
    std::optional<sys_time> at;
    auto consider = [&](std::optional<sys_time> x) {
        if (x && (!at || *x < *at)) at = x;
    };
    switch (r.current) {
    case state::pending: {
        sys_time when = floor;
        if (r.not_before) when = std::max(when, *r.not_before);
        if (r.next_attempt_at) when = std::max(when, *r.next_attempt_at);
        consider(when);
        break;
    }
    case state::dispatching: consider(lease_until); break;
    case state::sent:
    case state::acknowledged: consider(reply_due(r, p)); break;
    default: break;
    }
    consider(r.deadline);
    return at;
}

namespace detail {

class stepper {
public:
    stepper(record& r, const policy& p, sys_time now, double random01) : r_(r), p_(p), now_(now), rand_(random01) {
        out_.from = out_.to = r.current;
    }

    outcome ignore(std::string why) {
        out_.ignored = true;
        out_.cause = std::move(why);
        return std::move(out_);
    }

    outcome go(state to, std::string cause) {
        r_.current = to;
        out_.to = to;
        out_.changed = true;
        out_.cause = std::move(cause);
        out_.actions.insert(out_.actions.begin(), action{action_kind::persist});
        if (is_terminal(to)) r_.completed_at = now_;
        out_.actions.push_back({action_kind::notify});
        return std::move(out_);
    }
    outcome fail(std::string why) {
        r_.error = why;
        return go(state::failed, std::move(why));
    }
    outcome expire() {
        r_.error = "deadline passed before the meter confirmed";
        return go(state::expired, r_.error);
    }
    /// Back to pending for another attempt, or failed when the retries are spent.
    outcome retry(const std::string& why) {
        if (r_.retry_count >= p_.max_retries) return fail(why + "; retries exhausted (" + std::to_string(p_.max_retries) + ")");
        ++r_.retry_count;
        const auto wait = backoff(p_, r_.retry_count, rand_);
        r_.next_attempt_at = now_ + wait;
        r_.queue_item_id.clear(); // a new attempt gets a new queue item, fCntDown and txack
        r_.f_cnt_down.reset();
        r_.sent_at.reset();
        r_.error = why;
        return go(state::pending, why + "; retry " + std::to_string(r_.retry_count) + " of " + std::to_string(p_.max_retries) +
                                     " in " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(wait).count()) + " s");
    }
    /// Raise the evidence; complete the command when it reaches the policy's level.
    outcome prove(evidence e, state otherwise, std::string cause) {
        const bool stronger = e > r_.proof;
        r_.proof = std::max(r_.proof, e);
        if (r_.proof >= p_.completion) return go(state::confirmed, std::move(cause));
        if (otherwise != r_.current || stronger) {
            ask_read_back(otherwise, cause);
            return go(otherwise, std::move(cause));
        }
        return ignore("no new evidence: " + cause);
    }
    /// Entering `acknowledged` when the profile completes on a read-back: ask for it (once), and give it
    /// reply_timeout_intervals uplink intervals from now before the command is sent again.
    void ask_read_back(state to, std::string& cause) {
        if (p_.completion != evidence::state_verified || to != state::acknowledged || r_.current == state::acknowledged) return;
        r_.next_attempt_at = now_ + p_.uplink_interval * p_.reply_timeout_intervals;
        out_.actions.push_back({action_kind::read_back});
        cause += "; reading the relay state back";
    }
    /// The state stays, but something worth the audit trail happened: persist it (and act).
    outcome note(std::string cause, bool evidence_changed = false) {
        out_.changed = evidence_changed;
        out_.cause = std::move(cause);
        out_.actions.insert(out_.actions.begin(), action{action_kind::persist});
        if (evidence_changed) out_.actions.push_back({action_kind::notify});
        return std::move(out_);
    }
    void also(action a) { out_.actions.push_back(a); }
    record& rec() { return r_; }
    sys_time now() const { return now_; }
    const policy& pol() const { return p_; }

private:
    record& r_;
    const policy& p_;
    sys_time now_;
    double rand_;
    outcome out_;
};

} // namespace detail

/// One step of the lifecycle. `random01` (0..1) draws the backoff jitter.
inline outcome step(record& r, const input& in, const policy& p, sys_time now, double random01 = 0.5) {
    detail::stepper s(r, p, now, random01);
    const state st = r.current;

    if (is_terminal(st)) {
        if (st == state::confirmed && std::holds_alternative<state_verified>(in) && r.proof < evidence::state_verified) {
            r.proof = evidence::state_verified;
            return s.note("read-back shows the relay in the commanded state", true);
        }
        return s.ignore(std::string("command already ") + std::string(to_string(st)));
    }

    const bool on_the_way = st == state::queued || st == state::sent || st == state::acknowledged;
    const bool radio_reached = st == state::sent || st == state::acknowledged;

    return std::visit(
        [&](const auto& x) -> outcome {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, timer_fired>) {
                if (x.which == timer::deadline) {
                    if (r.deadline && now < *r.deadline) return s.ignore("deadline not reached yet");
                    return s.expire();
                }
                if (x.which == timer::reply_timeout) {
                    if (!radio_reached) return s.ignore("no reply is awaited in state " + std::string(to_string(st)));
                    const auto due = reply_due(r, p);
                    if (!due || now < *due) return s.ignore("reply not due yet");
                    if (awaiting_read_back(r, p))
                        return s.retry("the read-back did not come within " + std::to_string(p.reply_timeout_intervals) + " uplink intervals");
                    return s.retry("no confirmation within " + std::to_string(p.reply_timeout_intervals) + " uplink intervals");
                }
                return s.ignore("unknown timer");
            } else if constexpr (std::is_same_v<T, dispatch_begin>) {
                if (st != state::pending) return s.ignore("only a pending command is dispatched");
                if (r.not_before && now < *r.not_before) return s.ignore("not before " + format_rfc3339(*r.not_before));
                if (r.next_attempt_at && now < *r.next_attempt_at) return s.ignore("backing off until " + format_rfc3339(*r.next_attempt_at));
                if (r.deadline && now >= *r.deadline) return s.expire();
                s.also({action_kind::enqueue});
                return s.go(state::dispatching, r.retry_count ? "enqueue (attempt " + std::to_string(r.retry_count + 1) + ")" : "enqueue");
            } else if constexpr (std::is_same_v<T, enqueue_succeeded>) {
                if (st != state::dispatching) return s.ignore("no enqueue was in flight");
                r.queue_item_id = x.queue_item_id;
                if (r.cancel_requested) {
                    s.also({action_kind::flush_and_requeue});
                    return s.go(state::cancelled, "cancelled while the enqueue was in flight: flushed");
                }
                return s.go(state::queued, "queued as " + x.queue_item_id);
            } else if constexpr (std::is_same_v<T, enqueue_failed>) {
                if (st != state::dispatching) return s.ignore("no enqueue was in flight");
                if (x.outcome_unknown) {
                    s.also({action_kind::reconcile_queue});
                    return s.note("enqueue outcome unknown (" + x.message + "): reading the device queue");
                }
                if (r.cancel_requested) return s.go(state::cancelled, "cancelled; the enqueue had failed: " + x.message);
                if (!x.transient) return s.fail("ChirpStack refused the downlink: " + x.message);
                return s.retry("enqueue failed: " + x.message);
            } else if constexpr (std::is_same_v<T, reconciled>) {
                if (st != state::dispatching) return s.ignore("no reconciliation was pending");
                if (x.adopted_queue_item_id) {
                    r.queue_item_id = *x.adopted_queue_item_id;
                    if (r.cancel_requested) {
                        s.also({action_kind::flush_and_requeue});
                        return s.go(state::cancelled, "found queued as " + r.queue_item_id + " and cancelled: flushed");
                    }
                    return s.go(state::queued, "found in the device queue as " + r.queue_item_id + " (adopted)");
                }
                if (x.device_unknown)
                    return s.fail(x.detail.empty() ? std::string("the device is not in ChirpStack: add it, or correct the DevEUI")
                                                   : x.detail);
                if (r.cancel_requested) return s.go(state::cancelled, "cancelled; the enqueue never reached ChirpStack");
                const std::string read = x.detail.empty() ? std::string() : " (" + x.detail + ")";
                if (x.device_heard_since_claim) {
                    // It may have gone out with that uplink: as an item that left the queue unobserved, it
                    // awaits its reply, and the reply timeout decides on a retry (counted).
                    r.sent_at = now;
                    return s.go(state::sent, "not in the device queue, and the device has uplinked since the claim" + read +
                                                 ": it may have gone out; awaiting its reply (sent again only if none comes)");
                }
                // Not in the queue and the device has not uplinked since: it never reached ChirpStack.
                return s.retry("not in the device queue and not sent since the claim" + read + ": the enqueue never reached ChirpStack");
            } else if constexpr (std::is_same_v<T, txack_received>) {
                if (!on_the_way || x.queue_item_id != r.queue_item_id) return s.ignore("txack for another queue item");
                if (r.sent_at) return s.ignore("duplicate txack");
                r.f_cnt_down = x.f_cnt_down;
                r.sent_at = now;
                const std::string what = "gateway accepted the downlink (fCntDown " + std::to_string(x.f_cnt_down) + ")";
                if (st != state::queued) return s.note(what + ", after the device's ack"); // events arrive in any order
                return s.prove(evidence::gateway_accepted, state::sent, what);
            } else if constexpr (std::is_same_v<T, ack_received>) {
                if (!on_the_way || x.queue_item_id != r.queue_item_id) return s.ignore("ack for another queue item");
                if (st == state::acknowledged) return s.ignore("duplicate ack");
                if (!x.acknowledged) return s.retry("the device did not acknowledge the downlink");
                return s.prove(evidence::device_acknowledged, state::acknowledged, "the device acknowledged the downlink");
            } else if constexpr (std::is_same_v<T, reply_received>) {
                // A reply proves the meter acted, whatever the bookkeeping says: even a command that
                // went back to pending for a retry (its ACK was lost) is done.
                if (st == state::pending && r.retry_count == 0) return s.ignore("a reply, but this command was never sent");
                if (x.exception) return s.fail("the meter refused: " + x.detail);
                if (st == state::dispatching) s.also({action_kind::flush_and_requeue}); // drop the retry's duplicate
                r.proof = std::max(r.proof, evidence::device_replied);
                if (r.proof >= p.completion) return s.go(state::confirmed, "the meter replied: relay switched");
                std::string cause = "the meter replied";
                s.ask_read_back(state::acknowledged, cause);
                return s.go(state::acknowledged, st == state::acknowledged ? cause + "; awaiting the read-back" : cause);
            } else if constexpr (std::is_same_v<T, state_verified>) {
                // As a reply: it proves nothing about a command that never went out.
                if ((st == state::pending || st == state::dispatching || st == state::queued) && r.retry_count == 0)
                    return s.ignore("a read-back, but this command was never sent");
                if (st == state::dispatching) s.also({action_kind::flush_and_requeue}); // drop the retry's duplicate
                r.proof = evidence::state_verified;
                return s.go(state::confirmed, "read-back shows the relay in the commanded state");
            } else if constexpr (std::is_same_v<T, state_differs>) {
                if (!radio_reached) return s.ignore("a read-back of the other state, but this command is not awaiting one");
                return s.retry("read-back shows the relay in the other state" + (x.detail.empty() ? std::string() : " (" + x.detail + ")"));
            } else if constexpr (std::is_same_v<T, log_received>) {
                if (!on_the_way) return s.ignore("log for a command not in the device queue");
                if (x.code == "DOWNLINK_GATEWAY") {
                    if (st != state::queued) return s.ignore("log DOWNLINK_GATEWAY: concerns a downlink still in the queue");
                    return s.note("the gateway could not transmit the device's next downlink (" + x.description +
                                  "): ChirpStack keeps the item queued for a later uplink");
                }
                if (x.code == "EXPIRED") return s.go(state::expired, "ChirpStack dropped the item: it expired before an uplink came");
                if (x.code == "DOWNLINK_PAYLOAD_SIZE") return s.fail("ChirpStack dropped the item: too large for the device's data rate (" + x.description + ")");
                if (x.code == "F_CNT_DOWN") return s.retry("ChirpStack dropped the item: frame-counter problem");
                return s.ignore("log " + x.code + ": noted, the item stays queued");
            } else if constexpr (std::is_same_v<T, cancel>) {
                if (radio_reached) return s.ignore("too late to cancel: the downlink already went out");
                if (st == state::dispatching) {
                    r.cancel_requested = true;
                    return s.note("cancel requested while the enqueue is in flight");
                }
                if (st == state::queued) s.also({action_kind::flush_and_requeue});
                return s.go(state::cancelled, x.reason.empty() ? "cancelled" : "cancelled: " + x.reason);
            } else if constexpr (std::is_same_v<T, supersede>) {
                if (radio_reached) return s.ignore("too late to supersede: the downlink already went out");
                if (st == state::dispatching) {
                    r.cancel_requested = true;
                    return s.note("superseded by " + x.by_command + " while the enqueue is in flight");
                }
                if (st == state::queued) s.also({action_kind::flush_and_requeue});
                return s.go(state::superseded, "superseded by " + x.by_command);
            } else if constexpr (std::is_same_v<T, flushed>) {
                if (st != state::queued) return s.ignore("not in the device queue");
                const std::string why = x.why.empty() ? std::string("the device queue was flushed") : x.why;
                if (r.retry_count >= p.max_retries)
                    return s.fail(why + "; retries exhausted (" + std::to_string(p.max_retries) + "): not enqueued again");
                ++r.retry_count;
                r.queue_item_id.clear();
                r.f_cnt_down.reset();
                r.next_attempt_at.reset(); // no backoff: it only lost its place
                return s.go(state::pending, why + ": enqueue again (attempt " + std::to_string(r.retry_count + 1) + " of " +
                                                std::to_string(p.max_retries + 1) + ")");
            } else if constexpr (std::is_same_v<T, left_queue>) {
                if (st != state::queued) return s.ignore("not in the device queue");
                r.sent_at = now;
                if (x.f_cnt_down) r.f_cnt_down = x.f_cnt_down;
                return s.go(state::sent, x.pending ? "in the device queue as sent, awaiting its ACK (fCntDown " +
                                                         (x.f_cnt_down ? std::to_string(*x.f_cnt_down) : std::string("?")) +
                                                         "): it went out unobserved; awaiting the reply"
                                                   : "no longer in the device queue: it went out unobserved; awaiting the reply");
            } else if constexpr (std::is_same_v<T, device_silent>) {
                if (!radio_reached && r.retry_count == 0) return s.ignore("this command never went out");
                const std::string why = "the meter fell silent after the disconnect went out" +
                                        (x.detail.empty() ? std::string() : " (" + x.detail + ")") +
                                        ": power is probably cut; not retried";
                if (st == state::dispatching) {
                    r.cancel_requested = true;
                    return s.note(why + "; the retry in flight will be withdrawn");
                }
                if (st == state::queued) s.also({action_kind::flush_and_requeue});
                return s.fail(why);
            } else if constexpr (std::is_same_v<T, guard_refused>) {
                if (st != state::pending) return s.ignore("the guard is checked as a command is dispatched");
                return s.fail("refused by the safety guard: " + x.why);
            } else if constexpr (std::is_same_v<T, window_closed>) {
                if (st != state::pending && st != state::queued) return s.ignore("not waiting to go out");
                if (!x.next_window) return s.fail(x.why + "; no disconnect window within a year");
                const std::string until = "; waiting for the next window (" + format_rfc3339(*x.next_window) + ")";
                if (st == state::pending) {
                    r.not_before = x.next_window;
                    return s.note(x.why + until);
                }
                if (r.retry_count >= p.max_retries)
                    return s.fail(x.why + "; retries exhausted (" + std::to_string(p.max_retries) + "): not enqueued again");
                ++r.retry_count;
                r.queue_item_id.clear();
                r.f_cnt_down.reset();
                r.next_attempt_at.reset();
                r.not_before = x.next_window;
                return s.go(state::pending, x.why + until + ", then enqueue again (attempt " + std::to_string(r.retry_count + 1) +
                                                " of " + std::to_string(p.max_retries + 1) + ")");
            } else {
                static_assert(detail::unhandled_input<T>, "the lifecycle must handle every input");
            }
        },
        in);
}

} // namespace relaylink::command
