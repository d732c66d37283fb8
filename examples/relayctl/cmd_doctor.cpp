// relayctl doctor: is this machine ready to control a meter through a real ChirpStack? Each check says
// what it found and, when it fails, what to change (docs/chirpstack-setup.md).
#include "runtime.hpp"

#include <relaylink/chirpstack/sync_client.hpp>
#include <relaylink/ingest/mqtt_source.hpp>

#include <algorithm>
#include <condition_variable>
#include <iostream>
#include <mutex>

namespace relayctl {
namespace {

namespace cs = relaylink::chirpstack;

struct report {
    int failed = 0;
    int warned = 0;
    void ok(const std::string& what) { std::cout << "ok     " << what << "\n"; }
    void warn(const std::string& what, const std::string& todo) {
        ++warned;
        std::cout << "warn   " << what << "\n       " << todo << "\n";
    }
    void fail(const std::string& what, const std::string& todo) {
        ++failed;
        std::cout << "FAIL   " << what << "\n       " << todo << "\n";
    }
};

/// What to do about a failed REST call, by what ChirpStack (or the network) answered.
std::string advice(const cs::api_error& e, const std::string& url, const std::string& eui) {
    const auto& d = e.details();
    switch (static_cast<cs::errc>(e.code().value())) {
    case cs::errc::unauthenticated:
        if (d.server_message && !d.message.empty()) // as observed: a wrong key gets "InvalidToken"
            return "ChirpStack does not know this API key (" + d.message + "): create one in its web UI "
                   "(API keys) and pass it with CHIRPSTACK_API_KEY or --api-key-file";
        return "the API key has no rights here: a key of another tenant answers so. Use a key of the tenant that holds the "
               "meters' application (ChirpStack's web UI: Tenant > API keys)";
    case cs::errc::not_found:
        return eui.empty() ? "the URL answers, but not as ChirpStack's REST API: give the chirpstack-rest-api proxy's URL "
                             "(port 8090 by default; 8080 is ChirpStack's gRPC API and web UI)"
                           : "ChirpStack has no device " + eui + ": register it (Application > Devices) with this DevEUI, "
                             "or check for a typo";
    case cs::errc::unavailable:
        return "the REST proxy answers but ChirpStack behind it does not (503): start ChirpStack, or check the proxy's "
               "--server address";
    case cs::errc::timeout:
        return "no answer within the timeout from " + url + ": is the host reachable, the port open (firewall)?";
    case cs::errc::tls_error:
        return "TLS failed with " + url + ": check the certificate, or use http:// for a proxy without TLS";
    default:
        break;
    }
    if (d.http_status == 0)
        return "cannot reach " + url + ": is chirpstack-rest-api running and listening there (port 8090 by default)? Set "
               "CHIRPSTACK_API_URL or --url";
    return "ChirpStack refused the call: " + std::string(e.what());
}

} // namespace

int cmd_doctor(const std::vector<std::string>& argv) {
    std::set<std::string> valued = net_valued;
    valued.insert(source_valued.begin(), source_valued.end());
    valued.insert("listen");
    std::set<std::string> flags = source_flags;
    args a(argv, flags, valued);
    if (a.positional().size() > 1) throw usage_error("doctor takes at most one <devEui>, e.g. 'relayctl doctor 0102030405060708'");
    std::string eui;
    if (!a.positional().empty()) eui = checked_eui(a, "doctor");
    if (a.value("http")) throw usage_error("doctor checks the MQTT subscription (--mqtt URL); ChirpStack's HTTP integration posts "
                                           "to you, which 'relayctl watch --http PORT' shows");
    const auto listen = parse_duration(a.value("listen").value_or("2m"), "listen");
    if (a.value("mqtt") && eui.empty()) throw usage_error("--mqtt needs the <devEui> whose events to wait for");

    report r;
    auto cfg = client_config(a); // a missing key is a usage error with what to do
    cfg.retry.max_attempts = 1;  // a doctor reports what it sees, at once
    const std::string url = cfg.url;
    std::unique_ptr<cs::sync_client> c;
    try {
        c = std::make_unique<cs::sync_client>(cfg);
    } catch (const std::invalid_argument& e) {
        throw usage_error(e.what());
    }

    // 1. The REST API and the key: a call every key may make about its own tenant's devices.
    if (!eui.empty()) {
        try {
            const auto d = c->get_device(eui);
            r.ok("REST API at " + url + " answers, and the API key may read device " + eui);
            r.ok("device " + eui + " is registered: '" + d.name + "', application " + d.application_id + ", last seen " +
                 (d.last_seen_at ? relaylink::format_rfc3339(*d.last_seen_at) : std::string("never")));
            if (!d.last_seen_at)
                r.warn("device " + eui + " has never been heard from",
                       "a Class A device fetches its downlinks only after an uplink: check it has joined (its keys, the gateway)");
            if (d.is_disabled) r.fail("device " + eui + " is disabled in ChirpStack", "enable it (Device > Configuration)");
            try {
                const auto q = c->get_queue(eui);
                r.ok("its downlink queue is readable (" + std::to_string(q.size()) + " item" + (q.size() == 1 ? "" : "s") + ")");
            } catch (const cs::api_error& e) {
                r.fail("its downlink queue cannot be read: " + std::string(e.what()), advice(e, url, eui));
            }
        } catch (const cs::api_error& e) {
            const bool not_found = static_cast<cs::errc>(e.code().value()) == cs::errc::not_found;
            if (not_found) r.ok("REST API at " + url + " answers");
            r.fail(not_found ? "device " + eui + " is not in ChirpStack" : "REST API at " + url + ": " + e.what(), advice(e, url, eui));
        }
    } else {
        try {
            c->request(cs::method::get, "/api/devices?limit=1" + (cfg.tenant_id.empty() ? "" : "&tenantId=" + cfg.tenant_id));
            r.ok("REST API at " + url + " answers, and the API key is accepted");
        } catch (const cs::api_error& e) {
            // Listing devices needs an application id: a 400 still proves the API and the key.
            if (static_cast<cs::errc>(e.code().value()) == cs::errc::bad_request) {
                r.ok("REST API at " + url + " answers, and the API key is accepted");
            } else {
                r.fail("REST API at " + url + ": " + e.what(), advice(e, url, ""));
            }
        }
        r.warn("no <devEui> given: the device was not checked", "relayctl doctor <devEui> checks it, and --mqtt URL its events");
    }

    // 2. Events: the MQTT integration delivers this device's events to this machine.
    if (auto mqtt = a.value("mqtt")) {
        relaylink::ingest::mqtt_config m;
        m.url = *mqtt;
        if (auto t = a.value("topic")) m.topic = *t;
        else m.topic = "application/+/device/" + eui + "/event/+";
        if (auto u = a.value("username")) m.username = *u;
        if (const char* pw = std::getenv("RELAYLINK_MQTT_PASSWORD"); pw && !m.username.empty()) m.password = pw;
        if (auto v = a.value("ca")) m.ca_file = *v;
        if (auto v = a.value("cert")) m.cert_file = *v;
        if (auto v = a.value("tls-key")) m.key_file = *v;
        m.verify = !a.flag("insecure");
        m.clean_session = true;
        std::mutex mu;
        std::condition_variable cv;
        std::optional<std::string> seen;
        try {
            relaylink::ingest::mqtt_source src(m, [&](relaylink::chirpstack::event e) {
                static constexpr const char* names[] = {"up", "ack", "txack", "log", "status", "join", "location", "other"};
                std::lock_guard lk(mu);
                if (!seen) seen = names[e.index()];
                cv.notify_all();
            });
            src.start();
            const bool up = src.wait_connected(std::min<std::chrono::milliseconds>(listen, std::chrono::seconds(15)));
            if (!up) {
                r.fail("cannot subscribe at the broker " + *mqtt + ": " + src.last_error(),
                       "check the broker's address and port (ChirpStack's [integration.mqtt] server), and its user, password and TLS");
            } else {
                r.ok("subscribed at " + *mqtt + " to '" + m.topic + "'");
                std::cout << "       waiting up to " << listen.count() << " s for an event of " << eui
                          << " (it uplinks every few minutes: --listen 20m waits a whole interval)\n";
                std::unique_lock lk(mu);
                cv.wait_for(lk, listen, [&] { return seen.has_value(); });
                if (seen)
                    r.ok("received a '" + *seen + "' event of " + eui + ": ChirpStack's MQTT integration reaches this machine");
                else
                    r.fail("no event of " + eui + " within " + std::to_string(listen.count()) + " s",
                           "check chirpstack.toml: [integration] enabled = [\"mqtt\"]; [integration.mqtt] server = this broker, "
                           "json = true, qos = 1; the topic ('" + m.topic + "'); and that the device uplinks (relayctl device " +
                               eui + ": last seen)");
            }
            src.stop();
        } catch (const std::invalid_argument& e) {
            throw usage_error(std::string("--mqtt: ") + e.what());
        }
    } else if (!eui.empty()) {
        r.warn("events not checked", "relayctl doctor " + eui + " --mqtt tcp://BROKER:1883 waits for one of its events");
    }

    std::cout << (r.failed ? "\n" + std::to_string(r.failed) + " check(s) failed" : std::string("\nready"))
              << (r.warned ? ", " + std::to_string(r.warned) + " warning(s)" : std::string()) << "\n";
    return r.failed ? 1 : 0;
}

} // namespace relayctl
