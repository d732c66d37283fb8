// The relay service's event throughput on PostgreSQL, against a raw pipelined writer of the same rows
// in the same run. N disconnects queued at ChirpStack, then their 3N events (txack, ack, the meter's
// echo in an uplink), every one a transition: the command's update, its audit row and its meter's row.
//
//   relaylink: service::ingest in batches (the batch's reads in one round trip, its writes in a pipeline
//              and the commit: three round trips a batch, whatever its size).
//   raw:       the same rows — per event an UPDATE of the command (state, times, version), an INSERT of
//              its audit row and an upsert of its meter — written by hand in libpq's pipeline mode, one
//              transaction and one round trip per batch, with none of relaylink's reads, checks or
//              correlation: the ceiling of this work on this server.
// Each run in a fresh schema holding the same N seeded commands. The server should be local with
// synchronous_commit on (PostgreSQL's default) and fsync on, as in production:
//   PG_SERVER_DURABLE=1 tests/support/pg_server.sh start /tmp/relaylink-bench-pg
//   build/bench/bench_postgres "$(cat /tmp/relaylink-bench-pg/url)" 10000 512
//
// usage: bench_postgres URL [commands=10000] [batch=512] [repetitions=3]
#include "args.hpp"
#include "service_fixture.hpp"

#include <relaylink/store/store.hpp>

#include <boost/asio/io_context.hpp>
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

using namespace relaylink;
using command::state;
using bench::eui;

namespace {

struct pg {
    PGconn* c;
    explicit pg(const std::string& url) : c(PQconnectdb(url.c_str())) {
        if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(std::string("cannot connect: ") + PQerrorMessage(c));
    }
    ~pg() { PQfinish(c); }
    void run(const std::string& sql) {
        PGresult* r = PQexec(c, sql.c_str());
        const auto st = PQresultStatus(r);
        const std::string m = PQresultErrorMessage(r);
        PQclear(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error(sql.substr(0, 80) + ": " + m);
    }
    std::string one(const std::string& sql) {
        PGresult* r = PQexec(c, sql.c_str());
        std::string v = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
        PQclear(r);
        return v;
    }
};

store::postgres_options in_schema(const std::string& schema) {
    store::postgres_options o;
    o.schema = schema;
    o.pool_size = 4;
    return o;
}

/// A fresh copy of `from` (its commands, audit rows and queue items) in schema `to`, with relaylink's tables.
void copy_schema(pg& db, const std::string& url, const std::string& from, const std::string& to) {
    db.run("DROP SCHEMA IF EXISTS " + to + " CASCADE");
    store::open_postgres(url, in_schema(to)); // creates and migrates the tables
    for (const char* table : {"commands", "queue_items", "command_events"}) {
        const std::string cols = db.one("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns "
                                        "WHERE table_schema = '" + from + "' AND table_name = '" + table + "' AND is_generated = 'NEVER'");
        db.run("INSERT INTO " + to + "." + table + " (" + cols + ") SELECT " + cols + " FROM " + from + "." + table);
    }
    db.run("SELECT setval(pg_get_serial_sequence('" + to + ".commands', 'id'), (SELECT max(id) FROM " + to + ".commands))");
    db.run("ANALYZE " + to + ".commands; ANALYZE " + to + ".command_events; ANALYZE " + to + ".queue_items");
}

double run_service(const std::string& url, const std::string& schema, int n, std::size_t batch, std::size_t& confirmed) {
    auto db = store::open_postgres(url, in_schema(schema));
    bench::offline_service o(*db);
    auto& svc = o.svc;
    const auto ev = bench::events_for(n);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < ev.size(); i += batch)
        svc.ingest(std::span<const chirpstack::event>(ev.data() + i, std::min(batch, ev.size() - i)));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    confirmed = db->counts()[state::confirmed];
    const auto st = svc.stats();
    std::fprintf(stderr, "relaylink: %.2f s, commits %llu, conflicts %llu, store errors %llu\n", s,
                     static_cast<unsigned long long>(st.commits), static_cast<unsigned long long>(st.conflicts),
                     static_cast<unsigned long long>(st.store_errors));
    return static_cast<double>(ev.size()) / s;
}

/// The same rows by hand, pipelined: a transaction and one round trip per batch.
double run_raw(const std::string& url, const std::string& schema, int n, std::size_t batch) {
    pg db(url);
    db.run("SET search_path TO " + schema);
    std::vector<std::string> ids(static_cast<std::size_t>(n));
    {
        PGresult* r = PQexec(db.c, "SELECT id, dev_eui FROM commands");
        for (int i = 0; i < PQntuples(r); ++i) {
            const std::string dev = PQgetvalue(r, i, 1);
            ids[std::stoul(dev.substr(8), nullptr, 16)] = PQgetvalue(r, i, 0);
        }
        PQclear(r);
    }
    auto prepare = [&](const char* name, const char* sql) {
        PGresult* r = PQprepare(db.c, name, sql, 0, nullptr);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) throw std::runtime_error(PQresultErrorMessage(r));
        PQclear(r);
    };
    prepare("upd", "UPDATE commands SET state = $1, updated_at = $2, timer_at = $3, version = version + 1 WHERE id = $4");
    prepare("ins", "INSERT INTO command_events (command_id, sequence, at, from_state, to_state, cause, actor, detail) "
                   "VALUES ($1, $2, $3, $4, $5, $6, 'chirpstack', $7)");
    prepare("mtr", "INSERT INTO meters (dev_eui, profile, relay_state, updated_at, version) VALUES ($1, 'eastron_sdm320c', $2, $3, 1) "
                   "ON CONFLICT (dev_eui) DO UPDATE SET relay_state = excluded.relay_state, updated_at = excluded.updated_at, "
                   "version = meters.version + 1");
    const char* states[] = {"queued", "sent", "acknowledged", "confirmed"};
    const char* relay[] = {"unknown", "unknown", "disconnected"};
    const std::size_t total = static_cast<std::size_t>(3 * n);
    PQenterPipelineMode(db.c);
    PQsetnonblocking(db.c, 1);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t k = 0; k < total; k += batch) {
        const std::size_t end = std::min(total, k + batch);
        PQsendQueryParams(db.c, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0);
        std::size_t sent = 1;
        for (std::size_t e = k; e < end; ++e) {
            const std::size_t i = e % static_cast<std::size_t>(n);
            const int phase = static_cast<int>(e / static_cast<std::size_t>(n));
            const std::string at = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
            const std::string seq = std::to_string(phase + 2), dev = eui(static_cast<int>(i));
            const std::string cause = std::string("to ") + states[phase + 1];
            const char* u[] = {states[phase + 1], at.c_str(), phase == 2 ? nullptr : at.c_str(), ids[i].c_str()};
            PQsendQueryPrepared(db.c, "upd", 4, u, nullptr, nullptr, 0);
            const char* a[] = {ids[i].c_str(), seq.c_str(), at.c_str(), states[phase], states[phase + 1], cause.c_str(), "event detail"};
            PQsendQueryPrepared(db.c, "ins", 7, a, nullptr, nullptr, 0);
            const char* m[] = {dev.c_str(), relay[phase], at.c_str()};
            PQsendQueryPrepared(db.c, "mtr", 3, m, nullptr, nullptr, 0);
            sent += 3;
        }
        PQsendQueryParams(db.c, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0);
        ++sent;
        PQpipelineSync(db.c);
        while (PQflush(db.c) == 1) PQconsumeInput(db.c);
        PQsetnonblocking(db.c, 0);
        for (std::size_t q = 0; q < sent; ++q) {
            PGresult* r = PQgetResult(db.c);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) throw std::runtime_error(std::string("raw writer: ") + PQresultErrorMessage(r));
            PQclear(r);
            while (PGresult* more = PQgetResult(db.c)) PQclear(more);
        }
        PGresult* sync = PQgetResult(db.c);
        PQclear(sync);
        PQsetnonblocking(db.c, 1);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    PQsetnonblocking(db.c, 0);
    PQexitPipelineMode(db.c);
    return static_cast<double>(total) / s;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_postgres URL [commands=10000] [batch=512] [repetitions=3]\n");
        return 2;
    }
    const std::string url = argv[1];
    const char* usage = "bench_postgres URL [commands=10000] [batch=512] [repetitions=3]";
    const int n = static_cast<int>(relaylink::bench::number_arg(argc, argv, 2, 10000, 1, 10000000, "commands", usage));
    const auto batch = static_cast<std::size_t>(relaylink::bench::number_arg(argc, argv, 3, 512, 1, 1000000, "batch", usage));
    const int reps = static_cast<int>(relaylink::bench::number_arg(argc, argv, 4, 3, 1, 1000, "repetitions", usage));
    try {
        pg admin(url);
        admin.run("SET client_min_messages = warning");
        const std::string sync = admin.one("SHOW synchronous_commit"), fsync = admin.one("SHOW fsync");
        // The seed: N queued commands, written once through the store, copied into each run's fresh schema.
        admin.run("DROP SCHEMA IF EXISTS bench_seed CASCADE");
        {
            auto seed = store::open_postgres(url, in_schema("bench_seed"));
            bench::seed(*seed, n);
        }
        std::vector<double> ours, raw;
        std::size_t confirmed = 0;
        bool ok = true;
        for (int r = 0; r < reps; ++r) { // interleaved: the server's state drifts alike for both
            copy_schema(admin, url, "bench_seed", "bench_relaylink");
            ours.push_back(run_service(url, "bench_relaylink", n, batch, confirmed));
            ok = ok && confirmed == static_cast<std::size_t>(n);
            copy_schema(admin, url, "bench_seed", "bench_raw");
            raw.push_back(run_raw(url, "bench_raw", n, batch));
        }
        for (const char* s : {"bench_seed", "bench_relaylink", "bench_raw"}) admin.run(std::string("DROP SCHEMA IF EXISTS ") + s + " CASCADE");
        const double o = median(ours), w = median(raw);
        std::printf("PostgreSQL %s (synchronous_commit=%s, fsync=%s), %d commands, %d events, batches of %zu, median of %d\n",
                    admin.one("SHOW server_version").c_str(), sync.c_str(), fsync.c_str(), n, 3 * n, batch, reps);
        std::printf("| run | events/s | vs the raw pipelined writer |\n|---|---|---|\n");
        std::printf("| relaylink (service::ingest) | %.0f | %.2fx |\n", o, o / w);
        std::printf("| raw pipelined writer, same rows | %.0f | 1x |\n", w);
        if (!ok) std::printf("ERROR: not every command reached confirmed\n");
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_postgres: %s\n", e.what());
        return 1;
    }
}
