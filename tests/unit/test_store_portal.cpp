// relaylink's store beside the portal's own tables (issue 19, point 5): a table prefix so a SQLite file
// the portal owns (it has `meters`) takes relaylink's tables too; SQLAlchemy's URLs; and the portal's
// `device_commands` rows written in the transaction of each command's creation and transition, with the
// portal's own CHECK and foreign-key constraints holding — on SQLite and on PostgreSQL.
#include <relaylink/store/store.hpp>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "../support/postgres.hpp"
#include "../support/store_error_of.hpp"
#include "../support/temp_db.hpp"

#include <gtest/gtest.h>

#include <functional>

using namespace relaylink;
using namespace relaylink::store;
using command::state;
using namespace std::chrono_literals;

namespace {

const sys_time t0 = parse_rfc3339("2026-07-18T09:00:00Z").value();

// The portal's tables as its models declare them (app/models/meter.py, device_command.py), trimmed to
// the columns that matter here; in SQLite's dialect, as SQLAlchemy creates them.
const char* portal_sqlite_ddl = R"sql(
CREATE TABLE users (id INTEGER PRIMARY KEY, username VARCHAR(80) NOT NULL);
CREATE TABLE meters (id INTEGER PRIMARY KEY, serial_number VARCHAR(50) NOT NULL, device_eui VARCHAR(16),
                     lorawan_device_type VARCHAR(50));
CREATE TABLE device_commands (
  id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  meter_id INTEGER NOT NULL REFERENCES meters (id),
  device_eui VARCHAR(16) NOT NULL,
  command_type VARCHAR(50) NOT NULL,
  command_data TEXT,
  status VARCHAR(20) NOT NULL,
  priority INTEGER NOT NULL,
  scheduled_at DATETIME, sent_at DATETIME, completed_at DATETIME,
  error_message TEXT,
  retry_count INTEGER NOT NULL,
  max_retries INTEGER NOT NULL,
  created_by INTEGER REFERENCES users (id),
  created_at DATETIME NOT NULL,
  CONSTRAINT ck_device_commands_type CHECK (command_type IN ('switch_on','switch_off','update_credit','read_meter','reset_meter','update_config')),
  CONSTRAINT ck_device_commands_status CHECK (status IN ('pending','queued','sent','completed','failed','cancelled')),
  CONSTRAINT ck_device_commands_priority CHECK (priority >= 1 AND priority <= 10)
);
INSERT INTO users (id, username) VALUES (7, 'alice');
INSERT INTO meters (id, serial_number, device_eui, lorawan_device_type) VALUES (42, 'SDM-0042', '0101010101010101', 'eastron_sdm');
)sql";

command_row sample(std::optional<std::int64_t> meter_id = 42, command_kind kind = command_kind::relay_off) {
    command_row c;
    c.dev_eui = "0101010101010101";
    c.profile = "eastron_sdm320c";
    c.meter_ref = "42";
    c.kind = kind;
    c.payload = {0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xcd, 0xca};
    c.f_port = 5;
    c.priority = 2;
    c.created_by = "alice";
    c.reason = "arrears \"90 days\"";
    c.created_at = c.updated_at = t0;
    c.timer_at = t0;
    c.portal_meter_id = meter_id;
    c.portal_user_id = 7;
    return c;
}

audit_event created() { return {0, 0, t0, std::nullopt, state::pending, "relay_off requested", "alice", ""}; }

update move(command_row c, state to, sys_time at) {
    const state from = c.rec.current;
    c.rec.current = to;
    c.updated_at = at;
    return {c, {c.id, 0, at, from, to, "test", "relaylink", ""}};
}

/// The portal's row as text, column by column (NULL as "NULL"), read by the portal's own connection.
using row_text = std::map<std::string, std::string>;

row_text sqlite_row(const std::string& path, std::int64_t id) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT * FROM device_commands WHERE id = ?", -1, &s, nullptr);
    sqlite3_bind_int64(s, 1, id);
    row_text out;
    if (sqlite3_step(s) == SQLITE_ROW)
        for (int i = 0; i < sqlite3_column_count(s); ++i) {
            const auto* v = sqlite3_column_text(s, i);
            out[sqlite3_column_name(s, i)] = v ? reinterpret_cast<const char*>(v) : "NULL";
        }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

std::string sqlite_value(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_stmt* s = nullptr;
    std::string out = "(error)";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK) {
        out = "";
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

void sqlite_run(const std::string& path, const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* msg = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
    const std::string m = msg ? msg : "";
    sqlite3_free(msg);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << m;
}

const auto error_of = relaylink::test::store_error_of;

sqlite_options beside_portal() {
    sqlite_options o;
    o.table_prefix = "relaylink_";
    o.portal = portal_table{};
    return o;
}

/// The lifecycle the portal's page shows, checked against `read(row id)` after each write.
void follow_lifecycle(relaylink::store::store& db, const std::function<row_text(std::int64_t)>& read, const std::string& created_at) {
    auto c = sample();
    ASSERT_TRUE(db.insert(c, created()));
    ASSERT_GT(c.portal_row_id, 0);
    row_text r = read(c.portal_row_id);
    EXPECT_EQ(r["status"], "pending");
    EXPECT_EQ(r["command_type"], "switch_off");
    EXPECT_EQ(r["meter_id"], "42");
    EXPECT_EQ(r["device_eui"], "0101010101010101");
    EXPECT_EQ(r["priority"], "2");
    EXPECT_EQ(r["created_by"], "7");
    EXPECT_EQ(r["retry_count"], "0");
    EXPECT_EQ(r["max_retries"], "3");
    EXPECT_EQ(r["sent_at"], "NULL");
    EXPECT_EQ(r["created_at"], created_at);
    EXPECT_NE(r["command_data"].find("\"relaylink_command_id\": " + std::to_string(c.id)), std::string::npos) << r["command_data"];
    EXPECT_NE(r["command_data"].find(R"("reason": "arrears \"90 days\"")"), std::string::npos) << r["command_data"];
    EXPECT_EQ(db.get(c.id)->portal_row_id, c.portal_row_id);
    EXPECT_EQ(db.get(c.id)->portal_meter_id, 42);
    EXPECT_EQ(db.get(c.id)->portal_user_id, 7);

    // queued → sent → confirmed: status, sent_at and completed_at follow, each in the transition's transaction.
    std::vector<update> u{move(*db.get(c.id), state::queued, t0 + 1s)};
    ASSERT_TRUE(db.write(u));
    EXPECT_EQ(read(c.portal_row_id)["status"], "queued");
    auto sent = move(u[0].row, state::sent, t0 + 2s);
    sent.row.rec.sent_at = t0 + 2s;
    sent.row.rec.retry_count = 1;
    u = {sent};
    ASSERT_TRUE(db.write(u));
    r = read(c.portal_row_id);
    EXPECT_EQ(r["status"], "sent");
    EXPECT_EQ(r["retry_count"], "1");
    EXPECT_EQ(r["sent_at"].substr(0, 19), "2026-07-18 09:00:02");
    EXPECT_EQ(r["completed_at"], "NULL");

    // A write that loses its race (an old version) changes neither relaylink's command nor the portal's row.
    auto stale = move(sent.row, state::failed, t0 + 3s);
    stale.row.version -= 1;
    stale.row.rec.error = "should not appear";
    std::vector<update> lost{stale};
    EXPECT_FALSE(db.write(lost));
    EXPECT_EQ(read(c.portal_row_id)["status"], "sent");
    EXPECT_EQ(read(c.portal_row_id)["error_message"], "NULL");

    auto done = move(u[0].row, state::confirmed, t0 + 4s);
    done.row.rec.completed_at = t0 + 4s;
    u = {done};
    ASSERT_TRUE(db.write(u));
    r = read(c.portal_row_id);
    EXPECT_EQ(r["status"], "completed");
    EXPECT_EQ(r["completed_at"].substr(0, 19), "2026-07-18 09:00:04");

    // A failure keeps its error where the portal looks for it.
    auto f = sample();
    ASSERT_TRUE(db.insert(f, created()));
    auto failed = move(*db.get(f.id), state::failed, t0 + 5s);
    failed.row.rec.error = "ChirpStack refused the item: 404";
    failed.row.rec.completed_at = t0 + 5s;
    u = {failed};
    ASSERT_TRUE(db.write(u));
    EXPECT_EQ(read(f.portal_row_id)["status"], "failed");
    EXPECT_EQ(read(f.portal_row_id)["error_message"], "ChirpStack refused the item: 404");

    // Not every command has a row: one without the portal's meter id, and a raw frame (no command_type for it).
    auto none = sample(std::nullopt);
    ASSERT_TRUE(db.insert(none, created()));
    EXPECT_EQ(none.portal_row_id, 0);
    auto raw = sample(42, command_kind::raw);
    ASSERT_TRUE(db.insert(raw, created()));
    EXPECT_EQ(raw.portal_row_id, 0);
    auto read_cmd = sample(42, command_kind::read);
    ASSERT_TRUE(db.insert(read_cmd, created()));
    EXPECT_EQ(read(read_cmd.portal_row_id)["command_type"], "read_meter");

    // A row the portal's constraints refuse (no meter 999) refuses the command: nothing is written.
    const auto before = db.counts();
    auto orphan = sample(999);
    orphan.idempotency_key = "orphan";
    const std::string e = error_of([&] { db.insert(orphan, created()); });
    EXPECT_NE(e.find("refused the command's row (meter id 999), so the command was not stored"), std::string::npos) << e;
    EXPECT_FALSE(db.by_idempotency_key("orphan").has_value());
    EXPECT_EQ(db.counts(), before);
    // A priority outside the portal's CHECK (relaylink's own CHECK refuses it first, as it should).
    auto bad = sample();
    bad.priority = 11;
    EXPECT_NE(error_of([&] { db.insert(bad, created()); }), "(no error)");
}

} // namespace

TEST(PortalStore, SqliteKeepsThePortalsRowsInStepInOneTransaction) {
    test::temp_db file("portal-rows");
    sqlite_run(file.path(), portal_sqlite_ddl);
    auto db = open_sqlite(file.path(), beside_portal());
    follow_lifecycle(*db, [&](std::int64_t id) { return sqlite_row(file.path(), id); }, "2026-07-18 09:00:00.000000");
    // relaylink's tables carry the prefix; the portal's meters are untouched.
    EXPECT_EQ(sqlite_value(file.path(), "SELECT count(*) FROM meters"), "1");
    EXPECT_EQ(sqlite_value(file.path(), "SELECT count(*) FROM relaylink_commands"), "5"); // the refused ones left nothing
    EXPECT_EQ(sqlite_value(file.path(), "SELECT max(version) FROM relaylink_schema_migrations"), std::to_string(schema_version()));
    EXPECT_EQ(sqlite_value(file.path(), "SELECT count(*) FROM sqlite_master WHERE name = 'commands'"), "0");
    db.reset();
    // Reopened: the same tables, the rows still linked.
    db = open_sqlite(file.path(), beside_portal());
    EXPECT_EQ(db->get(1)->portal_row_id, 1);
}

TEST(PortalStore, SqliteRefusesThePortalsFileWithoutAPrefixAndBadPortalSettingsWithWhatToDo) {
    test::temp_db file("portal-bad");
    sqlite_run(file.path(), portal_sqlite_ddl);
    std::string e = error_of([&] { open_sqlite(file.path()); });
    EXPECT_NE(e.find("table meters already exists"), std::string::npos) << e;

    sqlite_options o = beside_portal();
    o.table_prefix = "relay-link";
    e = error_of([&] { open_sqlite(file.path(), o); });
    EXPECT_NE(e.find("table_prefix 'relay-link' must be letters, digits and _"), std::string::npos) << e;

    o = beside_portal();
    o.portal->table = "device_command";
    e = error_of([&] { open_sqlite(file.path(), o); });
    EXPECT_NE(e.find("portal table \"device_command\" not found in " + file.path()), std::string::npos) << e;

    o = beside_portal();
    o.portal->columns = {{"error_message", "error_text"}};
    e = error_of([&] { open_sqlite(file.path(), o); });
    EXPECT_NE(e.find("has no column 'error_text' (its columns: command_data, command_type"), std::string::npos) << e;
    EXPECT_NE(e.find("map it with portal_table.columns={'error_message': '<its column>'} or leave it out with ''"), std::string::npos) << e;

    o.portal->columns = {{"status", ""}};
    e = error_of([&] { open_sqlite(file.path(), o); });
    EXPECT_NE(e.find("column 'status' cannot be left out"), std::string::npos) << e;
    o.portal->columns = {{"state", "status"}};
    e = error_of([&] { open_sqlite(file.path(), o); });
    EXPECT_NE(e.find("unknown column key 'state' (keys: id, meter_id"), std::string::npos) << e;
    o.portal->columns = {{"status", "status; DROP TABLE meters"}};
    e = error_of([&] { open_sqlite(file.path(), o); });
    EXPECT_NE(e.find("is not a plain name"), std::string::npos) << e;

    // An optional column the portal lacks is left out with "".
    sqlite_run(file.path(), "CREATE TABLE slim_commands (id INTEGER PRIMARY KEY, meter_id INTEGER NOT NULL, device_eui TEXT NOT NULL, "
                            "command_type TEXT NOT NULL, state TEXT NOT NULL, created_at DATETIME NOT NULL)");
    o = beside_portal();
    o.portal->table = "slim_commands";
    o.portal->columns = {{"status", "state"}};
    for (const char* k : {"command_data", "priority", "scheduled_at", "sent_at", "completed_at", "error_message", "retry_count",
                          "max_retries", "created_by"})
        o.portal->columns[k] = "";
    auto db = open_sqlite(file.path(), o);
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));
    EXPECT_EQ(sqlite_value(file.path(), "SELECT state || ' ' || command_type FROM slim_commands WHERE id = " + std::to_string(c.portal_row_id)),
              "pending switch_off");
}

TEST(PortalStore, SqlalchemyUrlsOpenTheirStores) {
    test::temp_db file("portal-url");
    {
        auto db = open_url("sqlite:///" + file.path()); // sqlite:/// + an absolute path = sqlite:////tmp/…
        auto c = sample(std::nullopt);
        ASSERT_TRUE(db->insert(c, created()));
    }
    EXPECT_EQ(sqlite_value(file.path(), "SELECT count(*) FROM commands"), "1");
    {
        auto db = open_url("sqlite:///" + file.path() + "?timeout=20");
        EXPECT_TRUE(db->get(1).has_value());
    }
    EXPECT_TRUE(open_url("sqlite://")->counts().empty());
    std::string e = error_of([] { open_url("sqlite://host/x.db"); });
    EXPECT_NE(e.find("sqlite:///relative/path.db or sqlite:////absolute/path.db"), std::string::npos) << e;
    sqlite_options lite;
    lite.portal = portal_table{};
    e = error_of([&] { open_url(":memory:", {}, lite); });
    EXPECT_NE(e.find("needs a SQLite file or PostgreSQL"), std::string::npos) << e;
    e = error_of([] { open_url("postgresql+psycopg2:/nohost"); });
    EXPECT_NE(e.find("is not a database URL"), std::string::npos) << e;
}

namespace {
std::string pg_run(PGconn* c, const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    const auto st = PQresultStatus(r);
    std::string m = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? "" : PQresultErrorMessage(r);
    PQclear(r);
    return m;
}
} // namespace

TEST(PortalStore, PostgresKeepsThePortalsRowsInStepInOneTransaction) {
    RELAYLINK_POSTGRES_OR_SKIP(url);
    const std::string portal = test::fresh_schema("portal");
    PGconn* c = PQconnectdb(url.c_str());
    ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    // The portal's tables as SQLAlchemy creates them on PostgreSQL (SERIAL ids, timestamp without time zone).
    ASSERT_EQ(pg_run(c, "CREATE SCHEMA " + portal + "; SET search_path TO " + portal + R"sql(;
CREATE TABLE users (id SERIAL PRIMARY KEY, username VARCHAR(80) NOT NULL);
CREATE TABLE meters (id SERIAL PRIMARY KEY, serial_number VARCHAR(50) NOT NULL, device_eui VARCHAR(16));
CREATE TABLE device_commands (
  id SERIAL PRIMARY KEY,
  meter_id INTEGER NOT NULL REFERENCES meters (id),
  device_eui VARCHAR(16) NOT NULL,
  command_type VARCHAR(50) NOT NULL,
  command_data TEXT,
  status VARCHAR(20) NOT NULL,
  priority INTEGER NOT NULL,
  scheduled_at TIMESTAMP WITHOUT TIME ZONE, sent_at TIMESTAMP WITHOUT TIME ZONE, completed_at TIMESTAMP WITHOUT TIME ZONE,
  error_message TEXT,
  retry_count INTEGER NOT NULL,
  max_retries INTEGER NOT NULL,
  created_by INTEGER REFERENCES users (id),
  created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
  CONSTRAINT ck_device_commands_type CHECK (command_type IN ('switch_on','switch_off','update_credit','read_meter','reset_meter','update_config')),
  CONSTRAINT ck_device_commands_status CHECK (status IN ('pending','queued','sent','completed','failed','cancelled')),
  CONSTRAINT ck_device_commands_priority CHECK (priority >= 1 AND priority <= 10)
);
INSERT INTO users (id, username) VALUES (7, 'alice');
INSERT INTO meters (id, serial_number, device_eui) VALUES (42, 'SDM-0042', '0101010101010101');
SET TIME ZONE 'UTC';
)sql"),
              "");
    postgres_options o;
    o.schema = test::fresh_schema("beside");
    o.portal = portal_table{portal + ".device_commands", {}};
    auto db = open_postgres(url, o);
    follow_lifecycle(*db, [&](std::int64_t id) {
        PGresult* r = PQexec(c, ("SELECT * FROM device_commands WHERE id = " + std::to_string(id)).c_str());
        row_text out;
        if (PQntuples(r) == 1)
            for (int i = 0; i < PQnfields(r); ++i) out[PQfname(r, i)] = PQgetisnull(r, 0, i) ? "NULL" : PQgetvalue(r, 0, i);
        PQclear(r);
        return out;
    }, "2026-07-18 09:00:00");

    o.schema = test::fresh_schema("beside");
    o.portal = portal_table{"device_commands", {}}; // unqualified: public, where there is none
    std::string e = error_of([&] { open_postgres(url, o); });
    EXPECT_NE(e.find("portal table \"public\".\"device_commands\" not found in"), std::string::npos) << e;
    o.portal = portal_table{portal + ".device_commands", {{"error_message", "error_text"}}};
    e = error_of([&] { open_postgres(url, o); });
    EXPECT_NE(e.find("has no column 'error_text'"), std::string::npos) << e;

    // A schema on the portal's search_path ("$user": the test server's user is relaylink) would shadow its tables.
    o.schema = "relaylink";
    o.portal = portal_table{portal + ".device_commands", {}};
    e = error_of([&] { open_postgres(url, o); });
    EXPECT_NE(e.find("schema 'relaylink' is on the portal's search_path (\"$user\", public, the user being relaylink)"),
              std::string::npos) << e;
    o.schema = test::fresh_schema("beside");

    // SQLAlchemy's URL, as the portal's SQLALCHEMY_DATABASE_URI has it.
    ASSERT_TRUE(url.starts_with("postgresql://"));
    o.portal.reset();
    auto via = open_url("postgresql+psycopg2://" + url.substr(13), o);
    EXPECT_TRUE(via->counts().empty());
    PQfinish(c);
}
