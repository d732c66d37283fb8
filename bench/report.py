#!/usr/bin/env python3
"""Turn Google Benchmark JSON into the ratios docs/benchmarks.md reports.

usage: bench/report.py RESULTS.json [RESULTS.json ...]
Each ratio compares two benchmarks from the same run, so the machine's speed cancels out.
"""
import json
import sys


def load(paths):
    rows = {}
    for p in paths:
        with open(p) as f:
            doc = json.load(f)
        for b in doc["benchmarks"]:
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
                continue
            if b.get("run_type") == "iteration" and any(x.get("run_type") == "aggregate" for x in doc["benchmarks"]):
                continue
            rows[b.get("run_name", b["name"])] = b
    return rows


def ns(b):
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
    return b["cpu_time"] * scale


def main(paths):
    rows = load(paths)
    print("| measure | relaylink | baseline (same run) | ratio | goal |")
    print("|---|---|---|---|---|")
    for size in (6, 256, 4096):
        t, b = rows.get(f"crc_table/{size}"), rows.get(f"crc_bitwise/{size}")
        if t and b:
            gbs = lambda r: r["bytes_per_second"] / 1e9
            ratio = ns(b) / ns(t)
            goal = ">= 8x" if size >= 256 else "-"
            print(f"| CRC-16 over {size} B | {gbs(t):.2f} GB/s | bitwise {gbs(b):.3f} GB/s | {ratio:.1f}x | {goal} |")
    ev, dom = rows.get("parse_up_event"), rows.get("json_dom_only_baseline")
    if ev and dom:
        print(f"| parse `up` event (typed) | {1e9 / ns(ev) / 1e3:.0f}k events/s | Boost.JSON DOM parse only {1e9 / ns(dom) / 1e3:.0f}k/s "
              f"| {ns(dom) / ns(ev):.2f}x as fast | >= 200k/s |")
    slow = rows.get("parse_up_event_dom_path")
    if ev and slow:
        print(f"| parse `up` event, fast path | {1e9 / ns(ev) / 1e3:.0f}k events/s | relaylink's DOM path {1e9 / ns(slow) / 1e3:.0f}k/s "
              f"| {ns(slow) / ns(ev):.2f}x as fast | - |")
    base = rows.get("handwritten_relay_frame_baseline")
    for name, label, goal in (("encode_relay_frame", "encode relay frame (FC05)", "<= 20 ns"),
                              ("profile_relay_downlink", "profile.relay() downlink", "-"),
                              ("decode_relay_echo", "decode relay echo", "-"),
                              ("match_reply_through_profile", "profile.match_reply()", "-")):
        r = rows.get(name)
        if r and base:
            print(f"| {label} | {ns(r):.1f} ns | hand-written FC05 encoder {ns(base):.1f} ns | {ns(base) / ns(r):.2f}x as fast | {goal} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
