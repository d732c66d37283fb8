#include "cli.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <fstream>
#include <sstream>

namespace relayctl {

args::args(const std::vector<std::string>& argv, const std::set<std::string>& flags, const std::set<std::string>& valued) {
    for (std::size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a.size() < 3 || a.rfind("--", 0) != 0) {
            if (a.size() > 1 && a[0] == '-' && !(a[1] >= '0' && a[1] <= '9'))
                throw usage_error("unknown option '" + a + "'");
            positional_.push_back(a);
            continue;
        }
        std::string name = a.substr(2);
        std::optional<std::string> inline_value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (flags.count(name)) {
            if (inline_value) throw usage_error("option --" + name + " takes no value");
            flags_.insert(name);
        } else if (valued.count(name)) {
            if (inline_value) {
                values_[name] = *inline_value;
            } else {
                if (i + 1 >= argv.size()) throw usage_error("option --" + name + " needs a value");
                values_[name] = argv[++i];
            }
        } else if (name == "key") { // it meant two things once: say which is meant
            throw usage_error("--key is ambiguous: --idempotency-key KEY (the command's idempotency key) or --tls-key PEM "
                              "(the MQTT client's TLS private key)");
        } else {
            std::string known;
            for (const auto& f : flags) known += (known.empty() ? "--" : ", --") + f;
            for (const auto& v : valued) known += (known.empty() ? "--" : ", --") + v + " VALUE";
            throw usage_error("unknown option '--" + name + "'" + (known.empty() ? "" : " (known: " + known + ")"));
        }
    }
}

std::optional<std::string> args::value(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

long long args::integer(const std::string& name, long long def, long long lo, long long hi) const {
    auto v = value(name);
    if (!v) return def;
    long long n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc{} || p != v->data() + v->size() || n < lo || n > hi)
        throw usage_error("--" + name + " must be an integer " + std::to_string(lo) + "-" + std::to_string(hi) + ", got '" + *v + "'");
    return n;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw failure("cannot read '" + path + "': no such file or not readable");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string json_quote(const std::string& s) { return boost::json::serialize(boost::json::string(s)); }

} // namespace relayctl
