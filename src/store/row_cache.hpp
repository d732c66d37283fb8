// The SQLite store's memory of the rows its own connection read and wrote, so that a batch's reads are
// answered without a statement while no other connection has committed to the file since (SQLite's
// PRAGMA data_version tells, checked under the batch's write lock). Pure: no SQLite here; the store says
// when it is valid and tells it every committed write.
#pragma once

#include <relaylink/store/store.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace relaylink::store {

/// Copy what a transition may change (the columns the SQLite store's UPDATE writes, bind_mutable's list)
/// from `from` into `to`: after a committed write, `to` is what a read would return.
inline void copy_mutable(command_row& to, const command_row& from) {
    to.priority = from.priority;
    to.rec = from.rec;
    to.max_retries = from.max_retries;
    to.timer_at = from.timer_at;
    to.note = from.note;
    to.updated_at = from.updated_at;
    to.claim_owner = from.claim_owner;
    to.lease_until = from.lease_until;
    to.version = from.version;
}

class row_cache {
    struct text_hash { // lookups by string_view without a copy (a queue item id is 36 characters)
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    template <class V>
    using by_text = std::unordered_map<std::string, V, text_hash, std::equal_to<>>;

public:
    /// At most `max_rows` commands (and as many meters) kept; 0: the cache is off. When it would hold
    /// more it starts again empty (rows of open commands are what batches read; finished ones leave it).
    explicit row_cache(std::size_t max_rows) : max_(max_rows) {}

    bool enabled() const { return max_ > 0; }
    /// Called with the file's data version under a write lock: a change since the last call means another
    /// connection committed, and nothing kept can be trusted. Returns whether the cache was kept.
    bool check(std::int64_t data_version) {
        const bool kept = data_version == version_;
        if (!kept) clear();
        version_ = data_version;
        return kept;
    }
    void clear() {
        commands_.clear();
        claims_.clear();
        items_.clear();
        open_.clear();
        meters_.clear();
    }

    // ---- answers (null or empty: not known, ask the database) ------------------------------------
    const command_row* get(std::int64_t id) const {
        auto it = commands_.find(id);
        return it == commands_.end() ? nullptr : &it->second;
    }
    const command_row* by_queue_item(std::string_view item) const {
        auto it = items_.find(item);
        return it == items_.end() ? nullptr : get(it->second);
    }
    /// The device's open commands, oldest first, at most `limit`; nullopt when not known in full.
    std::optional<std::vector<command_row>> open(std::string_view dev_eui, std::size_t limit) const {
        auto it = open_.find(dev_eui);
        if (it == open_.end()) return std::nullopt;
        std::vector<command_row> out;
        out.reserve(std::min(limit, it->second.size()));
        for (auto id : it->second) {
            if (out.size() == limit) break;
            const auto* r = get(id);
            if (!r) return std::nullopt;
            out.push_back(*r);
        }
        return out;
    }
    /// The rows of `ids` (a device's open commands as its index lists them), if every one is kept.
    std::optional<std::vector<command_row>> rows_of(const std::vector<std::int64_t>& ids) const {
        std::vector<command_row> out;
        out.reserve(ids.size());
        for (auto id : ids) {
            const auto* r = get(id);
            if (!r) return std::nullopt;
            out.push_back(*r);
        }
        return out;
    }
    /// The command's latest claim row (null inside: it has none), when known.
    const std::optional<audit_event>* latest_claim(std::int64_t id) const {
        auto it = claims_.find(id);
        return it == claims_.end() ? nullptr : &it->second;
    }
    const meter_row* meter(std::string_view dev_eui) const {
        auto it = meters_.find(dev_eui);
        return it == meters_.end() ? nullptr : &it->second;
    }

    // ---- what the database answered (under the same lock) -----------------------------------------
    void read(const command_row& r) {
        if (!enabled()) return;
        make_room();
        commands_.insert_or_assign(r.id, r);
    }
    void read_queue_item(std::string_view item, const command_row& r) {
        if (!enabled()) return;
        read(r);
        items_.insert_or_assign(std::string(item), r.id);
    }
    /// A device's open commands, all of them (the read asked for more than it returned).
    void read_open(std::string_view dev_eui, const std::vector<command_row>& rows) {
        if (!enabled()) return;
        std::vector<std::int64_t> ids;
        ids.reserve(rows.size());
        for (const auto& r : rows) {
            read(r);
            ids.push_back(r.id);
        }
        read_open_ids(dev_eui, std::move(ids));
    }
    /// The same, as ids (oldest first) whose rows are kept.
    void read_open_ids(std::string_view dev_eui, std::vector<std::int64_t> ids) {
        if (!enabled()) return;
        open_.insert_or_assign(std::string(dev_eui), std::move(ids));
    }
    void read_latest_claim(std::int64_t id, const std::optional<audit_event>& claim) {
        if (!enabled() || !commands_.contains(id)) return; // kept with its command only
        claims_.insert_or_assign(id, claim);
    }
    void read_meter(const meter_row& m) {
        if (!enabled()) return;
        make_room();
        meters_.insert_or_assign(m.dev_eui, m);
    }

    // ---- what this connection committed --------------------------------------------------------
    /// A new command (its id and version assigned, its queue item if any recorded).
    void inserted(const command_row& r) {
        if (!enabled()) return;
        read(r);
        claims_.insert_or_assign(r.id, std::nullopt); // its one audit row is its creation
        if (!r.rec.queue_item_id.empty()) items_.insert_or_assign(r.rec.queue_item_id, r.id);
        if (command::is_terminal(r.rec.current)) return;
        if (auto it = open_.find(r.dev_eui); it != open_.end()) {
            auto& ids = it->second;
            ids.insert(std::upper_bound(ids.begin(), ids.end(), r.id), r.id);
        }
    }
    /// A committed update: `r` at its new version, `e` its audit row; `new_item` when its queue item was recorded.
    void updated(const command_row& r, const audit_event& e, bool new_item) {
        if (!enabled()) return;
        if (new_item && !r.rec.queue_item_id.empty()) items_.insert_or_assign(r.rec.queue_item_id, r.id);
        auto it = commands_.find(r.id);
        if (command::is_terminal(r.rec.current)) { // finished: batches rarely read it again
            if (it != commands_.end()) commands_.erase(it);
            claims_.erase(r.id);
            items_.erase(r.rec.queue_item_id);
            if (auto o = open_.find(r.dev_eui); o != open_.end()) std::erase(o->second, r.id);
            return;
        }
        if (it == commands_.end()) return claims_.erase(r.id), void();
        copy_mutable(it->second, r); // its other columns as read
        if (is_claim(e)) claims_.insert_or_assign(r.id, e);
    }
    /// An audit row alone (a note), which bumped its command's version to its sequence.
    void noted(const audit_event& e) {
        auto it = commands_.find(e.command_id);
        if (it == commands_.end()) return;
        it->second.version = e.sequence;
        if (is_claim(e)) claims_.insert_or_assign(e.command_id, e);
    }
    /// A committed meter: `m` as written, at its new version.
    void wrote_meter(const meter_row& m, std::int64_t version) {
        if (!enabled()) return;
        make_room();
        auto& kept = meters_.insert_or_assign(m.dev_eui, m).first->second;
        kept.version = version;
    }
    void forget(std::int64_t id) {
        commands_.erase(id);
        claims_.erase(id);
    }

    std::size_t rows() const { return commands_.size(); }

private:
    void make_room() {
        if (commands_.size() >= max_ || meters_.size() >= max_ || items_.size() >= 2 * max_) clear();
    }

    std::size_t max_;
    std::int64_t version_ = -1;
    std::unordered_map<std::int64_t, command_row> commands_;
    std::unordered_map<std::int64_t, std::optional<audit_event>> claims_; ///< of kept commands
    by_text<std::int64_t> items_;
    by_text<std::vector<std::int64_t>> open_; ///< complete lists, id order
    by_text<meter_row> meters_;
};

} // namespace relaylink::store
