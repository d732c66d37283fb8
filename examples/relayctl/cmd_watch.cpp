// relayctl watch: the monitor. Takes ChirpStack's events from its MQTT integration (--mqtt) or its
// HTTP integration (--http), applies them to the commands in --db, prints each event and each
// state change that follows, and keeps dispatching (retries, deferred commands) while it runs.
// Also the event sources of `relayctl off|on --wait`.
#include "runtime.hpp"

#include <relaylink/encoding.hpp>
#include <relaylink/ingest/http_integration.hpp>
#include <relaylink/ingest/mqtt_source.hpp>
#include <relaylink/service/report.hpp>
#include <relaylink/time.hpp>
#include <relaylink/redact.hpp>

#include <boost/json.hpp>

#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>

namespace relayctl {

namespace ing = relaylink::ingest;
namespace cs = relaylink::chirpstack;
namespace json = boost::json;

namespace {

std::mutex out_mu; // event lines come from the source's thread, state changes from the service's

std::string env_value(const args& a, const std::string& option, const char* fallback_env) {
    std::string name = fallback_env;
    if (auto v = a.value(option)) {
        if (v->empty()) throw usage_error("--" + option + " must name an environment variable");
        name = *v;
        const char* e = std::getenv(name.c_str());
        if (!e) throw usage_error("--" + option + " " + name + ": that environment variable is not set");
        return e;
    }
    const char* e = std::getenv(name.c_str());
    return e ? e : "";
}

void log_to_stderr(ing::log_level l, std::string_view m) {
    if (l == ing::log_level::debug) return;
    std::lock_guard lock(out_mu);
    std::cerr << "relayctl: " << relaylink::to_string(l) << ": " << m << "\n";
}

class mqtt_event_source final : public event_source {
public:
    mqtt_event_source(ing::mqtt_config c, ing::event_sink sink) : src_(std::move(c), std::move(sink)) { src_.start(); }
    std::string describe() const override {
        return "MQTT " + relaylink::redact_url(src_.settings().url) + " (" + src_.subscription() + ", client id " + src_.settings().client_id + ")";
    }
    ing::source_stats stats() const override { return src_.stats(); }
    bool wait_ready(std::chrono::milliseconds t) const override { return src_.wait_connected(t); }

private:
    ing::mqtt_source src_;
};

class http_event_source final : public event_source {
public:
    http_event_source(boost::asio::any_io_executor ex, ing::http_integration_config c, ing::event_sink sink)
        : srv_(std::move(ex), std::move(c), std::move(sink)) {
        srv_.start();
    }
    std::string describe() const override { return "HTTP integration at " + srv_.url() + "?event=…"; }
    ing::source_stats stats() const override { return srv_.stats(); }
    bool wait_ready(std::chrono::milliseconds) const override { return true; } // listening since start

private:
    ing::http_integration srv_;
};

/// "8080", ":8080" or "0.0.0.0:8080".
std::pair<std::string, unsigned short> listen_address(const std::string& s) {
    const auto colon = s.rfind(':');
    std::string host = colon == std::string::npos ? "127.0.0.1" : s.substr(0, colon);
    if (host.empty()) host = "127.0.0.1";
    const std::string port = colon == std::string::npos ? s : s.substr(colon + 1);
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc{} || end != port.data() + port.size() || p > 65535)
        throw usage_error("--http takes [ADDRESS:]PORT, e.g. --http 8091 or --http 0.0.0.0:8091; got '" + s + "'");
    return {host, static_cast<unsigned short>(p)};
}

std::string describe(const cs::event& e) {
    std::string out = std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, cs::unknown_event>) {
                return "";
            } else {
                std::string s = relaylink::format_rfc3339(x.time);
                if constexpr (std::is_same_v<T, cs::up_event>)
                    s += "  fCnt " + std::to_string(x.f_cnt) + "  fPort " + std::to_string(x.f_port) + "  data " +
                         (x.data.empty() ? "-" : relaylink::to_hex(x.data)) + (x.rssi ? "  rssi " + std::to_string(*x.rssi) : "");
                if constexpr (std::is_same_v<T, cs::ack_event>)
                    s += "  queue item " + x.queue_item_id + (x.acknowledged ? "  acknowledged" : "  NOT acknowledged") +
                         "  fCntDown " + std::to_string(x.f_cnt_down);
                if constexpr (std::is_same_v<T, cs::txack_event>)
                    s += "  queue item " + x.queue_item_id + "  fCntDown " + std::to_string(x.f_cnt_down) + "  gateway " + x.gateway_id;
                if constexpr (std::is_same_v<T, cs::log_event>)
                    s += "  " + x.code + ": " + x.description + (x.queue_item_id() ? "  queue item " + *x.queue_item_id() : "");
                if constexpr (std::is_same_v<T, cs::status_event>) s += "  margin " + std::to_string(x.margin);
                if constexpr (std::is_same_v<T, cs::join_event>) s += "  devAddr " + x.dev_addr;
                return s;
            }
        },
        e);
    std::string type(cs::type_of(e));
    type.resize(std::max<std::size_t>(type.size(), 6), ' ');
    return "event  " + type + " " + cs::dev_eui_of(e) + "  " + out;
}

json::object event_json(const cs::event& e) {
    json::object o{{"type", std::string(cs::type_of(e))}, {"devEui", cs::dev_eui_of(e)}};
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (!std::is_same_v<T, cs::unknown_event>) o["time"] = relaylink::format_rfc3339(x.time);
            if constexpr (std::is_same_v<T, cs::up_event>) {
                o["fCnt"] = x.f_cnt;
                o["fPort"] = x.f_port;
                o["dataHex"] = relaylink::to_hex(x.data);
            }
            if constexpr (std::is_same_v<T, cs::ack_event>) {
                o["queueItemId"] = x.queue_item_id;
                o["acknowledged"] = x.acknowledged;
            }
            if constexpr (std::is_same_v<T, cs::txack_event>) o["queueItemId"] = x.queue_item_id;
            if constexpr (std::is_same_v<T, cs::log_event>) {
                o["code"] = x.code;
                o["description"] = x.description;
            }
        },
        e);
    return o;
}

std::atomic<bool> interrupted{false};
extern "C" void on_signal(int) { interrupted = true; }

} // namespace

bool has_source(const args& a) { return a.value("mqtt").has_value() || a.value("http").has_value(); }

ing::event_sink feed_for(const args& a, svc::service& service) {
    return ing::to_service(service, 10000, a.value("http") ? ing::when_full::refuse : ing::when_full::wait);
}

std::unique_ptr<event_source> start_source(const args& a, boost::asio::any_io_executor ex, ing::event_sink sink) {
    const bool mqtt = a.value("mqtt").has_value(), http = a.value("http").has_value();
    if (mqtt && http) throw usage_error("choose one event source: --mqtt or --http");
    for (const char* o : {"topic", "client-id", "share", "username", "password-env", "ca", "cert", "tls-key"})
        if (!mqtt && a.value(o)) throw usage_error(std::string("--") + o + " is an MQTT option: use it with --mqtt");
    if (!mqtt && a.flag("insecure")) throw usage_error("--insecure is an MQTT option: use it with --mqtt");
    for (const char* o : {"http-path", "secret-env"})
        if (!http && a.value(o)) throw usage_error(std::string("--") + o + " is an HTTP integration option: use it with --http");
    try {
        if (mqtt) {
            ing::mqtt_config c;
            c.url = *a.value("mqtt");
            if (auto v = a.value("topic")) c.topic = *v;
            if (auto v = a.value("client-id")) c.client_id = *v;
            if (auto v = a.value("share")) c.shared_group = *v;
            if (auto v = a.value("username")) c.username = *v;
            c.password = env_value(a, "password-env", "RELAYLINK_MQTT_PASSWORD");
            // $RELAYLINK_MQTT_PASSWORD without --username is not used; --password-env without it is refused
            if (!a.value("password-env") && c.username.empty()) c.password.clear();
            if (auto v = a.value("ca")) c.ca_file = *v;
            if (auto v = a.value("cert")) c.cert_file = *v;
            if (auto v = a.value("tls-key")) c.key_file = *v;
            c.verify = !a.flag("insecure");
            c.log = log_to_stderr;
            return std::make_unique<mqtt_event_source>(std::move(c), std::move(sink));
        }
        ing::http_integration_config c;
        std::tie(c.address, c.port) = listen_address(*a.value("http"));
        if (auto v = a.value("http-path")) c.path = *v;
        c.secret = env_value(a, "secret-env", "RELAYLINK_HTTP_SECRET");
        c.log = log_to_stderr;
        return std::make_unique<http_event_source>(std::move(ex), std::move(c), std::move(sink));
    } catch (const std::invalid_argument& e) {
        throw usage_error(e.what());
    } catch (const std::system_error& e) {
        throw failure(e.what());
    }
}

int cmd_watch(const std::vector<std::string>& argv) {
    std::set<std::string> valued = net_valued;
    valued.insert({"db", "table-prefix", "count", "for"});
    valued.insert(source_valued.begin(), source_valued.end());
    std::set<std::string> flags = {"json", "ignore-windows"};
    flags.insert(source_flags.begin(), source_flags.end());
    args a(argv, flags, valued);
    if (!a.positional().empty()) throw usage_error("watch takes no positional argument, got '" + a.positional()[0] + "'");
    if (!has_source(a))
        throw usage_error("watch needs an event source: --mqtt tcp://BROKER:1883 (ChirpStack's MQTT integration) or "
                          "--http [ADDR:]PORT (point ChirpStack's HTTP integration at it)");
    const long long max_events = a.integer("count", 0, 0, 1LL << 40);
    std::optional<std::chrono::seconds> run_for;
    if (auto v = a.value("for")) run_for = parse_duration(*v, "for");
    const bool as_json = a.flag("json");

    runtime rt(a, false);
    std::atomic<long long> seen{0};
    auto feed = feed_for(a, *rt.service);
    rt.service->on_command([as_json](const svc::command_change& c) {
        if (c.from == c.command.rec.current && c.cause.empty()) return;
        std::lock_guard lock(out_mu);
        if (as_json)
            std::cout << json::serialize(json::object{{"command", svc::to_json(c.command)},
                                                      {"from", std::string(relaylink::command::to_string(c.from))},
                                                      {"cause", c.cause}})
                      << std::endl;
        else
            std::cout << "  -> #" << c.command.id << " " << st::to_string(c.command.kind) << " " << c.command.dev_eui << "  "
                      << relaylink::command::to_string(c.from) << " -> " << relaylink::command::to_string(c.command.rec.current)
                      << (c.cause.empty() ? "" : "  (" + c.cause + ")") << std::endl;
    });
    rt.service->on_meter([as_json](const svc::meter_change& m) {
        std::lock_guard lock(out_mu);
        if (as_json)
            std::cout << json::serialize(json::object{{"meter", svc::to_json(m.meter)}}) << std::endl;
        else
            std::cout << "  -> meter " << m.meter.dev_eui << " relay " << st::to_string(m.from) << " -> "
                      << st::to_string(m.meter.relay) << std::endl;
    });
    auto source = start_source(a, rt.io.get_executor(), [&, feed](cs::event e) {
        {
            std::lock_guard lock(out_mu);
            if (as_json)
                std::cout << json::serialize(json::object{{"event", event_json(e)}}) << std::endl;
            else
                std::cout << describe(e) << std::endl;
        }
        feed(std::move(e));
        ++seen;
    });
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    {
        std::lock_guard lock(out_mu);
        std::cerr << "relayctl: watching " << source->describe() << "; commands in " << db_shown(a) << "; Ctrl-C to stop\n";
    }
    const auto until = run_for ? std::chrono::steady_clock::now() + *run_for : std::chrono::steady_clock::time_point::max();
    while (!interrupted && std::chrono::steady_clock::now() < until && (max_events == 0 || seen < max_events))
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto s = source->stats();
    source.reset(); // no more events; then let the service commit what it holds
    const bool drained = rt.service->wait_pending_below(1, std::chrono::seconds(10));
    std::lock_guard lock(out_mu);
    std::cerr << "relayctl: " << s.delivered << " events applied, " << s.malformed << " malformed, " << s.foreign << " foreign, "
              << s.unsupported << " protobuf, " << s.rejected << " refused" << (s.full ? ", " + std::to_string(s.full) + " answered 503 (full)" : "")
              << "\n";
    if (!drained) { // the store kept refusing them: say so, and fail (the device queue reads recover what they changed)
        std::cerr << "relayctl: " << rt.service->pending_events() << " events were not committed within 10 s and are lost ("
                  << rt.service->stats().last_store_error << "); commands they concerned are reconciled from ChirpStack's "
                  << "device queue when relaylink runs again\n";
        return 1;
    }
    return 0;
}

} // namespace relayctl
