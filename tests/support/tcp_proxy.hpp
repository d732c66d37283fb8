// A TCP forwarder on loopback that a test can cut: between a client and a real server (PostgreSQL), so
// that a test can take the server away (every connection closed, every new one accepted and closed at
// once, as a server being restarted) and bring it back, and count the connection attempts it saw.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace relaylink::test {

class tcp_proxy {
public:
    explicit tcp_proxy(std::uint16_t target_port) : target_(target_port) {
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const int one = 1;
        ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 64) != 0)
            throw std::runtime_error("tcp_proxy: cannot listen");
        socklen_t len = sizeof a;
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~tcp_proxy() {
        stop_ = true;
        thread_.join();
        for (auto& [c, s] : pairs_) close_pair(c, s);
        ::close(listener_);
    }
    tcp_proxy(const tcp_proxy&) = delete;
    tcp_proxy& operator=(const tcp_proxy&) = delete;

    std::uint16_t port() const { return port_; }
    /// Down: every connection is closed, and each new one is accepted and closed at once.
    void set_up(bool up) { up_ = up; }
    /// Connections accepted (attempts), up or down.
    std::uint64_t accepted() const { return accepted_; }

private:
    static void close_pair(int c, int s) {
        ::close(c);
        if (s >= 0) ::close(s);
    }
    int dial() const {
        const int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(target_);
        if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(s);
            return -1;
        }
        return s;
    }
    void run() {
        char buf[16384];
        while (!stop_) {
            if (!up_) {
                for (auto& [c, s] : pairs_) close_pair(c, s);
                pairs_.clear();
            }
            std::vector<pollfd> fds{{listener_, POLLIN, 0}};
            for (auto& [c, s] : pairs_) {
                fds.push_back({c, POLLIN, 0});
                fds.push_back({s, POLLIN, 0});
            }
            if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
            std::vector<std::pair<int, int>> keep;
            if (fds[0].revents & POLLIN) { // a new pair is polled from the next round on (fds has none for it)
                const int c = ::accept(listener_, nullptr, nullptr);
                if (c >= 0) {
                    ++accepted_;
                    const int s = up_ ? dial() : -1;
                    if (s < 0) ::close(c);
                    else keep.emplace_back(c, s);
                }
            }
            for (std::size_t i = 0; i < pairs_.size(); ++i) {
                auto [c, s] = pairs_[i];
                bool ok = true;
                for (auto [from, to, ev] : {std::tuple{c, s, fds[1 + 2 * i].revents}, std::tuple{s, c, fds[2 + 2 * i].revents}}) {
                    if (!ok || !(ev & (POLLIN | POLLHUP | POLLERR))) continue;
                    const auto n = ::read(from, buf, sizeof buf);
                    if (n <= 0 || ::write(to, buf, static_cast<std::size_t>(n)) != n) ok = false;
                }
                if (ok) keep.emplace_back(c, s);
                else close_pair(c, s);
            }
            pairs_ = std::move(keep);
        }
    }

    std::uint16_t target_;
    std::uint16_t port_ = 0;
    int listener_ = -1;
    std::atomic<bool> up_{true}, stop_{false};
    std::atomic<std::uint64_t> accepted_{0};
    std::vector<std::pair<int, int>> pairs_; ///< client, server: only the proxy's thread touches them
    std::thread thread_;
};

} // namespace relaylink::test
