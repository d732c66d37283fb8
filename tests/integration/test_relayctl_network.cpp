// relayctl enqueue / queue / flush / device, run as a user would, against a scripted ChirpStack.
#include "../support/fake_http_server.hpp"
#include "../support/mosquitto.hpp"
#include "../support/ports.hpp"
#include "../support/temp_db.hpp"

#include <relaylink/sim/simulator.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <future>
#include <sys/wait.h>
#include <thread>

using relaylink::test::fake_http_server;
using relaylink::test::reply;

namespace {
struct run_result {
    int code;
    std::string output;
};
run_result relayctl(const std::string& args) {
    std::string cmd = std::string(RELAYCTL_PATH) + " " + args + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[512];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}
reply body(std::string b, unsigned status = 200) {
    reply r;
    r.status = status;
    r.body = std::move(b);
    return r;
}
std::string net(const fake_http_server& s) { return "--url " + s.url() + " --api-key cli-key-123"; }
} // namespace

TEST(RelayctlNetwork, EnqueuePrintsTheQueueItemIdAndSendsTheFrame) {
    fake_http_server s;
    s.expect("POST", "/api/devices/0102030405060708/queue", body(R"({"id":"5e7a0000-0000-0000-0000-000000000001"})"));
    auto r = relayctl("enqueue 0102030405060708 --fport 5 --data-hex 010500000000CDCA --confirmed --expires-in 10m " + net(s));
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(r.output, "5e7a0000-0000-0000-0000-000000000001\n");
    auto item = boost::json::parse(s.requests().at(0).body).at("queueItem");
    EXPECT_EQ(item.at("data"), "AQUAAAAAzco=");
    EXPECT_EQ(item.at("confirmed"), true);
    EXPECT_TRUE(item.as_object().contains("expiresAt"));
    EXPECT_EQ(s.requests().at(0).headers.at("grpc-metadata-authorization"), "Bearer cli-key-123");
}

TEST(RelayctlNetwork, QueueListsHexAndBase64) {
    fake_http_server s;
    s.expect("GET", "/api/devices/0102030405060708/queue",
             body(R"({"totalCount":1,"result":[{"id":"q1","devEui":"0102030405060708","confirmed":true,"fPort":5,
               "data":"AQUAAAAAzco=","isPending":true,"fCntDown":4,"isEncrypted":false,"expiresAt":null}]})"));
    auto r = relayctl("queue 0102030405060708 " + net(s));
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("q1  fPort 5  confirmed  pending-ack  fCntDown 4  expires never"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("hex 01 05 00 00 00 00 CD CA   base64 AQUAAAAAzco="), std::string::npos) << r.output;
}

TEST(RelayctlNetwork, FlushAndDevice) {
    fake_http_server s;
    s.expect("DELETE", "/api/devices/0102030405060708/queue", body("{}"));
    s.expect("GET", "/api/devices/0102030405060708",
             body(R"({"device":{"devEui":"0102030405060708","name":"meter-7"},"lastSeenAt":"2026-07-18T09:34:15Z","classEnabled":"CLASS_A"})"));
    EXPECT_EQ(relayctl("flush 0102030405060708 " + net(s)).output,
              "queue of 0102030405060708 flushed (an item that was sent and awaited its ACK too: its ack event will not come)\n");
    auto d = relayctl("device 0102030405060708 --json " + net(s));
    EXPECT_EQ(d.code, 0);
    EXPECT_EQ(boost::json::parse(d.output).at("lastSeenAt"), "2026-07-18T09:34:15Z");
}

TEST(RelayctlNetwork, ErrorsCarryChirpStacksMessageAndStatusAndExitNonZero) {
    fake_http_server s;
    s.expect("GET", "/api/devices/0102030405060708/queue",
             body(R"J({"code":5,"message":"Object does not exist (id: 0102030405060708)","details":[]})J", 404));
    auto r = relayctl("queue 0102030405060708 " + net(s));
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.output, "relayctl: ChirpStack HTTP 404: Object does not exist (id: 0102030405060708)\n");
}

TEST(RelayctlNetwork, BadArgumentsAreRefusedBeforeAnythingIsSent) {
    fake_http_server s;
    auto no_key = relayctl("queue 0102030405060708 --url " + s.url());
    EXPECT_EQ(no_key.code, 2);
    EXPECT_NE(no_key.output.find("no API key"), std::string::npos);
    EXPECT_NE(relayctl("enqueue 0102030405060708 --fport 0 --data-hex 01 " + net(s)).output.find("--fport must be an integer 1-223"),
              std::string::npos);
    EXPECT_NE(relayctl("enqueue 0102030405060708 --fport 5 --data-hex 0G " + net(s)).output.find("is not hex"), std::string::npos);
    EXPECT_NE(relayctl("enqueue 0102030405060708 --fport 5 --data-hex 01 --expires-in 10x " + net(s)).output.find("--expires-in"),
              std::string::npos);
    EXPECT_NE(relayctl("enqueue 0102030405060708 --data-hex 01 " + net(s)).output.find("needs --fport"), std::string::npos);
    EXPECT_NE(relayctl("queue 0102 " + net(s)).output.find("DevEUI must be 16 hex digits, got 4"), std::string::npos);
    EXPECT_NE(relayctl("queue 0102030405060708 --url ftp://x --api-key k").output.find("must start with http://"), std::string::npos);
    EXPECT_TRUE(s.requests().empty());
}

TEST(RelayctlNetwork, TheApiKeyIsNeverPrinted) {
    fake_http_server s;
    s.always("GET", "/api/devices/0102030405060708/queue",
             body(R"({"code":16,"message":"bad token cli-key-123","details":[]})", 401));
    auto r = relayctl("queue 0102030405060708 " + net(s));
    EXPECT_EQ(r.output.find("cli-key-123"), std::string::npos) << r.output;
}

namespace {

/// The simulator on its own thread (timed at 600x by default: a 10-minute uplink interval takes 1 s).
struct sim_thread {
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    relaylink::sim::simulator sim;
    std::thread thread;
    explicit sim_thread(relaylink::sim::simulator_config c) : sim(io.get_executor(), std::move(c)) {
        relaylink::sim::device_config d;
        d.dev_eui = "0101010101010101";
        d.uplink_interval = std::chrono::minutes(10);
        sim.add_device(d);
        sim.start();
        thread = std::thread([this] { io.run(); });
    }
    ~sim_thread() {
        sim.stop();
        work.reset();
        thread.join();
    }
    std::string net() const { return "--url " + sim.url() + " --api-key " + sim.settings().api_key; }
};

} // namespace

TEST(RelayctlEvents, OffWaitFollowsTheCommandThroughAnMqttBroker) {
    relaylink::test::mosquitto_broker broker;
    relaylink::sim::simulator_config c;
    c.mqtt_url = broker.url();
    c.mqtt_qos = 1; // as docs/ingest.md says to configure ChirpStack
    sim_thread s(c);
    const relaylink::test::temp_db file("cli-mqtt");
    const auto& db = file.path();
    auto r = relayctl("off 0101010101010101 --profile eastron_sdm320c --ignore-windows --wait --wait-timeout 60s --mqtt " + broker.url() +
                      " --client-id relayctl-test --db " + db + " " + s.net());
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("relay_off 0101010101010101 confirmed"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("subscribed to 'application/+/device/+/event/+'"), std::string::npos) << r.output;
    EXPECT_FALSE(s.sim.device("0101010101010101")->relay_closed);
}

TEST(RelayctlEvents, WatchAppliesAndPrintsTheHttpIntegrationsEvents) {
    const auto port = relaylink::test::free_port();
    relaylink::sim::simulator_config c;
    c.integration_url = "http://127.0.0.1:" + std::to_string(port) + "/";
    c.integration_headers = {{"X-Relaylink-Secret", "shh"}};
    c.manual_time = true; // the device uplinks only once relayctl watch listens (ChirpStack does not retry a POST)
    sim_thread s(c);
    const relaylink::test::temp_db file("cli-http");
    const auto& db = file.path();
    // a disconnect queued by one relayctl, followed to confirmed by the watching one
    auto off = relayctl("off 0101010101010101 --profile eastron_sdm320c --ignore-windows --db " + db + " " + s.net());
    ASSERT_EQ(off.code, 0) << off.output;
    auto w = relayctl("watch --http " + std::to_string(port) + " --for 20s --db " + db + " " + s.net() + " stray");
    EXPECT_EQ(w.code, 2) << "a stray positional is refused: " << w.output;

    ::setenv("WATCH_SECRET", "shh", 1);
    auto watching = std::async(std::launch::async, [&] {
        return relayctl("watch --http " + std::to_string(port) + " --secret-env WATCH_SECRET --for 60s --count 4 --db " + db + " " + s.net());
    });
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!relaylink::test::accepts(port)) { // until it listens
        ASSERT_LT(std::chrono::steady_clock::now(), until) << "relayctl watch did not listen";
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // The simulator posts on two connections, as ChirpStack may post in any order: so that the meter's reply
    // does not overtake the txack, the device uplinks now (up + txack; the reply is due 2 s later in simulated
    // time), and the clock moves on only once the watching relayctl has the command sent (read from the file:
    // by the txack, or — the up first — by the device queue it then reads).
    ASSERT_TRUE(s.sim.trigger_uplink("0101010101010101"));
    for (;;) {
        const auto st = relayctl("status 1 --db " + db);
        if (st.output.find("#1 relay_off 0101010101010101 sent (") != std::string::npos) break;
        ASSERT_LT(std::chrono::steady_clock::now(), until) << "the command was not sent: " << st.output;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    s.sim.advance(std::chrono::seconds(5)); // the meter's reply rides the next uplink: up + ack
    w = watching.get();
    ::unsetenv("WATCH_SECRET");
    EXPECT_EQ(w.code, 0) << w.output;
    EXPECT_NE(w.output.find("watching HTTP integration at http://127.0.0.1:" + std::to_string(port) + "/"), std::string::npos) << w.output;
    EXPECT_NE(w.output.find("event  txack  0101010101010101"), std::string::npos) << w.output;
    EXPECT_NE(w.output.find("event  up     0101010101010101"), std::string::npos) << w.output;
    EXPECT_NE(w.output.find("queued -> sent"), std::string::npos) << w.output;
    EXPECT_NE(w.output.find("-> confirmed"), std::string::npos) << w.output;
    EXPECT_NE(w.output.find("relay unknown -> disconnected"), std::string::npos) << w.output;
    EXPECT_NE(w.output.find("4 events applied, 0 malformed"), std::string::npos) << w.output;
    auto st = relayctl("status 1 --db " + db);
    EXPECT_NE(st.output.find("confirmed"), std::string::npos) << st.output;
}

// ---- what a real ChirpStack 4.20 does, as the simulator reproduces it -----------------------------

TEST(RelayctlChirpStack, AMalformedDevEuiExits2ForEveryCommand) {
    fake_http_server s;
    const relaylink::test::temp_db file("cli-bad-eui");
    const std::vector<std::string> cmds = {"device 0102", "queue 01020304050607zz", "flush 0102", "enqueue 0102 --fport 5 --data-hex 01",
                                           "off 0102 --ignore-windows --db " + file.path(), "history 0102 --db " + file.path()};
    for (const auto& cmd : cmds) {
        const bool network = cmd.find("--db") == std::string::npos || cmd.rfind("off", 0) == 0;
        auto r = relayctl(cmd + (network ? " " + net(s) : std::string()));
        EXPECT_EQ(r.code, 2) << cmd << ": " << r.output;
        EXPECT_NE(r.output.find("DevEUI must be 16 hex digits"), std::string::npos) << cmd << ": " << r.output;
    }
    EXPECT_TRUE(s.requests().empty());
}

TEST(RelayctlChirpStack, OffForADeviceChirpStackDoesNotKnowFailsAtOnceSayingSo) {
    relaylink::sim::simulator_config c;
    sim_thread s(c);
    const relaylink::test::temp_db file("cli-unknown");
    auto r = relayctl("off 70b3d5e7000000ff --profile eastron_sdm320c --ignore-windows --db " + file.path() + " " + s.net());
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("failed"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("device 70b3d5e7000000ff is not in ChirpStack"), std::string::npos) << r.output;
    EXPECT_EQ(s.sim.enqueue_requests("70b3d5e7000000ff"), 1u);
}

TEST(RelayctlChirpStack, OffWhileChirpStackAnswers503ToEverythingDoesNotExit0) {
    relaylink::sim::simulator_config c;
    sim_thread s(c);
    s.sim.set_http_faults({.error_5xx_rate = 1.0});
    const relaylink::test::temp_db file("cli-503");
    const auto started = std::chrono::steady_clock::now();
    auto r = relayctl("off 0101010101010101 --profile eastron_sdm320c --ignore-windows --timeout 2 --db " + file.path() + " " + s.net());
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("dispatching"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("it is not known whether ChirpStack took command #1"), std::string::npos) << r.output;
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(25)) << "it does not wait out its whole patience";
    EXPECT_EQ(s.sim.enqueue_requests("0101010101010101"), 1u);
}

TEST(RelayctlChirpStack, DeviceShowsTheBatteryAndItsJsonTheDeviceStatus) {
    relaylink::sim::simulator_config c;
    c.manual_time = true;
    sim_thread s(c);
    relaylink::sim::device_config d;
    d.dev_eui = "0202020202020202";
    d.battery_level = 87.5;
    d.status_every = 1;
    s.sim.add_device(d);
    auto before = relayctl("device 0202020202020202 " + s.net());
    EXPECT_NE(before.output.find("not reported yet"), std::string::npos) << before.output;
    ASSERT_TRUE(s.sim.trigger_uplink("0202020202020202"));
    auto r = relayctl("device 0202020202020202 " + s.net());
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("battery 87.5 %"), std::string::npos) << r.output;
    auto j = relayctl("device 0202020202020202 --json " + s.net());
    ASSERT_EQ(j.code, 0) << j.output;
    const auto status = boost::json::parse(j.output).at("deviceStatus");
    EXPECT_EQ(status.at("batteryLevel").to_number<double>(), 87.5);
    EXPECT_EQ(status.at("margin"), 10);
    EXPECT_EQ(status.at("externalPowerSource"), false);
}

TEST(RelayctlChirpStack, FlushKeepPendingLeavesTheItemThatAwaitsItsAck) {
    relaylink::sim::simulator_config c;
    c.manual_time = true;
    sim_thread s(c);
    ASSERT_EQ(relayctl("enqueue 0101010101010101 --fport 5 --data-hex 010500000000CDCA --confirmed " + s.net()).code, 0);
    ASSERT_TRUE(s.sim.trigger_uplink("0101010101010101")); // it goes out and awaits its ACK
    ASSERT_EQ(relayctl("enqueue 0101010101010101 --fport 5 --data-hex 01050000FF008C3A --confirmed " + s.net()).code, 0);
    auto r = relayctl("flush 0101010101010101 --keep-pending --json " + s.net());
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(boost::json::parse(r.output).at("keptPending"), true);
    auto q = boost::json::parse(relayctl("queue 0101010101010101 --json " + s.net()).output).as_array();
    ASSERT_EQ(q.size(), 2u); // the pending item, then the placeholder
    EXPECT_EQ(q[0].at("isPending"), true);
    EXPECT_EQ(q[1].at("hex"), "");
    EXPECT_EQ(relayctl("flush 0101010101010101 --fport 5 " + s.net()).code, 2); // --fport without --keep-pending
}

// relayctl doctor against the simulator and its faults: every check passes on a good set-up, and each
// fault is named with what to change.
TEST(RelayctlDoctor, AGoodSetUpPassesEveryCheckAndReceivesAnEvent) {
    relaylink::test::mosquitto_broker broker;
    relaylink::sim::simulator_config c;
    c.mqtt_url = broker.url();
    c.mqtt_qos = 1;
    sim_thread s(c);
    auto r = relayctl("doctor 0101010101010101 --mqtt " + broker.url() + " --listen 30s " + s.net());
    EXPECT_EQ(r.code, 0) << r.output;
    for (const char* line : {"ok     REST API at", "ok     device 0101010101010101 is registered", "ok     its downlink queue is readable",
                             "ok     subscribed at", "ok     received a 'up' event of 0101010101010101", "\nready"})
        EXPECT_NE(r.output.find(line), std::string::npos) << line << "\n" << r.output;
}

TEST(RelayctlDoctor, EachFaultIsNamedWithWhatToChange) {
    relaylink::test::mosquitto_broker broker;
    sim_thread s(relaylink::sim::simulator_config{}); // publishes no MQTT events: its integration is "off"
    const std::string url = "--url " + s.sim.url();
    auto wrong_key = relayctl("doctor 0101010101010101 " + url + " --api-key not-the-key");
    EXPECT_EQ(wrong_key.code, 1) << wrong_key.output;
    EXPECT_NE(wrong_key.output.find("ChirpStack does not know this API key (InvalidToken): create one in its web UI"),
              std::string::npos) << wrong_key.output;

    auto unknown = relayctl("doctor 0909090909090909 " + s.net());
    EXPECT_EQ(unknown.code, 1) << unknown.output;
    EXPECT_NE(unknown.output.find("ChirpStack has no device 0909090909090909: register it"), std::string::npos) << unknown.output;

    auto silent = relayctl("doctor 0101010101010101 --mqtt " + broker.url() + " --listen 3s " + s.net());
    EXPECT_EQ(silent.code, 1) << silent.output;
    EXPECT_NE(silent.output.find("no event of 0101010101010101 within 3 s"), std::string::npos) << silent.output;
    EXPECT_NE(silent.output.find("[integration.mqtt] server = this broker, json = true, qos = 1"), std::string::npos) << silent.output;

    auto no_broker = relayctl("doctor 0101010101010101 --mqtt tcp://127.0.0.1:1 --listen 3s " + s.net());
    EXPECT_EQ(no_broker.code, 1) << no_broker.output;
    EXPECT_NE(no_broker.output.find("cannot subscribe at the broker tcp://127.0.0.1:1"), std::string::npos) << no_broker.output;

    auto nothing = relayctl("doctor 0101010101010101 --url http://127.0.0.1:1 --api-key k");
    EXPECT_EQ(nothing.code, 1) << nothing.output;
    EXPECT_NE(nothing.output.find("is chirpstack-rest-api running and listening there (port 8090 by default)"), std::string::npos)
        << nothing.output;

    EXPECT_EQ(relayctl("doctor --mqtt " + broker.url() + " " + s.net()).code, 2);       // whose events?
    EXPECT_EQ(relayctl("doctor 0101010101010101 --http 8091 " + s.net()).code, 2);       // not what doctor checks
    EXPECT_EQ(relayctl("doctor 0101010101010101 --listen soon " + s.net()).code, 2);
}

TEST(RelayctlDoctor, AKeyOfAnotherTenantAndAProxyWithoutChirpStackAreToldApart) {
    fake_http_server other_tenant; // as observed: a key of another tenant gets 401 with an empty message
    other_tenant.expect("GET", "/api/devices/0101010101010101", body(R"({"code":16,"message":"","details":[]})", 401));
    auto r = relayctl("doctor 0101010101010101 " + net(other_tenant));
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("a key of another tenant answers so"), std::string::npos) << r.output;

    fake_http_server proxy_alone; // the REST proxy up, ChirpStack behind it down: 503 code 14
    proxy_alone.expect("GET", "/api/devices/0101010101010101", body(R"({"code":14,"message":"connection refused","details":[]})", 503));
    r = relayctl("doctor 0101010101010101 " + net(proxy_alone));
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("ChirpStack behind it does not (503)"), std::string::npos) << r.output;
}
