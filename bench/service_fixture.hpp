// What the service benchmarks share: N relay-off commands already queued at ChirpStack (as the
// dispatcher leaves them), and fresh SQLite files.
#pragma once

#include <relaylink/service/service.hpp>

#include <boost/asio/io_context.hpp>

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

/// The 3N events of seed's N commands: each one's txack (queued → sent), then each ack (→ acknowledged),
/// then each meter's echo in an uplink (→ confirmed).
inline std::vector<chirpstack::event> events_for(int n) {
    std::vector<chirpstack::event> ev;
    ev.reserve(static_cast<std::size_t>(3 * n));
    const auto now = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
    for (int i = 0; i < n; ++i) {
        chirpstack::txack_event t;
        t.device.dev_eui = eui(i);
        t.queue_item_id = "q-" + std::to_string(i);
        t.f_cnt_down = 1;
        t.time = now;
        ev.emplace_back(std::move(t));
    }
    for (int i = 0; i < n; ++i) {
        chirpstack::ack_event a;
        a.device.dev_eui = eui(i);
        a.queue_item_id = "q-" + std::to_string(i);
        a.acknowledged = true;
        a.time = now;
        ev.emplace_back(std::move(a));
    }
    for (int i = 0; i < n; ++i) {
        chirpstack::up_event u;
        u.device.dev_eui = eui(i);
        u.f_port = 5;
        u.f_cnt = 2;
        u.data = off_frame;
        u.time = now;
        ev.emplace_back(std::move(u));
    }
    return ev;
}

/// A service on `db` whose ChirpStack is never called (every command is already queued); its executor is
/// not run unless the caller runs `io`.
struct offline_service {
    boost::asio::io_context io;
    chirpstack::client api;
    service::service svc;
    static chirpstack::config nowhere() {
        chirpstack::config cc;
        cc.url = "http://127.0.0.1:1";
        return cc;
    }
    static service::service_config no_windows() {
        service::service_config cfg;
        cfg.safety.windows = false;
        return cfg;
    }
    explicit offline_service(store::store& db)
        : api(io.get_executor(), nowhere()), svc(io.get_executor(), api, db, device::profile_registry::with_builtins(), no_windows()) {}
};

inline std::string fresh(const std::string& name) {
    const auto p = (std::filesystem::temp_directory_path() / ("relaylink-bench-" + name + ".db")).string();
    for (auto s : {"", "-wal", "-shm"}) std::filesystem::remove(p + s);
    return p;
}

} // namespace relaylink::bench
