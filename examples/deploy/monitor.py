#!/usr/bin/env python3
"""The portal's monitor: one long-lived process that applies ChirpStack's events to the shared relaylink
store (docs/deploying.md). It subscribes to ChirpStack's MQTT integration in a shared-subscription group,
so several monitors (on one host or several) split the stream; like every other process it also
dispatches due commands and recovers the claims of processes that died.

    python3 examples/deploy/monitor.py --db postgresql://portal@db.internal/portal --schema relaylink \\
        --broker tcp://mqtt.internal:1883 --chirpstack-url http://chirpstack.internal:8090

The API key comes from CHIRPSTACK_API_KEY (never from the command line: it would show in `ps`). Stops
on SIGTERM or Ctrl-C, printing what it did. Exit 2 on bad arguments, 1 when the store or the broker
cannot be reached.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from typing import Any, Dict, List, Optional

import relaylink


def parse(argv: Optional[List[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="monitor.py", description="Apply ChirpStack's events to the shared relaylink store.")
    ap.add_argument("--db", required=True, help="the store: postgresql://… (the portal's database) or a SQLite file path")
    ap.add_argument("--schema", default="relaylink", help="PostgreSQL schema for relaylink's tables (default relaylink)")
    ap.add_argument("--broker", required=True, help="ChirpStack's MQTT broker, tcp://host:1883 or ssl://host:8883")
    ap.add_argument("--username", default="", help="the broker's user (the password: $RELAYLINK_MQTT_PASSWORD)")
    ap.add_argument("--ca", default="", help="the CA (PEM) that signed an ssl:// broker's certificate")
    ap.add_argument("--cert", default="", help="a client certificate (PEM), with --tls-key")
    ap.add_argument("--tls-key", default="", help="the client certificate's private key (PEM)")
    ap.add_argument("--insecure", action="store_true", help="do not check the broker's certificate (tests only)")
    ap.add_argument("--group", default="relaylink", help="the shared-subscription group all monitors join (default relaylink)")
    ap.add_argument("--chirpstack-url", default=os.environ.get("CHIRPSTACK_API_URL", "http://localhost:8090"))
    ap.add_argument("--instance", default="", help="this process's name as a claim owner (default host:pid)")
    ap.add_argument("--claim-timeout", type=float, default=120.0, help="seconds a claim is leased (default 120)")
    ap.add_argument("--stats-every", type=float, default=60.0, help="print stats every N seconds (0: only at exit)")
    a = ap.parse_args(argv)
    if not a.db.strip():
        ap.error("--db must not be empty")
    if not a.broker.startswith(("tcp://", "ssl://", "ws://", "wss://", "mqtt://", "mqtts://")):
        ap.error(f"--broker must be a URL like tcp://host:1883, got {a.broker!r}")
    if bool(a.cert) != bool(a.tls_key):
        ap.error("--cert and --tls-key go together (a client certificate and its key)")
    for name in ("ca", "cert", "tls_key"):
        path = getattr(a, name)
        if path and not os.path.isfile(path):
            ap.error(f"--{name.replace('_', '-')}: no such file {path!r}")
    if os.environ.get("RELAYLINK_MQTT_PASSWORD") and not a.username:
        ap.error("RELAYLINK_MQTT_PASSWORD is set but --username is not: give the broker's user")
    if a.claim_timeout < 1:
        ap.error(f"--claim-timeout must be at least 1 second, got {a.claim_timeout}")
    if a.stats_every < 0:
        ap.error(f"--stats-every cannot be negative, got {a.stats_every}")
    return a


def store_settings(a: argparse.Namespace) -> Dict[str, Any]:
    if a.db.startswith(("postgresql://", "postgres://")):
        return {"db": a.db, "postgres": {"schema": a.schema, "pool_size": 4, "application_name": "relaylink-monitor"}}
    return {"db": a.db}


def main(argv: Optional[List[str]] = None) -> int:
    a = parse(argv)
    key = os.environ.get("CHIRPSTACK_API_KEY", "")
    if not key:
        print("monitor.py: set CHIRPSTACK_API_KEY (the ChirpStack API key)", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        with relaylink.ChirpStackClient(url=a.chirpstack_url, api_key=key) as client, \
                relaylink.RelayService(client, instance=a.instance, claim_timeout=a.claim_timeout, **store_settings(a)) as svc:
            src = svc.listen_mqtt(a.broker, client_id=f"relaylink-monitor-{socket.gethostname()}-{os.getpid()}",
                                  shared_group=a.group, username=a.username,
                                  password=os.environ.get("RELAYLINK_MQTT_PASSWORD", "") if a.username else "",
                                  ca_file=a.ca, cert_file=a.cert, key_file=a.tls_key, verify=not a.insecure)
            if not src.wait_connected(20):
                print(f"monitor.py: cannot reach the broker {a.broker}: {src.last_error}", file=sys.stderr)
                return 1
            print(f"monitor: {svc!r} listening on {a.broker} (group {a.group})", flush=True)
            while not stop.wait(a.stats_every or None):
                print(f"monitor: events {src.stats()} service {svc.stats()}", flush=True)
            print(f"monitor: stopping; events {src.stats()}; service {svc.stats()}", flush=True)
    except (relaylink.StoreError, relaylink.ConfigError) as e:
        print(f"monitor.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
