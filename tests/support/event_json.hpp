// ChirpStack event payloads as its integrations send them (JSON), for tests that feed raw messages.
#pragma once

#include <string>

namespace relaylink::test {

/// An `up` event of `eui` carrying the SDM320C's relay-OFF echo on fPort 5.
inline std::string up_json(const std::string& eui, const std::string& dedup = "3ac7e3c4-4401-4b8d-9386-a5c902f9202d") {
    return R"({"deduplicationId":")" + dedup + R"(","time":"2026-07-18T09:34:15.775023242+00:00","deviceInfo":{"tenantId":"t","tenantName":"T","applicationId":"app","applicationName":"App","deviceProfileId":"dp","deviceProfileName":"DP","deviceName":"Dev","devEui":")" +
           eui + R"(","deviceClassEnabled":"CLASS_A","tags":{}},"devAddr":"01020304","adr":true,"dr":5,"fCnt":7,"fPort":5,"confirmed":false,"data":"AQUAAAAAzco=","rxInfo":[],"txInfo":{"frequency":868100000,"modulation":{"lora":{"bandwidth":125000,"spreadingFactor":7,"codeRate":"CR_4_5"}}},"regionConfigId":"eu868"})";
}

} // namespace relaylink::test
