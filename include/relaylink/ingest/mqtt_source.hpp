// ChirpStack's MQTT integration as an event source (Eclipse Paho MQTT C++).
//
// QoS 1 with a persistent session under a stable client id (one you name): while relaylink is away
// (restarting, or the broker restarting with persistence on) the broker keeps its messages, and they
// arrive on the next connection — provided ChirpStack publishes at QoS 1 too (`qos = 1` under
// [integration.mqtt] in chirpstack.toml; its default, 0, keeps nothing for a subscriber that is away). Messages can then arrive twice (QoS 1 is "at least once"): the service's
// lifecycle applies an event once however often it comes.
//
// The source connects and reconnects on its own thread with exponential backoff and jitter, and
// resubscribes on each connection (a broker that lost its state still delivers). A malformed
// message, a protobuf payload or a foreign topic is counted and logged, never fatal.
#pragma once

#include <relaylink/ingest/source.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace relaylink::ingest {

struct mqtt_config {
    /// tcp://host:1883, mqtt://…, ssl://host:8883, mqtts://…, ws://…, wss://…
    std::string url = "tcp://127.0.0.1:1883";
    /// Name one, stable across restarts and unique to this process, for a persistent session (the broker
    /// finds it again and delivers what was published meanwhile). Two processes must not share one: the
    /// broker disconnects the older, and they kick each other off in turn. Empty: a name unique to this
    /// process ("relaylink-<host>-<pid>-<random>") with a clean session (nothing kept while away).
    std::string client_id;
    /// ChirpStack's event topics (all applications, devices and event types).
    std::string topic = "application/+/device/+/event/+";
    /// Non-empty: subscribe to "$share/<group>/<topic>" so the instances of one group split the stream.
    std::string shared_group;
    int qos = 1;
    /// false: a persistent session (the broker queues messages while relaylink is away). Only with a
    /// named client_id; without one the session is always clean.
    bool clean_session = false;
    std::string username;
    std::string password;
    // TLS (ssl://, mqtts://, wss://)
    std::string ca_file;     ///< PEM of the CA (or the broker's self-signed certificate); empty: the system's
    std::string cert_file;   ///< client certificate (PEM), for brokers that require one
    std::string key_file;    ///< its private key (PEM)
    bool verify = true;      ///< verify the broker's certificate and host name
    std::chrono::seconds keep_alive{30};
    std::chrono::seconds connect_timeout{10};
    std::chrono::milliseconds min_retry{250}; ///< first reconnect delay; doubles up to max_retry
    std::chrono::milliseconds max_retry{std::chrono::seconds(30)};
    std::size_t max_payload = 256 * 1024;     ///< larger messages are counted as malformed
    log_fn log;
};

class mqtt_source {
public:
    /// Checks the configuration (std::invalid_argument naming the field and the value); does not
    /// connect yet.
    mqtt_source(mqtt_config cfg, event_sink sink);
    ~mqtt_source(); ///< stop()s
    mqtt_source(const mqtt_source&) = delete;
    mqtt_source& operator=(const mqtt_source&) = delete;

    /// Start connecting in the background (returns at once; a broker that is down is retried).
    void start();
    /// Disconnect and stop retrying; the broker keeps the session. Messages being delivered to the
    /// sink finish first.
    void stop();
    bool connected() const;
    /// Wait until connected and subscribed; false on timeout.
    bool wait_connected(std::chrono::milliseconds timeout) const;
    source_stats stats() const;
    /// The last connection or subscription error, for humans ("" when none).
    std::string last_error() const;
    const mqtt_config& settings() const noexcept;
    /// The filter actually subscribed ("$share/<group>/<topic>" with a shared group).
    std::string subscription() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace relaylink::ingest
