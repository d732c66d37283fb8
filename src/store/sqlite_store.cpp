// The SQLite store: one file, WAL, versioned migrations, prepared statements, one connection
// guarded by a mutex. Times are stored as INTEGER nanoseconds since the Unix epoch (UTC).
#include <relaylink/store/store.hpp>

#include "columns.hpp"
#include "portal_rows.hpp"
#include "row_cache.hpp"
#include "sqlite_version.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

namespace relaylink::store {
namespace {

using command::state;

const columns::migration migrations[] = { // in step with PostgreSQL's
    {1, "commands, command_events (audit trail), queue_items, meters", R"sql(
CREATE TABLE commands (
  id               INTEGER PRIMARY KEY,
  idempotency_key  TEXT UNIQUE,
  meter_ref        TEXT NOT NULL DEFAULT '',
  dev_eui          TEXT NOT NULL CHECK (length(dev_eui) = 16),
  profile          TEXT NOT NULL,
  kind             TEXT NOT NULL CHECK (kind = 'relay_off' OR kind = 'relay_on' OR kind = 'read' OR kind = 'raw'),
  payload          BLOB NOT NULL,
  f_port           INTEGER NOT NULL CHECK (f_port BETWEEN 1 AND 223),
  confirmed        INTEGER NOT NULL CHECK (confirmed = 0 OR confirmed = 1),
  priority         INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 10),
  state            TEXT NOT NULL CHECK (state = 'pending' OR state = 'dispatching' OR state = 'queued' OR state = 'sent'
                                    OR state = 'acknowledged' OR state = 'confirmed' OR state = 'failed'
                                    OR state = 'expired' OR state = 'cancelled' OR state = 'superseded'),
  evidence         TEXT NOT NULL CHECK (evidence = 'none' OR evidence = 'gateway_accepted' OR evidence = 'device_acknowledged'
                                       OR evidence = 'device_replied' OR evidence = 'state_verified'),
  queue_item_id    TEXT,
  f_cnt_down       INTEGER,
  not_before       INTEGER,
  deadline         INTEGER,
  retry_count      INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
  max_retries      INTEGER NOT NULL CHECK (max_retries >= 0),
  next_attempt_at  INTEGER,
  timer_at         INTEGER,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created_by       TEXT NOT NULL,
  reason           TEXT NOT NULL DEFAULT '',
  note             TEXT NOT NULL DEFAULT '',
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  sent_at          INTEGER,
  completed_at     INTEGER,
  error            TEXT NOT NULL DEFAULT '',
  version          INTEGER NOT NULL,
  -- 1 while the command is not finished. (Comparisons, not IN lists: SQLite builds a temporary
  -- table for every IN list it evaluates, and these are evaluated on every write.)
  is_open          INTEGER GENERATED ALWAYS AS (state = 'pending' OR state = 'dispatching' OR state = 'queued'
                                                OR state = 'sent' OR state = 'acknowledged') STORED
);
CREATE INDEX commands_open ON commands (dev_eui, id) WHERE is_open = 1;
CREATE INDEX commands_timer ON commands (timer_at) WHERE is_open = 1 AND timer_at IS NOT NULL;
CREATE INDEX commands_history ON commands (dev_eui, id DESC);
CREATE TABLE queue_items (
  queue_item_id TEXT PRIMARY KEY,
  command_id    INTEGER NOT NULL REFERENCES commands (id)
) WITHOUT ROWID;
CREATE TABLE command_events (
  command_id  INTEGER NOT NULL REFERENCES commands (id),
  sequence    INTEGER NOT NULL CHECK (sequence >= 1),
  at          INTEGER NOT NULL,
  from_state  TEXT,
  to_state    TEXT NOT NULL,
  cause       TEXT NOT NULL,
  actor       TEXT NOT NULL,
  detail      TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (command_id, sequence)
) WITHOUT ROWID;
CREATE TRIGGER command_events_append_only_update BEFORE UPDATE ON command_events
  BEGIN SELECT RAISE(ABORT, 'command_events is append-only'); END;
CREATE TRIGGER command_events_append_only_delete BEFORE DELETE ON command_events
  BEGIN SELECT RAISE(ABORT, 'command_events is append-only'); END;
CREATE TABLE meters (
  dev_eui                TEXT PRIMARY KEY,
  meter_ref              TEXT NOT NULL DEFAULT '',
  profile                TEXT NOT NULL DEFAULT '',
  relay_state            TEXT NOT NULL CHECK (relay_state = 'unknown' OR relay_state = 'connected'
                                          OR relay_state = 'disconnected' OR relay_state = 'unreachable_after_disconnect'),
  last_uplink            INTEGER,
  last_confirmed_command INTEGER NOT NULL DEFAULT 0,
  disconnect_sent_at     INTEGER,
  note                   TEXT NOT NULL DEFAULT '',
  updated_at             INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX meters_awaiting_uplink ON meters (dev_eui) WHERE disconnect_sent_at IS NOT NULL;
)sql"},
    {2, "a claim's owner and lease on commands", R"sql(
ALTER TABLE commands ADD COLUMN claim_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE commands ADD COLUMN lease_until INTEGER;
)sql"},
    {3, "a version on meters (writes between processes)", R"sql(
ALTER TABLE meters ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
)sql"},
    {4, "a meter's latest uplink as ChirpStack stamped it (replayed replies)", R"sql(
ALTER TABLE meters ADD COLUMN uplink_f_cnt INTEGER;
ALTER TABLE meters ADD COLUMN uplink_time INTEGER;
)sql"},
    {5, "priority 1 is the highest, as the portal's device_commands (it was 10)", R"sql(
UPDATE commands SET priority = 11 - priority;
)sql"},
    {6, "the portal's meter and user ids, and the command's row in the portal's table", R"sql(
ALTER TABLE commands ADD COLUMN portal_meter_id INTEGER;
ALTER TABLE commands ADD COLUMN portal_user_id INTEGER;
ALTER TABLE commands ADD COLUMN portal_row_id INTEGER;
)sql"},
    // SQLite rewrites an index's entry at every UPDATE that names a column the index reads, its WHERE
    // included, whether the value changed or not (a generated column counts as named when what it is
    // generated from is). The indexes of open commands read is_open, generated from `state`, which every
    // transition writes: rewritten at every transition. They now read still_open, a plain column that only
    // the write finishing a command names. is_open stays, generated, and the queries read both: still_open
    // is what makes the indexes small and still, is_open what makes the answer right (a writer that does not
    // know still_open, or a hand-written UPDATE, leaves a finished command in the index, never in an answer).
    // No DROP COLUMN: SQLite has it only since 3.35 (RHEL 9 has 3.34).
    {7, "still_open: what the open-commands indexes read, written only when a command finishes", R"sql(
DROP INDEX commands_open;
DROP INDEX commands_timer;
ALTER TABLE commands ADD COLUMN still_open INTEGER NOT NULL DEFAULT 1 CHECK (still_open = 0 OR still_open = 1);
UPDATE commands SET still_open = 0 WHERE is_open = 0;
CREATE INDEX commands_open ON commands (dev_eui, id) WHERE still_open = 1;
CREATE INDEX commands_timer ON commands (timer_at) WHERE still_open = 1 AND timer_at IS NOT NULL;
)sql"},
};

/// relaylink's own names (tables, and the indexes and triggers named after them): with a table prefix,
/// every SQL text the store runs has them prefixed.
constexpr std::string_view own_names[] = {"commands", "command_events", "queue_items", "meters", "schema_migrations"};

bool own_name(std::string_view word) {
    for (auto n : own_names)
        if (word == n || (word.size() > n.size() && word.starts_with(n) && word[n.size()] == '_')) return true;
    return false;
}

/// `sql` with `prefix` before each of relaylink's names (whole words only: command_id stays).
std::string with_prefix(std::string_view sql, const std::string& prefix) {
    if (prefix.empty()) return std::string(sql);
    std::string out;
    out.reserve(sql.size() + 64);
    auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    for (std::size_t i = 0; i < sql.size();) {
        if (!word_char(sql[i])) {
            out += sql[i++];
            continue;
        }
        std::size_t j = i;
        while (j < sql.size() && word_char(sql[j])) ++j;
        const auto word = sql.substr(i, j - i);
        if (own_name(word)) out += prefix;
        out += word;
        i = j;
    }
    return out;
}

using columns::from_ns;
using columns::ns;
using columns::read_command;
using columns::read_event;
using columns::read_meter;
using columns::state_of;

class db_handle {
public:
    sqlite3* db = nullptr;
    std::string path;
    ~db_handle() {
        if (db) sqlite3_close_v2(db);
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw store_error("SQLite store " + path + ": " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
    }
    /// Run `sql`; SQLite's result code, with its message in `message` when it failed.
    int try_exec(const char* sql, std::string& message) {
        char* msg = nullptr;
        const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
        if (rc != SQLITE_OK) message = msg ? msg : "unknown error";
        sqlite3_free(msg);
        return rc;
    }
    void exec(const char* sql, const char* what) {
        std::string m;
        if (try_exec(sql, m) != SQLITE_OK) throw store_error("SQLite store " + path + ": " + what + ": " + m);
    }
};

/// A cached prepared statement, reset when the guard goes. Every use binds each of its parameters (a
/// statement's parameters are all bound by its one caller); borrowed values are unbound as well.
class stmt {
public:
    stmt(db_handle& h, sqlite3_stmt* s) : h_(h), s_(s) {}
    ~stmt() {
        sqlite3_reset(s_);
        if (copy_ == SQLITE_STATIC) sqlite3_clear_bindings(s_); // no pointer into a caller's row outlives the call
    }
    stmt(const stmt&) = delete;
    stmt& operator=(const stmt&) = delete;

    /// Text and blobs bound from here on are not copied: the caller's values outlive the statement's steps
    /// (the rows a write is given; never a temporary).
    stmt& borrowing() {
        copy_ = SQLITE_STATIC;
        return *this;
    }
    stmt& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
    stmt& bind(int i, int v) { return check(sqlite3_bind_int(s_, i, v)); }
    stmt& bind(int i, std::string_view v) { return check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), copy_)); }
    stmt& bind_blob(int i, const bytes& v) {
        return check(sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), copy_));
    }
    stmt& bind_null(int i) { return check(sqlite3_bind_null(s_, i)); }
    stmt& bind_flag(int i, bool v) { return bind(i, v ? 1 : 0); }
    stmt& bind(int i, const std::optional<sys_time>& t) { return t ? bind(i, ns(*t)) : bind_null(i); }
    stmt& bind_text_or_null(int i, std::string_view v) { return v.empty() ? bind_null(i) : bind(i, v); }

    bool step() {
        const int rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        h_.fail("statement failed");
    }
    void run() {
        while (step()) {
        }
    }

    bool null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
    bool flag(int c) const { return i64(c) != 0; }
    std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
    std::string text(int c) const {
        const auto* p = sqlite3_column_text(s_, c);
        return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, c))) : std::string();
    }
    bytes blob(int c) const {
        const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s_, c));
        return p ? bytes(p, p + sqlite3_column_bytes(s_, c)) : bytes();
    }
    std::optional<sys_time> time(int c) const { return null(c) ? std::nullopt : std::optional(from_ns(i64(c))); }

private:
    stmt& check(int rc) {
        if (rc != SQLITE_OK) h_.fail("binding a value");
        return *this;
    }
    db_handle& h_;
    sqlite3_stmt* s_;
    sqlite3_destructor_type copy_ = SQLITE_TRANSIENT;
};


using columns::select_commands;
const auto meter_select = columns::select_meters;

class sqlite_store final : public store {
public:
    sqlite_store(const std::string& path, sqlite_options opt) : prefix_(opt.table_prefix), rows_(opt.row_cache_rows) {
        h_.path = path;
        if (auto why = sqlite_version::problem(sqlite3_libversion_number())) throw store_error("SQLite store " + path + ": " + *why);
        if (!prefix_.empty() && !portal_rows::plain_name(prefix_ + "x"))
            throw store_error("SQLite store " + path + ": table_prefix '" + prefix_ + "' must be letters, digits and _ (e.g. relaylink_)");
        const int rc = sqlite3_open_v2(path.c_str(), &h_.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
        if (rc != SQLITE_OK) h_.fail("cannot open");
        sqlite3_extended_result_codes(h_.db, 1);
        sqlite3_busy_timeout(h_.db, static_cast<int>(opt.busy_timeout.count()));
        switch_to_wal(opt.busy_timeout);
        h_.exec(opt.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", "cannot set synchronous");
        h_.exec("PRAGMA foreign_keys=ON", "cannot enable foreign keys");
        const std::string cache = "PRAGMA cache_size=-" + std::to_string(opt.cache_kib);
        h_.exec(cache.c_str(), "cannot set the cache size");
        h_.exec("PRAGMA temp_store=MEMORY", "cannot keep temporary tables in memory");
        // Checkpoint the WAL every 8192 pages (32 MiB) rather than 1000: a page rewritten by many
        // transitions is copied back to the database once per checkpoint.
        h_.exec("PRAGMA wal_autocheckpoint=8192", "cannot set the WAL checkpoint interval");
        migrate();
        if (opt.portal) open_portal(*opt.portal);
        rows_.check(data_version());
    }
    ~sqlite_store() override = default;

    bool insert(command_row& c, audit_event created) override {
        std::lock_guard lock(mu_);
        tx t(*this);
        if (!c.idempotency_key.empty()) {
            stmt s = prepare("SELECT 1 FROM commands WHERE idempotency_key = ?");
            s.bind(1, c.idempotency_key);
            if (s.step()) return false;
        }
        {
            static const std::string q = [] {
                std::string v = std::string("INSERT INTO commands (") + columns::insert_list + ", still_open, version) VALUES (";
                for (int i = 0; i < columns::insert_count; ++i) v += "?,";
                return v + "?,1)";
            }();
            stmt s = prepare(q.c_str());
            s.bind_flag(columns::bind_mutable(s, c, columns::bind_immutable(s, c, 1)), !command::is_terminal(c.rec.current));
            s.run();
        }
        c.id = sqlite3_last_insert_rowid(h_.db);
        c.version = 1;
        created.command_id = c.id;
        created.sequence = 1;
        put_event(created);
        note_queue_item(c);
        if (portal_ && portal_rows::mirrored(c)) insert_portal_row(c);
        t.commit();
        rows_.inserted(c);
        return true;
    }

    bool write(std::span<update> updates, std::span<const meter_row> meters) override {
        std::lock_guard lock(mu_);
        tx t(*this);
        for (auto& u : updates) {
            // Only what a transition can change: fewer index entries to rewrite. still_open only when the
            // command finishes (a finished command never opens again): the open-commands index stays still.
            static const std::string set = "UPDATE commands SET " + columns::mutable_assignments(1, [](int) { return "?"; });
            static const std::string unfinished = set + ", version=version+1 WHERE id=? AND version=?";
            static const std::string finished = set + ", still_open=0, version=version+1 WHERE id=? AND version=?";
            stmt s = prepare(command::is_terminal(u.row.rec.current) ? finished.c_str() : unfinished.c_str());
            s.borrowing();
            const command_row& c = u.row;
            const int i = columns::bind_mutable(s, c, 1);
            s.bind(i, c.id).bind(i + 1, c.version);
            s.run();
            // The write lock is held from BEGIN IMMEDIATE: a conditional update is the whole claim.
            u.applied = sqlite3_changes(h_.db) == 1;
            if (!u.applied && !u.claim) return conflict(); // tx rolls back
        }
        for (auto& u : updates) {
            if (!u.applied) continue;
            ++u.row.version;
            u.event.command_id = u.row.id;
            u.event.sequence = u.row.version; // every write and every audit row bump the version: they stay equal
            put_event(u.event); // before the next sequence is read: one command may appear twice
            if (u.new_queue_item) note_queue_item(u.row);
            if (portal_ && u.row.portal_row_id != 0) update_portal_row(u.row);
        }
        for (const auto& m : meters) {
            // A meter read from the store is updated at the version read; a new one inserted (or, when another
            // writer inserted it meanwhile, updated only if that row is still at version 0: never).
            static const std::string upsert = std::string("INSERT INTO meters (") + columns::meter_list +
                                              ", version) VALUES (?,?,?,?,?,?,?,?,?,?,?,1)" + columns::meter_upsert_tail("?12");
            static const std::string update = "UPDATE meters SET " +
                                              columns::meter_assignments([](int j) { return "?" + std::to_string(j + 1); }) +
                                              "version=version+1 WHERE dev_eui=?1 AND version=?" + std::to_string(columns::meter_count + 1);
            stmt s = prepare(m.version == 0 ? upsert.c_str() : update.c_str());
            s.borrowing();
            columns::bind_meter(s, m);
            s.bind(columns::meter_count + 1, m.version);
            s.run();
            if (sqlite3_changes(h_.db) != 1) return conflict(); // another writer changed the meter: tx rolls back
        }
        t.commit();
        for (const auto& u : updates) {
            if (u.applied) rows_.updated(u.row, u.event, u.new_queue_item);
            else rows_.forget(u.row.id); // a claim another writer had moved
        }
        for (const auto& m : meters) rows_.wrote_meter(m, m.version + 1);
        return true;
    }

    void append_event(audit_event e) override {
        std::lock_guard lock(mu_);
        tx t(*this);
        {
            stmt s = prepare("SELECT version FROM commands WHERE id = ?");
            s.bind(1, e.command_id);
            if (!s.step()) throw store_error("no command " + std::to_string(e.command_id) + " to add an audit event to");
            e.sequence = s.i64(0) + 1;
        }
        {
            // A note is a write too: writers holding the old version re-read (and the sequence stays the version).
            stmt s = prepare("UPDATE commands SET version = ? WHERE id = ?");
            s.bind(1, e.sequence).bind(2, e.command_id);
            s.run();
        }
        put_event(e);
        t.commit();
        rows_.noted(e);
    }

    std::optional<command_row> get(std::int64_t id) const override {
        static const std::string q = select_commands("WHERE id = ?");
        std::lock_guard lock(mu_);
        if (cached())
            if (const auto* r = rows_.get(id)) return *r;
        auto r = one(q.c_str(), [&](stmt& s) { s.bind(1, id); });
        if (r && cached()) rows_.read(*r);
        return r;
    }
    std::optional<command_row> by_idempotency_key(std::string_view key) const override {
        static const std::string q = select_commands("WHERE idempotency_key = ?");
        return one(q.c_str(), [&](stmt& s) { s.bind(1, key); });
    }
    std::optional<command_row> by_queue_item(std::string_view item) const override {
        static const std::string q = select_commands("WHERE id = (SELECT command_id FROM queue_items WHERE queue_item_id = ?)");
        std::lock_guard lock(mu_);
        if (cached())
            if (const auto* r = rows_.by_queue_item(item)) return *r;
        auto r = one(q.c_str(), [&](stmt& s) { s.bind(1, item); });
        if (r && cached()) rows_.read_queue_item(item, *r);
        return r;
    }
    std::vector<command_row> open(std::string_view dev_eui, std::size_t limit) const override {
        if (dev_eui.empty()) {
            static const std::string all = select_commands("WHERE still_open = 1 AND is_open = 1 ORDER BY id LIMIT ?");
            return many(all.c_str(), [&](stmt& s) { s.bind(1, static_cast<std::int64_t>(limit)); });
        }
        static const std::string q = select_commands("WHERE dev_eui = ? AND still_open = 1 AND is_open = 1 ORDER BY id LIMIT ?");
        std::lock_guard lock(mu_);
        if (cached()) {
            if (auto r = rows_.open(dev_eui, limit)) return std::move(*r);
            // The index alone says which (no row read); their rows may all be kept. A finished command that
            // a writer left in the index (see migration 7) makes the query below answer, which reads is_open.
            static const char* ids_q = "SELECT id FROM commands WHERE dev_eui = ? AND still_open = 1 ORDER BY id LIMIT ?";
            auto ids = rows(ids_q, [&](stmt& s) { s.bind(1, dev_eui).bind(2, static_cast<std::int64_t>(limit)); },
                            [](const stmt& s) { return s.i64(0); });
            auto r = rows_.rows_of(ids);
            if (r && std::none_of(r->begin(), r->end(), [](const command_row& c) { return command::is_terminal(c.rec.current); })) {
                if (ids.size() < limit) rows_.read_open_ids(dev_eui, std::move(ids));
                return std::move(*r);
            }
        }
        auto r = many(q.c_str(), [&](stmt& s) { s.bind(1, dev_eui).bind(2, static_cast<std::int64_t>(limit)); });
        if (cached() && r.size() < limit) rows_.read_open(dev_eui, r); // all of them
        return r;
    }
    std::vector<command_row> in_state(state st, std::size_t limit) const override {
        static const std::string q = select_commands("WHERE still_open = 1 AND is_open = 1 AND state = ? ORDER BY id LIMIT ?");
        return many(q.c_str(), [&](stmt& s) { s.bind(1, command::to_string(st)).bind(2, static_cast<std::int64_t>(limit)); });
    }
    std::vector<command_row> due(sys_time now, std::size_t limit) const override {
        static const std::string q = select_commands("WHERE still_open = 1 AND is_open = 1 AND timer_at IS NOT NULL AND timer_at <= ? "
                                                     "ORDER BY priority, id LIMIT ?");
        return many(q.c_str(), [&](stmt& s) { s.bind(1, ns(now)).bind(2, static_cast<std::int64_t>(limit)); });
    }
    std::vector<command_row> history(std::string_view dev_eui, std::size_t limit) const override {
        static const std::string q = select_commands("WHERE dev_eui = ? ORDER BY id DESC LIMIT ?");
        return many(q.c_str(), [&](stmt& s) { s.bind(1, dev_eui).bind(2, static_cast<std::int64_t>(limit)); });
    }
    std::vector<audit_event> events(std::int64_t id) const override {
        static const std::string q = std::string("SELECT ") + columns::event_list + " FROM command_events WHERE command_id = ? ORDER BY sequence";
        return rows(q.c_str(),
                    [&](stmt& s) { s.bind(1, id); }, read_event<stmt>);
    }
    std::optional<audit_event> latest_claim(std::int64_t id) const override {
        static const std::string q = columns::select_latest_claim("?");
        std::lock_guard lock(mu_);
        if (cached())
            if (const auto* c = rows_.latest_claim(id)) return *c;
        auto v = rows(q.c_str(), [&](stmt& s) { s.bind(1, id); }, read_event<stmt>);
        std::optional<audit_event> claim;
        if (!v.empty()) claim = std::move(v.front());
        if (cached()) rows_.read_latest_claim(id, claim);
        return claim;
    }
    std::map<state, std::size_t> counts() const override {
        std::lock_guard lock(mu_);
        stmt s = prepare("SELECT state, count(*) FROM commands GROUP BY state");
        std::map<state, std::size_t> out;
        while (s.step()) out[state_of(s.text(0), 0)] = static_cast<std::size_t>(s.i64(1));
        return out;
    }
    std::optional<meter_row> meter(std::string_view dev_eui) const override {
        std::lock_guard lock(mu_);
        if (cached())
            if (const auto* m = rows_.meter(dev_eui)) return *m;
        auto v = meters_where([] { static const std::string q = meter_select("WHERE dev_eui = ?"); return q.c_str(); }(), [&](stmt& s) { s.bind(1, dev_eui); });
        if (v.empty()) return std::nullopt;
        if (cached()) rows_.read_meter(v.front());
        return std::move(v.front());
    }
    std::vector<meter_row> meters(std::optional<relay_state> only) const override {
        if (!only) return meters_where([] { static const std::string q = meter_select("ORDER BY dev_eui"); return q.c_str(); }(), [](stmt&) {});
        return meters_where([] { static const std::string q = meter_select("WHERE relay_state = ? ORDER BY dev_eui"); return q.c_str(); }(), [&](stmt& s) { s.bind(1, to_string(*only)); });
    }
    std::vector<meter_row> awaiting_uplink(std::optional<sys_time> sent_before) const override {
        static const std::string q = meter_select("WHERE disconnect_sent_at IS NOT NULL AND disconnect_sent_at <= ?");
        return meters_where(q.c_str(), [&](stmt& s) { s.bind(1, sent_before.value_or(sys_time::max())); });
    }

private:
    /// BEGIN IMMEDIATE … COMMIT, rolled back when not committed (an exception, a version mismatch). In a batch
    /// (begin_batch) the transaction is already open: the write is a savepoint in it, and its commit commits
    /// the batch; not committed, only the write is rolled back.
    class tx {
    public:
        explicit tx(sqlite_store& s) : s_(s), in_batch_(s.batch_open_) {
            s_.prepare(in_batch_ ? "SAVEPOINT relaylink_write" : "BEGIN IMMEDIATE").run();
        }
        void commit() {
            if (in_batch_) {
                s_.prepare("RELEASE relaylink_write").run();
                s_.prepare("COMMIT").run();
                s_.batch_open_ = false;
            } else {
                s_.prepare("COMMIT").run();
            }
            done_ = true;
        }
        ~tx() {
            if (done_) return;
            if (in_batch_) {
                sqlite3_exec(s_.h_.db, "ROLLBACK TO relaylink_write", nullptr, nullptr, nullptr);
                sqlite3_exec(s_.h_.db, "RELEASE relaylink_write", nullptr, nullptr, nullptr);
            } else {
                sqlite3_exec(s_.h_.db, "ROLLBACK", nullptr, nullptr, nullptr);
            }
        }

    private:
        sqlite_store& s_;
        bool in_batch_;
        bool done_ = false;
    };

    /// A batch: the store's lock held by its thread from the start, and the write transaction open.
    class batch final : public batch_scope {
    public:
        explicit batch(sqlite_store& s) : s_(s), lock_(s.mu_) {
            if (s_.batch_open_) { // a batch inside a batch: joins it
                nested_ = true;
                return;
            }
            s_.prepare("BEGIN IMMEDIATE").run();
            s_.rows_.check(s_.data_version()); // under the write lock: no other commit until the batch ends
            s_.batch_open_ = true;
        }
        ~batch() override {
            if (nested_ || !s_.batch_open_) return; // committed by its write
            sqlite3_exec(s_.h_.db, "ROLLBACK", nullptr, nullptr, nullptr);
            s_.batch_open_ = false;
        }

    private:
        sqlite_store& s_;
        std::unique_lock<std::recursive_mutex> lock_;
        bool nested_ = false;
    };

public:
    std::unique_ptr<batch_scope> begin_batch() override { return std::make_unique<batch>(*this); }

private:

    /// `sql` must be a string literal, a static string or a member: the cache is keyed by its address.
    /// relaylink's names in it get the table prefix (`own`; the portal's statements are run as written).
    stmt prepare(const char* sql, bool own = true) const {
        auto it = cache_.find(sql);
        if (it == cache_.end()) {
            sqlite3_stmt* s = nullptr;
            const std::string text = own ? with_prefix(sql, prefix_) : std::string(sql);
            if (sqlite3_prepare_v3(h_.db, text.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
                h_.fail("preparing a statement");
            it = cache_.emplace(sql, s).first;
        }
        return stmt(h_, it->second);
    }

    template <class Bind>
    std::optional<command_row> one(const char* sql, Bind&& bind) const {
        std::lock_guard lock(mu_);
        stmt s = prepare(sql);
        bind(s);
        if (!s.step()) return std::nullopt;
        return read_command(s);
    }
    /// Every row `sql` yields (after `bind`), each turned into a value by `read`.
    template <class Bind, class Read>
    auto rows(const char* sql, Bind&& bind, Read read) const -> std::vector<std::invoke_result_t<Read, const stmt&>> {
        std::lock_guard lock(mu_);
        stmt s = prepare(sql);
        bind(s);
        std::vector<std::invoke_result_t<Read, const stmt&>> out;
        while (s.step()) out.push_back(read(s));
        return out;
    }
    template <class Bind>
    std::vector<command_row> many(const char* sql, Bind&& bind) const {
        return rows(sql, std::forward<Bind>(bind), read_command<stmt>);
    }
    template <class Bind>
    std::vector<meter_row> meters_where(const char* sql, Bind&& bind) const {
        return rows(sql, std::forward<Bind>(bind), read_meter<stmt>);
    }


    void put_event(const audit_event& e) {
        static const std::string q = std::string("INSERT INTO command_events (") + columns::event_list + ") VALUES (?,?,?,?,?,?,?,?)";
        stmt s = prepare(q.c_str());
        s.borrowing(); // `e` outlives the step
        columns::bind_event(s, e);
        s.run();
    }
    void note_queue_item(const command_row& c) {
        if (c.rec.queue_item_id.empty()) return;
        // The newest owner wins (a simulator restarted with the same seed reuses ids); no write when unchanged.
        stmt s = prepare("INSERT INTO queue_items (queue_item_id, command_id) VALUES (?, ?) ON CONFLICT (queue_item_id) "
                         "DO UPDATE SET command_id = excluded.command_id WHERE command_id != excluded.command_id");
        s.bind(1, c.rec.queue_item_id).bind(2, c.id);
        s.run();
    }

    /// A new file (rollback journal) becomes WAL under an exclusive lock. The pragma holds a read lock
    /// while it asks for that one, and SQLite answers "locked" at once rather than call the busy handler
    /// (waiting could deadlock with a writer that waits for our read lock to go), so several processes
    /// opening a new file together, or a writer holding the file in rollback mode, make it fail on the
    /// first try. The statement ends (its read lock goes) and is tried again until `patience` is spent.
    void switch_to_wal(std::chrono::milliseconds patience) {
        const auto deadline = std::chrono::steady_clock::now() + patience;
        auto pause = std::chrono::milliseconds(1);
        for (;;) {
            std::string m;
            const int rc = h_.try_exec("PRAGMA journal_mode=WAL", m);
            if (rc == SQLITE_OK) return;
            if ((rc & 0xff) != SQLITE_BUSY)
                // A file that is not a database fails here, with SQLite's "file is not a database".
                throw store_error("SQLite store " + h_.path + ": cannot switch to WAL (is it a SQLite database?): " + m);
            if (std::chrono::steady_clock::now() >= deadline)
                throw store_error("SQLite store " + h_.path + ": cannot switch to WAL: another connection held the file for " +
                                  std::to_string(patience.count()) + " ms (busy_timeout); " + m);
            std::this_thread::sleep_for(pause);
            pause = std::min(pause * 2, std::chrono::milliseconds(20));
        }
    }

    /// One transaction for the whole check-and-migrate (BEGIN IMMEDIATE takes the write lock first), so
    /// processes opening a new file at the same moment migrate it once, one after the other.
    void migrate() {
        tx t(*this);
        h_.exec(with_prefix("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL, "
                            "description TEXT NOT NULL)", prefix_).c_str(),
                "cannot create schema_migrations");
        int current = 0;
        {
            stmt s = prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
            s.step();
            current = static_cast<int>(s.i64(0));
        }
        if (current > sqlite_schema_version())
            throw store_error("SQLite store " + h_.path + ": the database has schema version " + std::to_string(current) +
                              ", newer than this relaylink understands (" + std::to_string(sqlite_schema_version()) +
                              "); upgrade relaylink or use another file");
        for (const auto& m : migrations) {
            if (m.version <= current) continue;
            h_.exec(with_prefix(m.sql, prefix_).c_str(), ("migration " + std::to_string(m.version) + " (" + m.description + ") failed").c_str());
            stmt s = prepare("INSERT INTO schema_migrations (version, applied_at, description) VALUES (?, ?, ?)");
            s.bind(1, m.version).bind(2, ns(std::chrono::system_clock::now())).bind(3, std::string_view(m.description));
            s.run();
        }
        t.commit();
    }

    /// The portal's table: its columns checked, its two statements built (SQLAlchemy's DateTime text).
    void open_portal(const portal_table& t) {
        if (auto why = sqlite_version::portal_problem(sqlite3_libversion_number())) throw store_error("SQLite store " + h_.path + ": " + *why);
        portal_rows::layout l(t, "", [](int) { return std::string("?"); });
        std::set<std::string> have;
        {
            stmt s = prepare("SELECT name FROM pragma_table_info(?)", false);
            s.bind(1, std::string_view(l.name()));
            while (s.step()) have.insert(s.text(0));
        }
        l.check(have, h_.path);
        portal_ = std::make_unique<portal_rows::layout>(std::move(l));
    }
    void insert_portal_row(command_row& c) {
        try {
            stmt s = prepare(portal_->insert().c_str(), false);
            portal_rows::bind_all(s, portal_->insert_values(c, false));
            if (!s.step()) h_.fail("the portal table " + portal_->quoted() + " returned no id for the new row");
            c.portal_row_id = s.i64(0);
            while (s.step()) {
            }
        } catch (const store_error& e) { // its constraints refused the row: the command is not written either
            throw store_error("the portal's table " + portal_->quoted() + " refused the command's row (meter id " +
                              std::to_string(c.portal_meter_id.value_or(0)) + "), so the command was not stored: " + e.what());
        }
        stmt u = prepare("UPDATE commands SET portal_row_id = ? WHERE id = ?");
        u.bind(1, c.portal_row_id).bind(2, c.id);
        u.run();
    }
    /// A row the portal deleted is not written again (the portal may prune its table).
    void update_portal_row(const command_row& c) {
        stmt s = prepare(portal_->update().c_str(), false);
        portal_rows::bind_all(s, portal_->update_values(c, false));
        s.run();
    }

    /// A write refused at a version: what was kept may be behind the file (the caller reads again).
    bool conflict() {
        rows_.clear();
        return false;
    }
    /// PRAGMA data_version: changes when another connection (any process) commits to the file.
    std::int64_t data_version() const {
        stmt s = prepare("PRAGMA data_version", false);
        if (!s.step()) h_.fail("reading the data version");
        return s.i64(0);
    }
    /// Whether reads may be answered from rows_: inside a batch, whose start checked the data version.
    bool cached() const { return batch_open_ && rows_.enabled(); }

    std::string prefix_;
    mutable row_cache rows_;
    std::unique_ptr<portal_rows::layout> portal_;
    mutable db_handle h_;
    mutable std::recursive_mutex mu_; ///< recursive: a batch holds it across its thread's reads and write
    bool batch_open_ = false;          ///< a batch's transaction is open (only its thread, holding mu_, sees it)
    /// Prepared statements, finalised before the connection closes — also when the constructor throws
    /// (a newer schema): member destructors run in reverse order, and this one is declared after h_.
    struct statement_cache : std::unordered_map<const char*, sqlite3_stmt*> {
        statement_cache() = default;
        statement_cache(const statement_cache&) = delete;
        statement_cache& operator=(const statement_cache&) = delete;
        ~statement_cache() {
            for (auto& [sql, s] : *this) sqlite3_finalize(s);
        }
    };
    mutable statement_cache cache_;
};

} // namespace

std::unique_ptr<store> open_sqlite(const std::string& path, sqlite_options opt) {
    return std::make_unique<sqlite_store>(path, opt);
}

int sqlite_schema_version() { return std::end(migrations)[-1].version; }
int schema_version() { return sqlite_schema_version(); }

} // namespace relaylink::store
