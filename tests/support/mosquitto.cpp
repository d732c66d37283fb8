#include "mosquitto.hpp"
#include "ports.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace relaylink::test {
namespace {

std::string find_mosquitto() {
    for (const char* p : {"/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"})
        if (::access(p, X_OK) == 0) return p;
    throw std::runtime_error("mosquitto not found: install Debian's mosquitto package (./scripts/test.sh does)");
}

} // namespace

mosquitto_broker::mosquitto_broker(mosquitto_options o) {
    char tmpl[] = "/tmp/relaylink-mosquitto-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("cannot create a temporary folder for mosquitto");
    dir_ = tmpl;
    port_ = free_port();
    tls_ = !o.cert_file.empty();
    std::ofstream conf(dir_ + "/mosquitto.conf");
    conf << "listener " << port_ << " 127.0.0.1\n"
         << "persistence " << (o.persistence ? "true" : "false") << "\n"
         << "persistence_location " << dir_ << "/\n"
         << "autosave_interval 1\n"
         << "max_queued_messages 1000000\n"
         << "max_inflight_messages " << o.max_inflight << "\n"
         << "log_dest file " << dir_ << "/mosquitto.log\n";
    if (::geteuid() == 0) conf << "user root\n"; // else it drops to "mosquitto", who cannot write this folder
    if (tls_) conf << "certfile " << o.cert_file << "\nkeyfile " << o.key_file << "\n";
    if (o.username.empty()) {
        conf << "allow_anonymous true\n";
    } else {
        const std::string pw = dir_ + "/passwords";
        const std::string cmd = "mosquitto_passwd -b -c " + pw + " '" + o.username + "' '" + o.password + "' >/dev/null 2>&1";
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("mosquitto_passwd could not write a password file");
        conf << "allow_anonymous false\npassword_file " << pw << "\n";
    }
    conf.close();
    start();
}

mosquitto_broker::~mosquitto_broker() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void mosquitto_broker::start() {
    if (pid_ > 0) return;
    const std::string bin = find_mosquitto();
    const std::string conf = dir_ + "/mosquitto.conf";
    char* argv[] = {const_cast<char*>(bin.c_str()), const_cast<char*>("-c"), const_cast<char*>(conf.c_str()), nullptr};
    posix_spawn_file_actions_t fa; // its console goes to its log file (as root it warns there)
    posix_spawn_file_actions_init(&fa);
    const std::string console = dir_ + "/console.log";
    posix_spawn_file_actions_addopen(&fa, 1, console.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const int rc = ::posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start mosquitto");
    for (int i = 0; i < 200; ++i) {
        if (accepts(port_)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    stop();
    throw std::runtime_error("mosquitto did not start listening on 127.0.0.1:" + std::to_string(port_) + " (see " + dir_ + "/mosquitto.log)");
}

void mosquitto_broker::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM); // mosquitto saves its persistence file on SIGTERM
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

} // namespace relaylink::test
