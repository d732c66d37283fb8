// The portal's command table (store.hpp, portal_table), shared by the SQLite and PostgreSQL stores:
// which of its columns exist, the two statements that keep its row in step with a command, and the
// values they write, so the two stores can never write it differently.
#pragma once

#include <relaylink/store/store.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <variant>

namespace relaylink::store::portal_rows {

/// A value for one of the portal's columns: NULL, an integer or text.
using value = std::variant<std::monostate, std::int64_t, std::string>;

inline bool plain_name(const std::string& s) {
    if (s.empty() || s.size() > 63 || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    return true;
}

inline bool required_key(std::string_view k) {
    return k == "id" || k == "meter_id" || k == "device_eui" || k == "command_type" || k == "status" || k == "created_at";
}

/// The portal's command_type for a kind; none for a raw frame (its CHECK constraint has no value for one).
inline std::optional<std::string> command_type(command_kind k) {
    switch (k) {
    case command_kind::relay_off: return "switch_off";
    case command_kind::relay_on: return "switch_on";
    case command_kind::read: return "read_meter";
    case command_kind::raw: return std::nullopt;
    }
    return std::nullopt;
}

/// SQLAlchemy's DateTime as it stores one (naive UTC: the portal writes datetime.utcnow()), with "+00"
/// for PostgreSQL, which ignores it for `timestamp` and honours it for `timestamptz`.
inline std::string timestamp(sys_time t, bool with_zone) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(us / 1000000);
    long frac = static_cast<long>(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        --secs;
    }
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06ld%s", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, frac, with_zone ? "+00" : "");
    return buf;
}

inline std::string json_text(std::string_view s) {
    std::string out = "\"";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            out += b;
        } else
            out += ch;
    }
    return out + "\"";
}

/// The table's layout: its (quoted) name and the portal's column for each key ("" for one it lacks).
class layout {
public:
    /// Checks the names (not yet the table: `check` does, against the columns the database has).
    /// `default_schema`: PostgreSQL's schema for an unqualified table ("public"); "" for SQLite.
    /// `placeholder(i)`: the dialect's i-th parameter ("?" or "$i") for the two statements.
    layout(const portal_table& t, const std::string& default_schema, const std::function<std::string(int)>& placeholder) {
        const auto dot = t.table.find('.');
        std::string schema = default_schema, name = t.table;
        if (dot != std::string::npos) {
            if (default_schema.empty()) throw store_error("portal table '" + t.table + "': a SQLite table name has no schema part");
            schema = t.table.substr(0, dot);
            name = t.table.substr(dot + 1);
        }
        if (!plain_name(name) || (!schema.empty() && !plain_name(schema)))
            throw store_error("portal table '" + t.table + "' is not a plain name (letters, digits and _, not starting with a digit" +
                              std::string(default_schema.empty() ? ")" : "; schema.table for another schema than public)"));
        schema_ = schema;
        name_ = name;
        quoted_ = (schema.empty() ? "" : "\"" + schema + "\".") + "\"" + name + "\"";
        for (const auto& [k, v] : t.columns) {
            if (std::find_if(std::begin(portal_column_keys), std::end(portal_column_keys), [&k = k](const char* x) { return k == x; }) ==
                std::end(portal_column_keys)) {
                std::string keys;
                for (const char* x : portal_column_keys) keys += std::string(keys.empty() ? "" : ", ") + x;
                throw store_error("portal table: unknown column key '" + k + "' (keys: " + keys + ")");
            }
            if (v.empty() && required_key(k))
                throw store_error("portal table: column '" + k + "' cannot be left out (only the optional ones may be \"\")");
            if (!v.empty() && !plain_name(v)) throw store_error("portal table: column name '" + v + "' for '" + k + "' is not a plain name");
        }
        for (const char* k : portal_column_keys) {
            auto it = t.columns.find(k);
            column_[k] = it == t.columns.end() ? std::string(k) : it->second;
        }
        insert_ = insert_sql(placeholder);
        update_ = update_sql(placeholder);
    }

    const std::string& schema() const { return schema_; }
    const std::string& name() const { return name_; }
    const std::string& quoted() const { return quoted_; }
    const std::string& column(const std::string& key) const { return column_.at(key); }
    /// The two statements (kept here: the stores' statement caches are keyed by the text's address).
    const std::string& insert() const { return insert_; }
    const std::string& update() const { return update_; }

    /// Against the columns the database's table has (empty: the table does not exist): a store_error a
    /// person can act on, naming what is missing and how to map it.
    void check(const std::set<std::string>& have, const std::string& where) const {
        if (have.empty())
            throw store_error("portal table " + quoted_ + " not found in " + where +
                              ": relaylink keeps the portal's command rows there but never creates the portal's tables "
                              "(create it with the portal's migrations, or name it: portal_table.table)");
        std::string list;
        for (const auto& c : have) list += (list.empty() ? "" : ", ") + c;
        for (const char* k : portal_column_keys) {
            const std::string& c = column_.at(k);
            if (c.empty() || have.contains(c)) continue;
            throw store_error("portal table " + quoted_ + " has no column '" + c + "' (its columns: " + list +
                              "); map it with portal_table.columns={'" + k + "': '<its column>'}" +
                              (required_key(k) ? std::string() : " or leave it out with ''"));
        }
    }

private:
    /// "INSERT INTO t (cols…) VALUES (p1, …) RETURNING id" for insert_values' columns.
    std::string insert_sql(const std::function<std::string(int)>& placeholder) const {
        std::string cols, vals;
        int i = 1;
        for (const char* k : insert_keys) {
            if (column_.at(k).empty()) continue;
            cols += (cols.empty() ? "\"" : ", \"") + column_.at(k) + "\"";
            vals += (vals.empty() ? "" : ", ") + placeholder(i++);
        }
        return "INSERT INTO " + quoted_ + " (" + cols + ") VALUES (" + vals + ") RETURNING \"" + column_.at("id") + "\"";
    }
    /// "UPDATE t SET col=p1, … WHERE id=pN" for update_values' columns.
    std::string update_sql(const std::function<std::string(int)>& placeholder) const {
        std::string set;
        int i = 1;
        for (const char* k : update_keys) {
            if (column_.at(k).empty()) continue;
            set += (set.empty() ? "\"" : ", \"") + column_.at(k) + "\"=" + placeholder(i++);
        }
        return "UPDATE " + quoted_ + " SET " + set + " WHERE \"" + column_.at("id") + "\"=" + placeholder(i);
    }

public:
    /// The values for insert_sql, in its order (`zone`: timestamps with "+00", for PostgreSQL).
    std::vector<value> insert_values(const command_row& c, bool zone) const { return values(insert_keys, c, zone); }
    /// The values for update_sql, then the row's id.
    std::vector<value> update_values(const command_row& c, bool zone) const {
        auto v = values(update_keys, c, zone);
        v.emplace_back(c.portal_row_id);
        return v;
    }

private:
    static constexpr const char* insert_keys[] = {"meter_id",    "device_eui",    "command_type", "command_data", "status",
                                                  "priority",    "scheduled_at",  "sent_at",      "completed_at", "error_message",
                                                  "retry_count", "max_retries",   "created_by",   "created_at"};
    static constexpr const char* update_keys[] = {"status",        "priority",    "scheduled_at", "sent_at", "completed_at",
                                                  "error_message", "retry_count", "max_retries"};

    std::vector<value> values(std::span<const char* const> keys, const command_row& c, bool zone) const {
        auto when = [&](const std::optional<sys_time>& t) -> value {
            if (!t) return std::monostate{};
            return timestamp(*t, zone);
        };
        std::vector<value> out;
        for (const char* k : keys) {
            if (column_.at(k).empty()) continue;
            const std::string_view key = k;
            if (key == "meter_id") out.emplace_back(c.portal_meter_id.value_or(0));
            else if (key == "device_eui") out.emplace_back(c.dev_eui);
            else if (key == "command_type") out.emplace_back(command_type(c.kind).value_or(""));
            else if (key == "command_data")
                out.emplace_back("{\"relaylink_command_id\": " + std::to_string(c.id) + ", \"kind\": " + json_text(to_string(c.kind)) +
                                 ", \"profile\": " + json_text(c.profile) + ", \"frame\": " + json_text(to_hex(c.payload)) +
                                 ", \"f_port\": " + std::to_string(c.f_port) + ", \"reason\": " + json_text(c.reason) +
                                 ", \"actor\": " + json_text(c.created_by) + "}");
            else if (key == "status") out.emplace_back(std::string(command::portal_status(c.rec.current)));
            else if (key == "priority") out.emplace_back(static_cast<std::int64_t>(c.priority));
            else if (key == "scheduled_at") out.push_back(when(c.rec.not_before));
            else if (key == "sent_at") out.push_back(when(c.rec.sent_at));
            else if (key == "completed_at") out.push_back(when(command::is_terminal(c.rec.current) ? c.rec.completed_at : std::nullopt));
            else if (key == "error_message") {
                if (c.rec.error.empty()) out.emplace_back(std::monostate{});
                else out.emplace_back(c.rec.error);
            } else if (key == "retry_count") out.emplace_back(static_cast<std::int64_t>(c.rec.retry_count));
            else if (key == "max_retries") out.emplace_back(static_cast<std::int64_t>(c.max_retries));
            else if (key == "created_by") {
                if (c.portal_user_id) out.emplace_back(*c.portal_user_id);
                else out.emplace_back(std::monostate{});
            } else if (key == "created_at") out.emplace_back(timestamp(c.created_at, zone));
        }
        return out;
    }

    std::string schema_, name_, quoted_, insert_, update_;
    std::map<std::string, std::string> column_;
};

/// Binds `v` from parameter 1 on (Params: the store's statement or parameter list).
template <class Params>
void bind_all(Params& s, const std::vector<value>& v) {
    int i = 1;
    for (const auto& x : v) {
        if (std::holds_alternative<std::monostate>(x)) s.bind_null(i);
        else if (const auto* n = std::get_if<std::int64_t>(&x)) s.bind(i, *n);
        else s.bind(i, std::string_view(std::get<std::string>(x)));
        ++i;
    }
}

/// Whether `c` gets a row in the portal's table.
inline bool mirrored(const command_row& c) { return c.portal_meter_id.has_value() && command_type(c.kind).has_value(); }

} // namespace relaylink::store::portal_rows
