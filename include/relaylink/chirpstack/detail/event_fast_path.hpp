// The fast path of event_parser (event.hpp): the events that come once per command or per uplink (up, ack, txack,
// join) read in one pass of Boost.JSON's basic_parser, without building a DOM of the fields relaylink never reads
// (rxInfo's metadata, txInfo, …: most of an uplink's bytes).
//
// It accepts only the plain form of an event: each field it reads once, of the JSON type the DOM path expects,
// in range. On anything else (a syntax error, a duplicate of a field it reads, a number where a string belongs, an
// integer written as a string or as 1e3, a tag that is not a string, …) it gives up, and the DOM path
// (detail::read_event) parses the event again and gives the exact result or refusal. So the two paths cannot
// disagree: tests/unit/test_event.cpp and the fuzz target compare them on every input they have.
#pragma once

#include <relaylink/encoding.hpp>
#include <relaylink/time.hpp>

#include <boost/json/basic_parser_impl.hpp>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relaylink::chirpstack::detail {

/// What the fast path reads of an event, before it is checked and turned into the typed event.
struct event_fields {
    // top level
    std::string deduplication_id, time, dev_addr, data, queue_item_id, gateway_id;
    bool adr = false, confirmed = false, acknowledged = false;
    std::int64_t dr = 0, f_cnt = 0, f_port = 0, f_cnt_down = 0, downlink_id = 0;
    bool has_time = false, has_device_info = false, has_queue_item_id = false;
    // deviceInfo
    std::string tenant_id, tenant_name, application_id, application_name, device_profile_id, device_profile_name,
        device_name, dev_eui, device_class_enabled;
    bool has_dev_eui = false;
    std::vector<std::pair<std::string, std::string>> tags; ///< in document order, the first `tag_count` in use
    std::size_t tag_count = 0;
    // rxInfo: the best gateway so far, and the element being read
    std::optional<int> rssi;
    double snr = 0;
    std::string rx_gateway_id;
    std::size_t gateways = 0;
    std::int64_t item_rssi = 0;
    double item_snr = 0;
    std::string item_gateway_id;

    void clear() {
        for (auto* s : {&deduplication_id, &time, &dev_addr, &data, &queue_item_id, &gateway_id, &tenant_id, &tenant_name,
                        &application_id, &application_name, &device_profile_id, &device_profile_name, &device_name,
                        &dev_eui, &device_class_enabled, &rx_gateway_id, &item_gateway_id})
            s->clear();
        adr = confirmed = acknowledged = false;
        dr = f_cnt = f_port = f_cnt_down = downlink_id = 0;
        has_time = has_device_info = has_queue_item_id = has_dev_eui = false;
        tag_count = 0;
        rssi.reset();
        snr = 0;
        gateways = 0;
        item_rssi = 0;
        item_snr = 0;
    }
};

/// basic_parser's handler: fills event_fields, or gives up (returns false) on anything but the plain form.
class event_fields_handler {
public:
    static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

    event_fields f;

    void start() {
        f.clear();
        scope_ = scope::none;
        skip_ = 0;
        pending_ = field::none;
        seen_top_ = seen_device_ = seen_item_ = 0;
        key_.clear();
        value_.clear();
        key_parted_ = value_parted_ = false;
    }

    bool on_document_begin(boost::system::error_code&) { return true; }
    bool on_document_end(boost::system::error_code&) { return true; }

    bool on_object_begin(boost::system::error_code& ec) {
        if (skip_) return ++skip_, true;
        switch (scope_) {
        case scope::none: scope_ = scope::top; return true;
        case scope::top:
            if (pending_ == field::device_info) return f.has_device_info = true, enter(scope::device);
            if (pending_ == field::none) return ++skip_, true;
            return give_up(ec); // an object where a value belongs
        case scope::device:
            if (pending_ == field::tags) return enter(scope::tags);
            if (pending_ == field::none) return ++skip_, true;
            return give_up(ec);
        case scope::rx_array:
            seen_item_ = 0;
            f.item_rssi = 0;
            f.item_snr = 0;
            f.item_gateway_id.clear();
            return enter(scope::rx_item);
        case scope::rx_item:
            if (pending_ == field::none) return ++skip_, true;
            return give_up(ec);
        case scope::tags: return give_up(ec); // a tag that is an object: the DOM path serializes it
        }
        return give_up(ec);
    }
    bool on_object_end(std::size_t, boost::system::error_code& ec) {
        if (skip_) return --skip_, true;
        switch (scope_) {
        case scope::device: scope_ = scope::top; break;
        case scope::tags: scope_ = scope::device; break;
        case scope::rx_item: {
            if (f.item_rssi < -200 || f.item_rssi > 50) return give_up(ec); // checked in every element, as the DOM path does
            ++f.gateways;
            const int rssi = static_cast<int>(f.item_rssi);
            if (!f.rssi || rssi > *f.rssi) {
                f.rssi = rssi;
                f.snr = f.item_snr;
                f.rx_gateway_id = f.item_gateway_id;
            }
            scope_ = scope::rx_array;
            break;
        }
        default: break;
        }
        pending_ = field::none;
        return true;
    }
    bool on_array_begin(boost::system::error_code& ec) {
        if (skip_) return ++skip_, true;
        if (scope_ == scope::top && pending_ == field::rx_info) return enter(scope::rx_array);
        if (pending_ == field::none && scope_ != scope::rx_array && scope_ != scope::tags && scope_ != scope::none)
            return ++skip_, true;
        return give_up(ec);
    }
    bool on_array_end(std::size_t, boost::system::error_code&) {
        if (skip_) return --skip_, true;
        scope_ = scope::top; // only rxInfo is entered
        pending_ = field::none;
        return true;
    }

    bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (skip_) return true;
        if (!key_parted_) key_.clear();
        key_.append(s.data(), s.size());
        key_parted_ = true;
        return true;
    }
    bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code& ec) {
        if (skip_) return true;
        std::string_view k(s.data(), s.size());
        if (key_parted_) {
            key_.append(s.data(), s.size());
            k = key_;
            key_parted_ = false;
        }
        pending_ = lookup(k);
        if (scope_ == scope::tags) {
            if (f.tag_count == f.tags.size()) f.tags.emplace_back();
            auto& t = f.tags[f.tag_count];
            t.first.assign(k);
            t.second.clear();
            for (std::size_t i = 0; i < f.tag_count; ++i)
                if (f.tags[i].first == t.first) return give_up(ec); // which one a map keeps: the DOM path's answer
            pending_ = field::tag_value;
            return true;
        }
        if (pending_ == field::none) return true;
        const auto bit = std::uint64_t{1} << static_cast<unsigned>(pending_);
        std::uint64_t& seen = scope_ == scope::top ? seen_top_ : scope_ == scope::device ? seen_device_ : seen_item_;
        if (seen & bit) return give_up(ec); // a field twice: the DOM path's answer
        seen |= bit;
        return true;
    }

    bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (skip_ || pending_ == field::none) return true;
        if (!value_parted_) value_.clear();
        value_.append(s.data(), s.size());
        value_parted_ = true;
        return true;
    }
    bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code& ec) {
        if (skip_) return true;
        if (scope_ == scope::rx_array) return give_up(ec); // an element of rxInfo that is not an object
        std::string_view v(s.data(), s.size());
        if (value_parted_) {
            value_.append(s.data(), s.size());
            v = value_;
            value_parted_ = false;
        }
        std::string* to = string_field();
        if (pending_ == field::tag_value) {
            f.tags[f.tag_count].second.assign(v);
            ++f.tag_count;
            return done();
        }
        if (pending_ == field::none) return true;
        if (!to) return give_up(ec); // a string where a number or a bool belongs (or an integer as a string)
        to->assign(v);
        if (pending_ == field::time) f.has_time = true;
        if (pending_ == field::dev_eui) f.has_dev_eui = true;
        if (pending_ == field::queue_item_id) f.has_queue_item_id = true;
        return done();
    }

    bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_int64(std::int64_t i, boost::json::string_view, boost::system::error_code& ec) { return integer(i, ec); }
    bool on_uint64(std::uint64_t u, boost::json::string_view, boost::system::error_code& ec) {
        if (u > 0xFFFFFFFFull) return !skip_ && (pending_ != field::none || scope_ == scope::rx_array) ? give_up(ec) : true;
        return integer(static_cast<std::int64_t>(u), ec);
    }
    bool on_double(double d, boost::json::string_view, boost::system::error_code& ec) {
        if (scope_ == scope::rx_array && !skip_) return give_up(ec);
        if (skip_ || pending_ == field::none) return true;
        if (pending_ == field::rx_snr) return f.item_snr = d, done();
        return give_up(ec); // 1e3 as an integer, or a number where a string belongs
    }
    bool on_bool(bool b, boost::system::error_code& ec) {
        if (scope_ == scope::rx_array && !skip_) return give_up(ec);
        if (skip_ || pending_ == field::none) return true;
        switch (pending_) {
        case field::adr: f.adr = b; return done();
        case field::confirmed: f.confirmed = b; return done();
        case field::acknowledged: f.acknowledged = b; return done();
        default: return give_up(ec);
        }
    }
    bool on_null(boost::system::error_code& ec) {
        // The DOM path reads null as absent. A required field that is null is then missing: the checks after the
        // parse find it (has_time, has_device_info, has_dev_eui, has_queue_item_id stay false).
        if (skip_) return true;
        if (scope_ == scope::rx_array) return give_up(ec);
        if (pending_ == field::tag_value) return give_up(ec); // rare: the DOM path leaves it out
        return done();
    }
    bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

private:
    enum class scope : std::uint8_t { none, top, device, tags, rx_array, rx_item };
    enum class field : std::uint8_t {
        none,
        // top level
        deduplication_id, time, device_info, dev_addr, adr, dr, f_cnt, f_port, confirmed, data, rx_info, queue_item_id,
        acknowledged, f_cnt_down, downlink_id, gateway_id,
        // deviceInfo
        tenant_id, tenant_name, application_id, application_name, device_profile_id, device_profile_name, device_name,
        dev_eui, device_class_enabled, tags,
        // an element of rxInfo
        rx_rssi, rx_snr, rx_gateway_id,
        // a value in tags
        tag_value,
    };

    /// k equals the literal: a compare of a fixed size, which the compiler inlines (the switches above it have
    /// matched the length already, so the length test costs nothing).
    template <std::size_t N>
    static bool is(std::string_view k, const char (&literal)[N]) noexcept {
        return k.size() == N - 1 && std::memcmp(k.data(), literal, N - 1) == 0;
    }

    field lookup(std::string_view k) const {
        switch (scope_) {
        case scope::top:
            switch (k.size()) {
            case 2: return is(k, "dr") ? field::dr : field::none;
            case 3: return is(k, "adr") ? field::adr : field::none;
            case 4:
                return is(k, "time") ? field::time : is(k, "fCnt") ? field::f_cnt : is(k, "data") ? field::data : field::none;
            case 5: return is(k, "fPort") ? field::f_port : field::none;
            case 6: return is(k, "rxInfo") ? field::rx_info : field::none;
            case 7: return is(k, "devAddr") ? field::dev_addr : field::none;
            case 8: return is(k, "fCntDown") ? field::f_cnt_down : field::none;
            case 9:
                return is(k, "confirmed") ? field::confirmed : is(k, "gatewayId") ? field::gateway_id : field::none;
            case 10:
                return is(k, "deviceInfo") ? field::device_info : is(k, "downlinkId") ? field::downlink_id : field::none;
            case 11: return is(k, "queueItemId") ? field::queue_item_id : field::none;
            case 12: return is(k, "acknowledged") ? field::acknowledged : field::none;
            case 15: return is(k, "deduplicationId") ? field::deduplication_id : field::none;
            default: return field::none;
            }
        case scope::device:
            switch (k.size()) {
            case 4: return is(k, "tags") ? field::tags : field::none;
            case 6: return is(k, "devEui") ? field::dev_eui : field::none;
            case 8: return is(k, "tenantId") ? field::tenant_id : field::none;
            case 10:
                return is(k, "tenantName") ? field::tenant_name : is(k, "deviceName") ? field::device_name : field::none;
            case 13: return is(k, "applicationId") ? field::application_id : field::none;
            case 15:
                return is(k, "deviceProfileId")   ? field::device_profile_id
                       : is(k, "applicationName") ? field::application_name
                                                : field::none;
            case 17: return is(k, "deviceProfileName") ? field::device_profile_name : field::none;
            case 18: return is(k, "deviceClassEnabled") ? field::device_class_enabled : field::none;
            default: return field::none;
            }
        case scope::rx_item:
            switch (k.size()) {
            case 3: return is(k, "snr") ? field::rx_snr : field::none;
            case 4: return is(k, "rssi") ? field::rx_rssi : field::none;
            case 9: return is(k, "gatewayId") ? field::rx_gateway_id : field::none;
            default: return field::none;
            }
        default: return field::none;
        }
    }

    std::string* string_field() {
        switch (pending_) {
        case field::deduplication_id: return &f.deduplication_id;
        case field::time: return &f.time;
        case field::dev_addr: return &f.dev_addr;
        case field::data: return &f.data;
        case field::queue_item_id: return &f.queue_item_id;
        case field::gateway_id: return &f.gateway_id;
        case field::tenant_id: return &f.tenant_id;
        case field::tenant_name: return &f.tenant_name;
        case field::application_id: return &f.application_id;
        case field::application_name: return &f.application_name;
        case field::device_profile_id: return &f.device_profile_id;
        case field::device_profile_name: return &f.device_profile_name;
        case field::device_name: return &f.device_name;
        case field::dev_eui: return &f.dev_eui;
        case field::device_class_enabled: return &f.device_class_enabled;
        case field::rx_gateway_id: return &f.item_gateway_id;
        default: return nullptr;
        }
    }

    bool integer(std::int64_t i, boost::system::error_code& ec) {
        if (scope_ == scope::rx_array && !skip_) return give_up(ec);
        if (skip_ || pending_ == field::none) return true;
        switch (pending_) {
        case field::dr: f.dr = i; return done();
        case field::f_cnt: f.f_cnt = i; return done();
        case field::f_port: f.f_port = i; return done();
        case field::f_cnt_down: f.f_cnt_down = i; return done();
        case field::downlink_id: f.downlink_id = i; return done();
        case field::rx_rssi: f.item_rssi = i; return done();
        case field::rx_snr: f.item_snr = static_cast<double>(i); return done();
        default: return give_up(ec); // a number where a string, a bool or an object belongs
        }
    }

    bool enter(scope s) {
        scope_ = s;
        pending_ = field::none;
        return true;
    }
    bool done() {
        pending_ = field::none;
        return true;
    }
    static bool give_up(boost::system::error_code& ec) {
        ec = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
        return false;
    }

    scope scope_ = scope::none;
    std::size_t skip_ = 0; ///< inside a value no field is read from: its nesting depth
    field pending_ = field::none;
    std::uint64_t seen_top_ = 0, seen_device_ = 0, seen_item_ = 0;
    std::string key_, value_; ///< a key or string delivered in parts
    bool key_parted_ = false, value_parted_ = false;
};

/// True when every byte is below 0x80: such a payload is valid UTF-8 whatever it holds, and needs no
/// validation while it is parsed.
inline bool all_ascii(std::string_view s) noexcept {
    std::size_t i = 0;
    std::uint64_t high = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        high |= w;
    }
    for (; i < s.size(); ++i) high |= static_cast<unsigned char>(s[i]);
    return (high & 0x8080808080808080ull) == 0;
}

/// Fills `e` (a fresh event, where the parser returns it) from the fields, when they are all in range and present
/// where required; false sends the event to the DOM path (which then names what is wrong). The strings are moved
/// out of the fields (start() clears them before the next parse).
template <class Event>
inline bool event_from_fields(event_fields& f, Event& e);

inline bool device_from_fields(event_fields& f, device_info& d) {
    if (!f.has_device_info || !f.has_dev_eui) return false;
    d.dev_eui = std::move(f.dev_eui);
    if (!normalize_dev_eui(d.dev_eui)) return false;
    d.tenant_id = std::move(f.tenant_id);
    d.tenant_name = std::move(f.tenant_name);
    d.application_id = std::move(f.application_id);
    d.application_name = std::move(f.application_name);
    d.device_profile_id = std::move(f.device_profile_id);
    d.device_profile_name = std::move(f.device_profile_name);
    d.device_name = std::move(f.device_name);
    d.device_class_enabled = std::move(f.device_class_enabled);
    for (std::size_t i = 0; i < f.tag_count; ++i) d.tags.emplace(std::move(f.tags[i].first), std::move(f.tags[i].second));
    return true;
}

inline bool time_from_fields(event_fields& f, sys_time& t) {
    if (!f.has_time) return false;
    auto parsed = parse_rfc3339(f.time);
    if (!parsed) return false;
    t = *parsed;
    return true;
}

constexpr std::int64_t fast_u32 = 0xFFFFFFFFLL;

template <>
inline bool event_from_fields<up_event>(event_fields& f, up_event& e) {
    if (!time_from_fields(f, e.time) || !device_from_fields(f, e.device)) return false;
    if (f.dr < 0 || f.dr > 15 || f.f_cnt < 0 || f.f_cnt > fast_u32 || f.f_port < 0 || f.f_port > 255) return false;
    if (f.rssi && (*f.rssi < -200 || *f.rssi > 50)) return false;
    auto data = from_base64(f.data);
    if (!data) return false;
    e.deduplication_id = std::move(f.deduplication_id);
    e.dev_addr = std::move(f.dev_addr);
    e.adr = f.adr;
    e.dr = static_cast<int>(f.dr);
    e.f_cnt = static_cast<std::uint32_t>(f.f_cnt);
    e.f_port = static_cast<std::uint8_t>(f.f_port);
    e.confirmed = f.confirmed;
    e.data = std::move(*data);
    e.rssi = f.rssi;
    if (f.rssi) e.snr = f.snr;
    e.gateway_id = std::move(f.rx_gateway_id);
    e.gateways = f.gateways;
    return true;
}

template <>
inline bool event_from_fields<ack_event>(event_fields& f, ack_event& e) {
    if (!time_from_fields(f, e.time) || !device_from_fields(f, e.device) || !f.has_queue_item_id ||
        f.queue_item_id.empty() || f.f_cnt_down < 0 || f.f_cnt_down > fast_u32)
        return false;
    e.deduplication_id = std::move(f.deduplication_id);
    e.queue_item_id = std::move(f.queue_item_id);
    e.acknowledged = f.acknowledged;
    e.f_cnt_down = static_cast<std::uint32_t>(f.f_cnt_down);
    return true;
}

template <>
inline bool event_from_fields<txack_event>(event_fields& f, txack_event& e) {
    if (!time_from_fields(f, e.time) || !device_from_fields(f, e.device) || !f.has_queue_item_id ||
        f.queue_item_id.empty() || f.f_cnt_down < 0 || f.f_cnt_down > fast_u32 || f.downlink_id < 0 ||
        f.downlink_id > fast_u32)
        return false;
    e.downlink_id = static_cast<std::uint32_t>(f.downlink_id);
    e.queue_item_id = std::move(f.queue_item_id);
    e.f_cnt_down = static_cast<std::uint32_t>(f.f_cnt_down);
    e.gateway_id = std::move(f.gateway_id);
    return true;
}

template <>
inline bool event_from_fields<join_event>(event_fields& f, join_event& e) {
    if (!time_from_fields(f, e.time) || !device_from_fields(f, e.device)) return false;
    e.deduplication_id = std::move(f.deduplication_id);
    e.dev_addr = std::move(f.dev_addr);
    return true;
}

} // namespace relaylink::chirpstack::detail
