// Request admission: each kind of request against what is stored — a table of (intent, what is in flight,
// the key's command, the guard) with what it comes to — and the refusals, each naming its field.
#include <relaylink/device/profile_json.hpp>
#include <relaylink/service/admission.hpp>

#include <gtest/gtest.h>

using namespace relaylink;
using namespace relaylink::service;
using command::state;
using store::command_kind;
using namespace std::chrono_literals;

namespace {

const sys_time t0 = parse_rfc3339("2026-07-18T10:00:00Z").value(); // a Saturday, 12:00 SAST
const std::string A = "0101010101010101";

request req(std::string profile = "eastron_sdm320c") {
    request r;
    r.dev_eui = A;
    r.profile = std::move(profile);
    r.actor = "alice";
    r.reason = "arrears";
    return r;
}

struct fixture {
    device::profile_registry profiles = [] {
        auto reg = device::profile_registry::with_builtins();
        reg.add(device::profiles_from_json(R"({"name":"rb","fport":5,"completion":"state_verified",
            "relay_off":{"function":5,"address":0,"value":0},"relay_on":{"function":5,"address":0,"value":65280},
            "relay_state":{"function":1,"address":0,"quantity":1,"on":[1],"off":[0]}})").value().front());
        return reg;
    }();
    safety_guard guard{[] {
        safety_policy p;
        p.windows = false;
        p.protected_meters = {"HOSPITAL-1"};
        return p;
    }()};
    admission::context cx{guard, false, 24h, [](const store::command_row& c) { return c.kind == command_kind::relay_off; }};

    store::command_row built(command_kind k, const request& r = req()) { return admission::build(r, A, k, {}, std::nullopt, profiles, std::nullopt, 3, t0); }
    store::command_row stored(command_kind k, std::int64_t id, state s) {
        auto c = built(k);
        c.id = id;
        c.rec.current = s;
        return c;
    }
};

} // namespace

TEST(Admission, WhatARequestComesToGivenWhatIsStored) {
    using outcome = admission::decision::outcome;
    fixture f;
    store::meter_row protected_meter;
    protected_meter.dev_eui = A;
    protected_meter.meter_ref = "HOSPITAL-1";
    store::meter_row unreachable;
    unreachable.dev_eui = A;
    unreachable.relay = store::relay_state::unreachable_after_disconnect;
    struct row {
        const char* what;
        command_kind kind;
        std::optional<store::command_row> by_key;
        std::vector<store::command_row> open;
        std::optional<store::meter_row> meter;
        outcome want;
        state state_;
        std::size_t supersedes;
        const char* in_cause;
    };
    const std::vector<row> rows{
        {"a disconnect", command_kind::relay_off, {}, {}, {}, outcome::create, state::pending, 0, "relay_off requested: arrears"},
        {"the key's command", command_kind::relay_off, f.stored(command_kind::relay_off, 7, state::queued), {}, {}, outcome::same_key, state::queued, 0, ""},
        {"the same in flight", command_kind::relay_off, {}, {f.stored(command_kind::relay_off, 8, state::sent)}, {}, outcome::in_flight, state::sent, 0,
         "requested again by alice"},
        {"the opposite in flight", command_kind::relay_off, {}, {f.stored(command_kind::relay_on, 9, state::queued)}, {}, outcome::create, state::pending, 1,
         "relay_off requested"},
        {"a read beside a relay command", command_kind::read, {}, {}, {}, outcome::create, state::pending, 0, "read requested"},
        {"a protected meter on record", command_kind::relay_off, {}, {}, protected_meter, outcome::create, state::failed, 0,
         "refused by the safety guard"},
        {"a reconnect to an unreachable meter", command_kind::relay_on, {}, {}, unreachable, outcome::create, state::pending, 0,
         "only be delivered after power is restored on site"},
    };
    for (const auto& r : rows) {
        const auto d = admission::decide(f.built(r.kind, r.kind == command_kind::read ? req("rb") : req()), req(), r.by_key,
                                         r.open, r.meter, f.cx, t0);
        EXPECT_EQ(d.what, r.want) << r.what;
        EXPECT_EQ(d.command.rec.current, r.state_) << r.what;
        EXPECT_EQ(d.supersede.size(), r.supersedes) << r.what;
        EXPECT_NE(d.cause.find(r.in_cause), std::string::npos) << r.what << ": " << d.cause;
    }
}

TEST(Admission, ANewCommandsTimesAndTheGuardsVerdicts) {
    fixture f;
    auto d = admission::decide(f.built(command_kind::relay_off), req(), std::nullopt, {}, std::nullopt, f.cx, t0);
    EXPECT_EQ(d.command.rec.deadline, t0 + 24h); // the default deadline, from now
    EXPECT_EQ(d.command.created_at, t0);
    EXPECT_FALSE(d.refused);

    // Deferred by the windows: not before the next window, and the default deadline counts from it.
    safety_policy windows;
    windows.windows = true;
    // Monday–Friday, 08:00–16:00 in Africa/Johannesburg: the defaults
    safety_guard weekday(windows);
    admission::context wcx{weekday, false, 24h, f.cx.switches_off};
    auto w = admission::decide(f.built(command_kind::relay_off), req(), std::nullopt, {}, std::nullopt, wcx, t0);
    EXPECT_TRUE(w.deferred);
    ASSERT_TRUE(w.command.rec.not_before);
    EXPECT_GT(*w.command.rec.not_before, t0);
    EXPECT_EQ(w.command.rec.deadline, *w.command.rec.not_before + 24h);
    // …past the request's own deadline: refused, nothing could go out in time.
    auto late = req();
    late.deadline = t0 + 1h;
    auto l = admission::decide(f.built(command_kind::relay_off, late), late, std::nullopt, {}, std::nullopt, wcx, t0);
    EXPECT_TRUE(l.refused);
    EXPECT_EQ(l.command.rec.current, state::failed);
    EXPECT_NE(l.command.rec.error.find("after the request's deadline"), std::string::npos) << l.command.rec.error;
    // A reconnect is never guarded.
    EXPECT_EQ(admission::decide(f.built(command_kind::relay_on), req(), std::nullopt, {}, std::nullopt, wcx, t0).command.rec.current, state::pending);

    // A dry run records what it would send, and nothing it would supersede.
    admission::context dry{f.guard, true, 24h, f.cx.switches_off};
    const std::vector<store::command_row> opposite{f.stored(command_kind::relay_on, 9, state::queued)};
    auto r = admission::decide(f.built(command_kind::relay_off), req(), std::nullopt, opposite, std::nullopt, dry, t0);
    EXPECT_EQ(r.command.rec.current, state::cancelled);
    EXPECT_EQ(r.command.note, "dry run: would send 010500000000CDCA on fPort 5 (confirmed); nothing sent");
    EXPECT_TRUE(r.supersede.empty());

    // A protected reference on record stays, whatever the request names.
    store::meter_row m;
    m.meter_ref = "HOSPITAL-1";
    auto renamed = req();
    renamed.meter_ref = "M-9";
    auto k = admission::decide(f.built(command_kind::relay_on, renamed), renamed, std::nullopt, {}, m, f.cx, t0);
    EXPECT_TRUE(k.keep_ref);
    EXPECT_NE(k.cause.find("HOSPITAL-1, is protected and stays (the request named M-9)"), std::string::npos) << k.cause;
}

TEST(Admission, RefusalsNameTheirField) {
    fixture f;
    auto field_of = [](auto&& call) -> std::string {
        try {
            call();
        } catch (const request_error& e) {
            return e.field();
        }
        return "(accepted)";
    };
    auto with = [](auto change) {
        auto r = req();
        change(r);
        return r;
    };
    EXPECT_EQ(field_of([&] { admission::checked_dev_eui(with([](request& r) { r.dev_eui = "0101"; })); }), "dev_eui");
    EXPECT_EQ(field_of([&] { admission::checked_dev_eui(with([](request& r) { r.priority = 0; })); }), "priority");
    EXPECT_EQ(field_of([&] { admission::checked_dev_eui(with([](request& r) { r.actor.clear(); })); }), "actor");
    EXPECT_EQ(field_of([&] { admission::checked_dev_eui(with([](request& r) { r.reason = std::string("\xC3", 1); })); }), "reason");
    EXPECT_EQ(field_of([&] { admission::checked_dev_eui(with([](request& r) { r.meter_ref = "a\tb"; })); }), "meter_ref");
    EXPECT_EQ(field_of([&] { admission::checked_dev_eui(with([](request& r) { r.portal_meter_id = 0; })); }), "meter_id");
    EXPECT_EQ(field_of([&] { admission::checked_dev_eui(with([](request& r) { r.portal_user_id = -1; })); }), "user_id");
    EXPECT_EQ(admission::checked_dev_eui(with([](request& r) { r.dev_eui = "ABCDEF0123456789"; })), "abcdef0123456789");
    EXPECT_EQ(field_of([&] { f.built(command_kind::relay_off, req("nope")); }), "profile");
    EXPECT_EQ(field_of([&] { f.built(command_kind::relay_off, req("")); }), "profile"); // none on record either
    EXPECT_EQ(field_of([&] { f.built(command_kind::read, req()); }), "kind");            // the SDM320C reads nothing back by default
    EXPECT_EQ(field_of([&] { f.built(command_kind::relay_off, with([](request& r) { r.deadline = t0; })); }), "deadline");
    EXPECT_EQ(field_of([&] { admission::build(req(), A, command_kind::raw, bytes(300, 0), std::nullopt, f.profiles, std::nullopt, 3, t0); }), "payload");
    EXPECT_EQ(field_of([&] { admission::build(req(), A, command_kind::raw, bytes{1}, std::uint8_t{0}, f.profiles, std::nullopt, 3, t0); }), "f_port");
    // A key used for another request.
    auto other = f.stored(command_kind::relay_on, 7, state::queued);
    EXPECT_EQ(field_of([&] { admission::decide(f.built(command_kind::relay_off), req(), other, {}, std::nullopt, f.cx, t0); }), "idempotency_key");
    // The meter's profile on record is used when the request names none.
    store::meter_row m;
    m.profile = "ivy_em114039";
    EXPECT_EQ(admission::build(req(""), A, command_kind::relay_off, {}, std::nullopt, f.profiles, m, 3, t0).profile, "ivy_em114039");
}
