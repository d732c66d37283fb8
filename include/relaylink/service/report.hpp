// Commands, audit trails and meters as people read them (a timeline) and as programs read them
// (JSON, the names DESIGN.md uses). Header-only; used by relayctl, the demo and the HTTP endpoints.
#pragma once

#include <relaylink/service/service.hpp>

#include <boost/json.hpp>

#include <cstdio>
#include <string>

namespace relaylink::service {

namespace detail {
inline boost::json::value time_or_null(const std::optional<sys_time>& t) {
    return t ? boost::json::value(format_rfc3339(*t)) : boost::json::value(nullptr);
}
} // namespace detail

/// "+12m05s": how long after `origin` `t` came (for timelines).
inline std::string offset(sys_time origin, sys_time t) {
    long long s = std::chrono::duration_cast<std::chrono::seconds>(t - origin).count();
    const char* sign = s < 0 ? "-" : "+";
    if (s < 0) s = -s;
    char buf[48];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%s%lldh%02lldm%02llds", sign, s / 3600, (s / 60) % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%s%lldm%02llds", sign, s / 60, s % 60);
    return buf;
}

inline boost::json::object to_json(const store::command_row& c) {
    return {{"id", c.id},
            {"idempotencyKey", c.idempotency_key.empty() ? boost::json::value(nullptr) : boost::json::value(c.idempotency_key)},
            {"meterRef", c.meter_ref},
            {"devEui", c.dev_eui},
            {"profile", c.profile},
            {"kind", store::to_string(c.kind)},
            {"payloadHex", to_hex(c.payload)},
            {"fPort", c.f_port},
            {"confirmed", c.confirmed},
            {"priority", c.priority},
            {"state", command::to_string(c.rec.current)},
            {"portalStatus", command::portal_status(c.rec.current)},
            {"evidence", to_string(c.rec.proof)},
            {"queueItemId", c.rec.queue_item_id},
            {"fCntDown", c.rec.f_cnt_down ? boost::json::value(*c.rec.f_cnt_down) : boost::json::value(nullptr)},
            {"notBefore", detail::time_or_null(c.rec.not_before)},
            {"deadline", detail::time_or_null(c.rec.deadline)},
            {"retryCount", c.rec.retry_count},
            {"maxRetries", c.max_retries},
            {"nextAttemptAt", detail::time_or_null(c.rec.next_attempt_at)},
            {"createdBy", c.created_by},
            {"reason", c.reason},
            {"note", c.note},
            {"createdAt", format_rfc3339(c.created_at)},
            {"updatedAt", format_rfc3339(c.updated_at)},
            {"sentAt", detail::time_or_null(c.rec.sent_at)},
            {"completedAt", detail::time_or_null(c.rec.completed_at)},
            {"error", c.rec.error},
            {"claimOwner", c.claim_owner},
            {"leaseUntil", detail::time_or_null(c.lease_until)},
            {"meterId", c.portal_meter_id ? boost::json::value(*c.portal_meter_id) : boost::json::value(nullptr)},
            {"userId", c.portal_user_id ? boost::json::value(*c.portal_user_id) : boost::json::value(nullptr)},
            {"portalRowId", c.portal_row_id ? boost::json::value(c.portal_row_id) : boost::json::value(nullptr)}};
}

inline boost::json::object to_json(const store::audit_event& e) {
    return {{"sequence", e.sequence},
            {"at", format_rfc3339(e.at)},
            {"from", e.from ? boost::json::value(command::to_string(*e.from)) : boost::json::value(nullptr)},
            {"to", command::to_string(e.to)},
            {"cause", e.cause},
            {"actor", e.actor},
            {"detail", e.detail}};
}

inline boost::json::object to_json(const store::meter_row& m) {
    return {{"devEui", m.dev_eui},
            {"meterRef", m.meter_ref},
            {"profile", m.profile},
            {"relayState", store::to_string(m.relay)},
            {"lastUplink", detail::time_or_null(m.last_uplink)},
            {"lastConfirmedCommand", m.last_confirmed_command ? boost::json::value(m.last_confirmed_command) : boost::json::value(nullptr)},
            {"note", m.note}};
}

inline boost::json::object to_json(const command_view& v) {
    auto o = to_json(v.command);
    boost::json::array ev;
    for (const auto& e : v.events) ev.push_back(to_json(e));
    o["events"] = std::move(ev);
    return o;
}

/// One line per command: "#3 relay_off 0101010101010101 confirmed (device_replied) by alice: arrears".
inline std::string summary_line(const store::command_row& c) {
    std::string s = "#" + std::to_string(c.id) + " " + std::string(store::to_string(c.kind)) + " " + c.dev_eui + " " +
                    std::string(command::to_string(c.rec.current)) + " (" + std::string(to_string(c.rec.proof)) + ")";
    if (!c.created_by.empty()) s += " by " + c.created_by;
    if (!c.reason.empty()) s += ": " + c.reason;
    if (!c.rec.error.empty()) s += " — " + c.rec.error;
    if (!c.note.empty()) s += " [" + c.note + "]";
    return s;
}

/// The command's audit trail as a timeline, one line per event, times relative to its creation.
/// One audit row as the timeline shows it: its offset from `origin` (the first row), the state, the cause.
inline std::string timeline_line(sys_time origin, const store::audit_event& e, const std::string& reason) {
    char head[96];
    std::snprintf(head, sizeof head, "  %9s  %-12s  ", offset(origin, e.at).c_str(), std::string(command::to_string(e.to)).c_str());
    std::string out = head + e.cause + "  [" + e.actor + "]";
    if (!e.detail.empty() && e.detail != reason) out += "  " + e.detail;
    return out + "\n";
}

inline std::string timeline(const command_view& v) {
    std::string out = summary_line(v.command) + "\n";
    const sys_time origin = v.events.empty() ? v.command.created_at : v.events.front().at;
    for (const auto& e : v.events) out += timeline_line(origin, e, v.command.reason);
    return out;
}

} // namespace relaylink::service
