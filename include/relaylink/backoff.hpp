// One backoff for every retry loop in relaylink: a command's retries (the lifecycle), the HTTP pool's
// retries, the MQTT source's reconnections, the service's event batches the store refused and its device
// operations, a store's conflicting writes, PostgreSQL's reconnection. One formula, one jitter convention:
//
//   wait(n) = min(initial × multiplier^(n−1), cap) × (1 ± jitter)      n = 1 for the first retry
//
// `jitter` is the ± fraction (0.2: 80–120 % of the wait), drawn from a number in [0, 1] the caller
// gives (the lifecycle stays pure: its draw comes in as an argument), or from the helper's own generator.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>

namespace relaylink {

struct backoff_policy {
    std::chrono::nanoseconds initial{std::chrono::milliseconds(100)};
    std::chrono::nanoseconds cap{std::chrono::seconds(5)};
    double multiplier = 2.0;
    double jitter = 0.2; ///< ± this fraction of the wait (0–1)
};

/// The wait before retry `n` (1: the first retry; 0 or less counts as 1). `random01` in [0, 1] draws the
/// jitter (0.5: none).
inline std::chrono::nanoseconds backoff_delay(const backoff_policy& p, int n, double random01 = 0.5) {
    const double exp = std::pow(std::max(1.0, p.multiplier), std::max(0, n - 1));
    double s = std::min(static_cast<double>(p.initial.count()) * exp, static_cast<double>(p.cap.count()));
    s *= 1.0 + std::clamp(p.jitter, 0.0, 1.0) * (2.0 * std::clamp(random01, 0.0, 1.0) - 1.0);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::max(0.0, s)));
}

/// A run of failures: `next()` is the wait after one more, `reset()` after a success. Not thread-safe
/// (each loop keeps its own, under its own lock).
class backoff {
public:
    explicit backoff(backoff_policy p = {}, std::uint64_t seed = 0) : p_(p), rng_(seed ? seed : std::random_device{}()) {}

    std::chrono::nanoseconds next() { return backoff_delay(p_, ++failures_, std::uniform_real_distribution<double>(0.0, 1.0)(rng_)); }
    void reset() noexcept { failures_ = 0; }
    int failures() const noexcept { return failures_; }
    const backoff_policy& policy() const noexcept { return p_; }

private:
    backoff_policy p_;
    std::mt19937_64 rng_;
    int failures_ = 0;
};

} // namespace relaylink
