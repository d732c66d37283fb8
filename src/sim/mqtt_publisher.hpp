// Private: publishes the simulator's events to an MQTT broker on ChirpStack's topics (Paho MQTT C++).
#pragma once

#include <relaylink/sim/network.hpp>

#include <memory>
#include <string>

namespace relaylink::sim::detail {

class mqtt_publisher {
public:
    /// Connects in the background (and reconnects); throws std::invalid_argument for a bad URL.
    static std::unique_ptr<mqtt_publisher> create(const std::string& url, int qos);
    virtual ~mqtt_publisher() = default;
    virtual void publish(const event_out& e) = 0;
    virtual std::uint64_t published() const = 0;
    virtual std::uint64_t dropped() const = 0;
};

} // namespace relaylink::sim::detail
