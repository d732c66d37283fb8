// Private: the text of a request to ChirpStack, written by hand into one buffer (the pool sends it with
// one write). Every request carries the same fields but for its length, so they are rendered once, when
// the client is made, and each request costs one string. Pure: tested in tests/unit/test_request_head.cpp.
//
// The fields and their order are what Beast's message had after the same calls (set() replaces a field of
// the same name, case-insensitively, and moves it last): Host, User-Agent, Accept, the configured headers, the
// API key's header, then Content-Type and Content-Length for a body (Content-Length: 0 for a POST or PUT
// without one, as Beast's prepare_payload does).
#pragma once

#include <relaylink/chirpstack/client.hpp> // method, config

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relaylink::chirpstack::detail {

inline bool same_field_name(std::string_view a, std::string_view b) {
    return std::ranges::equal(a, b, [](char x, char y) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        return lower(x) == lower(y);
    });
}

/// RFC 9110's token: the characters a field name may have.
inline bool is_token(std::string_view s) {
    if (s.empty()) return false;
    return std::ranges::all_of(s, [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

/// A field value may not hold CR, LF or NUL (they would end the field, or the head, early: a value from
/// a configuration file could otherwise add fields or a whole request of its own), nor other controls but HTAB.
inline bool is_field_value(std::string_view s) {
    return std::ranges::none_of(s, [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t') || u == 0x7f;
    });
}

/// A space or a control character: what a URL and a request target may not hold (either would end the request
/// line early, or make it something else).
inline bool has_space_or_control(std::string_view s) {
    return std::ranges::any_of(s, [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

/// Why the configuration's fields cannot be sent as they are, naming the setting (nothing when they can).
inline std::optional<field_error> check_fields(const config& cfg) {
    for (const auto& [name, value] : cfg.headers) {
        if (!is_token(name))
            return field_error{"headers", "ChirpStack client header name '" + name +
                                              "' is not a field name (letters, digits and !#$%&'*+-.^_`|~ only, not empty)"};
        for (const char* own : {"Content-Length", "Content-Type", "Transfer-Encoding", "Connection"})
            if (same_field_name(name, own))
                return field_error{"headers", "ChirpStack client header '" + name + "' cannot be configured: the client sets it for each request"};
        if (!is_field_value(value))
            return field_error{"headers", "ChirpStack client header '" + name + "' has a control character (CR, LF, NUL…) in its value"};
    }
    if (!is_field_value(cfg.user_agent)) return field_error{"user_agent", "ChirpStack client user_agent has a control character (CR, LF, NUL…)"};
    // The key is never echoed, not even in part.
    if (!is_field_value(cfg.api_key))
        return field_error{"api_key", "ChirpStack API key has a control character (CR, LF, NUL…): check how it was read"};
    return std::nullopt;
}

/// The fields every request carries, rendered ("Name: value\r\n" each). `host` is the Host field's value.
inline std::string fixed_fields(const config& cfg, const std::string& host) {
    std::vector<std::pair<std::string, std::string>> f;
    auto set = [&f](std::string name, std::string value) {
        std::erase_if(f, [&](const auto& e) { return same_field_name(e.first, name); });
        f.emplace_back(std::move(name), std::move(value));
    };
    set("Host", host);
    if (!cfg.user_agent.empty()) set("User-Agent", cfg.user_agent);
    set("Accept", "application/json");
    for (const auto& [name, value] : cfg.headers) set(name, value);
    if (!cfg.api_key.empty())
        set(cfg.header == auth_header::authorization ? "Authorization" : "Grpc-Metadata-Authorization", "Bearer " + cfg.api_key);
    std::string out;
    for (const auto& [name, value] : f) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    return out;
}

inline std::string_view method_name(method m) {
    switch (m) {
    case method::get: return "GET";
    case method::post: return "POST";
    case method::put: return "PUT";
    case method::del: return "DELETE";
    }
    return "GET";
}

/// One request's whole text: request line, the fixed fields, the body's fields, the blank line, the body.
inline std::string request_text(method m, std::string_view prefix, std::string_view target, std::string_view fixed,
                                std::string_view body) {
    const auto verb = method_name(m);
    const bool length = !body.empty() || m == method::post || m == method::put;
    const std::string size = length ? std::to_string(body.size()) : std::string{};
    std::string out;
    out.reserve(verb.size() + prefix.size() + target.size() + fixed.size() + size.size() + body.size() + 64);
    out.append(verb).append(" ").append(prefix).append(target).append(" HTTP/1.1\r\n").append(fixed);
    if (!body.empty()) out.append("Content-Type: application/json\r\n");
    if (length) out.append("Content-Length: ").append(size).append("\r\n");
    out.append("\r\n").append(body);
    return out;
}

} // namespace relaylink::chirpstack::detail
