// Errors of the ChirpStack client: refusals before anything is sent, transport failures, and the
// server's answers (HTTP status with the grpc-gateway body), each classified transient or permanent.
#pragma once

#include <relaylink/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <string>

namespace relaylink::chirpstack {

enum class errc {
    // refused before anything was sent
    invalid_dev_eui = 1,  ///< not exactly 16 hex digits
    invalid_fport,        ///< fPort outside 1-223
    invalid_payload,      ///< payload empty or longer than 242 bytes
    expires_in_past,      ///< expiresAt is not in the future
    invalid_argument,     ///< another argument is wrong (see diagnostics)
    invalid_config,       ///< the client configuration is wrong (URL, timeouts…)
    // transport
    timeout,              ///< the operation did not finish within its timeout
    tls_error,            ///< TLS handshake or certificate verification failed
    response_too_large,   ///< the response exceeds config::max_response_size
    malformed_response,   ///< the response is not the JSON expected (see diagnostics)
    // the server answered with an error status
    bad_request,          ///< 400 (gRPC INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE)
    unauthenticated,      ///< 401 (gRPC UNAUTHENTICATED): API key missing, malformed or without rights
    permission_denied,    ///< 403 (gRPC PERMISSION_DENIED)
    not_found,            ///< 404 (gRPC NOT_FOUND): no such device, application…
    already_exists,       ///< 409 (gRPC ALREADY_EXISTS)
    rate_limited,         ///< 429 (gRPC RESOURCE_EXHAUSTED)
    server_error,         ///< 500 and other 5xx (gRPC INTERNAL, UNKNOWN, DATA_LOSS)
    not_implemented,      ///< 501 (gRPC UNIMPLEMENTED)
    unavailable,          ///< 503 (gRPC UNAVAILABLE)
    gateway_timeout,      ///< 504 (gRPC DEADLINE_EXCEEDED)
    http_error,           ///< another non-2xx status
};

class error_category_impl final : public boost::system::error_category {
public:
    constexpr error_category_impl() noexcept : boost::system::error_category(0x7e1a'1111'0003'0001ULL) {}
    const char* name() const noexcept override { return "relaylink.chirpstack"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::invalid_dev_eui: return "DevEUI must be exactly 16 hex digits";
        case errc::invalid_fport: return "fPort must be 1-223";
        case errc::invalid_payload: return "payload must be 1-242 bytes";
        case errc::expires_in_past: return "expiresAt must be in the future";
        case errc::invalid_argument: return "invalid argument";
        case errc::invalid_config: return "invalid ChirpStack client configuration";
        case errc::timeout: return "ChirpStack did not answer in time";
        case errc::tls_error: return "TLS handshake or certificate verification failed";
        case errc::response_too_large: return "ChirpStack's response exceeds the size limit";
        case errc::malformed_response: return "ChirpStack's response is not the JSON expected";
        case errc::bad_request: return "ChirpStack refused the request as invalid (400)";
        case errc::unauthenticated: return "ChirpStack refused the API key (401)";
        case errc::permission_denied: return "the API key may not do this (403)";
        case errc::not_found: return "ChirpStack has no such object (404)";
        case errc::already_exists: return "the object already exists (409)";
        case errc::rate_limited: return "ChirpStack is rate limiting (429)";
        case errc::server_error: return "ChirpStack failed internally (5xx)";
        case errc::not_implemented: return "ChirpStack does not implement this call (501)";
        case errc::unavailable: return "ChirpStack is unavailable (503)";
        case errc::gateway_timeout: return "ChirpStack timed out upstream (504)";
        case errc::http_error: return "ChirpStack answered with an unexpected HTTP status";
        }
        return "unknown relaylink.chirpstack error";
    }
};

inline const boost::system::error_category& error_category() noexcept {
    static constexpr error_category_impl instance;
    return instance;
}
inline error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

/// The error for an HTTP status (non-2xx).
inline errc from_http_status(unsigned status) noexcept {
    switch (status) {
    case 400: return errc::bad_request;
    case 401: return errc::unauthenticated;
    case 403: return errc::permission_denied;
    case 404: return errc::not_found;
    case 409: return errc::already_exists;
    case 429: return errc::rate_limited;
    case 501: return errc::not_implemented;
    case 503: return errc::unavailable;
    case 504: return errc::gateway_timeout;
    default: return status >= 500 && status < 600 ? errc::server_error : errc::http_error;
    }
}

/// Worth trying again later: timeouts, connection failures, 429 and 5xx (except 501).
/// Validation errors, 4xx and malformed responses are permanent.
inline bool is_transient(const error_code& ec) noexcept {
    if (ec.category() == error_category()) {
        switch (static_cast<errc>(ec.value())) {
        case errc::timeout:
        case errc::rate_limited:
        case errc::server_error:
        case errc::unavailable:
        case errc::gateway_timeout: return true;
        default: return false;
        }
    }
    namespace ae = boost::asio::error;
    return ec == ae::connection_refused || ec == ae::connection_reset || ec == ae::connection_aborted ||
           ec == ae::broken_pipe || ec == ae::eof || ec == ae::timed_out || ec == ae::host_unreachable ||
           ec == ae::network_unreachable || ec == ae::network_down || ec == ae::try_again ||
           ec == ae::host_not_found_try_again || ec == ae::not_connected || ec == ae::shut_down;
}

/// What went wrong, in words: filled by the client alongside the error_code.
struct diagnostics {
    unsigned http_status = 0; ///< 0 when no response arrived
    int grpc_code = -1;       ///< the body's "code", -1 when absent
    std::string message;      ///< ChirpStack's own message, or relaylink's explanation (never the API key)
    bool server_message = false; ///< `message` is ChirpStack's own (the body's "message" or "error")
    bool request_sent = false; ///< the request may have reached ChirpStack (matters for a failed enqueue)
    int attempts = 0;          ///< how many times the request was tried

    void clear() { *this = diagnostics{}; }
};

/// A failed call that ChirpStack may nonetheless have applied (what matters for a POST, an enqueue): the
/// request went out and no answer refused it — a transport failure or timeout after sending, a 5xx (a
/// 500 that names the reason, such as an unknown device, is reported as that reason instead), or a 2xx
/// whose body relaylink could not read (a proxy's page, a truncated or oversized answer). Read the device
/// queue before deciding; never enqueue again blindly.
inline bool outcome_unknown(const error_code& ec, const diagnostics& d) noexcept {
    if (!d.request_sent) return false;
    if (is_transient(ec)) return true;
    return ec == make_error_code(errc::malformed_response) || ec == make_error_code(errc::response_too_large);
}

/// Thrown by the synchronous facade: the code, and a message a person can act on.
class api_error : public boost::system::system_error {
public:
    api_error(error_code ec, diagnostics d)
        : boost::system::system_error(ec), diag_(std::move(d)), what_(describe(ec, diag_)) {}
    /// The message alone ("ChirpStack HTTP 404: Object does not exist (id: …)"), without the code's suffix.
    const char* what() const noexcept override { return what_.c_str(); }
    const diagnostics& details() const noexcept { return diag_; }
    unsigned http_status() const noexcept { return diag_.http_status; }

    static std::string describe(const error_code& ec, const diagnostics& d) {
        std::string s;
        if (d.http_status) s = "ChirpStack HTTP " + std::to_string(d.http_status) + ": ";
        if (!d.message.empty())
            s += d.message;
        else
            s += ec.message();
        return s;
    }

private:
    diagnostics diag_;
    std::string what_;
};

} // namespace relaylink::chirpstack

template <>
struct boost::system::is_error_code_enum<relaylink::chirpstack::errc> : std::true_type {};
