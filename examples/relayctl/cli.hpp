// relayctl's small command-line toolkit: arguments, usage errors, output helpers.
#pragma once

#include <relaylink/chirpstack/config.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace relayctl {

/// A mistake in how relayctl was called: printed with a hint, exit code 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
/// The command ran and failed: printed as is, exit code 1.
struct failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Parsed arguments: positionals, and --options (with a value, or flags).
class args {
public:
    /// `flags` take no value; `valued` take one (--name VALUE or --name=VALUE). Anything else is refused.
    args(const std::vector<std::string>& argv, const std::set<std::string>& flags, const std::set<std::string>& valued);

    const std::vector<std::string>& positional() const { return positional_; }
    bool flag(const std::string& name) const { return flags_.count(name) != 0; }
    std::optional<std::string> value(const std::string& name) const;
    /// An integer option within [lo, hi], or `def` when absent; a usage_error names the option and value.
    long long integer(const std::string& name, long long def, long long lo, long long hi) const;

private:
    std::vector<std::string> positional_;
    std::set<std::string> flags_;
    std::map<std::string, std::string> values_;
};

std::string read_file(const std::string& path);
std::string json_quote(const std::string& s);

/// The one positional <devEui> of `cmd`, as given; usage_error otherwise.
std::string one_eui(const args& a, const char* cmd);
/// The one <devEui> of `cmd`, normalised (16 lower-case hex digits); usage_error (exit 2) otherwise.
std::string checked_eui(const args& a, const char* cmd);

/// The ChirpStack options every network command takes.
inline const std::set<std::string> net_valued = {"url", "api-key", "api-key-file", "timeout"};
/// Client settings from --url / --api-key / --timeout, else the environment; usage_error without a key.
relaylink::chirpstack::config client_config(const args& a);
/// "10m" → 600 s (units s, m, h, d); usage_error naming `option` otherwise.
std::chrono::seconds parse_duration(const std::string& s, const std::string& option = "expires-in");

/// Every command's name, comma-separated; and one command's usage, options and example (none: no such command).
std::string command_list();
std::optional<std::string> command_help(const std::string& cmd);

int cmd_frame(const std::vector<std::string>& argv);
int cmd_profiles(const std::vector<std::string>& argv);
int cmd_decode(const std::vector<std::string>& argv);
int cmd_enqueue(const std::vector<std::string>& argv);
int cmd_queue(const std::vector<std::string>& argv);
int cmd_flush(const std::vector<std::string>& argv);
int cmd_device(const std::vector<std::string>& argv);
int cmd_sim(const std::vector<std::string>& argv);
int cmd_relay(const std::vector<std::string>& argv, bool on);
int cmd_status(const std::vector<std::string>& argv);
int cmd_history(const std::vector<std::string>& argv);
int cmd_cancel(const std::vector<std::string>& argv);
int cmd_watch(const std::vector<std::string>& argv);
int cmd_doctor(const std::vector<std::string>& argv);

} // namespace relayctl
