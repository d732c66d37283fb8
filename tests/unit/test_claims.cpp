// Claims and leases: who may reconcile a claim (a table of owner × lease × liveness), the snapshot a claim
// records and reads back, and the replay verdicts for an uplink answering a claimed command.
#include <relaylink/service/claims.hpp>

#include <gtest/gtest.h>

using namespace relaylink;
using namespace relaylink::service;
using namespace std::chrono_literals;

namespace {
const sys_time t0 = parse_rfc3339("2026-07-18T09:00:00Z").value();
}

TEST(Claims, WhoMayReconcileAClaim) {
    struct row {
        const char* owner;
        std::optional<sys_time> lease_end;
        bool owner_gone;
        bool may;
        const char* why;
    };
    const row rows[] = {
        {"", t0 + 1h, false, true, "before owners were recorded"},
        {"me", t0 + 1h, false, true, "its own (none of its own is in flight during a device operation)"},
        {"other:1", t0 + 1h, false, false, "another live instance's, its lease running"},
        {"other:1", t0, false, true, "the lease ended (at its end exactly)"},
        {"other:1", t0 - 1s, false, true, "the lease ended"},
        {"other:1", t0 + 1h, true, true, "its process is gone"},
        {"other:1", std::nullopt, false, false, "no lease recorded, the owner alive"},
    };
    for (const auto& r : rows) {
        auto gone = [&](std::string_view) { return r.owner_gone; };
        EXPECT_EQ(claims::may_reconcile(r.owner, r.lease_end, "me", t0, gone), r.may) << r.why;
    }
    EXPECT_FALSE(claims::may_reconcile("other:1", t0 + 1h, "me", t0)); // no liveness check given: alive
    EXPECT_EQ(claims::lease_until(t0, 120s), t0 + 120s);
}

TEST(Claims, TheDefaultInstanceNameGivesItsPidOnlyOnItsHost) {
    EXPECT_EQ(claims::pid_on_host("web1:4242", "web1"), 4242);
    EXPECT_FALSE(claims::pid_on_host("web2:4242", "web1"));
    EXPECT_FALSE(claims::pid_on_host("web1:", "web1"));
    EXPECT_FALSE(claims::pid_on_host("web1:42a", "web1"));
    EXPECT_FALSE(claims::pid_on_host("web1:1234567890", "web1")); // longer than a pid
    EXPECT_FALSE(claims::pid_on_host("worker-a", "web1"));        // a name of the operator's choosing
    EXPECT_EQ(claims::pid_on_host("a:b:7", "a:b"), 7);             // the last colon separates
}

TEST(Claims, TheSnapshotAClaimRecordsReadsBack) {
    store::meter_row m;
    EXPECT_EQ(claims::snapshot_text(m), ""); // no uplink known: nothing recorded, nothing judged
    m.uplink_time = t0;
    m.uplink_f_cnt = 41;
    const std::string cause = "enqueue" + claims::snapshot_text(m);
    EXPECT_EQ(cause, "enqueue; the device's latest uplink then: fCnt 41 at 2026-07-18T09:00:00Z");
    const auto s = claims::parse_snapshot(cause).value();
    EXPECT_EQ(s.f_cnt, 41u);
    EXPECT_EQ(s.time, t0);
    m.uplink_f_cnt.reset();
    const auto q = claims::parse_snapshot(claims::snapshot_text(m)).value();
    EXPECT_FALSE(q.f_cnt);
    EXPECT_EQ(q.time, t0);
    EXPECT_FALSE(claims::parse_snapshot("enqueue"));
    EXPECT_FALSE(claims::parse_snapshot("x; the device's latest uplink then: fCnt 41"));
    EXPECT_FALSE(claims::parse_snapshot("x; the device's latest uplink then: fCnt 41 at yesterday"));
    EXPECT_FALSE(claims::parse_snapshot("x; the device's latest uplink then: fCnt 99999999999 at 2026-07-18T09:00:00Z")->f_cnt);

    // The latest claim's snapshot counts; the claim's own time is its audit row's.
    std::vector<store::audit_event> ev{
        {1, 1, t0 - 2h, std::nullopt, command::state::pending, "off requested", "alice", ""},
        {1, 2, t0 - 1h, command::state::pending, command::state::dispatching, "enqueue; the device's latest uplink then: fCnt 1 at 2026-07-18T07:00:00Z", "relaylink", ""},
        {1, 3, t0 - 50min, command::state::dispatching, command::state::pending, "enqueue failed", "chirpstack", ""},
        {1, 4, t0, command::state::pending, command::state::dispatching, cause, "relaylink", ""},
    };
    EXPECT_EQ(claims::latest_snapshot(ev)->f_cnt, 41u);
    EXPECT_EQ(claims::claimed_at(ev, t0 - 3h), t0);
    EXPECT_EQ(claims::claimed_at(std::span(ev).first(1), t0 - 3h), t0 - 3h); // never claimed: the fallback
}

TEST(Claims, AnUplinkFromBeforeTheClaimIsAReplayByChirpStacksOwnStamps) {
    const claims::snapshot s{41, t0};
    struct row {
        std::optional<sys_time> time;
        std::uint32_t f_cnt;
        std::optional<sys_time> joined;
        bool replay;
        const char* why;
    };
    const row rows[] = {
        {t0 + 1min, 42, std::nullopt, false, "after, by time and frame counter"},
        {t0, 42, std::nullopt, true, "its time is the claim's latest uplink's"},
        {t0 - 1min, 42, std::nullopt, true, "before, by ChirpStack's clock"},
        {t0 + 1min, 41, std::nullopt, true, "the same frame counter"},
        {t0 + 1min, 3, t0 + 30s, false, "a lower counter, but the device rejoined since (its counters restarted)"},
        {t0 + 1min, 3, t0 - 30s, true, "a lower counter, a join from before the claim"},
        {std::nullopt, 42, std::nullopt, false, "no time: judged by the counter alone"},
        {std::nullopt, 40, std::nullopt, true, "no time, an older counter"},
    };
    for (const auto& r : rows) {
        const auto v = claims::replayed(s, r.time, r.f_cnt, r.joined);
        EXPECT_EQ(v.has_value(), r.replay) << r.why << (v ? ": " + *v : std::string());
    }
    EXPECT_NE(claims::replayed(s, t0, 42, std::nullopt)->find("is not after 2026-07-18T09:00:00Z"), std::string::npos);
    EXPECT_FALSE(claims::replayed({std::nullopt, t0}, t0 + 1s, 0, std::nullopt)); // no counter known: time alone
}
