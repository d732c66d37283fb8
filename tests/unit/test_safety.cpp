// The safety guard: windows in a named time zone, holidays, protected meters, refuse or defer, the
// bulk rate limit, and the refusals of a bad policy.
#include <relaylink/service/safety.hpp>

#include <gtest/gtest.h>

using namespace relaylink;
using namespace relaylink::service;
using namespace std::chrono_literals;

namespace {
sys_time at(const char* s) { return parse_rfc3339(s).value(); }
} // namespace

TEST(Safety, WindowsAreLocalToTheNamedZone) {
    safety_guard g(safety_policy{}); // Mon–Fri 08:00–16:00 Africa/Johannesburg (UTC+2)
    EXPECT_TRUE(g.in_window(at("2026-11-27T06:00:00Z")));  // Friday 08:00 SAST
    EXPECT_FALSE(g.in_window(at("2026-11-27T05:59:59Z"))); // 07:59:59
    EXPECT_FALSE(g.in_window(at("2026-11-27T14:00:00Z"))); // 16:00: closed
    EXPECT_FALSE(g.in_window(at("2026-11-28T10:00:00Z"))); // Saturday
    // Friday evening defers to Monday 08:00 local.
    EXPECT_EQ(g.next_window(at("2026-11-27T15:00:00Z")), at("2026-11-30T06:00:00Z"));
    EXPECT_EQ(g.local(at("2026-11-30T06:00:00Z")), "2026-11-30 08:00 SAST");

    safety_policy ny;
    ny.time_zone = "America/New_York";
    safety_guard n(ny);
    EXPECT_TRUE(n.in_window(at("2026-07-15T12:00:00Z")));  // 08:00 EDT
    EXPECT_FALSE(n.in_window(at("2026-12-15T12:00:00Z"))); // 07:00 EST
}

TEST(Safety, HolidaysProtectedMetersAndRefusal) {
    safety_policy p;
    p.holidays = {"2026-12-16"}; // Day of Reconciliation, a Wednesday
    p.protected_meters = {"0101010101010101", "METER-9"};
    safety_guard g(p);
    const auto v = g.check_disconnect("0202020202020202", "", at("2026-12-16T08:00:00Z"));
    EXPECT_EQ(v.what, verdict::decision::defer);
    EXPECT_EQ(v.not_before, at("2026-12-17T06:00:00Z"));
    EXPECT_NE(v.reason.find("deferred to 2026-12-17 08:00 SAST"), std::string::npos) << v.reason;
    EXPECT_EQ(g.check_disconnect("0101010101010101", "", at("2026-12-17T08:00:00Z")).what, verdict::decision::refuse);
    const auto byref = g.check_disconnect("0303030303030303", "METER-9", at("2026-12-17T08:00:00Z"));
    EXPECT_EQ(byref.what, verdict::decision::refuse);
    EXPECT_NE(byref.reason.find("METER-9 is protected"), std::string::npos) << byref.reason;

    p.outside = safety_policy::outside_window::refuse;
    safety_guard strict(p);
    const auto r = strict.check_disconnect("0202020202020202", "", at("2026-12-19T08:00:00Z")); // Saturday
    EXPECT_EQ(r.what, verdict::decision::refuse);
    EXPECT_NE(r.reason.find("outside the disconnect windows"), std::string::npos) << r.reason;
    EXPECT_EQ(strict.check_disconnect("0202020202020202", "", at("2026-12-17T08:00:00Z")).what, verdict::decision::allow);
}

TEST(Safety, TheRateLimitSpreadsABulkRun) {
    safety_policy p;
    p.windows = false;
    p.max_disconnects_per_minute = 3;
    safety_guard g(p);
    const auto t = at("2026-11-27T08:00:00Z");
    std::vector<sys_time> when;
    for (int i = 0; i < 7; ++i) {
        auto v = g.check_disconnect("01010101010101" + std::to_string(10 + i), "", t);
        ASSERT_NE(v.what, verdict::decision::refuse);
        when.push_back(v.not_before.value_or(t));
    }
    EXPECT_EQ(when[2], t);
    EXPECT_EQ(when[3], t + 1min);
    EXPECT_EQ(when[5], t + 1min);
    EXPECT_EQ(when[6], t + 2min);
    p.outside = safety_policy::outside_window::refuse;
    safety_guard strict(p);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(strict.check_disconnect("0101010101010101", "", t).what, verdict::decision::allow);
    const auto r = strict.check_disconnect("0101010101010101", "", t);
    EXPECT_EQ(r.what, verdict::decision::refuse);
    EXPECT_NE(r.reason.find("3 disconnects per minute"), std::string::npos);
}

TEST(Safety, ABadPolicyIsRefusedNamingTheValue) {
    auto expect = [](safety_policy p, const std::string& words) {
        try {
            safety_guard g(std::move(p));
            ADD_FAILURE() << "accepted a policy with " << words;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
        }
    };
    safety_policy p;
    p.time_zone = "Mars/Olympus_Mons";
    expect(p, "Mars/Olympus_Mons");
    p = {};
    p.holidays = {"2026-02-30"};
    expect(p, "2026-02-30");
    p = {};
    p.holidays = {"16/12/2026"};
    expect(p, "16/12/2026");
    p = {};
    p.window_start = 17h;
    expect(p, "must open before it closes");
    p = {};
    p.weekdays = {};
    expect(p, "no weekday");
    p = {};
    p.max_disconnects_per_minute = -1;
    expect(p, "-1");
}
