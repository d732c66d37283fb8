// Paho MQTT C++ behind the simulator's event stream: QoS 1 by default, automatic reconnect, a
// bounded buffer while the broker is away, and a session kept across reconnects so a message the
// broker had not acknowledged when it went away is sent again (ChirpStack, too, publishes from its
// own tasks).
#include "mqtt_publisher.hpp"

#include <relaylink/redact.hpp>

#include <mqtt/async_client.h>

#include <atomic>
#include <stdexcept>

namespace relaylink::sim::detail {
namespace {

class paho_publisher final : public mqtt_publisher {
public:
    paho_publisher(const std::string& url, int qos)
        : client_(url, "relaylink-sim-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)),
                  mqtt::create_options(MQTTVERSION_3_1_1, 100000)),
          qos_(qos) {
        auto opts = mqtt::connect_options_builder()
                        .clean_session(false) // unacknowledged QoS 1 messages are sent again after a reconnect
                        .max_inflight(1000)
                        .automatic_reconnect(std::chrono::milliseconds(100), std::chrono::seconds(5))
                        .connect_timeout(std::chrono::seconds(5))
                        .finalize();
        try {
            client_.connect(opts)->wait_for(std::chrono::seconds(5));
        } catch (const mqtt::exception&) {
            // keep going: automatic reconnect keeps trying, and publishes are buffered meanwhile
        }
    }
    ~paho_publisher() override {
        try {
            if (client_.is_connected()) client_.disconnect()->wait_for(std::chrono::seconds(2));
        } catch (const mqtt::exception&) {
        }
    }
    void publish(const event_out& e) override {
        try {
            client_.publish(e.topic(), e.json.data(), e.json.size(), qos_, false);
            ++published_;
        } catch (const mqtt::exception&) {
            ++dropped_; // buffer full or client not usable: counted, never fatal
        }
    }
    std::uint64_t published() const override { return published_; }
    std::uint64_t dropped() const override { return dropped_; }

private:
    mqtt::async_client client_;
    int qos_;
    std::atomic<std::uint64_t> published_{0}, dropped_{0};
};

} // namespace

std::unique_ptr<mqtt_publisher> mqtt_publisher::create(const std::string& url, int qos) {
    if (!(url.rfind("tcp://", 0) == 0 || url.rfind("mqtt://", 0) == 0 || url.rfind("ssl://", 0) == 0 ||
          url.rfind("mqtts://", 0) == 0 || url.rfind("ws://", 0) == 0))
        throw std::invalid_argument("MQTT broker URL must start with tcp://, mqtt://, ssl://, mqtts:// or ws://, got '" + redact_url(url) + "'");
    if (qos < 0 || qos > 2) throw std::invalid_argument("MQTT QoS must be 0, 1 or 2");
    return std::make_unique<paho_publisher>(url, qos);
}

} // namespace relaylink::sim::detail
