// A real mosquitto broker for tests: started on a free loopback port with its own configuration and
// persistence in a temporary folder, stopped (and restartable on the same port) by the test.
#pragma once

#include <string>
#include <sys/types.h>

namespace relaylink::test {

class mosquitto_broker {
public:
    mosquitto_broker();  ///< throws std::runtime_error when mosquitto cannot be started
    ~mosquitto_broker();
    mosquitto_broker(const mosquitto_broker&) = delete;
    mosquitto_broker& operator=(const mosquitto_broker&) = delete;

    unsigned short port() const { return port_; }
    std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    void stop();
    void start();
    void restart() { stop(); start(); }

private:
    std::string dir_;
    unsigned short port_ = 0;
    pid_t pid_ = -1;
};

} // namespace relaylink::test
