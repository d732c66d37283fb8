// ChirpStack integration events: every reference example, both timestamp forms, unknown fields and
// types, malformed and truncated input with the field named, topics.
#include "../support/test_data.hpp"

#include <relaylink/chirpstack/event.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace relaylink;
using namespace relaylink::chirpstack;

namespace {
std::string load(const std::string& name) { return relaylink::test::read_test_data("events/" + name); }
template <class T>
T parse_as(std::string_view type, const std::string& payload) {
    auto r = parse_event(type, payload);
    if (!r) throw std::runtime_error(r.error().message);
    return std::get<T>(*r);
}
std::string refusal(std::string_view type, const std::string& payload) {
    auto r = parse_event(type, payload);
    return r ? "accepted" : r.error().message;
}
std::string replace(std::string s, const std::string& from, const std::string& to) {
    auto at = s.find(from);
    if (at == std::string::npos) throw std::logic_error("test bug: no " + from);
    return s.replace(at, from.size(), to);
}
} // namespace

TEST(Events, UpFromTheReference) {
    auto e = parse_as<up_event>("up", load("up.json"));
    EXPECT_EQ(e.deduplication_id, "3ac7e3c4-4401-4b8d-9386-a5c902f9202d");
    EXPECT_EQ(format_rfc3339(e.time), "2026-07-18T09:34:15.775023242Z");
    EXPECT_EQ(e.device.dev_eui, "0101010101010101");
    EXPECT_EQ(e.device.application_id, "17c82e96-be03-4f38-aef3-f83d48582d97");
    EXPECT_EQ(e.device.tags.at("key"), "value");
    EXPECT_EQ(e.f_cnt, 10u);
    EXPECT_EQ(e.f_port, 1);
    EXPECT_EQ(to_hex(e.data), "AA");
    EXPECT_EQ(e.rssi, -36);
    EXPECT_DOUBLE_EQ(*e.snr, 10.5);
    EXPECT_EQ(e.gateway_id, "0016c001f153a14c");
    EXPECT_EQ(e.gateways, 1u);
    EXPECT_TRUE(e.adr);
    EXPECT_EQ(e.dr, 1);
}

TEST(Events, UpPicksTheBestGateway) {
    auto json = replace(load("up.json"), R"("rxInfo":[{)",
                        R"("rxInfo":[{"gatewayId":"aaaaaaaaaaaaaaaa","rssi":-110,"snr":-3.5},{"gatewayId":"bbbbbbbbbbbbbbbb","rssi":-20,"snr":7},{)");
    auto e = parse_as<up_event>("up", json);
    EXPECT_EQ(e.gateways, 3u);
    EXPECT_EQ(e.rssi, -20);
    EXPECT_EQ(e.gateway_id, "bbbbbbbbbbbbbbbb");
}

TEST(Events, AckTxackLogFromTheReference) {
    auto a = parse_as<ack_event>("ack", load("ack.json"));
    EXPECT_EQ(a.queue_item_id, "1bbcab1d-6ec6-4136-b3f5-d63be1dc08de");
    EXPECT_TRUE(a.acknowledged);
    EXPECT_EQ(a.f_cnt_down, 3u);
    EXPECT_EQ(format_rfc3339(a.time), "2026-07-18T09:44:15.1Z");
    auto t = parse_as<txack_event>("txack", load("txack.json"));
    EXPECT_EQ(t.queue_item_id, "42cb6459-1f1b-4c1e-8a43-3c43e8a2c7f1");
    EXPECT_EQ(t.downlink_id, 3461958127u);
    EXPECT_EQ(t.gateway_id, "0016c001f153a14c");
    EXPECT_EQ(t.f_cnt_down, 2u);
    auto l = parse_as<log_event>("log", load("log.json"));
    EXPECT_EQ(l.level, chirpstack::log_level::error);
    EXPECT_EQ(l.code, "DOWNLINK_PAYLOAD_SIZE");
    EXPECT_EQ(l.queue_item_id(), "6f1c2c4e-0c3e-4a55-9b1a-2f0d2a9c1e11");
    EXPECT_EQ(l.context.at("max_payload_size"), "51");
}

TEST(Events, LogWithoutQueueItemHasNone) {
    auto json = replace(replace(load("log.json"), "DOWNLINK_PAYLOAD_SIZE", "DOWNLINK_GATEWAY"),
                        R"("context":{"max_payload_size":"51","item_size":"60","queue_item_id":"6f1c2c4e-0c3e-4a55-9b1a-2f0d2a9c1e11"})",
                        R"("context":{})");
    EXPECT_FALSE(parse_as<log_event>("log", json).queue_item_id());
}

TEST(Events, StatusJoinLocation) {
    const std::string info = R"("deviceInfo":{"devEui":"0101010101010101","tags":{}})";
    auto s = parse_as<status_event>("status", R"({"deduplicationId":"d","time":"2026-07-18T09:00:00Z",)" + info +
                                                  R"(,"margin":7,"externalPowerSource":false,"batteryLevelUnavailable":false,"batteryLevel":87.5})");
    EXPECT_EQ(s.margin, 7);
    EXPECT_DOUBLE_EQ(s.battery_level, 87.5);
    auto j = parse_as<join_event>("join", R"({"deduplicationId":"d","time":"2026-07-18T09:00:00Z",)" + info + R"(,"devAddr":"01020304"})");
    EXPECT_EQ(j.dev_addr, "01020304");
    auto l = parse_as<location_event>("location", R"({"deduplicationId":"d","time":"2026-07-18T09:00:00Z",)" + info +
                                                      R"(,"location":{"latitude":-26.2,"longitude":28.04,"altitude":1753,"source":"GEO_RESOLVER_TDOA","accuracy":20}})");
    EXPECT_DOUBLE_EQ(l.latitude, -26.2);
    EXPECT_EQ(l.source, "GEO_RESOLVER_TDOA");
}

TEST(Events, BothTimestampFormsAndNanoseconds) {
    for (auto [text, expect] : std::vector<std::pair<std::string, std::string>>{
             {"2026-07-18T09:34:15Z", "2026-07-18T09:34:15Z"},
             {"2026-07-18T09:34:15+00:00", "2026-07-18T09:34:15Z"},
             {"2026-07-18T11:34:15.5+02:00", "2026-07-18T09:34:15.5Z"},
             {"2026-07-18T09:34:15.000000001Z", "2026-07-18T09:34:15.000000001Z"},
             {"2026-07-18T09:34:15.1234567891234Z", "2026-07-18T09:34:15.123456789Z"}}) {
        auto json = replace(load("ack.json"), "2026-07-18T09:44:15.1+00:00", text);
        EXPECT_EQ(format_rfc3339(parse_as<ack_event>("ack", json).time), expect) << text;
    }
}

TEST(Events, UpperCaseDevEuiIsNormalised) {
    auto json = replace(load("ack.json"), R"("devEui":"0101010101010101")", R"("devEui":"ABCDEF0101010101")");
    EXPECT_EQ(parse_as<ack_event>("ack", json).device.dev_eui, "abcdef0101010101");
}

TEST(Events, UnknownTypeIsTypedNotAnError) {
    auto r = parse_event("integration", load("ack.json"));
    ASSERT_TRUE(r);
    auto& u = std::get<unknown_event>(*r);
    EXPECT_EQ(u.type, "integration");
    ASSERT_TRUE(u.device);
    EXPECT_EQ(u.device->dev_eui, "0101010101010101");
    EXPECT_EQ(type_of(*r), "integration");
    EXPECT_EQ(dev_eui_of(*r), "0101010101010101");
    EXPECT_TRUE(parse_event("brand_new", "{}"));
}

TEST(Events, MalformedFieldsAreNamed) {
    EXPECT_EQ(refusal("up", replace(load("up.json"), R"("fCnt":10)", R"("fCnt":"ten")")),
              R"(up event: field 'fCnt' must be an integer 0-4294967295, got "ten")");
    EXPECT_EQ(refusal("up", replace(load("up.json"), R"("fPort":1)", R"("fPort":300)")),
              "up event: field 'fPort' must be an integer 0-255, got 300");
    EXPECT_EQ(refusal("up", replace(load("up.json"), R"("data":"qg==")", R"("data":"q*g")")),
              R"(up event: field 'data' must be base64, got "q*g")");
    EXPECT_EQ(refusal("up", replace(load("up.json"), R"("rssi":-36)", R"("rssi":"loud")")),
              R"(up event: field 'rxInfo[0].rssi' must be an integer -200-50, got "loud")");
    EXPECT_EQ(refusal("ack", replace(load("ack.json"), R"("queueItemId":"1bbcab1d-6ec6-4136-b3f5-d63be1dc08de",)", "")),
              "ack event: field 'queueItemId' is required, got nothing");
    EXPECT_EQ(refusal("ack", replace(load("ack.json"), R"("acknowledged":true)", R"("acknowledged":"yes")")),
              R"(ack event: field 'acknowledged' must be true or false, got "yes")");
    EXPECT_EQ(refusal("ack", replace(load("ack.json"), "2026-07-18T09:44:15.1+00:00", "yesterday")),
              R"(ack event: field 'time' must be an RFC 3339 time, got "yesterday")");
    EXPECT_EQ(refusal("txack", replace(load("txack.json"), R"("devEui":"0101010101010101")", R"("devEui":"01")")),
              R"(txack event: field 'deviceInfo.devEui' must be 16 hex digits, got "01")");
    EXPECT_EQ(refusal("log", replace(load("log.json"), R"("level":"ERROR")", R"("level":"PANIC")")),
              R"(log event: field 'level' must be INFO, WARNING or ERROR, got "PANIC")");
    EXPECT_EQ(refusal("up", R"({"time":"2026-07-18T09:34:15Z"})"), "up event: field 'deviceInfo' is required, got nothing");
    EXPECT_EQ(refusal("up", "[1,2]"), "up event must be a JSON object");
    EXPECT_EQ(refusal("", "{}"), "event type is empty");
}

TEST(Events, TruncatedAndBinaryInputIsRefusedNotCrashed) {
    const auto full = load("up.json");
    for (std::size_t n = 0; n < full.size(); n += 7) {
        auto r = parse_event("up", full.substr(0, n));
        EXPECT_FALSE(r) << n;
        if (!r) {
            EXPECT_NE(r.error().message.find("up event"), std::string::npos);
        }
    }
    // the start of a protobuf-encoded up event: field 1 (deduplicationId), then a Timestamp submessage
    auto proto = refusal("up", std::string("\x0a\x24" "3ac7e3c4-4401-4b8d-9386-a5c902f9202d" "\x12\x0c\x08\xa7\xd5\x9c\xb5\x06", 46));
    EXPECT_NE(proto.find("protobuf"), std::string::npos) << proto;
}

TEST(Events, AParserIsReusableAcrossManyEvents) {
    event_parser p;
    const auto up = load("up.json");
    const auto ack = load("ack.json");
    for (int i = 0; i < 1000; ++i) {
        ASSERT_TRUE(p.parse("up", up));
        ASSERT_TRUE(p.parse("ack", ack));
        ASSERT_FALSE(p.parse("ack", "{"));
    }
}

TEST(Topics, ParseApplicationDeviceAndEventType) {
    auto t = parse_topic("application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up").value();
    EXPECT_EQ(t.application_id, "17c82e96-be03-4f38-aef3-f83d48582d97");
    EXPECT_EQ(t.dev_eui, "0101010101010101");
    EXPECT_EQ(t.event_type, "up");
    EXPECT_EQ(parse_topic("application/a/device/0A0B0C0D0E0F1011/event/txack").value().dev_eui, "0a0b0c0d0e0f1011");
}

TEST(Topics, ForeignTopicsAreRefusedWithTheTopicNamed) {
    for (const char* t : {"application/a/device/0101010101010101/command/down", "gateway/0016c001f153a14c/event/up",
                          "application/a/device/0101/event/up", "application//device/0101010101010101/event/up",
                          "application/a/device/0101010101010101/event/", "application/a/device/0101010101010101/event/up/x", ""}) {
        auto r = parse_topic(t);
        ASSERT_FALSE(r) << t;
        EXPECT_NE(r.error().message.find("topic '"), std::string::npos);
    }
}

TEST(EventFastPath, AllAsciiFindsAHighByteAtEveryPositionAndLength) {
    // The pre-scan that lets an ASCII payload skip UTF-8 validation reads 8, then 1 byte a step.
    using relaylink::chirpstack::detail::all_ascii;
    for (std::size_t n = 0; n <= 100; ++n) {
        std::string s(n, 'a');
        EXPECT_TRUE(all_ascii(s)) << n;
        for (std::size_t at = 0; at < n; ++at) {
            std::string t = s;
            t[at] = static_cast<char>(0x80 | (at & 0x7f));
            EXPECT_FALSE(all_ascii(t)) << n << " " << at;
        }
    }
}

TEST(Time, Rfc3339RoundTripsAndRefusesNonsense) {
    auto t = parse_rfc3339("2026-02-28T23:59:59.999Z").value();
    EXPECT_EQ(format_rfc3339(t), "2026-02-28T23:59:59.999Z");
    // Fractions of any length: a tenth, nanoseconds, and digits below a nanosecond (dropped, not rounded).
    const auto whole = parse_rfc3339("2026-07-18T09:34:15Z").value();
    EXPECT_EQ(parse_rfc3339("2026-07-18T09:34:15.5Z").value() - whole, std::chrono::milliseconds(500));
    EXPECT_EQ(parse_rfc3339("2026-07-18T09:34:15.000000001Z").value() - whole, std::chrono::nanoseconds(1));
    EXPECT_EQ(parse_rfc3339("2026-07-18T09:34:15.775023242+00:00").value() - whole, std::chrono::nanoseconds(775023242));
    EXPECT_EQ(parse_rfc3339("2026-07-18T09:34:15.775023242999+00:00").value() - whole, std::chrono::nanoseconds(775023242));
    EXPECT_EQ(parse_rfc3339("2026-07-18T11:34:15.25+02:00").value() - whole, std::chrono::milliseconds(250));
    for (const char* bad : {"2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01 00:00:00",
                            "2026-01-01T00:00:00", "2026-01-01T00:00:00+0200", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00Zjunk", "",
                            "8782-07-18T09:34:16+00:00", "1600-01-01T00:00:00Z"})
        EXPECT_FALSE(parse_rfc3339(bad)) << bad;
}

// ---- events captured from a real ChirpStack 4.20 (tests/data/chirpstack-4.20-events) ---------------
namespace {
std::string captured(const std::string& name) { return relaylink::test::read_test_data("chirpstack-4.20-events/" + name); }
void expect_real_device(const device_info& d, const std::string& eui, const std::string& name, const std::string& profile = "uc100-abp") {
    EXPECT_EQ(d.dev_eui, eui);
    EXPECT_EQ(d.device_name, name);
    EXPECT_EQ(d.tenant_name, "relaylink-heldout");
    EXPECT_EQ(d.application_id, "3cb94daa-353d-4e4b-be2c-8cf5bb712b04");
    EXPECT_EQ(d.application_name, "meters");
    EXPECT_EQ(d.device_profile_name, profile);
    EXPECT_EQ(d.device_class_enabled, "CLASS_A");
    EXPECT_TRUE(d.tags.empty());
}
} // namespace

TEST(CapturedEvents, UpAsChirpStack420PublishedIt) {
    auto e = parse_as<up_event>("up", captured("up.json"));
    expect_real_device(e.device, "70b3d5e700000001", "meter-1");
    EXPECT_EQ(e.deduplication_id, "ece521a8-2e83-4567-920f-1dcf99e754a9");
    EXPECT_EQ(format_rfc3339(e.time), "2026-12-01T07:31:14.858015762Z");
    EXPECT_EQ(e.dev_addr, "01000001");
    EXPECT_FALSE(e.adr);
    EXPECT_EQ(e.dr, 5);
    EXPECT_EQ(e.f_cnt, 0u);
    EXPECT_EQ(e.f_port, 85);
    EXPECT_FALSE(e.confirmed);
    EXPECT_EQ(to_hex(e.data), "FF0BFF0101FF166746D38802580000");
    EXPECT_EQ(e.rssi, -61);
    EXPECT_DOUBLE_EQ(*e.snr, 8.5);
    EXPECT_EQ(e.gateway_id, "0016c001f153a14c");
    EXPECT_EQ(e.gateways, 1u);
}

TEST(CapturedEvents, UpWithACodecObjectParsesAndKeepsItsData) {
    auto e = parse_as<up_event>("up", captured("up_with_codec_object.json"));
    expect_real_device(e.device, "70b3d5e700000001", "meter-1");
    EXPECT_EQ(e.f_cnt, 15u);
    EXPECT_EQ(e.f_port, 85);
    EXPECT_EQ(to_hex(e.data), "FF0BFF0101FF166746D38802580000"); // the decoded object does not replace the bytes
}

TEST(CapturedEvents, TxackNamesTheQueueItemAndFCntDown) {
    auto e = parse_as<txack_event>("txack", captured("txack.json"));
    expect_real_device(e.device, "70b3d5e700000002", "meter-2");
    EXPECT_EQ(e.downlink_id, 589055275u);
    EXPECT_EQ(e.queue_item_id, "e296423e-3aa7-4834-868d-1051d10ba457");
    EXPECT_EQ(e.f_cnt_down, 1u);
    EXPECT_EQ(e.gateway_id, "0016c001f153a14c");
    EXPECT_EQ(format_rfc3339(e.time), "2026-12-01T07:31:34.809256675Z");
}

TEST(CapturedEvents, AckTrueAndFalse) {
    auto yes = parse_as<ack_event>("ack", captured("ack_true.json"));
    expect_real_device(yes.device, "70b3d5e700000002", "meter-2");
    EXPECT_TRUE(yes.acknowledged);
    EXPECT_EQ(yes.queue_item_id, "e296423e-3aa7-4834-868d-1051d10ba457"); // the txack's item
    EXPECT_EQ(yes.f_cnt_down, 1u);
    EXPECT_EQ(yes.deduplication_id, "404915aa-da91-43d1-ac38-5d9e610d7a0c");
    auto no = parse_as<ack_event>("ack", captured("ack_false.json"));
    expect_real_device(no.device, "70b3d5e700000003", "meter-3");
    EXPECT_FALSE(no.acknowledged);
    EXPECT_EQ(no.queue_item_id, "4390bbbd-2636-4f2a-bfa5-988edd751670");
    EXPECT_EQ(no.f_cnt_down, 2u);
}

TEST(CapturedEvents, JoinCarriesNoQueueInformation) {
    auto e = parse_as<join_event>("join", captured("join.json"));
    expect_real_device(e.device, "70b3d5e7000000a1", "meter-otaa", "uc100-otaa");
    EXPECT_EQ(e.dev_addr, "00b38111");
    EXPECT_EQ(e.deduplication_id, "42f5a206-9609-4f3c-b195-6c058228ca7a");
}

TEST(CapturedEvents, StatusCarriesTheBatteryAndMargin) {
    auto e = parse_as<status_event>("status", captured("status.json"));
    expect_real_device(e.device, "70b3d5e700000001", "meter-1");
    EXPECT_EQ(e.margin, 10);
    EXPECT_FALSE(e.external_power_source);
    EXPECT_FALSE(e.battery_level_unavailable);
    EXPECT_DOUBLE_EQ(e.battery_level, 100.0);
}

TEST(CapturedEvents, LogsAndTheQueueItemTheyNameOrDoNot) {
    auto expired = parse_as<log_event>("log", captured("log_EXPIRED.json"));
    expect_real_device(expired.device, "70b3d5e700000004", "meter-4");
    EXPECT_EQ(expired.code, "EXPIRED");
    EXPECT_EQ(expired.level, chirpstack::log_level::error);
    EXPECT_EQ(expired.queue_item_id(), "f0b4e320-139b-48d8-8d99-25acaebfdd6e");

    auto size = parse_as<log_event>("log", captured("log_DOWNLINK_PAYLOAD_SIZE.json"));
    EXPECT_EQ(size.code, "DOWNLINK_PAYLOAD_SIZE");
    EXPECT_EQ(size.queue_item_id(), "497d6c69-4e53-4e17-b707-551d9f1436f6");
    EXPECT_EQ(size.context.at("item_size"), "250");
    EXPECT_EQ(size.context.at("max_payload_size"), "242");

    // Observed: DOWNLINK_GATEWAY has an empty context, so no queue item id; the item stays queued.
    auto gateway = parse_as<log_event>("log", captured("log_DOWNLINK_GATEWAY.json"));
    EXPECT_EQ(gateway.code, "DOWNLINK_GATEWAY");
    EXPECT_EQ(gateway.description, "TX_FREQ");
    EXPECT_TRUE(gateway.context.empty());
    EXPECT_FALSE(gateway.queue_item_id());

    auto codec = parse_as<log_event>("log", captured("log_UPLINK_CODEC.json"));
    EXPECT_EQ(codec.code, "UPLINK_CODEC");
    EXPECT_NE(codec.description.find("bad frame"), std::string::npos);
    EXPECT_EQ(codec.context.at("deduplication_id"), "5111443d-36e3-497f-955c-6f5dbdbcdf1a");
    EXPECT_FALSE(codec.queue_item_id());

    auto retrans = parse_as<log_event>("log", captured("log_UPLINK_F_CNT_RETRANSMISSION.json"));
    EXPECT_EQ(retrans.code, "UPLINK_F_CNT_RETRANSMISSION");
    EXPECT_EQ(retrans.level, chirpstack::log_level::warning);
    EXPECT_EQ(retrans.context.at("f_cnt_up"), "10");
}

// --- The fast path (up, ack, txack, join read without a DOM) against the DOM path ------------------------------
namespace {
/// parse() and parse_dom() agree: the same event, or the same refusal. Returns which path parse() took.
std::string agree(event_parser& p, std::string_view type, const std::string& payload) {
    const auto fast_before = p.fast_parses();
    auto r = p.parse(type, payload);
    auto d = p.parse_dom(type, payload);
    EXPECT_EQ(r.has_value(), d.has_value()) << type << ": " << payload;
    if (r && d) {
        EXPECT_TRUE(*r == *d) << type << ": " << payload;
    }
    if (!r && !d) {
        EXPECT_EQ(r.error().field, d.error().field) << payload;
        EXPECT_EQ(r.error().message, d.error().message) << payload;
    }
    return p.fast_parses() > fast_before ? "fast" : "dom";
}
} // namespace

TEST(EventsFastPath, EveryCapturedEventAndReferenceExampleGivesWhatTheDomPathGives) {
    event_parser p;
    for (auto [type, file] : std::initializer_list<std::pair<const char*, const char*>>{
             {"up", "up.json"}, {"up", "up_with_codec_object.json"}, {"ack", "ack_true.json"}, {"ack", "ack_false.json"},
             {"txack", "txack.json"}, {"join", "join.json"}})
        EXPECT_EQ(agree(p, type, captured(file)), "fast") << file;
    for (auto [type, file] : std::initializer_list<std::pair<const char*, const char*>>{
             {"log", "log_EXPIRED.json"}, {"log", "log_DOWNLINK_GATEWAY.json"}, {"status", "status.json"}})
        EXPECT_EQ(agree(p, type, captured(file)), "dom") << file; // the other types are the DOM path's alone
    for (auto [type, file] : std::initializer_list<std::pair<const char*, const char*>>{
             {"up", "up.json"}, {"ack", "ack.json"}, {"txack", "txack.json"}})
        EXPECT_EQ(agree(p, type, load(file)), "fast") << file;
    // The fields themselves, read by the fast path from the captured uplink (the DOM path's are checked above).
    auto e = std::get<up_event>(*p.parse("up", captured("up.json")));
    auto d = std::get<up_event>(*p.parse_dom("up", captured("up.json")));
    EXPECT_EQ(e.device.dev_eui, d.device.dev_eui);
    EXPECT_FALSE(e.data.empty());
    EXPECT_GE(e.gateways, 1u);
}

TEST(EventsFastPath, WhatItDoesNotTakeTheDomPathAnswersTheSame) {
    event_parser p;
    const std::string up = load("up.json");
    const std::string ack = load("ack.json");
    struct variant { std::string type, payload, path; };
    const std::vector<variant> variants = {
        // taken by the fast path
        {"up", replace(up, R"("key":"value")", R"("key":"va\"lue\u00e9")"), "fast"},      // escapes
        {"up", replace(up, R"("devEui":"0101010101010101")", R"("dev\u0045ui":"01010101010101AB")"), "fast"},
        {"up", replace(up, R"("adr":true)", R"("adr":null)"), "fast"},                    // null: absent
        {"up", replace(up, R"("rxInfo":[)", R"("rxInfo":[{"rssi":-99,"snr":1,"gatewayId":"weaker"},)"), "fast"},
        {"up", replace(up, R"("rxInfo":[)", R"("rxInfo":[{"rssi":10,"snr":-3,"gatewayId":"stronger"},)"), "fast"},
        {"up", replace(up, R"("rxInfo":[)", R"("ignored":{"a":[1,{"b":[]}],"c":null},"rxInfo":[)"), "fast"},
        {"up", replace(up, R"("fPort":1)", R"("fPort":255)"), "fast"},
        // given to the DOM path, which accepts
        {"up", replace(up, R"("fCnt":10)", R"("fCnt":"10")"), "dom"},                     // an integer as a string
        {"up", replace(up, R"("fCnt":10)", R"("fCnt":1e1)"), "dom"},                      // as a double
        {"up", replace(up, R"("key":"value")", R"("key":5)"), "dom"},                     // a number in tags
        {"up", replace(up, R"("key":"value")", R"("key":null)"), "dom"},
        {"up", replace(up, R"("key":"value")", R"("key":"value","key":"other")"), "dom"}, // a tag twice
        {"up", replace(up, R"("fCnt":10)", R"("fCnt":10,"fCnt":11)"), "dom"},             // a field twice
        {"up", replace(up, R"("rssi":-36)", R"("rssi":-36,"snr":"x")"), "dom"},
        {"ack", replace(ack, R"("acknowledged":true)", R"("acknowledged":true,"data":7)"), "dom"}, // a field acks lack
        // refused by the DOM path, with the field named
        {"up", replace(up, R"("fPort":1)", R"("fPort":256)"), "dom"},
        {"up", replace(up, R"("rssi":-36)", R"("rssi":51)"), "dom"},
        {"up", replace(up, R"("rssi":-36)", R"("rssi":4294967296)"), "dom"},
        {"up", replace(up, R"("rxInfo":[)", R"("rxInfo":[null,)"), "dom"},
        {"up", replace(up, R"("rxInfo":[)", R"("rxInfo":[7,)"), "dom"},
        {"up", replace(up, R"("rxInfo":[)", R"("rxInfo":[[],)"), "dom"},
        {"up", replace(up, R"("data":"qg==")", R"("data":"AQU*")"), "dom"},
        {"up", replace(up, R"("devEui":"0101010101010101")", R"("devEui":"01010101010101")"), "dom"},
        {"up", replace(up, R"("devEui":"0101010101010101")", R"("devEui":null)"), "dom"},
        {"up", replace(up, R"("time":)", R"("tim":)"), "dom"},
        {"up", replace(up, R"("deviceInfo":)", R"("deviceInfo":null,"x":)"), "dom"},
        {"up", replace(up, R"("deviceInfo":)", R"("deviceInfo":[],"x":)"), "dom"},
        {"up", replace(up, R"("adr":true)", R"("adr":"yes")"), "dom"},
        {"up", replace(up, R"("devAddr":"00189440")", R"("devAddr":{"a":1})"), "dom"},
        {"up", up + " x", "dom"},
        {"up", up.substr(0, up.size() / 2), "dom"},
        {"up", "[1,2]", "dom"},
        {"up", "\"up\"", "dom"},
        {"up", "{}", "dom"},
        {"ack", replace(ack, R"("queueItemId":)", R"("queueItem":)"), "dom"},
        {"txack", R"({"time":"2026-07-18T09:34:15Z","deviceInfo":{"devEui":"0101010101010101"},"queueItemId":"q","downlinkId":-1})", "dom"},
    };
    for (const auto& v : variants) EXPECT_EQ(agree(p, v.type, v.payload), v.path) << v.payload;
}

TEST(EventsFastPath, MutatedEventsGetTheSameAnswerFromBothPaths) {
    // Every byte of each captured event deleted, doubled, or replaced by one of JSON's structural characters:
    // several thousand inputs near the real ones, where the two paths' rules meet.
    event_parser p;
    std::size_t inputs = 0, fast = 0;
    for (auto [type, file] : std::initializer_list<std::pair<const char*, const char*>>{
             {"up", "up.json"}, {"ack", "ack_true.json"}, {"txack", "txack.json"}, {"join", "join.json"}}) {
        const std::string base = captured(file);
        for (std::size_t i = 0; i < base.size(); ++i) {
            std::string deleted = base, doubled = base, swapped = base;
            deleted.erase(i, 1);
            doubled.insert(i, 1, base[i]);
            swapped[i] = "{}[],:\"0n"[i % 9];
            for (const auto* m : {&deleted, &doubled, &swapped}) {
                fast += agree(p, type, *m) == "fast";
                ++inputs;
            }
            if (::testing::Test::HasFailure()) return;
        }
    }
    EXPECT_GT(inputs, 5000u);
    EXPECT_GT(fast, inputs / 4); // most mutations inside strings keep the event plain
}
