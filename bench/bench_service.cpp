// The relay service's event throughput: N disconnects queued at ChirpStack, then their events —
// txack (queued → sent), ack (→ acknowledged), the meter's Modbus echo in an uplink (→ confirmed) —
// through correlation, the lifecycle, the audit row and the commit. 3N events, every one a
// transition. Events are built beforehand (parsing is measured in bench_events).
//
// Stores: in memory; SQLite (WAL, synchronous=NORMAL) with events committed in batches, and with a
// commit per event. Baseline, same run: the same rows written by hand-rolled SQL on the same SQLite
// settings and batches (one UPDATE of the command and one INSERT of its audit row per event), with
// none of relaylink's reads, correlation or checks: the storage's ceiling for this work.
// Then the memory an open command costs (resident set before and after creating them). The in-memory and
// batched SQLite runs and their baseline are repeated, interleaved, and reported as medians.
//
// usage: bench_service [commands=10000] [batch=512] [all | memory-only | sqlite-only] [repetitions=3]
#include <relaylink/service/service.hpp>

#include "args.hpp"
#include "rss.hpp"
#include "service_fixture.hpp"

#include <boost/asio/io_context.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace relaylink;
using command::state;

using bench::eui;
using bench::events_for;
using bench::fresh;
using bench::off_frame;
using bench::seed;

namespace {

struct run_result {
    double events_per_s = 0;
    std::size_t confirmed = 0;
};

run_result run_service(store::store& db, int n, std::size_t batch) {
    bench::offline_service o(db);
    auto& svc = o.svc;
    seed(db, n);
    const auto ev = events_for(n);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < ev.size(); i += batch)
        svc.ingest(std::span<const chirpstack::event>(ev.data() + i, std::min(batch, ev.size() - i)));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return {static_cast<double>(ev.size()) / s, db.counts()[state::confirmed]};
}

/// The same rows by hand: per event one UPDATE of the command and one INSERT of an audit row.
double run_raw_sqlite(const std::string& path, int n, std::size_t batch) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                 "CREATE TABLE c (id INTEGER PRIMARY KEY, q TEXT UNIQUE, state TEXT, version INTEGER);"
                 "CREATE TABLE e (cid INTEGER, seq INTEGER, at INTEGER, cause TEXT, PRIMARY KEY (cid, seq)) WITHOUT ROWID;",
                 nullptr, nullptr, nullptr);
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (int i = 0; i < n; ++i) {
        const std::string sql = "INSERT INTO c VALUES (" + std::to_string(i + 1) + ", 'q-" + std::to_string(i) + "', 'queued', 1)";
        sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_stmt *upd = nullptr, *ins = nullptr;
    sqlite3_prepare_v2(db, "UPDATE c SET state = ?, version = version + 1 WHERE id = ?", -1, &upd, nullptr);
    sqlite3_prepare_v2(db, "INSERT INTO e VALUES (?, ?, ?, 'transition')", -1, &ins, nullptr);
    const char* states[] = {"sent", "acknowledged", "confirmed"};
    const std::size_t total = static_cast<std::size_t>(3 * n);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t k = 0; k < total; ++k) {
        if (k % batch == 0) sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
        const auto id = static_cast<sqlite3_int64>(k % static_cast<std::size_t>(n)) + 1;
        const int phase = static_cast<int>(k / static_cast<std::size_t>(n));
        sqlite3_bind_text(upd, 1, states[phase], -1, SQLITE_STATIC);
        sqlite3_bind_int64(upd, 2, id);
        sqlite3_step(upd);
        sqlite3_reset(upd);
        sqlite3_bind_int64(ins, 1, id);
        sqlite3_bind_int(ins, 2, phase + 2);
        sqlite3_bind_int64(ins, 3, static_cast<sqlite3_int64>(k));
        sqlite3_step(ins);
        sqlite3_reset(ins);
        if (k % batch == batch - 1 || k + 1 == total) sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sqlite3_finalize(upd);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return static_cast<double>(total) / s;
}

} // namespace

int main(int argc, char** argv) {
    const char* usage = "bench_service [commands=10000] [batch=512] [all|memory-only|sqlite-only] [repetitions=3]";
    const int n = static_cast<int>(relaylink::bench::number_arg(argc, argv, 1, 10000, 1, 10000000, "commands", usage));
    const auto batch = static_cast<std::size_t>(relaylink::bench::number_arg(argc, argv, 2, 512, 1, 1000000, "batch", usage));
    const int reps = static_cast<int>(relaylink::bench::number_arg(argc, argv, 4, 3, 1, 1000, "repetitions", usage));
    const std::string only = argc > 3 ? argv[3] : "all";
    if (only != "all" && only != "memory-only" && only != "sqlite-only") {
        std::fprintf(stderr, "%s: the mode must be all, memory-only or sqlite-only, not '%s'\nusage: %s\n", argv[0], only.c_str(), usage);
        return 2;
    }

    // Memory per open command, before anything else grows the heap.
    long mem_per_command = 0;
    {
        auto db = store::make_memory_store();
        const long before = relaylink::bench::rss_kib();
        seed(*db, n);
        mem_per_command = 1024 * (relaylink::bench::rss_kib() - before) / n;
    }

    if (only == "sqlite-only") { // for profiling
        const auto p = fresh("profiled");
        auto lite = store::open_sqlite(p);
        std::printf("SQLite, batches of %zu: %.0f events/s\n", batch, run_service(*lite, n, batch).events_per_s);
        lite.reset();
        for (auto s : {"", "-wal", "-shm"}) std::filesystem::remove(p + s);
        return 0;
    }
    if (only == "memory-only") { // for profiling
        auto mem = store::make_memory_store();
        std::printf("in memory: %.0f events/s\n", run_service(*mem, n, batch).events_per_s);
        return 0;
    }

    // Interleaved repetitions (the machine's speed drifts between runs): each figure is the median of its
    // runs, each ratio the median of the ratios of runs made side by side.
    std::vector<double> mem_rates, lite_rates, raw_rates, ratios;
    run_result in_memory, sqlite_batched;
    std::uintmax_t file_bytes = 0;
    for (int r = 0; r < reps; ++r) {
        auto mem = store::make_memory_store();
        in_memory = run_service(*mem, n, batch);
        mem_rates.push_back(in_memory.events_per_s);
        mem.reset();

        const auto p1 = fresh("batched");
        auto lite = store::open_sqlite(p1);
        sqlite_batched = run_service(*lite, n, batch);
        lite.reset(); // the last connection checkpoints the WAL into the file
        file_bytes = std::filesystem::file_size(p1);
        const auto p3 = fresh("raw");
        const double raw_rate = run_raw_sqlite(p3, n, batch);
        lite_rates.push_back(sqlite_batched.events_per_s);
        raw_rates.push_back(raw_rate);
        ratios.push_back(sqlite_batched.events_per_s / raw_rate);
        for (const auto& p : {p1, p3})
            for (auto s : {"", "-wal", "-shm"}) std::filesystem::remove(p + s);
        if (in_memory.confirmed != static_cast<std::size_t>(n) || sqlite_batched.confirmed != static_cast<std::size_t>(n)) break;
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    const double raw = median(raw_rates);

    const int n_single = std::min(n, 2000); // a commit per event is slow: fewer of them, once
    const auto p2 = fresh("single");
    auto single = store::open_sqlite(p2);
    const auto sqlite_single = run_service(*single, n_single, 1);
    single.reset();
    const auto p4 = fresh("raw1");
    const double raw_single = run_raw_sqlite(p4, n_single, 1);

    std::printf("| run | commands | events | events/s | vs hand-written SQL, same batches | confirmed |\n|---|---|---|---|---|---|\n");
    std::printf("| in memory (median of %d) | %d | %d | %.0f | — | %zu |\n", reps, n, 3 * n, median(mem_rates), in_memory.confirmed);
    std::printf("| SQLite WAL NORMAL, batches of %zu (median of %d) | %d | %d | %.0f | %.2fx of %.0f/s | %zu |\n", batch, reps, n, 3 * n,
                median(lite_rates), median(ratios), raw, sqlite_batched.confirmed);
    std::printf("| SQLite WAL NORMAL, a commit per event | %d | %d | %.0f | %.2fx of %.0f/s | %zu |\n", n_single, 3 * n_single,
                sqlite_single.events_per_s, sqlite_single.events_per_s / raw_single, raw_single, sqlite_single.confirmed);
    std::printf("\nmemory per open command (in-memory store, with its first audit row): %ld B\n", mem_per_command);
    std::printf("SQLite file per command after its 4 audit rows: %.0f B\n", static_cast<double>(file_bytes) / n);
    for (const auto& p : {p2, p4})
        for (auto s : {"", "-wal", "-shm"}) std::filesystem::remove(p + s);
    const bool ok = in_memory.confirmed == static_cast<std::size_t>(n) && sqlite_batched.confirmed == static_cast<std::size_t>(n) &&
                    sqlite_single.confirmed == static_cast<std::size_t>(n_single);
    if (!ok) std::printf("ERROR: not every command reached confirmed\n");
    return ok ? 0 : 1;
}
