// The simulator's HTTP server (ChirpStack REST subset + /sim control API), clock and event delivery.
// All Beast code of the simulator is in this translation unit.
#include <relaylink/sim/simulator.hpp>

#include "../chirpstack/http_pool.hpp"
#include "mqtt_publisher.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <array>
#include <atomic>
#include <cctype>
#include <set>

namespace relaylink::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

struct answer {
    unsigned status = 200;
    std::string body = "{}";
};

answer grpc_error(unsigned status, int code, std::string message) {
    return {status, json::serialize(json::object{{"code", code}, {"message", std::move(message)}, {"details", json::array{}}})};
}
answer not_found(const std::string& id) { return grpc_error(404, 5, "Object does not exist (id: " + id + ")"); }
answer bad_request(std::string m) { return grpc_error(400, 3, std::move(m)); }
answer ok(const json::value& v) { return {200, json::serialize(v)}; }

std::vector<std::string> split_path(std::string_view p) {
    std::vector<std::string> out;
    std::size_t start = 1;
    while (start <= p.size()) {
        auto slash = p.find('/', start);
        if (slash == std::string_view::npos) slash = p.size();
        if (slash > start) out.emplace_back(p.substr(start, slash - start));
        start = slash + 1;
    }
    return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> out;
    while (!q.empty()) {
        auto amp = q.find('&');
        auto part = q.substr(0, amp);
        auto eq = part.find('=');
        if (eq != std::string_view::npos) out.emplace(std::string(part.substr(0, eq)), std::string(part.substr(eq + 1)));
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return out;
}

/// ChirpStack's EUI64 parsing: its errors surface as 500s (reference: "Odd number of digits").
std::optional<answer> check_eui(std::string& eui) {
    if (eui.size() % 2) return grpc_error(500, 13, "Odd number of digits");
    for (std::size_t i = 0; i < eui.size(); ++i) {
        char& c = eui[i];
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return grpc_error(500, 13, "Invalid character '" + std::string(1, c) + "' at position " + std::to_string(i));
    }
    if (eui.size() != 16) return grpc_error(500, 13, "Invalid string length");
    return std::nullopt;
}

const json::object* object_at(const json::value& v, std::string_view key) {
    if (!v.is_object()) return nullptr;
    auto* x = v.get_object().if_contains(key);
    return x && x->is_object() ? &x->get_object() : nullptr;
}

std::string str_of(const json::object& o, std::string_view k) {
    auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::string time_z(sys_time t) { return format_rfc3339(t); }

/// The device's last DevStatusAns as the REST API shows it: null until it reported one.
json::value status_json(const simulated_device& d) {
    if (!d.status) return nullptr;
    return json::object{{"margin", d.status->margin}, {"externalPowerSource", d.status->external_power_source},
                        {"batteryLevel", d.status->battery_level}};
}

/// Control-API fields: a probability 0-1, or a non-negative number of milliseconds, refused with
/// the field's name otherwise. Absent fields leave `out` as it is.
void read_probability(const json::object& o, std::string_view k, double& out) {
    if (auto* v = o.if_contains(k)) {
        if (!v->is_number() || v->to_number<double>() < 0 || v->to_number<double>() > 1)
            throw std::invalid_argument(std::string(k) + " must be a probability 0-1, got " + json::serialize(*v));
        out = v->to_number<double>();
    }
}
void read_milliseconds(const json::object& o, std::string_view k, std::chrono::milliseconds& out) {
    if (auto* v = o.if_contains(k)) {
        if (!v->is_number() || v->to_number<double>() < 0 || v->to_number<double>() > 3.6e6)
            throw std::invalid_argument(std::string(k) + " must be 0-3600000 milliseconds, got " + json::serialize(*v));
        out = std::chrono::milliseconds(static_cast<long long>(v->to_number<double>()));
    }
}

enum class fault { none, drop, unavailable, internal, rate_limited, refused, lost_response, garbled, slow };

/// Each fault with its probability, in the order a roll is matched against them.
std::array<std::pair<double, fault>, 8> fault_table(const http_faults& f) {
    return {{{f.drop_rate, fault::drop},         {f.error_5xx_rate, fault::unavailable},
             {f.error_500_rate, fault::internal}, {f.rate_limit_rate, fault::rate_limited},
             {f.refuse_rate, fault::refused},     {f.lost_response_rate, fault::lost_response},
             {f.garbled_rate, fault::garbled},    {f.slow_rate, fault::slow}}};
}

/// The fault a request suffers, for a roll in [0, 1).
fault draw(const http_faults& f, double roll) {
    double edge = 0;
    for (const auto& [p, which] : fault_table(f)) {
        edge += p;
        if (roll < edge) return which;
    }
    return fault::none;
}

void check_faults(const http_faults& f) {
    double sum = 0;
    for (const auto& [p, which] : fault_table(f)) {
        if (!(p >= 0 && p <= 1)) throw std::invalid_argument("API fault rates must be probabilities 0-1");
        sum += p;
    }
    if (sum > 1 + 1e-9)
        throw std::invalid_argument("API fault rates add up to " + std::to_string(sum) + ": each request suffers at most one fault, so they must add up to at most 1");
    if (f.latency.count() < 0 || f.slow_latency.count() < 0) throw std::invalid_argument("latencies must not be negative");
    if (!f.only_method.empty() && f.only_method != "POST" && f.only_method != "GET" && f.only_method != "DELETE")
        throw std::invalid_argument("only_method must be POST, GET, DELETE or empty (every request), not '" + f.only_method + "'");
}

struct collection {
    std::string wrapper; ///< the request/response wrapper key ("application")
    std::string id_key;  ///< the id field inside a record ("id", or "gatewayId")
    std::map<std::string, json::object> records;
};

} // namespace

struct simulator::impl : std::enable_shared_from_this<simulator::impl> {
    asio::any_io_executor ex;
    simulator_config cfg;
    tcp::acceptor acceptor;
    asio::steady_timer ticker;
    std::atomic<bool> running{false};

    mutable std::mutex m;
    network net;
    std::vector<event_out> pending;
    std::vector<std::function<void(const event_out&)>> subscribers;
    http_faults hfaults;
    std::mt19937_64 rng;
    std::map<std::string, json::object> device_records; ///< ChirpStack's view of each device
    std::map<std::string, json::object> device_keys;
    std::map<std::string, collection> collections;
    std::map<std::string, std::uint64_t> enqueue_requests; ///< per DevEUI (lower case), as they arrived
    std::map<std::string, std::vector<accepted_item>> accepted;  ///< per DevEUI, the items the queue API took
    std::map<std::string, std::deque<event_out>> recent_ups;     ///< per DevEUI, its last few `up` events
    // clock
    sys_time sim_epoch;
    std::chrono::steady_clock::time_point real_epoch;
    sys_time manual_now;
    std::shared_ptr<chirpstack::detail::http_pool> integration;
    std::unique_ptr<detail::mqtt_publisher> mqtt;
    std::string integration_target; ///< appended to the URL's path: "?event=" or "/?event="

    impl(asio::any_io_executor executor, simulator_config c)
        : ex(executor), cfg(std::move(c)), acceptor(executor), ticker(executor), net(cfg.seed), rng(cfg.seed ^ 0x5eed) {
        sim_epoch = cfg.start ? *cfg.start : std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
        real_epoch = std::chrono::steady_clock::now();
        manual_now = sim_epoch;
        net.set_sink([this](const event_out& e) { // called under m
            pending.push_back(e);
            if (e.type != "up" || !cfg.keep_history) return;
            auto& ups = recent_ups[e.dev_eui];
            ups.push_back(e);
            if (ups.size() > 8) ups.pop_front();
        });
        net.set_event_order(cfg.order);
        init_collections();
        if (!cfg.mqtt_url.empty()) mqtt = detail::mqtt_publisher::create(cfg.mqtt_url, cfg.mqtt_qos);
        if (!cfg.integration_url.empty()) {
            chirpstack::detail::base_url u;
            std::string why;
            if (!chirpstack::detail::parse_base_url(cfg.integration_url, u, why)) throw std::invalid_argument(why);
            chirpstack::config icfg;
            icfg.url = cfg.integration_url;
            icfg.request_timeout = std::chrono::seconds(5); // as ChirpStack: 5 s, no retry
            icfg.retry.max_attempts = 1;
            icfg.pool_size = 2;
            icfg.user_agent = "relaylink-sim (ChirpStack HTTP integration)";
            icfg.headers = cfg.integration_headers;
            integration_target = u.prefix.empty() ? "/?event=" : "?event=";
            integration = chirpstack::detail::http_pool::create(ex, icfg, u);
        }
    }

    void init_collections() {
        collections.clear();
        collections["applications"] = {"application", "id", {}};
        collections["device-profiles"] = {"deviceProfile", "id", {}};
        collections["tenants"] = {"tenant", "id", {}};
        collections["gateways"] = {"gateway", "gatewayId", {}};
    }

    sys_time now_locked() const {
        if (cfg.manual_time) return manual_now;
        const auto real = std::chrono::steady_clock::now() - real_epoch;
        return sim_epoch + std::chrono::duration_cast<std::chrono::nanoseconds>(real * cfg.speed);
    }

    /// Deliver the events collected under the lock, without holding it.
    void flush_events() {
        std::vector<event_out> batch;
        std::vector<std::function<void(const event_out&)>> subs;
        {
            std::lock_guard lock(m);
            batch.swap(pending);
            subs = subscribers;
        }
        for (const auto& e : batch) {
            for (const auto& s : subs) s(e);
            if (mqtt) mqtt->publish(e);
            if (integration) {
                chirpstack::detail::http_request r{chirpstack::method::post, integration_target + e.type, e.json};
                integration->async_exchange(std::move(r), nullptr, [](error_code, chirpstack::detail::http_response) {});
            }
        }
    }

    json::object view_json(const simulated_device& d) const {
        json::object o{{"devEui", d.cfg.dev_eui},
                       {"name", d.cfg.name},
                       {"kind", to_string(d.cfg.kind)},
                       {"passthroughPort", d.cfg.passthrough_port},
                       {"slave", d.cfg.slave},
                       {"wiring", d.cfg.power == wiring::line_side ? "line_side" : "load_side"},
                       {"relay", d.relay_closed ? "closed" : "open"},
                       {"bridgePowered", d.bridge_powered},
                       {"fCntUp", d.f_cnt_up},
                       {"fCntDown", d.f_cnt_down},
                       {"queueLength", d.queue.size()},
                       {"uplinkIntervalS", std::chrono::duration_cast<std::chrono::seconds>(d.cfg.uplink_interval).count()},
                       {"lastSeenAt", d.last_seen ? json::value(time_z(*d.last_seen)) : json::value(nullptr)},
                       {"uplinksSent", d.uplinks_sent},
                       {"uplinksLost", d.uplinks_lost},
                       {"downlinksReceived", d.downlinks.size()},
                       {"faults", json::object{{"uplinkLoss", d.cfg.faults.uplink_loss},
                                               {"downlinkLoss", d.cfg.faults.downlink_loss},
                                               {"gatewayTxError", d.cfg.faults.gateway_tx_error},
                                               {"replyDelayMs", d.cfg.faults.reply_delay.count()},
                                               {"relayStuck", d.cfg.faults.relay_stuck}}}};
        return o;
    }

    json::array downlinks_json(const simulated_device& d) const {
        json::array a;
        for (const auto& r : d.downlinks)
            a.push_back(json::object{{"time", time_z(r.time)}, {"queueItemId", r.queue_item_id}, {"fCntDown", r.f_cnt_down},
                                     {"fPort", r.f_port}, {"confirmed", r.confirmed}, {"hex", to_hex(r.data)},
                                     {"reachedDevice", r.reached_device}});
        return a;
    }

    device_config config_from_json(const json::object& o, std::string eui) {
        device_config c;
        c.dev_eui = std::move(eui);
        c.name = str_of(o, "name");
        if (auto k = str_of(o, "kind"); !k.empty()) {
            auto kind = device_kind_from_name(k);
            if (!kind) throw std::invalid_argument("kind must be uc100_sdm320c or ivy_em114039, got '" + k + "'");
            c.kind = *kind;
        }
        auto num = [&](std::string_view k, double lo, double hi, double def) {
            auto* v = o.if_contains(k);
            if (!v || v->is_null()) return def;
            if (!v->is_number()) throw std::invalid_argument(std::string(k) + " must be a number");
            double x = v->to_number<double>();
            if (x < lo || x > hi)
                throw std::invalid_argument(std::string(k) + " must be " + std::to_string(lo) + "-" + std::to_string(hi));
            return x;
        };
        c.passthrough_port = static_cast<std::uint8_t>(num("passthroughPort", 2, 223, 5));
        c.slave = static_cast<std::uint8_t>(num("slave", 1, 247, 1));
        c.uplink_interval = std::chrono::milliseconds(static_cast<long long>(num("uplinkIntervalS", 1, 86400, 600) * 1000));
        c.jitter = num("jitter", 0, 0.9, 0.1);
        c.data_rate = static_cast<int>(num("dataRate", 0, 15, 5));
        if (auto w = str_of(o, "wiring"); !w.empty()) {
            if (w != "line_side" && w != "load_side") throw std::invalid_argument("wiring must be line_side or load_side, got '" + w + "'");
            c.power = w == "line_side" ? wiring::line_side : wiring::load_side;
        }
        if (auto* r = o.if_contains("relayClosed"); r && r->is_bool()) c.relay_closed = r->get_bool();
        c.application_id = str_of(o, "applicationId");
        c.device_profile_id = str_of(o, "deviceProfileId");
        return c;
    }

    device_faults faults_from_json(const json::object& o, device_faults f) {
        read_probability(o, "uplinkLoss", f.uplink_loss);
        read_probability(o, "downlinkLoss", f.downlink_loss);
        read_probability(o, "gatewayTxError", f.gateway_tx_error);
        read_milliseconds(o, "replyDelayMs", f.reply_delay);
        if (auto* v = o.if_contains("relayStuck")) {
            if (!v->is_bool()) throw std::invalid_argument("relayStuck must be true or false, got " + json::serialize(*v));
            f.relay_stuck = v->get_bool();
        }
        return f;
    }

    /// ChirpStack's record of a device: stored when created or changed through the REST API,
    /// otherwise derived from the simulated device (saves ~1 KB per device at scale).
    json::object record_of(const simulated_device& d) const {
        if (auto it = device_records.find(d.cfg.dev_eui); it != device_records.end()) return it->second;
        const std::string t = time_z(sim_epoch);
        return json::object{{"devEui", d.cfg.dev_eui}, {"name", d.cfg.name.empty() ? d.cfg.dev_eui : d.cfg.name},
                            {"description", ""}, {"applicationId", d.cfg.application_id},
                            {"deviceProfileId", d.cfg.device_profile_id}, {"skipFcntCheck", false},
                            {"isDisabled", false}, {"variables", json::object{}},
                            {"tags", json::object{{"relaylink_kind", to_string(d.cfg.kind)}}},
                            {"joinEui", "0000000000000000"}, {"createdAt", t}, {"updatedAt", t}};
    }

    // ---- the REST API --------------------------------------------------------------------------
    answer handle(const std::string& method, std::string_view target, const std::string& body, const std::string& auth) {
        const auto qpos = target.find('?');
        const std::string path(target.substr(0, qpos));
        const auto query = parse_query(qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1));
        auto seg = split_path(path);
        if (!seg.empty() && seg[0] == "sim") return handle_sim(method, seg, body);
        if (seg.empty() || seg[0] != "api") return grpc_error(404, 5, "Not Found");
        // Authorization, as ChirpStack checks it.
        if (auth.empty()) return grpc_error(401, 16, "no authorization provided");
        if (auth.rfind("Bearer ", 0) != 0) return grpc_error(401, 16, "authorization metadata must be in format 'Bearer <TOKEN>'");
        if (auth.substr(7) != cfg.api_key) return grpc_error(401, 16, "InvalidToken"); // as observed for a wrong key

        json::value doc;
        if (!body.empty()) {
            error_code ec;
            doc = json::parse(body, ec);
            if (ec) return bad_request("invalid JSON body: " + ec.message());
        }
        if (seg.size() >= 2 && seg[1] == "devices") return handle_devices(method, seg, query, doc);
        if (seg.size() >= 2 && collections.count(seg[1])) return handle_collection(method, seg, query, doc);
        return grpc_error(404, 5, "Not Found");
    }

    answer handle_devices(const std::string& method, const std::vector<std::string>& seg,
                          const std::map<std::string, std::string>& query, const json::value& doc) {
        const sys_time now = now_locked();
        if (seg.size() == 2) {
            if (method == "GET") {
                const std::string app = query.count("applicationId") ? query.at("applicationId") : "";
                const std::size_t limit = query.count("limit") ? std::stoul(query.at("limit")) : 10;
                const std::size_t offset = query.count("offset") ? std::stoul(query.at("offset")) : 0;
                json::array result;
                std::size_t total = 0;
                for (const auto& [eui, dev] : net.devices()) {
                    const json::object rec = record_of(dev);
                    if (!app.empty() && str_of(rec, "applicationId") != app) continue;
                    if (total++ < offset || result.size() >= limit) continue;
                    const auto* d = &dev;
                    json::object item{{"devEui", eui}, {"name", rec.at("name")}, {"description", rec.at("description")},
                                      {"deviceProfileId", rec.at("deviceProfileId")}, {"deviceProfileName", ""},
                                      {"lastSeenAt", d && d->last_seen ? json::value(time_z(*d->last_seen)) : json::value(nullptr)},
                                      {"deviceStatus", status_json(dev)}, {"createdAt", rec.at("createdAt")}, {"updatedAt", rec.at("updatedAt")}};
                    result.push_back(std::move(item));
                }
                return ok(json::object{{"totalCount", total}, {"result", std::move(result)}});
            }
            if (method == "POST") {
                const json::object* dev = object_at(doc, "device");
                if (!dev) return bad_request("device is required");
                std::string eui = str_of(*dev, "devEui");
                if (auto e = check_eui(eui)) return *e;
                if (net.find(eui)) return grpc_error(409, 6, "Object already exists");
                device_config c;
                try {
                    json::object sim_opts;
                    if (auto* tags = dev->if_contains("tags"); tags && tags->is_object())
                        if (auto k = str_of(tags->get_object(), "relaylink_kind"); !k.empty()) sim_opts["kind"] = k;
                    sim_opts["name"] = str_of(*dev, "name");
                    sim_opts["applicationId"] = str_of(*dev, "applicationId");
                    sim_opts["deviceProfileId"] = str_of(*dev, "deviceProfileId");
                    c = config_from_json(sim_opts, eui);
                } catch (const std::invalid_argument& e) {
                    return bad_request(e.what());
                }
                json::object rec = *dev;
                rec["devEui"] = eui;
                const std::string t = time_z(now);
                rec["createdAt"] = t;
                rec["updatedAt"] = t;
                for (const char* k : {"name", "description", "applicationId", "deviceProfileId", "joinEui"})
                    if (!rec.contains(k)) rec[k] = "";
                for (const char* k : {"skipFcntCheck", "isDisabled"})
                    if (!rec.contains(k)) rec[k] = false;
                for (const char* k : {"variables", "tags"})
                    if (!rec.contains(k)) rec[k] = json::object{};
                device_records[eui] = std::move(rec);
                net.add_device(c, now);
                return ok(json::object{});
            }
            return grpc_error(405, 12, "Method Not Allowed");
        }
        std::string eui = seg[2];
        if (auto e = check_eui(eui)) return *e;
        simulated_device* d = net.find(eui);
        if (!d) return unknown_device(method, seg, eui);
        if (seg.size() == 3) {
            if (!device_records.count(eui)) device_records[eui] = record_of(*d);
            auto& rec = device_records[eui];
            if (method == "GET") {
                json::object dev = rec;
                dev.erase("createdAt");
                dev.erase("updatedAt");
                return ok(json::object{{"device", std::move(dev)}, {"createdAt", rec["createdAt"]}, {"updatedAt", rec["updatedAt"]},
                                       {"lastSeenAt", d->last_seen ? json::value(time_z(*d->last_seen)) : json::value(nullptr)},
                                       {"deviceStatus", status_json(*d)}, {"classEnabled", "CLASS_A"}});
            }
            if (method == "PUT") {
                const json::object* dev = object_at(doc, "device");
                if (!dev) return bad_request("device is required");
                for (const auto& kv : *dev)
                    if (kv.key() != "devEui") rec[kv.key()] = kv.value();
                rec["updatedAt"] = time_z(now);
                if (auto n = str_of(*dev, "name"); !n.empty()) d->cfg.name = n;
                return ok(json::object{});
            }
            if (method == "DELETE") {
                net.remove_device(eui);
                device_records.erase(eui);
                device_keys.erase(eui);
                return ok(json::object{});
            }
            return grpc_error(405, 12, "Method Not Allowed");
        }
        const std::string& what = seg[3];
        if (what == "queue") {
            if (method == "GET") {
                json::array result;
                for (const auto& q : d->queue)
                    result.push_back(json::object{{"id", q.id}, {"devEui", eui}, {"confirmed", q.confirmed}, {"fPort", q.f_port},
                                                  {"data", to_base64(q.data)}, {"object", nullptr}, {"isPending", q.is_pending},
                                                  {"fCntDown", q.f_cnt_down}, {"isEncrypted", false},
                                                  {"expiresAt", q.expires_at ? json::value(time_z(*q.expires_at)) : json::value(nullptr)}});
                const auto n = result.size();
                return ok(json::object{{"totalCount", n}, {"result", std::move(result)}});
            }
            if (method == "DELETE") {
                net.flush(*d);
                return ok(json::object{});
            }
            if (method == "POST") {
                // Unknown keys are discarded, as grpc-gateway does: a wrong wrapper gives an empty item.
                const json::object* item = object_at(doc, "queueItem");
                static const json::object empty;
                if (!item) item = &empty;
                std::int64_t fport = 0;
                if (auto* v = item->if_contains("fPort"); v && v->is_number()) fport = v->to_number<std::int64_t>();
                if (fport <= 0 || (fport & 0xFF) == 0) return bad_request("FPort must be between 1 - 255"); // as ChirpStack 4.20 words it
                auto data = from_base64(str_of(*item, "data"));
                if (!data) return bad_request("invalid base64 in queueItem.data");
                std::optional<sys_time> expires;
                if (auto e = str_of(*item, "expiresAt"); !e.empty()) {
                    expires = parse_rfc3339(e);
                    if (!expires) return bad_request("invalid queueItem.expiresAt: " + e);
                }
                bool confirmed = false;
                if (auto* v = item->if_contains("confirmed"); v && v->is_bool()) confirmed = v->get_bool();
                bool flush = false;
                if (auto* v = doc.is_object() ? doc.get_object().if_contains("flushQueue") : nullptr; v && v->is_bool()) flush = v->get_bool();
                // fPort is a u32 in the API, cast to u8 when stored (reference: 257 becomes 1).
                const auto port = static_cast<std::uint8_t>(fport & 0xFF);
                const bytes kept = *data;
                const std::string id = net.enqueue(*d, confirmed, port, std::move(*data), expires, flush);
                if (cfg.keep_history) accepted[d->cfg.dev_eui].push_back({now_locked(), queue_entry{id, confirmed, port, kept, false, 0, expires}, flush});
                return ok(json::object{{"id", id}});
            }
            return grpc_error(405, 12, "Method Not Allowed");
        }
        if (what == "get-next-f-cnt-down" && method == "POST") return ok(json::object{{"fCntDown", net.next_f_cnt_down(*d)}});
        if (what == "keys") {
            if (method == "POST" || method == "PUT") {
                const json::object* k = object_at(doc, "deviceKeys");
                if (!k) return bad_request("deviceKeys is required");
                json::object rec = *k;
                rec["createdAt"] = time_z(now);
                device_keys[eui] = std::move(rec);
                return ok(json::object{});
            }
            auto it = device_keys.find(eui);
            if (it == device_keys.end()) return not_found(eui);
            if (method == "GET") {
                json::object keys = it->second;
                auto created = keys["createdAt"];
                keys.erase("createdAt");
                return ok(json::object{{"deviceKeys", std::move(keys)}, {"createdAt", created}, {"updatedAt", created}});
            }
            if (method == "DELETE") {
                device_keys.erase(it);
                return ok(json::object{});
            }
        }
        return grpc_error(404, 5, "Not Found");
    }

    /// What ChirpStack 4.20 was seen to answer for a DevEUI it does not know: the queue reads empty and
    /// flushes fine, but an enqueue fails on the database's foreign key (500, not 404); the device is 404.
    static answer unknown_device(const std::string& method, const std::vector<std::string>& seg, const std::string& eui) {
        if (seg.size() == 4 && seg[3] == "queue") {
            if (method == "GET") return ok(json::object{{"totalCount", 0}, {"result", json::array{}}});
            if (method == "DELETE") return ok(json::object{});
            if (method == "POST")
                return grpc_error(500, 13, "insert or update on table \"device_queue_item\" violates foreign key constraint "
                                           "\"device_queue_item_dev_eui_fkey\"");
        }
        return not_found(eui);
    }

    answer handle_collection(const std::string& method, const std::vector<std::string>& seg,
                             const std::map<std::string, std::string>& query, const json::value& doc) {
        collection& c = collections.at(seg[1]);
        const std::string t = time_z(now_locked());
        if (seg.size() == 2) {
            if (method == "GET") {
                const std::size_t limit = query.count("limit") ? std::stoul(query.at("limit")) : 10;
                const std::size_t offset = query.count("offset") ? std::stoul(query.at("offset")) : 0;
                const std::string tenant = query.count("tenantId") ? query.at("tenantId") : "";
                json::array result;
                std::size_t total = 0;
                for (const auto& [id, rec] : c.records) {
                    if (!tenant.empty() && rec.contains("tenantId") && str_of(rec, "tenantId") != tenant) continue;
                    if (total++ < offset || result.size() >= limit) continue;
                    result.push_back(rec);
                }
                return ok(json::object{{"totalCount", total}, {"result", std::move(result)}});
            }
            if (method == "POST") {
                const json::object* rec = object_at(doc, c.wrapper);
                if (!rec) return bad_request(c.wrapper + " is required");
                json::object r = *rec;
                std::string id = c.id_key == "id" ? [&] {
                    std::uniform_int_distribution<std::uint64_t> d;
                    char buf[37];
                    std::snprintf(buf, sizeof buf, "%08llx-0000-4000-8000-%012llx", static_cast<unsigned long long>(d(rng) & 0xFFFFFFFF),
                                  static_cast<unsigned long long>(d(rng) & 0xFFFFFFFFFFFFULL));
                    return std::string(buf);
                }()
                                                  : str_of(r, c.id_key);
                if (id.empty()) return bad_request(c.id_key + " is required");
                if (c.records.count(id)) return grpc_error(409, 6, "Object already exists");
                r[c.id_key] = id;
                r["createdAt"] = t;
                r["updatedAt"] = t;
                c.records[id] = std::move(r);
                return c.id_key == "id" ? ok(json::object{{"id", id}}) : ok(json::object{});
            }
            return grpc_error(405, 12, "Method Not Allowed");
        }
        const std::string& id = seg[2];
        auto it = c.records.find(id);
        if (it == c.records.end()) return not_found(id);
        if (method == "GET") {
            json::object rec = it->second;
            auto created = rec["createdAt"], updated = rec["updatedAt"];
            rec.erase("createdAt");
            rec.erase("updatedAt");
            return ok(json::object{{c.wrapper, std::move(rec)}, {"createdAt", created}, {"updatedAt", updated}});
        }
        if (method == "PUT") {
            const json::object* rec = object_at(doc, c.wrapper);
            if (!rec) return bad_request(c.wrapper + " is required");
            for (const auto& kv : *rec)
                if (kv.key() != c.id_key) it->second[kv.key()] = kv.value();
            it->second["updatedAt"] = t;
            return ok(json::object{});
        }
        if (method == "DELETE") {
            c.records.erase(it);
            return ok(json::object{});
        }
        return grpc_error(405, 12, "Method Not Allowed");
    }

    // ---- the control API -----------------------------------------------------------------------
    answer handle_sim(const std::string& method, const std::vector<std::string>& seg, const std::string& body) {
        json::value doc = json::object{};
        if (!body.empty()) {
            error_code ec;
            doc = json::parse(body, ec);
            if (ec || !doc.is_object()) return bad_request("body must be a JSON object");
        }
        const json::object& o = doc.get_object();
        const sys_time now = now_locked();
        try {
            if (seg.size() == 2 && seg[1] == "reset" && method == "POST") {
                reset_locked();
                return ok(json::object{});
            }
            if (seg.size() == 2 && seg[1] == "time") {
                if (method == "GET")
                    return ok(json::object{{"now", time_z(now)}, {"speed", cfg.speed}, {"manual", cfg.manual_time}});
            }
            if (seg.size() == 2 && seg[1] == "advance" && method == "POST") {
                if (!cfg.manual_time) return bad_request("time advances by itself unless the simulator runs with manual time");
                auto* s = o.if_contains("seconds");
                if (!s || !s->is_number() || s->to_number<double>() < 0) return bad_request("seconds must be a number >= 0");
                advance_locked(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s->to_number<double>())));
                return ok(json::object{{"now", time_z(manual_now)}});
            }
            if (seg.size() == 2 && seg[1] == "faults" && (method == "PUT" || method == "POST")) {
                http_faults f = hfaults;
                read_probability(o, "error5xxRate", f.error_5xx_rate);
                read_probability(o, "error500Rate", f.error_500_rate);
                read_probability(o, "rateLimitRate", f.rate_limit_rate);
                read_probability(o, "refuseRate", f.refuse_rate);
                read_probability(o, "dropRate", f.drop_rate);
                read_probability(o, "lostResponseRate", f.lost_response_rate);
                read_probability(o, "garbledRate", f.garbled_rate);
                read_probability(o, "slowRate", f.slow_rate);
                read_milliseconds(o, "slowLatencyMs", f.slow_latency);
                read_milliseconds(o, "latencyMs", f.latency);
                if (auto* v = o.if_contains("onlyMethod")) {
                    if (!v->is_string() || (!v->get_string().empty() && v->get_string() != "POST" && v->get_string() != "GET" &&
                                            v->get_string() != "DELETE"))
                        throw std::invalid_argument("onlyMethod must be \"POST\", \"GET\", \"DELETE\" or \"\" (every request), got " +
                                                    json::serialize(*v));
                    f.only_method = std::string(v->get_string());
                }
                check_faults(f);
                // Device faults given here apply to every device ("for all").
                std::vector<std::pair<simulated_device*, device_faults>> device_updates;
                for (auto& [eui, dev] : net.devices())
                    device_updates.emplace_back(net.find(eui), faults_from_json(o, dev.cfg.faults));
                hfaults = f;
                for (auto& [dev, df] : device_updates) dev->cfg.faults = df;
                return ok(json::object{});
            }
            if (seg.size() >= 2 && seg[1] == "devices") {
                if (seg.size() == 2) {
                    if (method == "GET") {
                        json::array a;
                        for (const auto& [eui, d] : net.devices()) a.push_back(view_json(d));
                        return ok(a);
                    }
                    if (method == "POST") {
                        std::string eui = str_of(o, "devEui");
                        if (auto e = check_eui(eui)) return bad_request("devEui must be 16 hex digits, got '" + str_of(o, "devEui") + "'");
                        auto c = config_from_json(o, eui);
                        device_records.erase(eui);
                        net.add_device(c, now);
                        return {201, json::serialize(view_json(*net.find(eui)))};
                    }
                }
                std::string eui = seg[2];
                if (check_eui(eui)) return bad_request("devEui must be 16 hex digits, got '" + seg[2] + "'");
                simulated_device* d = net.find(eui);
                if (!d) return not_found(eui);
                if (seg.size() == 3) {
                    if (method == "GET") {
                        auto v = view_json(*d);
                        v["downlinks"] = downlinks_json(*d);
                        return ok(v);
                    }
                    if (method == "DELETE") {
                        net.remove_device(eui);
                        device_records.erase(eui);
                        return ok(json::object{});
                    }
                }
                if (seg.size() == 4) {
                    const std::string& a = seg[3];
                    if (a == "uplink" && method == "POST") return ok(json::object{{"sent", net.uplink(*d, now)}});
                    if (a == "restore-power" && method == "POST") {
                        net.restore_power(*d, now);
                        return ok(view_json(*d));
                    }
                    if (a == "join" && method == "POST") {
                        auto* f = o.if_contains("flushQueue"); // default: ChirpStack's UI default, "flush queue on activate"
                        if (f && !f->is_bool()) return bad_request("flushQueue must be true or false");
                        net.join(*d, now, !f || f->get_bool());
                        return ok(json::object{});
                    }
                    if (a == "faults" && (method == "PUT" || method == "POST")) {
                        d->cfg.faults = faults_from_json(o, d->cfg.faults);
                        return ok(view_json(*d));
                    }
                    if (a == "downlinks" && method == "GET") return ok(downlinks_json(*d));
                }
            }
        } catch (const std::invalid_argument& e) {
            return bad_request(e.what());
        }
        return grpc_error(404, 5, "Not Found");
    }

    void count_enqueue(std::string_view method, std::string_view target, const std::string& body) {
        if (method != "POST" || !target.starts_with("/api/devices/") || !target.ends_with("/queue")) return;
        if (body.find("\"flushQueue\":true") != std::string::npos) return; // a flush (a cancel's placeholder), not an enqueue
        std::string eui(target.substr(13, target.size() - 13 - 6));
        for (char& c : eui) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        ++enqueue_requests[eui];
    }

    void reset_locked() {
        for (const auto& eui : [&] {
                 std::vector<std::string> v;
                 for (const auto& [k, d] : net.devices()) v.push_back(k);
                 return v;
             }())
            net.remove_device(eui);
        device_records.clear();
        device_keys.clear();
        init_collections();
        hfaults = {};
        pending.clear();
        accepted.clear();
        recent_ups.clear();
    }

    void advance_locked(std::chrono::nanoseconds d) {
        const sys_time target = manual_now + d;
        // Run, in order, everything that falls due before the target.
        for (;;) {
            auto next = net.next_due();
            if (!next || *next > target) break;
            manual_now = std::max(manual_now, *next);
            net.run_due(manual_now);
        }
        manual_now = target;
    }

    // ---- I/O -------------------------------------------------------------------------------------
    asio::awaitable<void> session(tcp::socket socket) {
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buffer;
        try {
            for (;;) {
                http::request_parser<http::string_body> parser;
                parser.body_limit(1024 * 1024);
                co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
                auto req = parser.release();
                const bool is_api = req.target().starts_with("/api/");
                http_faults f;
                double roll;
                {
                    std::lock_guard lock(m);
                    f = hfaults;
                    roll = std::uniform_real_distribution<double>(0, 1)(rng);
                    count_enqueue(req.method_string(), req.target(), req.body());
                }
                if (is_api && f.latency.count() > 0) {
                    asio::steady_timer t(stream.get_executor(), f.latency);
                    co_await t.async_wait(asio::use_awaitable);
                }
                answer a;
                const bool faulty = is_api && (f.only_method.empty() || f.only_method == req.method_string());
                const fault drawn = faulty ? draw(f, roll) : fault::none;
                if (drawn == fault::drop) {
                    stream.socket().close();
                    co_return;
                } else if (drawn == fault::unavailable) {
                    a = grpc_error(503, 14, "simulated outage");
                } else if (drawn == fault::internal) {
                    a = grpc_error(500, 13, "simulated internal error");
                } else if (drawn == fault::rate_limited) {
                    a = grpc_error(429, 8, "simulated rate limit");
                } else if (drawn == fault::refused) {
                    a = grpc_error(400, 3, "simulated refusal");
                } else {
                    std::string auth;
                    if (auto it = req.find("Grpc-Metadata-Authorization"); it != req.end())
                        auth = std::string(it->value());
                    else if (auto it2 = req.find(http::field::authorization); it2 != req.end())
                        auth = std::string(it2->value());
                    {
                        std::lock_guard lock(m);
                        try {
                            a = handle(std::string(req.method_string()), req.target(), req.body(), auth);
                        } catch (const std::exception& e) {
                            a = grpc_error(500, 13, e.what());
                        }
                    }
                    flush_events();
                    if (drawn == fault::lost_response) { // applied; the answer never arrives
                        stream.socket().close();
                        co_return;
                    }
                    if (drawn == fault::garbled) a = {200, "<html><body>502 Bad Gateway</body></html>"};
                    if (drawn == fault::slow) {
                        asio::steady_timer t(stream.get_executor(), f.slow_latency);
                        co_await t.async_wait(asio::use_awaitable);
                    }
                }
                http::response<http::string_body> res{static_cast<http::status>(a.status), req.version()};
                res.set(http::field::content_type, "application/json");
                res.set(http::field::server, "relaylink-sim");
                res.body() = std::move(a.body);
                res.keep_alive(req.keep_alive());
                res.prepare_payload();
                co_await http::async_write(stream, res, asio::use_awaitable);
                if (!res.keep_alive()) break;
            }
        } catch (const std::exception&) {
            // peer gone or malformed request: drop the connection
        }
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

    asio::awaitable<void> accept_loop() {
        auto self = shared_from_this();
        while (running) {
            error_code ec;
            tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                if (!running || ec == asio::error::operation_aborted) co_return;
                continue;
            }
            asio::co_spawn(ex, session(std::move(s)), asio::detached);
        }
    }

    asio::awaitable<void> clock_loop() {
        auto self = shared_from_this();
        while (running) {
            ticker.expires_after(cfg.tick);
            error_code ec;
            co_await ticker.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            if (!running) co_return;
            if (cfg.manual_time) continue;
            {
                std::lock_guard lock(m);
                net.run_due(now_locked());
            }
            flush_events();
        }
    }
};

simulator::simulator(boost::asio::any_io_executor ex, simulator_config cfg)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(cfg))) {}

simulator::~simulator() { stop(); }

void simulator::start() {
    if (impl_->running.exchange(true)) return;
    tcp::endpoint ep(asio::ip::make_address(impl_->cfg.address), impl_->cfg.port);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    asio::co_spawn(impl_->ex, impl_->accept_loop(), asio::detached);
    asio::co_spawn(impl_->ex, impl_->clock_loop(), asio::detached);
}

void simulator::stop() {
    if (!impl_->running.exchange(false)) return;
    asio::post(impl_->ex, [i = impl_] {
        error_code ignored;
        i->acceptor.close(ignored);
        i->ticker.cancel();
    });
}

unsigned short simulator::port() const { return impl_->acceptor.local_endpoint().port(); }
std::string simulator::url() const { return "http://" + impl_->cfg.address + ":" + std::to_string(port()); }
const simulator_config& simulator::settings() const noexcept { return impl_->cfg; }

void simulator::on_event(std::function<void(const event_out&)> f) {
    std::lock_guard lock(impl_->m);
    impl_->subscribers.push_back(std::move(f));
}

void simulator::add_device(device_config d) {
    {
        std::lock_guard lock(impl_->m);
        impl_->device_records.erase(d.dev_eui);
        impl_->net.add_device(d, impl_->now_locked());
    }
}

bool simulator::remove_device(const std::string& dev_eui) {
    std::lock_guard lock(impl_->m);
    impl_->device_records.erase(dev_eui);
    return impl_->net.remove_device(dev_eui);
}

std::optional<device_view> simulator::device(const std::string& dev_eui) const {
    std::lock_guard lock(impl_->m);
    auto* d = impl_->net.find(dev_eui);
    if (!d) return std::nullopt;
    return device_view{d->cfg, d->relay_closed, d->bridge_powered, d->f_cnt_up, d->f_cnt_down, d->queue.size(),
                       d->last_seen, d->status, d->downlinks, d->uplinks_sent, d->uplinks_lost};
}

std::vector<std::string> simulator::device_euis() const {
    std::lock_guard lock(impl_->m);
    std::vector<std::string> v;
    for (const auto& [k, d] : impl_->net.devices()) v.push_back(k);
    return v;
}

bool simulator::trigger_uplink(const std::string& dev_eui) {
    bool sent = false;
    {
        std::lock_guard lock(impl_->m);
        if (auto* d = impl_->net.find(dev_eui)) sent = impl_->net.uplink(*d, impl_->now_locked());
    }
    impl_->flush_events();
    return sent;
}

bool simulator::restore_power(const std::string& dev_eui) {
    bool found = false;
    {
        std::lock_guard lock(impl_->m);
        if (auto* d = impl_->net.find(dev_eui)) {
            impl_->net.restore_power(*d, impl_->now_locked());
            found = true;
        }
    }
    impl_->flush_events();
    return found;
}

bool simulator::join(const std::string& dev_eui, bool flush_queue) {
    bool found = false;
    {
        std::lock_guard lock(impl_->m);
        if (auto* d = impl_->net.find(dev_eui)) {
            impl_->net.join(*d, impl_->now_locked(), flush_queue);
            found = true;
        }
    }
    impl_->flush_events();
    return found;
}

bool simulator::set_faults(const std::string& dev_eui, device_faults f) {
    std::lock_guard lock(impl_->m);
    auto* d = impl_->net.find(dev_eui);
    if (!d) return false;
    d->cfg.faults = f;
    return true;
}

void simulator::set_http_faults(http_faults f) {
    check_faults(f);
    std::lock_guard lock(impl_->m);
    impl_->hfaults = f;
}

void simulator::reset() {
    std::lock_guard lock(impl_->m);
    impl_->reset_locked();
}

sys_time simulator::now() const {
    std::lock_guard lock(impl_->m);
    return impl_->now_locked();
}

void simulator::advance(std::chrono::nanoseconds d) {
    {
        std::lock_guard lock(impl_->m);
        if (!impl_->cfg.manual_time) throw std::logic_error("advance() needs manual_time");
        impl_->advance_locked(d);
    }
    impl_->flush_events();
}

std::uint64_t simulator::events_published_mqtt() const { return impl_->mqtt ? impl_->mqtt->published() : 0; }
std::uint64_t simulator::events_dropped_mqtt() const { return impl_->mqtt ? impl_->mqtt->dropped() : 0; }

std::uint64_t simulator::enqueue_requests(const std::string& dev_eui) const {
    std::lock_guard lock(impl_->m);
    auto it = impl_->enqueue_requests.find(dev_eui);
    return it == impl_->enqueue_requests.end() ? 0 : it->second;
}

std::vector<accepted_item> simulator::accepted(const std::string& dev_eui) const {
    std::lock_guard lock(impl_->m);
    auto it = impl_->accepted.find(dev_eui);
    return it == impl_->accepted.end() ? std::vector<accepted_item>{} : it->second;
}

bool simulator::replay_uplink(const std::string& dev_eui, std::size_t back) {
    {
        std::lock_guard lock(impl_->m);
        auto it = impl_->recent_ups.find(dev_eui);
        if (it == impl_->recent_ups.end() || back >= it->second.size()) return false;
        impl_->pending.push_back(it->second[it->second.size() - 1 - back]);
    }
    impl_->flush_events();
    return true;
}

std::uint64_t simulator::events_emitted() const {
    std::lock_guard lock(impl_->m);
    return impl_->net.events_emitted();
}

} // namespace relaylink::sim
