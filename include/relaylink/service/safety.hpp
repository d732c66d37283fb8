// The safety guard: what must be true before a disconnect is sent (DESIGN.md, "Safety and policy").
// Reconnects are the rollback and are never blocked.
#pragma once

#include <relaylink/time.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace relaylink::service {

struct safety_policy {
    bool windows = true;                           ///< false: disconnects at any hour
    std::string time_zone = "Africa/Johannesburg"; ///< IANA name; the windows and holidays are local to it
    /// Days disconnects are allowed, Sunday = 0 … Saturday = 6. Default Monday–Friday.
    std::array<bool, 7> weekdays{false, true, true, true, true, true, false};
    std::chrono::minutes window_start{8 * 60}; ///< local time of day the window opens (inclusive)
    std::chrono::minutes window_end{16 * 60};  ///< local time of day it closes (exclusive)
    std::vector<std::string> holidays;         ///< local dates "YYYY-MM-DD" without disconnects
    enum class outside_window { defer, refuse } outside = outside_window::defer; ///< defer: to the next window
    std::set<std::string> protected_meters;    ///< DevEUIs or meter references never disconnected
    bool dry_run = false;                      ///< record what would be sent; send nothing (every command)
    int max_disconnects_per_minute = 0;        ///< 0: no limit; beyond it, deferred (or refused, as `outside`)
};

/// What the guard decided for one disconnect.
struct verdict {
    enum class decision { allow, defer, refuse } what = decision::allow;
    std::optional<sys_time> not_before; ///< for defer
    std::string reason;                 ///< for defer and refuse, in words
};

/// Checks a policy once (std::invalid_argument naming the bad value: unknown time zone, a holiday
/// that is not a date, a window that ends before it starts, no allowed day) and then judges
/// disconnects. Thread-safe: every member may be called from any thread (the service's store threads and
/// its callers' threads judge requests at once).
class safety_guard {
public:
    explicit safety_guard(safety_policy p);
    ~safety_guard();
    safety_guard(safety_guard&&) noexcept;
    safety_guard& operator=(safety_guard&&) noexcept;

    const safety_policy& policy() const noexcept;

    /// Judge a disconnect of `dev_eui` / `meter_ref` that would go out at `at` (now, or its
    /// not_before). `recorded_ref` is the reference the meter's record holds: protection follows the
    /// meter, whatever reference the request gives. An allowed or deferred disconnect takes a
    /// rate-limit slot.
    verdict check_disconnect(const std::string& dev_eui, const std::string& meter_ref, sys_time at,
                             const std::string& recorded_ref = {});

    /// Whether the DevEUI, the request's reference or the recorded reference is protected.
    bool is_protected(const std::string& dev_eui, const std::string& meter_ref, const std::string& recorded_ref = {}) const;
    /// "meter X is protected (…): never disconnected automatically", naming the protected identity.
    std::string protected_reason(const std::string& dev_eui, const std::string& meter_ref, const std::string& recorded_ref = {}) const;
    /// Whether `t` is inside an allowed window (always true with windows off).
    bool in_window(sys_time t) const;
    /// The first instant at or after `t` inside a window; none when there is none within a year.
    std::optional<sys_time> next_window(sys_time t) const;
    /// When the window holding `t` closes (the queue item's latest `expiresAt`); none when `t` is
    /// outside every window, or windows are off.
    std::optional<sys_time> window_end(sys_time t) const;
    /// "2026-11-27 08:00 SAST" — a time as the guard's zone shows it.
    std::string local(sys_time t) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace relaylink::service
