// What a claimed command's absence from its device queue means, from what ChirpStack and relaylink
// know of the device. A claim whose enqueue result was never recorded (a crash, a lost or unreadable
// answer) is reconciled by reading the device queue; when no identical item is there, either the
// enqueue never reached ChirpStack (enqueue again), or the item went out with an uplink's downlink
// window (await its reply), or ChirpStack has no such device (fail). Sans-I/O: the service reads the
// facts, this decides.
#pragma once

#include <relaylink/time.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace relaylink::service {

/// What is known of a device when a claimed command's item is not in its queue.
struct device_facts {
    bool known = true;                              ///< false: ChirpStack answered 404 for the device
    std::string unknown_detail;                     ///< ChirpStack's words for that
    std::optional<sys_time> last_seen_at;           ///< ChirpStack's lastSeenAt (its clock)
    std::optional<sys_time> last_uplink;            ///< the meter's last uplink as relaylink applied it (its clock)
    std::optional<std::uint32_t> next_f_cnt_down;   ///< ChirpStack's next downlink frame counter, when read
    std::optional<std::uint32_t> f_cnt_down_before; ///< the highest fCntDown relaylink saw go out (txack) before the claim
};

/// The verdict: `unknown_device` (nothing can be queued for it), else `may_have_gone_out` (the device
/// uplinked since the claim and no frame counter rules out a downlink since), else the enqueue never
/// reached ChirpStack. `detail` says why, for the audit trail.
struct missing_item {
    bool unknown_device = false;
    bool may_have_gone_out = false;
    std::string detail;
};

/// `claimed_at`: relaylink's time of the claim (its audit row). `clock_tolerance`: how far ChirpStack's
/// clock may be behind relaylink's; an uplink ChirpStack saw that long before the claim counts as since
/// (so a skewed clock errs towards waiting for a reply, never towards a second downlink).
inline missing_item judge_missing_item(const std::string& dev_eui, sys_time claimed_at, const device_facts& f,
                                       std::chrono::nanoseconds clock_tolerance) {
    missing_item out;
    if (!f.known) {
        out.unknown_device = true;
        out.detail = "device " + dev_eui + " is not in ChirpStack" + (f.unknown_detail.empty() ? "" : " (" + f.unknown_detail + ")") +
                     ": add the device in ChirpStack, or correct the DevEUI";
        return out;
    }
    const bool heard_here = f.last_uplink && *f.last_uplink >= claimed_at;
    const bool seen_there = f.last_seen_at && *f.last_seen_at >= claimed_at - clock_tolerance;
    const std::string seen = f.last_seen_at ? "ChirpStack last saw the device at " + format_rfc3339(*f.last_seen_at)
                                            : std::string("ChirpStack has never seen the device");
    if (!heard_here && !seen_there) {
        out.detail = seen + ", before the claim at " + format_rfc3339(claimed_at);
        return out;
    }
    // An uplink since the claim opened a downlink window. The frame counter can still show that no
    // downlink went out since one relaylink saw before the claim. (Not from a baseline of 0: after a
    // rejoin the counters restart, and 1 is also ChirpStack's answer for a device that never had one.)
    if (f.next_f_cnt_down && f.f_cnt_down_before && *f.f_cnt_down_before >= 1 && *f.next_f_cnt_down <= *f.f_cnt_down_before + 1) {
        out.detail = (heard_here ? std::string("the device uplinked since the claim") : seen) + ", but ChirpStack's next fCntDown is " +
                     std::to_string(*f.next_f_cnt_down) + ": no downlink went out after fCntDown " + std::to_string(*f.f_cnt_down_before) +
                     ", which was before the claim";
        return out;
    }
    out.may_have_gone_out = true;
    out.detail = (heard_here ? "the device uplinked at " + format_rfc3339(*f.last_uplink) : seen) + ", after the claim at " +
                 format_rfc3339(claimed_at) +
                 (f.next_f_cnt_down ? "; ChirpStack's next fCntDown is " + std::to_string(*f.next_f_cnt_down) : std::string());
    return out;
}

} // namespace relaylink::service
