// The simulated network server queue and devices. See network.hpp for the rules followed.
#include <relaylink/sim/network.hpp>

#include <relaylink/modbus.hpp>

#include <algorithm>
#include <cstring>

#include <boost/json.hpp>

#include <cmath>

namespace relaylink::sim {

namespace json = boost::json;

std::string_view to_string(device_kind k) noexcept {
    return k == device_kind::uc100_sdm320c ? "uc100_sdm320c" : "ivy_em114039";
}
std::optional<device_kind> device_kind_from_name(std::string_view s) noexcept {
    if (s == "uc100_sdm320c" || s == "eastron_sdm320c" || s == "eastron_sdm" || s == "sdm320c") return device_kind::uc100_sdm320c;
    if (s == "ivy_em114039" || s == "ivy_em114" || s == "ivy") return device_kind::ivy_em114039;
    return std::nullopt;
}

namespace {

/// ChirpStack's integrations write "+00:00" where its REST API writes "Z".
std::string integration_time(sys_time t) {
    std::string s = format_rfc3339(t);
    s.pop_back();
    return s + "+00:00";
}

constexpr std::uint8_t uc100_report_port = 85; // Milesight periodic report / configuration port

} // namespace

float simulated_register_value(std::uint16_t address, sys_time now, std::uint8_t seed, bool relay_closed) {
    const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
    const double phase = seed * 0.37;
    const double volts = 230.0 + 3.0 * std::sin(t / 600.0 + phase);
    const double amps = relay_closed ? 4.0 + 2.5 * std::sin(t / 1800.0 + phase) + 2.5 : 0.0;
    const double pf = relay_closed ? 0.95 : 1.0;
    const double watts = volts * amps * pf;
    // Energy grows with time while the relay is closed (an average household: ~0.3 kWh per hour).
    const double kwh = 1000.0 + seed + std::fmod(t / 3600.0 * 0.3, 100000.0);
    switch (address) {
    case 0x0000: return static_cast<float>(volts);
    case 0x0006: return static_cast<float>(amps);
    case 0x000C: return static_cast<float>(watts);
    case 0x0012: return static_cast<float>(volts * amps);
    case 0x0018: return static_cast<float>(volts * amps * 0.31);
    case 0x001E: return static_cast<float>(pf);
    case 0x0046: return static_cast<float>(50.0 + 0.05 * std::sin(t / 60.0));
    case 0x0048: return static_cast<float>(kwh);
    case 0x004A: return 0.0f;
    case 0x0156: return static_cast<float>(kwh);
    default: return std::nanf("");
    }
}

network::network(std::uint64_t seed) : rng_(seed) {}

std::string network::new_uuid() {
    std::uniform_int_distribution<std::uint64_t> d;
    std::uint64_t a = d(rng_), b = d(rng_);
    a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL; // version 4
    b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL; // variant
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xFFFF), static_cast<unsigned>(a & 0xFFFF),
                  static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFULL));
    return buf;
}

sys_time network::schedule_next(const simulated_device& d, sys_time from) {
    std::uniform_real_distribution<double> j(1.0 - d.cfg.jitter, 1.0 + d.cfg.jitter);
    const auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(d.cfg.uplink_interval * j(rng_));
    return from + interval;
}

void network::add_device(device_config cfg, sys_time now) {
    simulated_device d;
    d.relay_closed = cfg.relay_closed;
    d.bridge_powered = !(cfg.power == wiring::load_side && !cfg.relay_closed);
    d.cfg = std::move(cfg);
    std::uniform_real_distribution<double> first(0.0, 1.0);
    d.next_uplink = now + std::chrono::duration_cast<std::chrono::nanoseconds>(d.cfg.uplink_interval * first(rng_));
    const std::string eui = d.cfg.dev_eui;
    devices_.insert_or_assign(eui, std::move(d));
}

bool network::remove_device(const std::string& dev_eui) { return devices_.erase(dev_eui) > 0; }

simulated_device* network::find(const std::string& dev_eui) {
    auto it = devices_.find(dev_eui);
    return it == devices_.end() ? nullptr : &it->second;
}

std::string network::enqueue(simulated_device& d, bool confirmed, std::uint8_t f_port, bytes data, std::optional<sys_time> expires_at,
                             bool flush_queue) {
    if (flush_queue) {
        // v4.18+: flushQueue deletes the items that are not pending.
        std::erase_if(d.queue, [](const queue_entry& q) { return !q.is_pending; });
    }
    queue_entry q;
    q.id = new_uuid();
    q.confirmed = confirmed;
    q.f_port = f_port;
    q.data = std::move(data);
    q.expires_at = expires_at;
    d.queue.push_back(q);
    return q.id;
}

std::size_t network::max_payload(const simulated_device& d) const {
    if (d.cfg.data_rate <= 2) return 51;
    if (d.cfg.data_rate == 3) return 115;
    return 242;
}

std::string network::device_info_json(const simulated_device& d) const {
    json::object o{{"tenantId", "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"},
                   {"tenantName", "ChirpStack"},
                   {"applicationId", d.cfg.application_id.empty() ? app_id_ : d.cfg.application_id},
                   {"applicationName", app_name_},
                   {"deviceProfileId", d.cfg.device_profile_id.empty() ? "00000000-0000-4000-8000-0000000000d1" : d.cfg.device_profile_id},
                   {"deviceProfileName", to_string(d.cfg.kind)},
                   {"deviceName", d.cfg.name.empty() ? d.cfg.dev_eui : d.cfg.name},
                   {"devEui", d.cfg.dev_eui},
                   {"deviceClassEnabled", "CLASS_A"},
                   {"tags", json::object{}}};
    return json::serialize(o);
}

void network::emit(const simulated_device& d, std::string type, std::string payload) {
    ++events_;
    if (!sink_) return;
    burst_.push_back({std::move(type), d.cfg.dev_eui, d.cfg.application_id.empty() ? app_id_ : d.cfg.application_id, std::move(payload)});
}

void network::release() {
    if (order_ == event_order::shuffled) std::shuffle(burst_.begin(), burst_.end(), rng_);
    std::vector<event_out> out;
    out.swap(burst_);
    for (const auto& e : out) sink_(e);
}

std::uint32_t network::next_f_cnt_down(const simulated_device& d) const {
    std::uint32_t queued = 0; // fCntDown is assigned when an item is chosen: only a pending one has one
    for (const auto& q : d.queue)
        if (q.is_pending) queued = std::max(queued, q.f_cnt_down + 1);
    return std::max({d.f_cnt_down, queued, std::uint32_t{1}});
}

void network::report_status(simulated_device& d, const std::string& info, const std::string& time) {
    if (d.cfg.status_every <= 0 || (d.uplinks_sent - 1) % static_cast<std::uint64_t>(d.cfg.status_every) != 0) return;
    d.status = device_status{10, d.cfg.external_power, std::clamp(d.cfg.battery_level, 0.0, 100.0)};
    json::object st{{"deduplicationId", new_uuid()}, {"time", time}, {"margin", d.status->margin},
                    {"externalPowerSource", d.status->external_power_source}, {"batteryLevelUnavailable", false},
                    {"batteryLevel", d.status->battery_level}};
    std::string s = json::serialize(st);
    s.insert(s.size() - 1, ",\"deviceInfo\":" + info);
    emit(d, "status", std::move(s));
}

bytes network::periodic_payload(const simulated_device& d, sys_time now) const {
    const float v = simulated_register_value(0x0000, now, static_cast<std::uint8_t>(d.cfg.dev_eui.back()), d.relay_closed);
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    if (d.cfg.kind == device_kind::uc100_sdm320c) {
        // Milesight TLV: FF 19 | channel | size | type | value (little endian): Modbus channel 1, float
        return {0xFF, 0x19, 0x01, 0x04, 0x05, static_cast<std::uint8_t>(bits), static_cast<std::uint8_t>(bits >> 8),
                static_cast<std::uint8_t>(bits >> 16), static_cast<std::uint8_t>(bits >> 24)};
    }
    // IVY: a status byte (relay) and the voltage; deliberately not a Modbus frame.
    return {0xA5, static_cast<std::uint8_t>(d.relay_closed ? 1 : 0), static_cast<std::uint8_t>(bits >> 24),
            static_cast<std::uint8_t>(bits >> 16)};
}

std::optional<bytes> network::meter_execute(simulated_device& d, const bytes& downlink, sys_time now) {
    using namespace modbus;
    auto req = parse_request(downlink);
    if (!req) return std::nullopt; // bad CRC, truncated…: a Modbus device stays silent
    if (req->slave != d.cfg.slave && req->slave != broadcast_slave) return std::nullopt; // not for this meter
    auto reply = [&](result<modbus::frame> f) -> std::optional<bytes> {
        if (req->slave == broadcast_slave || !f) return std::nullopt; // broadcasts get no reply
        return bytes(f->begin(), f->end());
    };
    auto refuse = [&](exception_code c) -> std::optional<bytes> {
        if (req->slave == broadcast_slave) return std::nullopt;
        auto f = encode_exception(req->slave, req->function, c);
        return bytes(f.begin(), f.end());
    };
    auto set_relay = [&](bool closed) {
        if (d.cfg.faults.relay_stuck) return;
        d.relay_closed = closed;
        if (!closed && d.cfg.power == wiring::load_side) d.bridge_powered = false; // the bridge loses its supply
    };

    if (d.cfg.kind == device_kind::uc100_sdm320c) {
        switch (req->function) {
        case function_code::write_single_coil:
            if (req->address != 0) return refuse(exception_code::illegal_data_address);
            set_relay(req->values[0] == coil_on);
            return reply(encode_response(*req));
        case function_code::read_coils:
            if (req->address != 0 || req->quantity != 1) return refuse(exception_code::illegal_data_address);
            return reply(encode_response(*req, std::vector<std::uint16_t>{static_cast<std::uint16_t>(d.relay_closed)}));
        case function_code::read_input_registers: {
            std::vector<std::uint16_t> regs;
            for (std::uint32_t a = req->address; a < req->address + req->quantity; a += 2) {
                const float v = simulated_register_value(static_cast<std::uint16_t>(a & ~1U), now,
                                                         static_cast<std::uint8_t>(d.cfg.dev_eui.back()), d.relay_closed);
                if (std::isnan(v) || (a & 1U)) return refuse(exception_code::illegal_data_address);
                auto w = from_float32(v);
                regs.push_back(w[0]);
                if (regs.size() < req->quantity) regs.push_back(w[1]);
            }
            return reply(encode_response(*req, regs));
        }
        case function_code::read_holding_registers:
            if (req->address == 0x0014 && req->quantity <= 2) {
                auto w = from_float32(static_cast<float>(d.cfg.slave));
                return reply(encode_response(*req, std::vector<std::uint16_t>(w.begin(), w.begin() + req->quantity)));
            }
            return refuse(exception_code::illegal_data_address);
        default: return refuse(exception_code::illegal_function);
        }
    }
    // IVY EM114039: register 167, two registers: 0xFFFFFFFF = break (off), 0 = close (on).
    switch (req->function) {
    case function_code::write_multiple_registers:
        if (req->address != 167 || req->quantity != 2) return refuse(exception_code::illegal_data_address);
        set_relay(req->values[0] == 0 && req->values[1] == 0);
        return reply(encode_response(*req));
    case function_code::read_holding_registers: {
        if (req->address != 167 || req->quantity != 2) return refuse(exception_code::illegal_data_address);
        const std::uint16_t v = d.relay_closed ? 0 : 0xFFFF;
        return reply(encode_response(*req, std::vector<std::uint16_t>{v, v}));
    }
    default: return refuse(exception_code::illegal_function);
    }
}

bool network::uplink(simulated_device& d, sys_time now) {
    if (!d.bridge_powered) return false;
    ++d.f_cnt_up;
    ++d.uplinks_sent;
    const bool ack = d.ack_due; // the ACK bit rides on the first uplink after a confirmed downlink
    d.ack_due = false;

    std::uint8_t f_port;
    bytes data;
    if (d.reply_due) {
        f_port = d.cfg.kind == device_kind::uc100_sdm320c ? d.cfg.passthrough_port : std::uint8_t{10};
        data = std::move(*d.reply_due);
        d.reply_due.reset();
        d.reply_at.reset();
    } else {
        f_port = d.cfg.kind == device_kind::uc100_sdm320c ? uc100_report_port : std::uint8_t{10};
        data = periodic_payload(d, now);
        d.next_uplink = schedule_next(d, now);
    }

    std::uniform_real_distribution<double> chance(0.0, 1.0);
    if (d.cfg.faults.uplink_loss > 0 && chance(rng_) < d.cfg.faults.uplink_loss) {
        ++d.uplinks_lost;
        return true;
    }
    d.last_seen = now;
    const std::string info = device_info_json(d);
    const std::string t = integration_time(now);
    {
        const int rssi = -60 - static_cast<int>(d.cfg.dev_eui.back() % 40);
        const std::uint32_t ctx = d.f_cnt_up;
        const bytes context{static_cast<std::uint8_t>(ctx >> 24), static_cast<std::uint8_t>(ctx >> 16),
                            static_cast<std::uint8_t>(ctx >> 8), static_cast<std::uint8_t>(ctx)};
        json::object up{{"deduplicationId", new_uuid()}, {"time", t}, {"devAddr", d.cfg.dev_eui.substr(8)},
                        {"adr", true}, {"dr", d.cfg.data_rate}, {"fCnt", d.f_cnt_up}, {"fPort", f_port},
                        {"confirmed", false}, {"data", to_base64(data)},
                        {"rxInfo", json::array{json::object{{"gatewayId", "0016c001f153a14c"}, {"uplinkId", d.f_cnt_up},
                                                             {"nsTime", t}, {"rssi", rssi}, {"snr", 7.5}, {"location", json::object{}},
                                                             {"context", to_base64(context)}, {"crcStatus", "CRC_OK"}}}},
                        {"txInfo", json::object{{"frequency", 867100000},
                                                {"modulation", json::object{{"lora", json::object{{"bandwidth", 125000},
                                                                                                  {"spreadingFactor", 12 - std::min(d.cfg.data_rate, 5)},
                                                                                                  {"codeRate", "CR_4_5"}}}}}}},
                        {"regionConfigId", "eu868"}};
        std::string s = json::serialize(up);
        s.insert(s.size() - 1, ",\"deviceInfo\":" + info);
        emit(d, "up", std::move(s));
    }
    report_status(d, info, t);
    // A confirmed downlink waiting for this uplink: acknowledged, or not (then dropped, never resent).
    if (!d.queue.empty() && d.queue.front().is_pending) {
        const auto& p = d.queue.front();
        json::object a{{"deduplicationId", new_uuid()}, {"time", t}, {"queueItemId", p.id}, {"acknowledged", ack}, {"fCntDown", p.f_cnt_down}};
        std::string s = json::serialize(a);
        s.insert(s.size() - 1, ",\"deviceInfo\":" + info);
        emit(d, "ack", std::move(s));
        d.queue.erase(d.queue.begin());
    }
    // The downlink opportunity of this uplink.
    while (!d.queue.empty()) {
        queue_entry& item = d.queue.front();
        auto log = [&](const char* level, const char* code, std::string description, json::object context) {
            json::object l{{"time", t}, {"level", level}, {"code", code}, {"description", std::move(description)},
                           {"context", std::move(context)}};
            std::string s = json::serialize(l);
            s.insert(s.size() - 1, ",\"deviceInfo\":" + info);
            emit(d, "log", std::move(s));
        };
        if (item.expires_at && *item.expires_at <= now) {
            log("ERROR", "EXPIRED", "Device queue-item discarded because it has expired", json::object{{"queue_item_id", item.id}});
            d.queue.erase(d.queue.begin());
            continue;
        }
        if (item.data.size() > max_payload(d)) {
            log("ERROR", "DOWNLINK_PAYLOAD_SIZE", "Device queue-item discarded because it exceeds the max. payload size",
                json::object{{"max_payload_size", std::to_string(max_payload(d))},
                             {"item_size", std::to_string(item.data.size())},
                             {"queue_item_id", item.id}});
            d.queue.erase(d.queue.begin());
            continue;
        }
        if (d.cfg.faults.gateway_tx_error > 0 && chance(rng_) < d.cfg.faults.gateway_tx_error) {
            log("ERROR", "DOWNLINK_GATEWAY", "TX_FREQ", json::object{}); // as observed: no queue item id
            break; // the item stays for the next uplink
        }
        item.f_cnt_down = d.f_cnt_down++;
        {
            json::object tx{{"downlinkId", static_cast<std::uint32_t>(rng_())}, {"time", t}, {"queueItemId", item.id},
                            {"fCntDown", item.f_cnt_down}, {"gatewayId", "0016c001f153a14c"},
                            {"txInfo", json::object{{"frequency", 869525000}, {"power", 14},
                                                    {"modulation", json::object{{"lora", json::object{{"bandwidth", 125000},
                                                                                                      {"spreadingFactor", 12 - std::min(d.cfg.data_rate, 5)},
                                                                                                      {"codeRate", "CR_4_5"},
                                                                                                      {"polarizationInversion", true}}}}},
                                                    {"timing", json::object{{"delay", json::object{{"delay", "1s"}}}}},
                                                    {"context", "AAAAAQ=="}}}};
            std::string s = json::serialize(tx);
            s.insert(s.size() - 1, ",\"deviceInfo\":" + info);
            emit(d, "txack", std::move(s));
        }
        const bool reached = !(d.cfg.faults.downlink_loss > 0 && chance(rng_) < d.cfg.faults.downlink_loss);
        d.downlinks.push_back({now, item.id, item.f_cnt_down, item.f_port, item.confirmed, item.data, reached});
        if (reached) {
            if (item.confirmed) d.ack_due = true;
            const std::uint8_t app_port = d.cfg.kind == device_kind::uc100_sdm320c ? d.cfg.passthrough_port : std::uint8_t{10};
            if (item.f_port == app_port) {
                // Without a Modbus reply the ACK (if any) still goes out with the device's next uplink.
                if (auto r = meter_execute(d, item.data, now)) {
                    d.reply_due = std::move(*r);
                    d.reply_at = now + std::chrono::duration_cast<std::chrono::nanoseconds>(d.cfg.faults.reply_delay);
                }
            }
            if (!d.bridge_powered) d.ack_due = false; // it died before it could answer
        }
        if (item.confirmed)
            item.is_pending = true;
        else
            d.queue.erase(d.queue.begin());
        break;
    }
    release();
    return true;
}

void network::join(simulated_device& d, sys_time now, bool flush_queue) {
    if (flush_queue) d.queue.clear();
    d.f_cnt_up = 0;
    d.f_cnt_down = 0;
    d.ack_due = false;
    json::object j{{"deduplicationId", new_uuid()}, {"time", integration_time(now)}, {"devAddr", d.cfg.dev_eui.substr(8)},
                   {"regionConfigId", "eu868"}};
    std::string s = json::serialize(j);
    s.insert(s.size() - 1, ",\"deviceInfo\":" + device_info_json(d));
    emit(d, "join", std::move(s));
    release();
}

void network::restore_power(simulated_device& d, sys_time now) {
    if (d.bridge_powered) return;
    d.bridge_powered = true;
    d.cfg.power = wiring::line_side; // the technician rewires it to the line side
    d.next_uplink = now + std::chrono::seconds(10);
    join(d, now, false);
}

std::optional<sys_time> network::next_due() const {
    std::optional<sys_time> best;
    for (const auto& [eui, d] : devices_) {
        if (!d.bridge_powered) continue;
        sys_time t = d.reply_at && *d.reply_at < d.next_uplink ? *d.reply_at : d.next_uplink;
        if (!best || t < *best) best = t;
    }
    return best;
}

std::size_t network::run_due(sys_time now) {
    std::size_t n = 0;
    for (auto& [eui, d] : devices_) {
        if (!d.bridge_powered) continue;
        const bool reply_ready = d.reply_due && d.reply_at && *d.reply_at <= now;
        if (reply_ready || d.next_uplink <= now) {
            uplink(d, now);
            ++n;
        }
    }
    return n;
}

} // namespace relaylink::sim
