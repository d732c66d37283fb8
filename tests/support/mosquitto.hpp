// A real mosquitto broker for tests: started on a free loopback port with its own configuration and
// persistence in a temporary folder, stopped (and restartable on the same port) by the test.
#pragma once

#include <string>
#include <sys/types.h>

namespace relaylink::test {

struct mosquitto_options {
    std::string cert_file, key_file;  ///< both set: the listener speaks TLS (ssl://)
    std::string username, password;   ///< set: anonymous clients are refused, this user is accepted
    bool persistence = true;          ///< sessions and queued messages survive a restart (saved every second)
    int max_inflight = 20;            ///< QoS 1 messages in flight to one client (mosquitto's default: 20)
};

class mosquitto_broker {
public:
    explicit mosquitto_broker(mosquitto_options o = {}); ///< throws std::runtime_error when mosquitto cannot be started
    ~mosquitto_broker();
    mosquitto_broker(const mosquitto_broker&) = delete;
    mosquitto_broker& operator=(const mosquitto_broker&) = delete;

    unsigned short port() const { return port_; }
    std::string url() const { return (tls_ ? "ssl://127.0.0.1:" : "tcp://127.0.0.1:") + std::to_string(port_); }
    void stop();
    void start();
    void restart() { stop(); start(); }

private:
    std::string dir_;
    unsigned short port_ = 0;
    pid_t pid_ = -1;
    bool tls_ = false;
};

} // namespace relaylink::test
