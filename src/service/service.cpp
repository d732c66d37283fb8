// The relay service. Every decision: read the command from the store, step the lifecycle, write
// the transition with its audit row (version-checked), then act (HTTP calls, notifications) after
// the commit. Device-wide operations (reading the queue, flushing it) run alone for their device:
// no enqueue for that device is in flight while they run.
#include <relaylink/service/service.hpp>

#include <relaylink/backoff.hpp>
#include <relaylink/chirpstack/validate.hpp>
#include <relaylink/redact.hpp>
#include <relaylink/service/admission.hpp>
#include <relaylink/service/claims.hpp>
#include <relaylink/service/correlation.hpp>
#include <relaylink/service/dispatch.hpp>
#include <relaylink/service/missing_item.hpp>
#include <relaylink/service/reconciliation.hpp>
#include <relaylink/service/relay_state.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include <signal.h>
#include <unistd.h>

namespace relaylink::service {

namespace asio = boost::asio;
using command::state;
using store::command_kind;
using store::command_row;
using store::meter_row;
using store::relay_state;

namespace {

using admission::check_text;
using admission::describe;

} // namespace

struct service::impl : std::enable_shared_from_this<impl> {
    impl(asio::any_io_executor e, chirpstack::client& c, store::store& s, device::profile_registry p, service_config cf)
        : ex(std::move(e)), api(c), db(s), profiles(std::move(p)), cfg(std::move(cf)), guard(cfg.safety), timer(ex), linger_timer(ex),
          rng(cfg.seed ? cfg.seed : std::random_device{}()), pool(checked_threads(cfg.store_threads)) {
        if (cfg.max_in_flight == 0) throw std::invalid_argument("service: max_in_flight must be at least 1");
        if (cfg.max_batch == 0) throw std::invalid_argument("service: max_batch must be at least 1");
        if (cfg.batch_linger < std::chrono::milliseconds(0) || cfg.batch_linger > std::chrono::seconds(1))
            throw std::invalid_argument("service: batch_linger must be 0–1000 ms");
        if (cfg.unreachable_after_intervals < 1)
            throw std::invalid_argument("service: unreachable_after_intervals must be at least 1, not " +
                                        std::to_string(cfg.unreachable_after_intervals));
        if (cfg.default_deadline <= std::chrono::seconds(0))
            throw std::invalid_argument("service: default_deadline must be positive");
        if (cfg.claim_timeout < std::chrono::seconds(1))
            throw std::invalid_argument("service: claim_timeout must be at least 1 second");
        if (cfg.instance.empty()) cfg.instance = default_instance();
        if (cfg.instance.size() > 200) throw std::invalid_argument("service: instance must be at most 200 characters");
    }

    static std::size_t checked_threads(std::size_t n) {
        if (n < 1 || n > 64) throw std::invalid_argument("service: store_threads must be 1-64, not " + std::to_string(n));
        return n;
    }

    static std::string host_name() {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) != 0) return "localhost";
        return host;
    }
    static std::string default_instance() { return host_name() + ":" + std::to_string(::getpid()); }

    /// A claim this instance may reconcile: its own (none in flight when a device operation runs), one
    /// from before owners were recorded, one whose lease has ended, or one whose owner is gone.
    bool may_reconcile(const command_row& c, sys_time t) const {
        return claims::may_reconcile(c.claim_owner, c.lease_until, cfg.instance, t, owner_gone);
    }

    /// A claim whose owner was a process of this host ("host:pid", the default name) that no longer
    /// exists: crashed or killed, so its claims need not wait for their lease.
    static bool owner_gone(std::string_view owner) {
        const auto pid = claims::pid_on_host(owner, host_name());
        return pid && ::kill(static_cast<pid_t>(*pid), 0) != 0 && errno == ESRCH;
    }

    /// The shortest silence that makes any meter unreachable (the shortest uplink interval of any profile):
    /// meters whose disconnect went out more recently are not read at every tick.
    std::chrono::nanoseconds shortest_silence() const {
        auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(cfg.policy.uplink_interval);
        for (const auto& p : profiles.all()) interval = std::min(interval, std::chrono::duration_cast<std::chrono::nanoseconds>(p.uplink_interval));
        return interval * cfg.unreachable_after_intervals;
    }

    asio::any_io_executor ex;
    chirpstack::client& api;
    store::store& db;
    device::profile_registry profiles;
    service_config cfg;
    safety_guard guard;
    asio::steady_timer timer;
    asio::steady_timer linger_timer; ///< only touched by drain(), which never runs twice at once
    bool lingered = false;
    std::mt19937_64 rng;

    /// The store's own threads: every store call of the service's own work (event batches, the dispatcher,
    /// ChirpStack's completions) runs there, never on the I/O thread that answers ChirpStack and the HTTP
    /// integration. Callers' own calls (send, cancel, ingest, queries) run on the caller's thread.
    asio::thread_pool pool;
    static inline thread_local const impl* on_pool = nullptr; ///< set while a pool thread runs this service's job

    /// Guards the in-memory state below; held only for in-memory work, never across a store or network call.
    mutable std::mutex mu;
    std::condition_variable idle_cv; ///< notified as work ends: stop() waits on it
    std::atomic<bool> running{false};
    std::atomic<bool> alive{true};
    bool poll_posted = false;
    bool polling = false, poll_again = false; ///< the dispatcher runs one pass at a time; asked meanwhile, it runs again
    std::size_t jobs = 0;                     ///< jobs posted to the pool and not finished
    service_stats st;
    std::mutex rng_mu;
    /// A request's checks and insert run alone for its meter (duplicates in flight are found), not for others.
    std::array<std::mutex, 64> meter_locks;
    std::mutex& meter_lock(const std::string& dev) { return meter_locks[std::hash<std::string>{}(dev) % meter_locks.size()]; }

    // Replayed uplinks (an MQTT redelivery, a repeated or forged POST): the deduplication ids of recent
    // uplinks, and when each device last (re)joined (ChirpStack's clock: its frame counters restarted).
    static constexpr std::size_t max_recent_uplinks = 4096;
    std::unordered_map<std::string, sys_time> joined_at;
    std::set<std::string> recent_uplinks;
    std::deque<std::string> recent_order;
    bool replay_warned = false;

    // Work in flight.
    std::map<std::int64_t, std::string> busy_ids;           ///< enqueue or queue check in flight: command → its device
    std::unordered_map<std::string, int> device_enqueues;   ///< enqueue calls in flight per device
    using check_request = reconcile::why_read; ///< why a device queue is to be read
    std::map<std::string, check_request> check_wanted;      ///< device queue reads waiting to run
    std::map<std::string, std::uint8_t> flush_wanted;       ///< flushes waiting to run (fPort for the placeholder)
    std::vector<command_row> read_backs;                    ///< commands whose read-back is to be asked for
    std::set<std::string> device_op_running;                ///< a queue read, device read or flush in flight
    std::map<std::string, sys_time> device_op_retry_at;     ///< after a failed device operation
    std::map<std::string, int> device_op_failures;          ///< failed device operations in a row, per device
    bool qos_warned = false;                                ///< the unobserved-downlink warning was given

    // Notifications (and log lines), delivered after the lock is released.
    std::vector<command_change> note_commands;
    std::vector<meter_change> note_meters;
    std::vector<std::pair<log_level, std::string>> note_logs;
    std::map<subscription, std::function<void(const command_change&)>> command_subs;
    std::map<subscription, std::function<void(const meter_change&)>> meter_subs;
    subscription next_sub = 1;
    // One thread delivers at a time, in the order the changes were noted (two threads delivering side by side
    // told a subscriber "queued" before "pending": seen in a portal test, 2026-12-04). Under `mu`.
    bool delivering = false;
    std::thread::id deliverer;                 ///< the thread delivering (a subscriber's own changes wait for its loop)
    std::uint64_t batches_taken = 0, batches_told = 0;
    std::condition_variable told_cv;           ///< signalled when a batch of notes has been delivered

    // post_ingest's inbox.
    std::mutex inbox_mu;
    std::condition_variable inbox_cv; ///< signalled when a batch leaves the inbox
    std::deque<chirpstack::event> inbox;
    std::size_t inbox_in_batch = 0;   ///< taken from the inbox, not yet committed
    bool drain_posted = false;
    /// Before events the store refused are tried again: 100 ms, doubling to 5 s while it keeps refusing
    /// (a store that fails for good is retried without spinning; the sources' backpressure
    /// (wait_pending_below) keeps the inbox from growing without bound).
    relaylink::backoff refused_backoff{{std::chrono::milliseconds(100), std::chrono::seconds(5), 2.0, 0.2}, cfg.seed};

    sys_time now() const { return cfg.clock ? cfg.clock() : std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now()); }
    double random01() {
        std::lock_guard lock(rng_mu);
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    }

    const device::profile* profile_of(const command_row& c) const { return profiles.find(c.profile); }

    /// Whether the safety guard applies to `c`: a disconnect, or a raw frame that may switch the relay
    /// off (profile::may_switch_off; a profile no longer known: it may).
    bool switches_off(const command_row& c) const {
        if (c.kind == command_kind::relay_off) return true;
        if (c.kind != command_kind::raw) return false;
        const auto* prof = profile_of(c);
        return !prof || prof->may_switch_off(c.payload);
    }

    /// When `c` is next due: the lifecycle's answer (a claim is due when its lease ends).
    std::optional<sys_time> next_timer(const command_row& c, const command::policy& p, sys_time t) const {
        const auto lease = c.rec.current == state::dispatching ? std::optional<sys_time>(c.lease_until.value_or(t + cfg.claim_timeout))
                                                               : std::nullopt;
        return command::next_due(c.rec, p, c.created_at, lease);
    }

    // ---- a batch of transitions, committed together -------------------------------------------
    struct batch {
        std::vector<store::update> updates;
        std::unordered_map<std::int64_t, std::size_t> rows;   ///< each command touched: its latest update
        command_row latest(std::size_t i) const {              ///< as the next update must see it
            command_row r = updates[i].row;
            ++r.version;
            return r;
        }
        std::unordered_map<std::string, std::int64_t> queue_items; ///< queue item ids those rows hold
        struct touched_meter {
            meter_row row;      ///< as the batch will write it
            relay_state before; ///< its relay as read
        };
        std::unordered_map<std::string, touched_meter> meters; ///< meters touched
        std::vector<std::pair<std::size_t, command::outcome>> done; ///< index into updates, what the step said
        command::outcome last_ignored;                        ///< what apply returned for an input the lifecycle ignored
        explicit batch(std::size_t expected = 0) {            ///< room for `expected` transitions
            updates.reserve(expected);
            done.reserve(expected);
            rows.reserve(expected);
            queue_items.reserve(expected);
            meters.reserve(expected);
        }
        std::uint64_t ignored = 0, unmatched = 0, untracked = 0; ///< counted into stats() only when the batch commits
        std::uint64_t gateway_errors = 0, rejoins = 0;
        std::size_t unobserved = 0;               ///< commands that left the queue without a txack seen
        std::string first_unobserved;             ///< the first of them, described
        // Uplink memory (replayed replies), kept by the service once the batch commits.
        std::set<std::string> dedup;                                ///< deduplication ids of the batch's uplinks
        std::map<std::string, sys_time> joins;                      ///< devices that (re)joined, when
        std::uint64_t replays = 0;
        std::string first_replay;
        std::uint64_t refused = 0, deferred = 0;    ///< by the guard at dispatch
        std::map<std::string, check_request> checks; ///< device queue reads the batch asks for, once it commits
        /// What the store read for the whole batch at once (a store whose reads cost round trips); a read
        /// it was not asked for goes to the store.
        std::optional<store::batch_reads> pre;
    };

    /// What handling `events` will read: asked of the store at once when each read would cost a round trip.
    void read_ahead(batch& b, std::span<const chirpstack::event> events) {
        if (!db.batches_reads() || events.size() < 2) return;
        store::batch_keys k;
        for (const auto& e : events)
            std::visit(
                [&](const auto& x) {
                    using T = std::decay_t<decltype(x)>;
                    // A transition's meter is written with it: the device's meter comes along.
                    if constexpr (std::is_same_v<T, chirpstack::txack_event> || std::is_same_v<T, chirpstack::ack_event>) {
                        k.queue_items.push_back(x.queue_item_id);
                        k.devices.push_back(x.device.dev_eui);
                    } else if constexpr (std::is_same_v<T, chirpstack::log_event>) {
                        k.devices.push_back(x.device.dev_eui);
                        if (auto q = x.queue_item_id()) k.queue_items.push_back(*q);
                        else if (x.code == "DOWNLINK_GATEWAY") k.trails.push_back(x.device.dev_eui);
                    } else if constexpr (std::is_same_v<T, chirpstack::up_event>) {
                        k.devices.push_back(x.device.dev_eui);
                        k.trails.push_back(x.device.dev_eui);
                    } else if constexpr (std::is_same_v<T, chirpstack::join_event>) {
                        k.devices.push_back(x.device.dev_eui);
                    }
                },
                e);
        b.pre = db.read_batch(k);
    }
    /// A command's audit trail, as read ahead for its device or from the store.
    std::vector<store::audit_event> trail(const batch& b, const command_row& c) const {
        if (b.pre && b.pre->trails_asked.contains(c.dev_eui))
            if (auto it = b.pre->events.find(c.id); it != b.pre->events.end()) return it->second;
        return db.events(c.id);
    }
    /// What the command's latest claim recorded of the device's latest uplink (read ahead with its trail, or
    /// the claim's row alone from the store).
    std::optional<claims::snapshot> claim_snapshot(const batch& b, const command_row& c) const {
        if (b.pre && b.pre->trails_asked.contains(c.dev_eui))
            if (auto it = b.pre->events.find(c.id); it != b.pre->events.end()) return claims::latest_snapshot(it->second);
        const auto claim = db.latest_claim(c.id);
        return claim ? claims::parse_snapshot(claim->cause) : std::nullopt;
    }
    /// The meter as stored (read ahead or now).
    std::optional<meter_row> stored_meter(batch& b, const std::string& dev) {
        if (b.pre && b.pre->devices_asked.contains(dev)) {
            auto it = b.pre->meters.find(dev);
            if (it == b.pre->meters.end()) return std::nullopt;
            return it->second;
        }
        return db.meter(dev);
    }

    /// The command as the batch sees it (its own earlier writes win over the store).
    std::optional<command_row> overlay(batch& b, std::optional<command_row> r) {
        overlay_in_place(b, r);
        return r;
    }
    void overlay_in_place(batch& b, std::optional<command_row>& r) {
        if (!r) return;
        if (auto it = b.rows.find(r->id); it != b.rows.end()) r = b.latest(it->second);
    }
    std::optional<command_row> by_queue_item(batch& b, const std::string& q) {
        std::optional<command_row> r; // the one return value (NRVO): a row is ~500 instructions to move
        if (auto it = b.queue_items.find(q); it != b.queue_items.end()) r.emplace(b.latest(b.rows.at(it->second)));
        else if (b.pre && b.pre->items_asked.contains(q)) {
            if (auto at = b.pre->by_queue_item.find(q); at != b.pre->by_queue_item.end()) r.emplace(at->second);
            overlay_in_place(b, r);
        } else {
            r = db.by_queue_item(q);
            overlay_in_place(b, r);
        }
        return r;
    }
    std::vector<command_row> open_for(batch& b, const std::string& dev) {
        std::vector<command_row> out;
        std::vector<command_row> read; // the store's answer, moved from; rows read ahead are copied
        const bool ahead = b.pre && b.pre->devices_asked.contains(dev);
        if (!ahead) read = db.open(dev);
        auto& rows = ahead ? b.pre->open[dev] : read;
        for (auto& r : rows) {
            if (auto it = b.rows.find(r.id); it != b.rows.end()) {
                auto o = b.latest(it->second);
                if (!command::is_terminal(o.rec.current)) out.push_back(std::move(o));
            } else if (!command::is_terminal(r.rec.current)) {
                if (ahead) out.push_back(r);
                else out.push_back(std::move(r));
            }
        }
        return out;
    }
    /// The meter as the batch sees it (its own change first), without taking it into the batch.
    std::optional<meter_row> meter_seen(batch& b, const std::string& dev) {
        if (auto it = b.meters.find(dev); it != b.meters.end()) return it->second.row;
        return stored_meter(b, dev);
    }
    std::optional<sys_time> last_uplink_of(batch& b, const std::string& dev) {
        auto m = meter_seen(b, dev);
        return m ? m->last_uplink : std::nullopt;
    }
    /// The meter, taken into the batch (written with it); null when the store has none.
    meter_row* known_meter(batch& b, const std::string& dev) {
        if (auto it = b.meters.find(dev); it != b.meters.end()) return &it->second.row;
        auto stored = stored_meter(b, dev);
        if (!stored) return nullptr;
        const auto before = stored->relay;
        return &b.meters.emplace(dev, batch::touched_meter{std::move(*stored), before}).first->second.row;
    }
    /// `f` applied to the meter (a new one when the store has none), taken into the batch only if `f` changes
    /// it: an unchanged meter is not written.
    void change_meter(batch& b, const std::string& dev, const relay::fact& f) {
        if (auto it = b.meters.find(dev); it != b.meters.end()) return void(relay::apply(it->second.row, f));
        auto stored = stored_meter(b, dev);
        meter_row m = stored ? std::move(*stored) : meter_row{};
        m.dev_eui = dev;
        const auto before = m.relay;
        if (relay::apply(m, f)) b.meters.emplace(dev, batch::touched_meter{std::move(m), before});
    }
    /// The meter, taken into the batch; a new one when the store has none.
    meter_row& meter_for(batch& b, const std::string& dev) {
        if (auto* m = known_meter(b, dev)) return *m;
        meter_row m;
        m.dev_eui = dev;
        const auto before = m.relay;
        return b.meters.emplace(dev, batch::touched_meter{std::move(m), before}).first->second.row;
    }

    /// The safety guard again, as a pending command is about to be claimed for its enqueue (the first
    /// attempt, a retry after a backoff or a reply timeout, one after a failed enqueue, one flushed or
    /// dropped): dry run sends nothing; a disconnect goes out only to a meter that is not protected
    /// now, by its DevEUI, the request's reference or the one on record, and only inside a window.
    /// True when it was held back (cancelled, refused or deferred to the next window).
    bool held_back(batch& b, command_row& c, sys_time t) {
        const bool off = switches_off(c);
        const auto h = dispatch::held_back(c, cfg.safety.dry_run, off, guard, off ? recorded_ref(b, c.dev_eui) : std::string(), t);
        if (!h) return false;
        b.refused += h->refused;
        b.deferred += h->deferred;
        if (!h->note.empty()) c.note = h->note; // on the command itself, not only in its audit trail
        apply(b, c, h->in, "relaylink", h->detail);
        return true;
    }

    /// The meter reference on the meter's record (the batch's own change first).
    std::string recorded_ref(batch& b, const std::string& dev) {
        auto m = meter_seen(b, dev);
        return m ? m->meter_ref : std::string();
    }

    command::policy policy_for(const command_row& c) const {
        command::policy p = cfg.policy;
        p.max_retries = c.max_retries;
        p.confirmed_downlink = c.confirmed;
        if (const auto* prof = profile_of(c)) {
            p.uplink_interval = prof->uplink_interval;
            p.completion = prof->completion;
            if (c.kind == command_kind::read) p.completion = evidence::device_replied;
            if (c.kind == command_kind::raw) // an arbitrary frame: its delivery is what can be proven
                p.completion = std::min(p.completion, c.confirmed ? evidence::device_acknowledged : evidence::gateway_accepted);
        }
        if (!c.confirmed && p.completion == evidence::device_acknowledged) p.completion = evidence::gateway_accepted;
        return p;
    }

    /// The step's outcome, valid until the next apply on `b`. `row` is stepped (and its version is the one
    /// it will have once written).
    const command::outcome& apply(batch& b, command_row& row, const command::input& in, const std::string& actor, std::string detail = {}) {
        return step_into(b, row, false, in, actor, std::move(detail));
    }
    /// The same for a row the caller has no further use for: moved into the batch.
    const command::outcome& apply_last(batch& b, command_row&& row, const command::input& in, const std::string& actor, std::string detail = {}) {
        return step_into(b, row, true, in, actor, std::move(detail));
    }
    const command::outcome& step_into(batch& b, command_row& row, bool take, const command::input& in, const std::string& actor, std::string detail) {
        const sys_time t = now();
        const auto p = policy_for(row);
        command::outcome o = command::step(row.rec, in, p, t, random01());
        if (o.ignored) {
            ++b.ignored;
            b.last_ignored = std::move(o);
            return b.last_ignored;
        }
        row.updated_at = t;
        if (row.rec.current != state::dispatching) {
            row.claim_owner.clear();
            row.lease_until.reset();
        } else if (o.from != state::dispatching) { // claimed now: by us, until the lease ends
            row.claim_owner = cfg.instance;
            row.lease_until = claims::lease_until(t, cfg.claim_timeout);
        }
        row.timer_at = next_timer(row, p, t);
        const bool new_item = !row.rec.queue_item_id.empty() && !b.queue_items.contains(row.rec.queue_item_id) &&
                              (o.from == state::dispatching || o.from == state::pending); // enqueued or adopted now
        store::audit_event ev{row.id, 0, t, o.from, o.to, o.cause, actor, std::move(detail)};
        // (Members assigned into a default-constructed update, not `{row, ev, new_item}`: a braced temporary
        // costs a second move of the row, and clang 14 has no parenthesised aggregate init for emplace_back.)
        store::update& u = b.updates.emplace_back();
        if (take) u.row = std::move(row);
        else {
            u.row = row;
            ++row.version; // the version once this update is written
        }
        u.event = std::move(ev);
        u.new_queue_item = new_item;
        const command_row& r = u.row;
        if (!r.rec.queue_item_id.empty()) b.queue_items[r.rec.queue_item_id] = r.id;
        meter_consequences(b, r, o);
        b.rows[r.id] = b.updates.size() - 1;
        if (o.to == state::sent && (std::holds_alternative<command::left_queue>(in) || std::holds_alternative<command::reconciled>(in)))
            if (b.unobserved++ == 0) b.first_unobserved = describe(r);
        return b.done.emplace_back(b.updates.size() - 1, std::move(o)).second;
    }

    void meter_consequences(batch& b, const command_row& row, const command::outcome& o) {
        if (!store::is_relay(row.kind)) return;
        const bool off = row.kind == command_kind::relay_off;
        if (o.to == state::confirmed && o.from != state::confirmed)
            relay::apply(meter_for(b, row.dev_eui), relay::confirmed{!off, row.id, now()});
        else if (off && (o.to == state::sent || o.to == state::acknowledged) && o.from != o.to)
            change_meter(b, row.dev_eui, relay::disconnect_went_out{row.rec.sent_at.value_or(now()), now()}); // once: at sent or at the ack
    }

    /// Write the batch (the lock not held); on success act on it. False (nothing written) when another
    /// writer moved a command.
    bool commit(batch& b) {
        const bool wrote = !b.updates.empty() || !b.meters.empty();
        std::vector<meter_change> meter_notes;
        std::vector<command_row> enqueue_now;
        if (wrote) {
            bool tell_meters = false;
            {
                std::lock_guard lock(mu);
                tell_meters = !meter_subs.empty();
            }
            if (tell_meters)
                for (auto& [dev, m] : b.meters)
                    if (m.before != m.row.relay) meter_notes.push_back({m.row, m.before});
            std::sort(meter_notes.begin(), meter_notes.end(),
                      [](const meter_change& x, const meter_change& y) { return x.meter.dev_eui < y.meter.dev_eui; });
            // In DevEUI order: concurrent writers of several meters take their row locks in one order.
            std::vector<meter_row*> order;
            order.reserve(b.meters.size());
            for (auto& [dev, m] : b.meters) order.push_back(&m.row);
            std::sort(order.begin(), order.end(), [](const meter_row* x, const meter_row* y) { return x->dev_eui < y->dev_eui; });
            std::vector<meter_row> meters;
            meters.reserve(order.size());
            for (auto* m : order) meters.push_back(std::move(*m));
            if (!db.write(b.updates, meters)) {
                std::lock_guard lock(mu);
                ++st.conflicts;
                return false;
            }
        }
        {
            std::lock_guard lock(mu);
            committed(b, wrote, meter_notes, enqueue_now);
        }
        for (const auto& row : enqueue_now) call_enqueue(row); // network calls, after the lock
        return true;
    }

    /// A committed batch's consequences in memory (the lock held): counters, actions, notifications.
    void committed(batch& b, bool wrote, std::vector<meter_change>& meter_notes, std::vector<command_row>& enqueue_now) {
        if (wrote) {
            ++st.commits;
            note_meters.insert(note_meters.end(), std::make_move_iterator(meter_notes.begin()), std::make_move_iterator(meter_notes.end()));
            for (auto& [i, o] : b.done) {
                if (!b.updates[i].applied) { // a claim another instance took first: theirs to act on
                    ++st.claims_skipped;
                    continue;
                }
                ++st.transitions;
                act(b.updates[i].row, o, enqueue_now); // the rows carry their new versions now
            }
        }
        for (auto& [dev, why] : b.checks) check_wanted[dev].merge(why);
        if (!b.checks.empty()) schedule_poll_locked();
        st.refused += b.refused;
        st.deferred += b.deferred;
        remember_uplinks(b);
        st.ignored += b.ignored;
        st.uplinks_unmatched += b.unmatched;
        st.uplinks_untracked += b.untracked;
        st.gateway_errors += b.gateway_errors;
        st.rejoins += b.rejoins;
        st.unobserved_downlinks += b.unobserved;
        if (b.unobserved > 0 && !qos_warned) {
            qos_warned = true;
            note_logs.emplace_back(
                log_level::warning,
                b.first_unobserved + " left the device queue without relaylink seeing ChirpStack's txack for it. If "
                "relaylink listens to ChirpStack's MQTT integration, set `qos = 1` under [integration.mqtt] in chirpstack.toml "
                "(its default, 0, loses the events published while relaylink is away or reconnecting) and give relaylink's MQTT "
                "source a stable client id (a persistent session). Said once; stats().unobserved_downlinks counts them.");
        }
    }

    /// What a committed batch heard: kept for the replays of later batches.
    void remember_uplinks(batch& b) {
        for (auto& [dev, at] : b.joins) joined_at[dev] = at;
        for (const auto& id : b.dedup) {
            if (!recent_uplinks.insert(id).second) continue;
            recent_order.push_back(id);
            if (recent_order.size() > max_recent_uplinks) {
                recent_uplinks.erase(recent_order.front());
                recent_order.pop_front();
            }
        }
        st.replays_ignored += b.replays;
        if (b.replays > 0 && !replay_warned) {
            replay_warned = true;
            note_logs.emplace_back(log_level::warning, b.first_replay +
                                                           ". Replayed uplinks (an MQTT redelivery, a repeated or forged POST) are "
                                                           "counted in stats().replays_ignored and never confirm a command. Said once.");
        }
    }

    /// What a claim records of the device's latest uplink (claims::snapshot_text): a reply must come after it.
    std::string uplink_snapshot(batch& b, const std::string& dev) {
        const auto m = meter_seen(b, dev);
        return m ? claims::snapshot_text(*m) : std::string();
    }

    /// Why an uplink whose data answers `c` cannot be the answer to it (claims::replayed), judged against the
    /// snapshot its latest claim recorded. None: it may be the reply.
    std::optional<std::string> replayed(batch& b, const command_row& c, const chirpstack::up_event& up) {
        const auto snap = claim_snapshot(b, c);
        if (!snap) return std::nullopt;
        std::optional<sys_time> joined;
        if (auto it = b.joins.find(c.dev_eui); it != b.joins.end()) joined = it->second;
        else joined = joined_when(c.dev_eui);
        return claims::replayed(*snap, up.time.time_since_epoch().count() != 0 ? std::optional<sys_time>(up.time) : std::nullopt, up.f_cnt,
                                joined);
    }

    /// What a committed step asks for (the lock held); enqueues are called once it is released.
    void act(const command_row& row, const command::outcome& o, std::vector<command_row>& enqueue_now) {
        for (const auto& a : o.actions) {
            switch (a.kind) {
            case command::action_kind::enqueue:
                busy_ids.emplace(row.id, row.dev_eui);
                ++device_enqueues[row.dev_eui];
                ++st.enqueues;
                enqueue_now.push_back(row);
                break;
            case command::action_kind::flush_and_requeue: flush_wanted.emplace(row.dev_eui, row.f_port); break;
            case command::action_kind::reconcile_queue:
                check_wanted[row.dev_eui];
                busy_ids.emplace(row.id, row.dev_eui); // until the queue has been read
                break;
            case command::action_kind::read_back: read_backs.push_back(row); break;
            case command::action_kind::notify:
                if (!command_subs.empty()) note_commands.push_back({row, o.from, o.cause});
                break;
            case command::action_kind::persist: break; // done; when it is next due is in the row (timer_at)
            }
        }
        if (!o.actions.empty()) schedule_poll_locked();
    }

    /// A store failure in the service's own work (a lock held too long by another process, writers that keep
    /// moving the same command, a full disk): counted and kept for stats(), never fatal. What it interrupted is
    /// left as stored and taken up again (the next tick, a retried event batch, or the reconciliation of a
    /// claim that outlived claim_timeout).
    void note_store_error(const char* during, const std::exception& e) {
        std::lock_guard lock(mu);
        ++st.store_errors;
        st.last_store_error = std::string(during) + ": " + e.what();
    }

    /// Run `f` as this service's own work on the calling thread: a store failure is noted, never fatal
    /// (`on_failure` then runs), subscribers are told afterwards, and stop() is woken.
    template <class F, class G = void (*)()>
    void run_job(const char* during, F&& f, G on_failure = [] {}) {
        const inside mark;
        try {
            f();
        } catch (const std::exception& e) {
            note_store_error(during, e);
            try {
                on_failure();
            } catch (const std::exception& x) {
                note_store_error(during, x);
            }
        }
        deliver();
    }
    /// Post `body(service)` to the store's threads as one of the service's jobs (counted in `jobs`; the lock
    /// held by the caller). A weak reference: jobs left in the pool when the service goes must not keep it (and
    /// its pool) alive; they are dropped unrun.
    template <class Body>
    void post_counted_locked(Body body) {
        ++jobs;
        asio::post(pool, [w = weak_from_this(), body = std::move(body)]() mutable {
            auto self = w.lock();
            if (!self) return;
            on_pool = self.get();
            body(*self);
            on_pool = nullptr;
            {
                std::lock_guard lock(self->mu);
                --self->jobs;
            }
            self->idle_cv.notify_all();
        });
    }
    /// Post `f(service)` to the store's threads (from a ChirpStack completion, the tick, the inbox): never run
    /// on the I/O thread. Once the service is gone, `f` is dropped unrun. `f` and `on_failure` are given the
    /// service rather than holding it: a job waiting in the stopped pool that held a strong reference would
    /// keep the service, and with it the pool that holds the job, alive for good (LeakSanitizer found it: an
    /// enqueue answered after the service's destructor had stopped the pool).
    template <class F, class G = void (*)(impl&)>
    void post_job(const char* during, F f, G on_failure = [](impl&) {}) {
        std::lock_guard lock(mu);
        if (!alive) return; // f and on_failure are destroyed here, with what they hold
        post_counted_locked([during, f = std::move(f), on_failure = std::move(on_failure)](impl& s) mutable {
            if (s.alive) s.run_job(during, [&] { f(s); }, [&] { on_failure(s); });
        });
    }

    static constexpr backoff_policy conflict_backoff{std::chrono::milliseconds(1), std::chrono::milliseconds(20), 2.0, 0.5};
    /// Run `fill` into a batch and commit it, again from fresh reads when another writer interfered.
    template <class Fill>
    void transact(Fill&& fill) {
        for (int attempt = 0; attempt < 10; ++attempt) {
            if (attempt >= 2) // writers in step: a short, growing, jittered pause (off the I/O thread)
                std::this_thread::sleep_for(backoff_delay(conflict_backoff, attempt - 1, random01()));
            const auto one_transaction = db.begin_batch(); // the batch's reads inside its write transaction (SQLite)
            batch b;
            fill(b);
            if (commit(b)) return;
        }
        throw store::store_error("could not commit after 10 attempts: other writers keep changing the same commands");
    }

    // ---- events --------------------------------------------------------------------------------
    void handle(batch& b, const chirpstack::event& e) {
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, chirpstack::txack_event>) {
                    auto row = by_queue_item(b, x.queue_item_id);
                    if (!row) return void(++b.ignored);
                    auto st_ = correlate::txack(x);
                    apply_last(b, std::move(*row), st_.in, "chirpstack", std::move(st_.detail));
                } else if constexpr (std::is_same_v<T, chirpstack::ack_event>) {
                    auto row = by_queue_item(b, x.queue_item_id);
                    if (!row) return void(++b.ignored);
                    auto st_ = correlate::ack(x);
                    apply_last(b, std::move(*row), st_.in, "chirpstack", std::move(st_.detail));
                } else if constexpr (std::is_same_v<T, chirpstack::log_event>) {
                    auto q = x.queue_item_id();
                    if (!q && x.code == "DOWNLINK_GATEWAY") return handle_gateway_error(b, x);
                    auto row = q ? by_queue_item(b, *q) : std::nullopt;
                    if (!row) return void(++b.ignored);
                    const bool deferring = switches_off(*row) && cfg.safety.windows && cfg.safety.outside == safety_policy::outside_window::defer;
                    const sys_time t = now();
                    const auto st_ = correlate::log(x, *row, deferring, t, deferring ? guard.next_window(t) : std::nullopt);
                    apply(b, *row, st_.in, "chirpstack", st_.detail);
                } else if constexpr (std::is_same_v<T, chirpstack::up_event>) {
                    handle_up(b, x);
                } else if constexpr (std::is_same_v<T, chirpstack::join_event>) {
                    handle_join(b, x);
                }
            },
            e);
    }

    /// The gateway refused to transmit (ChirpStack 4.20: no queue item id in the log's context; the item
    /// stays queued for a later uplink): noted on the device's queued commands, at most
    /// `max_gateway_notes` times each (a gateway that keeps failing must not fill the audit trail).
    void handle_gateway_error(batch& b, const chirpstack::log_event& x) {
        ++b.gateway_errors;
        bool noted = false;
        for (auto& c : open_for(b, x.device.dev_eui)) {
            if (c.rec.current != state::queued) continue;
            const auto st_ = correlate::gateway_error(x, c, correlate::gateway_notes(trail(b, c)));
            if (!st_) continue;
            apply(b, c, st_->in, "chirpstack", st_->detail);
            noted = true;
        }
        if (!noted) ++b.ignored;
    }

    /// A (re)join. With the device profile's "flush queue on activate" (ChirpStack's UI default) the
    /// queue was deleted silently: read it again, and what is missing is enqueued again (counted).
    void handle_join(batch& b, const chirpstack::join_event& x) {
        const std::string& dev = x.device.dev_eui;
        b.joins[dev] = x.time; // a new session: its frame counters start again
        const auto open = open_for(b, dev);
        if (std::none_of(open.begin(), open.end(), [](const command_row& c) { return c.rec.current == state::queued; }))
            return void(++b.ignored);
        ++b.rejoins;
        b.checks[dev].merge({false, x.time});
    }

    /// The uplink memory kept by committed batches (the lock taken for the lookup only).
    bool heard_before(const std::string& dedup) const {
        std::lock_guard lock(mu);
        return recent_uplinks.contains(dedup);
    }
    std::optional<sys_time> joined_when(const std::string& dev) const {
        std::lock_guard lock(mu);
        if (auto it = joined_at.find(dev); it != joined_at.end()) return it->second;
        return std::nullopt;
    }

    void handle_up(batch& b, const chirpstack::up_event& up) {
        const std::string& dev = up.device.dev_eui;
        const sys_time t = now();
        if (!up.deduplication_id.empty()) { // the same uplink again (at-least-once delivery): nothing in it is new
            if (heard_before(up.deduplication_id) || !b.dedup.insert(up.deduplication_id).second) {
                if (b.replays++ == 0)
                    b.first_replay = "uplink " + up.deduplication_id + " of " + dev + " (fCnt " + std::to_string(up.f_cnt) + ") arrived again: ignored";
                return;
            }
        }
        meter_row* known = known_meter(b, dev);
        auto open = open_for(b, dev);
        if (!known) {
            if (open.empty()) { // a device relaylink was never asked about: nothing to keep
                ++b.untracked;
                return;
            }
            // A command whose meter row is not written yet (a request writes it just after the command, and
            // another process may have sent the command meanwhile): the uplink may be its reply all the same.
            known = &meter_for(b, dev);
        }
        relay::apply(*known, relay::uplink{t, up.time.time_since_epoch().count() != 0 ? std::optional<sys_time>(up.time) : std::nullopt,
                                           up.f_cnt});
        // One pointer captured: std::function keeps it without an allocation.
        const struct { impl* self; batch& b; const chirpstack::up_event& up; } ctx{this, b, up};
        const auto answer = correlate::uplink(up, open, profiles, [c_ = &ctx](const command_row& c) { return c_->self->replayed(c_->b, c, c_->up); });
        if (answer.replays > 0 && b.replays++ == 0)
            b.first_replay = "an uplink of " + dev + " answering " + describe(open[*answer.first_replay_index]) +
                             " came from before it could have gone out (" + answer.first_replay + "): not its reply";
        if (!answer.index) {
            if (answer.replays == 0) ++b.unmatched;
            return;
        }
        auto& c = open[*answer.index];
        if (answer.relay_on) relay::apply(meter_for(b, dev), relay::read_shows{*answer.relay_on});
        if (!answer.relay_on) return void(apply_last(b, std::move(c), answer.reply->in, "chirpstack", answer.reply->detail));
        apply(b, c, answer.reply->in, "chirpstack", answer.reply->detail);
        read_back_shows(b, c, *answer.relay_on, answer.reply->detail);
    }

    /// A read `read` answered: the relay is on (or off). Each relay command of the meter that completes on
    /// state_verified and went out before the read was asked for is proven (or, showing the other state,
    /// sent again); the lifecycle ignores it for a command that is not on the radio.
    void read_back_shows(batch& b, const command_row& read, bool on, const std::string& detail) {
        auto open = open_for(b, read.dev_eui);
        for (auto& [i, st_] : correlate::read_back(read, on, open,
                                                   [&](const command_row& o) { return policy_for(o).completion == evidence::state_verified; },
                                                   detail))
            apply(b, open[i], st_.in, "chirpstack", st_.detail);
    }

    /// The read-backs the lifecycle asked for (action read_back): a read command each, created as a request
    /// of relaylink's would be, with a key per attempt so the same read-back is never asked for twice.
    void start_read_backs(const std::vector<command_row>& want) {
        for (const auto& row : want) {
            request r;
            r.dev_eui = row.dev_eui;
            r.profile = row.profile;
            r.meter_ref = row.meter_ref;
            r.actor = "relaylink";
            r.reason = "read-back of command " + std::to_string(row.id);
            r.idempotency_key = "relaylink:read-back:" + std::to_string(row.id) + ":" + std::to_string(row.rec.retry_count);
            try {
                create(r, command_kind::read, {}, std::nullopt);
            } catch (const request_error& e) { // a profile without relay_state cannot complete on state_verified: its reply timeout retries
                std::lock_guard lock(mu);
                note_logs.emplace_back(log_level::warning, describe(row) + ": the read-back cannot be asked for: " + e.what());
            }
        }
    }

    /// A caller's call (send, cancel, ingest, poll…) on the caller's thread: subscribers are told what it
    /// changed afterwards, and stop() is woken.
    template <class F>
    auto call(F&& f) {
        const inside mark; // stop() called from here (a subscriber) must not wait for this thread
        struct after {
            impl& s;
            ~after() {
                s.idle_cv.notify_all();
                s.deliver();
            }
        } done{*this};
        return f();
    }
    /// How deep this thread is in the service's own calls (handlers, API calls, their subscribers).
    static inline thread_local int depth = 0;
    struct inside {
        inside() { ++depth; }
        ~inside() { --depth; }
        inside(const inside&) = delete;
        inside& operator=(const inside&) = delete;
    };
    /// ChirpStack calls whose results are still to be recorded, or store work of the service's own (the lock held).
    bool calls_in_flight() const { return !device_enqueues.empty() || !device_op_running.empty() || jobs > 0; }

    // ---- timers and dispatch -------------------------------------------------------------------
    /// Run the dispatcher soon, on the store's threads (the lock held).
    void schedule_poll_locked() {
        if (poll_posted || !alive) return;
        poll_posted = true;
        post_counted_locked([](impl& s) {
            {
                std::lock_guard lock(s.mu);
                s.poll_posted = false;
            }
            if (s.alive && s.running) s.run_job("dispatching", [&] { s.poll_once(); }); // stopped: nothing new goes out
        });
    }
    void schedule_poll() {
        std::lock_guard lock(mu);
        schedule_poll_locked();
    }

    std::size_t enqueues_in_flight() const {
        std::size_t n = 0;
        for (auto& [d, k] : device_enqueues) n += static_cast<std::size_t>(k);
        return n;
    }
    /// Whether a device operation is wanted or running for `dev` (nothing is claimed for it meanwhile).
    bool device_blocked(const std::string& dev) const {
        std::lock_guard lock(mu);
        return check_wanted.contains(dev) || flush_wanted.contains(dev) || device_op_running.contains(dev);
    }
    bool is_busy(std::int64_t id) const {
        std::lock_guard lock(mu);
        return busy_ids.contains(id);
    }

    /// The dispatcher: one pass at a time (asked while one runs, it runs again after it), on whichever
    /// thread asks (the store's, or a caller of poll()), the lock never held across its store calls.
    /// `wait`: the caller (a public poll()) waits for a pass in progress to end, then runs one itself, so that
    /// what is due when it calls has been handled when it returns.
    void poll_once(bool wait = false) {
        {
            std::unique_lock lock(mu);
            if (polling) {
                if (!wait) {
                    poll_again = true;
                    return;
                }
                idle_cv.wait(lock, [&] { return !polling || !alive; });
                if (!alive) return;
            }
            polling = true;
            poll_again = false;
        }
        for (;;) {
            try {
                poll_pass();
            } catch (...) {
                end_polling();
                throw;
            }
            std::unique_lock lock(mu);
            if (!poll_again || !alive) { // checked and ended under one lock: a request made meanwhile is never lost
                polling = false;
                lock.unlock();
                idle_cv.notify_all();
                return;
            }
            poll_again = false;
        }
    }
    void end_polling() {
        {
            std::lock_guard lock(mu);
            polling = false;
        }
        idle_cv.notify_all();
    }

    void poll_pass() {
        std::vector<command_row> want;
        {
            std::lock_guard lock(mu);
            want.swap(read_backs);
        }
        if (!want.empty()) start_read_backs(want);
        const sys_time t = now();
        check_silent_meters(t);
        std::size_t free_slots = 0;
        {
            std::lock_guard lock(mu);
            free_slots = cfg.max_in_flight > enqueues_in_flight() ? cfg.max_in_flight - enqueues_in_flight() : 0;
        }
        auto one_transaction = db.begin_batch(); // the pass's reads inside its write transaction (SQLite)
        const auto due = db.due(t, 256);
        std::size_t slots = free_slots;
        batch all;
        for (const auto& r : due) step_due(all, r, t, slots);
        const bool committed_all = commit(all);
        one_transaction.reset();
        if (!committed_all) {
            // Another process moved some of these (it claimed them, or applied an event): one command
            // at a time from a fresh read, so a command another process took is simply skipped.
            slots = free_slots;
            for (const auto& r : due) {
                const std::size_t before = slots;
                transact([&](batch& b) {
                    slots = before;
                    auto fresh = db.get(r.id);
                    if (fresh && fresh->timer_at && *fresh->timer_at <= t) step_due(b, *fresh, t, slots);
                });
            }
        }
        start_device_ops(t);
    }

    void step_due(batch& b, const command_row& r, sys_time t, std::size_t& slots) {
        auto row = overlay(b, r);
        switch (dispatch::what_is_due(*row, t, is_busy(row->id))) {
        case dispatch::due::nothing: break;
        case dispatch::due::deadline: apply(b, *row, command::timer_fired{command::timer::deadline}, "relaylink"); break;
        case dispatch::due::claim:
            if (slots == 0 || device_blocked(row->dev_eui) || held_back(b, *row, t)) break;
            if (!apply(b, *row, command::dispatch_begin{}, "relaylink", "claimed by " + cfg.instance).ignored) {
                b.updates.back().event.cause += uplink_snapshot(b, row->dev_eui);
                b.updates.back().claim = true; // skipped, not a conflict, when another instance holds or moved it
                --slots;
            }
            break;
        case dispatch::due::reconcile: b.checks[row->dev_eui]; break; // claimed long ago, not ours in flight: a crash, or a lost answer
        case dispatch::due::reply_timeout: apply(b, *row, command::timer_fired{command::timer::reply_timeout}, "relaylink"); break;
        }
    }

    void check_silent_meters(sys_time t) {
        transact([&](batch& b) {
            for (const auto& stored : db.awaiting_uplink(t - shortest_silence())) { // only those that may be overdue
                const auto* prof = profiles.find(stored.profile);
                const auto interval = prof ? prof->uplink_interval : cfg.policy.uplink_interval;
                const relay::silence_check check{t, interval * cfg.unreachable_after_intervals, cfg.unreachable_after_intervals};
                meter_row probe = stored;
                if (!relay::apply(probe, check)) continue; // not silent long enough: not taken into the batch
                const std::string since = format_rfc3339_seconds(*stored.disconnect_sent_at);
                meter_row& m = meter_for(b, stored.dev_eui);
                relay::apply(m, check);
                for (auto& c : open_for(b, stored.dev_eui))
                    if (c.kind == command_kind::relay_off)
                        apply(b, c, command::device_silent{"no uplink since " + since}, "relaylink", m.note);
            }
        });
    }

    /// The enqueue a committed claim asked for (its bookkeeping done in act()); the lock not held.
    void call_enqueue(const command_row& row) {
        chirpstack::enqueue_request req;
        req.confirmed = row.confirmed;
        req.f_port = row.f_port;
        req.data = row.payload;
        req.expires_at = row.rec.deadline;
        // A disconnect's item goes no later than its window's end: ChirpStack itself drops it then
        // (log EXPIRED, taken as window_closed) if no uplink came to carry it. `updated_at` is the
        // claim's time, when the window was checked.
        if (switches_off(row))
            if (auto end = guard.window_end(row.updated_at); end && (!req.expires_at || *end < *req.expires_at)) req.expires_at = end;
        auto diag = std::make_shared<chirpstack::diagnostics>();
        api.async_enqueue(row.dev_eui, std::move(req), *diag,
                          [self = shared_from_this(), id = row.id, dev = row.dev_eui, diag](error_code ec, std::string qid) {
                              // On a store failure the command stays dispatching: reconciled when its lease ends.
                              self->post_job("recording an enqueue", [id, dev, ec, qid = std::move(qid), diag](impl& s) mutable {
                                  s.enqueue_done(id, dev, ec, std::move(qid), *diag);
                              });
                          });
    }

    void enqueue_done(std::int64_t id, const std::string& dev, error_code ec, std::string qid, const chirpstack::diagnostics& diag) {
        // Busy until the answer is recorded (or the store refused it): a command is never seen idle in between.
        struct release {
            impl& s;
            std::int64_t id;
            const std::string& dev;
            bool failed;
            ~release() {
                {
                    std::lock_guard lock(s.mu);
                    s.busy_ids.erase(id);
                    if (--s.device_enqueues[dev] <= 0) s.device_enqueues.erase(dev);
                    if (failed) ++s.st.enqueue_failures;
                    s.schedule_poll_locked();
                }
                s.idle_cv.notify_all();
            }
        } done{*this, id, dev, bool(ec)};
        if (!alive) return;
        transact([&](batch& b) {
            auto row = db.get(id);
            if (!row) return;
            if (!ec) {
                apply(b, *row, command::enqueue_succeeded{qid}, "chirpstack", "queue item " + qid);
                return;
            }
            const std::string msg = diag.message.empty() ? ec.message() : diag.message;
            std::string detail = ec.message();
            if (diag.http_status) detail += ", HTTP " + std::to_string(diag.http_status);
            if (diag.attempts > 1) detail += ", " + std::to_string(diag.attempts) + " attempts";
            apply(b, *row, command::enqueue_failed{msg, chirpstack::is_transient(ec), chirpstack::outcome_unknown(ec, diag)}, "chirpstack", detail);
        });
    }

    /// Queue reads and flushes, each alone for its device (no enqueue for it in flight): chosen under the
    /// lock, called after it.
    void start_device_ops(sys_time t) {
        std::vector<std::pair<std::string, std::uint8_t>> flushes;
        std::vector<std::pair<std::string, check_request>> checks;
        std::unique_lock lock(mu);
        auto ready = [&](const std::string& dev) {
            // At most max_in_flight calls at once, enqueues included (a start-up with many queued
            // commands reads their device queues a few at a time).
            if (device_op_running.size() + enqueues_in_flight() >= cfg.max_in_flight) return false;
            if (device_op_running.contains(dev) || device_enqueues.contains(dev)) return false;
            auto it = device_op_retry_at.find(dev);
            return it == device_op_retry_at.end() || it->second <= t;
        };
        // Flushes first: the read that follows a flush tells what it removed.
        for (auto it = flush_wanted.begin(); it != flush_wanted.end();) {
            if (!ready(it->first)) {
                ++it;
                continue;
            }
            device_op_running.insert(it->first);
            ++st.flushes;
            flushes.emplace_back(it->first, it->second);
            it = flush_wanted.erase(it);
        }
        for (auto it = check_wanted.begin(); it != check_wanted.end();) {
            if (!ready(it->first) || flush_wanted.contains(it->first)) {
                ++it;
                continue;
            }
            device_op_running.insert(it->first);
            ++st.reconciliations;
            checks.emplace_back(it->first, it->second);
            it = check_wanted.erase(it);
        }
        lock.unlock();
        for (const auto& [dev, port] : flushes) call_flush(dev, port);
        for (const auto& [dev, why] : checks) call_queue_check(dev, why);
    }

    static constexpr backoff_policy device_op_backoff{std::chrono::seconds(30), std::chrono::minutes(30), 2.0, 0.0};
    /// A device operation failed: tried again after a backoff that doubles from 30 s to 30 min, and noted
    /// on the commands it holds up at the 1st, 2nd, 4th, 8th… failure in a row (the audit trail shows
    /// why they wait, without a row per attempt, however long ChirpStack keeps failing).
    void device_op_failed(const std::string& dev, const std::string& what, error_code ec, const chirpstack::diagnostics& diag) {
        int n = 0;
        const auto delay = [&] {
            std::lock_guard lock(mu);
            ++st.device_op_failures;
            n = ++device_op_failures[dev];
            const auto d = std::chrono::duration_cast<std::chrono::seconds>(backoff_delay(device_op_backoff, n)); // no jitter: told in the audit trail
            device_op_retry_at[dev] = now() + d;
            return d;
        }();
        if ((n & (n - 1)) != 0) return;
        const std::string why = what + " failed (" + (diag.message.empty() ? ec.message() : diag.message) + ")" +
                                (n > 1 ? ", " + std::to_string(n) + " times in a row" : std::string()) + ": trying again in " +
                                std::to_string(delay.count()) + " s";
        for (auto& c : db.open(dev))
            if (c.rec.current == state::dispatching || c.rec.current == state::queued)
                db.append_event({c.id, 0, now(), c.rec.current, c.rec.current, why, "relaylink", ""});
    }
    void device_op_succeeded(const std::string& dev) { // the lock held
        device_op_running.erase(dev);
        device_op_retry_at.erase(dev);
        device_op_failures.erase(dev);
    }

    /// What a device read brings together: its queue and, when a claim's item is missing from it, what
    /// ChirpStack knows of the device.
    struct device_read {
        check_request why;
        std::vector<chirpstack::queue_item> queue;
        std::optional<device_facts> facts;
    };

    void call_queue_check(const std::string& dev, check_request why) {
        auto diag = std::make_shared<chirpstack::diagnostics>();
        api.async_get_queue(dev, *diag, [self = shared_from_this(), dev, why, diag](error_code ec, std::vector<chirpstack::queue_item> q) {
            // On a store failure the queue is read again later; that run frees the commands.
            self->post_job(
                "recording a queue read",
                [dev, why, diag, ec, q = std::move(q)](impl& s) mutable { s.queue_read(dev, device_read{why, std::move(q), {}}, ec, *diag); },
                [dev, why](impl& s) { s.retry_check(dev, why); });
        });
    }
    void retry_check(const std::string& dev, const check_request& why) {
        {
            std::lock_guard lock(mu);
            device_op_running.erase(dev);
            check_wanted[dev].merge(why);
        }
        idle_cv.notify_all();
    }
    /// The device operation of `dev` ends with the service gone: nothing more is recorded.
    void device_op_abandoned(const std::string& dev) {
        {
            std::lock_guard lock(mu);
            device_op_running.erase(dev);
        }
        idle_cv.notify_all();
    }
    void check_failed(const std::string& dev, const check_request& why, const std::string& what, error_code ec,
                      const chirpstack::diagnostics& diag) {
        retry_check(dev, why);
        device_op_failed(dev, what, ec, diag);
    }

    /// The claims of `dev` this instance may reconcile, each with the identical queue item it adopts (if any).
    std::vector<std::pair<command_row, std::optional<std::string>>> plan_adoptions(batch& b, const std::string& dev,
                                                                                  const std::vector<chirpstack::queue_item>& q) {
        std::vector<std::pair<command_row, std::optional<std::string>>> plan;
        auto open = open_for(b, dev);
        const sys_time t = now();
        // None of ours is in flight for the device: device operations run alone.
        for (auto& a : reconcile::plan(open, q, [&](const command_row& c) { return may_reconcile(c, t); },
                                       [&](const std::string& item) -> std::optional<std::int64_t> {
                                           auto owner = db.by_queue_item(item);
                                           return owner ? std::optional<std::int64_t>(owner->id) : std::nullopt;
                                       }))
            plan.emplace_back(std::move(open[a.index]), std::move(a.item));
        return plan;
    }

    /// The highest fCntDown relaylink saw go out for `dev` (a txack) before `before`.
    std::optional<std::uint32_t> f_cnt_down_before(const std::string& dev, sys_time before) const {
        std::optional<std::uint32_t> best;
        for (const auto& c : db.history(dev, 50))
            if (c.rec.f_cnt_down && c.rec.sent_at && *c.rec.sent_at < before && (!best || *c.rec.f_cnt_down > *best)) best = c.rec.f_cnt_down;
        return best;
    }

    /// The queue of `dev` has been read. When a claim's item is not in it, what ChirpStack knows of the
    /// device is read next (404: no such device; lastSeenAt; the next fCntDown when relaylink has a frame
    /// counter to compare it with), then everything is decided at once.
    void queue_read(const std::string& dev, device_read r, error_code ec, const chirpstack::diagnostics& diag) {
        if (!alive) return device_op_abandoned(dev);
        if (ec) return check_failed(dev, r.why, "reading the device queue", ec, diag);
        bool missing = false;
        std::optional<sys_time> earliest_claim;
        {
            batch peek;
            for (const auto& [c, adopt] : plan_adoptions(peek, dev, r.queue))
                if (!adopt) {
                    missing = true;
                    const auto at = claim_time(c);
                    if (!earliest_claim || at < *earliest_claim) earliest_claim = at;
                }
        }
        if (!missing) return apply_device_read(dev, r);
        auto diag2 = std::make_shared<chirpstack::diagnostics>();
        const auto baseline = f_cnt_down_before(dev, *earliest_claim);
        api.async_get_device(dev, *diag2, [self = shared_from_this(), dev, r = std::move(r), diag2, baseline](error_code dec, chirpstack::device d) mutable {
            self->post_job(
                "recording a device read",
                [dev, r, diag2, baseline, dec, d = std::move(d)](impl& s) mutable { s.device_read_done(dev, std::move(r), dec, d, *diag2, baseline); },
                [dev, why = r.why](impl& s) { s.retry_check(dev, why); });
        });
    }

    void device_read_done(const std::string& dev, device_read r, error_code dec, const chirpstack::device& d,
                          const chirpstack::diagnostics& diag2, std::optional<std::uint32_t> baseline) {
        if (!alive) return device_op_abandoned(dev);
        device_facts f;
        if (dec == chirpstack::errc::not_found) {
            f.known = false;
            f.unknown_detail = "GET /api/devices/" + dev + ": " + (diag2.message.empty() ? dec.message() : diag2.message);
        } else if (dec) {
            return check_failed(dev, r.why, "reading the device from ChirpStack", dec, diag2);
        } else {
            f.last_seen_at = d.last_seen_at;
        }
        r.facts = f;
        if (!f.known || !baseline || !f.last_seen_at) return apply_device_read(dev, r);
        // A frame counter to compare with: ChirpStack's next one says whether any downlink went out since.
        auto diag3 = std::make_shared<chirpstack::diagnostics>();
        api.async_get_next_f_cnt_down(dev, *diag3, [self = shared_from_this(), dev, r = std::move(r), diag3, baseline](error_code fec, std::uint32_t n) mutable {
            self->post_job(
                "recording a device read",
                [dev, r, diag3, baseline, fec, n](impl& s) mutable {
                    if (!s.alive) return s.device_op_abandoned(dev);
                    if (!fec) { // without it the judgement errs towards waiting for a reply
                        r.facts->next_f_cnt_down = n;
                        r.facts->f_cnt_down_before = baseline;
                    }
                    s.apply_device_read(dev, r);
                },
                [dev, why = r.why](impl& s) { s.retry_check(dev, why); });
        });
    }

    void apply_device_read(const std::string& dev, const device_read& r) {
        const std::size_t items = r.queue.size();
        transact([&](batch& b) {
            const std::string read = "device queue read: " + std::to_string(items) + " items";
            for (auto& c : open_for(b, dev))
                if (auto in = reconcile::queued_command(c, r.queue, r.why)) apply(b, c, *in, "relaylink", read);
            for (auto& [c, adopt] : plan_adoptions(b, dev, r.queue)) {
                std::optional<device_facts> facts = r.facts;
                if (facts) facts->last_uplink = last_uplink_of(b, dev);
                const auto in = reconcile::claim_input(dev, adopt, facts, adopt ? sys_time{} : claim_time(c), cfg.clock_tolerance);
                if (!in) { // reconcilable only since the queue was read: judged at the next read
                    b.checks[dev];
                    continue;
                }
                apply(b, c, *in, "relaylink", read + (adopt ? ", adopted " + *adopt : ", none identical"));
            }
        });
        // Device operations run alone: no enqueue of this device is in flight, so every command of it held
        // for this read is free now (those it just ended too). Only now, after the commit: a claim made for the
        // device while its read was being applied would be reconciled against a queue read from before it.
        {
            std::lock_guard lock(mu);
            device_op_succeeded(dev);
            std::erase_if(busy_ids, [&](const auto& held) { return held.second == dev; });
            schedule_poll_locked();
        }
        idle_cv.notify_all();
    }

    /// When `c` was claimed: its audit row into `dispatching`, written in the claim's own transaction.
    /// Not `lease_until − claim_timeout`: the claimer's timeout may differ from ours. Read only when a
    /// claim is reconciled (a crash, a lost answer), so the audit read costs nothing on the usual path.
    sys_time claim_time(const store::command_row& c) const { return claims::claimed_at(db.events(c.id), c.updated_at); }

    /// Deletes the device's unsent items but keeps one that awaits its ACK (a DELETE would destroy it, and
    /// its ack event would never come), then reads the queue to tell what the flush removed.
    void call_flush(const std::string& dev, std::uint8_t f_port) {
        auto diag = std::make_shared<chirpstack::diagnostics>();
        api.async_flush_unsent(dev, f_port, *diag, [self = shared_from_this(), dev, f_port, diag](error_code ec, std::string) {
            self->post_job("recording a flush", [dev, f_port, diag, ec](impl& s) { s.flushed(dev, f_port, ec, *diag); }, [dev, f_port](impl& s) {
                {
                    std::lock_guard lock(s.mu);
                    s.device_op_running.erase(dev);
                    s.flush_wanted.emplace(dev, f_port);
                }
                s.idle_cv.notify_all();
            });
        });
    }

    void flushed(const std::string& dev, std::uint8_t f_port, error_code ec, const chirpstack::diagnostics& diag) {
        if (!alive) return device_op_abandoned(dev);
        if (ec) { // the flush may or may not have happened: doing it again is harmless
            device_op_failed(dev, "flushing the device queue", ec, diag);
            {
                std::lock_guard lock(mu);
                device_op_running.erase(dev);
                flush_wanted.emplace(dev, f_port);
            }
            idle_cv.notify_all();
            return;
        }
        {
            std::lock_guard lock(mu);
            device_op_succeeded(dev);
            check_wanted[dev].merge({true, std::nullopt}); // before anything else goes to the device
            schedule_poll_locked();
        }
        idle_cv.notify_all();
    }

    /// Every `tick` the dispatcher is asked to run (on the store's threads; the I/O thread only asks).
    void tick() {
        timer.expires_after(cfg.tick);
        timer.async_wait([w = weak_from_this()](error_code ec) {
            auto self = w.lock();
            if (ec || !self || !self->running || !self->alive) return;
            self->schedule_poll();
            self->tick();
        });
    }

    /// The inbox's batches, one at a time, on the store's threads: `drain_posted` stays set from the first
    /// post_ingest until a batch leaves the inbox empty.
    void post_drain() { // inbox_mu held
        post_job("applying events", [](impl& s) { s.drain(); });
    }
    void drain_later(std::chrono::nanoseconds d) { // inbox_mu held; the timer fires on the I/O thread, the batch runs on the store's
        linger_timer.expires_after(d);
        linger_timer.async_wait([w = weak_from_this()](boost::system::error_code) { // weak: the timer is the service's own
            auto self = w.lock();
            if (!self) return;
            std::lock_guard lock(self->inbox_mu);
            self->post_drain();
        });
    }
    void drain() {
        std::vector<chirpstack::event> take;
        {
            std::lock_guard lock(inbox_mu);
            // A short wait lets a trickle of events become one batch: one commit instead of many.
            if (!lingered && cfg.batch_linger.count() > 0 && inbox.size() < cfg.max_batch) {
                lingered = true;
                drain_later(cfg.batch_linger);
                return;
            }
            lingered = false;
            const std::size_t n = std::min(cfg.max_batch, inbox.size());
            take.assign(std::make_move_iterator(inbox.begin()), std::make_move_iterator(inbox.begin() + static_cast<std::ptrdiff_t>(n)));
            inbox.erase(inbox.begin(), inbox.begin() + static_cast<std::ptrdiff_t>(n));
            inbox_in_batch = n;
        }
        std::vector<chirpstack::event> failed;
        try {
            failed = ingest(take);
        } catch (...) {
            failed = std::move(take);
        }
        {
            std::lock_guard lock(inbox_mu);
            inbox_in_batch = 0;
            if (failed.empty()) {
                refused_backoff.reset();
                if (inbox.empty()) drain_posted = false;
                else post_drain();
            } else { // given back, first in line, after a pause that doubles while the store keeps refusing (to 5 s)
                inbox.insert(inbox.begin(), std::make_move_iterator(failed.begin()), std::make_move_iterator(failed.end()));
                lingered = true; // the retry takes the batch at once
                drain_later(refused_backoff.next());
            }
        }
        inbox_cv.notify_all();
    }

    /// Apply events; returns those the store could not take (to be tried again), in their order.
    std::vector<chirpstack::event> ingest(std::span<const chirpstack::event> events) {
        const inside mark; // its subscribers are told from here: a stop() they call must not wait for this thread
        std::vector<chirpstack::event> failed;
        [&] {
            if (!alive) return;
            {
                std::lock_guard lock(mu);
                st.events += events.size();
            }
            try {
                const auto one_transaction = db.begin_batch(); // its reads inside its write transaction (SQLite)
                batch first(events.size());
                read_ahead(first, events); // PostgreSQL: the batch's reads in one round trip
                for (const auto& e : events) handle(first, e);
                if (commit(first)) return;
            } catch (const std::exception& e) {
                note_store_error("applying events", e);
            }
            // Another writer moved a command (or the store refused the batch): the events one by one
            // from fresh reads; an event whose command keeps moving is given back.
            for (const auto& e : events) {
                try {
                    transact([&](batch& b) { handle(b, e); });
                } catch (const std::exception& x) {
                    note_store_error("applying an event", x);
                    failed.push_back(e);
                }
            }
        }();
        deliver(); // before the batch counts as done: whoever waits for the inbox to drain has been told its changes
        return failed;
    }

    /// Tells the subscribers (and the log) what was noted. When another thread is delivering, it tells these
    /// changes too, after those before them, and this waits until it has (so whoever waits for a batch has been
    /// told its changes); a subscriber's own changes are told by its deliverer's loop, right after it returns.
    void deliver() {
        std::unique_lock lock(mu);
        if (delivering) {
            if (deliverer == std::this_thread::get_id()) return;
            const auto mine = batches_taken + 1; // the next batch taken holds what was noted before this call
            told_cv.wait(lock, [&] { return batches_told >= mine || !delivering; });
            return;
        }
        delivering = true;
        deliverer = std::this_thread::get_id();
        struct done_delivering {
            impl& s;
            std::unique_lock<std::mutex>& lock;
            ~done_delivering() {
                if (!lock.owns_lock()) lock.lock();
                s.delivering = false;
                s.deliverer = {};
                s.told_cv.notify_all();
            }
        } finish{*this, lock};
        for (;;) {
            std::vector<command_change> cs;
            std::vector<meter_change> ms;
            std::vector<std::pair<log_level, std::string>> logs;
            std::vector<std::function<void(const command_change&)>> cf;
            std::vector<std::function<void(const meter_change&)>> mf;
            cs.swap(note_commands);
            ms.swap(note_meters);
            logs.swap(note_logs);
            if (cs.empty() && ms.empty() && logs.empty()) return;
            ++batches_taken;
            for (auto& [k, f] : command_subs) cf.push_back(f);
            for (auto& [k, f] : meter_subs) mf.push_back(f);
            lock.unlock();
            if (cfg.log)
                for (const auto& [level, line] : logs) {
                    try {
                        cfg.log(level, line);
                    } catch (...) { // a log function must not throw (relaylink/log.hpp); if it does, the line is lost, nothing else
                    }
                }
            for (const auto& c : cs)
                for (auto& f : cf) f(c);
            for (const auto& m : ms)
                for (auto& f : mf) f(m);
            lock.lock();
            ++batches_told;
            told_cv.notify_all();
        }
    }

    // ---- requests ------------------------------------------------------------------------------
    command_row create(const request& r, command_kind kind, bytes raw, std::optional<std::uint8_t> raw_port);
};

command_row service::impl::create(const request& r, command_kind kind, bytes raw, std::optional<std::uint8_t> raw_port) {
    const std::string dev = admission::checked_dev_eui(r);
    // The checks and the insert run alone for the meter (a duplicate in flight is found), never for others;
    // the service's lock is not held: other meters' requests, events and completions go on meanwhile.
    std::lock_guard one_at_a_time(meter_lock(dev));
    auto count = [&](std::uint64_t service_stats::*field) {
        std::lock_guard lock(mu);
        ++(st.*field);
    };
    // What admission needs to know, read first; then it decides (admission.hpp), and this writes.
    const auto meter = db.meter(dev); // its profile on record, and its relay state (reconnects)
    const sys_time t = now();
    command_row c = admission::build(r, dev, kind, std::move(raw), raw_port, profiles, meter, cfg.policy.max_retries, t);
    const auto by_key = c.idempotency_key.empty() ? std::nullopt : db.by_idempotency_key(c.idempotency_key);
    const auto open = !by_key && store::is_relay(kind) ? db.open(dev) : std::vector<command_row>{};
    auto d = admission::decide(std::move(c), r, by_key, open, meter,
                               {guard, cfg.safety.dry_run, cfg.default_deadline, [&](const command_row& x) { return switches_off(x); }}, t);
    using outcome = admission::decision::outcome;
    if (d.what != outcome::create) {
        count(&service_stats::duplicates_returned);
        if (d.what == outcome::in_flight)
            db.append_event({d.command.id, 0, t, d.command.rec.current, d.command.rec.current, d.cause, r.actor, r.reason});
        return d.command;
    }
    if (d.refused) count(&service_stats::refused);
    if (d.deferred) count(&service_stats::deferred);
    c = std::move(d.command);
    const std::string& cause = d.cause;
    const bool keep_ref = d.keep_ref;
    const auto& opposite = d.supersede;
    c.timer_at = next_timer(c, policy_for(c), t);

    if (!db.insert(c, store::audit_event{0, 0, t, std::nullopt, c.rec.current, cause, r.actor, r.reason})) {
        // Another writer took the key between our read and our insert.
        auto existing = db.by_idempotency_key(c.idempotency_key);
        if (!existing || !admission::same_request(*existing, c))
            throw request_error("idempotency_key", "idempotency key '" + shown(c.idempotency_key) + "' was just used with other parameters");
        count(&service_stats::duplicates_returned);
        return *existing;
    }
    {
        std::lock_guard lock(mu);
        ++st.commands_created;
        if (!command_subs.empty()) note_commands.push_back({c, c.rec.current, cause});
    }

    transact([&](batch& b) {
        // Remember the meter's profile and reference; supersede the opposite command not yet on the radio.
        meter_row& m = meter_for(b, c.dev_eui);
        const bool new_ref = !c.meter_ref.empty() && m.meter_ref != c.meter_ref && !keep_ref;
        if (m.profile != c.profile || new_ref) {
            m.profile = c.profile;
            if (new_ref) m.meter_ref = c.meter_ref;
            m.updated_at = t;
        } else if (meter) {
            b.meters.erase(c.dev_eui);
        }
        if (command::is_terminal(c.rec.current)) return;
        for (auto& o : opposite) {
            auto cur = overlay(b, db.get(o.id));
            if (cur && !command::is_terminal(cur->rec.current))
                apply(b, *cur, command::supersede{"command " + std::to_string(c.id)}, r.actor, r.reason);
        }
    });
    schedule_poll();
    return c;
}

// ---- the public face ---------------------------------------------------------------------------

service::service(asio::any_io_executor ex, chirpstack::client& api, store::store& db, device::profile_registry profiles,
                 service_config cfg)
    : impl_(std::make_shared<impl>(std::move(ex), api, db, std::move(profiles), std::move(cfg))) {}

service::~service() {
    auto& s = *impl_;
    {
        std::lock_guard lock(s.mu);
        s.alive = false;
        s.running = false;
        s.timer.cancel();
    }
    {
        std::lock_guard lock(s.inbox_mu);
        s.linger_timer.cancel();
    }
    if (impl::on_pool == impl_.get()) { // destroyed by one of its own jobs (a subscriber): its threads cannot join themselves
        s.pool.stop();
        new std::shared_ptr<impl>(impl_); // kept for the process's life: never destroyed on its own thread
        return;
    }
    // Jobs not started are dropped; one running a store call is waited for (stop(timeout) tells first
    // whether any is: an owner that cannot wait keeps the service and its store instead of destroying them).
    s.pool.stop();
    s.pool.join();
}

void service::start() {
    impl_->call([this] {
        if (impl_->running.exchange(true)) return;
        // What a previous run left: commands claimed (dispatching) or queued are checked against the
        // device queue before anything else is sent to those devices.
        // Another running instance's claims are left to it until their lease ends (or its process is
        // found gone): reading a device queue while its enqueue is in flight could send a command twice.
        const sys_time t = impl_->now();
        for (auto st : {state::dispatching, state::queued})
            for (auto& c : impl_->db.in_state(st)) {
                if (st == state::dispatching && !impl_->may_reconcile(c, t)) continue;
                std::lock_guard lock(impl_->mu);
                if (st == state::dispatching) impl_->busy_ids.emplace(c.id, c.dev_eui);
                impl_->check_wanted[c.dev_eui];
            }
        // A disconnect still in ChirpStack's queue to a meter protected now (the policy changed, or the
        // meter's record names a protected reference): withdrawn before it can go out.
        impl_->transact([&](impl::batch& b) {
            for (auto& c : impl_->db.in_state(state::queued)) {
                if (!impl_->switches_off(c)) continue;
                const std::string recorded = impl_->recorded_ref(b, c.dev_eui);
                if (!impl_->guard.is_protected(c.dev_eui, c.meter_ref, recorded)) continue;
                impl_->apply(b, c, command::cancel{"withdrawn: " + impl_->guard.protected_reason(c.dev_eui, c.meter_ref, recorded)},
                             "relaylink", "checked again at start");
            }
        });
        impl_->poll_once();
        impl_->tick();
    });
}

bool service::stop(std::chrono::milliseconds wait_for_calls) {
    auto& s = *impl_;
    std::unique_lock lock(s.mu);
    s.running = false;
    s.timer.cancel();
    if (impl::depth > 0) return s.device_enqueues.empty() && s.device_op_running.empty(); // never wait on ourselves
    if (wait_for_calls.count() <= 0) return !s.calls_in_flight();
    return s.idle_cv.wait_for(lock, wait_for_calls, [&] { return !s.calls_in_flight(); });
}

bool service::running() const noexcept { return impl_->running; }

std::size_t service::store_work() const {
    std::lock_guard lock(impl_->mu);
    return impl_->jobs;
}

store::command_row service::disconnect(const request& r) { return send(r, command_kind::relay_off); }
store::command_row service::reconnect(const request& r) { return send(r, command_kind::relay_on); }

store::command_row service::send(const request& r, command_kind kind, bytes payload, std::optional<std::uint8_t> f_port) {
    return impl_->call([&] { return impl_->create(r, kind, std::move(payload), f_port); });
}

std::optional<store::command_row> service::cancel(std::int64_t id, const std::string& actor, const std::string& reason) {
    // One rule with requests: "system" when not given, never empty (an audit row says who).
    if (actor.empty()) throw request_error("actor", "actor must name who cancels (a user name, or \"system\")");
    const std::string& who = actor;
    check_text("actor", who, max_actor_size, false);
    check_text("reason", reason, max_reason_size, true);
    return impl_->call([&] {
        auto& s = *impl_;
        std::optional<command_row> out;
        std::string refused; // why the lifecycle ignored the cancel, if it did
        s.transact([&](impl::batch& b) {
            out = s.db.get(id);
            if (!out) return;
            const auto o = s.apply(b, *out, command::cancel{reason}, who, reason);
            refused = o.ignored ? o.cause : std::string();
        });
        if (out && !refused.empty())
            s.db.append_event({id, 0, s.now(), out->rec.current, out->rec.current, "cancel refused: " + refused, who, reason});
        return out;
    });
}

void service::ingest(const chirpstack::event& e) { ingest(std::span<const chirpstack::event>(&e, 1)); }
void service::ingest(std::span<const chirpstack::event> events) {
    if (auto failed = impl_->ingest(events); !failed.empty())
        throw store::store_error(std::to_string(failed.size()) + " of " + std::to_string(events.size()) +
                                 " events not applied: " + stats().last_store_error);
}

void service::post_ingest(chirpstack::event e) {
    std::lock_guard lock(impl_->inbox_mu);
    impl_->inbox.push_back(std::move(e));
    if (!impl_->drain_posted) {
        impl_->drain_posted = true;
        impl_->post_drain();
    }
}

std::size_t service::pending_events() const {
    std::lock_guard lock(impl_->inbox_mu);
    return impl_->inbox.size() + impl_->inbox_in_batch;
}

bool service::wait_pending_below(std::size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(impl_->inbox_mu);
    return impl_->inbox_cv.wait_for(lock, timeout, [&] { return impl_->inbox.size() + impl_->inbox_in_batch < n; });
}

void service::poll() {
    impl_->call([this] { impl_->poll_once(true); });
}

std::optional<command_view> service::command(std::int64_t id) const {
    auto c = impl_->db.get(id);
    if (!c) return std::nullopt;
    return command_view{std::move(*c), impl_->db.events(id)};
}
std::vector<store::command_row> service::history(const std::string& dev_eui, std::size_t limit) const {
    auto dev = chirpstack::normalize_dev_eui(dev_eui);
    if (!dev) throw request_error("dev_eui", "DevEUI must be 16 hex digits, not '" + shown(dev_eui) + "'");
    return impl_->db.history(*dev, limit);
}
std::vector<store::command_row> service::open_commands() const { return impl_->db.open(); }
std::optional<store::meter_row> service::meter(const std::string& dev_eui) const {
    auto dev = chirpstack::normalize_dev_eui(dev_eui);
    if (!dev) throw request_error("dev_eui", "DevEUI must be 16 hex digits, not '" + shown(dev_eui) + "'");
    return impl_->db.meter(*dev);
}
std::vector<store::meter_row> service::meters(std::optional<store::relay_state> only) const { return impl_->db.meters(only); }

store::meter_row service::track_meter(const std::string& dev_eui, const std::string& profile, const std::string& meter_ref) {
    std::string why;
    auto dev = chirpstack::normalize_dev_eui(dev_eui, &why);
    if (!dev) throw request_error("dev_eui", why);
    check_text("profile", profile, max_profile_name_size, false);
    check_text("meter_ref", meter_ref, max_meter_ref_size, false);
    const device::profile* prof = nullptr;
    if (!profile.empty() && !(prof = impl_->profiles.find(profile)))
        throw request_error("profile", "unknown profile '" + shown(profile) + "'; known: " + impl_->profiles.describe_names());
    return impl_->call([&] {
        auto& s = *impl_;
        meter_row out;
        s.transact([&](impl::batch& b) {
            meter_row& m = s.meter_for(b, *dev);
            const bool keep_ref = !m.meter_ref.empty() && s.guard.is_protected("", m.meter_ref);
            const bool changed = m.version == 0 || (prof && m.profile != prof->name) ||
                                 (!meter_ref.empty() && m.meter_ref != meter_ref && !keep_ref);
            if (prof) m.profile = prof->name;
            if (!meter_ref.empty() && !keep_ref) m.meter_ref = meter_ref;
            if (changed) m.updated_at = s.now();
            out = m;
            if (!changed) b.meters.erase(*dev);
        });
        return out;
    });
}
std::map<command::state, std::size_t> service::counts() const { return impl_->db.counts(); }
service_stats service::stats() const {
    std::lock_guard lock(impl_->mu);
    return impl_->st;
}
std::size_t service::busy() const {
    std::lock_guard lock(impl_->mu);
    auto& s = *impl_;
    // Device operations waiting out a backoff after a failure are not about to run: not busy.
    const sys_time t = s.now();
    auto due = [&](const std::string& dev) {
        auto it = s.device_op_retry_at.find(dev);
        return it == s.device_op_retry_at.end() || it->second <= t;
    };
    std::size_t wanted = 0;
    for (const auto& [dev, why] : s.check_wanted) wanted += due(dev);
    for (const auto& [dev, port] : s.flush_wanted) wanted += due(dev);
    std::size_t held = 0; // commands whose queue read waits so, not in flight
    for (const auto& [id, dev] : s.busy_ids) held += !s.device_enqueues.contains(dev) && !s.device_op_running.contains(dev) && !due(dev);
    return s.busy_ids.size() - held + s.device_op_running.size() + wanted;
}

service::subscription service::on_command(std::function<void(const command_change&)> f) {
    std::lock_guard lock(impl_->mu);
    const auto id = impl_->next_sub++;
    impl_->command_subs.emplace(id, std::move(f));
    return id;
}
service::subscription service::on_meter(std::function<void(const meter_change&)> f) {
    std::lock_guard lock(impl_->mu);
    const auto id = impl_->next_sub++;
    impl_->meter_subs.emplace(id, std::move(f));
    return id;
}
void service::unsubscribe(subscription s) {
    std::lock_guard lock(impl_->mu);
    impl_->command_subs.erase(s);
    impl_->meter_subs.erase(s);
}

const service_config& service::settings() const noexcept { return impl_->cfg; }
const safety_guard& service::guard() const noexcept { return impl_->guard; }

} // namespace relaylink::service
