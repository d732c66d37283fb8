// Debian's nginx as a neutral HTTP server (bench/bench_client.cpp's): started on a free loopback port with a
// configuration of its own in a temporary directory (one worker process, no access log, keep-alive without a
// request limit), answering every request with a fixed JSON body, and stopped when this object goes.
// RELAYLINK_NGINX names another nginx binary.
#pragma once

#include "ports.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace relaylink::test {

class nginx_server {
public:
    /// Starts nginx answering `body` (JSON) with status 200; std::runtime_error saying what to do when it cannot.
    explicit nginx_server(const std::string& body) {
        try {
            start(body);
        } catch (...) {
            stop(); // a destructor does not run for a constructor that throws: no nginx and no folder left behind
            throw;
        }
    }
    ~nginx_server() { stop(); }
    nginx_server(const nginx_server&) = delete;
    nginx_server& operator=(const nginx_server&) = delete;

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    void start(const std::string& body) {
        const std::string exe = find_nginx();
        if (exe.empty())
            throw std::runtime_error("nginx not found (on PATH or /usr/sbin/nginx): the client benchmark uses Debian's nginx as "
                                     "its neutral server; install it with `apt-get install nginx-light`");
        char tmpl[] = "/tmp/relaylink-bench-nginx-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("cannot create a temporary directory for nginx");
        dir_ = tmpl;
        port_ = test::free_port();
        {
            std::ofstream conf(dir_ + "/nginx.conf");
            conf << "daemon off;\nmaster_process on;\nworker_processes 1;\npid " << dir_ << "/nginx.pid;\n"
                 << "error_log " << dir_ << "/error.log warn;\n"
                 << (::geteuid() == 0 ? "user root;\n" : "") << "events { worker_connections 1024; }\n"
                 << "http {\n  access_log off;\n  keepalive_requests 100000000;\n  keepalive_timeout 60s;\n";
            for (const char* t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) conf << "  " << t << "_temp_path " << dir_ << "/" << t << ";\n";
            conf << "  server {\n    listen 127.0.0.1:" << port_ << ";\n    location / {\n      default_type application/json;\n"
                 << "      return 200 '" << body << "';\n    }\n  }\n}\n";
            if (!conf) throw std::runtime_error("cannot write " + dir_ + "/nginx.conf");
        }
        const std::string conf = dir_ + "/nginx.conf", err = dir_ + "/error.log";
        std::vector<std::string> args{exe, "-p", dir_, "-c", conf, "-e", err};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (::posix_spawn(&pid_, exe.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
            throw std::runtime_error("cannot start " + exe);
        // Ready when it accepts a connection; gone: its error log says why.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!test::accepts(port_)) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("nginx exited at start: " + log_tail());
            }
            if (std::chrono::steady_clock::now() > until) throw std::runtime_error("nginx did not accept connections within 10 s: " + log_tail());
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    void stop() noexcept {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
        std::error_code ec;
        if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
        dir_.clear();
    }
    /// $RELAYLINK_NGINX when set (it must then be an executable), else nginx on PATH, else /usr/sbin/nginx.
    static std::string find_nginx() {
        if (const char* given = std::getenv("RELAYLINK_NGINX")) {
            if (::access(given, X_OK) != 0)
                throw std::runtime_error(std::string("RELAYLINK_NGINX=") + given + " is not an executable: give the path of nginx, "
                                         "or unset it to use nginx from PATH or /usr/sbin/nginx");
            return given;
        }
        if (const char* path = std::getenv("PATH")) {
            std::stringstream ss(path);
            for (std::string d; std::getline(ss, d, ':');)
                if (!d.empty() && ::access((d + "/nginx").c_str(), X_OK) == 0) return d + "/nginx";
        }
        return ::access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "";
    }
    std::string log_tail() const {
        std::ifstream in(dir_ + "/error.log");
        std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (all.size() > 600) all = all.substr(all.size() - 600);
        return all.empty() ? "(its error log is empty)" : all;
    }

    std::string dir_;
    unsigned short port_ = 0;
    pid_t pid_ = -1;
};

} // namespace relaylink::test
