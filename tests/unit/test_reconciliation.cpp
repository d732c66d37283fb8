// Reconciliation: a device queue read turned into lifecycle inputs — a queued command's fate (a table of
// where its item is × why the queue was read), which claims adopt which identical items, and a claim whose
// item is missing judged from what ChirpStack knows of the device.
#include <relaylink/service/reconciliation.hpp>

#include <gtest/gtest.h>

using namespace relaylink;
using namespace relaylink::service;
using command::state;
using namespace std::chrono_literals;

namespace {

const sys_time t0 = parse_rfc3339("2026-07-18T09:00:00Z").value();
const bytes off{0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xCD, 0xCA};
const bytes on{0x01, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x8C, 0x3A};

store::command_row cmd(std::int64_t id, state s, const bytes& payload, std::string item = {}) {
    store::command_row c;
    c.id = id;
    c.dev_eui = "0101010101010101";
    c.rec.current = s;
    c.payload = payload;
    c.f_port = 5;
    c.confirmed = true;
    c.rec.queue_item_id = std::move(item);
    return c;
}
chirpstack::queue_item item(std::string id, const bytes& data, bool pending = false, std::uint32_t f_cnt_down = 0) {
    chirpstack::queue_item q;
    q.id = std::move(id);
    q.f_port = 5;
    q.confirmed = true;
    q.data = data;
    q.is_pending = pending;
    q.f_cnt_down = f_cnt_down;
    return q;
}
std::string name(const std::optional<command::input>& in) { return in ? std::string(command::input_name(*in)) : "-"; }

} // namespace

TEST(Reconciliation, AQueuedCommandsFateFromItsDevicesQueue) {
    const auto mine = cmd(1, state::queued, off, "q1");
    struct row {
        std::vector<chirpstack::queue_item> queue;
        reconcile::why_read why;
        std::string want;
        std::string words;
    };
    const std::vector<row> rows{
        {{item("q1", off)}, {}, "-", ""},                                        // still waiting
        {{item("q1", off, true, 7)}, {}, "left_queue", ""},                      // sent, awaiting its ACK
        {{}, {}, "left_queue", ""},                                              // gone out unobserved
        {{item("q9", off)}, {}, "left_queue", ""},                               // another item is not it
        {{}, {true, std::nullopt}, "flushed", "flushed to remove another command"},
        {{}, {false, t0}, "flushed", "rejoined at 2026-07-18T09:00:00Z"},
        {{item("q1", off)}, {true, t0}, "-", ""},                                // a flush that kept it
    };
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto in = reconcile::queued_command(mine, rows[i].queue, rows[i].why);
        EXPECT_EQ(name(in), rows[i].want) << "row " << i;
        if (!rows[i].words.empty()) {
            EXPECT_NE(std::get<command::flushed>(*in).why.find(rows[i].words), std::string::npos) << "row " << i;
        }
    }
    const auto pending = std::get<command::left_queue>(*reconcile::queued_command(mine, std::vector{item("q1", off, true, 7)}, {}));
    EXPECT_TRUE(pending.pending);
    EXPECT_EQ(pending.f_cnt_down, 7u);
    // Only a queued command has a fate here.
    for (auto s : {state::pending, state::dispatching, state::sent, state::acknowledged, state::confirmed})
        EXPECT_FALSE(reconcile::queued_command(cmd(1, s, off, "q1"), {}, {})) << command::to_string(s);
}

TEST(Reconciliation, EachClaimAdoptsAnIdenticalItemOnce) {
    const std::vector<store::command_row> open{
        cmd(1, state::queued, off, "q1"),   // holds q1
        cmd(2, state::dispatching, off),    // a claim: adopts the identical item not held (q2)
        cmd(3, state::dispatching, off),    // another identical claim: q3 (each item once)
        cmd(4, state::dispatching, on),     // no identical item
        cmd(5, state::dispatching, off),    // not reconcilable (another instance's, its lease running)
        cmd(6, state::pending, off),        // not a claim
    };
    const std::vector<chirpstack::queue_item> queue{item("q1", off), item("q2", off), item("q3", off), item("q7", off)};
    auto owner_of = [](const std::string& id) -> std::optional<std::int64_t> {
        if (id == "q7") return 99; // another command's item
        return std::nullopt;
    };
    const auto plan = reconcile::plan(open, queue, [](const store::command_row& c) { return c.id != 5; }, owner_of);
    ASSERT_EQ(plan.size(), 3u);
    EXPECT_EQ(open[plan[0].index].id, 2);
    EXPECT_EQ(plan[0].item, "q2");
    EXPECT_EQ(open[plan[1].index].id, 3);
    EXPECT_EQ(plan[1].item, "q3");
    EXPECT_EQ(open[plan[2].index].id, 4);
    EXPECT_FALSE(plan[2].item);
    // An item of another fPort or confirmation is not identical.
    auto other_port = item("q2", off);
    other_port.f_port = 6;
    auto unconfirmed = item("q3", off);
    unconfirmed.confirmed = false;
    const std::vector<store::command_row> one{cmd(2, state::dispatching, off)};
    EXPECT_FALSE(reconcile::plan(one, std::vector{other_port, unconfirmed}, [](const store::command_row&) { return true; }, owner_of)[0].item);
}

TEST(Reconciliation, AClaimsInputAdoptedOrJudgedFromWhatChirpStackKnows) {
    const std::string dev = "0101010101010101";
    const auto adopted = reconcile::claim_input(dev, std::string("q2"), std::nullopt, t0, 30s);
    EXPECT_EQ(std::get<command::reconciled>(*adopted).adopted_queue_item_id, "q2");
    EXPECT_FALSE(reconcile::claim_input(dev, std::nullopt, std::nullopt, t0, 30s)); // not judged without the facts

    struct row {
        device_facts f;
        bool unknown, heard;
        const char* why;
    };
    device_facts gone;
    gone.known = false;
    device_facts seen;
    seen.last_seen_at = t0 + 1min;
    device_facts quiet;
    quiet.last_seen_at = t0 - 1h;
    device_facts skewed; // ChirpStack's clock a little behind: counts as since
    skewed.last_seen_at = t0 - 10s;
    device_facts counted = seen; // a frame counter says no downlink went out since
    counted.f_cnt_down_before = 4;
    counted.next_f_cnt_down = 5;
    const row rows[] = {
        {gone, true, false, "ChirpStack has no such device"},
        {seen, false, true, "the device uplinked since the claim: it may have gone out"},
        {quiet, false, false, "not heard since: the enqueue never reached ChirpStack"},
        {skewed, false, true, "within the clock tolerance: errs towards waiting"},
        {counted, false, false, "heard since, but no downlink went out by the frame counter"},
    };
    for (const auto& r : rows) {
        const auto in = std::get<command::reconciled>(*reconcile::claim_input(dev, std::nullopt, r.f, t0, 30s));
        EXPECT_EQ(in.device_unknown, r.unknown) << r.why;
        EXPECT_EQ(in.device_heard_since_claim, r.heard) << r.why << ": " << in.detail;
        EXPECT_FALSE(in.adopted_queue_item_id);
    }
}
