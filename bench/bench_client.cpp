// ChirpStack client throughput on loopback, one server, one run:
//  - relaylink async: N enqueues in flight over keep-alive connections (pool of N);
//  - relaylink sequential: the synchronous facade, one call after another (one kept-alive connection);
//  - the portal's way: Python `requests`, a new connection per call, from 1 and 4 threads (bench/portal_way.py);
//  - relaylink from Python: `ChirpStackClient.enqueue` from 1 and 4 threads (bench/python_way.py), when this
//    build has the Python module (RELAYLINK_BUILD_PYTHON) — issue 22's "Python enqueue" against the portal's way
//    from as many threads;
//  - the ceiling: what `wrk` gets from the same server with the same request (bench/enqueue.lua).
// The server is Debian's nginx (one worker process) answering ChirpStack's enqueue reply: a neutral server,
// neither relaylink's code nor the tests' (tests/support/nginx.hpp starts it). Prints a markdown table.
//
// usage: bench_client [calls=20000] [in_flight=16]
#include "args.hpp"
#include "../tests/support/nginx.hpp"

#include <relaylink/chirpstack/client.hpp>
#include <relaylink/chirpstack/sync_client.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

using namespace relaylink;
using clock_type = std::chrono::steady_clock;

namespace {

chirpstack::enqueue_request relay_off() {
    chirpstack::enqueue_request r;
    r.confirmed = true;
    r.f_port = 5;
    r.data = {0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xCD, 0xCA};
    return r;
}

double async_rate(const std::string& url, int calls, int in_flight) {
    boost::asio::io_context io;
    chirpstack::config cfg;
    cfg.url = url;
    cfg.api_key = "bench-key";
    cfg.pool_size = static_cast<std::size_t>(in_flight);
    chirpstack::client c(io.get_executor(), cfg);
    int started = 0, done = 0, failed = 0;
    const auto req = relay_off();
    std::function<void()> start_one = [&] {
        ++started;
        c.async_enqueue("0102030405060708", req, [&](error_code ec, std::string) {
            ++done;
            if (ec) ++failed;
            if (started < calls) start_one();
        });
    };
    const auto t0 = clock_type::now();
    for (int i = 0; i < in_flight && started < calls; ++i) start_one();
    io.run();
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (failed) std::cerr << failed << " async calls failed\n";
    return done / s;
}

double sequential_rate(const std::string& url, int calls) {
    chirpstack::config cfg;
    cfg.url = url;
    cfg.api_key = "bench-key";
    chirpstack::sync_client c(cfg);
    const auto req = relay_off();
    const auto t0 = clock_type::now();
    for (int i = 0; i < calls; ++i) c.enqueue("0102030405060708", req);
    return calls / std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::optional<std::string> run(const std::string& cmd) {
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return std::nullopt;
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    if (::pclose(p) != 0) return std::nullopt;
    return out;
}

/// The portal's way from 1 and 4 threads (the same timing loop as python_way.py's: bench/bench_timing.py).
std::optional<std::pair<double, double>> portal_rates(const std::string& url, int calls) {
    auto out = run("python3 " RELAYLINK_BENCH_DIR "/portal_way.py " + url + " " + std::to_string(calls) + " 2>/dev/null");
    if (!out) return std::nullopt;
    double one = 0, four = 0;
    if (std::sscanf(out->c_str(), "1 %lf\n4 %lf", &one, &four) != 2) return std::nullopt;
    return std::pair{one, four};
}

/// relaylink's Python client from 1 and 4 threads, or nothing without this build's Python module.
struct python_figures {
    double one = 0, four = 0, bare = 0; ///< relaylink from 1 and 4 threads; a bare socket from 1
};
std::optional<python_figures> python_rates(const std::string& url, int calls) {
#ifdef RELAYLINK_BENCH_PYTHONPATH
    auto out = run("PYTHONPATH=" RELAYLINK_BENCH_PYTHONPATH " python3 " RELAYLINK_BENCH_DIR "/python_way.py " + url + " " +
                   std::to_string(calls) + " 2>/dev/null");
    if (!out) return std::nullopt;
    python_figures f;
    if (std::sscanf(out->c_str(), "1 %lf\n4 %lf\nbare %lf", &f.one, &f.four, &f.bare) != 3) return std::nullopt;
    return f;
#else
    (void)url;
    (void)calls;
    return std::nullopt;
#endif
}

std::optional<double> wrk_rate(const std::string& url, int connections) {
    auto out = run("wrk -t1 -c" + std::to_string(connections) + " -d4s -s " RELAYLINK_BENCH_DIR "/enqueue.lua " + url + " 2>/dev/null");
    if (!out) return std::nullopt;
    auto at = out->find("Requests/sec:");
    if (at == std::string::npos) return std::nullopt;
    return std::stod(out->substr(at + 13));
}

} // namespace

int main(int argc, char** argv) {
    const char* usage = "bench_client [calls=20000] [in_flight=16]";
    const int calls = static_cast<int>(relaylink::bench::number_arg(argc, argv, 1, 20000, 1, 100000000, "calls", usage));
    const int in_flight = static_cast<int>(relaylink::bench::number_arg(argc, argv, 2, 16, 1, 1024, "in_flight", usage));
    std::optional<relaylink::test::nginx_server> server;
    try {
        server.emplace(R"({"id":"6f1c2c4e-0c3e-4a55-9b1a-2f0d2a9c1e11"})");
    } catch (const std::exception& e) {
        std::cerr << argv[0] << ": " << e.what() << "\n";
        return 1;
    }
    const std::string url = server->url();

    const double async_r = async_rate(url, calls, in_flight);
    const double seq_r = sequential_rate(url, calls / 4);
    const auto portal_r = portal_rates(url, std::max(400, calls / 50));
    const auto py_r = python_rates(url, std::max(200, calls / 4));
    const auto wrk_r = wrk_rate(url, in_flight);

    auto fmt = [](double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%.0f", v);
        return std::string(b);
    };
    std::cout << "| client (loopback, nginx with one worker) | calls/s | vs the portal's way | vs wrk ceiling |\n|---|---|---|---|\n";
    // Against the portal's way from as many threads (Python's rows), else from one.
    auto row = [&](const std::string& name, double v, bool four_threads = false) {
        std::cout << "| " << name << " | " << fmt(v) << " | "
                  << (portal_r ? fmt(v / (four_threads ? portal_r->second : portal_r->first)) + "x" + (four_threads ? " (4 threads each)" : "")
                               : std::string("n/a (python requests missing)"))
                  << " | " << (wrk_r ? fmt(100.0 * v / *wrk_r) + "%" : std::string("n/a (wrk missing)")) << " |\n";
    };
    row("relaylink async, " + std::to_string(in_flight) + " in flight, keep-alive", async_r);
    row("relaylink sequential (sync facade), keep-alive", seq_r);
    if (py_r) {
        row("relaylink from Python, 1 thread (ChirpStackClient.enqueue)", py_r->one);
        row("relaylink from Python, 4 threads", py_r->four, true);
        row("a bare Python socket, 1 thread: the same request, one recv (a sequential caller's floor)", py_r->bare);
    }
    if (portal_r) {
        row("portal's way: Python requests, new connection per call", portal_r->first);
        row("portal's way, 4 threads", portal_r->second, true);
    }
    if (wrk_r) row("wrk -t1 -c" + std::to_string(in_flight) + " (ceiling)", *wrk_r);
    return 0;
}
