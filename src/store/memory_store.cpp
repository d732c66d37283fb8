// The in-memory store: the same contract as SQLite's, guarded by one mutex.
#include <relaylink/store/store.hpp>

#include <algorithm>
#include <mutex>
#include <set>
#include <unordered_map>

namespace relaylink::store {
namespace {

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

class memory_store final : public store {
public:
    bool insert(command_row& c, audit_event created) override {
        std::lock_guard lock(mu_);
        if (!c.idempotency_key.empty() && keys_.contains(c.idempotency_key)) return false;
        c.id = static_cast<std::int64_t>(rows_.size()) + 1;
        c.version = 1;
        rows_.push_back(c);
        events_.emplace_back().reserve(6); // its creation and a transition's five rows: no regrowth as it goes
        created.command_id = c.id;
        created.sequence = 1;
        events_.back().push_back(std::move(created));
        if (!c.idempotency_key.empty()) keys_.emplace(c.idempotency_key, c.id);
        index(c);
        return true;
    }

    bool write(std::span<update> updates, std::span<const meter_row> meters) override {
        std::lock_guard lock(mu_);
        // The same command may appear twice: the second update carries the first one's new version. The
        // stored versions are bumped as the updates are checked, and put back if the write is refused.
        std::vector<std::pair<command_row*, std::int64_t>> bumped; // each row checked, its version before
        bumped.reserve(updates.size());
        auto refuse = [&] {
            for (auto& [row, v] : bumped) row->version = v;
            return false;
        };
        for (auto& u : updates) {
            command_row* cur = find_mutable(u.row.id);
            if (!cur) return refuse();
            u.applied = cur->version == u.row.version;
            if (!u.applied) {
                if (!u.claim) return refuse();
                continue; // moved by another writer: not ours to claim
            }
            bumped.emplace_back(cur, cur->version);
            ++cur->version;
        }
        for (const auto& m : meters) {
            auto it = meters_.find(m.dev_eui);
            if ((it == meters_.end() ? 0 : it->second.version) != m.version) return refuse(); // another writer changed it
        }
        for (auto& u : updates) {
            if (!u.applied) continue;
            command_row& cur = rows_[static_cast<std::size_t>(u.row.id - 1)];
            // Re-index only what moved: the open sets when the command finishes, the queue item when new.
            const bool reopen = command::is_terminal(cur.rec.current) != command::is_terminal(u.row.rec.current);
            if (reopen) unindex(cur);
            ++u.row.version; // checked above: the stored version was this one
            cur = u.row;
            if (reopen) index(cur);
            else if (!cur.rec.queue_item_id.empty() && u.new_queue_item) queue_items_.insert_or_assign(cur.rec.queue_item_id, cur.id);
            auto& log = events_[static_cast<std::size_t>(u.row.id - 1)];
            u.event.command_id = u.row.id;
            u.event.sequence = static_cast<std::int64_t>(log.size()) + 1;
            log.push_back(std::move(u.event));
        }
        for (const auto& m : meters) {
            auto& stored = meters_.insert_or_assign(m.dev_eui, m).first->second;
            ++stored.version;
        }
        return true;
    }

    void append_event(audit_event e) override {
        std::lock_guard lock(mu_);
        if (!find(e.command_id)) throw store_error("no command " + std::to_string(e.command_id) + " to add an audit event to");
        auto& log = events_[static_cast<std::size_t>(e.command_id - 1)];
        e.sequence = static_cast<std::int64_t>(log.size()) + 1;
        rows_[static_cast<std::size_t>(e.command_id - 1)].version = e.sequence; // a note is a write too
        log.push_back(std::move(e));
    }

    std::optional<command_row> get(std::int64_t id) const override {
        std::lock_guard lock(mu_);
        if (const auto* r = find(id)) return *r;
        return std::nullopt;
    }
    std::optional<command_row> by_idempotency_key(std::string_view key) const override {
        std::lock_guard lock(mu_);
        auto it = keys_.find(key);
        if (it == keys_.end()) return std::nullopt;
        return *find(it->second);
    }
    std::optional<command_row> by_queue_item(std::string_view q) const override {
        std::lock_guard lock(mu_);
        auto it = queue_items_.find(q);
        if (it == queue_items_.end()) return std::nullopt;
        return *find(it->second);
    }
    std::vector<command_row> open(std::string_view dev_eui, std::size_t limit) const override {
        std::lock_guard lock(mu_);
        std::vector<command_row> out;
        if (dev_eui.empty()) {
            for (auto id : open_) {
                if (out.size() >= limit) break;
                out.push_back(*find(id));
            }
            return out;
        }
        auto it = open_by_device_.find(dev_eui);
        if (it == open_by_device_.end()) return out;
        out.reserve(std::min(limit, it->second.size()));
        for (auto id : it->second) {
            if (out.size() >= limit) break;
            out.push_back(*find(id));
        }
        return out;
    }
    std::vector<command_row> in_state(command::state s, std::size_t limit) const override {
        std::lock_guard lock(mu_);
        std::vector<command_row> out;
        for (auto id : open_) {
            if (out.size() >= limit) break;
            const auto* r = find(id);
            if (r->rec.current == s) out.push_back(*r);
        }
        return out;
    }
    std::vector<command_row> due(sys_time now, std::size_t limit) const override {
        std::lock_guard lock(mu_);
        std::vector<const command_row*> hits;
        for (auto id : open_) {
            const auto* r = find(id);
            if (r->timer_at && *r->timer_at <= now) hits.push_back(r);
        }
        std::sort(hits.begin(), hits.end(), [](const command_row* a, const command_row* b) {
            if (a->priority != b->priority) return a->priority < b->priority; // 1 is the highest
            return a->id < b->id;
        });
        std::vector<command_row> out;
        for (const auto* r : hits) {
            if (out.size() >= limit) break;
            out.push_back(*r);
        }
        return out;
    }
    std::vector<command_row> history(std::string_view dev_eui, std::size_t limit) const override {
        std::lock_guard lock(mu_);
        std::vector<command_row> out;
        for (auto it = rows_.rbegin(); it != rows_.rend() && out.size() < limit; ++it)
            if (it->dev_eui == dev_eui) out.push_back(*it);
        return out;
    }
    std::vector<audit_event> events(std::int64_t id) const override {
        std::lock_guard lock(mu_);
        if (!find(id)) return {};
        return events_[static_cast<std::size_t>(id - 1)];
    }
    std::optional<audit_event> latest_claim(std::int64_t id) const override {
        std::lock_guard lock(mu_);
        if (!find(id)) return std::nullopt;
        const auto& log = events_[static_cast<std::size_t>(id - 1)];
        for (auto e = log.rbegin(); e != log.rend(); ++e)
            if (is_claim(*e)) return *e;
        return std::nullopt;
    }
    std::map<command::state, std::size_t> counts() const override {
        std::lock_guard lock(mu_);
        std::map<command::state, std::size_t> out;
        for (const auto& r : rows_) ++out[r.rec.current];
        return out;
    }
    std::optional<meter_row> meter(std::string_view dev_eui) const override {
        std::lock_guard lock(mu_);
        auto it = meters_.find(dev_eui);
        if (it == meters_.end()) return std::nullopt;
        return it->second;
    }
    std::vector<meter_row> meters(std::optional<relay_state> only) const override {
        std::lock_guard lock(mu_);
        std::vector<meter_row> out;
        for (const auto& [eui, m] : meters_)
            if (!only || m.relay == *only) out.push_back(m);
        std::sort(out.begin(), out.end(), [](const meter_row& a, const meter_row& b) { return a.dev_eui < b.dev_eui; });
        return out;
    }
    std::vector<meter_row> awaiting_uplink(std::optional<sys_time> sent_before) const override {
        std::lock_guard lock(mu_);
        std::vector<meter_row> out;
        for (const auto& [eui, m] : meters_)
            if (m.disconnect_sent_at && (!sent_before || *m.disconnect_sent_at <= *sent_before)) out.push_back(m);
        return out;
    }

private:
    const command_row* find(std::int64_t id) const {
        if (id < 1 || static_cast<std::size_t>(id) > rows_.size()) return nullptr;
        return &rows_[static_cast<std::size_t>(id - 1)];
    }
    command_row* find_mutable(std::int64_t id) { return const_cast<command_row*>(find(id)); }
    void index(const command_row& c) {
        if (!c.rec.queue_item_id.empty()) queue_items_.insert_or_assign(c.rec.queue_item_id, c.id);
        if (!command::is_terminal(c.rec.current)) {
            open_.insert(c.id);
            open_by_device_[c.dev_eui].insert(c.id);
        }
    }
    void unindex(const command_row& c) {
        // A queue item id stays findable after the command moves on (late events must still find it).
        open_.erase(c.id);
        if (auto it = open_by_device_.find(c.dev_eui); it != open_by_device_.end()) {
            it->second.erase(c.id);
            if (it->second.empty()) open_by_device_.erase(it);
        }
    }

    mutable std::mutex mu_;
    std::vector<command_row> rows_;
    std::vector<std::vector<audit_event>> events_;
    string_map<std::int64_t> keys_;
    string_map<std::int64_t> queue_items_;
    std::set<std::int64_t> open_;
    string_map<std::set<std::int64_t>> open_by_device_;
    string_map<meter_row> meters_;
};

} // namespace

std::unique_ptr<store> make_memory_store() { return std::make_unique<memory_store>(); }

std::optional<audit_event> store::latest_claim(std::int64_t command_id) const {
    auto trail = events(command_id);
    for (auto e = trail.rbegin(); e != trail.rend(); ++e)
        if (is_claim(*e)) return std::move(*e);
    return std::nullopt;
}

batch_reads store::read_each(const batch_keys& k) const {
    batch_reads out;
    for (const auto& q : k.queue_items) {
        if (!out.items_asked.insert(q).second) continue;
        if (auto c = by_queue_item(q)) out.by_queue_item.emplace(q, std::move(*c));
    }
    for (const auto& d : k.devices) {
        if (!out.devices_asked.insert(d).second) continue;
        out.open.emplace(d, open(d));
        if (auto m = meter(d)) out.meters.emplace(d, std::move(*m));
    }
    for (const auto& d : k.trails) {
        if (!out.devices_asked.contains(d) || !out.trails_asked.insert(d).second) continue;
        for (const auto& c : out.open[d]) out.events.emplace(c.id, events(c.id));
    }
    return out;
}

} // namespace relaylink::store
