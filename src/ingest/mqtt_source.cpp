// The MQTT event source over Eclipse Paho MQTT C++ (async_client). Paho delivers messages on its own
// thread; a supervisor thread of ours connects, subscribes and reconnects with backoff (Paho's
// automatic reconnect does not cover a first connection that fails, nor resubscribing).
#include "intake.hpp"

#include <relaylink/ingest/mqtt_source.hpp>

#include <relaylink/backoff.hpp>
#include <relaylink/redact.hpp>

#include <mqtt/async_client.h>

#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <thread>

namespace relaylink::ingest {
namespace {

bool starts_with(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }

bool is_tls(const std::string& url) { return starts_with(url, "ssl://") || starts_with(url, "mqtts://") || starts_with(url, "wss://"); }

/// Unique per process (two processes under one id kick each other off the broker in turn): host, pid
/// and a random part (a pid is reused; a container's hostname repeats across hosts).
std::string default_client_id() {
    char host[256] = {};
    std::string h = ::gethostname(host, sizeof host - 1) == 0 && host[0] ? host : "host";
    char tail[16];
    std::snprintf(tail, sizeof tail, "%04x", static_cast<unsigned>(std::random_device{}() & 0xFFFF));
    return "relaylink-" + h + "-" + std::to_string(::getpid()) + "-" + tail;
}

void check(const mqtt_config& c) {
    auto bad = [](const std::string& field, const std::string& why) { throw std::invalid_argument("MQTT " + field + ": " + why); };
    if (!(starts_with(c.url, "tcp://") || starts_with(c.url, "mqtt://") || starts_with(c.url, "ssl://") ||
          starts_with(c.url, "mqtts://") || starts_with(c.url, "ws://") || starts_with(c.url, "wss://")))
        bad("url", "'" + redact_url(c.url) + "' must start with tcp://, mqtt://, ssl://, mqtts://, ws:// or wss://");
    if (c.url.find("://") + 3 >= c.url.size()) bad("url", "'" + redact_url(c.url) + "' names no host");
    if (c.qos < 0 || c.qos > 2) bad("qos", std::to_string(c.qos) + " is not 0, 1 or 2");
    if (c.client_id.size() > 65535) bad("client_id", "longer than 65535 bytes");
    if (c.topic.empty()) bad("topic", "empty");
    if (c.topic.find('\0') != std::string::npos) bad("topic", "contains a NUL byte");
    for (std::size_t i = 0; i < c.topic.size(); ++i) {
        const char ch = c.topic[i];
        if (ch == '#' && i + 1 != c.topic.size()) bad("topic", "'" + c.topic + "': '#' must be the last character");
        if ((ch == '#' || ch == '+') && ((i > 0 && c.topic[i - 1] != '/') || (i + 1 < c.topic.size() && c.topic[i + 1] != '/')))
            bad("topic", "'" + c.topic + "': a wildcard must fill a whole level");
    }
    if (starts_with(c.topic, "$share/")) bad("topic", "'" + c.topic + "': give the group in shared_group, not in the topic");
    for (char ch : c.shared_group)
        if (ch == '/' || ch == '+' || ch == '#') bad("shared_group", "'" + c.shared_group + "' must not contain '/', '+' or '#'");
    if (!c.password.empty() && c.username.empty()) bad("password", "given without a username");
    if (!c.key_file.empty() && c.cert_file.empty()) bad("key_file", "given without cert_file");
    if ((!c.ca_file.empty() || !c.cert_file.empty()) && !is_tls(c.url))
        bad("url", "'" + redact_url(c.url) + "' is not TLS (ssl://, mqtts://, wss://) but certificates were given");
    for (const auto* f : {&c.ca_file, &c.cert_file, &c.key_file})
        if (!f->empty() && ::access(f->c_str(), R_OK) != 0) bad("certificate", "cannot read '" + *f + "'");
    if (c.keep_alive.count() < 0 || c.keep_alive > std::chrono::seconds(65535)) bad("keep_alive", "must be 0–65535 s");
    if (c.connect_timeout.count() <= 0) bad("connect_timeout", "must be positive");
    if (c.min_retry.count() <= 0 || c.max_retry < c.min_retry) bad("min_retry/max_retry", "need 0 < min_retry <= max_retry");
    if (c.max_payload == 0) bad("max_payload", "must be positive");
}

} // namespace

struct mqtt_source::impl {
    mqtt_config cfg;
    event_sink sink;
    std::string filter;
    mqtt::async_client client;
    mqtt::connect_options opts;
    detail::counters count;
    chirpstack::event_parser parser; // Paho's delivery thread only

    mutable std::mutex mu;
    mutable std::condition_variable cv;
    bool running = false, stopping = false;
    bool up = false; ///< connected and subscribed
    std::string error;
    std::thread supervisor;

    impl(mqtt_config c, event_sink s)
        : cfg(std::move(c)), sink(std::move(s)),
          filter(cfg.shared_group.empty() ? cfg.topic : "$share/" + cfg.shared_group + "/" + cfg.topic),
          client(cfg.url, cfg.client_id, nullptr) {
        auto b = mqtt::connect_options_builder()
                     .mqtt_version(MQTTVERSION_3_1_1)
                     .clean_session(cfg.clean_session)
                     .keep_alive_interval(cfg.keep_alive)
                     .connect_timeout(cfg.connect_timeout)
                     .automatic_reconnect(false);
        if (!cfg.username.empty()) b.user_name(cfg.username);
        if (!cfg.password.empty()) b.password(cfg.password);
        if (is_tls(cfg.url)) {
            auto ssl = mqtt::ssl_options_builder().enable_server_cert_auth(cfg.verify).verify(cfg.verify);
            if (!cfg.ca_file.empty()) ssl.trust_store(cfg.ca_file);
            if (!cfg.cert_file.empty()) ssl.key_store(cfg.cert_file);
            if (!cfg.key_file.empty()) ssl.private_key(cfg.key_file);
            // No ssl error_handler: Paho C++ 1.2 hands it a pointer to a copy of the options that
            // is gone by the time the handshake fails (AddressSanitizer: stack-use-after-scope).
            b.ssl(ssl.finalize());
        }
        opts = b.finalize();
        client.set_message_callback([this](mqtt::const_message_ptr m) { on_message(*m); });
        client.set_connection_lost_handler([this](const std::string& cause) {
            ++count.connections_lost;
            {
                std::lock_guard lock(mu);
                up = false;
                error = "connection to " + redact_url(cfg.url) + " lost" + (cause.empty() ? "" : ": " + cause);
            }
            detail::log(cfg.log, log_level::warning, "MQTT: connection to " + redact_url(cfg.url) + " lost; reconnecting");
            cv.notify_all();
        });
    }

    std::atomic<int> delivering{0}; ///< callbacks running now (stop() waits for them)

    void on_message(const mqtt::message& m) {
        struct busy {
            std::atomic<int>& n;
            explicit busy(std::atomic<int>& c) : n(c) { ++n; }
            ~busy() { --n; }
        } guard(delivering);
        ++count.received;
        const std::string& t = m.get_topic();
        auto topic = chirpstack::parse_topic(t);
        if (!topic) {
            ++count.foreign;
            detail::log(cfg.log, log_level::debug, "MQTT: ignored a message on '" + t + "' (not a ChirpStack event topic)");
            return;
        }
        const auto& payload = m.get_payload_ref();
        if (payload.size() > cfg.max_payload) {
            ++count.malformed;
            detail::log(cfg.log, log_level::warning,
                        "MQTT: " + t + ": a payload of " + std::to_string(payload.size()) + " bytes, over max_payload " +
                            std::to_string(cfg.max_payload) + ": skipped");
            return;
        }
        auto r = detail::intake(parser, topic->event_type, std::string_view(payload.data(), payload.size()), topic->dev_eui, sink, count);
        if (r.what != detail::outcome::delivered)
            detail::log(cfg.log, r.what == detail::outcome::sink_error ? log_level::error : log_level::warning, "MQTT: " + t + ": " + r.why);
    }

    // One connection attempt, then the subscription. Returns true when both succeeded.
    bool connect_once() {
        try {
            auto tok = client.connect(opts);
            if (!tok->wait_for(cfg.connect_timeout + std::chrono::seconds(2))) throw std::runtime_error("no answer within the connect timeout");
            const bool session = tok->get_connect_response().is_session_present();
            auto sub = client.subscribe(filter, cfg.qos);
            if (!sub->wait_for(cfg.connect_timeout)) throw std::runtime_error("no answer to SUBSCRIBE");
            const auto codes = sub->get_subscribe_response().get_reason_codes();
            if (!codes.empty() && codes[0] >= 0x80)
                throw std::runtime_error("the broker refused the subscription to '" + filter + "' (check its ACL for this user)");
            ++count.connects;
            {
                std::lock_guard lock(mu);
                up = true;
                error.clear();
            }
            cv.notify_all();
            detail::log(cfg.log, log_level::info,
                        "MQTT: connected to " + redact_url(cfg.url) + " as '" + cfg.client_id + "', subscribed to '" + filter + "' (QoS " +
                            std::to_string(cfg.qos) + (session ? ", session resumed)" : ", new session)"));
            return true;
        } catch (const std::exception& e) {
            std::string why = e.what();
            if (auto* me = dynamic_cast<const mqtt::exception*>(&e)) why = describe(*me);
            if (is_tls(cfg.url) && why.find("TLS") != std::string::npos)
                why += cfg.verify ? " (is the broker's certificate signed by " + (cfg.ca_file.empty() ? std::string("a CA the system trusts") : "'" + cfg.ca_file + "'") +
                                        ", and made out to the host in the URL?)"
                                  : " (is the broker speaking TLS on that port?)";
            {
                std::lock_guard lock(mu);
                error = "cannot connect to " + redact_url(cfg.url) + ": " + why;
            }
            ++count.connect_failures; // after the error is readable: a reader of the count finds its reason
            try {
                if (client.is_connected()) client.disconnect()->wait_for(std::chrono::seconds(2));
            } catch (const mqtt::exception&) {
            }
            return false;
        }
    }

    static std::string describe(const mqtt::exception& e) {
        switch (e.get_reason_code()) {
        case 4: return "bad user name or password (the broker refused them)";
        case 5: return "not authorised: a wrong user name or password, or a client the broker does not allow";
        case 2: return "the broker refused the client id";
        default: break;
        }
        std::string m = e.get_message();
        if (m.empty()) m = e.what();
        return m;
    }

    void run() {
        relaylink::backoff delays({cfg.min_retry, cfg.max_retry, 2.0, 0.25}); // relaylink/backoff.hpp
        std::unique_lock lock(mu);
        while (!stopping) {
            if (!up) {
                lock.unlock();
                const bool ok = connect_once();
                lock.lock();
                if (ok) {
                    delays.reset();
                    continue;
                }
                const auto jittered = std::chrono::duration_cast<std::chrono::milliseconds>(delays.next());
                const std::string msg = error + "; retrying in " + std::to_string(jittered.count()) + " ms";
                lock.unlock();
                detail::log(cfg.log, log_level::warning, "MQTT: " + msg);
                lock.lock();
                cv.wait_for(lock, jittered, [&] { return stopping; });
            } else {
                cv.wait(lock, [&] { return stopping || !up; });
            }
        }
    }
};

mqtt_source::mqtt_source(mqtt_config cfg, event_sink sink) {
    if (cfg.client_id.empty()) {
        // No session to resume under a name nobody will use again: a persistent one would only pile up on the broker.
        cfg.client_id = default_client_id();
        cfg.clean_session = true;
    }
    check(cfg);
    if (!sink) throw std::invalid_argument("MQTT source: no event sink");
    try {
        impl_ = std::make_unique<impl>(std::move(cfg), std::move(sink));
    } catch (const mqtt::exception& e) {
        throw std::invalid_argument(std::string("MQTT url: ") + e.what());
    }
}

mqtt_source::~mqtt_source() { stop(); }

void mqtt_source::start() {
    std::lock_guard lock(impl_->mu);
    if (impl_->running) return;
    impl_->running = true;
    impl_->stopping = false;
    impl_->supervisor = std::thread([this] { impl_->run(); });
}

void mqtt_source::stop() {
    if (!impl_) return;
    {
        std::lock_guard lock(impl_->mu);
        if (!impl_->running) return;
        impl_->stopping = true;
    }
    impl_->cv.notify_all();
    impl_->supervisor.join();
    try {
        if (impl_->client.is_connected()) impl_->client.disconnect()->wait_for(std::chrono::seconds(5));
    } catch (const mqtt::exception&) {
    }
    // Paho has acknowledged what it received: let those messages reach the sink before returning.
    while (impl_->delivering.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard lock(impl_->mu);
    impl_->running = false;
    impl_->up = false;
}

bool mqtt_source::connected() const {
    std::lock_guard lock(impl_->mu);
    return impl_->up;
}

bool mqtt_source::wait_connected(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(impl_->mu);
    return impl_->cv.wait_for(lock, timeout, [&] { return impl_->up; });
}

source_stats mqtt_source::stats() const { return impl_->count.snapshot(); }

std::string mqtt_source::last_error() const {
    std::lock_guard lock(impl_->mu);
    return impl_->error;
}

const mqtt_config& mqtt_source::settings() const noexcept { return impl_->cfg; }
std::string mqtt_source::subscription() const { return impl_->filter; }

} // namespace relaylink::ingest
