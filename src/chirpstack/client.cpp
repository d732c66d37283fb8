// chirpstack::client: validation, JSON bodies and typed results over the connection pool.
#include <relaylink/chirpstack/client.hpp>
#include <relaylink/chirpstack/validate.hpp>
#include <relaylink/redact.hpp>

#include "http_pool.hpp"
#include "request_head.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <stdexcept>

namespace relaylink::chirpstack {

namespace json = boost::json;
using detail::http_request;
using detail::http_response;

client::client(asio::any_io_executor ex, config cfg) : ex_(std::move(ex)), cfg_(std::move(cfg)) {
    detail::base_url url;
    std::string why;
    // Each refusal a config_error naming the setting (std::invalid_argument to callers that want no more).
    if (!detail::parse_base_url(cfg_.url, url, why)) throw config_error("url", why);
    if (cfg_.request_timeout.count() <= 0) throw config_error("request_timeout", "ChirpStack client timeouts must be positive (request_timeout)");
    if (cfg_.connect_timeout.count() <= 0) throw config_error("connect_timeout", "ChirpStack client timeouts must be positive (connect_timeout)");
    if (cfg_.max_response_size == 0) throw config_error("max_response_size", "ChirpStack client max_response_size must be positive");
    if (auto bad = detail::check_fields(cfg_)) throw config_error(*bad);
    pool_ = detail::http_pool::create(ex_, cfg_, std::move(url));
}

client::~client() {
    if (pool_) pool_->close_idle();
}

client_stats client::stats() const { return pool_->stats(); }
void client::close_idle() { pool_->close_idle(); }

namespace {

/// Complete `h` with an error without calling it from inside the initiating function.
template <class... Values, class Handler>
void fail(const asio::any_io_executor& ex, Handler h, error_code ec, std::string why, diagnostics* d) {
    if (d) d->message = std::move(why);
    auto hex = asio::get_associated_executor(h, ex);
    // Posted to the client's executor, then dispatched to the handler's own.
    asio::post(ex, asio::bind_executor(hex, [h = std::move(h), ec]() mutable { std::move(h)(ec, Values{}...); }));
}

/// A wrapper that makes a continuation run on `h`'s executor and be cancelled through `h`'s slot.
/// Taken before `h` is moved into the continuation.
template <class Handler>
auto associations_of(const asio::any_io_executor& ex, const Handler& h) {
    return [hex = asio::get_associated_executor(h, ex), slot = asio::get_associated_cancellation_slot(h)](auto f) {
        return asio::bind_cancellation_slot(slot, asio::bind_executor(hex, std::move(f)));
    };
}

std::string excerpt(std::string_view body) {
    std::string s(body.substr(0, 200));
    for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '.';
    return body.size() > 200 ? s + "..." : s;
}

/// Fill diagnostics from an error response: the grpc-gateway body {"code","message","details"}.
/// What a continuation needs to explain a failure: where it went, and the secret to keep out.
struct call_context {
    std::string url;
    std::string secret;
};

void explain(diagnostics* d, const error_code& ec, const http_response& resp, const call_context& ctx) {
    if (!d) return;
    const std::string& secret = ctx.secret;
    if (resp.status == 0) {
        // No response: a transport error.
        if (d->message.empty()) {
            d->message = "ChirpStack at " + ctx.url + ": " + ec.message();
            if (d->attempts > 1) d->message += " (tried " + std::to_string(d->attempts) + " times)";
        }
        return;
    }
    d->http_status = resp.status;
    error_code jec;
    json::value body = json::parse(resp.body, jec);
    if (!jec && body.is_object()) {
        const auto& o = body.get_object();
        if (auto* c = o.if_contains("code"); c && c->is_int64()) d->grpc_code = static_cast<int>(c->get_int64());
        const json::value* m = o.if_contains("message");
        if (!m || !m->is_string() || m->get_string().empty()) m = o.if_contains("error");
        if (m && m->is_string() && !m->get_string().empty()) {
            d->message = scrub(std::string(m->get_string()), secret);
            d->server_message = true;
        }
    }
    if (d->message.empty()) {
        if (!jec && resp.status == 401)
            d->message = "ChirpStack refused the API key (401) without a message: the key lacks rights here, "
                         "or the object does not exist in the key's tenant";
        else if (!jec)
            d->message = ec.message() + " (HTTP " + std::to_string(resp.status) + ", no message in the body)";
        else
            d->message = ec.message() + " (HTTP " + std::to_string(resp.status) + ", body is not JSON: '" +
                         scrub(excerpt(resp.body), secret) + "')";
    }
}

struct malformed : std::runtime_error {
    using std::runtime_error::runtime_error;
};

const json::value& field(const json::object& o, std::string_view key, const std::string& where) {
    auto* v = o.if_contains(key);
    if (!v) throw malformed("field '" + where + std::string(key) + "' is missing");
    return *v;
}
const json::object& object_of(const json::value& v, const std::string& what) {
    if (!v.is_object()) throw malformed("'" + what + "' is not an object");
    return v.get_object();
}
std::string str(const json::object& o, std::string_view key, const std::string& where, bool optional = false) {
    auto* v = o.if_contains(key);
    if (!v || v->is_null()) {
        if (optional) return {};
        throw malformed("field '" + where + std::string(key) + "' is missing");
    }
    if (!v->is_string()) throw malformed("field '" + where + std::string(key) + "' is not a string");
    return std::string(v->get_string());
}
bool boolean(const json::object& o, std::string_view key, const std::string& where) {
    auto* v = o.if_contains(key);
    if (!v || v->is_null()) return false; // grpc-gateway may omit false
    if (!v->is_bool()) throw malformed("field '" + where + std::string(key) + "' is not true/false");
    return v->get_bool();
}
/// An unsigned number; grpc-gateway writes 64-bit integers as strings, so both are accepted.
std::uint64_t number(const json::object& o, std::string_view key, const std::string& where, std::uint64_t max) {
    auto* v = o.if_contains(key);
    if (!v || v->is_null()) return 0;
    std::uint64_t n = 0;
    bool ok = false;
    if (v->is_int64()) {
        ok = v->get_int64() >= 0;
        n = static_cast<std::uint64_t>(v->get_int64());
    } else if (v->is_uint64()) {
        ok = true;
        n = v->get_uint64();
    } else if (v->is_string()) {
        auto s = v->get_string();
        ok = !s.empty() && s.size() < 20;
        for (char c : s) ok = ok && c >= '0' && c <= '9', n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (!ok || n > max) throw malformed("field '" + where + std::string(key) + "' is not a number 0-" + std::to_string(max));
    return n;
}
std::optional<sys_time> timestamp(const json::object& o, std::string_view key, const std::string& where) {
    auto s = str(o, key, where, true);
    if (s.empty()) return std::nullopt;
    auto t = parse_rfc3339(s);
    if (!t) throw malformed("field '" + where + std::string(key) + "' is not an RFC 3339 time: '" + s + "'");
    return t;
}
std::map<std::string, std::string> string_map(const json::object& o, std::string_view key, const std::string& where) {
    std::map<std::string, std::string> out;
    auto* v = o.if_contains(key);
    if (!v || v->is_null()) return out;
    for (const auto& kv : object_of(*v, where + std::string(key))) {
        if (!kv.value().is_string()) throw malformed("field '" + where + std::string(key) + "." + std::string(kv.key()) + "' is not a string");
        out.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
    }
    return out;
}

queue_item to_queue_item(const json::value& v, const std::string& where) {
    const auto& o = object_of(v, where);
    const std::string w = where + ".";
    queue_item q;
    q.id = str(o, "id", w);
    q.dev_eui = str(o, "devEui", w, true);
    q.confirmed = boolean(o, "confirmed", w);
    q.f_port = static_cast<std::uint32_t>(number(o, "fPort", w, 255));
    auto data = from_base64(str(o, "data", w, true));
    if (!data) throw malformed("field '" + w + "data' is not base64");
    q.data = std::move(*data);
    q.is_pending = boolean(o, "isPending", w);
    q.f_cnt_down = static_cast<std::uint32_t>(number(o, "fCntDown", w, 0xFFFFFFFFULL));
    q.is_encrypted = boolean(o, "isEncrypted", w);
    q.expires_at = timestamp(o, "expiresAt", w);
    return q;
}

device to_device(const json::value& v) {
    const auto& top = object_of(v, "response");
    const auto& o = object_of(field(top, "device", ""), "device");
    device d;
    d.dev_eui = str(o, "devEui", "device.");
    d.name = str(o, "name", "device.", true);
    d.description = str(o, "description", "device.", true);
    d.application_id = str(o, "applicationId", "device.", true);
    d.device_profile_id = str(o, "deviceProfileId", "device.", true);
    d.skip_fcnt_check = boolean(o, "skipFcntCheck", "device.");
    d.is_disabled = boolean(o, "isDisabled", "device.");
    d.join_eui = str(o, "joinEui", "device.", true);
    d.tags = string_map(o, "tags", "device.");
    d.variables = string_map(o, "variables", "device.");
    d.created_at = timestamp(top, "createdAt", "");
    d.updated_at = timestamp(top, "updatedAt", "");
    d.last_seen_at = timestamp(top, "lastSeenAt", "");
    if (auto* s = top.if_contains("deviceStatus"); s && !s->is_null()) {
        const auto& so = object_of(*s, "deviceStatus");
        device_status st;
        if (auto* m = so.if_contains("margin"); m && m->is_number()) st.margin = m->to_number<int>();
        st.external_power_source = boolean(so, "externalPowerSource", "deviceStatus.");
        if (auto* b = so.if_contains("batteryLevel"); b && b->is_number()) st.battery_level = b->to_number<double>();
        d.status = st;
    }
    d.class_enabled = str(top, "classEnabled", "", true);
    if (d.class_enabled.empty()) d.class_enabled = "CLASS_A";
    return d;
}

/// Parse a 2xx body as JSON, then convert; conversion failures become malformed_response.
template <class T, class Convert>
std::pair<error_code, T> convert(const http_response& resp, diagnostics* d, const call_context& ctx, const char* what, Convert f) {
    error_code jec;
    json::value v = json::parse(resp.body, jec);
    if (jec) {
        if (d) d->message = std::string("ChirpStack's ") + what + " response is not JSON: '" + scrub(excerpt(resp.body), ctx.secret) + "'";
        return {make_error_code(errc::malformed_response), T{}};
    }
    try {
        return {error_code{}, f(v)};
    } catch (const malformed& m) {
        if (d) d->message = scrub(std::string("ChirpStack's ") + what + " response: " + m.what(), ctx.secret);
        return {make_error_code(errc::malformed_response), T{}};
    } catch (const std::exception& e) {
        if (d) d->message = std::string("ChirpStack's ") + what + " response: " + e.what();
        return {make_error_code(errc::malformed_response), T{}};
    }
}

std::string queue_path(const std::string& eui) { return "/api/devices/" + eui + "/queue"; }

} // namespace

void client::do_enqueue(std::string eui, enqueue_request r, diagnostics* d,
                        asio::any_completion_handler<void(error_code, std::string)> h) {
    if (d) d->clear();
    std::string why;
    auto norm = normalize_dev_eui(eui, &why);
    if (!norm) return fail<std::string>(ex_, std::move(h), norm.error(), why, d);
    if (auto ec = check_fport(r.f_port, &why)) return fail<std::string>(ex_, std::move(h), ec, why, d);
    if (auto ec = check_payload(r.data.size(), &why)) return fail<std::string>(ex_, std::move(h), ec, why, d);
    if (r.expires_at && *r.expires_at <= (cfg_.clock ? cfg_.clock() : std::chrono::system_clock::now()))
        return fail<std::string>(ex_, std::move(h), make_error_code(errc::expires_in_past),
                                 "expiresAt " + format_rfc3339(*r.expires_at) + " is not in the future", d);
    // Written out rather than built as a JSON tree (the same text, one allocation): base64 and an RFC 3339 time
    // hold no character JSON would escape.
    std::string body;
    body.reserve(96 + r.data.size() * 4 / 3);
    body.append(R"({"queueItem":{"confirmed":)").append(r.confirmed ? "true" : "false");
    body.append(R"(,"fPort":)").append(std::to_string(r.f_port));
    body.append(R"(,"data":")").append(to_base64(r.data)).append("\"");
    if (r.expires_at) body.append(R"(,"expiresAt":")").append(format_rfc3339(*r.expires_at)).append("\"");
    body.append(R"(},"flushQueue":)").append(r.flush_queue ? "true" : "false").append("}");
    post_enqueue(*norm, std::move(body), d, std::move(h));
}

void client::do_flush_unsent(std::string eui, std::uint8_t f_port, diagnostics* d,
                             asio::any_completion_handler<void(error_code, std::string)> h) {
    if (d) d->clear();
    std::string why;
    auto norm = normalize_dev_eui(eui, &why);
    if (!norm) return fail<std::string>(ex_, std::move(h), norm.error(), why, d);
    if (auto ec = check_fport(f_port, &why)) return fail<std::string>(ex_, std::move(h), ec, why, d);
    // Not checked as an enqueue is: the placeholder is empty and expired on purpose.
    json::object item{{"confirmed", false}, {"fPort", f_port}, {"data", ""}, {"expiresAt", "2000-01-01T00:00:00Z"}};
    post_enqueue(*norm, json::serialize(json::object{{"queueItem", std::move(item)}, {"flushQueue", true}}), d, std::move(h));
}

namespace {
/// ChirpStack 4.20 answers an enqueue for a DevEUI it does not know with 500 (code 13) and the database's
/// foreign-key message, not 404 (observed; reference/chirpstack-v4.md).
bool names_unknown_device(const http_response& resp) {
    return resp.status == 500 && resp.body.find("device_queue_item_dev_eui_fkey") != std::string::npos;
}
} // namespace

void client::post_enqueue(const std::string& eui, std::string body, diagnostics* d,
                          asio::any_completion_handler<void(error_code, std::string)> h) {
    auto cont = associations_of(ex_, h)([h = std::move(h), d, eui, key = call_context{cfg_.url, cfg_.api_key}](error_code ec, http_response resp) mutable {
        if (ec) {
            explain(d, ec, resp, key);
            if (names_unknown_device(resp)) { // a refusal, not an unknown outcome: nothing was inserted
                ec = make_error_code(errc::not_found);
                if (d)
                    d->message = "device " + eui + " is not in ChirpStack (it refused the queue item: " + d->message +
                                 "): add the device in ChirpStack, or correct the DevEUI";
            }
            return std::move(h)(ec, std::string{});
        }
        auto [cec, id] = convert<std::string>(resp, d, key, "enqueue", [](const json::value& v) {
            auto s = str(object_of(v, "response"), "id", "");
            if (s.empty()) throw malformed("field 'id' is empty");
            return s;
        });
        std::move(h)(cec, std::move(id));
    });
    pool_->async_exchange(http_request{method::post, queue_path(eui), std::move(body)}, d, std::move(cont));
}

void client::do_get_queue(std::string eui, diagnostics* d,
                          asio::any_completion_handler<void(error_code, std::vector<queue_item>)> h) {
    if (d) d->clear();
    std::string why;
    auto norm = normalize_dev_eui(eui, &why);
    if (!norm) return fail<std::vector<queue_item>>(ex_, std::move(h), norm.error(), why, d);
    auto cont = associations_of(ex_, h)([h = std::move(h), d, key = call_context{cfg_.url, cfg_.api_key}](error_code ec, http_response resp) mutable {
        if (ec) {
            explain(d, ec, resp, key);
            return std::move(h)(ec, std::vector<queue_item>{});
        }
        auto [cec, items] = convert<std::vector<queue_item>>(resp, d, key, "device queue", [](const json::value& v) {
            const auto& o = object_of(v, "response");
            std::vector<queue_item> out;
            auto* r = o.if_contains("result");
            if (!r || r->is_null()) return out;
            if (!r->is_array()) throw malformed("field 'result' is not an array");
            std::size_t i = 0;
            for (const auto& item : r->get_array()) out.push_back(to_queue_item(item, "result[" + std::to_string(i++) + "]"));
            return out;
        });
        std::move(h)(cec, std::move(items));
    });
    pool_->async_exchange(http_request{method::get, queue_path(*norm), {}}, d, std::move(cont));
}

void client::do_flush_queue(std::string eui, diagnostics* d, asio::any_completion_handler<void(error_code)> h) {
    if (d) d->clear();
    std::string why;
    auto norm = normalize_dev_eui(eui, &why);
    if (!norm) return fail<>(ex_, std::move(h), norm.error(), why, d);
    auto cont = associations_of(ex_, h)([h = std::move(h), d, key = call_context{cfg_.url, cfg_.api_key}](error_code ec, http_response resp) mutable {
        if (ec) explain(d, ec, resp, key);
        std::move(h)(ec);
    });
    pool_->async_exchange(http_request{method::del, queue_path(*norm), {}}, d, std::move(cont));
}

void client::do_get_device(std::string eui, diagnostics* d, asio::any_completion_handler<void(error_code, device)> h) {
    if (d) d->clear();
    std::string why;
    auto norm = normalize_dev_eui(eui, &why);
    if (!norm) return fail<device>(ex_, std::move(h), norm.error(), why, d);
    auto cont = associations_of(ex_, h)([h = std::move(h), d, key = call_context{cfg_.url, cfg_.api_key}](error_code ec, http_response resp) mutable {
        if (ec) {
            explain(d, ec, resp, key);
            return std::move(h)(ec, device{});
        }
        auto [cec, dev] = convert<device>(resp, d, key, "device", to_device);
        std::move(h)(cec, std::move(dev));
    });
    pool_->async_exchange(http_request{method::get, "/api/devices/" + *norm, {}}, d, std::move(cont));
}

void client::do_next_f_cnt_down(std::string eui, diagnostics* d,
                                asio::any_completion_handler<void(error_code, std::uint32_t)> h) {
    if (d) d->clear();
    std::string why;
    auto norm = normalize_dev_eui(eui, &why);
    if (!norm) return fail<std::uint32_t>(ex_, std::move(h), norm.error(), why, d);
    auto cont = associations_of(ex_, h)([h = std::move(h), d, key = call_context{cfg_.url, cfg_.api_key}](error_code ec, http_response resp) mutable {
        if (ec) {
            explain(d, ec, resp, key);
            return std::move(h)(ec, 0u);
        }
        auto [cec, n] = convert<std::uint32_t>(resp, d, key, "get-next-f-cnt-down", [](const json::value& v) {
            return static_cast<std::uint32_t>(number(object_of(v, "response"), "fCntDown", "", 0xFFFFFFFFULL));
        });
        std::move(h)(cec, n);
    });
    // ChirpStack's REST proxy maps this RPC to POST; it changes nothing, so it is safe to retry,
    // but the pool only retries by method: this one is tried once.
    pool_->async_exchange(http_request{method::post, "/api/devices/" + *norm + "/get-next-f-cnt-down", "{}"}, d,
                          std::move(cont));
}

void client::do_request(method m, std::string target, std::optional<json::value> body, diagnostics* d,
                        asio::any_completion_handler<void(error_code, json::value)> h) {
    if (d) d->clear();
    if (target.empty() || target[0] != '/' || detail::has_space_or_control(target))
        return fail<json::value>(ex_, std::move(h), make_error_code(errc::invalid_argument),
                                 "request target must be a path starting with '/' without spaces or control characters, got '" +
                                     scrub(target, cfg_.api_key) + "'", d);
    auto cont = associations_of(ex_, h)([h = std::move(h), d, key = call_context{cfg_.url, cfg_.api_key}](error_code ec, http_response resp) mutable {
        if (ec) {
            explain(d, ec, resp, key);
            return std::move(h)(ec, json::value{});
        }
        if (resp.body.empty()) return std::move(h)(ec, json::value(json::object{}));
        auto [cec, v] = convert<json::value>(resp, d, key, "API", [](const json::value& x) { return x; });
        std::move(h)(cec, std::move(v));
    });
    pool_->async_exchange(http_request{m, std::move(target), body ? json::serialize(*body) : std::string{}}, d,
                          std::move(cont));
}

} // namespace relaylink::chirpstack
