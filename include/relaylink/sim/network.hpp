// The simulated network: ChirpStack's Class A device queue semantics and the simulated devices
// behind it (a UC100 bridge in Active pass-through wired to an SDM320C, an IVY EM114039). Sans-I/O:
// time comes in as an argument and every effect goes out as an event (ChirpStack's JSON, exactly as
// its MQTT integration publishes it). The HTTP server and the clock live in simulator.hpp.
//
// Queue rules (reference/chirpstack-v4.md, "Class A downlink semantics"):
//  1. FIFO; one item per downlink opportunity, which follows each uplink.
//  2. On selection: an expired item -> log EXPIRED + removed; too large for the data rate ->
//     log DOWNLINK_PAYLOAD_SIZE + removed; then the next item is tried in the same window.
//  3. fCntDown is assigned when an item is chosen.
//  4. Gateway accepts: txack; unconfirmed items are deleted, confirmed ones become pending.
//  5. Gateway TX error: log DOWNLINK_GATEWAY (no queue item id); the item stays for the next uplink.
//  6. A pending confirmed item: the next uplink with ACK -> ack(true) + deleted; without -> ack(false)
//     + deleted. Never retransmitted.
//  7. Expiry is checked lazily, when an item would be chosen.
//  8. Flushes delete silently, a pending item too (its ACK then finds nothing: no `ack` event);
//     `flushQueue` on an enqueue keeps a pending item. An OTAA join may flush the queue (silently).
//  9. The events of one uplink go out in ChirpStack's observed order (`up`, then the `ack` it
//     carries, then `log`s and the `txack` of the downlink it opened), or shuffled under the seed
//     (ChirpStack publishes each from its own task: consumers must not rely on the order).
// Event JSON has the shape of captured ChirpStack 4.20 events (tests/data/chirpstack-4.20-events).
#pragma once

#include <relaylink/encoding.hpp>
#include <relaylink/time.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace relaylink::sim {

enum class device_kind : std::uint8_t {
    uc100_sdm320c, ///< Milesight UC100 (Active pass-through) on RS485 to an Eastron SDM320C
    ivy_em114039,  ///< IVY EM114039, LoRaWAN on board
};
std::string_view to_string(device_kind k) noexcept;
std::optional<device_kind> device_kind_from_name(std::string_view s) noexcept;

/// Where the UC100 takes its power: the line side keeps it talking; the load side (behind the relay)
/// silences it when the relay opens, until power is restored on site.
enum class wiring : std::uint8_t { line_side, load_side };

/// Faults a device suffers; probabilities are 0..1 per opportunity.
struct device_faults {
    double uplink_loss = 0;      ///< an uplink never reaches the network server
    double downlink_loss = 0;    ///< a transmitted downlink never reaches the device (no ACK, no reply)
    double gateway_tx_error = 0; ///< the gateway refuses to transmit (log DOWNLINK_GATEWAY)
    std::chrono::milliseconds reply_delay{2000}; ///< simulated time from a downlink to the reply uplink
    bool relay_stuck = false;    ///< the meter answers a relay write as done, but its relay does not move (a welded
                                 ///< contact): only a read-back shows it

    friend bool operator==(const device_faults&, const device_faults&) = default;
};

struct device_config {
    std::string dev_eui; ///< 16 lower-case hex digits
    std::string name;
    device_kind kind = device_kind::uc100_sdm320c;
    std::uint8_t passthrough_port = 5; ///< UC100 pass-through fPort
    std::uint8_t slave = 1;            ///< the meter's Modbus address
    wiring power = wiring::line_side;
    std::chrono::milliseconds uplink_interval{600000}; ///< simulated time between periodic uplinks
    double jitter = 0.1;                               ///< +/- fraction of the interval
    int data_rate = 5;                                 ///< decides the largest downlink (DR0-2: 51 B, DR3: 115 B, DR4+: 242 B)
    bool relay_closed = true;                          ///< the meter's relay at the start
    std::string application_id;
    std::string device_profile_id;
    double battery_level = 100;        ///< reported in `status` events and the device's deviceStatus (0-100)
    bool external_power = false;       ///< deviceStatus.externalPowerSource
    int status_every = 0;              ///< a `status` event (DevStatusAns) with the first uplink and every N-th after; 0: never
                                       ///< (ChirpStack asks only when the device profile sets a status request frequency)
    device_faults faults;
};

/// What the device last reported of itself (DevStatusAns), as ChirpStack keeps it.
struct device_status {
    int margin = 10;
    bool external_power_source = false;
    double battery_level = 100;
};

/// The order in which the events of one uplink are published.
enum class event_order : std::uint8_t {
    observed, ///< as ChirpStack 4.20 was seen to: up, ack, log, txack
    shuffled, ///< any order, drawn from the seed
};

/// A downlink as the device saw it: the simulator's log, for tests ("no duplicate downlink").
struct received_downlink {
    sys_time time;
    std::string queue_item_id;
    std::uint32_t f_cnt_down = 0;
    std::uint8_t f_port = 0;
    bool confirmed = false;
    bytes data;
    bool reached_device = true; ///< false when the downlink was lost on the air
};

struct queue_entry {
    std::string id;
    bool confirmed = false;
    std::uint8_t f_port = 0;
    bytes data;
    bool is_pending = false;
    std::uint32_t f_cnt_down = 0;
    std::optional<sys_time> expires_at;
};

/// An event as ChirpStack's integrations publish it.
struct event_out {
    std::string type;           ///< up, ack, txack, log, join, status
    std::string dev_eui;
    std::string application_id;
    std::string json;           ///< the payload, ChirpStack's JSON (timestamps with +00:00)

    std::string topic() const { return "application/" + application_id + "/device/" + dev_eui + "/event/" + type; }
};

/// A simulated device: its radio, its queue at the network server, and the meter behind it.
struct simulated_device {
    device_config cfg;
    // physical
    bool relay_closed = true;
    bool bridge_powered = true;
    // LoRaWAN
    std::uint32_t f_cnt_up = 0;
    std::uint32_t f_cnt_down = 0;
    std::vector<queue_entry> queue;       // FIFO (short: a vector costs less memory than a deque)
    bool ack_due = false;                 ///< the device received a confirmed downlink: next uplink sets ACK
    std::optional<bytes> reply_due;       ///< the meter's Modbus reply, sent with the next uplink
    std::optional<sys_time> reply_at;     ///< when that reply uplink goes out (timed mode)
    sys_time next_uplink{};
    std::optional<sys_time> last_seen;
    std::optional<device_status> status;  ///< after its first `status` event
    std::vector<received_downlink> downlinks;
    std::uint64_t uplinks_sent = 0, uplinks_lost = 0;
};

class network {
public:
    using sink = std::function<void(const event_out&)>;

    explicit network(std::uint64_t seed = 1);

    /// Add (or replace) a device; its first periodic uplink is due at `now` + a random part of the interval.
    void add_device(device_config cfg, sys_time now);
    bool remove_device(const std::string& dev_eui);
    simulated_device* find(const std::string& dev_eui);
    const std::map<std::string, simulated_device>& devices() const noexcept { return devices_; }

    void set_sink(sink s) { sink_ = std::move(s); }
    void set_event_order(event_order o) { order_ = o; }
    void set_application(std::string id, std::string name) { app_id_ = std::move(id), app_name_ = std::move(name); }

    // --- ChirpStack's device-queue API ---------------------------------------------------------
    /// Enqueue; the id is ChirpStack's (a UUID), returned to the caller. No size or length check here,
    /// as in ChirpStack: an oversized item fails when it would be sent.
    std::string enqueue(simulated_device& d, bool confirmed, std::uint8_t f_port, bytes data, std::optional<sys_time> expires_at,
                        bool flush_queue);
    /// Silent, as ChirpStack's flush; a pending item goes too (its ACK will find nothing).
    void flush(simulated_device& d) { d.queue.clear(); }
    /// ChirpStack's next downlink frame counter for the device (`get-next-f-cnt-down`): never below 1,
    /// as ChirpStack answers max(session counter, highest queued fCntDown + 1).
    std::uint32_t next_f_cnt_down(const simulated_device& d) const;

    // --- the air ---------------------------------------------------------------------------------
    /// The device transmits an uplink now (periodic, or carrying a due reply); the network server
    /// processes ACKs and the queue. Returns false when the device could not transmit (no power).
    bool uplink(simulated_device& d, sys_time now);
    /// A (re)join: ChirpStack may flush the queue on activation; emits a join event.
    void join(simulated_device& d, sys_time now, bool flush_queue);
    /// Power restored on site (load-side wiring): the bridge talks again.
    void restore_power(simulated_device& d, sys_time now);

    /// Devices whose next uplink (periodic or reply) is due at or before `now`, and run them.
    std::size_t run_due(sys_time now);
    /// The earliest time any device wants to transmit.
    std::optional<sys_time> next_due() const;

    std::uint64_t events_emitted() const noexcept { return events_; }

private:
    void emit(const simulated_device& d, std::string type, std::string json);
    void release(); ///< the events of one operation, to the sink, in the configured order
    std::string device_info_json(const simulated_device& d) const;
    void deliver(simulated_device& d, queue_entry& item, sys_time now, bool& reached);
    std::optional<bytes> meter_execute(simulated_device& d, const bytes& frame, sys_time now);
    bytes periodic_payload(const simulated_device& d, sys_time now) const;
    std::size_t max_payload(const simulated_device& d) const;
    sys_time schedule_next(const simulated_device& d, sys_time from);
    std::string new_uuid();
    void report_status(simulated_device& d, const std::string& info, const std::string& time);

    std::map<std::string, simulated_device> devices_;
    sink sink_;
    std::vector<event_out> burst_; ///< emitted by the operation running now
    event_order order_ = event_order::observed;
    std::mt19937_64 rng_;
    std::string app_id_ = "00000000-0000-4000-8000-00000000a001";
    std::string app_name_ = "relaylink-sim";
    std::uint64_t events_ = 0;
};

/// Plausible meter readings that move over time (for the SDM320C's input registers).
float simulated_register_value(std::uint16_t address, sys_time now, std::uint8_t seed, bool relay_closed);

} // namespace relaylink::sim
