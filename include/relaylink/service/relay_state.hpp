// The meter's relay state as relaylink knows it (DESIGN.md, "The meter's relay state"): what each fact
// does to a meter's row. A pure function, like the lifecycle: no store, no clock of its own (every time
// comes in with its fact), so each (state, fact) pair is a row of a table test (test_relay_state.cpp).
//
//   unknown ──confirmed on──▶ connected ──confirmed off──▶ disconnected
//      ▲                                                        │ a disconnect went out, then no uplink
//      └──────── heard from again (power restored on site) ◀── unreachable_after_disconnect
#pragma once

#include <relaylink/store/store.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <variant>

namespace relaylink::service::relay {

/// A relay command of the meter was confirmed.
struct confirmed {
    bool on = false;              ///< a reconnect (relay on) or a disconnect
    std::int64_t command_id = 0;
    sys_time at{};
};
/// A disconnect reached the radio (sent or acknowledged) at `sent_at`: the meter may fall silent now.
struct disconnect_went_out {
    sys_time sent_at{};
    sys_time at{};
};
/// An uplink of the meter, heard at `at` (relaylink's clock), stamped by ChirpStack with `time` and `f_cnt`.
struct uplink {
    sys_time at{};
    std::optional<sys_time> time; ///< ChirpStack's time of the uplink (none: not given)
    std::uint32_t f_cnt = 0;
};
/// A read of the relay showed it on or off.
struct read_shows {
    bool on = false;
};
/// The periodic check for silent meters: `silent_for` is `intervals` uplink intervals of the meter's profile.
struct silence_check {
    sys_time now{};
    std::chrono::nanoseconds silent_for{};
    int intervals = 3;
};

using fact = std::variant<confirmed, disconnect_went_out, uplink, read_shows, silence_check>;

/// Apply `f` to `m`. True when the row changed (and is to be written).
inline bool apply(store::meter_row& m, const fact& f) {
    using store::relay_state;
    return std::visit(
        [&](const auto& x) -> bool {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, confirmed>) {
                m.relay = x.on ? relay_state::connected : relay_state::disconnected;
                m.last_confirmed_command = x.command_id;
                m.note.clear();
                if (x.on) m.disconnect_sent_at.reset();
                m.updated_at = x.at;
                return true;
            } else if constexpr (std::is_same_v<T, disconnect_went_out>) {
                if (m.disconnect_sent_at || m.relay == relay_state::unreachable_after_disconnect) return false;
                m.disconnect_sent_at = x.sent_at;
                m.updated_at = x.at;
                return true;
            } else if constexpr (std::is_same_v<T, uplink>) {
                m.last_uplink = x.at;
                m.updated_at = x.at;
                // ChirpStack's stamps of its latest uplink (an older one applied late does not move them back).
                if (x.time && (!m.uplink_time || *x.time > *m.uplink_time)) {
                    m.uplink_time = x.time;
                    m.uplink_f_cnt = x.f_cnt;
                }
                // Still talking after the disconnect went out: not silent. Not the uplink that opened the
                // disconnect's downlink window (or an earlier one) applied late: ChirpStack publishes the `up`
                // and the `txack` of one uplink in either order.
                if (m.disconnect_sent_at && x.time && *x.time > *m.disconnect_sent_at) m.disconnect_sent_at.reset();
                if (m.relay == relay_state::unreachable_after_disconnect) {
                    m.relay = relay_state::unknown;
                    m.note = "heard from again at " + format_rfc3339_seconds(x.at) +
                             " after being unreachable: power was restored on site; the relay state is unknown until a command "
                             "confirms it";
                }
                return true;
            } else if constexpr (std::is_same_v<T, read_shows>) {
                m.relay = x.on ? relay_state::connected : relay_state::disconnected;
                m.note.clear();
                return true;
            } else if constexpr (std::is_same_v<T, silence_check>) {
                if (!m.disconnect_sent_at || x.now - *m.disconnect_sent_at < x.silent_for) return false;
                const std::string since = format_rfc3339_seconds(*m.disconnect_sent_at);
                m.relay = relay_state::unreachable_after_disconnect;
                m.disconnect_sent_at.reset();
                m.updated_at = x.now;
                m.note = "no uplink for " + std::to_string(x.intervals) + " expected intervals (" +
                         std::to_string(std::chrono::duration_cast<std::chrono::minutes>(x.silent_for).count()) +
                         " min) since the disconnect went out at " + since +
                         ": the bridge is probably powered from the load side. A reconnect can only be delivered after power "
                         "is restored on site.";
                return true;
            } else {
                static_assert(sizeof(T) == 0, "every fact changes the relay state in a stated way");
            }
        },
        f);
}

} // namespace relaylink::service::relay
