// relayctl enqueue / queue / flush / device, run as a user would, against a scripted ChirpStack.
#include "../support/fake_http_server.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <sys/wait.h>

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
    EXPECT_EQ(relayctl("flush 0102030405060708 " + net(s)).output, "queue of 0102030405060708 flushed\n");
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
