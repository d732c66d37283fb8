// The store contract, for both implementations: atomic transitions with their audit rows,
// optimistic versions, idempotency keys, queue item lookups that survive retries, due ordering,
// meters. Then SQLite's own: migrations, reopening, refusing a newer schema or a non-database
// file, and an audit table that cannot be edited.
#include <relaylink/store/store.hpp>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "../../src/store/row_cache.hpp"
#include "../../src/store/sqlite_version.hpp"
#include "../support/certs.hpp"
#include "../support/ports.hpp"
#include "../support/postgres.hpp"
#include "../support/store_error_of.hpp"
#include "../support/tcp_proxy.hpp"
#include "../support/temp_db.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <atomic>
#include <fstream>
#include <functional>
#include <thread>
#include <tuple>

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

/// `n` threads each open a store at the same moment and insert one command: how many failed.
int open_and_insert_at_once(int n, const std::function<std::unique_ptr<relaylink::store::store>()>& open) {
    std::vector<std::thread> openers;
    std::atomic<int> failures{0};
    for (int i = 0; i < n; ++i)
        openers.emplace_back([&] {
            try {
                auto db = open();
                auto c = sample();
                if (!db->insert(c, created())) ++failures;
            } catch (const std::exception& e) {
                ++failures;
                ADD_FAILURE() << e.what();
            }
        });
    for (auto& t : openers) t.join();
    return failures.load();
}

class StoreContract : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "memory") {
            db = make_memory_store();
        } else if (GetParam() == "postgres") {
            RELAYLINK_POSTGRES_OR_SKIP(url);
            postgres_options o;
            o.schema = test::fresh_schema("contract");
            db = open_postgres(url, o);
        } else {
            file.emplace("store-contract");
            db = open_sqlite(file->path());
        }
    }
    std::optional<temp_db> file; // declared first: removed after the store closes
    std::unique_ptr<relaylink::store::store> db;
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

TEST_P(StoreContract, TheLatestClaimIsTheLastRowFromPendingToDispatching) {
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));
    EXPECT_FALSE(db->latest_claim(c.id)); // never claimed
    EXPECT_FALSE(db->latest_claim(c.id + 100));
    // Claimed, back to pending (a retry), claimed again, queued, and a note after it all.
    const std::pair<state, const char*> steps[] = {{state::dispatching, "claim 1"}, {state::pending, "retry"},
                                                   {state::dispatching, "claim 2"}, {state::queued, "queued"}};
    for (const auto& [to, cause] : steps) {
        auto cur = db->get(c.id).value();
        std::vector<update> one{move(cur, to, cause)};
        ASSERT_TRUE(db->write(one));
    }
    db->append_event({c.id, 0, t0 + 2s, state::queued, state::queued, "a note", "alice", ""});
    const auto claim = db->latest_claim(c.id);
    ASSERT_TRUE(claim);
    EXPECT_EQ(claim->cause, "claim 2");
    EXPECT_EQ(claim->sequence, 4);
    EXPECT_EQ(claim->command_id, c.id);
    EXPECT_EQ(claim->actor, "relaylink");
    // The store's own answer and the default one (from the whole trail) agree.
    const auto by_trail = db->relaylink::store::store::latest_claim(c.id);
    ASSERT_TRUE(by_trail);
    EXPECT_EQ(by_trail->sequence, claim->sequence);
    EXPECT_EQ(by_trail->at, claim->at);
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
    auto low = sample("0101010101010101", 9);
    auto high = sample("0202020202020202", 2); // 1 is the highest
    auto later = sample("0303030303030303", 2);
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
    m.uplink_f_cnt = 4294967295u; // the largest frame counter
    m.uplink_time = t0 - 5s;      // ChirpStack's stamp
    std::vector<meter_row> ms{m};
    ASSERT_TRUE(db->write({}, ms));
    EXPECT_EQ(db->meter(m.dev_eui)->relay, relay_state::disconnected);
    EXPECT_EQ(db->meter(m.dev_eui)->uplink_f_cnt, 4294967295u);
    EXPECT_EQ(db->meter(m.dev_eui)->uplink_time, t0 - 5s);
    EXPECT_EQ(db->awaiting_uplink().size(), 1u);
    EXPECT_EQ(db->awaiting_uplink(t0).size(), 1u);
    EXPECT_TRUE(db->awaiting_uplink(t0 - 1s).empty()); // went out after that: not overdue yet
    EXPECT_EQ(db->meters(relay_state::disconnected).size(), 1u);
    EXPECT_TRUE(db->meters(relay_state::connected).empty());
    ms[0] = db->meter(m.dev_eui).value(); // as read: version 1
    EXPECT_EQ(ms[0].version, 1);
    ms[0].disconnect_sent_at.reset();
    ms[0].relay = relay_state::unreachable_after_disconnect;
    ASSERT_TRUE(db->write({}, ms));
    EXPECT_TRUE(db->awaiting_uplink().empty());
    EXPECT_EQ(db->meters().size(), 1u);
}

/// Two processes applying events for one meter: each read the meter, the first to write wins and the
/// second's whole batch (its transition too) is refused, to be decided again from fresh reads.
TEST_P(StoreContract, AMeterIsWrittenOnlyAtTheVersionRead) {
    meter_row m;
    m.dev_eui = "0101010101010101";
    m.profile = "eastron_sdm320c";
    m.updated_at = t0;
    std::vector<meter_row> first{m}, also_new{m};
    also_new[0].note = "written by another process";
    ASSERT_TRUE(db->write({}, first));
    EXPECT_FALSE(db->write({}, also_new)); // both thought it new: the second is refused
    EXPECT_EQ(db->meter(m.dev_eui)->note, "");
    EXPECT_EQ(db->meter(m.dev_eui)->version, 1);

    const meter_row read_by_a = db->meter(m.dev_eui).value(), read_by_b = read_by_a;
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));
    std::vector<meter_row> a{read_by_a};
    a[0].last_uplink = t0 + 10s; // A: an uplink
    ASSERT_TRUE(db->write({}, a));
    std::vector<meter_row> b{read_by_b};
    b[0].relay = relay_state::disconnected; // B: a confirmation, with the last uplink it read
    std::vector<update> moved{move(c, state::dispatching, "with the stale meter")};
    EXPECT_FALSE(db->write(moved, b));
    EXPECT_EQ(db->get(c.id)->rec.current, state::pending); // nothing of B's batch
    EXPECT_EQ(db->events(c.id).size(), 1u);
    auto now = db->meter(m.dev_eui).value();
    EXPECT_EQ(now.last_uplink, t0 + 10s); // A's uplink was not overwritten
    EXPECT_EQ(now.relay, relay_state::unknown);
    EXPECT_EQ(now.version, 2);
    // B decides again from what it reads now.
    now.relay = relay_state::disconnected;
    std::vector<meter_row> again{now};
    std::vector<update> moved_again{move(c, state::dispatching, "decided again")};
    ASSERT_TRUE(db->write(moved_again, again));
    EXPECT_EQ(db->meter(m.dev_eui)->relay, relay_state::disconnected);
    EXPECT_EQ(db->meter(m.dev_eui)->last_uplink, t0 + 10s);
    EXPECT_EQ(db->meter(m.dev_eui)->version, 3);
}

TEST_P(StoreContract, AClaimIsSkippedWhenAnotherWriterMovedTheCommandAndKeepsItsOwnerAndLease) {
    auto c = sample(), d = sample("0202020202020202");
    ASSERT_TRUE(db->insert(c, created()));
    ASSERT_TRUE(db->insert(d, created()));
    std::vector<update> other{move(c, state::cancelled, "another process got there first")};
    ASSERT_TRUE(db->write(other));
    // Both claims read version 1; c has moved on: its claim is skipped, d's is taken, the batch commits.
    std::vector<update> claims{move(c, state::dispatching, "claimed"), move(d, state::dispatching, "claimed")};
    for (auto& u : claims) {
        u.claim = true;
        u.row.claim_owner = "host-a:42";
        u.row.lease_until = t0 + 120s;
    }
    ASSERT_TRUE(db->write(claims));
    EXPECT_FALSE(claims[0].applied);
    EXPECT_TRUE(claims[1].applied);
    EXPECT_EQ(claims[1].row.version, 2);
    EXPECT_EQ(db->get(c.id)->rec.current, state::cancelled);
    EXPECT_EQ(db->events(c.id).size(), 2u); // no audit row for the skipped claim
    const auto held = db->get(d.id).value();
    EXPECT_EQ(held.rec.current, state::dispatching);
    EXPECT_EQ(held.claim_owner, "host-a:42");
    EXPECT_EQ(held.lease_until, t0 + 120s);
    EXPECT_EQ(db->events(d.id).size(), 2u);
    // A stale transition that is not a claim still refuses the whole batch, claims included.
    auto e = sample("0303030303030303");
    ASSERT_TRUE(db->insert(e, created()));
    std::vector<update> mixed{move(e, state::dispatching, "claimed"), move(c, state::failed, "stale")};
    mixed[0].claim = true;
    EXPECT_FALSE(db->write(mixed));
    EXPECT_EQ(db->get(e.id)->rec.current, state::pending);
    // Leaving dispatching clears the owner and the lease.
    auto queued = move(held, state::queued, "queued");
    queued.row.claim_owner.clear();
    queued.row.lease_until.reset();
    std::vector<update> q{queued};
    ASSERT_TRUE(db->write(q));
    EXPECT_EQ(db->get(d.id)->claim_owner, "");
    EXPECT_FALSE(db->get(d.id)->lease_until);
}

TEST_P(StoreContract, AppendingToAnUnknownCommandIsAnError) {
    EXPECT_THROW(db->append_event({4242, 0, t0, state::pending, state::pending, "x", "y", ""}), store_error);
}

// A batch's reads at once (PostgreSQL: one round trip) answer what the single reads answer, key by key:
// queue items old and current, devices with and without open commands or a meter, trails, unknown keys,
// a key asked twice, and text that needs quoting in an array literal.
TEST_P(StoreContract, ABatchsReadsAtOnceAnswerWhatTheSingleReadsAnswer) {
    auto a = sample("0101010101010101");
    auto b = sample("0202020202020202");
    auto done = sample("0303030303030303");
    ASSERT_TRUE(db->insert(a, created()));
    ASSERT_TRUE(db->insert(b, created()));
    ASSERT_TRUE(db->insert(done, created()));
    auto qa = move(a, state::queued, "queued");
    qa.row.rec.queue_item_id = "item \"a\" \\ 1";
    auto qd = move(done, state::cancelled, "cancelled");
    qd.row.rec.queue_item_id = "item-d";
    std::vector<update> ups{qa, qd};
    meter_row m;
    m.dev_eui = "0101010101010101";
    m.meter_ref = "M-7";
    m.profile = "eastron_sdm320c";
    m.updated_at = t0;
    ASSERT_TRUE(db->write(ups, std::vector<meter_row>{m}));
    auto later = ups[0].row;
    auto retry = move(later, state::pending, "retry");
    retry.row.rec.queue_item_id = "item-a2";
    std::vector<update> again{retry};
    ASSERT_TRUE(db->write(again));

    batch_keys k;
    k.queue_items = {"item \"a\" \\ 1", "item-a2", "item-d", "never", "item-a2"};
    k.devices = {"0101010101010101", "0202020202020202", "0303030303030303", "0909090909090909", "0101010101010101"};
    k.trails = {"0101010101010101", "0303030303030303", "0808080808080808"}; // the last was not among the devices
    const auto got = db->read_batch(k);
    const auto want = db->read_each(k);
    EXPECT_EQ(got.items_asked, want.items_asked);
    EXPECT_EQ(got.devices_asked, want.devices_asked);
    EXPECT_EQ(got.trails_asked, want.trails_asked);
    EXPECT_EQ(got.trails_asked.size(), 2u);
    ASSERT_EQ(got.by_queue_item.size(), 3u); // the old item and the new find the same command; "never" nothing
    for (const auto& [q, c] : want.by_queue_item) {
        ASSERT_TRUE(got.by_queue_item.contains(q)) << q;
        EXPECT_EQ(got.by_queue_item.at(q).id, c.id);
        EXPECT_EQ(got.by_queue_item.at(q).version, c.version);
        EXPECT_EQ(got.by_queue_item.at(q).rec.current, c.rec.current);
    }
    ASSERT_EQ(got.open.size(), 4u);
    for (const auto& [d, rows] : want.open) {
        ASSERT_TRUE(got.open.contains(d)) << d;
        ASSERT_EQ(got.open.at(d).size(), rows.size()) << d;
        for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(got.open.at(d)[i].id, rows[i].id);
    }
    EXPECT_TRUE(got.open.at("0303030303030303").empty()); // cancelled: not open
    ASSERT_EQ(got.meters.size(), 1u);
    EXPECT_EQ(got.meters.at("0101010101010101").meter_ref, "M-7");
    EXPECT_EQ(got.meters.at("0101010101010101").version, want.meters.at("0101010101010101").version);
    ASSERT_EQ(got.events.size(), want.events.size());
    for (const auto& [id, evs] : want.events) {
        ASSERT_TRUE(got.events.contains(id));
        ASSERT_EQ(got.events.at(id).size(), evs.size());
        for (std::size_t i = 0; i < evs.size(); ++i) {
            EXPECT_EQ(got.events.at(id)[i].sequence, evs[i].sequence);
            EXPECT_EQ(got.events.at(id)[i].cause, evs[i].cause);
        }
    }
    EXPECT_EQ(got.events.at(a.id).size(), 3u);
    // Nothing asked, nothing read.
    const auto none = db->read_batch({});
    EXPECT_TRUE(none.by_queue_item.empty() && none.open.empty() && none.meters.empty() && none.events.empty());
}

INSTANTIATE_TEST_SUITE_P(All, StoreContract, ::testing::Values("memory", "sqlite", "postgres"));

TEST(SqliteStore, ABatchsReadsAndItsWriteAreOneTransaction) {
    const temp_db file("batch");
    auto db = open_sqlite(file.path());
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));
    {
        // Read, then write what was read: one transaction; another thread's write waits for its end.
        auto scope = db->begin_batch();
        ASSERT_TRUE(scope);
        auto read = db->get(c.id).value();
        std::atomic<bool> other_done{false};
        std::thread other([&] {
            auto o = db->get(c.id).value(); // waits: the batch holds the store
            std::vector<update> u{move(o, state::dispatching, "another writer")};
            db->write(u);
            other_done = true;
        });
        std::this_thread::sleep_for(100ms);
        EXPECT_FALSE(other_done.load()) << "another thread's call waits for the batch";
        std::vector<update> u{move(read, state::dispatching, "the batch's write")};
        EXPECT_TRUE(db->write(u)); // commits the batch
        scope.reset();
        other.join();
        EXPECT_TRUE(other_done.load());
    }
    auto ev = db->events(c.id);
    ASSERT_EQ(ev.size(), 3u) << "the other thread read once the batch had written: it saw the batch's version";
    EXPECT_EQ(ev[1].cause, "the batch's write");
    EXPECT_EQ(ev[2].cause, "another writer");

    // A write refused in a batch (another writer's version) writes nothing, and the batch ends cleanly.
    {
        auto scope = db->begin_batch();
        auto stale = c; // version 1: the store has 3
        std::vector<update> u{move(stale, state::queued, "stale")};
        EXPECT_FALSE(db->write(u));
    }
    EXPECT_EQ(db->events(c.id).size(), 3u);
    // A batch that only reads ends with nothing written; the next writes are their own transactions.
    {
        auto scope = db->begin_batch();
        EXPECT_TRUE(db->get(c.id));
    }
    auto fresh = db->get(c.id).value();
    std::vector<update> u{move(fresh, state::queued, "after the batches")};
    EXPECT_TRUE(db->write(u));
    EXPECT_EQ(db->events(c.id).size(), 4u);
    // The memory store has no batches.
    EXPECT_FALSE(make_memory_store()->begin_batch());
}

/// Every column of two command rows, as the store returns them.
void expect_same_row(const command_row& a, const command_row& b) {
    auto columns = [](const command_row& r) {
        return std::tie(r.id, r.version, r.dev_eui, r.meter_ref, r.profile, r.kind, r.payload, r.rec.current, r.rec.proof,
                        r.rec.queue_item_id, r.rec.f_cnt_down, r.rec.retry_count, r.rec.deadline, r.rec.sent_at, r.rec.error,
                        r.timer_at, r.note, r.updated_at, r.claim_owner, r.lease_until, r.portal_row_id);
    };
    EXPECT_TRUE(columns(a) == columns(b)) << "command " << a.id << " as kept and as SQLite has it";
}

/// One file, two connections: `kept` keeps rows between batches (the default), `plain` keeps none.
struct two_connections {
    explicit two_connections(const std::string& name) : file(name), kept(open_sqlite(file.path())), plain(open_sqlite(file.path(), none())) {}
    static sqlite_options none() {
        sqlite_options o;
        o.row_cache_rows = 0;
        return o;
    }
    temp_db file; // first: removed after the stores close
    std::unique_ptr<relaylink::store::store> kept, plain;
};

/// A batch's reads come from the rows this connection read and wrote while nobody else commits; a commit
/// by another connection (another store, or SQLite used directly, as another process would) is seen by
/// the next batch, and what a batch answers is what a connection without such rows reads.
TEST(SqliteStore, ABatchsRowsKeptBetweenBatchesNeverHideAnotherConnectionsCommit) {
    two_connections t("row-cache");
    auto& a = t.kept;
    auto& b = t.plain;
    auto c = sample();
    c.rec.current = state::queued;
    c.rec.queue_item_id = "q-1";
    ASSERT_TRUE(a->insert(c, created()));
    meter_row m;
    m.dev_eui = c.dev_eui;
    m.relay = relay_state::connected;
    m.updated_at = t0;
    std::vector<meter_row> ms{m};
    ASSERT_TRUE(a->write({}, ms));

    auto in_batch = [](relaylink::store::store& s, auto&& read) {
        auto scope = s.begin_batch();
        return read(s);
    };
    auto by_item = [](relaylink::store::store& s) { return s.by_queue_item("q-1").value(); };
    // This connection's own writes: answered as SQLite answers them.
    {
        auto r = in_batch(*a, by_item);
        expect_same_row(r, b->by_queue_item("q-1").value());
        auto scope = a->begin_batch();
        std::vector<update> u{move(a->by_queue_item("q-1").value(), state::sent, "txack")};
        u[0].row.rec.sent_at = t0 + 1s;
        u[0].row.timer_at = t0 + 30s;
        auto seen = a->meter(m.dev_eui).value();
        seen.disconnect_sent_at = t0 + 1s;
        std::vector<meter_row> ms2{seen};
        ASSERT_TRUE(a->write(u, ms2));
    }
    expect_same_row(in_batch(*a, by_item), b->by_queue_item("q-1").value());
    EXPECT_EQ(in_batch(*a, [&](relaylink::store::store& s) { return s.meter(m.dev_eui).value(); }).version, 2);
    EXPECT_EQ(in_batch(*a, [&](relaylink::store::store& s) { return s.open(c.dev_eui); }).size(), 1u);

    // Another connection moves the command and the meter: the next batch of the first sees it.
    {
        auto other = b->by_queue_item("q-1").value();
        std::vector<update> u{move(other, state::acknowledged, "ack, elsewhere")};
        auto om = b->meter(m.dev_eui).value();
        om.note = "written elsewhere";
        std::vector<meter_row> oms{om};
        ASSERT_TRUE(b->write(u, oms));
    }
    auto after = in_batch(*a, by_item);
    EXPECT_EQ(after.rec.current, state::acknowledged);
    EXPECT_EQ(after.version, 3);
    EXPECT_EQ(in_batch(*a, [&](relaylink::store::store& s) { return s.meter(m.dev_eui).value(); }).note, "written elsewhere");
    EXPECT_EQ(in_batch(*a, [&](relaylink::store::store& s) { return s.open(c.dev_eui); }).at(0).rec.current, state::acknowledged);

    // SQLite used directly (a program of the operators', a restore): seen too.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(t.file.path().c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "UPDATE commands SET note = 'by hand', version = version + 1 WHERE id = 1", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
    auto by_hand = in_batch(*a, [&](relaylink::store::store& s) { return s.get(c.id).value(); });
    EXPECT_EQ(by_hand.note, "by hand");
    EXPECT_EQ(by_hand.version, 4);
    // A write from the first at the old version would be refused; at the version it now reads, it is not.
    {
        auto scope = a->begin_batch();
        std::vector<update> u{move(a->get(c.id).value(), state::confirmed, "reply")};
        ASSERT_TRUE(a->write(u));
    }
    EXPECT_TRUE(in_batch(*a, [&](relaylink::store::store& s) { return s.open(c.dev_eui); }).empty());
    expect_same_row(in_batch(*a, [&](relaylink::store::store& s) { return s.get(c.id).value(); }), b->get(c.id).value());
    EXPECT_EQ(b->events(c.id).size(), 4u); // the change by hand wrote no audit row
}

/// The latest claim (the replay check of every uplink reads it) from kept rows, and another connection's.
TEST(SqliteStore, ALatestClaimKeptIsTheOneSqliteHas) {
    two_connections t("row-cache-claims");
    auto& a = t.kept;
    auto& b = t.plain;
    auto c = sample();
    ASSERT_TRUE(a->insert(c, created()));
    auto claim_of = [](relaylink::store::store& s, std::int64_t id) {
        auto scope = s.begin_batch();
        return s.latest_claim(id);
    };
    EXPECT_FALSE(claim_of(*a, c.id));
    {
        auto scope = a->begin_batch();
        auto u = move(a->get(c.id).value(), state::dispatching, "claimed at uplink fCnt 3");
        std::vector<update> us{u};
        ASSERT_TRUE(a->write(us));
    }
    ASSERT_TRUE(claim_of(*a, c.id));
    EXPECT_EQ(claim_of(*a, c.id)->cause, "claimed at uplink fCnt 3");
    EXPECT_EQ(claim_of(*a, c.id)->sequence, b->latest_claim(c.id)->sequence);
    // Back to pending and claimed again, by the other connection: the first's next batch has the new one.
    {
        std::vector<update> us{move(b->get(c.id).value(), state::pending, "enqueue failed: retried")};
        ASSERT_TRUE(b->write(us));
        std::vector<update> again{move(b->get(c.id).value(), state::dispatching, "claimed at uplink fCnt 9")};
        ASSERT_TRUE(b->write(again));
    }
    EXPECT_EQ(claim_of(*a, c.id)->cause, "claimed at uplink fCnt 9");
    EXPECT_EQ(claim_of(*a, c.id)->sequence, 4);
}

/// Past its size the kept rows start again; reads stay right whatever is kept.
TEST(SqliteStore, RowsKeptBeyondTheirLimitAreReadAgain) {
    const temp_db file("row-cache-limit");
    sqlite_options two;
    two.row_cache_rows = 2;
    auto db = open_sqlite(file.path(), two);
    std::vector<command_row> rows;
    for (int i = 0; i < 5; ++i) {
        auto c = sample("010101010101010" + std::to_string(i));
        c.rec.current = state::queued;
        c.rec.queue_item_id = "q-" + std::to_string(i);
        ASSERT_TRUE(db->insert(c, created()));
        rows.push_back(c);
    }
    for (int round = 0; round < 3; ++round)
        for (int i = 0; i < 5; ++i) {
            auto scope = db->begin_batch();
            auto r = db->by_queue_item("q-" + std::to_string(i)).value();
            EXPECT_EQ(r.id, rows[static_cast<std::size_t>(i)].id);
            EXPECT_EQ(db->open(r.dev_eui).size(), 1u);
            std::vector<update> u{move(r, round == 0 ? state::sent : round == 1 ? state::acknowledged : state::confirmed, "step")};
            ASSERT_TRUE(db->write(u)) << "round " << round << ", command " << i;
        }
    for (const auto& c : rows) EXPECT_EQ(db->get(c.id)->rec.current, state::confirmed);
}

TEST(RowCache, KeepsOpenRowsListsClaimsAndMetersAndForgetsWhatItCannotVouchFor) {
    row_cache rc(3);
    auto c = sample();
    c.id = 1;
    c.version = 1;
    c.rec.current = state::pending;
    c.rec.queue_item_id = "q-1";
    rc.inserted(c);
    EXPECT_EQ(rc.by_queue_item("q-1")->id, 1);
    ASSERT_TRUE(rc.latest_claim(1));
    EXPECT_FALSE(*rc.latest_claim(1)) << "a new command has no claim";
    EXPECT_FALSE(rc.open(c.dev_eui, 10)) << "a device's list is known only once read in full";
    rc.read_open(c.dev_eui, {c});
    auto d = c;
    d.id = 2;
    d.rec.queue_item_id = "q-2";
    rc.inserted(d); // joins the device's list, in id order
    ASSERT_EQ(rc.open(c.dev_eui, 10)->size(), 2u);
    EXPECT_EQ(rc.open(c.dev_eui, 1)->size(), 1u);
    EXPECT_TRUE(rc.rows_of({2, 1}) && !rc.rows_of({1, 3}));
    // An update keeps the columns a write does not change as read, and takes the rest; a claim is kept.
    auto u = c;
    u.version = 2;
    u.rec.current = state::dispatching;
    u.meter_ref = "not written by an update";
    const audit_event claim{1, 2, t0, state::pending, state::dispatching, "claimed; uplink fCnt 7", "relaylink", ""};
    rc.updated(u, claim, false);
    EXPECT_EQ(rc.get(1)->rec.current, state::dispatching);
    EXPECT_EQ(rc.get(1)->meter_ref, "M-7");
    EXPECT_EQ(rc.get(1)->version, 2);
    ASSERT_TRUE(rc.latest_claim(1) && *rc.latest_claim(1));
    EXPECT_EQ((*rc.latest_claim(1))->cause, claim.cause);
    rc.noted({1, 3, t0, state::dispatching, state::dispatching, "a note", "alice", ""});
    EXPECT_EQ(rc.get(1)->version, 3);
    EXPECT_EQ((*rc.latest_claim(1))->cause, claim.cause) << "a note is not a claim";
    // Finished: out of the rows, the claims and the device's list.
    u.version = 4;
    u.rec.current = state::confirmed;
    rc.updated(u, {1, 4, t0, state::dispatching, state::confirmed, "reply", "chirpstack", ""}, false);
    EXPECT_FALSE(rc.get(1));
    EXPECT_FALSE(rc.latest_claim(1));
    EXPECT_FALSE(rc.by_queue_item("q-1"));
    ASSERT_EQ(rc.open(c.dev_eui, 10)->size(), 1u);
    EXPECT_EQ(rc.open(c.dev_eui, 10)->front().id, 2);
    // A row that leaves (a refused claim) makes the list unknown rather than short.
    rc.forget(2);
    EXPECT_FALSE(rc.open(c.dev_eui, 10));
    EXPECT_FALSE(rc.latest_claim(2));
    rc.read_latest_claim(2, std::nullopt); // kept only with its command
    EXPECT_FALSE(rc.latest_claim(2));
    // Meters, at the version written.
    meter_row m;
    m.dev_eui = c.dev_eui;
    rc.wrote_meter(m, 1);
    EXPECT_EQ(rc.meter(c.dev_eui)->version, 1);
    // Another connection's commit (a new data version): nothing kept.
    EXPECT_TRUE(rc.check(7) == false && rc.rows() == 0 && !rc.meter(c.dev_eui));
    EXPECT_TRUE(rc.check(7));
    // Full: starts again.
    for (int i = 10; i < 14; ++i) {
        auto r = c;
        r.id = i;
        rc.read(r);
    }
    EXPECT_LE(rc.rows(), 3u);
    // Off: keeps nothing.
    row_cache off(0);
    off.inserted(d);
    EXPECT_FALSE(off.get(2));
}

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
    EXPECT_EQ(sqlite_schema_version(), 7);
    EXPECT_EQ(schema_version(), 7);
}

TEST(SqliteStore, ASqliteLibraryTooOldForTheSchemaIsRefusedSayingWhatToDo) {
    namespace v = relaylink::store::sqlite_version;
    EXPECT_FALSE(v::problem(sqlite3_libversion_number())) << "this process's SQLite: " << sqlite3_libversion();
    EXPECT_FALSE(v::problem(3031000));
    EXPECT_FALSE(v::problem(3045001));
    const auto old = v::problem(3026000); // RHEL 8's
    ASSERT_TRUE(old);
    EXPECT_NE(old->find("needs SQLite 3.31.0 or newer"), std::string::npos) << *old;
    EXPECT_NE(old->find("loaded SQLite 3.26.0"), std::string::npos) << *old;
    EXPECT_NE(old->find("install a newer libsqlite3, or use the wheel"), std::string::npos) << *old;
    EXPECT_EQ(v::text(3034001), "3.34.1");
    // A portal's table is written with INSERT ... RETURNING: 3.35.
    EXPECT_FALSE(v::portal_problem(sqlite3_libversion_number()));
    EXPECT_FALSE(v::portal_problem(3035000));
    const auto rhel9 = v::portal_problem(3034001);
    ASSERT_TRUE(rhel9);
    EXPECT_NE(rhel9->find("needs SQLite 3.35.0 or newer (INSERT ... RETURNING)"), std::string::npos) << *rhel9;
    EXPECT_NE(rhel9->find("loaded SQLite 3.34.1"), std::string::npos) << *rhel9;
    EXPECT_NE(rhel9->find("or open the store without the portal table"), std::string::npos) << *rhel9;
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
    EXPECT_EQ(open_and_insert_at_once(8, [&] { return open_sqlite(path); }), 0);
    auto db = open_sqlite(path);
    EXPECT_EQ(db->counts()[state::pending], 8u);
}

/// A writer holding a new (rollback-journal) file: switching it to WAL is refused at once by SQLite
/// (no busy handler: it could deadlock), which is what several processes opening a new file together
/// met in CI. The store waits for the writer, up to busy_timeout, and then says what held it.
TEST(SqliteStore, OpeningWaitsForAWriterHoldingANewFile) {
    const temp_db file("store-held");
    const auto& path = file.path();
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE portal_notes(x); BEGIN IMMEDIATE; INSERT INTO portal_notes VALUES (1)", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite_options quick;
    quick.busy_timeout = 100ms;
    try {
        open_sqlite(path, quick);
        ADD_FAILURE() << "switched a file to WAL while another connection wrote to it";
    } catch (const store_error& e) {
        EXPECT_NE(std::string(e.what()).find("another connection held the file for 100 ms (busy_timeout)"), std::string::npos)
            << e.what();
    }
    std::thread writer([raw] {
        std::this_thread::sleep_for(300ms);
        sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr);
    });
    try {
        auto db = open_sqlite(path); // waits for the COMMIT, then migrates
        auto c = sample();
        EXPECT_TRUE(db->insert(c, created()));
    } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
    }
    writer.join();
    sqlite3_close(raw);
}

// ---- PostgreSQL's own ----------------------------------------------------------------------------

namespace {

struct pg_deleter {
    void operator()(PGconn* c) const { PQfinish(c); }
};
using raw_pg = std::unique_ptr<PGconn, pg_deleter>;

/// A plain libpq connection beside the store, in its schema: another process, as far as the store knows.
raw_pg raw_connection(const std::string& url, const std::string& schema) {
    raw_pg c(PQconnectdb(url.c_str()));
    EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    PQclear(PQexec(c.get(), ("SET search_path TO " + schema).c_str()));
    return c;
}
/// Runs `sql`; "" when it worked, else the server's message.
std::string run(PGconn* c, const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    const auto st = PQresultStatus(r);
    std::string m = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? "" : PQresultErrorMessage(r);
    PQclear(r);
    return m;
}
std::string first_value(PGconn* c, const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    std::string v = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return v;
}

const auto error_of = relaylink::test::store_error_of;

} // namespace

TEST(PostgresStore, AClaimSkipsACommandAnotherTransactionHoldsWithoutWaiting) {
    RELAYLINK_POSTGRES_OR_SKIP(url);
    postgres_options o;
    o.schema = test::fresh_schema("skip");
    o.statement_timeout = 20s; // a claim that waited for the lock would show as a slow test, then fail
    auto db = open_postgres(url, o);
    auto c = sample(), d = sample("0202020202020202");
    ASSERT_TRUE(db->insert(c, created()));
    ASSERT_TRUE(db->insert(d, created()));
    auto other = raw_connection(url, o.schema);
    ASSERT_EQ(run(other.get(), "BEGIN"), "");
    ASSERT_EQ(run(other.get(), "SELECT id FROM commands WHERE id = " + std::to_string(c.id) + " FOR UPDATE"), "");
    std::vector<update> claims{move(c, state::dispatching, "claimed"), move(d, state::dispatching, "claimed")};
    for (auto& u : claims) u.claim = true;
    const auto started = std::chrono::steady_clock::now();
    ASSERT_TRUE(db->write(claims));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    EXPECT_FALSE(claims[0].applied); // held by the other transaction: skipped, not waited for
    EXPECT_TRUE(claims[1].applied);
    ASSERT_EQ(run(other.get(), "ROLLBACK"), "");
    std::vector<update> again{move(c, state::dispatching, "claimed")};
    again[0].claim = true;
    ASSERT_TRUE(db->write(again));
    EXPECT_TRUE(again[0].applied);
    EXPECT_EQ(db->get(c.id)->rec.current, state::dispatching);
}

TEST(PostgresStore, RacingWritersChangeACommandOnceAtEachVersionAndTheAuditStaysGapFree) {
    RELAYLINK_POSTGRES_OR_SKIP(url);
    postgres_options o;
    o.schema = test::fresh_schema("race");
    o.pool_size = 8;
    auto db = open_postgres(url, o);
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));
    std::atomic<int> won{0}, lost{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 8; ++w)
        writers.emplace_back([&, w] {
            for (int i = 0; i < 40; ++i) {
                auto cur = db->get(c.id).value();
                cur.note = "writer " + std::to_string(w);
                std::vector<update> u{move(cur, state::pending, "note from writer " + std::to_string(w))};
                (db->write(u) ? won : lost)++;
            }
        });
    for (auto& t : writers) t.join();
    EXPECT_EQ(won + lost, 320);
    EXPECT_GT(lost.load(), 0) << "no writer ever lost a race: the test did not race";
    const auto final = db->get(c.id).value();
    EXPECT_EQ(final.version, 1 + won.load()); // each success moved exactly one version
    const auto ev = db->events(c.id);
    ASSERT_EQ(static_cast<std::int64_t>(ev.size()), final.version);
    for (std::size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].sequence, static_cast<std::int64_t>(i + 1));
}

TEST(PostgresStore, ManyOpeningANewSchemaAtOnceMigrateItOnceAndShareIt) {
    RELAYLINK_POSTGRES_OR_SKIP(url);
    postgres_options o;
    o.schema = test::fresh_schema("migrate");
    o.pool_size = 1;
    EXPECT_EQ(open_and_insert_at_once(6, [&] { return open_postgres(url, o); }), 0);
    auto db = open_postgres(url, o);
    EXPECT_EQ(db->counts()[state::pending], 6u);
    auto raw = raw_connection(url, o.schema);
    EXPECT_EQ(first_value(raw.get(), "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations"), "1,2,3,4,5,6,7");
}

TEST(PostgresStore, RefusesBadSettingsNewerSchemasAndUnreachableServersWithReasonsButNoPassword) {
    RELAYLINK_POSTGRES_OR_SKIP(url);
    auto with = [&](auto change) {
        postgres_options o;
        o.schema = test::fresh_schema("bad");
        change(o);
        return error_of([&] { open_postgres(url, o); });
    };
    EXPECT_NE(with([](auto& o) { o.schema = "x; DROP TABLE y"; }).find("schema 'x; DROP TABLE y' is not a plain name"), std::string::npos);
    EXPECT_NE(with([](auto& o) { o.schema = ""; }).find("is not a plain name"), std::string::npos);
    EXPECT_NE(with([](auto& o) { o.pool_size = 0; }).find("pool_size must be 1-64, got 0"), std::string::npos);
    EXPECT_NE(with([](auto& o) { o.sslmode = "maybe"; }).find("sslmode must be"), std::string::npos);
    EXPECT_NE(with([](auto& o) { o.connect_timeout = 0s; }).find("connect_timeout"), std::string::npos);
    EXPECT_NE(error_of([] { open_postgres("postgresql://a:b@host:notaport/db"); }).find("notaport"), std::string::npos);
    EXPECT_NE(error_of([] { open_postgres("dbname = 'unterminated"); }).find("connection string is not valid"), std::string::npos);

    // Nothing listens there: the message names the server, never the password.
    const auto port = std::to_string(test::free_port());
    postgres_options quick;
    quick.connect_timeout = 2s;
    const std::string refused = error_of([&] { open_postgres("postgresql://relaylink:s3cr3t-pw@127.0.0.1:" + port + "/postgres", quick); });
    EXPECT_NE(refused.find("127.0.0.1:" + port + "/postgres"), std::string::npos) << refused;
    EXPECT_NE(refused.find("cannot connect"), std::string::npos) << refused;
    EXPECT_EQ(refused.find("s3cr3t-pw"), std::string::npos) << refused;
    // A database that does not exist: the server's own words.
    auto other_db = url.substr(0, url.rfind('/')) + "/no_such_db";
    EXPECT_NE(error_of([&] { open_postgres(other_db, quick); }).find("no_such_db"), std::string::npos);

    // A schema from a newer relaylink is refused, and nothing in it is touched.
    postgres_options o;
    o.schema = test::fresh_schema("newer");
    { open_postgres(url, o); }
    auto raw = raw_connection(url, o.schema);
    ASSERT_EQ(run(raw.get(), "INSERT INTO schema_migrations VALUES (99, 0, 'from the future')"), "");
    const std::string newer = error_of([&] { open_postgres(url, o); });
    EXPECT_NE(newer.find("schema has version 99"), std::string::npos) << newer;
    EXPECT_NE(newer.find("schema " + o.schema), std::string::npos) << newer;
}

TEST(PostgresStore, TheAuditTrailCannotBeEditedDeletedOrTruncated) {
    RELAYLINK_POSTGRES_OR_SKIP(url);
    postgres_options o;
    o.schema = test::fresh_schema("append");
    auto db = open_postgres(url, o);
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));
    auto raw = raw_connection(url, o.schema);
    EXPECT_NE(run(raw.get(), "UPDATE command_events SET actor = 'mallory'").find("append-only"), std::string::npos);
    EXPECT_NE(run(raw.get(), "DELETE FROM command_events").find("append-only"), std::string::npos);
    EXPECT_NE(run(raw.get(), "TRUNCATE command_events CASCADE").find("append-only"), std::string::npos);
    EXPECT_NE(run(raw.get(), "UPDATE commands SET state = 'bogus'"), ""); // CHECK
    EXPECT_EQ(db->events(c.id).size(), 1u);
}

TEST(PostgresStore, APoolSharesFewConnectionsAndSurvivesTheServerDroppingThem) {
    RELAYLINK_POSTGRES_OR_SKIP(url);
    postgres_options o;
    o.schema = test::fresh_schema("pool");
    o.pool_size = 2;
    o.application_name = o.schema; // to find this store's connections in pg_stat_activity
    auto db = open_postgres(url, o);
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));
    std::vector<std::thread> readers;
    std::atomic<int> seen{0};
    for (int t = 0; t < 12; ++t)
        readers.emplace_back([&] {
            for (int i = 0; i < 25; ++i)
                if (db->get(c.id)) ++seen;
        });
    for (auto& t : readers) t.join();
    EXPECT_EQ(seen.load(), 300);
    auto raw = raw_connection(url, o.schema);
    const std::string count = "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + o.schema + "'";
    EXPECT_EQ(first_value(raw.get(), count), "2");
    // The server ends every connection of the pool (a restart, an administrator): the next calls reconnect.
    EXPECT_EQ(first_value(raw.get(), "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '" +
                                          o.schema + "'"),
              "2");
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(db->get(c.id));
    std::vector<update> u{move(c, state::dispatching, "after the reconnect")};
    EXPECT_TRUE(db->write(u));
    EXPECT_EQ(db->events(c.id).size(), 2u);
}

TEST(PostgresStore, AnOutageCostsAFewConnectionAttemptsASecondAndTheStoreComesBackAfter) {
    RELAYLINK_POSTGRES_OR_SKIP(url);
    // The server behind a forwarder the test can cut: a restart as the store sees it.
    const auto colon = url.rfind(':'), slash = url.find('/', colon);
    test::tcp_proxy proxy(static_cast<std::uint16_t>(std::stoi(url.substr(colon + 1, slash - colon - 1))));
    const std::string via = url.substr(0, colon + 1) + std::to_string(proxy.port()) + url.substr(slash) + "?sslmode=disable";
    postgres_options o;
    o.schema = test::fresh_schema("outage");
    o.pool_size = 4;
    auto db = open_postgres(via, o);
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));

    proxy.set_up(false);
    std::this_thread::sleep_for(100ms); // the forwarder has closed every connection
    const auto before = proxy.accepted();
    std::atomic<int> failures{0}, successes{0};
    std::mutex m;
    std::string last;
    std::vector<std::thread> callers;
    const auto until = std::chrono::steady_clock::now() + 2s;
    for (int t = 0; t < 4; ++t)
        callers.emplace_back([&] {
            while (std::chrono::steady_clock::now() < until) {
                try {
                    db->get(c.id);
                    ++successes;
                } catch (const store_error& e) {
                    ++failures;
                    std::lock_guard lock(m);
                    last = e.what();
                }
            }
        });
    for (auto& t : callers) t.join();
    const auto attempts = proxy.accepted() - before;
    EXPECT_EQ(successes.load(), 0);
    EXPECT_GT(failures.load(), 100) << "each call fails at once during the outage";
    // 100 ms doubling: about 5 attempts in 2 s, whatever 4 threads calling as fast as they can do.
    EXPECT_LE(attempts, 15u) << failures.load() << " calls, " << attempts << " connection attempts";
    EXPECT_GE(attempts, 2u);
    EXPECT_NE(last.find("next attempt in"), std::string::npos) << last;
    EXPECT_NE(last.find("cannot connect"), std::string::npos) << last;

    proxy.set_up(true); // back: the next attempt (within the backoff's cap, 5 s) reconnects
    bool back = false;
    for (const auto end = std::chrono::steady_clock::now() + 10s; !back && std::chrono::steady_clock::now() < end;) {
        try {
            back = db->get(c.id).has_value();
        } catch (const store_error&) {
            std::this_thread::sleep_for(50ms);
        }
    }
    EXPECT_TRUE(back);
    std::vector<update> u{move(c, state::dispatching, "after the outage")};
    EXPECT_TRUE(db->write(u));
}

TEST(PostgresStore, TlsIsVerifiedAgainstTheGivenAuthorityAndRefusedWithAnotherOne) {
    RELAYLINK_POSTGRES_OR_SKIP(url);
    postgres_options o;
    o.schema = test::fresh_schema("tls");
    o.sslmode = "verify-full";
    o.sslrootcert = test::postgres_ca();
    o.application_name = o.schema;
    auto db = open_postgres(url, o);
    auto c = sample();
    ASSERT_TRUE(db->insert(c, created()));
    auto raw = raw_connection(url, o.schema);
    EXPECT_EQ(first_value(raw.get(), "SELECT bool_and(s.ssl)::text FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                                     "WHERE a.application_name = '" + o.schema + "'"),
              "true");
    // Another authority: the server's certificate is not trusted, and the message says so.
    postgres_options wrong = o;
    wrong.sslrootcert = test::test_certs().pem("other");
    const std::string refused = error_of([&] { open_postgres(url, wrong); });
    EXPECT_NE(refused.find("certificate"), std::string::npos) << refused;
    // A missing CA file is named.
    wrong.sslrootcert = "/nonexistent/ca.pem";
    EXPECT_NE(error_of([&] { open_postgres(url, wrong); }).find("/nonexistent/ca.pem"), std::string::npos);
}

/// What schema 7 changed, undone on a file of today's schema: the open-commands indexes read is_open
/// again, and still_open is gone.
const std::string before_schema_7 =
    "DROP INDEX commands_open; DROP INDEX commands_timer; ALTER TABLE commands DROP COLUMN still_open; "
    "CREATE INDEX commands_open ON commands (dev_eui, id) WHERE is_open = 1; "
    "CREATE INDEX commands_timer ON commands (timer_at) WHERE is_open = 1 AND timer_at IS NOT NULL; ";

TEST(SqliteStore, AVersionSixFileKeepsItsOpenAndFinishedCommandsApart) {
    const temp_db file("store-v6");
    const auto& path = file.path();
    std::int64_t open_id = 0, done_id = 0;
    {
        auto db = open_sqlite(path);
        auto a = sample();
        ASSERT_TRUE(db->insert(a, created()));
        open_id = a.id;
        auto b = sample();
        ASSERT_TRUE(db->insert(b, created()));
        done_id = b.id;
        std::vector<update> u{move(b, state::cancelled, "cancelled by alice")};
        ASSERT_TRUE(db->write(u));
    }
    { // schema 6: the indexes read is_open, generated from the state
        sqlite3* raw = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(raw, (before_schema_7 + "DELETE FROM schema_migrations WHERE version >= 7").c_str(),
                               nullptr, nullptr, nullptr),
                  SQLITE_OK)
            << sqlite3_errmsg(raw);
        sqlite3_close(raw);
    }
    auto ids = [](const std::vector<command_row>& rows) {
        std::vector<std::int64_t> out;
        for (const auto& r : rows) out.push_back(r.id);
        return out;
    };
    {
        auto db = open_sqlite(path);
        EXPECT_EQ(ids(db->open(sample().dev_eui)), std::vector<std::int64_t>{open_id});
        EXPECT_EQ(ids(db->open()), std::vector<std::int64_t>{open_id});
        EXPECT_EQ(ids(db->due(t0 + 1h, 10)), std::vector<std::int64_t>{open_id}) << "the finished command's timer is not due";
        EXPECT_EQ(ids(db->in_state(state::cancelled)), std::vector<std::int64_t>{}) << "in_state lists open commands only";
        // Finishing the open one takes it out; a new command is open.
        std::vector<update> u{move(db->get(open_id).value(), state::expired, "deadline passed")};
        ASSERT_TRUE(db->write(u));
        auto c = sample();
        ASSERT_TRUE(db->insert(c, created()));
        EXPECT_EQ(ids(db->open()), std::vector<std::int64_t>{c.id});
        EXPECT_EQ(ids(db->due(t0 + 1h, 10)), std::vector<std::int64_t>{c.id});
    }
    // On disk, by another connection: still_open is 0 exactly for the finished ones.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    auto on_disk = [raw] {
        sqlite3_stmt* q = nullptr;
        EXPECT_EQ(sqlite3_prepare_v2(raw, "SELECT group_concat(id || ':' || state || ':' || still_open, ' ') FROM (SELECT * FROM commands ORDER BY id)",
                                     -1, &q, nullptr),
                  SQLITE_OK);
        EXPECT_EQ(sqlite3_step(q), SQLITE_ROW);
        std::string out = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
        sqlite3_finalize(q);
        return out;
    };
    const auto newest = std::to_string(done_id + 1);
    EXPECT_EQ(on_disk(), std::to_string(open_id) + ":expired:0 " + std::to_string(done_id) + ":cancelled:0 " + newest + ":pending:1");
    EXPECT_NE(sqlite3_exec(raw, "UPDATE commands SET still_open = 2", nullptr, nullptr, nullptr), SQLITE_OK) << "still_open is 0 or 1";
    // A writer that does not know still_open (a hand-written UPDATE, a process from before schema 7) leaves a
    // finished command in the index: it is never answered as open.
    ASSERT_EQ(sqlite3_exec(raw, ("UPDATE commands SET state = 'cancelled' WHERE id = " + newest).c_str(), nullptr, nullptr, nullptr),
              SQLITE_OK);
    EXPECT_EQ(on_disk(), std::to_string(open_id) + ":expired:0 " + std::to_string(done_id) + ":cancelled:0 " + newest + ":cancelled:1");
    sqlite3_close(raw);
    auto db = open_sqlite(path);
    {
        const auto batch = db->begin_batch(); // a batch's reads are answered from the rows it keeps
        ASSERT_EQ(db->get(done_id + 1)->rec.current, state::cancelled); // its row read, and kept
        EXPECT_TRUE(db->open(sample().dev_eui).empty()) << "the index lists it, the row kept says finished";
    }
    EXPECT_TRUE(db->open(sample().dev_eui).empty());
    EXPECT_TRUE(db->open().empty());
    EXPECT_TRUE(db->due(t0 + 1h, 10).empty()) << "its timer is still set, but it is finished";
    EXPECT_TRUE(db->in_state(state::cancelled).empty());
}

TEST(SqliteStore, AVersionOneFileIsMigratedWithItsCommandsKept) {
    const temp_db file("store-v1");
    const auto& path = file.path();
    std::int64_t id = 0;
    {
        auto db = open_sqlite(path);
        auto c = sample("0101010101010101", 9); // urgent, when 10 was the highest
        ASSERT_TRUE(db->insert(c, created()));
        id = c.id;
        meter_row m;
        m.dev_eui = c.dev_eui;
        m.relay = relay_state::connected;
        std::vector<meter_row> ms{m};
        ASSERT_TRUE(db->write({}, ms));
    }
    { // make it what relaylink's first schema left
        sqlite3* raw = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(raw, (before_schema_7 +
                                     "ALTER TABLE commands DROP COLUMN claim_owner; ALTER TABLE commands DROP COLUMN lease_until; "
                                     "ALTER TABLE meters DROP COLUMN version; ALTER TABLE meters DROP COLUMN uplink_f_cnt; "
                                     "ALTER TABLE meters DROP COLUMN uplink_time; ALTER TABLE commands DROP COLUMN portal_meter_id; "
                                     "ALTER TABLE commands DROP COLUMN portal_user_id; ALTER TABLE commands DROP COLUMN portal_row_id; "
                                     "DELETE FROM schema_migrations WHERE version >= 2").c_str(),
                               nullptr, nullptr, nullptr),
                  SQLITE_OK)
            << sqlite3_errmsg(raw);
        sqlite3_close(raw);
    }
    auto db = open_sqlite(path);
    const auto c = db->get(id).value();
    EXPECT_EQ(c.claim_owner, "");
    EXPECT_FALSE(c.lease_until);
    EXPECT_EQ(c.reason, "arrears");
    EXPECT_EQ(c.priority, 2) << "still urgent now that 1 is the highest (schema 5)";
    auto m = db->meter(c.dev_eui).value(); // a meter from before versions: version 1, written at it
    EXPECT_EQ(m.relay, relay_state::connected);
    EXPECT_EQ(m.version, 1);
    m.relay = relay_state::disconnected;
    std::vector<meter_row> ms{m};
    EXPECT_TRUE(db->write({}, ms));
    EXPECT_EQ(db->meter(c.dev_eui)->version, 2);
}
