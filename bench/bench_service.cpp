// The relay service's event throughput: N disconnects queued at ChirpStack, then their events —
// txack (queued → sent), ack (→ acknowledged), the meter's Modbus echo in an uplink (→ confirmed) —
// through correlation, the lifecycle, the audit row and the commit. 3N events, every one a
// transition. Events are built beforehand (parsing is measured in bench_events).
//
// Stores: in memory; SQLite (WAL, synchronous=NORMAL) with events committed in batches, and with a
// commit per event. Baseline, same run: the same rows written by hand-rolled SQL on the same SQLite
// settings and batches (one UPDATE of the command and one INSERT of its audit row per event), with
// none of relaylink's reads, correlation or checks: the storage's ceiling for this work. A second
// baseline writes relaylink's own rows by hand (its schema, its statements, the meter's writes too):
// what the schema alone costs, so that the code's share and the data model's can be told apart.
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

/// The WAL written back into the file and emptied: every timed run starts from the same file state, not
/// with its seeding's frames still to be checkpointed (10,000 seeding commits leave up to 8,192 of them,
/// which the timed phase would copy back; the raw writer seeds in one transaction).
void checkpoint(const std::string& path) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    int log = 0, done = 0;
    if (sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &done) != SQLITE_OK || log != done) {
        std::fprintf(stderr, "bench_service: could not checkpoint %s: %s\n", path.c_str(), sqlite3_errmsg(db));
        std::exit(1);
    }
    sqlite3_close(db);
}

/// `file`: the SQLite file behind `db`, checkpointed after the seeding.
run_result run_service(store::store& db, int n, std::size_t batch, const std::string& file = {}) {
    bench::offline_service o(db);
    auto& svc = o.svc;
    seed(db, n);
    if (!file.empty()) checkpoint(file);
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
    checkpoint(path);
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

/// Relaylink's own rows by hand: the store's statements on the store's schema (seeded by the store itself,
/// then written by plain sqlite3 calls, the same settings), with none of relaylink's code around them —
/// per event the command's UPDATE (still_open at the last one) and its audit INSERT, and the meter's writes
/// where the service writes them (the disconnect going out: a new meter row; the confirming uplink: the
/// meter's relay state and latest uplink). What the schema alone costs, to tell it from the code's cost.
double run_own_rows_sqlite(const std::string& path, int n, std::size_t batch) {
    // The schema and the queued commands, written by the store, which is closed before the writer opens
    // the file: one connection, as in relaylink's run. (With the store's connection still open, idle, this
    // writer ran 15% slower, its WAL grew larger, and a second plain connection did not do that to the raw
    // writer: not explained.)
    {
        auto seeded = store::open_sqlite(path);
        seed(*seeded, n);
    }
    checkpoint(path);
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    auto exec = [db](const char* sql) {
        char* err = nullptr;
        if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
            std::fprintf(stderr, "bench_service: the hand-written writer of relaylink's rows failed: %s\n  in: %s\n", err, sql);
            std::exit(1);
        }
    };
    exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY; "
         "PRAGMA wal_autocheckpoint=8192");
    auto prepare = [db](const char* sql) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
            std::fprintf(stderr, "bench_service: relaylink's schema has changed: %s\n  in: %s\n", sqlite3_errmsg(db), sql);
            std::exit(1);
        }
        return st;
    };
    auto run = [db](sqlite3_stmt* st) {
        if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(db) != 1) {
            std::fprintf(stderr, "bench_service: a hand-written write of relaylink's rows changed nothing: %s\n", sqlite3_errmsg(db));
            std::exit(1);
        }
        sqlite3_reset(st);
    };
    auto text = [](sqlite3_stmt* st, int i, const char* v) { sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC); };
    const std::string set = "UPDATE commands SET priority=?, state=?, evidence=?, queue_item_id=?, f_cnt_down=?, not_before=?, "
                            "deadline=?, retry_count=?, max_retries=?, next_attempt_at=?, timer_at=?, cancel_requested=?, note=?, "
                            "updated_at=?, sent_at=?, completed_at=?, error=?, claim_owner=?, lease_until=?";
    sqlite3_stmt* open_upd = prepare((set + ", version=version+1 WHERE id=? AND version=?").c_str());
    sqlite3_stmt* last_upd = prepare((set + ", still_open=0, version=version+1 WHERE id=? AND version=?").c_str());
    sqlite3_stmt* audit = prepare("INSERT INTO command_events (command_id, sequence, at, from_state, to_state, cause, actor, detail) "
                                  "VALUES (?,?,?,?,?,?,?,?)");
    sqlite3_stmt* meter_new = prepare("INSERT INTO meters (dev_eui, meter_ref, profile, relay_state, last_uplink, last_confirmed_command, "
                                      "disconnect_sent_at, note, updated_at, uplink_f_cnt, uplink_time, version) "
                                      "VALUES (?,'','eastron_sdm320c','unknown',NULL,0,?,'',?,NULL,NULL,1)");
    sqlite3_stmt* meter_upd = prepare("UPDATE meters SET meter_ref='', profile='eastron_sdm320c', relay_state='disconnected', "
                                      "last_uplink=?2, last_confirmed_command=?3, disconnect_sent_at=NULL, note='', updated_at=?2, "
                                      "uplink_f_cnt=2, uplink_time=?2, version=version+1 WHERE dev_eui=?1 AND version=1");
    const char* to[] = {"sent", "acknowledged", "confirmed"};
    const char* from[] = {"queued", "sent", "acknowledged"};
    const char* proof[] = {"gateway_accepted", "device_acknowledged", "device_replied"};
    const char* cause[] = {"txack: ChirpStack's gateway took the downlink", "ack: the device acknowledged fCntDown 0",
                           "reply: the meter's Modbus echo"};
    const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const std::int64_t day = std::int64_t{86400} * 1000000000;
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t total = 3 * static_cast<std::size_t>(n);
    for (std::size_t k = 0; k < total; ++k) {
        if (k % batch == 0) exec("BEGIN IMMEDIATE");
        const int phase = static_cast<int>(k / static_cast<std::size_t>(n));
        const int i = static_cast<int>(k % static_cast<std::size_t>(n));
        const std::int64_t id = i + 1, t = now + static_cast<std::int64_t>(k);
        const std::string dev = eui(i), item = "q-" + std::to_string(i);
        sqlite3_stmt* u = phase == 2 ? last_upd : open_upd;
        int j = 1;
        sqlite3_bind_int(u, j++, 5);
        text(u, j++, to[phase]);
        text(u, j++, proof[phase]);
        text(u, j++, item.c_str());
        sqlite3_bind_int(u, j++, 0);
        sqlite3_bind_null(u, j++);
        sqlite3_bind_int64(u, j++, now + day);
        sqlite3_bind_int(u, j++, 0);
        sqlite3_bind_int(u, j++, 3);
        sqlite3_bind_null(u, j++);
        if (phase == 2) sqlite3_bind_null(u, j++);
        else sqlite3_bind_int64(u, j++, t + 600 * std::int64_t{1000000000});
        sqlite3_bind_int(u, j++, 0);
        text(u, j++, "");
        sqlite3_bind_int64(u, j++, t);
        sqlite3_bind_int64(u, j++, now);
        if (phase == 2) sqlite3_bind_int64(u, j++, t);
        else sqlite3_bind_null(u, j++);
        text(u, j++, "");
        text(u, j++, "");
        sqlite3_bind_null(u, j++);
        sqlite3_bind_int64(u, j++, id);
        sqlite3_bind_int64(u, j++, phase + 1);
        run(u);
        sqlite3_bind_int64(audit, 1, id);
        sqlite3_bind_int64(audit, 2, phase + 2);
        sqlite3_bind_int64(audit, 3, t);
        text(audit, 4, from[phase]);
        text(audit, 5, to[phase]);
        text(audit, 6, cause[phase]);
        text(audit, 7, "chirpstack");
        text(audit, 8, "");
        run(audit);
        if (phase == 0) {
            sqlite3_bind_text(meter_new, 1, dev.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_int64(meter_new, 2, now);
            sqlite3_bind_int64(meter_new, 3, t);
            run(meter_new);
        } else if (phase == 2) {
            sqlite3_bind_text(meter_upd, 1, dev.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_int64(meter_upd, 2, t);
            sqlite3_bind_int64(meter_upd, 3, id);
            run(meter_upd);
        }
        if (k % batch == batch - 1 || k + 1 == total) exec("COMMIT");
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (auto* st : {open_upd, last_upd, audit, meter_new, meter_upd}) sqlite3_finalize(st);
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
        std::printf("SQLite, batches of %zu: %.0f events/s\n", batch, run_service(*lite, n, batch, p).events_per_s);
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
    std::vector<double> mem_rates, lite_rates, raw_rates, ratios, own_rates, own_ratios, code_ratios;
    run_result in_memory, sqlite_batched;
    std::uintmax_t file_bytes = 0;
    for (int r = 0; r < reps; ++r) {
        auto mem = store::make_memory_store();
        in_memory = run_service(*mem, n, batch);
        mem_rates.push_back(in_memory.events_per_s);
        mem.reset();

        const auto p1 = fresh("batched");
        auto lite = store::open_sqlite(p1);
        sqlite_batched = run_service(*lite, n, batch, p1);
        lite.reset(); // the last connection checkpoints the WAL into the file
        file_bytes = std::filesystem::file_size(p1);
        const auto p3 = fresh("raw");
        const double raw_rate = run_raw_sqlite(p3, n, batch);
        const auto p5 = fresh("own-rows");
        const double own_rate = run_own_rows_sqlite(p5, n, batch);
        lite_rates.push_back(sqlite_batched.events_per_s);
        raw_rates.push_back(raw_rate);
        ratios.push_back(sqlite_batched.events_per_s / raw_rate);
        own_rates.push_back(own_rate);
        own_ratios.push_back(own_rate / raw_rate);
        code_ratios.push_back(sqlite_batched.events_per_s / own_rate);
        for (const auto& p : {p1, p3, p5})
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
    const auto sqlite_single = run_service(*single, n_single, 1, p2);
    single.reset();
    const auto p4 = fresh("raw1");
    const double raw_single = run_raw_sqlite(p4, n_single, 1);

    std::printf("| run | commands | events | events/s | vs hand-written SQL, same batches | confirmed |\n|---|---|---|---|---|---|\n");
    std::printf("| in memory (median of %d) | %d | %d | %.0f | — | %zu |\n", reps, n, 3 * n, median(mem_rates), in_memory.confirmed);
    std::printf("| SQLite WAL NORMAL, batches of %zu (median of %d) | %d | %d | %.0f | %.2fx of %.0f/s | %zu |\n", batch, reps, n, 3 * n,
                median(lite_rates), median(ratios), raw, sqlite_batched.confirmed);
    std::printf("| relaylink's own rows by hand, no relaylink code (median of %d) | %d | %d | %.0f | %.2fx of %.0f/s (relaylink: %.2fx of these) | — |\n",
                reps, n, 3 * n, median(own_rates), median(own_ratios), raw, median(code_ratios));
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
