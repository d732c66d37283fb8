// Reconciliation: a device's queue has been read (after a crash, a lost answer, a flush, a rejoin) —
// what does it say about each of the device's open commands? Pure: the service reads the queue, the open
// commands and what ChirpStack knows of the device, and this decides the lifecycle inputs (tested as tables
// in test_reconciliation.cpp).
#pragma once

#include <relaylink/chirpstack/types.hpp>
#include <relaylink/command/lifecycle.hpp>
#include <relaylink/service/missing_item.hpp>
#include <relaylink/store/store.hpp>

#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace relaylink::service::reconcile {

/// Why a device queue is read: what an item missing from it then means.
struct why_read {
    bool flushed = false;              ///< we just deleted its unsent items (a cancel): missing = lost to our flush
    std::optional<sys_time> rejoined;  ///< the device rejoined then: missing = flushed by ChirpStack on activation
    void merge(const why_read& o) {
        flushed = flushed || o.flushed;
        if (o.rejoined) rejoined = o.rejoined;
    }
};

/// A queued command, its device's queue just read: still waiting (none), there as sent and awaiting its ACK,
/// or gone — lost to a flush (ours, or ChirpStack's on a rejoin) or gone out unobserved.
inline std::optional<command::input> queued_command(const store::command_row& c, std::span<const chirpstack::queue_item> queue,
                                                    const why_read& why) {
    if (c.rec.current != command::state::queued) return std::nullopt;
    for (const auto& item : queue)
        if (item.id == c.rec.queue_item_id) {
            if (item.is_pending) return command::left_queue{true, item.f_cnt_down};
            return std::nullopt; // still waiting for an uplink
        }
    if (why.flushed) return command::flushed{"the device queue was flushed to remove another command"};
    if (why.rejoined)
        return command::flushed{"the device rejoined at " + format_rfc3339_seconds(*why.rejoined) +
                                " and ChirpStack flushed its queue (the device profile's \"flush queue on activate\")"};
    return command::left_queue{};
}

/// A claim to reconcile, with the identical queue item it adopts (if any).
struct adoption {
    std::size_t index = 0;           ///< into the open commands given
    std::optional<std::string> item; ///< the queue item's id
};

/// The claims (`dispatching`) among `open` that `reconcilable` allows, each with the identical item of the queue
/// it adopts: same fPort, bytes and confirmation, not held by another of the open commands, and not owned by
/// another command (`owner_of`: the command a queue item id belongs to, if any). Each item is adopted once.
inline std::vector<adoption> plan(std::span<const store::command_row> open, std::span<const chirpstack::queue_item> queue,
                                  const std::function<bool(const store::command_row&)>& reconcilable,
                                  const std::function<std::optional<std::int64_t>(const std::string&)>& owner_of) {
    std::vector<adoption> out;
    std::set<std::string> taken;
    for (const auto& c : open)
        if (!c.rec.queue_item_id.empty()) taken.insert(c.rec.queue_item_id);
    for (std::size_t i = 0; i < open.size(); ++i) {
        const auto& c = open[i];
        if (c.rec.current != command::state::dispatching || !reconcilable(c)) continue;
        adoption a{i, std::nullopt};
        for (const auto& item : queue) {
            if (taken.contains(item.id) || item.f_port != c.f_port || item.data != c.payload || item.confirmed != c.confirmed) continue;
            if (auto owner = owner_of(item.id); owner && *owner != c.id) continue;
            a.item = item.id;
            taken.insert(item.id);
            break;
        }
        out.push_back(std::move(a));
    }
    return out;
}

/// The input for a claim: its item adopted, or — not in the queue — judged from what ChirpStack knows of the
/// device (judge_missing_item). Without those facts (they were not read) a missing item cannot be judged: none.
inline std::optional<command::input> claim_input(const std::string& dev_eui, const std::optional<std::string>& adopted,
                                                 const std::optional<device_facts>& facts, sys_time claimed_at,
                                                 std::chrono::nanoseconds clock_tolerance) {
    if (adopted) return command::reconciled{adopted};
    if (!facts) return std::nullopt;
    const auto verdict = judge_missing_item(dev_eui, claimed_at, *facts, clock_tolerance);
    command::reconciled in{std::nullopt};
    in.device_unknown = verdict.unknown_device;
    in.device_heard_since_claim = verdict.may_have_gone_out;
    in.detail = verdict.detail;
    return in;
}

} // namespace relaylink::service::reconcile
