// relayctl: the command line for relaylink. `relayctl help` lists the commands.
#include "cli.hpp"

#include <relaylink/version.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace {

constexpr const char* usage = R"(relayctl — relay control for LoRaWAN electricity meters (relaylink )"
    "%s" R"()

usage: relayctl <command> [arguments]

commands:
  frame <profile> <intent> [--json] [--profiles FILE] [--fport N] [--slave N]
        print the downlink for an intent: off, on, a measurement name, or state for a profile that reads its
        relay back (examples/profiles/sdm320c_readback.json)
  profiles [--json] [--profiles FILE]
        list the meter profiles (built in, plus those in FILE)
  decode <request-hex> <reply-hex> [--json]
        check a Modbus RTU reply against the request it answers

ChirpStack (options: --url URL, default $CHIRPSTACK_API_URL or http://localhost:8090;
            --api-key-file FILE or --api-key KEY, default $CHIRPSTACK_API_KEY — prefer the variable or the file:
            other users of the machine can read a --api-key KEY in `ps`; --timeout SECONDS; --json):
  enqueue <devEui> --fport N --data-hex HEX [--confirmed] [--expires-in 10m] [--flush]
        queue a downlink; prints ChirpStack's queue item id. --flush first deletes the items not sent yet
        (ChirpStack 4.18+ keeps one that was sent and awaits its ACK)
  queue <devEui>      list the device's queue (hex and base64 of each item)
  flush <devEui> [--keep-pending [--fport 1]]
        delete every item of the device's queue, a sent one awaiting its ACK too (its ack event then never
        comes); --keep-pending deletes only the unsent ones
  device <devEui>     show the device (name, application, last seen, status: margin and battery)
  doctor [<devEui>] [--mqtt URL [source options] [--listen 2m]]
        check the set-up against a real ChirpStack: the REST API and its port, the API key's rights, the
        device, and that its events reach this machine over MQTT; each failure says what to change

Relay commands (recorded in --db FILE|URL, default $RELAYLINK_DB or ./relaylink.db — a SQLite file, sqlite:///…,
    postgresql://… or the portal's postgresql+psycopg2://…; --table-prefix P (default $RELAYLINK_TABLE_PREFIX):
    relaylink's SQLite tables beside the portal's, e.g. relaylink_; ChirpStack options as above):
  off <devEui> [--profile P] [--reason TEXT] [--actor NAME] [--meter-ref REF] [--idempotency-key KEY]
      [--priority 1-10 (1 the highest, default 5)] [--ignore-windows] [--json]
  on <devEui> [same options]
        disconnect / reconnect through the safety guard; prints the command's timeline once ChirpStack
        has it (exit 0), or why it was refused (exit 1)
  off|on <devEui> --sim [--wait [--wait-timeout 2m]] [--load-side] [--speed 600]
        the same against an embedded simulator holding that one meter; --wait follows the command to
        the end: exit 0 only when it is confirmed
  off|on <devEui> --wait [--wait-timeout 1m] (--mqtt URL | --http [ADDR:]PORT) [source options]
        follow the command to the end through ChirpStack's events: exit 0 only when it is confirmed
  watch (--mqtt URL | --http [ADDR:]PORT) [source options] [--count N] [--for 10m] [--json]
        the monitor: apply ChirpStack's events to the commands in --db, print each event and each state
        change, keep dispatching retries and deferred commands; until Ctrl-C, N events or the time
  source options: --mqtt tcp://|ssl://HOST:PORT [--topic F] [--client-id ID] [--share GROUP] [--username U]
        [--password-env VAR (default RELAYLINK_MQTT_PASSWORD)] [--ca PEM] [--cert PEM --tls-key PEM] [--insecure];
        without --client-id: a name unique to this process and a clean session (nothing kept while away);
        a persistent session needs a named one, stable and used by one process only (and ChirpStack's
        [integration.mqtt] qos = 1);
        --http [ADDR:]PORT [--http-path /] [--secret-env VAR (default RELAYLINK_HTTP_SECRET; header X-Relaylink-Secret)]
  status <command | devEui> [--json]   a command with its audit trail; or a meter's relay state and open commands
  history <devEui> [--limit 20] [--json]
        the meter's commands, newest first, each with its timeline
  cancel <command> [--reason TEXT] [--actor NAME] [--json]
        cancel a command that has not reached the radio (a queued one is flushed from the device queue)

Simulator:
  sim [--port 8090] [--address 127.0.0.1] [--api-key KEY] [--speed 600 | --manual]
      [--sdm 2] [--ivy 1] [--load-side 1] [--interval 600] [--integration-url URL [--integration-secret-env VAR]]
      [--mqtt-url tcp://HOST:PORT [--mqtt-qos 0]] [--event-order observed|shuffled] [--events [--json]]
        run a ChirpStack-compatible server with simulated Class A meters until Ctrl-C;
        prints the URL, the API key and the device EUIs

  help [command]   this text, or one command's usage (also: relayctl <command> --help)
  version
)";

void print_usage(FILE* to) { std::fprintf(to, usage, relaylink::version_string); }

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        print_usage(stderr);
        return 2;
    }
    const std::string cmd = args.front();
    args.erase(args.begin());
    // relayctl <command> --help | -h, relayctl help <command>: that command's usage, options and an example.
    const bool asks_help = std::any_of(args.begin(), args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; });
    if (asks_help || (cmd == "help" && !args.empty())) {
        std::string which = cmd == "help" ? args.front() : cmd;
        if (which == "--help" || which == "-h") which = "help"; // relayctl help --help
        if (auto h = relayctl::command_help(which)) {
            std::fputs(h->c_str(), stdout);
            return 0;
        }
        if (which != "--help" && which != "-h") {
            std::fprintf(stderr, "relayctl: unknown command '%s' (commands: %s)\n", which.c_str(), relayctl::command_list().c_str());
            return 2;
        }
    }
    try {
        if (cmd == "frame") return relayctl::cmd_frame(args);
        if (cmd == "profiles") return relayctl::cmd_profiles(args);
        if (cmd == "decode") return relayctl::cmd_decode(args);
        if (cmd == "enqueue") return relayctl::cmd_enqueue(args);
        if (cmd == "off") return relayctl::cmd_relay(args, false);
        if (cmd == "on") return relayctl::cmd_relay(args, true);
        if (cmd == "status") return relayctl::cmd_status(args);
        if (cmd == "history") return relayctl::cmd_history(args);
        if (cmd == "cancel") return relayctl::cmd_cancel(args);
        if (cmd == "watch") return relayctl::cmd_watch(args);
        if (cmd == "queue") return relayctl::cmd_queue(args);
        if (cmd == "flush") return relayctl::cmd_flush(args);
        if (cmd == "device") return relayctl::cmd_device(args);
        if (cmd == "sim") return relayctl::cmd_sim(args);
        if (cmd == "doctor") return relayctl::cmd_doctor(args);
        if (cmd == "help" || cmd == "--help" || cmd == "-h") {
            print_usage(stdout);
            return 0;
        }
        if (cmd == "version" || cmd == "--version") {
            std::printf("relayctl %s\n", relaylink::version_string);
            return 0;
        }
        throw relayctl::usage_error("unknown command '" + cmd + "' (commands: " + relayctl::command_list() + ")");
    } catch (const relayctl::usage_error& e) {
        std::fprintf(stderr, "relayctl: %s\nrun 'relayctl help' for usage\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "relayctl: %s\n", e.what());
        return 1;
    }
}
