"""Regenerate relaylink/_core/*.pyi from the compiled module (pybind11-stubgen), then give the places
pybind11 can only call `typing.Any` their real types (datetimes, bytes-like, awaitables, ...).

    PYTHONPATH=build/python python3 bindings/python/tools/make_stubs.py

Run it after changing a binding; tests/python/test_package.py checks the stubs cover every name.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE.parent / "relaylink" / "_core"

TIME = r"(?:time|at|last_seen|last_uplink|not_before|deadline|next_attempt_at|sent_at|completed_at|created_at|updated_at|" \
       r"disconnect_sent_at|expires_at|last_seen_at|lease_until)"
BYTES = "bytes | bytearray | memoryview"
DURATION = "float | datetime.timedelta"

RULES = [
    (r"\bpayload: typing\.Any = None", f"payload: {BYTES} | None = None"),
    (r"(def (?:parse_event|ingest)\(.*?)payload: typing\.Any", rf"\1payload: str | {BYTES}"),
    (r"__hash__: typing\.ClassVar\[None\] = None", "__hash__: typing.ClassVar[None] = None  # type: ignore[assignment]"),
    (r"def __eq__\(self, arg0: \w+\) -> bool:", "def __eq__(self, other: object) -> bool:"),
    (r"-> dict:", "-> dict[str, typing.Any]:"),
    (r": dict = ", ": dict[typing.Any, typing.Any] = "),
    (r"def __exit__\(self, \*args\) -> None:", "def __exit__(self, *args: typing.Any) -> None:"),
    (r"callback: collections\.abc\.Callable,", "callback: collections.abc.Callable[..., None],"),
    (rf"def ({TIME})\(self\) -> typing\.Any:", r"def \1(self) -> datetime.datetime | None:"),
    (r"def uplink_interval\(self\) -> typing\.Any:", "def uplink_interval(self) -> datetime.timedelta:"),
    (r"def response\(self\) -> typing\.Any:", "def response(self) -> modbus.Response | None:"),
    (r"def from_state\(self\) -> typing\.Any:", "def from_state(self) -> str | None:"),
    (r"def to_dict\(self\) -> typing\.Any:", "def to_dict(self) -> dict[str, typing.Any]:"),
    (r"\b(data|sent|payload|frame|request|reply): typing\.Any", rf"\1: {BYTES}"),
    (r"\b(expires_at|not_before|deadline): typing\.Any = None", r"\1: datetime.datetime | None = None"),
    (r"\b(connect_timeout|request_timeout|idle_timeout|initial_backoff|max_backoff|default_deadline|tick|timeout|"
     r"uplink_interval|reply_delay|slow_latency|latency|duration|claim_timeout): typing\.Any", rf"\1: {DURATION}"),
    (r"def enqueue_async\((.*)\) -> typing\.Any:", r"def enqueue_async(\1) -> typing.Awaitable[str]:"),
    (r"def get_queue_async\((.*)\) -> typing\.Any:", r"def get_queue_async(\1) -> typing.Awaitable[list[QueueItem]]:"),
    (r"def flush_queue_async\((.*)\) -> typing\.Any:", r"def flush_queue_async(\1) -> typing.Awaitable[None]:"),
    (r"def get_device_async\((.*)\) -> typing\.Any:", r"def get_device_async(\1) -> typing.Awaitable[Device]:"),
    (r"def get_next_f_cnt_down_async\((.*)\) -> typing\.Any:", r"def get_next_f_cnt_down_async(\1) -> typing.Awaitable[int]:"),
    (r"def request_async\((.*)\) -> typing\.Any:", r"def request_async(\1) -> typing.Awaitable[typing.Any]:"),
    (r"simulator: typing\.Any = None", "simulator: Simulator | None = None"),
    (r"profiles: typing\.Any = None", "profiles: ProfileRegistry | None = None"),
    (r"def parse_event\((.*)\) -> .*:", r"def parse_event(\1) -> UpEvent | AckEvent | TxAckEvent | LogEvent | StatusEvent | "
                                         r"JoinEvent | LocationEvent | UnknownEvent:"),
    (r"def now\(self\) -> typing\.Any:", "def now(self) -> datetime.datetime:"),
    (r"def device\(self, dev_eui: str\) -> typing\.Any:", "def device(self, dev_eui: str) -> dict[str, typing.Any] | None:"),
    (r"def on_event\(self, callback: collections\.abc\.Callable\)", "def on_event(self, callback: collections.abc.Callable[[str, str, str], None])"),
]


def fix_enter(text: str) -> str:
    out, cls = [], None
    for line in text.splitlines():
        m = re.match(r"class (\w+)", line)
        if m:
            cls = m.group(1)
        line = line.replace("def __enter__(self) -> typing.Any:", f"def __enter__(self) -> {cls}:")
        out.append(line)
    return "\n".join(out) + "\n"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pybind11_stubgen", "relaylink._core", "-o", tmp], check=True)
        src = Path(tmp) / "relaylink" / "_core"
        TARGET.mkdir(exist_ok=True)
        for f in sorted(src.glob("*.pyi")):
            text = f.read_text()
            for pattern, repl in RULES:
                text = re.sub(pattern, repl, text)
            if "datetime." in text and "import datetime" not in text:
                text = text.replace("import typing\n", "import datetime\nimport typing\n", 1)
            text = fix_enter(text)
            (TARGET / f.name).write_text(text)
            print(f"wrote {TARGET / f.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
