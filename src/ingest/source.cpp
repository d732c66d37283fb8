#include "intake.hpp"

#include <relaylink/service/service.hpp>

namespace relaylink::ingest {

event_sink to_service(service::service& svc, std::size_t max_pending, when_full full) {
    return [&svc, max_pending, full](chirpstack::event e) {
        if (max_pending > 0) {
            if (full == when_full::refuse) {
                if (const auto n = svc.pending_events(); n >= max_pending)
                    throw sink_full("relaylink holds " + std::to_string(n) + " events not yet committed (its limit: " +
                                    std::to_string(max_pending) + "): the store is slow or failing (" +
                                    (svc.stats().last_store_error.empty() ? std::string("no error yet") : svc.stats().last_store_error) +
                                    "); try again later");
            } else {
                while (!svc.wait_pending_below(max_pending, std::chrono::milliseconds(200)))
                    if (!svc.running()) throw sink_full("relaylink is stopping with " + std::to_string(svc.pending_events()) +
                                                        " events not yet committed: this one is not taken");
            }
        }
        svc.post_ingest(std::move(e));
    };
}

namespace detail {

source_stats counters::snapshot() const {
    source_stats s;
    s.received = received.load();
    s.delivered = delivered.load();
    s.malformed = malformed.load();
    s.foreign = foreign.load();
    s.unsupported = unsupported.load();
    s.rejected = rejected.load();
    s.sink_errors = sink_errors.load();
    s.full = full.load();
    s.connects = connects.load();
    s.connect_failures = connect_failures.load();
    s.connections_lost = connections_lost.load();
    s.overloaded = overloaded.load();
    s.evicted = evicted.load();
    s.timed_out = timed_out.load();
    s.logs_suppressed = logs_suppressed.load();
    return s;
}

bool looks_binary(std::string_view payload) noexcept {
    for (unsigned char c : payload.substr(0, 64))
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return true;
    return false;
}

result intake(chirpstack::event_parser& parser, std::string_view type, std::string_view payload,
              std::string_view topic_eui, const event_sink& sink, counters& c) {
    if (looks_binary(payload)) {
        ++c.unsupported;
        return {outcome::unsupported, "a binary (protobuf?) " + std::string(type) +
                                          " event: relaylink reads ChirpStack's JSON; set the integration's payload encoding to JSON"};
    }
    auto ev = parser.parse(type, payload);
    if (!ev) {
        ++c.malformed;
        return {outcome::malformed, ev.error().message};
    }
    if (!topic_eui.empty()) {
        const std::string& eui = chirpstack::dev_eui_of(*ev);
        if (!eui.empty() && eui != topic_eui) {
            ++c.malformed;
            return {outcome::malformed, "the topic names device " + std::string(topic_eui) + " but the event's deviceInfo.devEui is " + eui};
        }
    }
    try {
        sink(std::move(*ev));
    } catch (const sink_full& e) {
        ++c.full;
        return {outcome::full, e.what()};
    } catch (const std::exception& e) {
        ++c.sink_errors;
        return {outcome::sink_error, std::string("the event sink failed: ") + e.what()};
    }
    ++c.delivered;
    return {};
}

void log(const log_fn& f, log_level l, std::string_view message) noexcept {
    if (!f) return;
    try {
        f(l, message);
    } catch (...) {
        // a failing logger must not take the source down
    }
}

} // namespace detail
} // namespace relaylink::ingest
