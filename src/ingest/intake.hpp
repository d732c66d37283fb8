// Private: what both event sources do with one message (parse, check, hand to the sink, count).
#pragma once

#include <relaylink/ingest/source.hpp>

#include <atomic>
#include <string>
#include <string_view>

namespace relaylink::ingest::detail {

struct counters {
    std::atomic<std::uint64_t> received{0}, delivered{0}, malformed{0}, foreign{0}, unsupported{0}, rejected{0},
        sink_errors{0}, full{0}, connects{0}, connect_failures{0}, connections_lost{0}, overloaded{0}, evicted{0}, timed_out{0},
        logs_suppressed{0};
    source_stats snapshot() const;
};

/// Protobuf (ChirpStack's other encoding) carries control bytes that JSON never has.
bool looks_binary(std::string_view payload) noexcept;

enum class outcome { delivered, malformed, unsupported, sink_error, full };

struct result {
    outcome what = outcome::delivered;
    std::string why; ///< for the log, when not delivered
};

/// Parse `payload` as a ChirpStack `type` event; when `topic_eui` is given, the payload's DevEUI
/// must match it. Delivers to `sink` and counts the outcome in `c`.
result intake(chirpstack::event_parser& parser, std::string_view type, std::string_view payload,
              std::string_view topic_eui, const event_sink& sink, counters& c);

void log(const log_fn& f, log_level l, std::string_view message) noexcept;

} // namespace relaylink::ingest::detail
