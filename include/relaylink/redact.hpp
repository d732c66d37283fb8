// Secrets kept out of what relaylink shows: messages, reprs, logs, pages. Sans-I/O.
#pragma once

#include <string>
#include <string_view>

namespace relaylink {

/// What may be shown of an input in a message: printable ASCII as it is, every other byte as \xNN
/// (a message stays valid UTF-8 and one line, whatever was given), cut after `max` bytes of input.
inline std::string shown(std::string_view s, std::size_t max = 64) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s.substr(0, max)) {
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (s.size() > max) out += "... (" + std::to_string(s.size()) + " bytes)";
    return out;
}

/// `s` with every occurrence of `secret` replaced by "***" (nothing for an empty secret).
inline std::string scrub(std::string s, std::string_view secret) {
    if (secret.empty()) return s;
    for (auto at = s.find(secret); at != std::string::npos; at = s.find(secret, at + 3)) s.replace(at, secret.size(), "***");
    return s;
}

/// A URL as it may be shown: credentials (`user:pw@`), the query and the fragment replaced by "***"
/// — an API key or token is often passed there by mistake.
inline std::string redact_url(std::string_view url) {
    std::string out(url);
    if (const auto q = out.find_first_of("?#"); q != std::string::npos) out = out.substr(0, q + 1) + "***";
    const auto scheme = out.find("://");
    const std::size_t host = scheme == std::string::npos ? 0 : scheme + 3;
    const auto end = out.find_first_of("/?#", host);
    const auto at = out.rfind('@', end == std::string::npos ? std::string::npos : end);
    if (at != std::string::npos && at >= host) out = out.substr(0, host) + "***" + out.substr(at);
    return out;
}

/// A PostgreSQL connection string as it may be shown, in either of libpq's forms: a URL
/// (`postgresql://user:pw@host/db?password=pw`: the password in the user info and in the query) or
/// keywords (`host=db password=pw`, `password = 'p w\'x'`): every password replaced by "***".
inline std::string redact_dsn(std::string_view dsn) {
    std::string s(dsn);
    auto hide = [&](std::size_t from, std::size_t to) {
        s.replace(from, to - from, "***");
        return from + 3;
    };
    const auto scheme = s.find("://");
    if (scheme != std::string::npos && (s.rfind("postgres", 0) == 0)) {
        const std::size_t host = scheme + 3;
        const auto end = s.find_first_of("/?", host);
        const auto at = s.rfind('@', end == std::string::npos ? std::string::npos : end);
        if (at != std::string::npos && at >= host) {
            const auto colon = s.find(':', host);
            if (colon != std::string::npos && colon < at) hide(colon + 1, at);
        }
        for (std::size_t q = s.find_first_of("?&", host); q != std::string::npos; q = s.find('&', q + 1)) {
            if (s.compare(q + 1, 9, "password=") != 0) continue;
            const std::size_t v = q + 10;
            hide(v, std::min(s.find('&', v), s.size()));
        }
        return s;
    }
    // Keywords: password, optional spaces, '=', optional spaces, then a quoted or a bare value.
    for (std::size_t k = s.find("password"); k != std::string::npos; k = s.find("password", k + 1)) {
        if (k > 0 && s[k - 1] != ' ' && s[k - 1] != '\t') continue;
        std::size_t i = k + 8;
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        if (i >= s.size() || s[i] != '=') continue;
        ++i;
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        std::size_t e = i;
        if (e < s.size() && s[e] == '\'') {
            for (++e; e < s.size() && s[e] != '\''; ++e)
                if (s[e] == '\\') ++e;
            e = std::min(e + 1, s.size());
        } else {
            while (e < s.size() && s[e] != ' ' && s[e] != '\t') ++e;
        }
        k = hide(i, e);
    }
    return s;
}

} // namespace relaylink
