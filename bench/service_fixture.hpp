// What the service benchmarks share: N relay-off commands already queued at ChirpStack (as the
// dispatcher leaves them), and fresh SQLite files.
#pragma once

#include <relaylink/service/service.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

namespace relaylink::bench {

inline std::string eui(int i) {
    char b[17];
    std::snprintf(b, sizeof b, "70b3d5e7%08x", static_cast<unsigned>(i));
    return b;
}

inline const bytes off_frame{0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xcd, 0xca};

/// N commands already queued at ChirpStack (as the dispatcher leaves them).
inline void seed(store::store& db, int n) {
    const auto now = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
    for (int i = 0; i < n; ++i) {
        store::command_row c;
        c.dev_eui = eui(i);
        c.profile = "eastron_sdm320c";
        c.kind = store::command_kind::relay_off;
        c.payload = off_frame;
        c.f_port = 5;
        c.created_by = "bench";
        c.created_at = c.updated_at = now;
        c.rec.current = command::state::queued;
        c.rec.queue_item_id = "q-" + std::to_string(i);
        c.rec.deadline = now + std::chrono::hours(24);
        c.timer_at = c.rec.deadline;
        db.insert(c, {0, 0, now, std::nullopt, command::state::queued, "seeded", "bench", ""});
    }
}

inline std::string fresh(const std::string& name) {
    const auto p = (std::filesystem::temp_directory_path() / ("relaylink-bench-" + name + ".db")).string();
    for (auto s : {"", "-wal", "-shm"}) std::filesystem::remove(p + s);
    return p;
}

} // namespace relaylink::bench
