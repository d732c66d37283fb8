// Loopback ports for tests: a free one to listen on, and whether something listens on one.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace relaylink::test {

/// A port nothing listens on right now (the kernel's choice for an ephemeral bind, released).
inline unsigned short free_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

/// True when a TCP connection to 127.0.0.1:port is accepted.
inline bool accepts(unsigned short port) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    return !ec;
}

} // namespace relaylink::test
