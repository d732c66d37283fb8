// Configuration of the ChirpStack REST client: a plain aggregate with documented defaults, and
// from_env() for deployments configured through the environment (as the portal is).
#pragma once

#include <relaylink/error.hpp>

#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace relaylink::chirpstack {

/// Which header carries the API key. ChirpStack's REST proxy accepts both.
enum class auth_header : std::uint8_t {
    grpc_metadata, ///< Grpc-Metadata-Authorization: Bearer <key> (ChirpStack's documented form)
    authorization, ///< Authorization: Bearer <key> (what the portal sends)
};

/// Retries of idempotent calls (GET, PUT, DELETE) after transient errors. Enqueues are never retried here.
struct retry_policy {
    int max_attempts = 3;                                  ///< including the first; 1 = no retry
    std::chrono::milliseconds initial_backoff{200};        ///< before the second attempt
    std::chrono::milliseconds max_backoff{5000};           ///< cap for the exponential growth
    double multiplier = 2.0;                               ///< backoff growth per attempt
    double jitter = 0.2;                                   ///< +/- this fraction, randomised
    /// false: a call that timed out is not tried again (someone waiting on it, a web page say, would
    /// otherwise wait max_attempts × request_timeout); refused connections, resets and 5xx still are.
    bool retry_timeouts = true;
};

struct config {
    std::string url = "http://localhost:8090"; ///< REST API base: http or https, optional path prefix
    std::string api_key;                       ///< sent as Bearer token; never logged or printed
    std::string tenant_id;                     ///< used by the management calls that need one
    std::uint8_t passthrough_port = 5;         ///< UC100 pass-through fPort (CHIRPSTACK_PASSTHROUGH_PORT)
    auth_header header = auth_header::grpc_metadata;
    std::chrono::milliseconds connect_timeout{5000};  ///< TCP connect + TLS handshake
    std::chrono::milliseconds request_timeout{10000}; ///< one request: write + complete response
    std::chrono::seconds idle_timeout{30};            ///< a kept-alive connection idle longer is not reused
    std::size_t max_response_size = 8 * 1024 * 1024;  ///< larger responses are refused
    std::size_t pool_size = 8;                        ///< connections kept to the server at most
    retry_policy retry;
    std::string user_agent = "relaylink/0.1";
    std::vector<std::pair<std::string, std::string>> headers; ///< sent with every request (e.g. for a proxy)
    /// The clock an enqueue's expiresAt must be in the future of (empty: the system clock). A simulator's clock in
    /// tests that run on simulated time, whose dates may lie before the real one.
    std::function<std::chrono::sys_time<std::chrono::nanoseconds>()> clock;
    bool verify_tls = true;   ///< verify the server certificate and host name (https)
    std::string ca_file;      ///< PEM bundle to trust instead of the system's

    /// Reads CHIRPSTACK_API_URL, CHIRPSTACK_API_KEY, CHIRPSTACK_TENANT_ID, CHIRPSTACK_PASSTHROUGH_PORT
    /// over the defaults. A bad value is refused with a message naming the variable, and so is a missing
    /// or empty CHIRPSTACK_API_KEY (no ChirpStack answers without one) unless `require_key` is false — for a
    /// caller that takes the key from elsewhere too (relayctl's --api-key-file).
    static boost::system::result<config, field_error> from_env(bool require_key = true) {
        config c;
        if (const char* v = std::getenv("CHIRPSTACK_API_URL"); v && *v) c.url = v;
        if (const char* v = std::getenv("CHIRPSTACK_API_KEY")) c.api_key = v;
        if (const char* v = std::getenv("CHIRPSTACK_TENANT_ID")) c.tenant_id = v;
        if (const char* v = std::getenv("CHIRPSTACK_PASSTHROUGH_PORT"); v && *v) {
            char* end = nullptr;
            const long port = std::strtol(v, &end, 10);
            if (*end != '\0' || port < 1 || port > 223)
                return field_error{"CHIRPSTACK_PASSTHROUGH_PORT",
                                   "CHIRPSTACK_PASSTHROUGH_PORT must be an fPort 1-223, got '" + std::string(v) + "'"};
            c.passthrough_port = static_cast<std::uint8_t>(port);
        }
        if (require_key && c.api_key.empty())
            return field_error{"CHIRPSTACK_API_KEY",
                               "CHIRPSTACK_API_KEY is not set: relaylink reads CHIRPSTACK_API_URL (default http://localhost:8090), "
                               "CHIRPSTACK_API_KEY (an API key from ChirpStack's web UI, API keys), CHIRPSTACK_TENANT_ID and "
                               "CHIRPSTACK_PASSTHROUGH_PORT (default 5) from the environment"};
        return c;
    }
};

} // namespace relaylink::chirpstack
