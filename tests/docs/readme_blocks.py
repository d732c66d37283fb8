#!/usr/bin/env python3
"""Every code block of the README, compiled or run as a reader would (ctest docs.readme_*):

  cpp     the C++ blocks are one story: concatenated in order, their #includes first, the rest inside one
          function whose parameters are the few names the prose supplies (the uplink's fPort and bytes, the
          io_context); compiled with the build's compiler against the headers (-fsyntax-only: the calls need a
          ChirpStack).
  python  every block byte-compiled; the drop-in block also run, against a simulator.
  relayctl  each `$ build/examples/relayctl …` line that needs no broker is run; a block that shows the
          output must match it line for line.
  cmake   checked by the packaging test (tests/packaging), which builds an outside project with it.

usage: readme_blocks.py cpp|python|relayctl README.md [--cxx CXX --include DIR ...] [--relayctl PATH]
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Tuple

# Names the README's prose supplies around its C++ snippets.
CPP_PARAMETERS = ("std::uint8_t uplink_fport, const relaylink::bytes& uplink_bytes, boost::asio::io_context& io")


def blocks(text: str, lang: str) -> List[Tuple[int, str]]:
    """(line number, body) of each fenced block of `lang`."""
    out = []
    for m in re.finditer(r"^```" + re.escape(lang) + r"\n(.*?)^```", text, re.S | re.M):
        out.append((text.count("\n", 0, m.start()) + 2, m.group(1)))
    return out


def check_cpp(text: str, cxx: str, includes: List[str]) -> int:
    found = blocks(text, "cpp")
    if not found:
        print("README has no cpp block", file=sys.stderr)
        return 1
    heads: List[str] = []
    body: List[str] = []
    for line_no, b in found:
        body.append(f"#line {line_no} \"README.md\"")  # errors point at the README's own lines
        for line in b.splitlines():
            if line.startswith("#include"):
                heads.append(line)
                body.append("")
            else:
                body.append(line)
    source = "\n".join(["#include <boost/asio/io_context.hpp>", "#include <cstdint>", *dict.fromkeys(heads),
                        f"[[maybe_unused]] static void readme({CPP_PARAMETERS}) {{", *body, "}", "int main() { return 0; }", ""])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "readme.cpp"
        path.write_text(source)
        cmd = [cxx, "-std=c++20", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-Wno-unused-variable",
               "-Wno-unused-but-set-variable", "-Wno-missing-field-initializers", *[f"-I{i}" for i in includes], str(path)]
        r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr, file=sys.stderr)
        print(f"the README's C++ blocks do not compile as written ({len(found)} blocks)", file=sys.stderr)
        return 1
    print(f"README: {len(found)} C++ blocks compile")
    return 0


def check_python(text: str) -> int:
    found = blocks(text, "python")
    for line_no, b in found:
        compile(b, f"README.md:{line_no}", "exec")
    drop_in = [b for _, b in found if "chirpstack_service.send_relay_command" in b]
    if not drop_in:
        print("README has no drop-in block", file=sys.stderr)
        return 1
    import relaylink
    from types import SimpleNamespace
    with relaylink.Simulator(manual_time=True) as sim:
        eui = "0101010101010101"
        sim.add_device(eui, kind="uc100_sdm320c")
        os.environ.update(CHIRPSTACK_API_URL=sim.url, CHIRPSTACK_API_KEY=sim.api_key)
        ns = {"meter": SimpleNamespace(device_eui=eui)}
        exec(compile(drop_in[0], "README.md (drop-in)", "exec"), ns)  # noqa: S102
        if ns.get("ok") is not True or sim.device(eui)["queue_length"] != 1:
            print(f"the drop-in block did not queue the downlink: {ns.get('ok')!r}, {ns.get('message')!r}", file=sys.stderr)
            return 1
        expected = re.search(r"# \((True, \"[^\"]+\")\)", drop_in[0])
        if expected and f"(True, {ns['message']!r})".replace("'", '"') != f"({expected.group(1)})":
            print(f"the drop-in block says {expected.group(1)}, the call answered {ns['message']!r}", file=sys.stderr)
            return 1
    print(f"README: {len(found)} Python blocks compile; the drop-in block runs")
    return 0


def check_relayctl(text: str, relayctl: str) -> int:
    ran = 0
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, RELAYLINK_DB=str(Path(d) / "readme.db"))
        for line_no, b in blocks(text, "sh"):
            lines = b.splitlines()
            commands = [i for i, line in enumerate(lines) if line.startswith("$ build/examples/relayctl ")]
            for i in commands:
                argv = shlex.split(lines[i][2:].split("#")[0])
                if any(a in ("watch", "--mqtt") for a in argv):
                    continue  # needs a broker: tests/integration/test_relayctl_network.cpp runs it
                argv[0] = relayctl
                r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
                ran += 1
                if r.returncode != 0:
                    print(f"README.md:{line_no + i}: {lines[i]}\nexit {r.returncode}\n{r.stdout}{r.stderr}", file=sys.stderr)
                    return 1
                shown = lines[i + 1:commands[commands.index(i) + 1] if commands.index(i) + 1 < len(commands) else len(lines)]
                if shown and r.stdout.splitlines() != shown:
                    print(f"README.md:{line_no + i}: the README shows\n" + "\n".join(shown) + f"\nrelayctl printed\n{r.stdout}",
                          file=sys.stderr)
                    return 1
    print(f"README: {ran} relayctl commands run as shown")
    return 0 if ran else 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["cpp", "python", "relayctl"])
    ap.add_argument("readme")
    ap.add_argument("--cxx", default="c++")
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("--relayctl", default="")
    a = ap.parse_args()
    text = Path(a.readme).read_text()
    if a.what == "cpp":
        return check_cpp(text, a.cxx, a.include)
    if a.what == "python":
        return check_python(text)
    return check_relayctl(text, a.relayctl)


if __name__ == "__main__":
    sys.exit(main())
