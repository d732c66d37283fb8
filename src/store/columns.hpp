// The mapping between a store's rows and relaylink's structs, shared by the SQLite and PostgreSQL
// stores so the two can never disagree on a column. `Row` (a result row) gives null(c), i64(c),
// text(c), blob(c), flag(c) and time(c); `Params` (a statement's parameters) gives bind(i, …),
// bind_blob, bind_null, bind_flag and bind_text_or_null, numbered from 1.
#pragma once

#include <relaylink/store/store.hpp>

#include <string>

namespace relaylink::store::columns {

/// One step of a store's schema: applied once, in order, in its own transaction, recorded in
/// schema_migrations. A migration that has shipped is never edited: the next one is added. SQLite and
/// PostgreSQL keep the same numbers (the same tables in each dialect).
struct migration {
    int version;
    const char* description;
    const char* sql;
};

inline std::int64_t ns(sys_time t) { return t.time_since_epoch().count(); }
inline sys_time from_ns(std::int64_t v) { return sys_time{std::chrono::nanoseconds{v}}; }

/// Every command column, in the order read_command expects.
constexpr const char* command_list =
    "id, idempotency_key, meter_ref, dev_eui, profile, kind, payload, f_port, confirmed, priority, state, evidence, "
    "queue_item_id, f_cnt_down, not_before, deadline, retry_count, max_retries, next_attempt_at, timer_at, "
    "cancel_requested, created_by, reason, note, created_at, updated_at, sent_at, completed_at, error, version, "
    "claim_owner, lease_until, portal_meter_id, portal_user_id, portal_row_id";
/// The columns a command is born with (bind_immutable's order), then those a transition may change (bind_mutable's).
constexpr const char* insert_list =
    "idempotency_key, meter_ref, dev_eui, profile, kind, payload, f_port, confirmed, created_by, reason, created_at, "
    "portal_meter_id, portal_user_id, priority, state, evidence, queue_item_id, f_cnt_down, not_before, deadline, retry_count, max_retries, "
    "next_attempt_at, timer_at, cancel_requested, note, updated_at, sent_at, completed_at, error, claim_owner, lease_until";
constexpr int insert_count = 32;
/// bind_mutable's columns, as `name=` for an UPDATE's SET (the placeholders are the caller's).
constexpr const char* mutable_names[] = {"priority", "state", "evidence", "queue_item_id", "f_cnt_down", "not_before",
                                         "deadline", "retry_count", "max_retries", "next_attempt_at", "timer_at",
                                         "cancel_requested", "note", "updated_at", "sent_at", "completed_at", "error",
                                         "claim_owner", "lease_until"};
/// A meter's columns as bind_meter binds them; read_meter reads them and then `version`.
constexpr const char* meter_list =
    "dev_eui, meter_ref, profile, relay_state, last_uplink, last_confirmed_command, disconnect_sent_at, note, updated_at, "
    "uplink_f_cnt, uplink_time";
constexpr int meter_count = 11;
/// meter_list's names, one by one.
constexpr const char* meter_names[meter_count] = {"dev_eui", "meter_ref", "profile", "relay_state", "last_uplink",
                                                  "last_confirmed_command", "disconnect_sent_at", "note", "updated_at",
                                                  "uplink_f_cnt", "uplink_time"};
/// "meter_ref=<p>, …, uplink_time=<p>, " for every meter column but the key (dev_eui, 0), each with its
/// placeholder `placeholder(j)` (j its index in meter_list).
template <class Placeholder>
std::string meter_assignments(Placeholder placeholder) {
    std::string out;
    for (int j = 1; j < meter_count; ++j) out += std::string(meter_names[j]) + "=" + placeholder(j) + ", ";
    return out;
}
/// The meter upsert's tail after "VALUES (<meter_count placeholders>, 1)": every column from the new row,
/// the version bumped, and only if the stored row still has the version read (`version_placeholder`).
inline std::string meter_upsert_tail(const std::string& version_placeholder) {
    return " ON CONFLICT (dev_eui) DO UPDATE SET meter_ref=excluded.meter_ref, profile=excluded.profile, "
           "relay_state=excluded.relay_state, last_uplink=excluded.last_uplink, "
           "last_confirmed_command=excluded.last_confirmed_command, disconnect_sent_at=excluded.disconnect_sent_at, "
           "note=excluded.note, updated_at=excluded.updated_at, uplink_f_cnt=excluded.uplink_f_cnt, "
           "uplink_time=excluded.uplink_time, version=meters.version+1 WHERE meters.version=" +
           version_placeholder;
}
constexpr const char* event_list = "command_id, sequence, at, from_state, to_state, cause, actor, detail";

inline command::state state_of(const std::string& s, std::int64_t id) {
    if (auto v = command::state_from_name(s)) return *v;
    throw store_error("command " + std::to_string(id) + " has an unknown state '" + s + "' in the database");
}

template <class Params>
void bind_id(Params& s, int i, const std::optional<std::int64_t>& v) {
    if (v) s.bind(i, *v);
    else s.bind_null(i);
}

/// The columns a command is born with, in insert_list's order, from index `i`; returns the next index.
template <class Params>
int bind_immutable(Params& s, const command_row& c, int i) {
    auto next = [&i] { return i++; };
    s.bind_text_or_null(next(), c.idempotency_key);
    s.bind(next(), c.meter_ref);
    s.bind(next(), c.dev_eui);
    s.bind(next(), c.profile);
    s.bind(next(), to_string(c.kind));
    s.bind_blob(next(), c.payload);
    s.bind(next(), static_cast<int>(c.f_port));
    s.bind_flag(next(), c.confirmed);
    s.bind(next(), c.created_by);
    s.bind(next(), c.reason);
    s.bind(next(), ns(c.created_at));
    bind_id(s, next(), c.portal_meter_id);
    bind_id(s, next(), c.portal_user_id);
    return i;
}

/// The columns a transition may change, in mutable_names' order, from index `i`; returns the next index.
template <class Params>
int bind_mutable(Params& s, const command_row& c, int i) {
    auto next = [&i] { return i++; };
    s.bind(next(), c.priority);
    s.bind(next(), command::to_string(c.rec.current));
    s.bind(next(), to_string(c.rec.proof));
    s.bind_text_or_null(next(), c.rec.queue_item_id);
    if (c.rec.f_cnt_down) s.bind(next(), static_cast<std::int64_t>(*c.rec.f_cnt_down));
    else s.bind_null(next());
    s.bind(next(), c.rec.not_before);
    s.bind(next(), c.rec.deadline);
    s.bind(next(), c.rec.retry_count);
    s.bind(next(), c.max_retries);
    s.bind(next(), c.rec.next_attempt_at);
    s.bind(next(), c.timer_at);
    s.bind_flag(next(), c.rec.cancel_requested);
    s.bind(next(), c.note);
    s.bind(next(), ns(c.updated_at));
    s.bind(next(), c.rec.sent_at);
    s.bind(next(), c.rec.completed_at);
    s.bind(next(), c.rec.error);
    s.bind(next(), c.claim_owner);
    s.bind(next(), c.lease_until);
    return i;
}

template <class Row>
command_row read_command(const Row& s) {
    command_row c;
    c.id = s.i64(0);
    c.idempotency_key = s.text(1);
    c.meter_ref = s.text(2);
    c.dev_eui = s.text(3);
    c.profile = s.text(4);
    const std::string kind = s.text(5);
    auto k = command_kind_from_name(kind);
    if (!k) throw store_error("command " + std::to_string(c.id) + " has an unknown kind '" + kind + "' in the database");
    c.kind = *k;
    c.payload = s.blob(6);
    c.f_port = static_cast<std::uint8_t>(s.i64(7));
    c.confirmed = s.flag(8);
    c.priority = static_cast<int>(s.i64(9));
    c.rec.current = state_of(s.text(10), c.id);
    const std::string ev = s.text(11);
    auto e = evidence_from_name(ev);
    if (!e) throw store_error("command " + std::to_string(c.id) + " has an unknown evidence '" + ev + "' in the database");
    c.rec.proof = *e;
    c.rec.queue_item_id = s.text(12);
    if (!s.null(13)) c.rec.f_cnt_down = static_cast<std::uint32_t>(s.i64(13));
    c.rec.not_before = s.time(14);
    c.rec.deadline = s.time(15);
    c.rec.retry_count = static_cast<int>(s.i64(16));
    c.max_retries = static_cast<int>(s.i64(17));
    c.rec.next_attempt_at = s.time(18);
    c.timer_at = s.time(19);
    c.rec.cancel_requested = s.flag(20);
    c.created_by = s.text(21);
    c.reason = s.text(22);
    c.note = s.text(23);
    c.created_at = from_ns(s.i64(24));
    c.updated_at = from_ns(s.i64(25));
    c.rec.sent_at = s.time(26);
    c.rec.completed_at = s.time(27);
    c.rec.error = s.text(28);
    c.version = s.i64(29);
    c.claim_owner = s.text(30);
    c.lease_until = s.time(31);
    if (!s.null(32)) c.portal_meter_id = s.i64(32);
    if (!s.null(33)) c.portal_user_id = s.i64(33);
    c.portal_row_id = s.null(34) ? 0 : s.i64(34);
    return c;
}

template <class Row>
meter_row read_meter(const Row& s) {
    meter_row m;
    m.dev_eui = s.text(0);
    m.meter_ref = s.text(1);
    m.profile = s.text(2);
    const std::string r = s.text(3);
    auto rs = relay_state_from_name(r);
    if (!rs) throw store_error("meter " + m.dev_eui + " has an unknown relay state '" + r + "' in the database");
    m.relay = *rs;
    m.last_uplink = s.time(4);
    m.last_confirmed_command = s.i64(5);
    m.disconnect_sent_at = s.time(6);
    m.note = s.text(7);
    m.updated_at = from_ns(s.i64(8));
    if (!s.null(9)) m.uplink_f_cnt = static_cast<std::uint32_t>(s.i64(9));
    m.uplink_time = s.time(10);
    m.version = s.i64(11);
    return m;
}

template <class Params>
void bind_meter(Params& s, const meter_row& m) {
    s.bind(1, m.dev_eui);
    s.bind(2, m.meter_ref);
    s.bind(3, m.profile);
    s.bind(4, to_string(m.relay));
    s.bind(5, m.last_uplink);
    s.bind(6, m.last_confirmed_command);
    s.bind(7, m.disconnect_sent_at);
    s.bind(8, m.note);
    s.bind(9, ns(m.updated_at));
    if (m.uplink_f_cnt) s.bind(10, static_cast<std::int64_t>(*m.uplink_f_cnt));
    else s.bind_null(10);
    s.bind(11, m.uplink_time);
}

template <class Row>
audit_event read_event(const Row& s) {
    audit_event e;
    e.command_id = s.i64(0);
    e.sequence = s.i64(1);
    e.at = from_ns(s.i64(2));
    if (!s.null(3)) e.from = state_of(s.text(3), e.command_id);
    e.to = state_of(s.text(4), e.command_id);
    e.cause = s.text(5);
    e.actor = s.text(6);
    e.detail = s.text(7);
    return e;
}

template <class Params>
void bind_event(Params& s, const audit_event& e) {
    s.bind(1, e.command_id);
    s.bind(2, e.sequence);
    s.bind(3, ns(e.at));
    if (e.from) s.bind(4, command::to_string(*e.from));
    else s.bind_null(4);
    s.bind(5, command::to_string(e.to));
    s.bind(6, e.cause);
    s.bind(7, e.actor);
    s.bind(8, e.detail);
}

/// "SELECT <command columns> FROM commands <rest>" (and for meters), built once per call site.
inline std::string select_commands(const char* rest) { return std::string("SELECT ") + command_list + " FROM commands " + rest; }
inline std::string select_meters(const char* rest) {
    return std::string("SELECT ") + meter_list + ", version FROM meters " + rest;
}
/// The latest claim (pending -> dispatching) of the command bound at `id_placeholder` ("?" or "$1"), one row.
inline std::string select_latest_claim(const char* id_placeholder) {
    return std::string("SELECT ") + event_list + " FROM command_events WHERE command_id = " + id_placeholder +
           " AND from_state = 'pending' AND to_state = 'dispatching' ORDER BY sequence DESC LIMIT 1";
}

/// "name1=<p>, name2=<p>, …" for bind_mutable's columns, with placeholders from `placeholder(i)`.
template <class Placeholder>
std::string mutable_assignments(int first, Placeholder placeholder) {
    std::string out;
    for (const char* n : mutable_names) {
        if (!out.empty()) out += ", ";
        out += std::string(n) + "=" + placeholder(first++);
    }
    return out;
}
constexpr int mutable_count = static_cast<int>(std::size(mutable_names));

} // namespace relaylink::store::columns
