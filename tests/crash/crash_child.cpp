// The process the crash test kills: it opens the SQLite store, reconciles what an earlier (killed)
// run left, asks for one disconnect per device (idempotency keys, so a restart asks again safely)
// and dispatches them all to the simulator. Exits 0 once every command is queued or finished.
//
//   relaylink_crash_child <simulator url> <api key> <db path> <devices> <clock ns>
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
    const sys_time clock{std::chrono::nanoseconds{std::atoll(argv[5])}};
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    chirpstack::config cc;
    cc.url = argv[1];
    cc.api_key = argv[2];
    chirpstack::client api(io.get_executor(), cc);
    auto db = store::open_sqlite(argv[3]);
    service::service_config cfg;
    cfg.safety.windows = false;
    cfg.clock = [clock] { return clock; };
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
