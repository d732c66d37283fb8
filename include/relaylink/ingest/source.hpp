// What the event sources share: where events go (a sink), what they count, how they log.
#pragma once

#include <relaylink/chirpstack/event.hpp>
#include <relaylink/log.hpp>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace relaylink::service {
class service;
}

namespace relaylink::ingest {

/// Receives each parsed event, on the source's own thread. For the MQTT source a sink that blocks
/// holds the broker's flow back (that is the back-pressure: unread messages wait in the broker's
/// session); the HTTP integration's sink must not block, since it answers ChirpStack from the same
/// thread.
using event_sink = std::function<void(chirpstack::event)>;

/// A log line from a source (relaylink/log.hpp). Empty: the source is silent (its counters still count).
using relaylink::log_fn;
using relaylink::log_level;

/// Thrown by a sink that cannot take an event now (the service already holds its limit of events not
/// yet committed: the store is slow or failing). The HTTP integration answers it 503 with Retry-After;
/// the event is not taken, nothing waits.
class sink_full : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// What a sink does while the service holds `max_pending` events not yet committed.
enum class when_full : std::uint8_t {
    wait,   ///< hold the caller back until there is room (MQTT: the broker keeps what is not read)
    refuse, ///< throw sink_full at once (HTTP: the I/O thread that answers must never wait for the store)
};

/// Feeds `svc` (its batched `post_ingest`). With `max_pending` > 0 the service never holds more than that
/// many events not yet committed: the sink waits for room (`when_full::wait`, for MQTT's thread) or refuses
/// the event (`when_full::refuse`, for the HTTP integration, which runs on an I/O thread the service may
/// need to drain its inbox). 0: no limit.
event_sink to_service(service::service& svc, std::size_t max_pending = 0, when_full full = when_full::wait);

/// Counters of one source. Every message is counted exactly once in delivered, malformed,
/// foreign, unsupported, rejected, sink_errors or full.
struct source_stats {
    std::uint64_t received = 0;     ///< messages (MQTT) or requests (HTTP) that arrived
    std::uint64_t delivered = 0;    ///< parsed and handed to the sink
    std::uint64_t malformed = 0;    ///< not a readable ChirpStack JSON event (the log says why)
    std::uint64_t foreign = 0;      ///< MQTT: a topic that is not application/…/device/…/event/…; HTTP: another path
    std::uint64_t unsupported = 0;  ///< protobuf payloads (relaylink reads ChirpStack's JSON)
    std::uint64_t rejected = 0;     ///< HTTP: wrong secret, too large, wrong method
    std::uint64_t sink_errors = 0;  ///< the sink threw (logged; the event is lost to it)
    std::uint64_t full = 0;         ///< the sink refused the event, its service holding its limit (sink_full): HTTP answered 503
                                    ///< with Retry-After; MQTT logged it (a waiting sink, its default, never refuses)
    std::uint64_t connects = 0;     ///< MQTT: successful connections (the first and each reconnect)
    std::uint64_t connect_failures = 0;
    std::uint64_t connections_lost = 0;
    std::uint64_t overloaded = 0;       ///< HTTP: connections answered 503 at once (the limit held by proven senders)
    std::uint64_t evicted = 0;          ///< HTTP: connections closed to make room (no request proven yet, or idle)
    std::uint64_t timed_out = 0;        ///< HTTP: connections whose header did not arrive within header_timeout
    std::uint64_t logs_suppressed = 0;  ///< warnings not written (more than 10 a minute)
};

} // namespace relaylink::ingest
