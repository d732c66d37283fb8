// The dispatcher's decisions: what each state needs when it comes due (a table), and the guard at
// dispatch (dry run, protection by DevEUI, reference or record, the windows deferring or refusing).
#include <relaylink/service/dispatch.hpp>

#include <gtest/gtest.h>

using namespace relaylink;
using namespace relaylink::service;
using command::state;
using namespace std::chrono_literals;

namespace {
const sys_time monday_noon = parse_rfc3339("2026-07-20T10:00:00Z").value();  // 12:00 SAST: inside the window
const sys_time monday_night = parse_rfc3339("2026-07-20T20:00:00Z").value(); // 22:00 SAST: outside

store::command_row in(state s) {
    store::command_row c;
    c.id = 1;
    c.dev_eui = "0101010101010101";
    c.payload = {0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xCD, 0xCA};
    c.f_port = 5;
    c.rec.current = s;
    c.rec.deadline = monday_noon + 24h;
    return c;
}
std::string name(const command::input& i) { return std::string(command::input_name(i)); }
} // namespace

TEST(Dispatch, WhatEachStateNeedsWhenItComesDue) {
    using d = dispatch::due;
    const std::map<state, d> want{{state::pending, d::claim},         {state::dispatching, d::reconcile}, {state::queued, d::nothing},
                                  {state::sent, d::reply_timeout},    {state::acknowledged, d::reply_timeout},
                                  {state::confirmed, d::nothing},     {state::failed, d::nothing},        {state::expired, d::nothing},
                                  {state::cancelled, d::nothing},     {state::superseded, d::nothing}};
    for (auto s : command::all_states) {
        EXPECT_EQ(dispatch::what_is_due(in(s), monday_noon, false), want.at(s)) << command::to_string(s);
        // Busy with a call in flight: nothing, unless the deadline passed (it holds whatever is in flight).
        EXPECT_EQ(dispatch::what_is_due(in(s), monday_noon, true), d::nothing) << command::to_string(s);
        EXPECT_EQ(dispatch::what_is_due(in(s), monday_noon + 25h, true), command::is_terminal(s) ? d::nothing : d::deadline)
            << command::to_string(s);
    }
}

TEST(Dispatch, TheGuardCheckedAgainAsAPendingCommandIsClaimed) {
    safety_policy p;
    p.protected_meters = {"HOSPITAL-1"};
    safety_guard guard(p);
    const auto c = in(state::pending);
    // Allowed inside the window; a reconnect (not switching off) is never held.
    EXPECT_FALSE(dispatch::held_back(c, false, true, guard, "", monday_noon));
    EXPECT_FALSE(dispatch::held_back(c, false, false, guard, "HOSPITAL-1", monday_night));
    // Still backing off: not judged yet.
    auto waiting = c;
    waiting.rec.next_attempt_at = monday_noon + 1min;
    EXPECT_FALSE(dispatch::held_back(waiting, true, true, guard, "", monday_noon));
    // A dry run: cancelled, saying what it would have sent.
    const auto dry = dispatch::held_back(c, true, false, guard, "", monday_noon).value();
    EXPECT_EQ(name(dry.in), "cancel");
    EXPECT_EQ(dry.note, "dry run: nothing is sent (safety.dry_run); it would have sent 010500000000CDCA on fPort 5");
    EXPECT_TRUE(dry.refused);
    // Protected now by the reference on record: refused, whatever the request named.
    const auto prot = dispatch::held_back(c, false, true, guard, "HOSPITAL-1", monday_noon).value();
    EXPECT_EQ(name(prot.in), "guard_refused");
    EXPECT_NE(std::get<command::guard_refused>(prot.in).why.find("HOSPITAL-1"), std::string::npos);
    // Outside the window: deferred to the next (the default), or refused when the policy says so.
    const auto later = dispatch::held_back(c, false, true, guard, "", monday_night).value();
    EXPECT_EQ(name(later.in), "window_closed");
    EXPECT_TRUE(later.deferred);
    EXPECT_EQ(std::get<command::window_closed>(later.in).next_window, parse_rfc3339("2026-07-21T06:00:00Z").value()); // Tue 08:00 SAST
    p.outside = safety_policy::outside_window::refuse;
    safety_guard strict(p);
    const auto refused = dispatch::held_back(c, false, true, strict, "", monday_night).value();
    EXPECT_EQ(name(refused.in), "guard_refused");
    EXPECT_NE(std::get<command::guard_refused>(refused.in).why.find("refuses disconnects outside them"), std::string::npos);
}
