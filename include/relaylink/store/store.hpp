// Persistence: commands, their append-only audit trail, and each meter's relay state.
//
// The store is the truth (DESIGN.md, "Several processes, one truth"): the service keeps no command
// in memory between events. Every transition is written together with its audit row, in one
// transaction, and only if the command still has the version the writer read (optimistic
// concurrency), so a transition can never be applied twice or half-written.
//
// Three implementations: sqlite_store (one file, WAL, versioned migrations; the embedded default),
// postgres_store (a schema in the portal's own PostgreSQL database, a connection pool; several
// processes and hosts) and memory_store (tests, benchmarks, dry runs). All are safe to call from
// several threads; SQLite and PostgreSQL also from several processes (docs/processes.md).
#pragma once

#include <relaylink/command/lifecycle.hpp>
#include <relaylink/encoding.hpp>
#include <relaylink/time.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace relaylink::store {

/// What a command does.
enum class command_kind : std::uint8_t { relay_off, relay_on, read, raw };

constexpr std::string_view to_string(command_kind k) noexcept {
    constexpr std::string_view names[] = {"relay_off", "relay_on", "read", "raw"};
    return names[static_cast<std::size_t>(k)];
}
constexpr std::optional<command_kind> command_kind_from_name(std::string_view n) noexcept {
    for (auto k : {command_kind::relay_off, command_kind::relay_on, command_kind::read, command_kind::raw})
        if (to_string(k) == n) return k;
    return std::nullopt;
}
constexpr bool is_relay(command_kind k) noexcept { return k == command_kind::relay_off || k == command_kind::relay_on; }

/// A meter's relay as relaylink knows it (DESIGN.md, "The meter's relay state").
enum class relay_state : std::uint8_t { unknown, connected, disconnected, unreachable_after_disconnect };

constexpr std::string_view to_string(relay_state s) noexcept {
    constexpr std::string_view names[] = {"unknown", "connected", "disconnected", "unreachable_after_disconnect"};
    return names[static_cast<std::size_t>(s)];
}
constexpr std::optional<relay_state> relay_state_from_name(std::string_view n) noexcept {
    for (auto s : {relay_state::unknown, relay_state::connected, relay_state::disconnected,
                   relay_state::unreachable_after_disconnect})
        if (to_string(s) == n) return s;
    return std::nullopt;
}

/// One command: what was asked, by whom, and where it is (`rec`, the lifecycle's part).
struct command_row {
    std::int64_t id = 0;              ///< assigned by the store
    std::string idempotency_key;      ///< empty: none
    std::string meter_ref;            ///< the portal's meter reference (free text; may be empty)
    std::string dev_eui;              ///< 16 lower-case hex digits
    std::string profile;              ///< the profile's name
    command_kind kind = command_kind::raw;
    bytes payload;                    ///< the downlink's bytes (the Modbus RTU frame)
    std::uint8_t f_port = 0;
    bool confirmed = true;
    int priority = 5;                 ///< 1 (highest) – 10 (lowest), as the portal's device_commands (schema 5)
    command::record rec;              ///< state, evidence, queue item, fCntDown, retries, times, error
    int max_retries = 3;
    std::optional<sys_time> timer_at; ///< when something is next due (dispatch, reply timeout, deadline)
    std::string created_by;           ///< the actor
    std::string reason;
    std::string note;                 ///< a flag for people, e.g. "requested while unreachable after disconnect"
    sys_time created_at{};
    sys_time updated_at{};
    std::int64_t version = 0;         ///< bumped by every write (optimistic concurrency); = its last audit sequence
    std::string claim_owner;          ///< while `dispatching`: the service instance that claimed it (host:pid by default)
    std::optional<sys_time> lease_until; ///< while `dispatching`: after this, any instance may reconcile the claim
    /// The portal's ids (schema 6): its `meters.id` and the `users.id` of who asked. With a portal table
    /// (portal_table) a relay or read command that has a meter id gets its row there, written in the same
    /// transaction as the command and updated with every transition; `portal_row_id` is that row's id
    /// (0: none), set by the store.
    std::optional<std::int64_t> portal_meter_id;
    std::optional<std::int64_t> portal_user_id;
    std::int64_t portal_row_id = 0;
};

/// One line of the audit trail: a command's creation or transition, or something noted about it.
struct audit_event {
    std::int64_t command_id = 0;
    std::int64_t sequence = 0;              ///< 1, 2, 3… per command, gap-free
    sys_time at{};
    std::optional<command::state> from;     ///< none for the creation
    command::state to = command::state::pending;
    std::string cause;                      ///< what happened, in words
    std::string actor;                      ///< who: a user, "system", "chirpstack"
    std::string detail;                     ///< evidence, event ids, anything a person may need
};

/// A claim's audit row (pending → dispatching): it records the device's latest uplink at the claim.
inline bool is_claim(const audit_event& e) { return e.from == command::state::pending && e.to == command::state::dispatching; }

/// A meter as relaylink knows it.
struct meter_row {
    std::string dev_eui;
    std::string meter_ref;
    std::string profile;
    relay_state relay = relay_state::unknown;
    std::optional<sys_time> last_uplink;
    std::int64_t last_confirmed_command = 0;     ///< 0: none
    std::optional<sys_time> disconnect_sent_at;  ///< a disconnect went out and no uplink came since
    std::string note;                            ///< e.g. why it is unreachable and what to do
    sys_time updated_at{};
    /// Its latest uplink as ChirpStack stamped it: frame counter and time (ChirpStack's clock). A reply
    /// must come after the uplink the meter had sent when its command was claimed: replays are told apart
    /// with ChirpStack's own clock, whatever the skew between ChirpStack and relaylink.
    std::optional<std::uint32_t> uplink_f_cnt;
    std::optional<sys_time> uplink_time;
    /// The version read (0: not in the store yet). Like a command's, a meter is written only if it still
    /// has it, so two processes applying events for one meter cannot overwrite each other's change.
    std::int64_t version = 0;
};

/// A command's new values with the audit row that explains them. `row.version` is the version the
/// writer read; the store applies the update only if the command still has it.
struct update {
    command_row row;
    audit_event event;
    bool new_queue_item = true; ///< row.rec.queue_item_id is new for this command (false spares the index a write)
    /// A claim: when another writer holds the command (PostgreSQL: a row lock, skipped with
    /// `FOR UPDATE SKIP LOCKED`) or has moved it (its version), this update is skipped — `applied` set
    /// to false — instead of refusing the whole batch. A claim must carry no meter change.
    bool claim = false;
    bool applied = true; ///< set by write(): false for a claim that was skipped
};

/// What the store could not do, in words a person can act on (a corrupt file, a newer schema…).
class store_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A batch's reads and its write in one transaction of the store (begin_batch).
class batch_scope {
public:
    virtual ~batch_scope() = default;
};

/// What a batch of events will read, asked for at once (read_batch).
struct batch_keys {
    std::vector<std::string> queue_items; ///< the commands holding these queue items
    std::vector<std::string> devices;     ///< these devices' open commands and meters
    std::vector<std::string> trails;      ///< of these devices (among `devices`), the audit trails of the open commands
};
/// What read_batch found. Every key asked for has its answer: a device without open commands an empty
/// list, an unknown queue item or meter no entry.
struct batch_reads {
    std::unordered_map<std::string, command_row> by_queue_item;
    std::unordered_map<std::string, std::vector<command_row>> open; ///< oldest first
    std::unordered_map<std::string, meter_row> meters;
    std::unordered_map<std::int64_t, std::vector<audit_event>> events; ///< in sequence order
    std::unordered_set<std::string> items_asked, devices_asked, trails_asked;
};

class store {
public:
    virtual ~store() = default;

    /// Everything `k` names, read at once (PostgreSQL: one round trip whatever the batch's size; by default
    /// read_each). Like the single reads, not a snapshot of one moment: a batch's write is still checked
    /// against the versions it read.
    virtual batch_reads read_batch(const batch_keys& k) const { return read_each(k); }
    /// Whether read_batch saves anything over reading as one goes (a round trip per read: PostgreSQL).
    virtual bool batches_reads() const { return false; }
    /// What read_batch returns, one single read per key.
    batch_reads read_each(const batch_keys& k) const;

    /// Start a batch on the calling thread: its reads, and the write that ends it (write, insert or
    /// append_event), run in one transaction — SQLite: BEGIN IMMEDIATE from the start, so the reads take no
    /// lock of their own and the write finds what they read. Other threads wait for the batch to end (at the
    /// write, or when the scope goes, rolling back a batch that wrote nothing). Null: the store has no such
    /// batches (memory, PostgreSQL), each call is its own.
    virtual std::unique_ptr<batch_scope> begin_batch() { return nullptr; }

    /// Insert a new command and its first audit row together. Assigns `c.id` (and the event's
    /// command id and sequence 1). Returns false, writing nothing, when `c.idempotency_key` is
    /// already taken.
    virtual bool insert(command_row& c, audit_event created) = 0;

    /// Apply updates and meter rows in one transaction: every command's and meter's version must match
    /// (a meter of version 0 must not exist yet), else nothing is written and false is returned (claims
    /// excepted: a claim that cannot be taken is skipped, see `update::claim`). On success each applied
    /// row's version is bumped and each audit row gets the command's next sequence number.
    /// The updates' audit rows may be moved from (their texts are the store's once written).
    virtual bool write(std::span<update> updates, std::span<const meter_row> meters = {}) = 0;

    /// Append an audit row without changing the command's state (e.g. a refused cancel). It bumps the
    /// version like any write: a command's version is always the sequence of its last audit row.
    virtual void append_event(audit_event e) = 0;

    virtual std::optional<command_row> get(std::int64_t id) const = 0;
    virtual std::optional<command_row> by_idempotency_key(std::string_view key) const = 0;
    virtual std::optional<command_row> by_queue_item(std::string_view queue_item_id) const = 0;
    /// Commands not yet terminal, for one device (empty: every device), oldest first.
    virtual std::vector<command_row> open(std::string_view dev_eui = {}, std::size_t limit = 10000) const = 0;
    /// Open commands in one state, oldest first.
    virtual std::vector<command_row> in_state(command::state s, std::size_t limit = 10000) const = 0;
    /// Open commands whose timer_at has come: highest priority (1) first, then oldest.
    virtual std::vector<command_row> due(sys_time now, std::size_t limit) const = 0;
    /// A meter's commands, newest first.
    virtual std::vector<command_row> history(std::string_view dev_eui, std::size_t limit = 100) const = 0;
    virtual std::vector<audit_event> events(std::int64_t command_id) const = 0;
    /// The audit row of the command's latest claim (pending → dispatching), which records the device's
    /// latest uplink at that moment (the replay check reads it for every uplink): none if never claimed.
    /// The default reads the whole trail; the stores answer it without.
    virtual std::optional<audit_event> latest_claim(std::int64_t command_id) const;
    virtual std::map<command::state, std::size_t> counts() const = 0;

    virtual std::optional<meter_row> meter(std::string_view dev_eui) const = 0;
    /// Every meter, or those in one relay state.
    virtual std::vector<meter_row> meters(std::optional<relay_state> only = std::nullopt) const = 0;
    /// Meters a disconnect went out to that have not been heard from since (with `sent_before`: only
    /// those whose disconnect went out at or before it, so a periodic check reads what may be overdue).
    virtual std::vector<meter_row> awaiting_uplink(std::optional<sys_time> sent_before = std::nullopt) const = 0;
};

/// Everything in memory: fast, lost at exit.
std::unique_ptr<store> make_memory_store();

/// The portal's own command table (QuantifyMeteringSystem's `device_commands`), kept in step with
/// relaylink's commands: its row is inserted in the transaction that creates the command, and updated in
/// the transaction of every transition, so the two never disagree (docs/portal-integration.md). Only
/// commands with a `portal_meter_id` get a row, and only relay and read commands (the portal's
/// `command_type` has no value for a raw frame). It must be in the store's database (SQLite: the same
/// file; PostgreSQL: the same database, `schema.table` or in `public`), and exist: relaylink never
/// creates or migrates the portal's tables. The portal's own constraints hold: a row they refuse (an
/// unknown meter id, a user id its foreign key does not know) refuses the command, and nothing is written.
struct portal_table {
    std::string table = "device_commands";
    /// The portal's column for each of relaylink's keys (portal_column_keys), when it is not named as the
    /// key; "" for an optional one the table does not have (every key but id, meter_id, device_eui,
    /// command_type, status and created_at).
    std::map<std::string, std::string> columns;
};
/// The keys of portal_table::columns, each the portal's own column name by default.
inline constexpr const char* portal_column_keys[] = {"id",           "meter_id",    "device_eui", "command_type", "command_data",
                                                     "status",       "priority",    "scheduled_at", "sent_at",    "completed_at",
                                                     "error_message", "retry_count", "max_retries", "created_by", "created_at"};

struct sqlite_options {
    bool synchronous_full = false;   ///< false: WAL + synchronous=NORMAL (durable across process crashes;
                                     ///< the last commits may be lost on power loss); true: FULL
    std::chrono::milliseconds busy_timeout{5000}; ///< wait this long for another process's lock
    int cache_kib = 32 * 1024;                    ///< SQLite's page cache for this connection (its default is 2 MiB)
    /// Put before each of relaylink's table, index and trigger names ("relaylink_": relaylink_commands,
    /// relaylink_meters, …), to share a file with another application's tables (the portal has `meters`).
    /// Letters, digits and _; "" (the default) keeps the names of a file relaylink has to itself.
    std::string table_prefix;
    std::optional<portal_table> portal; ///< the portal's command table in the same file, kept in step
    /// Rows of open commands and meters this connection read or wrote, kept to answer a batch's reads
    /// without a statement while no other connection commits to the file (checked at each batch's start,
    /// under its write lock, with SQLite's data version). At most this many (about 1 KB each); 0: none.
    std::size_t row_cache_rows = 32768;
};

/// One SQLite file (created if missing), WAL, schema migrated to the current version. Throws
/// store_error naming the file and the reason when it cannot be opened or is from a newer relaylink.
std::unique_ptr<store> open_sqlite(const std::string& path, sqlite_options opt = {});

/// The schema version this build writes (the same numbering for SQLite and PostgreSQL).
int sqlite_schema_version();
int schema_version();

/// A PostgreSQL store: relaylink's tables in their own schema of an existing database (the
/// portal's), created and migrated on first use; a pool of connections shared by the threads of
/// one process. Any number of processes and hosts may use the same schema at once.
struct postgres_options {
    std::string schema = "relaylink";  ///< the tables live in this schema (created if missing); letters, digits, _
    std::size_t pool_size = 4;         ///< connections kept open (1–64); a call waits for a free one
    std::chrono::seconds connect_timeout{10};
    std::chrono::seconds statement_timeout{30}; ///< no statement or lock wait runs longer (0: no limit)
    /// TLS, as libpq understands it: "" (libpq's default, `prefer`), disable, allow, prefer, require,
    /// verify-ca, verify-full. Files: the CA to trust, and a client certificate and key.
    std::string sslmode;
    std::string sslrootcert, sslcert, sslkey;
    std::string application_name = "relaylink"; ///< shown in pg_stat_activity
    std::optional<portal_table> portal; ///< the portal's command table in the same database, kept in step
};

/// Connects (conninfo: a libpq keyword string or postgresql:// URI), creates the schema and migrates
/// it. Throws store_error naming the server and the reason when it cannot connect, the settings are
/// bad, or the schema is from a newer relaylink. The password never appears in an error.
std::unique_ptr<store> open_postgres(const std::string& conninfo, postgres_options opt = {});

/// Opens what `url` names: "postgresql://…" or "postgres://…" (PostgreSQL), ":memory:" (memory),
/// anything else a SQLite file path. SQLAlchemy's URLs work as the portal writes them:
/// "postgresql+psycopg2://…" (the driver is dropped), "sqlite:///relative.db", "sqlite:////abs/path.db",
/// "sqlite://" (memory).
std::unique_ptr<store> open_url(const std::string& url, const postgres_options& pg = {}, const sqlite_options& lite = {});

} // namespace relaylink::store
