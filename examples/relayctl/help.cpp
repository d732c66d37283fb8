// `relayctl <command> --help` (or -h, or `relayctl help <command>`): each command's usage, options and an
// example. Kept beside the general usage in main.cpp; tests/cli checks every command answers.
#include "cli.hpp"

#include <array>
#include <utility>

namespace relayctl {
namespace {

constexpr const char* network_options =
    "  --url URL             ChirpStack's REST API (default $CHIRPSTACK_API_URL, else http://localhost:8090)\n"
    "  --api-key-file FILE   the API key, from a file (or $CHIRPSTACK_API_KEY; --api-key KEY is seen by `ps`)\n"
    "  --timeout SECONDS     per request (default 30)\n";

constexpr const char* store_options =
    "  --db FILE|URL         the store (default $RELAYLINK_DB, else ./relaylink.db): a SQLite file, sqlite:///…,\n"
    "                        postgresql://… or postgresql+psycopg2://…\n"
    "  --table-prefix P      SQLite tables beside the portal's (default $RELAYLINK_TABLE_PREFIX), e.g. relaylink_\n";

constexpr const char* source_options =
    "  --mqtt tcp://|ssl://HOST:PORT   ChirpStack's MQTT integration (set qos = 1 in its [integration.mqtt])\n"
    "    --topic F  --client-id ID  --share GROUP  --username U  --password-env VAR (default RELAYLINK_MQTT_PASSWORD)\n"
    "    --ca PEM  --cert PEM --tls-key PEM  --insecure\n"
    "  --http [ADDR:]PORT              ChirpStack's HTTP integration posts here\n"
    "    --http-path /  --secret-env VAR (default RELAYLINK_HTTP_SECRET; header X-Relaylink-Secret)\n";

struct entry {
    const char* name;
    const char* usage;    // the synopsis and what it does
    const char* options;  // its own options ("" for none)
    const char* shared;   // which shared groups follow: n = network, s = store, e = event sources
    const char* example;
};

constexpr std::array<entry, 17> entries{{
    {"frame", "relayctl frame <profile> <intent> [--json] [--profiles FILE] [--fport N] [--slave N]\n"
              "  Print the downlink for an intent: off, on, a measurement name (relayctl profiles lists each profile's),\n"
              "  or state for a profile that reads its relay back (examples/profiles/sdm320c_readback.json).",
     "  --profiles FILE  more profiles (JSON)\n  --fport N        another fPort\n  --slave N        another Modbus address\n"
     "  --json           as JSON\n", "", "relayctl frame eastron_sdm320c off"},
    {"profiles", "relayctl profiles [--json] [--profiles FILE]\n  List the meter profiles: built in, plus those in FILE.",
     "  --profiles FILE  more profiles (JSON)\n  --json           as JSON\n", "", "relayctl profiles --json"},
    {"decode", "relayctl decode <request-hex> <reply-hex> [--json]\n  Check a Modbus RTU reply against the request it answers.",
     "  --json  as JSON\n", "", "relayctl decode 010100000001FDCA 010101005188"},
    {"enqueue", "relayctl enqueue <devEui> --fport N --data-hex HEX [--confirmed] [--expires-in 10m] [--flush]\n"
                "  Queue a raw downlink; prints ChirpStack's queue item id.",
     "  --fport N         1-223\n  --data-hex HEX    the payload\n  --confirmed       ask the device for an ACK\n"
     "  --expires-in 10m  ChirpStack drops it after this\n  --flush           first delete the items not sent yet\n"
     "  --json            as JSON\n", "n", "relayctl enqueue 0101010101010101 --fport 5 --data-hex 010500000000CDCA --confirmed"},
    {"queue", "relayctl queue <devEui> [--json]\n  List the device's queue (hex and base64 of each item).", "  --json  as JSON\n", "n",
     "relayctl queue 0101010101010101"},
    {"flush", "relayctl flush <devEui> [--keep-pending [--fport 1]] [--json]\n"
              "  Delete every item of the device's queue (a sent one awaiting its ACK too: its ack event then never comes).",
     "  --keep-pending  delete only the unsent ones\n  --fport N       the placeholder's port, with --keep-pending\n"
     "  --json          as JSON\n", "n", "relayctl flush 0101010101010101 --keep-pending"},
    {"device", "relayctl device <devEui> [--json]\n  Show the device: name, application, last seen, status (margin, battery).",
     "  --json  as JSON\n", "n", "relayctl device 0101010101010101"},
    {"doctor", "relayctl doctor [<devEui>] [--mqtt URL [source options] [--listen 2m]]\n"
               "  Check the set-up against a real ChirpStack (docs/chirpstack-setup.md): the REST API and its port, the API\n"
               "  key's rights, the device (registered, enabled, heard from, its queue), and with --mqtt that its events\n"
               "  reach this machine. Each check prints ok, warn or FAIL with what to change; exit 0 when none failed.",
     "  --mqtt URL    ChirpStack's MQTT broker: waits for one event of the device\n"
     "    --topic F  --username U (password: $RELAYLINK_MQTT_PASSWORD)  --ca PEM  --cert PEM --tls-key PEM  --insecure\n"
     "  --listen 2m   how long to wait for that event (the device uplinks every 5-20 minutes)\n", "n",
     "relayctl doctor 0101010101010101 --mqtt tcp://localhost:1883 --listen 20m"},
    {"off", "relayctl off <devEui> [options]\n"
            "  Disconnect, through the safety guard. Prints the command's timeline once ChirpStack has it (exit 0), or why\n"
            "  it was refused (exit 1). With --wait, follows it to the end, printing each state as it is reached: exit 0\n"
            "  only when it is confirmed.",
     "  --profile P             the meter's profile (may be left out once the meter has one on record)\n"
     "  --reason TEXT  --actor NAME (default $USER)  --meter-ref REF  --priority 1-10 (1 the highest, default 5)\n"
     "  --idempotency-key KEY   the same key returns the same command\n"
     "  --ignore-windows        lift the disconnect windows (protected meters stay protected)\n"
     "  --wait [--wait-timeout T]  follow it; T defaults to the profile's uplink interval times its reply timeout\n"
     "                          intervals, plus one interval (Class A: the device fetches it at its next uplink)\n"
     "  --sim [--load-side] [--speed 600]  against an embedded simulator holding this one meter\n"
     "  --json                  as JSON\n", "nse",
     "relayctl off 0101010101010101 --profile eastron_sdm --reason arrears --wait --mqtt tcp://localhost:1883"},
    {"on", "relayctl on <devEui> [options]\n  Reconnect: as off, never held by the safety guard.", "  the options of off\n", "nse",
     "relayctl on 0101010101010101 --sim --wait"},
    {"status", "relayctl status <command | devEui> [--json]\n  A command with its audit trail; or a meter's relay state and open commands.",
     "  --json  as JSON\n", "s", "relayctl status 12"},
    {"history", "relayctl history <devEui> [--limit 20] [--json]\n  The meter's commands, newest first, each with its timeline.",
     "  --limit N  at most N (1-100000)\n  --json     as JSON\n", "s", "relayctl history 0101010101010101 --limit 5"},
    {"cancel", "relayctl cancel <command> [--reason TEXT] [--actor NAME] [--json]\n"
               "  Cancel a command that has not reached the radio (a queued one is flushed from the device queue).",
     "  --reason TEXT  --actor NAME (default $USER)\n  --json  as JSON\n", "ns", "relayctl cancel 12 --reason 'paid at the office'"},
    {"watch", "relayctl watch (--mqtt URL | --http [ADDR:]PORT) [source options] [--count N] [--for 10m] [--json]\n"
              "  The monitor: apply ChirpStack's events to the commands in --db, print each event and each state change,\n"
              "  keep dispatching retries and deferred commands; until Ctrl-C, N events or the time.",
     "  --count N  stop after N events\n  --for 10m  stop after this long\n  --ignore-windows  as for off\n  --json  as JSON\n",
     "nse", "relayctl watch --mqtt tcp://localhost:1883 --db relay.db"},
    {"sim", "relayctl sim [options]\n"
            "  Run a ChirpStack-compatible server with simulated Class A meters until Ctrl-C; prints the URL, the API key\n"
            "  and the device EUIs.",
     "  --port 8090  --address 127.0.0.1  --api-key KEY\n  --speed 600 | --manual   simulated time: 600x, or only when told\n"
     "  --sdm 2  --ivy 1  --load-side 1   how many meters of each kind\n  --interval 600   seconds between uplinks\n"
     "  --integration-url URL [--integration-secret-env VAR]   post events as ChirpStack's HTTP integration\n"
     "  --mqtt-url tcp://HOST:PORT [--mqtt-qos 0]   publish events as its MQTT integration\n"
     "  --event-order observed|shuffled  --seed N  --events [--json]   print each event\n", "",
     "relayctl sim --speed 600 --mqtt-url tcp://localhost:1883"},
    {"help", "relayctl help [command]\n  The commands, or one command's usage (as relayctl <command> --help).", "", "", "relayctl help off"},
    {"version", "relayctl version\n  relayctl's version.", "", "", "relayctl version"},
}};

} // namespace

std::string command_list() {
    std::string out;
    for (const auto& e : entries) out += std::string(out.empty() ? "" : ", ") + e.name;
    return out;
}

std::optional<std::string> command_help(const std::string& cmd) {
    for (const auto& e : entries) {
        if (cmd != e.name) continue;
        std::string out = std::string("usage: ") + e.usage + "\n";
        const std::string shared = e.shared;
        if (*e.options || !shared.empty()) out += "\noptions:\n" + std::string(e.options);
        if (shared.find('n') != std::string::npos) out += network_options;
        if (shared.find('s') != std::string::npos) out += store_options;
        if (shared.find('e') != std::string::npos) out += "event sources (with --wait, or for watch):\n" + std::string(source_options);
        out += std::string("\nexample:\n  ") + e.example + "\n";
        return out;
    }
    return std::nullopt;
}

} // namespace relayctl
