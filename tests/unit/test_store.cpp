// The store contract, for both implementations: atomic transitions with their audit rows,
// optimistic versions, idempotency keys, queue item lookups that survive retries, due ordering,
// meters. Then SQLite's own: migrations, reopening, refusing a newer schema or a non-database
// file, and an audit table that cannot be edited.
#include <relaylink/store/store.hpp>

#include <sqlite3.h>

#include "../support/temp_db.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <atomic>
#include <fstream>
#include <thread>

using namespace relaylink;
using namespace relaylink::store;
using command::state;
using namespace std::chrono_literals;

namespace {

const sys_time t0 = parse_rfc3339("2026-07-18T09:00:00Z").value();

using relaylink::test::temp_db;

command_row sample(const std::string& eui = "0101010101010101", int priority = 5) {
    command_row c;
    c.dev_eui = eui;
    c.profile = "eastron_sdm320c";
    c.meter_ref = "M-7";
    c.kind = command_kind::relay_off;
    c.payload = {0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xcd, 0xca};
    c.f_port = 5;
    c.priority = priority;
    c.created_by = "alice";
    c.reason = "arrears";
    c.created_at = c.updated_at = t0;
    c.timer_at = t0;
    c.rec.deadline = t0 + 24h;
    return c;
}

audit_event created(const std::string& actor = "alice") { return {0, 0, t0, std::nullopt, state::pending, "relay_off requested", actor, ""}; }

update move(command_row c, state to, const std::string& cause) {
    const state from = c.rec.current;
    c.rec.current = to;
    return {c, {c.id, 0, t0 + 1s, from, to, cause, "relaylink", ""}};
}

class StoreContract : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "memory") {
            db = make_memory_store();
        } else {
            file.emplace("store-contract");
            db = open_sqlite(file->path());
        }
    }
    std::optional<temp_db> file; // declared first: removed after the store closes
    std::unique_ptr<store::store> db;
};

} // namespace

TEST_P(StoreContract, InsertAssignsIdsAndTheFirstAuditRow) {
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));
    EXPECT_GT(c.id, 0);
    EXPECT_EQ(c.version, 1);
    const auto back = db->get(c.id).value();
    EXPECT_EQ(back.dev_eui, c.dev_eui);
    EXPECT_EQ(back.payload, c.payload);
    EXPECT_EQ(back.rec.deadline, c.rec.deadline);
    EXPECT_EQ(back.reason, "arrears");
    const auto ev = db->events(c.id);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].sequence, 1);
    EXPECT_FALSE(ev[0].from);
    EXPECT_EQ(ev[0].actor, "alice");
    EXPECT_FALSE(db->get(c.id + 100));
}

TEST_P(StoreContract, AnIdempotencyKeyIsTakenOnce) {
    auto a = sample();
    a.idempotency_key = "k1";
    ASSERT_TRUE(db->insert(a, created()));
    auto b = sample();
    b.idempotency_key = "k1";
    EXPECT_FALSE(db->insert(b, created()));
    EXPECT_EQ(db->by_idempotency_key("k1")->id, a.id);
    EXPECT_FALSE(db->by_idempotency_key("k2"));
    EXPECT_EQ(db->counts()[state::pending], 1u); // nothing half-written
}

TEST_P(StoreContract, ATransitionAndItsAuditRowCommitTogetherOrNotAtAll) {
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));
    auto u1 = move(c, state::dispatching, "enqueue");
    std::vector<update> one{u1};
    ASSERT_TRUE(db->write(one));
    EXPECT_EQ(one[0].row.version, 2);
    EXPECT_EQ(one[0].event.sequence, 2);
    // A writer that read version 1 loses: nothing of its batch is written, not even a good update.
    auto d = sample("0202020202020202");
    ASSERT_TRUE(db->insert(d, created()));
    std::vector<update> stale{move(d, state::dispatching, "ok"), move(c, state::cancelled, "stale")};
    EXPECT_FALSE(db->write(stale));
    EXPECT_EQ(db->get(d.id)->rec.current, state::pending);
    EXPECT_EQ(db->get(c.id)->rec.current, state::dispatching);
    EXPECT_EQ(db->events(c.id).size(), 2u);
    EXPECT_EQ(db->events(d.id).size(), 1u);
    // The same command twice in one batch: the second carries the first one's new version.
    auto cur = db->get(c.id).value();
    auto q = move(cur, state::queued, "queued");
    q.row.rec.queue_item_id = "qi-1";
    auto second = q.row;
    second.version += 1;
    std::vector<update> twice{q, move(second, state::sent, "txack")};
    ASSERT_TRUE(db->write(twice));
    const auto ev = db->events(c.id);
    ASSERT_EQ(ev.size(), 4u);
    for (std::size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].sequence, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(ev[3].to, state::sent);
}

TEST_P(StoreContract, QueueItemsStayFindableAfterARetry) {
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));
    auto u = move(c, state::queued, "queued");
    u.row.rec.queue_item_id = "first";
    std::vector<update> a{u};
    ASSERT_TRUE(db->write(a));
    auto r = a[0].row;
    auto back = move(r, state::pending, "retry");
    back.row.rec.queue_item_id.clear();
    std::vector<update> b{back};
    ASSERT_TRUE(db->write(b));
    EXPECT_EQ(db->by_queue_item("first")->id, c.id); // a late ack for the old item still finds its command
    EXPECT_FALSE(db->by_queue_item("never"));
}

TEST_P(StoreContract, DueCommandsComeByPriorityThenAge) {
    auto low = sample("0101010101010101", 2);
    auto high = sample("0202020202020202", 9);
    auto later = sample("0303030303030303", 9);
    later.timer_at = t0 + 1h;
    auto done = sample("0404040404040404", 10);
    for (auto* c : {&low, &high, &later, &done}) ASSERT_TRUE(db->insert(*c, created()));
    std::vector<update> fin{move(done, state::cancelled, "x")};
    fin[0].row.timer_at.reset();
    ASSERT_TRUE(db->write(fin));
    const auto due = db->due(t0, 10);
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(due[0].id, high.id);
    EXPECT_EQ(due[1].id, low.id);
    EXPECT_EQ(db->due(t0 + 2h, 10).size(), 3u);
    EXPECT_EQ(db->due(t0 + 2h, 1).size(), 1u);
    EXPECT_EQ(db->open().size(), 3u);
    EXPECT_EQ(db->open("0202020202020202").size(), 1u);
    EXPECT_EQ(db->in_state(state::pending).size(), 3u);
    EXPECT_EQ(db->history("0404040404040404").size(), 1u);
    EXPECT_EQ(db->counts()[state::cancelled], 1u);
}

TEST_P(StoreContract, MetersKeepTheirRelayStateAndSilence) {
    meter_row m;
    m.dev_eui = "0101010101010101";
    m.profile = "eastron_sdm320c";
    m.relay = relay_state::disconnected;
    m.disconnect_sent_at = t0;
    m.updated_at = t0;
    std::vector<meter_row> ms{m};
    ASSERT_TRUE(db->write({}, ms));
    EXPECT_EQ(db->meter(m.dev_eui)->relay, relay_state::disconnected);
    EXPECT_EQ(db->awaiting_uplink().size(), 1u);
    EXPECT_EQ(db->meters(relay_state::disconnected).size(), 1u);
    EXPECT_TRUE(db->meters(relay_state::connected).empty());
    ms[0].disconnect_sent_at.reset();
    ms[0].relay = relay_state::unreachable_after_disconnect;
    ASSERT_TRUE(db->write({}, ms));
    EXPECT_TRUE(db->awaiting_uplink().empty());
    EXPECT_EQ(db->meters().size(), 1u);
}

TEST_P(StoreContract, AppendingToAnUnknownCommandIsAnError) {
    EXPECT_THROW(db->append_event({4242, 0, t0, state::pending, state::pending, "x", "y", ""}), store_error);
}

INSTANTIATE_TEST_SUITE_P(Both, StoreContract, ::testing::Values("memory", "sqlite"));

TEST(SqliteStore, SurvivesReopeningWithEverything) {
    const temp_db file("store-reopen");
    const auto& path = file.path();
    std::int64_t id = 0;
    {
        auto db = open_sqlite(path);
        auto c = sample();
        c.idempotency_key = "k";
        ASSERT_TRUE(db->insert(c, created()));
        id = c.id;
        std::vector<update> u{move(c, state::dispatching, "enqueue")};
        ASSERT_TRUE(db->write(u));
    }
    auto db = open_sqlite(path);
    EXPECT_EQ(db->get(id)->rec.current, state::dispatching);
    EXPECT_EQ(db->by_idempotency_key("k")->id, id);
    EXPECT_EQ(db->events(id).size(), 2u);
    EXPECT_EQ(sqlite_schema_version(), 1);
}

TEST(SqliteStore, RefusesANewerSchemaAndNonDatabasesWithTheirNames) {
    const temp_db file("store-newer");
    const auto& path = file.path();
    { open_sqlite(path); }
    {
        sqlite3* raw = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(raw, "INSERT INTO schema_migrations VALUES (99, 0, 'from the future')", nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(raw);
    }
    try {
        open_sqlite(path);
        FAIL() << "opened a database from a newer relaylink";
    } catch (const store_error& e) {
        EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    const temp_db junk_file("store-junk");
    const auto& junk = junk_file.path();
    std::ofstream(junk) << "this is not a database, it is a shopping list: bread, milk, eggs, more bread, and cheese";
    try {
        open_sqlite(junk);
        FAIL() << "opened a text file";
    } catch (const store_error& e) {
        EXPECT_NE(std::string(e.what()).find("not a database"), std::string::npos) << e.what();
    }
    EXPECT_THROW(open_sqlite("/nonexistent-dir/x/y.db"), store_error);
}

TEST(SqliteStore, TheAuditTrailCannotBeEditedOrDeleted) {
    const temp_db file("store-append-only");
    const auto& path = file.path();
    {
        auto db = open_sqlite(path);
        auto c = sample();
        ASSERT_TRUE(db->insert(c, created()));
    }
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    EXPECT_NE(sqlite3_exec(raw, "UPDATE command_events SET actor = 'mallory'", nullptr, nullptr, nullptr), SQLITE_OK);
    EXPECT_NE(std::string(sqlite3_errmsg(raw)).find("append-only"), std::string::npos);
    EXPECT_NE(sqlite3_exec(raw, "DELETE FROM command_events", nullptr, nullptr, nullptr), SQLITE_OK);
    EXPECT_NE(sqlite3_exec(raw, "UPDATE commands SET state = 'bogus'", nullptr, nullptr, nullptr), SQLITE_OK); // CHECK
    sqlite3_close(raw);
}

TEST(SqliteStore, ManyOpeningANewFileAtOnceMigrateItOnce) {
    const temp_db file("store-race");
    const auto& path = file.path();
    std::vector<std::thread> openers;
    std::atomic<int> failures{0};
    for (int i = 0; i < 8; ++i)
        openers.emplace_back([&] {
            try {
                auto db = open_sqlite(path);
                auto c = sample();
                if (!db->insert(c, created())) ++failures;
            } catch (const std::exception& e) {
                ++failures;
                ADD_FAILURE() << e.what();
            }
        });
    for (auto& t : openers) t.join();
    EXPECT_EQ(failures.load(), 0);
    auto db = open_sqlite(path);
    EXPECT_EQ(db->counts()[state::pending], 8u);
}
