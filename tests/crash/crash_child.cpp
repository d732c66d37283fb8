// The process the crash test kills: it opens the SQLite store, reconciles what an earlier (killed)
// run left, asks for one disconnect per device (idempotency keys, so a restart asks again safely)
// and dispatches them all to the simulator. It ingests no event (no event source: it learns of the
// devices only from ChirpStack's REST API). Exits 0 once nothing is pending, claimed or in flight.
//
//   relaylink_crash_child <simulator url> <api key> <db path> <devices> <clock ns | system>
// The clock starts at <clock ns> and runs in real time (a simulator in manual time), or is the
// system clock (a simulator running in real time, speed 1).
#include "crash_devices.hpp"

#include <relaylink/service/service.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace relaylink;

int main(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s <url> <api key> <db> <devices> <clock ns>\n", argv[0]);
        return 2;
    }
    const int devices = std::atoi(argv[4]);
    const bool system_clock = std::string(argv[5]) == "system";
    const sys_time start{std::chrono::nanoseconds{system_clock ? 0 : std::atoll(argv[5])}};
    const auto real_start = std::chrono::steady_clock::now();
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    chirpstack::config cc;
    cc.url = argv[1];
    cc.api_key = argv[2];
    chirpstack::client api(io.get_executor(), cc);
    auto db = store::open_sqlite(argv[3]);
    service::service_config cfg;
    cfg.safety.windows = false;
    if (!system_clock)
        cfg.clock = [start, real_start] { return start + std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - real_start); };
    cfg.clock_tolerance = std::chrono::seconds(0); // one machine, one clock
    cfg.policy.initial_backoff = std::chrono::seconds(1);
    cfg.tick = std::chrono::milliseconds(5);
    service::service svc(io.get_executor(), api, *db, device::profile_registry::with_builtins(), cfg);
    std::thread t([&] { io.run(); });
    svc.start();
    for (int i = 0; i < devices; ++i) {
        service::request r;
        r.dev_eui = test::crash_device(i);
        r.profile = "eastron_sdm320c";
        r.actor = "crash-test";
        r.idempotency_key = "crash-" + std::to_string(i);
        svc.disconnect(r);
    }
    for (;;) {
        auto counts = svc.counts();
        if (counts[command::state::pending] == 0 && counts[command::state::dispatching] == 0 && svc.busy() == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    svc.stop();
    work.reset();
    io.stop();
    t.join();
    return 0;
}
