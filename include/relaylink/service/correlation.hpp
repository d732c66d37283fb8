// Event correlation: a ChirpStack event and the device's open commands → the lifecycle inputs it means.
// Pure: the service looks the commands up (by queue item, by device) and applies what this returns; each
// rule is a row of a table test (test_correlation.cpp).
//   txack / ack            → the command holding the queue item: txack_received / ack_received
//   log with a queue item  → log_received, or window_closed for a disconnect ChirpStack dropped at its
//                            window's end (its expiresAt) before an uplink came
//   log DOWNLINK_GATEWAY   → (no queue item, as ChirpStack 4.20 sends it) noted on the device's queued
//                            commands, at most max_gateway_notes times each
//   up                     → the reply of the first command on the radio whose profile it answers, unless
//                            it is a replay; a read's answer proves (or disproves) the relay commands before it
#pragma once

#include <relaylink/chirpstack/event.hpp>
#include <relaylink/command/lifecycle.hpp>
#include <relaylink/detail/cat.hpp>
#include <relaylink/device/builtin.hpp>
#include <relaylink/store/store.hpp>

#include <algorithm>
#include <functional>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace relaylink::service::correlate {

/// An input for one command, with what the audit trail says of the event.
struct step {
    command::input in;
    std::string detail;
};

inline step txack(const chirpstack::txack_event& x) {
    return {command::txack_received{x.queue_item_id, x.f_cnt_down},
            relaylink::detail::cat("txack: queue item ", x.queue_item_id, ", fCntDown ", std::to_string(x.f_cnt_down),
                        x.gateway_id.empty() ? "" : ", gateway ", x.gateway_id)};
}
inline step ack(const chirpstack::ack_event& x) {
    return {command::ack_received{x.queue_item_id, x.acknowledged, x.f_cnt_down},
            relaylink::detail::cat("ack: queue item ", x.queue_item_id, ", acknowledged ", x.acknowledged ? "true" : "false")};
}

/// A log naming a queue item, for the command holding it. `deferring_windows`: the command is a disconnect
/// under windows that defer (its item's expiresAt was the window's end); `next_window`, when that is.
inline step log(const chirpstack::log_event& x, const store::command_row& row, bool deferring_windows, sys_time now,
                std::optional<sys_time> next_window) {
    const std::string detail = "log " + x.code + ": " + x.description;
    if (x.code == "EXPIRED" && deferring_windows && row.rec.current == command::state::queued && row.rec.deadline && now < *row.rec.deadline)
        // Its expiresAt was the window's end, not the deadline: wait for the next window.
        return {command::window_closed{next_window, "ChirpStack dropped the item at the end of the disconnect window, before an "
                                                    "uplink came to carry it"},
                detail};
    return {command::log_received{x.code, x.description}, detail};
}

/// DOWNLINK_GATEWAY on a queued command whose audit trail already holds `noted_before` such notes: the note,
/// or none once max_gateway_notes are there (a gateway that keeps failing must not fill the audit trail).
inline constexpr int max_gateway_notes = 3;
inline std::optional<step> gateway_error(const chirpstack::log_event& x, const store::command_row& row, int noted_before) {
    if (row.rec.current != command::state::queued || noted_before >= max_gateway_notes) return std::nullopt;
    return step{command::log_received{x.code, x.description},
                "log DOWNLINK_GATEWAY: " + x.description + (noted_before + 1 == max_gateway_notes ? " (noted no more for this command)" : "")};
}
/// How many DOWNLINK_GATEWAY notes an audit trail holds.
inline int gateway_notes(std::span<const store::audit_event> events) {
    return static_cast<int>(std::count_if(events.begin(), events.end(), [](const store::audit_event& e) {
        return e.detail.rfind("log DOWNLINK_GATEWAY", 0) == 0;
    }));
}

/// What an uplink answers among the device's open commands.
struct uplink_answer {
    std::optional<std::size_t> index;  ///< into the open commands: the one it answers
    std::optional<step> reply;         ///< its reply_received
    std::optional<bool> relay_on;      ///< a read's answer: the relay's state
    std::size_t replays = 0;           ///< commands it answers by its data but came from before their claim
    std::string first_replay;          ///< why, for the first of them
    std::optional<std::size_t> first_replay_index;
};

/// The order in which open commands may be answered: on the radio first, then queued, then the rest; a
/// command never sent (pending, no retry yet) is never answered.
inline std::vector<std::size_t> reply_order(std::span<const store::command_row> open) {
    auto rank = [](const store::command_row& c) {
        switch (c.rec.current) {
        case command::state::sent:
        case command::state::acknowledged: return 0;
        case command::state::queued: return 1;
        default: return 2;
        }
    };
    std::vector<std::size_t> order(open.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    if (order.size() > 1) // (its buffer is an allocation: most devices have one open command)
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return rank(open[a]) < rank(open[b]); });
    return order;
}

/// The first open command (in reply_order) whose profile's reply the uplink is, unless `replayed` says the
/// uplink came from before that command's claim (then the next is tried).
inline uplink_answer uplink(const chirpstack::up_event& up, std::span<const store::command_row> open, const device::profile_registry& profiles,
                            const std::function<std::optional<std::string>(const store::command_row&)>& replayed) {
    uplink_answer out;
    for (const auto i : reply_order(open)) {
        const auto& c = open[i];
        if (c.rec.current == command::state::pending && c.rec.retry_count == 0) continue; // never sent
        const auto* prof = profiles.find(c.profile);
        if (!prof) continue;
        const auto match = prof->match_reply(c.payload, up.f_port, up.data);
        if (!match) continue;
        if (auto why = replayed ? replayed(c) : std::nullopt) {
            if (out.replays++ == 0) {
                out.first_replay = *why;
                out.first_replay_index = i;
            }
            continue;
        }
        const std::string detail =
            relaylink::detail::cat("up: fCnt ", std::to_string(up.f_cnt), ", fPort ", std::to_string(up.f_port), ", data ", to_hex(up.data));
        out.index = i;
        if (match.kind == device::reply_kind::exception) {
            out.reply = step{command::reply_received{true, match.reason.message()}, detail};
            return out;
        }
        if (c.kind == store::command_kind::read) out.relay_on = prof->relay_state_from(match.response);
        out.reply = step{command::reply_received{false, ""}, detail};
        return out;
    }
    return out;
}

/// A read (`read`) answered "relay on" (`on`): for each relay command among `open` that completes on a
/// read-back (`completes_on_read_back`) and went out before the read was asked for, state_verified when it
/// shows the commanded state, state_differs when not. The lifecycle ignores either for a command not on the radio.
inline std::vector<std::pair<std::size_t, step>> read_back(const store::command_row& read, bool on, std::span<const store::command_row> open,
                                                           const std::function<bool(const store::command_row&)>& completes_on_read_back,
                                                           const std::string& detail) {
    std::vector<std::pair<std::size_t, step>> out;
    for (std::size_t i = 0; i < open.size(); ++i) {
        const auto& o = open[i];
        if (!store::is_relay(o.kind) || o.id == read.id || !o.rec.sent_at || read.created_at < *o.rec.sent_at) continue;
        if (!completes_on_read_back(o)) continue;
        const bool wanted = o.kind == store::command_kind::relay_on;
        const std::string by = "read-back by command " + std::to_string(read.id) + ": relay " + (on ? "on" : "off");
        if (on == wanted) out.emplace_back(i, step{command::state_verified{}, by + "; " + detail});
        else out.emplace_back(i, step{command::state_differs{by}, by + "; " + detail});
    }
    return out;
}

} // namespace relaylink::service::correlate
