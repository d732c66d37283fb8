// relayctl enqueue | queue | flush | device: ChirpStack's device queue and devices, from the shell.
#include "cli.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <relaylink/chirpstack/sync_client.hpp>
#include <relaylink/chirpstack/validate.hpp>
#include <relaylink/encoding.hpp>

#include <boost/json.hpp>

#include <cstdlib>
#include <iostream>

namespace relayctl {
namespace {

namespace cs = relaylink::chirpstack;
namespace json = boost::json;


std::unique_ptr<cs::sync_client> make_client(const args& a) {
    try {
        return std::make_unique<cs::sync_client>(client_config(a));
    } catch (const std::invalid_argument& e) {
        throw usage_error(e.what());
    }
}

std::string time_or(const std::optional<relaylink::sys_time>& t, const char* none) {
    return t ? relaylink::format_rfc3339(*t) : none;
}

} // namespace

std::string one_eui(const args& a, const char* cmd) {
    if (a.positional().size() != 1) throw usage_error(std::string(cmd) + " needs one <devEui>, e.g. 'relayctl " + cmd + " 0102030405060708'");
    return a.positional()[0];
}

std::string checked_eui(const args& a, const char* cmd) {
    std::string why;
    auto e = cs::normalize_dev_eui(one_eui(a, cmd), &why);
    if (!e) throw usage_error(why); // a mistake in the call: exit 2, before anything is sent
    return *e;
}

/// Client settings from --url / --api-key / --timeout, else the environment, else the defaults.
relaylink::chirpstack::config client_config(const args& a) {
    auto env = cs::config::from_env(false); // the key may come from --api-key-file
    if (!env) throw usage_error(env.error().message);
    relaylink::chirpstack::config c = *env;
    if (auto u = a.value("url")) c.url = *u;
    if (auto k = a.value("api-key")) c.api_key = *k;
    if (auto f = a.value("api-key-file")) {
        if (a.value("api-key")) throw usage_error("give --api-key or --api-key-file, not both");
        std::ifstream in(*f, std::ios::binary);
        if (!in) throw usage_error("--api-key-file " + *f + ": cannot be read (" + std::strerror(errno) + ")");
        std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ' || key.back() == '\t')) key.pop_back();
        if (key.empty() || key.size() > 4096 || key.find_first_of("\r\n") != std::string::npos)
            throw usage_error("--api-key-file " + *f + ": must hold the API key alone, on one line");
        c.api_key = std::move(key);
    }
    c.request_timeout = std::chrono::milliseconds(a.integer("timeout", 10, 1, 3600) * 1000);
    if (c.api_key.empty())
        throw usage_error("no API key: set CHIRPSTACK_API_KEY or pass --api-key-file FILE (or --api-key KEY, which other users "
                          "can read in `ps`); create one in ChirpStack's web UI under API keys");
    return c;
}

/// "10m" → 600 s; s, m, h, d units.
std::chrono::seconds parse_duration(const std::string& s, const std::string& option) {
    if (s.size() < 2) throw usage_error("--" + option + " takes a number and a unit (s, m, h, d), e.g. 10m; got '" + s + "'");
    long long n = 0;
    for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9' || n > 10'000'000)
            throw usage_error("--" + option + " takes a number and a unit (s, m, h, d), e.g. 10m; got '" + s + "'");
        n = n * 10 + (s[i] - '0');
    }
    switch (s.back()) {
    case 's': return std::chrono::seconds(n);
    case 'm': return std::chrono::minutes(n);
    case 'h': return std::chrono::hours(n);
    case 'd': return std::chrono::hours(24 * n);
    default: throw usage_error("--" + option + " takes a number and a unit (s, m, h, d), e.g. 10m; got '" + s + "'");
    }
}

int cmd_enqueue(const std::vector<std::string>& argv) {
    std::set<std::string> valued = net_valued;
    valued.insert({"fport", "data-hex", "expires-in"});
    args a(argv, {"json", "confirmed", "flush"}, valued);
    const std::string eui = checked_eui(a, "enqueue");
    if (!a.value("fport")) throw usage_error("enqueue needs --fport N (1-223)");
    if (!a.value("data-hex")) throw usage_error("enqueue needs --data-hex HEX, e.g. --data-hex 010500000000CDCA");
    cs::enqueue_request r;
    r.f_port = static_cast<std::uint8_t>(a.integer("fport", 0, 1, 223));
    auto data = relaylink::from_hex(*a.value("data-hex"));
    if (!data) throw usage_error("--data-hex '" + *a.value("data-hex") + "' is not hex: " + data.error().message());
    r.data = std::move(*data);
    r.confirmed = a.flag("confirmed");
    r.flush_queue = a.flag("flush");
    if (auto e = a.value("expires-in"))
        r.expires_at = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now() + parse_duration(*e));
    auto c = make_client(a);
    const std::string id = c->enqueue(eui, r);
    if (a.flag("json"))
        std::cout << json::serialize(json::object{{"id", id}}) << "\n";
    else
        std::cout << id << "\n";
    return 0;
}

int cmd_queue(const std::vector<std::string>& argv) {
    args a(argv, {"json"}, net_valued);
    const std::string eui = checked_eui(a, "queue");
    auto c = make_client(a);
    auto items = c->get_queue(eui);
    if (a.flag("json")) {
        json::array arr;
        for (const auto& q : items)
            arr.push_back(json::object{{"id", q.id}, {"fPort", q.f_port}, {"confirmed", q.confirmed}, {"isPending", q.is_pending},
                                       {"fCntDown", q.f_cnt_down}, {"hex", relaylink::to_hex(q.data)},
                                       {"base64", relaylink::to_base64(q.data)},
                                       {"expiresAt", q.expires_at ? json::value(relaylink::format_rfc3339(*q.expires_at)) : json::value(nullptr)}});
        std::cout << json::serialize(arr) << "\n";
        return 0;
    }
    if (items.empty()) std::cout << "queue of " << eui << " is empty\n";
    for (const auto& q : items)
        std::cout << q.id << "  fPort " << q.f_port << (q.confirmed ? "  confirmed" : "  unconfirmed")
                  << (q.is_pending ? "  pending-ack" : "") << "  fCntDown " << q.f_cnt_down << "  expires "
                  << time_or(q.expires_at, "never") << "\n    hex " << relaylink::to_hex(q.data, " ") << "   base64 "
                  << relaylink::to_base64(q.data) << "\n";
    return 0;
}

int cmd_flush(const std::vector<std::string>& argv) {
    std::set<std::string> valued = net_valued;
    valued.insert("fport");
    args a(argv, {"json", "keep-pending"}, valued);
    const std::string eui = checked_eui(a, "flush");
    if (a.value("fport") && !a.flag("keep-pending")) throw usage_error("--fport goes with --keep-pending (the placeholder's port)");
    if (a.flag("keep-pending")) {
        // ChirpStack 4.18+: an enqueue with flushQueue deletes only the items not sent yet.
        const auto placeholder = make_client(a)->flush_unsent(eui, static_cast<std::uint8_t>(a.integer("fport", 1, 1, 223)));
        if (a.flag("json"))
            std::cout << json::serialize(json::object{{"flushed", true}, {"keptPending", true}, {"placeholderId", placeholder}}) << "\n";
        else
            std::cout << "queue of " << eui << " flushed of its unsent items; an item awaiting its ACK stays (placeholder " << placeholder
                      << ", expired: ChirpStack drops it unsent)\n";
        return 0;
    }
    make_client(a)->flush_queue(eui);
    if (a.flag("json"))
        std::cout << json::serialize(json::object{{"flushed", true}, {"keptPending", false}}) << "\n";
    else
        std::cout << "queue of " << eui << " flushed (an item that was sent and awaited its ACK too: its ack event will not come)\n";
    return 0;
}

int cmd_device(const std::vector<std::string>& argv) {
    args a(argv, {"json"}, net_valued);
    const std::string eui = checked_eui(a, "device");
    auto d = make_client(a)->get_device(eui);
    if (a.flag("json")) {
        json::value status = nullptr; // as ChirpStack's: null until the device reported its status
        if (d.status)
            status = json::object{{"margin", d.status->margin}, {"externalPowerSource", d.status->external_power_source},
                                  {"batteryLevel", d.status->battery_level ? json::value(*d.status->battery_level) : json::value(nullptr)}};
        json::object o{{"devEui", d.dev_eui}, {"name", d.name}, {"description", d.description},
                       {"applicationId", d.application_id}, {"deviceProfileId", d.device_profile_id},
                       {"isDisabled", d.is_disabled}, {"classEnabled", d.class_enabled},
                       {"lastSeenAt", d.last_seen_at ? json::value(relaylink::format_rfc3339(*d.last_seen_at)) : json::value(nullptr)},
                       {"deviceStatus", std::move(status)}};
        std::cout << json::serialize(o) << "\n";
        return 0;
    }
    std::cout << "devEui       " << d.dev_eui << "\nname         " << d.name << "\ndescription  " << d.description
              << "\napplication  " << d.application_id << "\nprofile      " << d.device_profile_id << "\nclass        "
              << d.class_enabled << (d.is_disabled ? "  (disabled)" : "") << "\nlast seen    "
              << time_or(d.last_seen_at, "never") << "\n";
    if (d.status) {
        std::cout << "status       margin " << d.status->margin << " dB, ";
        if (d.status->external_power_source)
            std::cout << "external power";
        else if (d.status->battery_level)
            std::cout << "battery " << *d.status->battery_level << " %";
        else
            std::cout << "battery (level unavailable)";
        std::cout << "\n";
    } else {
        std::cout << "status       not reported yet (ChirpStack asks when the device profile sets a status request frequency)\n";
    }
    return 0;
}

} // namespace relayctl
