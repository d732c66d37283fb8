// Timestamps as ChirpStack writes them: RFC 3339 with 'Z' (REST) or '+00:00' (integration events),
// with up to nanoseconds. Parsing never throws.
#pragma once

#include <relaylink/error.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <cstdint>
#include <string>
#include <string_view>

namespace relaylink {

using sys_time = std::chrono::sys_time<std::chrono::nanoseconds>;

namespace detail {
constexpr bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) noexcept {
    if (at + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}
} // namespace detail

/// "2026-07-18T09:34:15.775023242+00:00", "2026-08-01T12:00:00Z", "…T12:00:00.5-02:30".
/// Returns nothing when the text is not such a timestamp, names an impossible date, or lies outside
/// the years 1678-2261 that a nanosecond clock can hold.
inline std::optional<sys_time> parse_rfc3339(std::string_view s) noexcept {
    using namespace std::chrono;
    int y, mo, d, h, mi, sec;
    if (!detail::digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !detail::digits(s, 5, 2, mo) || s[7] != '-' ||
        !detail::digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !detail::digits(s, 11, 2, h) ||
        s[13] != ':' || !detail::digits(s, 14, 2, mi) || s[16] != ':' || !detail::digits(s, 17, 2, sec))
        return std::nullopt;
    // sys_time in nanoseconds spans 1678-2262; anything outside cannot be represented.
    if (y < 1678 || y > 2261) return std::nullopt;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
    std::size_t i = 19;
    std::int64_t frac_ns = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        std::size_t n = 0; // digits read; those past the ninth (below a nanosecond) are dropped
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (n < 9) frac_ns = frac_ns * 10 + (s[i] - '0');
            ++i;
            ++n;
        }
        if (n == 0) return std::nullopt;
        for (std::size_t k = n; k < 9; ++k) frac_ns *= 10; // ".25" is 250,000,000 ns (multiplications, no division)
    }
    if (i >= s.size()) return std::nullopt;
    minutes offset{0};
    if (s[i] == 'Z' || s[i] == 'z') {
        ++i;
    } else if (s[i] == '+' || s[i] == '-') {
        int oh, om;
        if (!detail::digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !detail::digits(s, i + 4, 2, om) ||
            oh > 23 || om > 59)
            return std::nullopt;
        offset = hours{oh} + minutes{om};
        if (s[i] == '-') offset = -offset;
        i += 6;
    } else {
        return std::nullopt;
    }
    if (i != s.size()) return std::nullopt;
    return sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + nanoseconds{frac_ns} - offset;
}

/// "2026-08-01T12:00:00Z", or with a fraction when the time has one ("…:00.250Z"), as ChirpStack's REST API writes.
inline std::string format_rfc3339(sys_time t) {
    using namespace std::chrono;
    const auto day_start = floor<days>(t);
    const year_month_day ymd{day_start};
    const hh_mm_ss<nanoseconds> hms{t - day_start};
    char buf[48];
    int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02lld", static_cast<int>(ymd.year()),
                          static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                          static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                          static_cast<long long>(hms.seconds().count()));
    std::string out(buf, static_cast<std::size_t>(n));
    if (auto ns = hms.subseconds().count()) {
        char f[16];
        std::snprintf(f, sizeof f, ".%09lld", static_cast<long long>(ns));
        std::string frac(f);
        while (frac.back() == '0') frac.pop_back();
        out += frac;
    }
    out += 'Z';
    return out;
}

/// The same to the second ("2026-08-01T12:00:00Z"): for notes and causes people read, where ChirpStack's
/// nanoseconds are noise.
inline std::string format_rfc3339_seconds(sys_time t) {
    return format_rfc3339(std::chrono::floor<std::chrono::seconds>(t));
}

} // namespace relaylink
