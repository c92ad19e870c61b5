"""The host side of the VT VM test: looks at the guest's screen the way a person and a phone do.

Keys go in with QEMU's `sendkey`, pictures come out with QEMU's `screendump` (both over QMP), and
`zbarimg` reads the QR code in each picture; the guest agent (tests/vm/guest_vt_agent.py) runs the
screen on tty1, answers `status --json` and dumps what the VT holds. For each mode (80x25 VGA text,
then the 128x48 framebuffer console) the checks are:

- the first frame already has the footer's keys; the footer's cells are all on the blue bar;
- every character the VT holds is what the screen wrote, and the console font has its glyph;
- no address, onion address or fingerprint is split across lines;
- the QR code decodes to `status --json`'s payload: on the main screen where it is shown, and full
  screen (q), where its quiet zone is at least 2 modules;
- help (?) shows "Esc: back";
- after x the console is clear, the cursor at the top, the way back on a line of its own.

Writes OUT/result.json (checks with pass and details, timings per mode); exit code 0 = all passed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import json
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from installer_env.console import RETURN_HINT
from installer_env.wrapping import CONTINUED

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the VT model and palette
from vt_console import Dump, differences, intended, missing_glyphs, modules, quiet_zone, replay
from vt_palette import WCAG_AA, contrast

T0 = time.monotonic()
TITLE = "installer-env on "
FOOTER_WORDS = ("Wi-Fi", "QR code", "Help", "Quit")
BLUE = 1
HALF_BLOCKS = set("▀▄█")
WIFI_HINT = "This screen follows the change by itself."
NET_IF, NET_TITLE, NET_ADDRESS, NET_GATEWAY, NET_DNS = (
    "eth0",
    "Wired network",
    "10.0.2.20/24",
    "10.0.2.2",
    "10.0.2.3",
)
FORM_KEYS = "Enter: apply"
WIRED_KEY = "e Wired"  # the main screen's footer, which the network screen's own keys replace
SENDKEY = {".": "dot", "/": "slash", " ": "spc", ":": "shift-semicolon"}
MODES = (
    # name, driver to load first (None: the VGA text mode the machine boots in), tty1 size
    ("text-80x25", None, (80, 25)),
    ("framebuffer-128x48", "bochs", (128, 48)),
)


def say(*parts: object) -> None:
    print(f"[vm-host-py {time.monotonic() - T0:6.1f}s]", *parts, flush=True)


class Qmp:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sock.connect(str(path))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.file = self.sock.makefile("rw")
        json.loads(self.file.readline())  # the greeting
        self.execute("qmp_capabilities")

    def execute(self, command: str, **arguments: Any) -> Any:
        self.file.write(json.dumps({"execute": command, "arguments": arguments}) + "\n")
        self.file.flush()
        while True:
            answer = json.loads(self.file.readline())
            if "event" in answer:
                continue
            if "error" in answer:
                raise RuntimeError(f"QMP {command}: {answer['error']}")
            return answer["return"]

    def hmp(self, line: str) -> str:
        return str(self.execute("human-monitor-command", **{"command-line": line}))


class Agent:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.seq = 0

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        ready = self.out / "agent-ready"
        wait_until(ready.exists, timeout, "the guest agent")
        return dict(json.loads(ready.read_text()))

    def __call__(self, op: str, timeout: float = 120, **fields: Any) -> dict[str, Any]:
        seq, self.seq = self.seq, self.seq + 1
        tmp = self.out / "cmd" / f".{seq}.tmp"
        tmp.write_text(json.dumps({"op": op, **fields}))
        tmp.rename(self.out / "cmd" / f"{seq}.json")
        if op == "stop":  # the agent leaves without an answer
            return {}
        reply = self.out / "reply" / f"{seq}.json"
        wait_until(reply.exists, timeout, f"the guest's answer to {op}")
        answer = dict(json.loads(reply.read_text()))
        if not answer.pop("ok"):
            raise RuntimeError(f"guest {op}: {answer['error']}")
        return answer


def wait_until(condition: Callable[[], object], timeout: float, what: str, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


def zbar(path: Path) -> str | None:
    run = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, check=False)
    return run.stdout.decode().removesuffix("\n") if run.returncode == 0 else None


class Run:
    def __init__(self, out: Path, qmp: Qmp, agent: Agent) -> None:
        self.out, self.qmp, self.agent = out, qmp, agent
        self.checks: dict[str, dict[str, Any]] = {}
        self.timings: dict[str, dict[str, float]] = {}
        self.facts: dict[str, Any] = {}
        self.shots = out / "shots"
        self.shots.mkdir(exist_ok=True)
        self.shot_count = 0

    def check(self, name: str, body: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        started = time.monotonic()
        try:
            details: dict[str, Any] = dict(body())
            ok = True
        except Exception as e:
            details = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(limit=3)}
            ok = False
        details["seconds"] = round(time.monotonic() - started, 1)
        self.checks[name] = {"pass": ok, **details}
        say(f"CHECK {name}: {'PASS' if ok else 'FAIL'}", json.dumps(details, ensure_ascii=False)[:400])
        return details if ok else None

    # ------------------------------------------------------------------ looking at the screen
    def dump(self) -> Dump:
        answer = self.agent("dump")
        return Dump.parse(base64.b64decode(answer["vcsa"]), base64.b64decode(answer["vcsu"]))

    def screenshot(self, name: str) -> Path:
        self.shot_count += 1
        path = self.shots / f"{self.shot_count:02d}-{name}.ppm"
        self.qmp.hmp(f"screendump {path}")
        wait_until(lambda: path.exists() and path.stat().st_size > 0, 10, f"screendump {path.name}")
        return path

    def decode(self, name: str, timeout: float) -> tuple[str, Path]:
        """The first screenshot zbar reads (a framebuffer console paints a moment after the VT)."""
        found: dict[str, Any] = {}

        def attempt() -> bool:
            path = self.screenshot(name)
            text = zbar(path)
            found.update(text=text, path=path)
            return text is not None

        try:
            wait_until(attempt, timeout, f"a decodable QR code ({name})", step=1.0)
        except TimeoutError:
            raise AssertionError(f"zbarimg reads no QR code in {found.get('path')}") from None
        return str(found["text"]), Path(found["path"])

    @staticmethod
    def code_on(lines: list[str]) -> bool:
        return sum(ch in HALF_BLOCKS for line in lines for ch in line) > 100

    def decode_until(self, view: str, payload: str, timeout: float) -> tuple[str, Path]:
        """Screenshots until one decodes to `payload`; the last one read when none does in time."""
        last: list[tuple[str, Path]] = []

        def shows_payload() -> bool:
            with contextlib.suppress(AssertionError):
                last.append(self.decode(view, 10))
            return bool(last) and same_payload(last[-1][0], payload)

        with contextlib.suppress(TimeoutError):
            wait_until(shows_payload, timeout, f"the {view} code with the status payload", 1.0)
        return last[-1] if last else ("", self.shots / "none")

    def settled(
        self,
        log: Path,
        size: tuple[int, int],
        what: str,
        wanted: Callable[[list[str]], bool],
        timeout: float = 120,
    ) -> tuple[list[str], Dump]:
        """Waits until the screen has drawn what `wanted` looks for and the VT holds exactly that."""
        state: dict[str, Any] = {}

        def same() -> bool:
            meant = intended(log.read_bytes(), *size)
            if not wanted(meant):
                state.update(meant=meant, problem="not drawn yet")
                return False
            dump = self.dump()
            diff = differences(meant, dump)
            state.update(meant=meant, dump=dump, problem=diff)
            return not diff

        try:
            wait_until(same, timeout, what, step=0.3)
        except TimeoutError:
            raise AssertionError(
                f"{what}: the VT does not hold what the screen wrote: {state.get('problem')}\n"
                + "\n".join(state.get("meant", []))
            ) from None
        return state["meant"], state["dump"]

    def back_on(
        self, log: Path, size: tuple[int, int], main_screen: Callable[[list[str]], bool]
    ) -> dict[str, Any]:
        self.settled(log, size, "the main screen", main_screen)
        return {}

    def key(self, *keys: str) -> None:
        for k in keys:
            self.qmp.hmp(f"sendkey {k}")

    # ------------------------------------------------------------------ one mode
    def mode(self, name: str, driver: str | None, size: tuple[int, int]) -> None:
        columns, rows = size
        timings: dict[str, float] = {}
        self.timings[name] = timings
        if driver:
            started = time.monotonic()
            self.agent("framebuffer", driver=driver, size=[columns, rows])
            timings["framebuffer_seconds"] = round(time.monotonic() - started, 1)
        unimap = [(int(u), int(p)) for u, p in self.agent("unimap")["unimap"]]
        log = self.out / f"screen-{name}.log"

        def glyphs(meant: list[str], dump: Dump) -> dict[str, Any]:
            missing = missing_glyphs(meant, dump, unimap)
            assert not missing, missing
            return {}

        launched = time.monotonic()
        self.agent("launch", log=log.name)

        def first_frame() -> dict[str, Any]:
            wait_until(lambda: self.dump().chars[0].lstrip().startswith(TITLE), 180, "the first frame", 1.0)
            timings["first_frame_seconds"] = round(time.monotonic() - launched, 1)
            return {}

        if not self.check(f"{name}/first_frame", first_frame):
            self.agent("kill")
            return

        def footer_in_first_frame() -> dict[str, Any]:
            # The early text (written before Textual starts, not through its driver) can put the
            # title on the VT before the screen's first frame is in its log: wait for that frame.
            first: list[str] = wait_until(
                lambda: next((lines for lines in replay(log.read_bytes(), *size) if lines[0].strip()), None),
                120,
                "the screen's first frame in its log",
                0.5,
            )
            missing = [w for w in FOOTER_WORDS if w not in first[-1]]
            assert not missing, f"the first frame's footer lacks {missing}: {first[-1]!r}"
            return {"footer": first[-1].strip()}

        self.check(f"{name}/first_frame_has_footer", footer_in_first_frame)
        settled: dict[str, Any] = {}

        def main_checks() -> dict[str, Any]:
            meant, dump = self.settled(log, size, "the main screen", main_screen)
            settled.update(meant=meant, dump=dump)
            glyphs(meant, dump)
            return {"screen": meant}

        if not self.check(f"{name}/main_screen_as_drawn", main_checks):
            self.agent("kill")
            return
        meant, dump = settled["meant"], settled["dump"]

        def footer_bar() -> dict[str, Any]:
            off = [c for c in range(columns) if dump.background(rows - 1, c) != BLUE]
            assert not off, f"footer cells off the blue bar at columns {off[:20]}"
            return {}

        self.check(f"{name}/footer_all_on_blue", footer_bar)

        # The codes first, for the time to a decodable one; compared with `status --json` after.
        decoded: dict[str, tuple[str, Path]] = {}

        def read_code(view: str) -> dict[str, Any]:
            decoded[view] = self.decode(view, 30)
            timings.setdefault("launch_to_decodable_seconds", round(time.monotonic() - launched, 1))
            return {"screenshot": decoded[view][1].name}

        code_on_main = self.code_on(meant)
        self.facts[f"{name}/main_shows_qr"] = code_on_main
        if code_on_main:
            self.check(f"{name}/main_qr_decodes", lambda: read_code("main"))
        self.key("q")

        def full_qr() -> dict[str, Any]:
            meant, dump = self.settled(log, size, "the full-screen QR code", full_screen)
            glyphs(meant, dump)
            zone = quiet_zone(modules(dump))
            self.checks[f"{name}/full_qr_quiet_zone_at_least_2"] = {
                "pass": zone is not None and zone >= 2,
                "quiet_zone_modules": zone,
            }
            return {**read_code("full"), "quiet_zone_modules": zone}

        self.check(f"{name}/full_qr_decodes", full_qr)
        self.key("esc")
        self.check(f"{name}/back_to_main", lambda: self.back_on(log, size, main_screen))

        # While the screen runs, as a script on the machine would ask: the screen added the onion
        # service, so the payload has the onion address in it.
        status = self.agent("status")["status"]
        payload = status["qr"]["payload"]
        (self.out / f"status-{name}.json").write_text(json.dumps(status, indent=1))
        self.checks[f"{name}/status_has_onion_ipv4_and_global_ipv6"] = {
            "pass": ".onion" in payload and "10.0.2.15" in payload and "[2001:db8:1:" in payload,
            "payload_without_password": json.loads(payload) | {"pass": "..."},
        }
        for view, first in decoded.items():
            text, path = first
            if view == "main" and not self.code_on(
                self.settled(log, size, "the main screen", main_screen)[0]
            ):
                # The code grew with tor's onion address and no longer fits beside the text: the
                # main screen says to press q instead, where the full-screen code is checked.
                self.facts[f"{name}/main_shows_qr_with_final_payload"] = False
                continue
            if not same_payload(text, payload):
                # The first code may predate tor's answer (slow under TCG): the screen follows the
                # session, so look again until it shows what status says, or give up.
                if view == "full":
                    self.key("q")
                text, path = self.decode_until(view, payload, 60)
                if same_payload(text, payload):
                    timings[f"launch_to_full_payload_{view}_seconds"] = round(time.monotonic() - launched, 1)
                if view == "full":
                    self.key("esc")
                    self.settled(log, size, "the main screen", main_screen)
            self.checks[f"{name}/{view}_qr_is_status_payload"] = {
                "pass": same_payload(text, payload),
                "omitted_addrs": omitted(text, payload),
                "screenshot": path.name,
                **({} if same_payload(text, payload) else {"decoded": text, "status": payload}),
            }
        tokens = _unbreakable(status)

        def whole_tokens() -> dict[str, Any]:
            split = [t for t in tokens if _split(t, meant)]
            assert not split, f"split across lines: {split}"
            return {"tokens": tokens}

        self.check(f"{name}/addresses_and_fingerprints_whole", whole_tokens)
        self.key("shift-slash")

        def help_screen() -> dict[str, Any]:
            meant, dump = self.settled(log, size, "help", lambda lines: any("Keys" in line for line in lines))
            glyphs(meant, dump)
            assert any("Esc: back" in line for line in dump.chars), "help: Esc: back is not on the screen"
            more = any("More below" in line for line in dump.chars)
            # The help is taller than 25 rows: the VT must say there is more below.
            assert more or rows > 40, f"help at {columns}x{rows}: nothing says there is more below"
            return {"screen": meant, "more_below_shown": more}

        self.check(f"{name}/help_shows_esc_back", help_screen)
        self.key("esc")
        self.check(f"{name}/back_from_help", lambda: self.back_on(log, size, main_screen))
        self.key("w")

        def wifi_hint() -> dict[str, Any]:
            meant, dump = self.settled(
                log, size, "the Wi-Fi screen", lambda lines: any(WIFI_HINT in line for line in lines)
            )
            glyphs(meant, dump)
            row = next(r for r, line in enumerate(dump.chars) if WIFI_HINT in line)
            start = dump.chars[row].index(WIFI_HINT)
            ratios = {
                round(contrast(dump.foreground(row, c), dump.background(row, c)), 1)
                for c in range(start, start + len(WIFI_HINT))
            }
            assert min(ratios) >= WCAG_AA, f"contrast {sorted(ratios)} on the VT's colours, under {WCAG_AA}"
            return {"contrast": sorted(ratios)}

        self.check(f"{name}/wifi_hint_contrast", wifi_hint)
        self.key("esc")
        self.check(f"{name}/back_from_wifi", lambda: self.back_on(log, size, main_screen))
        self.key("x")

        def after_quit() -> dict[str, Any]:
            exited = self.agent("wait_exit", timeout=60)
            assert exited["exited"], "the screen did not exit after x"
            dump = self.dump()
            text = [line.rstrip() for line in dump.chars]
            assert text[0] == RETURN_HINT, f"first line {text[0]!r}, not the hint"
            assert not any(text[1:]), f"the console is not clear: {[t for t in text[1:] if t][:5]}"
            assert dump.cursor == (0, 1), f"cursor at {dump.cursor}, not at the start of the second line"
            return {"exit_code": exited["code"]}

        self.check(f"{name}/console_clean_after_x", after_quit)
        self.agent("kill")  # whatever failed above, the next mode starts on a VT of its own

    # ------------------------------------------------------------------ the network scenario
    def network(self) -> None:
        """A machine without DHCP brought onto the network at the 80x25 console, keys only: e, the
        interface, the static form (address, gateway, DNS), Enter; then the kernel, the resolver,
        the main screen and the QR code all have the new address."""
        name, size = "network-80x25", (80, 25)
        timings: dict[str, float] = {}
        self.timings[name] = timings
        unimap = [(int(u), int(p)) for u, p in self.agent("unimap")["unimap"]]
        log = self.out / f"screen-{name}.log"
        host_resolv = Path("/etc/resolv.conf").read_bytes()
        started = time.monotonic()
        self.agent("launch", log=log.name)
        wait_until(log.exists, 120, "the screen's log")

        def drawn(what: str, wanted: Callable[[list[str]], bool]) -> dict[str, Any]:
            meant, dump = self.settled(log, size, what, wanted, timeout=180)
            missing = missing_glyphs(meant, dump, unimap)
            assert not missing, missing
            return {"screen": meant}

        def network_screen(address: str) -> Callable[[list[str]], bool]:
            def wanted(lines: list[str]) -> bool:
                rows = [line for line in lines if f" {NET_IF}    " in line]  # the name, padded
                return (
                    any(line.strip() == NET_TITLE for line in lines)
                    and bool(rows)
                    and address in rows[0]
                    and any("Esc" in line for line in lines[-1:])
                )

            return wanted

        def form(*typed: str) -> Callable[[list[str]], bool]:
            return lambda lines: (
                any(FORM_KEYS in line for line in lines)
                and all(any(t in line for line in lines) for t in typed)
            )

        steps: list[tuple[str, tuple[str, ...], str, Callable[[list[str]], bool]]] = [
            ("main_screen_without_address", (), "the main screen", main_screen),
            ("network_screen_as_drawn", ("e",), "the wired network screen", network_screen("no address")),
            ("static_form_as_drawn", ("ret",), "the static form", form()),
            (
                "static_form_filled_as_drawn",
                (*keys(NET_ADDRESS), "tab", *keys(NET_GATEWAY), "tab", "tab", "tab", *keys(NET_DNS)),
                "the filled-in form",
                form(NET_ADDRESS, NET_GATEWAY, NET_DNS),
            ),
            ("network_screen_shows_static", ("ret",), "the applied address", network_screen(NET_ADDRESS)),
        ]
        for check, pressed, what, wanted in steps:
            self.key(*pressed)
            if not self.check(f"{name}/{check}", functools.partial(drawn, what, wanted)):
                self.agent("kill")
                return
            timings[f"{check}_seconds"] = round(time.monotonic() - started, 1)
        host = NET_ADDRESS.split("/", maxsplit=1)[0]

        def kernel_and_resolver() -> dict[str, Any]:
            net = self.agent("network", interface=NET_IF)
            addrs = {
                f"{a['local']}/{a['prefixlen']}" for link in net["addr"] for a in link.get("addr_info", [])
            }
            assert NET_ADDRESS in addrs, f"{NET_ADDRESS} not on {NET_IF}: {sorted(addrs)}"
            default = [(r.get("gateway"), r.get("dev")) for r in net["routes"]]
            assert (NET_GATEWAY, NET_IF) in default, f"default routes {default}"
            servers = [
                line.split()[1] for line in net["resolv_conf"].splitlines() if line.startswith("nameserver")
            ]
            assert servers == [NET_DNS], f"the guest's /etc/resolv.conf names {servers}"
            assert net["resolv_conf_fs"] == "overlay", f"/etc/resolv.conf is on {net['resolv_conf_fs']}"
            assert Path("/etc/resolv.conf").read_bytes() == host_resolv, "this machine's resolv.conf changed"
            return {"addresses": sorted(addrs), "default_routes": default, "nameservers": servers}

        self.check(f"{name}/address_route_and_dns_in_the_guest", kernel_and_resolver)
        self.key("esc")
        ssh = f"ssh root@{host}"
        self.check(
            f"{name}/main_screen_lists_ssh",
            lambda: drawn(
                f"the main screen with {ssh} and every key in the footer again",
                lambda ls: main_screen(ls) and any(ssh in line for line in ls) and WIRED_KEY in ls[-1],
            ),
        )
        timings["main_screen_lists_ssh_seconds"] = round(time.monotonic() - started, 1)
        status = self.agent("status")["status"]
        payload = status["qr"]["payload"]
        (self.out / f"status-{name}.json").write_text(json.dumps(status, indent=1))
        self.checks[f"{name}/status_payload_has_new_address"] = {
            "pass": host in json.loads(payload).get("addrs", []),
            "payload_without_password": json.loads(payload) | {"pass": "..."},
        }
        self.key("q")

        def full_qr() -> dict[str, Any]:
            drawn("the full-screen QR code", full_screen)
            text, path = self.decode_until("full", payload, 90)
            assert same_payload(text, payload), f"decoded {text!r}, status says {payload!r}"
            assert host in json.loads(text).get("addrs", []), f"{host} not in the code's addresses"
            timings["launch_to_code_with_address_seconds"] = round(time.monotonic() - started, 1)
            return {"screenshot": path.name, "omitted_addrs": omitted(text, payload)}

        self.check(f"{name}/full_qr_is_status_payload_with_address", full_qr)
        # Esc and x one after the other would read as Alt+x (a terminal's Esc starts sequences).
        self.key("esc")
        self.check(
            f"{name}/back_to_main",
            lambda: drawn("the main screen", lambda ls: main_screen(ls) and WIRED_KEY in ls[-1]),
        )
        self.key("x")

        def exits() -> dict[str, Any]:
            exited = self.agent("wait_exit", timeout=60)
            assert exited["exited"], "the screen did not exit after x"
            return {"exit_code": exited["code"]}

        self.check(f"{name}/screen_exits", exits)
        self.agent("kill")

    def report(self) -> bool:
        passed = all(c["pass"] for c in self.checks.values())
        doc = {"pass": passed, "checks": self.checks, "timings": self.timings, "facts": self.facts}
        (self.out / "result.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False))
        return passed


def main_screen(lines: list[str]) -> bool:
    return lines[0].lstrip().startswith(TITLE) and any(w in lines[-1] for w in FOOTER_WORDS)


def full_screen(lines: list[str]) -> bool:
    return not lines[0].lstrip().startswith(TITLE) and sum(ch in HALF_BLOCKS for ch in "".join(lines)) > 100


def keys(text: str) -> list[str]:
    """QEMU sendkey names that type `text` on a US keyboard."""
    return [SENDKEY.get(ch, ch) for ch in text]


def same_payload(decoded: str, status: str) -> bool:
    """The code says what status says, but for addresses left out at the end of the QR's order
    (a code that must fit 80x25 with its quiet zone drops them; the screen still lists them)."""
    try:
        code, full = json.loads(decoded), json.loads(status)
    except ValueError:
        return False
    addrs, all_addrs = code.pop("addrs", []), full.pop("addrs", [])
    return bool(code == full and addrs == all_addrs[: len(addrs)])


def omitted(decoded: str, status: str) -> int | None:
    try:
        return len(json.loads(status).get("addrs", [])) - len(json.loads(decoded).get("addrs", []))
    except ValueError:
        return None


def _unbreakable(status: dict[str, Any]) -> list[str]:
    """What a person re-types or compares: the addresses, the onion address, the fingerprints."""
    tokens = [str(a) for a in status["qr"]["addrs"]] if "addrs" in status.get("qr", {}) else []
    tokens += [str(h) for h in _find(status, "fingerprint")]
    tokens += [str(h) for h in _find(status, "onion_address")]
    tokens += [str(h) for hosts in _find(status, "offered") if isinstance(hosts, list) for h in hosts]
    return sorted({t for t in tokens if t and t != "None"})


def _find(doc: Any, key: str) -> list[Any]:
    if isinstance(doc, dict):
        found = [doc[key]] if key in doc else []
        return found + [x for v in doc.values() for x in _find(v, key)]
    if isinstance(doc, list):
        return [x for v in doc for x in _find(v, key)]
    return []


def _split(token: str, lines: list[str]) -> bool:
    """True when the start of `token` is on a line without the whole token and without the
    continuation mark at its end."""
    head = token[: min(len(token), 12)]
    return any(head in line and token not in line and not line.rstrip().endswith(CONTINUED) for line in lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--qmp", type=Path, required=True)
    parser.add_argument("--scenario", choices=("screen", "network"), default="screen")
    args = parser.parse_args()
    qmp = Qmp(args.qmp)
    agent = Agent(args.out)
    run = Run(args.out, qmp, agent)
    try:
        ready = agent.wait_ready(240)
        say("guest agent ready:", ready)
        run.agent("rotate")
        if args.scenario == "network":
            run.network()
        else:
            for name, driver, size in MODES:
                run.mode(name, driver, size)
    except Exception as e:
        run.checks["harness"] = {
            "pass": False,
            "error": f"{type(e).__name__}: {e}",
            "trace": traceback.format_exc(limit=4),
        }
        say("ERROR", e)
    finally:
        ok = run.report()
        try:
            agent("stop")
        except OSError as e:
            say("could not stop the guest agent:", e)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
