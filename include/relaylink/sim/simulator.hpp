// The simulator: a ChirpStack-compatible REST server (Beast) in front of the simulated network, a
// clock (real time sped up, or manual), event delivery (in-process callbacks, ChirpStack's HTTP
// integration), faults, and a control API under /sim/. The embedded default for demo, tests and
// benchmarks: everything runs on one machine.
//
// Thread-safety: every public member may be called from any thread (one mutex guards the network);
// event callbacks run without that mutex held, so they may call back into the simulator.
#pragma once

#include <relaylink/sim/network.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace relaylink::sim {

/// Faults of the REST API itself, as a flaky ChirpStack (or the proxy and network in front of it)
/// would show them. Each request draws one fault from these probabilities (their sum at most 1); the
/// first five leave ChirpStack's state untouched, the last three happen after the request was applied.
struct http_faults {
    double error_5xx_rate = 0;            ///< answer 503 {"code":14,…} (ChirpStack down behind its REST proxy)
    double error_500_rate = 0;            ///< answer 500 {"code":13,…} (an internal error; nothing applied)
    double rate_limit_rate = 0;           ///< answer 429 {"code":8,…}
    double refuse_rate = 0;               ///< answer 400 {"code":3,…}
    double drop_rate = 0;                 ///< close the connection without answering (a reset: nothing applied)
    double lost_response_rate = 0;        ///< apply the request, then close without answering (the answer is lost)
    double garbled_rate = 0;              ///< apply the request, then answer 200 with a body that is not JSON (a proxy's page)
    double slow_rate = 0;                 ///< apply the request, then answer only after `slow_latency` (the caller times out)
    std::chrono::milliseconds slow_latency{2000};
    std::chrono::milliseconds latency{0}; ///< wait before answering any request
    std::string only_method;              ///< "POST", "GET" or "DELETE": only those requests suffer the faults; empty: all
};

struct simulator_config {
    std::string address = "127.0.0.1";
    unsigned short port = 0;                     ///< 0: any free port (see simulator::port())
    std::string api_key = "relaylink-sim-key";   ///< the Bearer token the REST API requires
    double speed = 600;                          ///< simulated seconds per real second (600: 10 min in 1 s)
    bool manual_time = false;                    ///< time moves only through advance(); uplinks only when triggered
    std::uint64_t seed = 1;                      ///< faults and jitter are reproducible
    std::string integration_url;                 ///< ChirpStack HTTP integration: POST <url>?event=<type>
    std::vector<std::pair<std::string, std::string>> integration_headers; ///< sent with each POST (ChirpStack: the integration's headers)
    std::string mqtt_url;                        ///< ChirpStack MQTT integration: publish to this broker (tcp://host:port)
    int mqtt_qos = 0;                            ///< ChirpStack's default: events published while a subscriber is away are
                                                 ///< lost. Set 1 as a deployment should (`qos = 1` under [integration.mqtt])
    event_order order = event_order::observed;   ///< the events of one uplink: as ChirpStack was seen to publish them, or shuffled
    std::chrono::milliseconds tick{10};          ///< how often (real time) due uplinks are run
    /// Keep, per device, every item the queue API accepted and its last 8 `up` events, for accepted()
    /// and replay_uplink() (tests; off by default: at scale it would cost ~10 KiB per device).
    std::optional<sys_time> start;               ///< the clock's first instant (default: now), e.g. a test's Monday 07:55
    bool keep_history = false;
};

/// An item the queue API accepted (an enqueue or a flush's placeholder), when it did: what reached
/// ChirpStack, for tests that check what was enqueued and at which moment.
struct accepted_item {
    sys_time at;
    queue_entry item;
    bool flush_queue = false;
};

/// A device as the control API shows it.
struct device_view {
    device_config cfg;
    bool relay_closed = true;
    bool bridge_powered = true;
    std::uint32_t f_cnt_up = 0, f_cnt_down = 0;
    std::size_t queue_length = 0;
    std::optional<sys_time> last_seen;
    std::optional<device_status> status;
    std::vector<received_downlink> downlinks;
    std::uint64_t uplinks_sent = 0, uplinks_lost = 0;
};

class simulator {
public:
    simulator(boost::asio::any_io_executor ex, simulator_config cfg);
    ~simulator();
    simulator(const simulator&) = delete;
    simulator& operator=(const simulator&) = delete;

    /// Listen and start the clock. Throws std::system_error when the address cannot be bound.
    void start();
    void stop();
    unsigned short port() const;
    std::string url() const; ///< "http://127.0.0.1:<port>"
    const simulator_config& settings() const noexcept;

    /// Every event, as ChirpStack would publish it. Several subscribers may be added.
    void on_event(std::function<void(const event_out&)> f);

    void add_device(device_config d);
    /// Forget a device: ChirpStack then answers as it does for a DevEUI it does not know (an enqueue
    /// fails with 500 and a foreign-key message, the queue reads empty, the device is 404).
    bool remove_device(const std::string& dev_eui);
    std::optional<device_view> device(const std::string& dev_eui) const;
    std::vector<std::string> device_euis() const;

    /// The device transmits now (manual mode, or to hurry it); false when unknown or without power.
    bool trigger_uplink(const std::string& dev_eui);
    bool restore_power(const std::string& dev_eui);
    /// An OTAA (re)join; `flush_queue`: the device profile's "flush queue on activate" (ChirpStack's UI
    /// default), which deletes the queue silently; only a `join` event is published.
    bool join(const std::string& dev_eui, bool flush_queue);
    bool set_faults(const std::string& dev_eui, device_faults f);
    void set_http_faults(http_faults f);
    void reset(); ///< forget every device, queue, record and fault

    sys_time now() const;                     ///< simulated time
    void advance(std::chrono::nanoseconds d); ///< manual mode: move time, running what becomes due
    std::uint64_t events_emitted() const;
    /// Enqueue requests (POST …/queue without flushQueue) that reached the server for a DevEUI, known to
    /// the simulator or not, whatever fault they then suffered: what "enqueued N times" means on the wire.
    std::uint64_t enqueue_requests(const std::string& dev_eui) const;
    std::uint64_t events_published_mqtt() const; ///< 0 without mqtt_url
    /// Events the MQTT client refused (its buffer full or the client unusable): lost, as ChirpStack loses them.
    std::uint64_t events_dropped_mqtt() const;
    /// Every item the queue API accepted for a device, in order (with keep_history).
    std::vector<accepted_item> accepted(const std::string& dev_eui) const;
    /// Publish one of the device's recent `up` events again, unchanged (`back` = 0: the latest; the last
    /// 8 are kept): what an MQTT redelivery (at least once), a repeated POST or a replay by an attacker
    /// who captured it delivers. False when there is no such uplink (or no keep_history).
    bool replay_uplink(const std::string& dev_eui, std::size_t back = 0);

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace relaylink::sim
