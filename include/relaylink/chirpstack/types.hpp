// The ChirpStack v4 objects relaylink reads and writes over REST, as plain C++ values.
#pragma once

#include <relaylink/encoding.hpp>
#include <relaylink/time.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace relaylink::chirpstack {

/// What to enqueue: POST /api/devices/{devEui}/queue.
struct enqueue_request {
    bool confirmed = false;
    std::uint8_t f_port = 0;             ///< 1-223
    bytes data;                          ///< 1-242 bytes
    std::optional<sys_time> expires_at;  ///< ChirpStack drops the item (log EXPIRED) after this
    bool flush_queue = false;            ///< delete the device's queue first (atomically, server side)
};

/// One item of a device queue: GET /api/devices/{devEui}/queue.
struct queue_item {
    std::string id;
    std::string dev_eui;
    bool confirmed = false;
    std::uint32_t f_port = 0;
    bytes data;
    bool is_pending = false; ///< sent as confirmed, waiting for the device's ACK
    std::uint32_t f_cnt_down = 0;
    bool is_encrypted = false;
    std::optional<sys_time> expires_at;

    friend bool operator==(const queue_item&, const queue_item&) = default;
};

struct device_status {
    int margin = 0;
    bool external_power_source = false;
    std::optional<double> battery_level; ///< percent; absent when unavailable
};

/// GET /api/devices/{devEui}.
struct device {
    std::string dev_eui;
    std::string name;
    std::string description;
    std::string application_id;
    std::string device_profile_id;
    bool skip_fcnt_check = false;
    bool is_disabled = false;
    std::string join_eui;
    std::map<std::string, std::string> tags;
    std::map<std::string, std::string> variables;
    std::optional<sys_time> created_at;
    std::optional<sys_time> updated_at;
    std::optional<sys_time> last_seen_at;
    std::optional<device_status> status;
    std::string class_enabled; ///< "CLASS_A", "CLASS_B", "CLASS_C"
};

} // namespace relaylink::chirpstack
