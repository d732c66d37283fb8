// Request admission: what a request comes to — refused (request_error naming the field), the command its
// idempotency key already names, the same command already in flight, or a new command (pending, deferred,
// refused by the safety guard, a dry run's record) with the opposite relay command it supersedes. Pure but
// for the safety guard it consults (its rate limit counts what it allows); the service reads the meter, the
// key's command and the meter's open commands first, and writes what this decides (test_admission.cpp).
#pragma once

#include <relaylink/chirpstack/validate.hpp>
#include <relaylink/device/builtin.hpp>
#include <relaylink/redact.hpp>
#include <relaylink/service/safety.hpp>
#include <relaylink/service/service.hpp>
#include <relaylink/store/store.hpp>

#include <algorithm>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace relaylink::service::admission {

inline bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
        if (n == 2 && c < 0xC2) return false; // overlong
        i += n;
    }
    return true;
}

/// A request's text field within its limits (see max_actor_size…): request_error naming it otherwise.
inline void check_text(const char* field, std::string_view v, std::size_t max, bool multiline) {
    if (v.size() > max)
        throw request_error(field, std::string(field) + " must be at most " + std::to_string(max) + " bytes, got " + std::to_string(v.size()));
    if (!valid_utf8(v)) throw request_error(field, std::string(field) + " is not valid UTF-8: '" + shown(v) + "'");
    for (unsigned char c : v)
        if ((c < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) || c == 0x7f)
            throw request_error(field, std::string(field) + " must not contain control characters (found \\x" +
                                           "0123456789ABCDEF"[c >> 4] + "0123456789ABCDEF"[c & 15] + "): '" + shown(v) + "'");
}

inline bool same_request(const store::command_row& a, const store::command_row& b) {
    return a.dev_eui == b.dev_eui && a.kind == b.kind && a.payload == b.payload && a.f_port == b.f_port && a.profile == b.profile &&
           a.meter_ref == b.meter_ref && a.portal_meter_id == b.portal_meter_id;
}

inline std::string describe(const store::command_row& c) {
    return "command " + std::to_string(c.id) + " (" + std::string(store::to_string(c.kind)) + " for " + c.dev_eui + ", " +
           std::string(command::to_string(c.rec.current)) + ")";
}

/// The request's DevEUI, normalised, once its fields are within their limits (request_error otherwise).
inline std::string checked_dev_eui(const request& r) {
    std::string why;
    auto dev = chirpstack::normalize_dev_eui(r.dev_eui, &why);
    if (!dev) throw request_error("dev_eui", why);
    if (r.priority < 1 || r.priority > 10)
        throw request_error("priority", "priority must be 1 (highest) to 10 (lowest), not " + std::to_string(r.priority));
    if (r.actor.empty()) throw request_error("actor", "actor must name who asks (a user name, or \"system\")");
    check_text("actor", r.actor, max_actor_size, false);
    check_text("reason", r.reason, max_reason_size, true);
    check_text("idempotency_key", r.idempotency_key, max_idempotency_key_size, false);
    check_text("meter_ref", r.meter_ref, max_meter_ref_size, false);
    check_text("profile", r.profile, max_profile_name_size, false);
    if (r.portal_meter_id && *r.portal_meter_id < 1)
        throw request_error("meter_id", "the portal's meter id must be a positive integer, not " + std::to_string(*r.portal_meter_id));
    if (r.portal_user_id && *r.portal_user_id < 1)
        throw request_error("user_id", "the portal's user id must be a positive integer, not " + std::to_string(*r.portal_user_id));
    return *dev;
}

/// The command a checked request asks for: its profile (the request's, else the meter's on record), its frame,
/// fPort and confirmation; request_error when the profile is unknown or cannot build it, or the deadline is
/// not after now and not_before.
inline store::command_row build(const request& r, const std::string& dev, store::command_kind kind, bytes raw,
                                std::optional<std::uint8_t> raw_port, const device::profile_registry& profiles,
                                const std::optional<store::meter_row>& meter, int max_retries, sys_time now) {
    std::string profile_name = r.profile;
    if (profile_name.empty()) {
        if (meter && !meter->profile.empty()) profile_name = meter->profile;
        else throw request_error("profile", "no profile given and meter " + dev + " has none on record; give one of: " + profiles.describe_names());
    }
    const auto* prof = profiles.find(profile_name);
    if (!prof) throw request_error("profile", "unknown profile '" + shown(profile_name) + "'; known: " + profiles.describe_names());
    store::command_row c;
    c.dev_eui = dev;
    c.profile = prof->name;
    c.meter_ref = r.meter_ref;
    c.portal_meter_id = r.portal_meter_id;
    c.portal_user_id = r.portal_user_id;
    c.kind = kind;
    c.priority = r.priority;
    c.created_by = r.actor;
    c.reason = r.reason;
    c.idempotency_key = r.idempotency_key;
    c.max_retries = max_retries;
    std::string why;
    switch (kind) {
    case store::command_kind::relay_off:
    case store::command_kind::relay_on: {
        auto d = prof->relay(kind == store::command_kind::relay_on);
        if (!d) throw request_error("profile", "profile " + prof->name + " cannot build its relay frame: " + d.error().message());
        c.payload.assign(d->payload.begin(), d->payload.end());
        c.f_port = d->fport;
        c.confirmed = d->confirmed;
        break;
    }
    case store::command_kind::read: {
        auto d = prof->read_relay_state();
        if (!d) throw request_error("kind", "profile " + prof->name + " cannot read the relay state back (no relay_state in the profile)");
        c.payload.assign(d->payload.begin(), d->payload.end());
        c.f_port = d->fport;
        c.confirmed = d->confirmed;
        break;
    }
    case store::command_kind::raw: {
        if (auto e = chirpstack::check_payload(raw.size(), &why)) throw request_error("payload", why);
        c.payload = std::move(raw);
        c.f_port = raw_port.value_or(prof->fport);
        if (auto e = chirpstack::check_fport(c.f_port, &why)) throw request_error("f_port", why);
        c.confirmed = prof->confirmed;
        break;
    }
    }
    if (r.deadline && *r.deadline <= std::max(now, r.not_before.value_or(now)))
        throw request_error("deadline", "deadline " + format_rfc3339(*r.deadline) + " is not after " +
                                            (r.not_before ? "not_before " + format_rfc3339(*r.not_before) : "now (" + format_rfc3339(now) + ")"));
    return c;
}

/// What the request comes to.
struct decision {
    enum class outcome : std::uint8_t {
        create,    ///< a new command (`command`, its first audit row's `cause`)
        same_key,  ///< the command its idempotency key already names (`command`)
        in_flight, ///< the same relay command already in flight answers it (`command`; `cause` is the row to note on it)
    } what = outcome::create;
    store::command_row command;
    std::string cause;
    std::vector<store::command_row> supersede; ///< the opposite relay commands in flight (create only)
    bool keep_ref = false;                     ///< the meter's protected reference on record stays
    bool refused = false, deferred = false;    ///< by the safety guard (or a deferral past the deadline)
};

struct context {
    safety_guard& guard;
    bool dry_run = false;
    std::chrono::nanoseconds default_deadline{std::chrono::hours(24)};
    std::function<bool(const store::command_row&)> switches_off; ///< the guard applies (a disconnect, or a raw frame that may switch off)
};

/// `c` from build(); `by_key`: the command the request's idempotency key names, if any; `open`: the meter's open
/// commands; `meter`: its record. request_error when the key names a command with other parameters.
inline decision decide(store::command_row c, const request& r, const std::optional<store::command_row>& by_key,
                       std::span<const store::command_row> open, const std::optional<store::meter_row>& meter, const context& cx,
                       sys_time now) {
    using command::state;
    decision d;
    // Idempotency: the same key returns the same command; with other parameters it is an error.
    if (by_key) {
        if (!same_request(*by_key, c))
            throw request_error("idempotency_key", "idempotency key '" + shown(c.idempotency_key) + "' was used for " + describe(*by_key) +
                                                       " with other parameters; use a new key for a new request");
        d.what = decision::outcome::same_key;
        d.command = *by_key;
        return d;
    }
    // A duplicate of a relay command in flight returns the one in flight.
    if (store::is_relay(c.kind)) {
        for (const auto& o : open) {
            if (o.kind == c.kind && o.payload == c.payload) {
                d.what = decision::outcome::in_flight;
                d.command = o;
                d.cause = "requested again by " + r.actor + ": this command, already in flight, answers it";
                return d;
            }
            if (store::is_relay(o.kind) && o.kind != c.kind) d.supersede.push_back(o);
        }
    }
    c.rec.not_before = r.not_before;
    // Protection follows the meter: a protected reference on record stays, whatever a request names.
    const std::string recorded = meter ? meter->meter_ref : std::string();
    d.keep_ref = !recorded.empty() && !c.meter_ref.empty() && c.meter_ref != recorded && cx.guard.is_protected("", recorded);
    std::string cause = std::string(store::to_string(c.kind)) + " requested" + (r.reason.empty() ? "" : ": " + r.reason);
    if (cx.dry_run) {
        c.rec.current = state::cancelled;
        c.rec.completed_at = now;
        cause = "dry run: would send " + to_hex(c.payload) + " on fPort " + std::to_string(c.f_port) + (c.confirmed ? " (confirmed)" : "") +
                "; nothing sent";
        c.note = cause; // on the command itself, not only in its audit trail
    } else if (cx.switches_off(c)) {
        const verdict v = cx.guard.check_disconnect(c.dev_eui, c.meter_ref, std::max(now, r.not_before.value_or(now)), recorded);
        if (c.kind == store::command_kind::raw) cause += "; the frame may switch the relay off: guarded as a disconnect";
        if (v.what == verdict::decision::refuse) {
            d.refused = true;
            c.rec.current = state::failed;
            c.rec.completed_at = now;
            c.rec.error = "refused by the safety guard: " + v.reason;
            cause = c.rec.error;
        } else if (v.what == verdict::decision::defer) {
            d.deferred = true;
            c.rec.not_before = v.not_before;
            cause += "; " + v.reason;
        }
    } else if (c.kind == store::command_kind::relay_on && meter && meter->relay == store::relay_state::unreachable_after_disconnect) {
        c.note = "requested while the meter is unreachable after a disconnect: it can only be delivered after power is restored on site";
        cause += "; " + c.note;
    }
    c.rec.deadline = r.deadline ? *r.deadline : std::max(now, c.rec.not_before.value_or(now)) + cx.default_deadline;
    if (r.deadline && c.rec.not_before && *r.deadline <= *c.rec.not_before) {
        // Deferred past the caller's own deadline: nothing could be sent in time.
        d.refused = true;
        c.rec.current = state::failed;
        c.rec.completed_at = now;
        c.rec.error = "refused: deferred to " + cx.guard.local(*c.rec.not_before) + ", after the request's deadline " + cx.guard.local(*r.deadline);
        cause = c.rec.error;
    }
    if (d.keep_ref) cause += "; the meter's reference on record, " + recorded + ", is protected and stays (the request named " + c.meter_ref + ")";
    if (command::is_terminal(c.rec.current)) d.supersede.clear(); // nothing of it goes out: nothing is superseded
    c.created_at = c.updated_at = now;
    d.command = std::move(c);
    d.cause = std::move(cause);
    return d;
}

} // namespace relaylink::service::admission
