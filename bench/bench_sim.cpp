// Simulator scale: N devices with a 10-minute uplink interval at 600x speed (so each device sends
// about one uplink per real second) for a few real seconds, events delivered to an in-process
// counter. Reports uplinks/s achieved against the rate the schedule asks for (the baseline of the
// same run: 100% means it kept up), the CPU it took, and the memory per device (resident set before and after adding them).
//
// usage: bench_sim [devices=10000] [seconds=10]
#include <relaylink/sim/simulator.hpp>

#include "args.hpp"
#include "rss.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    const char* usage = "bench_sim [devices=10000] [seconds=10]";
    const int devices = static_cast<int>(relaylink::bench::number_arg(argc, argv, 1, 10000, 1, 10000000, "devices", usage));
    const int seconds = static_cast<int>(relaylink::bench::number_arg(argc, argv, 2, 10, 1, 3600, "seconds", usage));
    namespace sim = relaylink::sim;
    boost::asio::io_context io;
    sim::simulator_config cfg;
    cfg.speed = 600;
    sim::simulator s(io.get_executor(), cfg);
    std::atomic<std::uint64_t> ups{0};
    s.on_event([&](const sim::event_out& e) {
        if (e.type == "up") ups.fetch_add(1, std::memory_order_relaxed);
    });
    const long before = relaylink::bench::rss_kib();
    for (int i = 0; i < devices; ++i) {
        sim::device_config d;
        char eui[32];
        std::snprintf(eui, sizeof eui, "70b3d5e7%08x", static_cast<unsigned>(i));
        d.dev_eui = eui;
        d.uplink_interval = std::chrono::minutes(10);
        s.add_device(d);
    }
    const long after = relaylink::bench::rss_kib();
    s.start();
    boost::asio::steady_timer stop(io, std::chrono::seconds(seconds));
    stop.async_wait([&](relaylink::error_code) {
        s.stop();
        io.stop();
    });
    const auto t0 = std::chrono::steady_clock::now();
    const auto sim0 = s.now();
    io.run();
    const double real = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double sim_elapsed = std::chrono::duration<double>(s.now() - sim0).count();
    // Each device's first uplink falls uniformly in its first interval, then one per interval.
    const double expected = devices * sim_elapsed / 600.0;
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    std::printf("| devices | real s | uplinks | scheduled | kept up | uplinks/s | CPU (of one core) | memory per device |\n"
                "|---|---|---|---|---|---|---|---|\n");
    std::printf("| %d | %.1f | %llu | %.0f | %.0f%% | %.0f | %.0f%% | %.0f B |\n", devices, real,
                static_cast<unsigned long long>(ups.load()), expected, 100.0 * static_cast<double>(ups.load()) / expected,
                static_cast<double>(ups.load()) / real, 100.0 * cpu / real, 1024.0 * static_cast<double>(after - before) / devices);
    return 0;
}
