// relayctl frame | profiles | decode: the codec and the meter profiles, offline.
#include "cli.hpp"

#include <relaylink/device.hpp>
#include <relaylink/encoding.hpp>

#include <cstdio>
#include <iostream>

namespace relayctl {
namespace {

namespace dev = relaylink::device;
namespace json = boost::json;

dev::profile_registry load_registry(const args& a) {
    auto reg = dev::profile_registry::with_builtins();
    if (auto file = a.value("profiles")) {
        auto loaded = dev::profiles_from_json(read_file(*file));
        if (!loaded) throw failure(*file + ": " + loaded.error().message);
        for (auto& p : *loaded) {
            const std::string name = p.name;
            if (!reg.add(std::move(p)))
                throw failure(*file + ": profile '" + name + "' uses a name or alias that another profile already has");
        }
    }
    return reg;
}

std::string intents_of(const dev::profile& p) {
    std::string s = "off, on";
    if (p.relay_state) s += ", state";
    for (const auto& m : p.measurements) s += ", " + m.name;
    return s;
}

} // namespace

int cmd_frame(const std::vector<std::string>& argv) {
    args a(argv, {"json"}, {"profiles", "fport", "slave"});
    if (a.positional().size() != 2)
        throw usage_error("frame needs <profile> and <intent>, e.g. 'relayctl frame eastron_sdm320c off'");
    auto reg = load_registry(a);
    const dev::profile* found = reg.find(a.positional()[0]);
    if (!found)
        throw usage_error("unknown profile '" + a.positional()[0] + "' (profiles: " + reg.describe_names() + ")");
    dev::profile p = *found;
    if (a.value("fport")) {
        p.fport = static_cast<std::uint8_t>(a.integer("fport", p.fport, dev::min_fport, dev::max_fport));
        if (p.reply_fport) p.reply_fport = p.fport;
    }
    p.slave = static_cast<std::uint8_t>(a.integer("slave", p.slave, 1, relaylink::modbus::max_slave));

    const std::string& what = a.positional()[1];
    relaylink::result<dev::downlink> d = relaylink::modbus::make_error_code(relaylink::modbus::errc::unsupported_function);
    std::string intent;
    if (what == "off" || what == "relay_off") {
        d = p.relay(false);
        intent = "relay_off";
    } else if (what == "on" || what == "relay_on") {
        d = p.relay(true);
        intent = "relay_on";
    } else if ((what == "state" || what == "read_relay_state") && p.relay_state) {
        d = p.read_relay_state();
        intent = "read_relay_state";
    } else if (const auto* m = p.find_measurement(what)) {
        d = p.read(*m);
        intent = "read " + m->name;
    } else {
        throw usage_error("unknown intent '" + what + "' for " + p.name + " (intents: " + intents_of(p) + ")");
    }
    if (!d) throw failure("cannot encode " + intent + " for " + p.name + ": " + d.error().message());

    const auto bytes = d->payload.bytes();
    if (a.flag("json")) {
        json::object o{{"profile", p.name},
                       {"intent", intent},
                       {"fport", d->fport},
                       {"confirmed", d->confirmed},
                       {"slave", p.slave},
                       {"hex", relaylink::to_hex(bytes)},
                       {"base64", relaylink::to_base64(bytes)}};
        std::cout << json::serialize(o) << "\n";
    } else {
        std::cout << "profile    " << p.name << "\n"
                  << "intent     " << intent << "\n"
                  << "fPort      " << int(d->fport) << "\n"
                  << "confirmed  " << (d->confirmed ? "yes" : "no") << "\n"
                  << "hex        " << relaylink::to_hex(bytes, " ") << "\n"
                  << "base64     " << relaylink::to_base64(bytes) << "\n";
    }
    return 0;
}

int cmd_profiles(const std::vector<std::string>& argv) {
    args a(argv, {"json"}, {"profiles"});
    if (!a.positional().empty()) throw usage_error("profiles takes no positional arguments");
    auto reg = load_registry(a);
    if (a.flag("json")) {
        json::array arr;
        for (const auto& p : reg.all()) arr.push_back(dev::to_json(p));
        std::cout << json::serialize(arr) << "\n";
        return 0;
    }
    for (const auto& p : reg.all()) {
        std::cout << p.name;
        for (const auto& al : p.aliases) std::cout << (&al == &p.aliases.front() ? " (aka " : ", ") << al;
        if (!p.aliases.empty()) std::cout << ")";
        std::cout << "\n  " << p.description << "\n  fPort " << int(p.fport) << ", reply fPort "
                  << (p.reply_fport ? std::to_string(*p.reply_fport) : std::string("none")) << ", slave "
                  << int(p.slave) << ", " << (p.confirmed ? "confirmed" : "unconfirmed") << ", completes on "
                  << relaylink::to_string(p.completion) << "\n  intents: " << intents_of(p) << "\n";
    }
    return 0;
}

int cmd_decode(const std::vector<std::string>& argv) {
    args a(argv, {"json"}, {});
    if (a.positional().size() != 2)
        throw usage_error("decode needs <request-hex> and <reply-hex>, e.g. 'relayctl decode 010100000001FDCA 010101005188'");
    auto req_bytes = relaylink::from_hex(a.positional()[0]);
    if (!req_bytes) throw usage_error("request '" + a.positional()[0] + "' is not hex: " + req_bytes.error().message());
    auto rep_bytes = relaylink::from_hex(a.positional()[1]);
    if (!rep_bytes) throw usage_error("reply '" + a.positional()[1] + "' is not hex: " + rep_bytes.error().message());
    auto req = relaylink::modbus::parse_request(*req_bytes);
    if (!req) throw failure("request is not a valid Modbus RTU request: " + req.error().message());
    auto r = relaylink::modbus::decode_response(*req, *rep_bytes);
    if (!r) throw failure("reply does not answer the request: " + r.error().message());
    json::array values;
    for (auto v : r->values) values.push_back(v);
    if (a.flag("json")) {
        json::object o{{"slave", r->slave}, {"function", relaylink::modbus::to_string(r->function)},
                       {"address", r->address}, {"quantity", r->quantity}, {"values", values}};
        o["exception"] = r->exception ? json::value(relaylink::modbus::to_string(*r->exception)) : json::value(nullptr);
        std::cout << json::serialize(o) << "\n";
    } else if (r->exception) {
        std::cout << "exception  " << r->exception_error().message() << "\n";
    } else {
        std::cout << "reply      " << relaylink::modbus::to_string(r->function) << " from slave " << int(r->slave)
                  << ", address " << r->address << ", quantity " << r->quantity << "\n";
        if (!r->values.empty()) std::cout << "values     " << json::serialize(values) << "\n";
    }
    return r->exception ? 3 : 0;
}

} // namespace relayctl
