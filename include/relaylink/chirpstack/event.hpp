// ChirpStack v4 integration events (MQTT `application/{app}/device/{devEui}/event/{type}` and the
// HTTP integration's `?event=type`), parsed from their JSON into typed values. Sans-I/O.
//  - Timestamps with 'Z' or '+00:00' and up to nanoseconds; unknown fields are ignored.
//  - An unknown event type is a typed `unknown_event`, not an error.
//  - Malformed input is an error naming the field ("up event: field 'fCnt' must be a number, got \"x\"").
// event_parser reuses its memory from one event to the next (hundreds of thousands per second).
#pragma once

#include <relaylink/encoding.hpp>
#include <relaylink/error.hpp>
#include <relaylink/time.hpp>

#include <boost/json.hpp>
#include <boost/system/result.hpp>

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace relaylink::chirpstack {

/// deviceInfo, common to every event.
struct device_info {
    std::string tenant_id;
    std::string tenant_name;
    std::string application_id;
    std::string application_name;
    std::string device_profile_id;
    std::string device_profile_name;
    std::string device_name;
    std::string dev_eui; ///< lower case
    std::string device_class_enabled;
    std::map<std::string, std::string> tags;

    bool operator==(const device_info&) const = default;
};

/// An uplink: the device's data (for a UC100 on the pass-through port: the meter's raw RTU reply).
struct up_event {
    std::string deduplication_id;
    sys_time time;
    device_info device;
    std::string dev_addr;
    bool adr = false;
    int dr = 0;
    std::uint32_t f_cnt = 0;
    std::uint8_t f_port = 0;
    bool confirmed = false;
    bytes data;
    std::optional<int> rssi;     ///< best (highest) RSSI over the receiving gateways
    std::optional<double> snr;   ///< SNR at that gateway
    std::string gateway_id;      ///< that gateway
    std::size_t gateways = 0;    ///< how many gateways received it

    bool operator==(const up_event&) const = default;
};

/// The device's answer to a confirmed downlink: acknowledged, or not (ChirpStack then drops the item).
struct ack_event {
    std::string deduplication_id;
    sys_time time;
    device_info device;
    std::string queue_item_id;
    bool acknowledged = false;
    std::uint32_t f_cnt_down = 0;

    bool operator==(const ack_event&) const = default;
};

/// A gateway accepted the downlink for transmission (not proof that it was transmitted).
struct txack_event {
    std::uint32_t downlink_id = 0;
    sys_time time;
    device_info device;
    std::string queue_item_id;
    std::uint32_t f_cnt_down = 0;
    std::string gateway_id;

    bool operator==(const txack_event&) const = default;
};

enum class log_level : std::uint8_t { info, warning, error };

struct log_event {
    sys_time time;
    device_info device;
    log_level level = log_level::info;
    std::string code; ///< EXPIRED, DOWNLINK_PAYLOAD_SIZE, F_CNT_DOWN, DOWNLINK_GATEWAY, UPLINK_CODEC, …
    std::string description;
    std::map<std::string, std::string> context;

    /// The queue item a log names (EXPIRED, DOWNLINK_PAYLOAD_SIZE, F_CNT_DOWN), if any.
    std::optional<std::string> queue_item_id() const {
        auto it = context.find("queue_item_id");
        if (it == context.end() || it->second.empty()) return std::nullopt;
        return it->second;
    }

    bool operator==(const log_event&) const = default;
};

struct status_event {
    std::string deduplication_id;
    sys_time time;
    device_info device;
    int margin = 0;
    bool external_power_source = false;
    bool battery_level_unavailable = false;
    double battery_level = 0;

    bool operator==(const status_event&) const = default;
};

struct join_event {
    std::string deduplication_id;
    sys_time time;
    device_info device;
    std::string dev_addr;

    bool operator==(const join_event&) const = default;
};

struct location_event {
    std::string deduplication_id;
    sys_time time;
    device_info device;
    double latitude = 0;
    double longitude = 0;
    double altitude = 0;
    std::string source;
    double accuracy = 0;

    bool operator==(const location_event&) const = default;
};

/// An event type relaylink does not know (ChirpStack adds some over time). Not an error.
struct unknown_event {
    std::string type;
    std::optional<device_info> device; ///< when the payload had a readable deviceInfo

    bool operator==(const unknown_event&) const = default;
};

using event = std::variant<up_event, ack_event, txack_event, log_event, status_event, join_event, location_event, unknown_event>;

/// "up", "ack", … for an event value.
inline std::string_view type_of(const event& e) {
    switch (e.index()) {
    case 0: return "up";
    case 1: return "ack";
    case 2: return "txack";
    case 3: return "log";
    case 4: return "status";
    case 5: return "join";
    case 6: return "location";
    default: return std::get<unknown_event>(e).type;
    }
}

/// The DevEUI an event is about (empty for an unknown event without deviceInfo).
inline const std::string& dev_eui_of(const event& e) {
    static const std::string none;
    return std::visit(
        [](const auto& x) -> const std::string& {
            if constexpr (std::is_same_v<std::decay_t<decltype(x)>, unknown_event>)
                return x.device ? x.device->dev_eui : none;
            else
                return x.device.dev_eui;
        },
        e);
}

namespace detail {
/// A DevEUI as relaylink keeps it: 16 hex digits, lower case. False (and `eui` partly lowered) when it is not one.
inline bool normalize_dev_eui(std::string& eui) noexcept {
    bool hex = eui.size() == 16;
    for (char& c : eui) {
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
        hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    return hex;
}
} // namespace detail

/// A topic application/{application_id}/device/{dev_eui}/event/{type}.
struct topic {
    std::string application_id;
    std::string dev_eui;
    std::string event_type;
};

inline boost::system::result<topic, field_error> parse_topic(std::string_view t) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= t.size(); ++i) {
        if (i == t.size() || t[i] == '/') {
            parts.push_back(t.substr(start, i - start));
            start = i + 1;
        }
    }
    if (parts.size() != 6 || parts[0] != "application" || parts[2] != "device" || parts[4] != "event" ||
        parts[1].empty() || parts[5].empty())
        return field_error{"topic", "topic '" + std::string(t) +
                                        "' is not application/{application_id}/device/{dev_eui}/event/{type}"};
    std::string eui(parts[3]);
    if (!detail::normalize_dev_eui(eui)) return field_error{"topic", "topic '" + std::string(t) + "' has no 16-hex-digit DevEUI"};
    return topic{std::string(parts[1]), std::move(eui), std::string(parts[5])};
}

namespace detail {

namespace json = boost::json;

/// Field readers that name the field and show the value in their refusals.
class event_reader {
public:
    event_reader(const json::object& o, std::string_view type, std::string prefix = {})
        : o_(o), type_(type), prefix_(std::move(prefix)) {}

    const json::value* get(std::string_view k) const {
        auto* v = o_.if_contains(k);
        return v && !v->is_null() ? v : nullptr;
    }
    [[noreturn]] void bad(std::string_view k, std::string_view what, const json::value* v) const {
        std::string shown = v ? json::serialize(*v) : "nothing";
        if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
        throw field_error{prefix_ + std::string(k),
                          std::string(type_) + " event: field '" + prefix_ + std::string(k) + "' " + std::string(what) + ", got " + shown};
    }
    std::string str(std::string_view k, bool required = false) const {
        auto* v = get(k);
        if (!v) {
            if (required) bad(k, "is required", nullptr);
            return {};
        }
        if (!v->is_string()) bad(k, "must be a string", v);
        return std::string(v->get_string());
    }
    bool boolean(std::string_view k) const {
        auto* v = get(k);
        if (!v) return false;
        if (!v->is_bool()) bad(k, "must be true or false", v);
        return v->get_bool();
    }
    /// Integers arrive as numbers, or as strings for 64-bit fields.
    std::int64_t integer(std::string_view k, std::int64_t lo, std::int64_t hi, bool required = false) const {
        auto* v = get(k);
        if (!v) {
            if (required) bad(k, "is required", nullptr);
            return 0;
        }
        std::int64_t n = 0;
        bool ok = true;
        if (v->is_int64())
            n = v->get_int64();
        else if (v->is_uint64())
            ok = v->get_uint64() <= static_cast<std::uint64_t>(hi), n = static_cast<std::int64_t>(v->get_uint64());
        else if (v->is_double()) {
            // 1e3 is a valid way to write 1000; check the range before converting (UB otherwise)
            const double d = v->get_double();
            ok = d >= -9.0e15 && d <= 9.0e15 && d == static_cast<double>(static_cast<std::int64_t>(d));
            if (ok) n = static_cast<std::int64_t>(d);
        }
        else if (v->is_string()) {
            auto s = v->get_string();
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
            ok = ec == std::errc{} && p == s.data() + s.size();
        } else
            ok = false;
        if (!ok || n < lo || n > hi) bad(k, "must be an integer " + std::to_string(lo) + "-" + std::to_string(hi), v);
        return n;
    }
    double number(std::string_view k) const {
        auto* v = get(k);
        if (!v) return 0;
        if (!v->is_number()) bad(k, "must be a number", v);
        return v->to_number<double>();
    }
    sys_time time(std::string_view k) const {
        auto* v = get(k);
        if (!v) bad(k, "is required", nullptr);
        if (!v->is_string()) bad(k, "must be an RFC 3339 time", v);
        auto t = parse_rfc3339(v->get_string());
        if (!t) bad(k, "must be an RFC 3339 time", v);
        return *t;
    }
    bytes base64(std::string_view k) const {
        auto s = str(k);
        auto b = from_base64(s);
        if (!b) bad(k, "must be base64", get(k));
        return std::move(*b);
    }
    const json::object* object(std::string_view k, bool required = false) const {
        auto* v = get(k);
        if (!v) {
            if (required) bad(k, "is required", nullptr);
            return nullptr;
        }
        if (!v->is_object()) bad(k, "must be an object", v);
        return &v->get_object();
    }
    const json::array* array(std::string_view k) const {
        auto* v = get(k);
        if (!v) return nullptr;
        if (!v->is_array()) bad(k, "must be an array", v);
        return &v->get_array();
    }
    std::map<std::string, std::string> string_map(std::string_view k) const {
        std::map<std::string, std::string> out;
        if (auto* o = object(k))
            for (const auto& kv : *o) {
                if (kv.value().is_string())
                    out.emplace(kv.key(), std::string(kv.value().get_string()));
                else if (!kv.value().is_null())
                    out.emplace(kv.key(), json::serialize(kv.value())); // be lenient: numbers in a context
            }
        return out;
    }
    event_reader nested(const json::object& o, std::string_view k) const { return {o, type_, prefix_ + std::string(k) + "."}; }
    std::string_view type() const { return type_; }

private:
    const json::object& o_;
    std::string_view type_;
    std::string prefix_;
};

inline device_info read_device_info(const event_reader& r) {
    const json::object* o = r.object("deviceInfo", true);
    event_reader d = r.nested(*o, "deviceInfo");
    device_info info;
    info.tenant_id = d.str("tenantId");
    info.tenant_name = d.str("tenantName");
    info.application_id = d.str("applicationId");
    info.application_name = d.str("applicationName");
    info.device_profile_id = d.str("deviceProfileId");
    info.device_profile_name = d.str("deviceProfileName");
    info.device_name = d.str("deviceName");
    info.dev_eui = d.str("devEui", true);
    if (!normalize_dev_eui(info.dev_eui)) d.bad("devEui", "must be 16 hex digits", d.get("devEui"));
    info.device_class_enabled = d.str("deviceClassEnabled");
    info.tags = d.string_map("tags");
    return info;
}

/// The fields most events open with: deduplicationId, time, deviceInfo.
template <class Event>
void read_header(const event_reader& r, Event& e) {
    e.deduplication_id = r.str("deduplicationId");
    e.time = r.time("time");
    e.device = read_device_info(r);
}

inline event read_event(std::string_view type, const json::object& o) {
    event_reader r(o, type);
    constexpr std::int64_t u32 = 0xFFFFFFFFLL;
    if (type == "up") {
        up_event e;
        read_header(r, e);
        e.dev_addr = r.str("devAddr");
        e.adr = r.boolean("adr");
        e.dr = static_cast<int>(r.integer("dr", 0, 15));
        e.f_cnt = static_cast<std::uint32_t>(r.integer("fCnt", 0, u32));
        e.f_port = static_cast<std::uint8_t>(r.integer("fPort", 0, 255));
        e.confirmed = r.boolean("confirmed");
        e.data = r.base64("data");
        if (auto* rx = r.array("rxInfo")) {
            for (std::size_t i = 0; i < rx->size(); ++i) {
                const auto& item = (*rx)[i];
                const std::string where = "rxInfo[" + std::to_string(i) + "]";
                if (!item.is_object()) r.bad(where, "must be an object", &item);
                event_reader g = r.nested(item.get_object(), where);
                ++e.gateways;
                const auto rssi = static_cast<int>(g.integer("rssi", -200, 50));
                if (!e.rssi || rssi > *e.rssi) {
                    e.rssi = rssi;
                    e.snr = g.number("snr");
                    e.gateway_id = g.str("gatewayId");
                }
            }
        }
        return e;
    }
    if (type == "ack") {
        ack_event e;
        read_header(r, e);
        e.queue_item_id = r.str("queueItemId", true);
        e.acknowledged = r.boolean("acknowledged");
        e.f_cnt_down = static_cast<std::uint32_t>(r.integer("fCntDown", 0, u32));
        return e;
    }
    if (type == "txack") {
        txack_event e;
        e.downlink_id = static_cast<std::uint32_t>(r.integer("downlinkId", 0, u32));
        e.time = r.time("time");
        e.device = read_device_info(r);
        e.queue_item_id = r.str("queueItemId", true);
        e.f_cnt_down = static_cast<std::uint32_t>(r.integer("fCntDown", 0, u32));
        e.gateway_id = r.str("gatewayId");
        return e;
    }
    if (type == "log") {
        log_event e;
        e.time = r.time("time");
        e.device = read_device_info(r);
        const std::string level = r.str("level");
        if (level == "INFO" || level.empty())
            e.level = log_level::info;
        else if (level == "WARNING")
            e.level = log_level::warning;
        else if (level == "ERROR")
            e.level = log_level::error;
        else
            r.bad("level", "must be INFO, WARNING or ERROR", r.get("level"));
        e.code = r.str("code");
        e.description = r.str("description");
        e.context = r.string_map("context");
        return e;
    }
    if (type == "status") {
        status_event e;
        read_header(r, e);
        e.margin = static_cast<int>(r.integer("margin", -128, 127));
        e.external_power_source = r.boolean("externalPowerSource");
        e.battery_level_unavailable = r.boolean("batteryLevelUnavailable");
        e.battery_level = r.number("batteryLevel");
        return e;
    }
    if (type == "join") {
        join_event e;
        read_header(r, e);
        e.dev_addr = r.str("devAddr");
        return e;
    }
    if (type == "location") {
        location_event e;
        read_header(r, e);
        if (const auto* loc = r.object("location")) {
            auto l = r.nested(*loc, "location");
            e.latitude = l.number("latitude");
            e.longitude = l.number("longitude");
            e.altitude = l.number("altitude");
            e.source = l.str("source");
            e.accuracy = l.number("accuracy");
        }
        return e;
    }
    unknown_event u{std::string(type), std::nullopt};
    try {
        if (r.object("deviceInfo")) u.device = read_device_info(r);
    } catch (const field_error&) {
        // an unknown event's deviceInfo is a courtesy, not a requirement
    }
    return u;
}

} // namespace detail

} // namespace relaylink::chirpstack

#include <relaylink/chirpstack/detail/event_fast_path.hpp>

namespace relaylink::chirpstack {

/// Parses events, reusing its memory between calls. Not thread-safe: one per thread.
/// up, ack, txack and join events in their plain form are read in one pass without a DOM
/// (detail/event_fast_path.hpp); everything else, and every refusal, comes from the DOM path.
class event_parser {
public:
    event_parser()
        : parser_(boost::json::storage_ptr{}, opts(), stack_, sizeof stack_), fast_(opts()), fast_ascii_(ascii_opts()) {}

    boost::system::result<event, field_error> parse(std::string_view type, std::string_view payload) {
        if (type.empty()) return field_error{"type", "event type is empty"};
        // The event is built where it is returned (one return object, elided): an uplink's event holds a dozen
        // strings and a map, and each move of it on the way out cost a few per cent of the parse.
        boost::system::result<event, field_error> r(boost::system::in_place_value);
        if (parse_fast(type, payload, *r))
            ++fast_parses_;
        else {
            ++dom_parses_;
            r = parse_dom(type, payload);
        }
        return r;
    }

    /// How many parse() calls the fast path answered, and how many the DOM path (for tests and benchmarks).
    std::uint64_t fast_parses() const noexcept { return fast_parses_; }
    std::uint64_t dom_parses() const noexcept { return dom_parses_; }

    /// The DOM path alone: what parse() gives for an event the fast path does not take. The same answer as
    /// parse() for every input (the tests and the fuzz target compare them).
    boost::system::result<event, field_error> parse_dom(std::string_view type, std::string_view payload) {
        if (type.empty()) return field_error{"type", "event type is empty"};
        resource_.release();
        parser_.reset(boost::json::storage_ptr(&resource_));
        boost::system::error_code ec;
        parser_.write(payload.data(), payload.size(), ec);
        if (ec) {
            bool binary = false; // protobuf carries control bytes that JSON never has
            for (unsigned char c : payload.substr(0, 64)) binary = binary || (c < 0x20 && c != '\t' && c != '\n' && c != '\r');
            return field_error{"", std::string(type) + " event is not valid JSON (" + ec.message() + ")" +
                                       (binary ? "; is the integration set to protobuf? relaylink reads JSON" : "")};
        }
        boost::json::value v = parser_.release();
        if (!v.is_object()) return field_error{"", std::string(type) + " event must be a JSON object"};
        try {
            return detail::read_event(type, v.get_object());
        } catch (const field_error& e) {
            return e;
        }
    }

private:
    /// Fills `out` and answers true when the fast path takes the event; false leaves `out` to be overwritten.
    bool parse_fast(std::string_view type, std::string_view payload, event& out) {
        enum class kind { up, ack, txack, join } k;
        if (type == "up")
            k = kind::up;
        else if (type == "ack")
            k = kind::ack;
        else if (type == "txack")
            k = kind::txack;
        else if (type == "join")
            k = kind::join;
        else
            return false;
        // Nearly every event is ASCII, which is valid UTF-8 as it is: its parse skips the validation (a seventh of
        // the time), which the rest still gets, as in the DOM path.
        auto& parser = detail::all_ascii(payload) ? fast_ascii_ : fast_;
        parser.reset();
        parser.handler().start();
        boost::system::error_code ec;
        const std::size_t n = parser.write_some(false, payload.data(), payload.size(), ec);
        if (ec || n != payload.size() || !parser.done()) return false;
        auto& f = parser.handler().f;
        // `out` is fresh: an up event (the variant's first type) is filled where it is, the others replace it.
        auto fill = [&f, &out]<class E>(std::in_place_type_t<E>) {
            E* e = std::get_if<E>(&out);
            return detail::event_from_fields(f, e ? *e : out.emplace<E>());
        };
        switch (k) {
        case kind::up: return fill(std::in_place_type<up_event>);
        case kind::ack: return fill(std::in_place_type<ack_event>);
        case kind::txack: return fill(std::in_place_type<txack_event>);
        case kind::join: return fill(std::in_place_type<join_event>);
        }
        return false;
    }

    static boost::json::parse_options opts() {
        boost::json::parse_options o;
        o.max_depth = 64;
        return o;
    }
    static boost::json::parse_options ascii_opts() {
        auto o = opts();
        o.allow_invalid_utf8 = true; // only for payloads all_ascii() passed
        return o;
    }
    unsigned char stack_[4096];  // the parser's working stack: no allocation for ordinary events
    unsigned char buffer_[8192]; // the DOM of one event
    boost::json::monotonic_resource resource_{buffer_, sizeof buffer_};
    boost::json::parser parser_;
    boost::json::basic_parser<detail::event_fields_handler> fast_, fast_ascii_;
    std::uint64_t fast_parses_ = 0, dom_parses_ = 0;
};

/// Parse one event (a convenience over event_parser).
inline boost::system::result<event, field_error> parse_event(std::string_view type, std::string_view payload) {
    event_parser p;
    return p.parse(type, payload);
}

} // namespace relaylink::chirpstack
