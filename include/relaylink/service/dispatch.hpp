// The dispatcher's decisions: what a command that has come due needs (its deadline, a claim, the
// reconciliation of an old claim, its reply timeout), and the safety guard checked again as a pending command
// is about to be claimed. Pure but for the guard it consults; test_dispatch.cpp holds their tables.
#pragma once

#include <relaylink/command/lifecycle.hpp>
#include <relaylink/encoding.hpp>
#include <relaylink/service/safety.hpp>
#include <relaylink/store/store.hpp>

#include <optional>
#include <string>

namespace relaylink::service::dispatch {

/// What a due command needs now.
enum class due : std::uint8_t {
    nothing,       ///< finished, busy with a call in flight, or waiting in ChirpStack's queue
    deadline,      ///< its deadline passed: timer_fired{deadline} (even while a call is in flight)
    claim,         ///< pending: claim it for its enqueue (if a slot is free, its device is not busy, the guard lets it)
    reconcile,     ///< dispatching long after its claim, not ours in flight: read its device queue
    reply_timeout, ///< on the radio: timer_fired{reply_timeout} (the lifecycle says whether it is due)
};
inline due what_is_due(const store::command_row& c, sys_time now, bool busy) {
    using command::state;
    if (command::is_terminal(c.rec.current)) return due::nothing;
    // The deadline holds even while a call for the command is in flight or keeps failing (the item, if
    // ChirpStack has it, carries the deadline as expiresAt and is dropped there too).
    if (c.rec.deadline && now >= *c.rec.deadline) return due::deadline;
    if (busy) return due::nothing;
    switch (c.rec.current) {
    case state::pending: return due::claim;
    case state::dispatching: return due::reconcile;
    case state::sent:
    case state::acknowledged: return due::reply_timeout;
    default: return due::nothing;
    }
}

/// The guard, again, as a pending command is about to be claimed (the first attempt, a retry after a
/// backoff or a reply timeout, one after a failed enqueue, one flushed or dropped): what holds it back, if
/// anything — a dry run sends nothing; a disconnect goes out only to a meter that is not protected now (by its
/// DevEUI, the request's reference or the one on record) and only inside a window.
struct held {
    command::input in;
    std::string detail;          ///< for the audit trail
    bool refused = false, deferred = false;
    std::string note;            ///< set on the command itself (a dry run)
};
inline std::optional<held> held_back(const store::command_row& c, bool dry_run, bool switches_off, safety_guard& guard,
                                     const std::string& recorded_ref, sys_time now) {
    if ((c.rec.not_before && now < *c.rec.not_before) || (c.rec.next_attempt_at && now < *c.rec.next_attempt_at)) return std::nullopt;
    if (dry_run) {
        const std::string why = "dry run: nothing is sent (safety.dry_run); it would have sent " + to_hex(c.payload) + " on fPort " +
                                std::to_string(c.f_port);
        return held{command::cancel{why}, "", true, false, why};
    }
    if (!switches_off) return std::nullopt;
    if (guard.is_protected(c.dev_eui, c.meter_ref, recorded_ref))
        return held{command::guard_refused{guard.protected_reason(c.dev_eui, c.meter_ref, recorded_ref)}, "checked again at dispatch", true};
    if (guard.in_window(now)) return std::nullopt;
    const std::string outside = guard.local(now) + " is outside the disconnect windows";
    if (guard.policy().outside == safety_policy::outside_window::refuse)
        return held{command::guard_refused{outside + " (the policy refuses disconnects outside them)"}, "checked again at dispatch", true};
    return held{command::window_closed{guard.next_window(now), outside}, "checked again at dispatch", false, true};
}

} // namespace relaylink::service::dispatch
