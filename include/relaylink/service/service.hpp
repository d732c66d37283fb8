// The relay service: safety guard → persist → dispatch → ingest events → lifecycle → timers →
// notifications. Its timers and ChirpStack calls run on the executor the caller gives (the I/O thread);
// its store calls never do: they run on the threads of its own small pool (`store_threads`) or on the
// caller's thread for the caller's own calls, and its lock is never held across a store or network call,
// so a slow store (a statement waiting on a lock, a database outage) never holds up ChirpStack's answers,
// the HTTP integration or other meters' requests.
//
// The store is the truth: every decision reads the command from it and writes the transition back
// with its audit row (optimistic concurrency), so a crash loses nothing and start-up
// reconciliation (`start`) finds every command where it was left.
//
// Thread-safety: every public member may be called from any thread. Subscribers are called without
// the service's lock held (on the store's threads, or the caller's), so they may call the service.
#pragma once

#include <relaylink/chirpstack/client.hpp>
#include <relaylink/chirpstack/event.hpp>
#include <relaylink/command/lifecycle.hpp>
#include <relaylink/device/builtin.hpp>
#include <relaylink/log.hpp>
#include <relaylink/service/safety.hpp>
#include <relaylink/store/store.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace relaylink::service {

struct service_config {
    command::policy policy;                        ///< retries, backoff, reply timeout (the profile adds completion and interval)
    std::chrono::seconds default_deadline{std::chrono::hours(24)}; ///< after not_before (or now) when a request gives none
    std::size_t max_in_flight = 8;                 ///< concurrent enqueue calls to ChirpStack
    std::chrono::milliseconds tick{200};           ///< how often (real time) timers and due commands are checked
    std::chrono::seconds claim_timeout{120};       ///< a claim's lease: a `dispatching` command older than this is reconciled
                                                   ///< by any instance (keep it above the client's longest call)
    std::string instance;                          ///< this service's name as a claim's owner; empty: "host:pid".
                                                   ///< Unique per running process; a stable name lets a restart take
                                                   ///< its own claims back at once instead of after the lease
    int unreachable_after_intervals = 3;           ///< silent this many uplink intervals after a disconnect went out
    std::chrono::seconds clock_tolerance{30};      ///< how far ChirpStack's clock may be behind ours, when its lastSeenAt
                                                   ///< is compared with a claim (a reconciliation errs towards waiting)
    std::size_t store_threads = 4;                 ///< the service's own threads for its store calls (1–64): event batches,
                                                   ///< the dispatcher and ChirpStack's completions run there, so one slow
                                                   ///< store call holds up only itself
    std::size_t max_batch = 512;                   ///< events committed together by post_ingest
    std::chrono::milliseconds batch_linger{2};     ///< post_ingest waits this long for more events before a commit smaller than max_batch
    safety_policy safety;
    std::function<sys_time()> clock;               ///< default: the system clock (the simulator's in tests)
    std::uint64_t seed = 0;                        ///< backoff jitter; 0: random
    log_fn log;                                    ///< warnings a person should act on (a setting to change); called
                                                   ///< outside the service's lock. Empty: silent (stats() still counts)
};

/// What a caller asks for.
/// Limits of a request's text (request_error beyond them): valid UTF-8, no control characters (the
/// reason may hold line breaks and tabs), and at most these many bytes.
inline constexpr std::size_t max_actor_size = 200, max_reason_size = 2000, max_idempotency_key_size = 200,
                             max_meter_ref_size = 100, max_profile_name_size = 100;

struct request {
    std::string dev_eui;           ///< 16 hex digits (any case)
    std::string profile;           ///< a profile name or alias; empty: the meter's known profile
    std::string meter_ref;         ///< the portal's meter reference (optional)
    std::string actor = "system";  ///< who asks (the audit trail's "who")
    std::string reason;            ///< why: kept in the command and its audit trail (optional, recommended)
    std::string idempotency_key;   ///< the same key returns the same command
    int priority = 5;              ///< 1 (highest) – 10 (lowest), as the portal's device_commands.priority
    std::optional<sys_time> not_before;
    std::optional<sys_time> deadline; ///< sent to ChirpStack as expiresAt
    /// The portal's `meters.id` and the `users.id` of who asks: kept with the command, and written to the
    /// portal's command table when the store keeps one (store::portal_table). Positive when given.
    std::optional<std::int64_t> portal_meter_id;
    std::optional<std::int64_t> portal_user_id;
};

/// A request the service cannot accept as given (bad DevEUI, unknown profile, an idempotency key
/// reused with other parameters…): `field()` names the culprit.
class request_error : public std::invalid_argument {
public:
    request_error(std::string field, const std::string& message) : std::invalid_argument(message), field_(std::move(field)) {}
    const std::string& field() const noexcept { return field_; }

private:
    std::string field_;
};

/// A command and what happened to it.
struct command_view {
    store::command_row command;
    std::vector<store::audit_event> events;
};

/// A change of a command, for subscribers.
struct command_change {
    store::command_row command;
    command::state from = command::state::pending;
    std::string cause;
};

/// A change of a meter's relay state, for subscribers.
struct meter_change {
    store::meter_row meter;
    store::relay_state from = store::relay_state::unknown;
};

struct service_stats {
    std::uint64_t commands_created = 0;
    std::uint64_t duplicates_returned = 0;   ///< requests answered with a command already in flight or by key
    std::uint64_t refused = 0;               ///< by the safety guard
    std::uint64_t deferred = 0;
    std::uint64_t enqueues = 0, enqueue_failures = 0, flushes = 0, reconciliations = 0;
    std::uint64_t events = 0;                ///< ingested
    std::uint64_t transitions = 0;           ///< applied (state or evidence changed, or noted)
    std::uint64_t ignored = 0;               ///< events for unknown or finished commands, duplicates
    std::uint64_t uplinks_unmatched = 0;     ///< uplinks that answered no open command
    std::uint64_t uplinks_untracked = 0;     ///< uplinks of devices relaylink keeps no meter for (no command, not tracked): nothing kept
    std::uint64_t conflicts = 0;             ///< writes retried because another writer moved the command
    std::uint64_t claims_skipped = 0;        ///< due commands another instance claimed or moved first
    std::uint64_t commits = 0;
    std::uint64_t unobserved_downlinks = 0;  ///< commands that left the device queue without relaylink seeing their txack
    std::uint64_t device_op_failures = 0;    ///< device queue reads, flushes and device reads that failed (retried with a backoff)
    std::uint64_t rejoins = 0;               ///< join events of devices with queued commands (their queue is read again)
    std::uint64_t gateway_errors = 0;        ///< log DOWNLINK_GATEWAY events (the gateway refused to transmit)
    std::uint64_t replays_ignored = 0;       ///< uplinks heard again, or answering a command from before it was claimed: no effect
    std::uint64_t store_errors = 0;          ///< store failures on the service's own thread (left for a later retry)
    std::string last_store_error;            ///< the latest of them, in words
};

class service {
public:
    /// `api` and `db` must outlive the service. Throws std::invalid_argument for a bad safety policy.
    service(boost::asio::any_io_executor ex, chirpstack::client& api, store::store& db,
            device::profile_registry profiles = device::profile_registry::with_builtins(), service_config cfg = {});
    ~service();
    service(const service&) = delete;
    service& operator=(const service&) = delete;

    /// Reconcile what a previous run left (dispatching → read the device queue; queued → still
    /// there?) and start the timer. Call once.
    void start();
    /// Stop: nothing new is sent (no tick, no dispatch). ChirpStack calls in flight still complete and are
    /// recorded while the service lives; with `wait_for_calls`, wait up to that long for them (so that a
    /// process about to exit leaves no claim to be recovered after its lease). Returns true when none is
    /// left in flight — neither a ChirpStack call nor the service's own store work. Called from the service's own
    /// thread (a subscriber), it does not wait. Returns within `wait_for_calls` whatever the store is doing.
    bool stop(std::chrono::milliseconds wait_for_calls = {});
    /// The service's own store work queued or running now (event batches, the dispatcher, completions being
    /// recorded). The destructor waits for what is running: an owner that must not wait (a close with a
    /// timeout) keeps the service and its store alive instead of destroying them while this is not 0.
    std::size_t store_work() const;

    // --- commands -----------------------------------------------------------------------------
    /// Relay off, through the safety guard. Returns the command at once (pending, or refused:
    /// failed with the reason; or the one in flight it duplicates). Throws request_error.
    store::command_row disconnect(const request& r);
    /// Relay on; never blocked. Accepted but flagged when the meter is unreachable after a disconnect.
    store::command_row reconnect(const request& r);
    /// Any intent: relay_off / relay_on (as above), read (the relay state, when the profile can), or
    /// raw (`payload` on `f_port`, default the profile's port).
    store::command_row send(const request& r, store::command_kind kind, bytes payload = {},
                            std::optional<std::uint8_t> f_port = std::nullopt);
    /// Cancel: locally when it has not left; when queued, by deleting the device's unsent items (an
    /// enqueue with flushQueue, which keeps an item that was sent and awaits its ACK) and enqueuing again
    /// what must stay. The resulting command, or none when unknown; a command already on the radio is not
    /// cancelled (the audit trail says so).
    /// `actor`: who cancels, "system" when not given; empty is refused (request_error "actor"), as for requests.
    std::optional<store::command_row> cancel(std::int64_t id, const std::string& actor = "system", const std::string& reason = {});

    // --- events -------------------------------------------------------------------------------
    /// Apply one event now (correlate, transition, commit) in the caller's thread.
    void ingest(const chirpstack::event& e);
    /// Apply several events in one transaction.
    void ingest(std::span<const chirpstack::event> events);
    /// Queue an event; the service commits queued events in batches on its store threads.
    void post_ingest(chirpstack::event e);
    /// Events posted and not yet committed.
    std::size_t pending_events() const;
    /// Wait until fewer than `n` events are pending (back-pressure for a source that can hold its
    /// producer back); false on timeout. Never call it from the service's executor.
    bool wait_pending_below(std::size_t n, std::chrono::milliseconds timeout) const;
    /// Started and not stopped.
    bool running() const noexcept;
    /// Run what is due now (timers, dispatch). The timer does this every `tick`; tests with a
    /// manual clock call it after moving time.
    void poll();

    // --- queries ------------------------------------------------------------------------------
    std::optional<command_view> command(std::int64_t id) const;
    std::vector<store::command_row> history(const std::string& dev_eui, std::size_t limit = 100) const;
    std::vector<store::command_row> open_commands() const;
    std::optional<store::meter_row> meter(const std::string& dev_eui) const;
    /// Keep a meter for `dev_eui` before any command (its last uplink, its relay state as commands and
    /// read-backs show it), with its profile (empty: none yet) and reference. relaylink keeps a meter row
    /// only for a device it was commanded or told to track: an uplink of any other device leaves
    /// nothing behind (counted in stats().uplinks_untracked), so events naming unknown devices cannot
    /// grow the store. A protected reference on record is kept, as for commands. request_error for a
    /// bad DevEUI, an unknown profile or a bad reference.
    store::meter_row track_meter(const std::string& dev_eui, const std::string& profile = {}, const std::string& meter_ref = {});
    std::vector<store::meter_row> meters(std::optional<store::relay_state> only = std::nullopt) const;
    std::map<command::state, std::size_t> counts() const;
    service_stats stats() const;
    /// Commands dispatching right now (enqueue, reconciliation or flush calls in flight).
    std::size_t busy() const;

    // --- notifications ------------------------------------------------------------------------
    using subscription = std::uint64_t;
    subscription on_command(std::function<void(const command_change&)> f);
    subscription on_meter(std::function<void(const meter_change&)> f);
    void unsubscribe(subscription s);

    const service_config& settings() const noexcept;
    const safety_guard& guard() const noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace relaylink::service
