// Self-signed certificates for TLS tests, made with the openssl command line in a temporary folder:
// "good" for localhost and 127.0.0.1, "other" for another host.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <stdlib.h>

namespace relaylink::test {

struct certs {
    std::string dir;
    certs() {
        char tmpl[] = "/tmp/relaylink-tls-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("cannot create a folder for test certificates");
        dir = tmpl;
        make("good", "subjectAltName=DNS:localhost,IP:127.0.0.1");
        make("other", "subjectAltName=DNS:ns.example.org");
    }
    ~certs() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    certs(const certs&) = delete;
    certs& operator=(const certs&) = delete;
    void make(const std::string& name, const std::string& san) const {
        const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=relaylink-test -addext '" + san +
                                "' -keyout " + dir + "/" + name + ".key -out " + dir + "/" + name + ".pem 2>/dev/null";
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl could not make a test certificate");
    }
    std::string pem(const std::string& n) const { return dir + "/" + n + ".pem"; }
    std::string key(const std::string& n) const { return dir + "/" + n + ".key"; }
};

/// One set for the whole test program.
inline const certs& test_certs() {
    static certs c;
    return c;
}

} // namespace relaylink::test
