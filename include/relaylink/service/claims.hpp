// Claims and leases: who may reconcile a claimed (`dispatching`) command, what a claim records of the
// device's latest uplink, and whether an uplink answering a claimed command can be its reply or is a replay.
// Pure functions (whether a process is alive is asked through a predicate the caller gives), tested as a
// table in test_claims.cpp; the service reads the facts and writes what these decide.
#pragma once

#include <relaylink/store/store.hpp>
#include <relaylink/time.hpp>

#include <algorithm>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace relaylink::service::claims {

/// A claim's lease: until then only its owner acts on it.
inline sys_time lease_until(sys_time claimed_at, std::chrono::nanoseconds claim_timeout) { return claimed_at + claim_timeout; }

/// Whether `instance` may reconcile a claim of `owner` (whose lease ends at `lease_end`) at `now`: its own
/// (none of its own is in flight when a device operation runs), one from before owners were recorded, one
/// whose lease has ended, or one whose owner `gone` says no longer exists.
inline bool may_reconcile(std::string_view owner, std::optional<sys_time> lease_end, std::string_view instance, sys_time now,
                          const std::function<bool(std::string_view)>& gone = {}) {
    return owner.empty() || owner == instance || (lease_end && *lease_end <= now) || (gone && gone(owner));
}

/// "host:pid" as the default instance names it: the pid when `owner` is of `host`, else none.
inline std::optional<long> pid_on_host(std::string_view owner, std::string_view host) {
    const auto colon = owner.rfind(':');
    if (colon == std::string_view::npos || owner.substr(0, colon) != host) return std::nullopt;
    const std::string_view pid = owner.substr(colon + 1);
    if (pid.empty() || pid.size() > 9 || !std::all_of(pid.begin(), pid.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        return std::nullopt;
    return std::stol(std::string(pid));
}

/// What a claim records of the device's latest uplink, as ChirpStack stamped it: appended to the claim's
/// audit cause, so a reply is judged against it however long after (and by any process).
inline constexpr std::string_view snapshot_words = "; the device's latest uplink then: fCnt ";
struct snapshot {
    std::optional<std::uint32_t> f_cnt;
    sys_time time{};
};
inline std::string snapshot_text(const store::meter_row& m) {
    if (!m.uplink_time) return {};
    return std::string(snapshot_words) + (m.uplink_f_cnt ? std::to_string(*m.uplink_f_cnt) : std::string("?")) + " at " +
           format_rfc3339(*m.uplink_time);
}
/// The snapshot in a claim's audit cause; none for a claim without one (no uplink known then, or written
/// by an older relaylink), or one that does not read back.
inline std::optional<snapshot> parse_snapshot(std::string_view cause) {
    const auto at = cause.find(snapshot_words);
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view rest = cause.substr(at + snapshot_words.size());
    snapshot out;
    const auto space = rest.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const std::string n(rest.substr(0, space));
    // A count that does not read ("?": none was known) leaves only the time to judge by.
    if (!n.empty() && n.size() <= 10 && std::all_of(n.begin(), n.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        if (const auto v = std::stoull(n); v <= 0xFFFFFFFFULL) out.f_cnt = static_cast<std::uint32_t>(v);
    rest.remove_prefix(space);
    if (!rest.starts_with(" at ")) return std::nullopt;
    auto t = parse_rfc3339(std::string(rest.substr(4)));
    if (!t) return std::nullopt;
    out.time = *t;
    return out;
}
/// The latest claim's snapshot in a command's audit trail (its pending → dispatching rows).
inline std::optional<snapshot> latest_snapshot(std::span<const store::audit_event> events) {
    for (auto e = events.rbegin(); e != events.rend(); ++e)
        if (store::is_claim(*e)) return parse_snapshot(e->cause);
    return std::nullopt;
}
/// When the command was last claimed: its audit row into `dispatching` (written in the claim's own
/// transaction), not `lease_until − claim_timeout` (the claimer's timeout may differ). `fallback` without one.
inline sys_time claimed_at(std::span<const store::audit_event> events, sys_time fallback) {
    for (auto e = events.rbegin(); e != events.rend(); ++e)
        if (e->to == command::state::dispatching && e->from != command::state::dispatching) return e->at;
    return fallback;
}

/// Why an uplink (ChirpStack's `time`, `f_cnt`) cannot answer a command claimed after `snap`: it is not
/// after the device's latest uplink at the claim — by ChirpStack's own clock, and by its frame counter
/// unless the device rejoined since (`joined`, ChirpStack's time). Both sides are ChirpStack's stamps, so
/// no skew between its clock and relaylink's matters. None: it may be the reply.
inline std::optional<std::string> replayed(const snapshot& snap, std::optional<sys_time> time, std::uint32_t f_cnt,
                                           std::optional<sys_time> joined) {
    if (time && *time <= snap.time)
        return "its time " + format_rfc3339(*time) + " is not after " + format_rfc3339(snap.time) +
               ", the device's latest uplink when the command was claimed";
    const bool rejoined = joined && *joined > snap.time;
    if (snap.f_cnt && !rejoined && f_cnt <= *snap.f_cnt)
        return "its fCnt " + std::to_string(f_cnt) + " is not after fCnt " + std::to_string(*snap.f_cnt) +
               ", the device's latest uplink when the command was claimed";
    return std::nullopt;
}

} // namespace relaylink::service::claims
