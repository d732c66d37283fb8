// The safety guard. Time zones come from Howard Hinnant's date/tz (the reference implementation of
// C++20's <chrono> time zones, which g++ 12's library does not have yet) reading the system's tzdata.
#include <relaylink/service/safety.hpp>

#include <mutex>

#include <date/tz.h>

#include <algorithm>
#include <stdexcept>

namespace relaylink::service {

namespace {

std::optional<date::local_days> parse_day(const std::string& s) {
    int y = 0, m = 0, d = 0;
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
    for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
    y = std::stoi(s.substr(0, 4));
    m = std::stoi(s.substr(5, 2));
    d = std::stoi(s.substr(8, 2));
    const date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(m)}, date::day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) return std::nullopt;
    return date::local_days{ymd};
}

} // namespace

struct safety_guard::impl {
    mutable std::recursive_mutex mu; ///< every public member takes it: the guard is called from any thread
    safety_policy p;
    const date::time_zone* zone = nullptr;
    std::set<date::local_days> holidays;
    std::deque<sys_time> recent; ///< dispatch times of recent disconnects (rate limit)

    bool allowed_day(date::local_days d) const {
        const unsigned wd = date::weekday{d}.c_encoding();
        return p.weekdays[wd] && !holidays.contains(d);
    }
    bool in_window(sys_time t) const {
        if (!p.windows) return true;
        const auto lt = zone->to_local(t);
        const auto day = date::floor<date::days>(lt);
        const auto tod = std::chrono::duration_cast<std::chrono::minutes>(lt - day);
        return allowed_day(day) && tod >= p.window_start && tod < p.window_end;
    }
    std::optional<sys_time> next_window(sys_time t) const {
        if (in_window(t)) return t;
        const auto lt = zone->to_local(t);
        auto day = date::floor<date::days>(lt);
        for (int i = 0; i <= 370; ++i, day += date::days{1}) {
            if (!allowed_day(day)) continue;
            const auto open = zone->to_sys(day + p.window_start, date::choose::latest);
            const sys_time at = std::chrono::time_point_cast<std::chrono::nanoseconds>(open);
            if (at >= t) return at;
            if (t < std::chrono::time_point_cast<std::chrono::nanoseconds>(zone->to_sys(day + p.window_end, date::choose::earliest)))
                return t;
        }
        return std::nullopt;
    }
};

safety_guard::safety_guard(safety_policy p) : impl_(std::make_unique<impl>()) {
    try {
        impl_->zone = date::locate_zone(p.time_zone);
    } catch (const std::exception&) {
        throw std::invalid_argument("safety policy: unknown time zone '" + p.time_zone +
                                    "' (an IANA name such as Africa/Johannesburg; is the tzdata package installed?)");
    }
    for (const auto& h : p.holidays) {
        auto d = parse_day(h);
        if (!d) throw std::invalid_argument("safety policy: holiday '" + h + "' is not a date YYYY-MM-DD");
        impl_->holidays.insert(*d);
    }
    if (p.windows) {
        if (p.window_start < std::chrono::minutes(0) || p.window_end > std::chrono::minutes(24 * 60) ||
            p.window_start >= p.window_end)
            throw std::invalid_argument("safety policy: the disconnect window " + std::to_string(p.window_start.count()) + "–" +
                                        std::to_string(p.window_end.count()) +
                                        " (minutes after midnight) must open before it closes, within 0–1440");
        if (std::none_of(p.weekdays.begin(), p.weekdays.end(), [](bool b) { return b; }))
            throw std::invalid_argument("safety policy: no weekday allows disconnects (turn windows off instead)");
    }
    if (p.max_disconnects_per_minute < 0)
        throw std::invalid_argument("safety policy: max_disconnects_per_minute must be 0 (no limit) or more, not " +
                                    std::to_string(p.max_disconnects_per_minute));
    impl_->p = std::move(p);
}
safety_guard::~safety_guard() = default;
safety_guard::safety_guard(safety_guard&&) noexcept = default;
safety_guard& safety_guard::operator=(safety_guard&&) noexcept = default;

const safety_policy& safety_guard::policy() const noexcept { return impl_->p; }

bool safety_guard::is_protected(const std::string& dev_eui, const std::string& meter_ref, const std::string& recorded_ref) const {
    std::lock_guard lock(impl_->mu);
    const auto& set = impl_->p.protected_meters;
    return set.contains(dev_eui) || (!meter_ref.empty() && set.contains(meter_ref)) || (!recorded_ref.empty() && set.contains(recorded_ref));
}

std::string safety_guard::protected_reason(const std::string& dev_eui, const std::string& meter_ref, const std::string& recorded_ref) const {
    std::lock_guard lock(impl_->mu);
    const auto& set = impl_->p.protected_meters;
    std::string who = dev_eui;
    if (!recorded_ref.empty() && set.contains(recorded_ref))
        who = recorded_ref + (recorded_ref != meter_ref ? " (its reference on record; the request named " +
                                                              (meter_ref.empty() ? std::string("none") : "'" + meter_ref + "'") + ")"
                                                        : std::string());
    else if (!meter_ref.empty() && set.contains(meter_ref))
        who = meter_ref;
    return "meter " + who + " is protected (medical or priority customer): never disconnected automatically";
}

bool safety_guard::in_window(sys_time t) const {
    std::lock_guard lock(impl_->mu);
    return impl_->in_window(t);
}
std::optional<sys_time> safety_guard::next_window(sys_time t) const {
    std::lock_guard lock(impl_->mu);
    return impl_->next_window(t);
}

std::optional<sys_time> safety_guard::window_end(sys_time t) const {
    std::lock_guard lock(impl_->mu);
    if (!impl_->p.windows || !impl_->in_window(t)) return std::nullopt;
    const auto day = date::floor<date::days>(impl_->zone->to_local(t));
    // A window that ends at midnight: the next day's may go on, but the item must not outlive this one.
    const auto end = impl_->zone->to_sys(day + impl_->p.window_end, date::choose::earliest);
    return std::chrono::time_point_cast<std::chrono::nanoseconds>(end);
}

std::string safety_guard::local(sys_time t) const {
    std::lock_guard lock(impl_->mu);
    return date::format("%Y-%m-%d %H:%M %Z", date::make_zoned(impl_->zone, std::chrono::time_point_cast<std::chrono::seconds>(t)));
}

verdict safety_guard::check_disconnect(const std::string& dev_eui, const std::string& meter_ref, sys_time at,
                                       const std::string& recorded_ref) {
    std::lock_guard lock(impl_->mu);
    using d = verdict::decision;
    const auto& p = impl_->p;
    const bool refuse_outside = p.outside == safety_policy::outside_window::refuse;
    if (is_protected(dev_eui, meter_ref, recorded_ref)) return {d::refuse, std::nullopt, protected_reason(dev_eui, meter_ref, recorded_ref)};
    verdict v;
    sys_time when = at;
    if (!impl_->in_window(when)) {
        auto next = impl_->next_window(when);
        const std::string outside = local(when) + " is outside the disconnect windows";
        if (refuse_outside || !next) return {d::refuse, std::nullopt, outside + (next ? "" : " (no window within a year)")};
        when = *next;
        v = {d::defer, when, outside + ": deferred to " + local(when)};
    }
    if (p.max_disconnects_per_minute > 0) {
        auto& recent = impl_->recent;
        const auto minute = std::chrono::minutes(1);
        // Forget slots that can no longer count against anything at or after `at`.
        while (!recent.empty() && recent.front() + minute <= std::min(at, when)) recent.pop_front();
        for (;;) {
            const auto in_minute = std::count_if(recent.begin(), recent.end(),
                                                 [&](sys_time s) { return s <= when && when < s + minute; });
            if (in_minute < p.max_disconnects_per_minute) break;
            if (refuse_outside)
                return {d::refuse, std::nullopt,
                        "rate limit: " + std::to_string(p.max_disconnects_per_minute) + " disconnects per minute reached"};
            // Move to the moment the oldest slot in this minute frees up, still inside a window.
            sys_time oldest = when;
            for (auto s : recent)
                if (s <= when && when < s + minute) oldest = std::min(oldest, s);
            auto next = impl_->next_window(oldest + minute);
            if (!next) return {d::refuse, std::nullopt, "rate limit reached and no window within a year"};
            when = *next;
            v = {d::defer, when,
                 "rate limit of " + std::to_string(p.max_disconnects_per_minute) + " disconnects per minute: deferred to " + local(when)};
        }
        recent.insert(std::upper_bound(recent.begin(), recent.end(), when), when);
    }
    return v;
}

} // namespace relaylink::service
