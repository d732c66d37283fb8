// A store in front of a real one that a test can make fail fast (a full disk, a read-only file: every
// write refused at once) or stall (a slow statement, a lock held by another process), then recover.
#pragma once

#include <relaylink/store/store.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace relaylink::test {

namespace st = relaylink::store;

class faulty_store : public st::store {
public:
    explicit faulty_store(std::unique_ptr<st::store> inner = st::make_memory_store()) : inner_(std::move(inner)) {}

    std::atomic<bool> fail_writes{false};   ///< every write throws store_error at once
    std::atomic<int> stall_writes_ms{0};    ///< every write waits this long first
    /// When set, a write whose rows concern this DevEUI waits `stall_writes_ms` (others go through at once).
    std::string stall_only_dev_eui;
    std::atomic<int> writes_stalled{0};     ///< writes that are waiting now

    bool insert(st::command_row& c, st::audit_event created) override {
        before_write(c.dev_eui);
        return inner_->insert(c, std::move(created));
    }
    bool write(std::span<st::update> updates, std::span<const st::meter_row> meters) override {
        std::string dev = !updates.empty() ? updates.front().row.dev_eui : !meters.empty() ? meters.front().dev_eui : std::string();
        before_write(dev);
        return inner_->write(updates, meters);
    }
    void append_event(st::audit_event e) override {
        before_write({});
        inner_->append_event(std::move(e));
    }
    std::optional<st::command_row> get(std::int64_t id) const override { return inner_->get(id); }
    std::optional<st::command_row> by_idempotency_key(std::string_view k) const override { return inner_->by_idempotency_key(k); }
    std::optional<st::command_row> by_queue_item(std::string_view q) const override { return inner_->by_queue_item(q); }
    std::vector<st::command_row> open(std::string_view d, std::size_t n) const override { return inner_->open(d, n); }
    std::vector<st::command_row> in_state(command::state s, std::size_t n) const override { return inner_->in_state(s, n); }
    std::vector<st::command_row> due(sys_time t, std::size_t n) const override { return inner_->due(t, n); }
    std::vector<st::command_row> history(std::string_view d, std::size_t n) const override { return inner_->history(d, n); }
    std::vector<st::audit_event> events(std::int64_t id) const override { return inner_->events(id); }
    std::map<command::state, std::size_t> counts() const override { return inner_->counts(); }
    std::optional<st::meter_row> meter(std::string_view d) const override { return inner_->meter(d); }
    std::vector<st::meter_row> meters(std::optional<st::relay_state> only) const override { return inner_->meters(only); }
    std::vector<st::meter_row> awaiting_uplink(std::optional<sys_time> before) const override { return inner_->awaiting_uplink(before); }

private:
    void before_write(const std::string& dev) {
        if (fail_writes) throw st::store_error("database or disk is full (a test's faulty store)");
        const int ms = stall_writes_ms;
        if (ms > 0 && (stall_only_dev_eui.empty() || dev == stall_only_dev_eui)) {
            ++writes_stalled;
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            --writes_stalled;
        }
    }
    std::unique_ptr<st::store> inner_;
};

} // namespace relaylink::test
