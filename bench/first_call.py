"""Benchmark: the first call after a fresh start against the later calls (issue 14).

Run from the repo root, inside the WebRTC network namespace:

    .venv/bin/python tests/netns.py .venv/bin/python bench/first_call.py [-r 3] [--calls 3]

For each of R fresh starts (`--restarts`):

1. a fresh coturn (TURN REST credentials, as the e2e relay test starts it; skipped when
   coturn is not installed), a fresh `telehealth serve` (temporary instance, `init-db`,
   `seed-demo`, embedded SQLite and Redis, TURN configured) and a media worker beside it,
   as `make run` starts them (`--no-media-worker` leaves it out);
2. a fresh Chromium (the e2e tests' binary and fake camera/microphone flags) holding the
   patient's and the physiotherapist's pages; `--calls` consults in a row on that server
   and that browser, each a new booking: the physiotherapist logs in once per browser and
   opens the consult, the patient checks in (the page runs its connection check against the
   media worker; the admit waits for it to finish, as a person filling in the form does),
   the physiotherapist admits; timed: `admit` sent → the first decoded remote video frame
   on each page (the browser tests' getStats hook), then the physiotherapist ends the call;
3. one more call on the same, now warm, server from a brand-new Chromium: a cold browser on
   a warm server, which tells the browser's cold costs from the server's;
4. a second fresh server for two aiortc peers (`telehealth.client.run_call`, as
   call_setup.py): one direct call first (so the peers' own first-use costs are paid
   outside the server), then `--aiortc-calls` calls through the server: the first is the
   cold server alone.

Each page records, from before its scripts run, its WebSocket frames (Socket.IO events and
their times), every RTCPeerConnection's milestones and its getUserMedia calls, so the call
is cut into pieces: page load → socket connected, `admit` → `ice_servers` and `state`
in_call on each side, each page's camera start, the offer's and the answer's trip
through the server, ICE connected, DTLS connected, first remote track, first decoded frame.
The patient's connection check before the admit is timed too (the media worker's part).

Each step (log-in, opening the consult, check-in, connection check, admit → first frames)
also records the CPU time the server, the media worker and the browsers spent (less
disturbed by other jobs on the machine than wall time) and every module the server or the
worker imported meanwhile (they run with PYTHONPROFILEIMPORTTIME, so a lazy import shows in
their logs with its cost).

`--profile DIR` (py-spy on PATH) samples the first server over each browser call, before
the admit (DIR/start1-call-N-before-admit.txt) and admit → first frames
(DIR/start1-call-N.txt), as collapsed stacks; summarise them with profile_summary.py.

Prints one JSON object: every call's pieces, the first call's median against the later
calls' median (and their ratio) for each piece, and the machine's load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import call_setup  # noqa: E402
import media_soak  # noqa: E402
import psutil  # noqa: E402
import signaling_load  # noqa: E402

from telehealth.client import run_call  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from tests.e2e.page_states import end_call  # noqa: E402
from tests.e2e.test_call_browser import FRAMES_DECODED, admit, check_in, staff_login  # noqa: E402
from tests.services import Coturn  # noqa: E402

STEP_TIMEOUT_MS = 20_000
CHECK_TIMEOUT_MS = 40_000

# Installed in every page before its own scripts: times of the WebSocket's Socket.IO
# frames, of every RTCPeerConnection's milestones and of getUserMedia, in epoch ms.
PAGE_RECORDER = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const bench = { origin: performance.timeOrigin, frames: [], pcs: [], cameras: [] };
  window.__bench = bench;
  const FRAME = /^4([23])(?:\\/[^,]*,)?(\\d*)(\\[[\\s\\S]*)$/;
  const signalKind = (payload) => {
    if (!payload || typeof payload !== "object") return "";
    if (payload.description) return payload.description.type;
    return payload.candidate ? "candidate" : "end-of-candidates";
  };
  const record = (direction, data) => {
    if (typeof data !== "string") return;
    const t = now();
    if (data.startsWith("40")) return bench.frames.push({ t, direction, name: "connect" });
    const match = FRAME.exec(data);
    if (!match) return;
    let body;
    try { body = JSON.parse(match[3]); } catch { return; }
    if (match[1] === "3") return bench.frames.push({ t, direction, name: "ack", id: match[2] });
    const [name, payload] = body;
    const frame = { t, direction, name, id: match[2] };
    if (name === "signal") frame.kind = signalKind(payload);
    if (name === "state" && payload) frame.kind = payload.phase;
    if (name === "ice_servers" && payload) frame.kind = String((payload.iceServers || []).length);
    bench.frames.push(frame);
  };
  const NativeSocket = window.WebSocket;
  window.WebSocket = class extends NativeSocket {
    constructor(...args) {
      super(...args);
      const mark = (name) => bench.frames.push({ t: now(), direction: "-", name });
      mark("ws_created");
      this.addEventListener("open", () => mark("ws_open"));
      this.addEventListener("message", (event) => record("in", event.data));
    }
    send(data) {
      record("out", data);
      return super.send(data);
    }
  };
  const NativeConnection = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativeConnection {
    constructor(...args) {
      super(...args);
      const marks = { id: bench.pcs.length + 1, created: now() };
      const first = (name) => { if (!(name in marks)) marks[name] = now(); };
      this.__benchId = marks.id;
      bench.pcs.push(marks);
      this.addEventListener("icecandidate", ({ candidate }) => {
        if (!candidate) return first("gathered");
        first("first_candidate");
        if (candidate.type === "relay") first("first_relay_candidate");
      });
      this.addEventListener("iceconnectionstatechange", () => {
        first(`ice_${this.iceConnectionState}`);
      });
      this.addEventListener("connectionstatechange", () => first(`dtls_${this.connectionState}`));
      this.addEventListener("track", ({ track }) => first(`track_${track.kind}`));
    }
  };
  const devices = navigator.mediaDevices;
  if (devices && devices.getUserMedia) {
    const open = devices.getUserMedia.bind(devices);
    devices.getUserMedia = async (constraints) => {
      const started = now();
      try { return await open(constraints); }
      finally { bench.cameras.push({ started, settled: now() }); }
    };
  }
  bench.watchFrames = (frames) => {
    const poll = async () => {
      let decoded = 0;
      try { decoded = await frames(); } catch { decoded = 0; }
      if (decoded > 0) bench.firstFrame = now();
      else window.setTimeout(poll, 10);
    };
    poll();
  };
})();
"""

# The call's own connection (the patient's page also makes one for its connection check).
CALL_SNAPSHOT = """async () => {
  const bench = window.__bench;
  const pc = window.telehealthCall && window.telehealthCall.pc;
  const route = {};
  if (pc) {
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) {
        const pair = stats.get(s.selectedCandidatePairId);
        const local = pair && stats.get(pair.localCandidateId);
        const remote = pair && stats.get(pair.remoteCandidateId);
        route.local = local && local.candidateType;
        route.remote = remote && remote.candidateType;
      }
    });
  }
  return {
    origin: bench.origin,
    frames: bench.frames,
    pcs: bench.pcs,
    cameras: bench.cameras,
    firstFrame: bench.firstFrame || null,
    callPc: pc ? pc.__benchId : null,
    route,
  };
}"""

CHECK_FINISHED = """() => {
  const check = window.telehealthCheck;
  return !check || !check.precheck || Boolean(check.precheck.result);
}"""

CHECK_RESULT = """() => {
  const check = window.telehealthCheck;
  const result = check && check.precheck && check.precheck.result;
  if (!result) return null;
  return result.refused ? "refused: " + result.refused : result.verdict;
}"""


def log(message: str) -> None:
    print(f"[first_call] {message}", file=sys.stderr, flush=True)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- the clinic: coturn, the web process and its media worker ------------------------------


@dataclass
class FreshClinic:
    clinic: call_setup.Clinic
    coturn: Coturn | None
    worker: subprocess.Popen[bytes] | None
    started_s: float

    @property
    def server_pid(self) -> int:
        assert self.clinic.process is not None
        return self.clinic.process.pid

    @property
    def worker_pid(self) -> int | None:
        return self.worker.pid if self.worker else None


def start_coturn(folder: Path) -> Coturn | None:
    if shutil.which("turnserver") is None:
        log("coturn is not installed: no TURN server, host candidates only")
        return None
    return Coturn(folder / "coturn", secrets.token_hex(32)).start()


@contextlib.contextmanager
def fresh_clinic(media_worker: bool, turn: bool) -> Iterator[FreshClinic]:
    """A clinic as `make run` starts it, with its own coturn; all of it gone afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="telehealth-first-call-"))
    coturn = worker = None
    clinic = call_setup.Clinic(folder / "instance")
    clinic.instance.mkdir()
    watch_python_processes(folder, clinic.env)
    try:
        coturn = start_coturn(folder) if turn else None
        if coturn is not None:
            clinic.env.update(TURN_URLS=coturn.url, TURN_SECRET=coturn.secret)
        began = time.monotonic()
        clinic.start()
        started_s = time.monotonic() - began
        if media_worker:
            worker = media_soak.start_worker(clinic)
        yield FreshClinic(clinic, coturn, worker, started_s)
    finally:
        signaling_load.stop(worker)
        clinic.stop()
        if coturn is not None:
            coturn.stop()
        shutil.rmtree(folder, ignore_errors=True)


# -- what a process imported and collected meanwhile (lines in its log) ------------------------

# Loaded by the clinic's Python processes at start-up (sitecustomize, from PYTHONPATH): each
# full garbage collection is written to the process's log with its duration.
GC_REPORTER = """
import gc, sys, time

_began = [0.0]


def _full_collection(phase, info):
    if info["generation"] != 2:
        return
    if phase == "start":
        _began[0] = time.perf_counter()
    else:
        took = (time.perf_counter() - _began[0]) * 1000
        print(f"full gc: {took:.1f} ms, {info['collected']} collected", file=sys.stderr, flush=True)


gc.callbacks.append(_full_collection)
"""


def watch_python_processes(folder: Path, env: dict[str, str]) -> None:
    """Every module a process imports after start-up, and every full garbage collection,
    shows in its log with its cost."""
    site = folder / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(GC_REPORTER)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env["PYTHONPROFILEIMPORTTIME"] = "1"


@dataclass
class LogWatch:
    """The import-time and full-gc lines a process writes to its log after this point."""

    path: Path
    offset: int = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def new_lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as log_file:
            log_file.seek(self.offset)
            return log_file.read().decode(errors="replace").splitlines()

    def since_mark(self) -> dict[str, Any]:
        imports, collections = [], []
        for line in self.new_lines():
            if line.startswith("import time:") and "self [us]" not in line:
                own, cumulative, name = (part.strip() for part in line[12:].split("|", 2))
                imports.append((int(own), int(cumulative), name))
            elif line.startswith("full gc: "):
                collections.append(float(line.split()[2]))
        largest = sorted(imports, key=lambda row: -row[1])[:5]
        return {
            "imports": len(imports),
            "imports_ms": round(sum(row[0] for row in imports) / 1000, 1),
            "largest_imports": [f"{name} {total / 1000:.1f} ms" for _, total, name in largest],
            "full_gcs": len(collections),
            "full_gc_ms": round(sum(collections), 1),
        }


# -- CPU each process spent meanwhile (less disturbed by other jobs than the wall clock) ------


def browser_pids() -> list[int]:
    """Our Chromium processes (Playwright's driver starts them as our descendants)."""
    pids = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "chromium" in child.name().lower():
                pids.append(child.pid)
    return pids


@dataclass
class CpuWatch:
    """CPU milliseconds the server, its media worker and our browsers spent since `mark`."""

    server: int | None
    worker: int | None
    start: dict[str, float] = field(default_factory=dict)

    def now(self) -> dict[str, float]:
        cpu = signaling_load.cpu_seconds
        return {
            "server": cpu(self.server),
            "worker": cpu(self.worker),
            "browsers": sum(cpu(pid) for pid in browser_pids()),
        }

    def mark(self) -> None:
        self.start = self.now()

    def since_mark(self) -> dict[str, float]:
        return {k: round((v - self.start[k]) * 1000) for k, v in self.now().items()}


# -- one browser, one call -----------------------------------------------------------------


@dataclass
class Chromium:
    """One browser process: the physiotherapist stays logged in across its calls."""

    browser: Any
    physio: Any = None
    calls: int = 0
    contexts: list[Any] = field(default_factory=list)

    def context(self, viewport: dict[str, int]) -> Any:
        context = self.browser.new_context(viewport=viewport, permissions=["camera", "microphone"])
        context.set_default_timeout(STEP_TIMEOUT_MS)
        context.add_init_script(PAGE_RECORDER)
        self.contexts.append(context)
        return context

    def log_in(self, url: str) -> None:
        self.physio = self.context({"width": 1280, "height": 900})
        staff_login(self.physio.new_page(), url, call_setup.STAFF_EMAIL)

    def close(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Exception):
                context.close()
        self.browser.close()


def launch(playwright: Any) -> Chromium:
    return Chromium(
        playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=30_000)
    )


@dataclass
class Steps:
    """Each step's wall time, the CPU every process spent and what the Python ones imported."""

    cpu: CpuWatch
    server_log: LogWatch
    worker_log: LogWatch
    done: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        for watch in (self.cpu, self.server_log, self.worker_log):
            watch.mark()
        began = time.monotonic()
        yield
        self.done[name] = {
            "s": round(time.monotonic() - began, 3),
            "cpu_ms": self.cpu.since_mark(),
            "server": self.server_log.since_mark(),
            "worker": self.worker_log.since_mark(),
        }


def steps_of(clinic: FreshClinic) -> Steps:
    folder = clinic.clinic.instance
    return Steps(
        CpuWatch(clinic.server_pid, clinic.worker_pid),
        LogWatch(folder / "serve.log"),
        LogWatch(folder / "media.log"),
    )


def browser_call(chromium: Chromium, clinic: FreshClinic, sampler: Any) -> dict[str, Any]:
    """One consult in this browser: check-in, admit, first frames both ways, end."""
    booked = clinic.clinic.book_now()
    steps = steps_of(clinic)
    number = chromium.calls + 1
    sampler.start(f"call-{number}-before-admit")
    if chromium.physio is None:
        with steps.step("physio_logs_in"):
            chromium.log_in(clinic.clinic.url)
    with steps.step("physio_opens_consult"):
        physio = chromium.physio.new_page()
        physio.goto(booked["staff_url"])
        physio.wait_for_function("() => window.telehealthCall.socket.connected")
    patient_context = chromium.context({"width": 390, "height": 844})
    patient = patient_context.new_page()
    with steps.step("patient_checks_in"):
        check_in(patient, booked["join_url"])
    with steps.step("connection_check"):
        patient.wait_for_function(CHECK_FINISHED, timeout=CHECK_TIMEOUT_MS)
    check = patient.evaluate(CHECK_RESULT)
    for page in (patient, physio):
        page.evaluate(f"() => window.__bench.watchFrames({FRAMES_DECODED})")
    sampler.start(f"call-{number}")
    with steps.step("admit_to_first_frames"):
        clicked = admit(physio)
        for page in (patient, physio):
            page.wait_for_function("() => window.__bench.firstFrame", timeout=STEP_TIMEOUT_MS)
    sampler.stop()
    clicked_epoch_ms = (time.time() - (time.monotonic() - clicked)) * 1000
    seen = {"patient": patient.evaluate(CALL_SNAPSHOT), "physio": physio.evaluate(CALL_SNAPSHOT)}
    end_call(physio)
    physio.wait_for_url("**/outcome", timeout=STEP_TIMEOUT_MS)
    physio.close()
    patient_context.close()
    chromium.contexts.remove(patient_context)
    chromium.calls += 1
    return {**call_pieces(seen, clicked_epoch_ms, check), "steps": steps.done}


# -- cutting a call into pieces -------------------------------------------------------------


def first_frame(frames: list[dict[str, Any]], direction: str, name: str, kind: str = "") -> Any:
    for frame in frames:
        if frame["direction"] == direction and frame["name"] == name:
            if not kind or frame.get("kind") == kind:
                return frame
    return None


def at(frames: list[dict[str, Any]], direction: str, name: str, kind: str = "") -> float | None:
    frame = first_frame(frames, direction, name, kind)
    return float(frame["t"]) if frame else None


def count(frames: list[dict[str, Any]], direction: str, name: str, kind: str) -> int:
    return sum(
        1 for f in frames if (f["direction"], f["name"], f.get("kind")) == (direction, name, kind)
    )


def since(start: float | None, end: float | None) -> float | None:
    return round((end - start) / 1000, 4) if start is not None and end is not None else None


def ack_of(frames: list[dict[str, Any]], event: str) -> float | None:
    sent = first_frame(frames, "out", event)
    if not sent or not sent.get("id"):
        return None
    for frame in frames:
        if frame["direction"] == "in" and frame["name"] == "ack" and frame["id"] == sent["id"]:
            return float(frame["t"])
    return None


def connection_marks(seen: dict[str, Any], number: int | None) -> dict[str, float]:
    return next((pc for pc in seen["pcs"] if pc["id"] == number), {})


def connection_check(seen: dict[str, Any], check: str | None) -> dict[str, Any]:
    """The patient's connection check against the media worker, before the admit."""
    checks = [pc for pc in seen["pcs"] if pc["id"] != seen["callPc"]]
    marks = checks[0] if checks else {}
    return {
        "result": check,
        "created_to_ice_connected_s": since(marks.get("created"), marks.get("ice_connected")),
        "created_to_dtls_connected_s": since(marks.get("created"), marks.get("dtls_connected")),
        "created_to_echo_track_s": since(marks.get("created"), marks.get("track_video")),
    }


def side_pieces(seen: dict[str, Any], admit_at: float | None) -> dict[str, Any]:
    """One page's milestones: its load, then everything after the admit."""
    frames = seen["frames"]
    call = connection_marks(seen, seen["callPc"])
    camera = seen["cameras"][0] if seen["cameras"] else {}
    return {
        "page_load_to_socket_open_s": since(seen["origin"], at(frames, "-", "ws_open")),
        "page_load_to_socket_connected_s": since(seen["origin"], at(frames, "in", "connect")),
        "admit_to_ice_servers_s": since(admit_at, at(frames, "in", "ice_servers")),
        "admit_to_state_in_call_s": since(admit_at, at(frames, "in", "state", "in_call")),
        "page_load_to_camera_on_s": since(seen["origin"], camera.get("settled")),
        "camera_start_s": since(camera.get("started"), camera.get("settled")),
        "admit_to_connection_created_s": since(admit_at, call.get("created")),
        "admit_to_first_candidate_s": since(admit_at, call.get("first_candidate")),
        "admit_to_first_relay_candidate_s": since(admit_at, call.get("first_relay_candidate")),
        "admit_to_ice_connected_s": since(admit_at, call.get("ice_connected")),
        "admit_to_dtls_connected_s": since(admit_at, call.get("dtls_connected")),
        "admit_to_remote_video_track_s": since(admit_at, call.get("track_video")),
        "admit_to_first_frame_s": since(admit_at, seen["firstFrame"]),
        "ice_connected_to_first_frame_s": since(call.get("ice_connected"), seen["firstFrame"]),
        "route": seen["route"],
    }


def call_pieces(seen: dict[str, Any], clicked_ms: float, check: str | None) -> dict[str, Any]:
    physio, patient = seen["physio"]["frames"], seen["patient"]["frames"]
    admit_at = at(physio, "out", "admit")
    return {
        "admit_to_first_frame_patient_s": since(admit_at, seen["patient"]["firstFrame"]),
        "admit_to_first_frame_physio_s": since(admit_at, seen["physio"]["firstFrame"]),
        "click_to_first_frame_patient_s": since(clicked_ms, seen["patient"]["firstFrame"]),
        "admit_acknowledged_s": since(admit_at, ack_of(physio, "admit")),
        "offer_through_server_s": since(
            at(physio, "out", "signal", "offer"), at(patient, "in", "signal", "offer")
        ),
        "answer_through_server_s": since(
            at(patient, "out", "signal", "answer"), at(physio, "in", "signal", "answer")
        ),
        "offers_by_physio": count(physio, "out", "signal", "offer"),
        "offers_by_patient": count(patient, "out", "signal", "offer"),
        "patient": side_pieces(seen["patient"], admit_at),
        "physio": side_pieces(seen["physio"], admit_at),
        "connection_check": connection_check(seen["patient"], check),
    }


# -- the aiortc peers (call_setup.py's figure) ----------------------------------------------


async def aiortc_call(clinic: call_setup.Clinic) -> dict[str, Any]:
    """call_setup.py's full-stack call, with its connect and admit acknowledgement too."""
    booked = await asyncio.to_thread(clinic.book_now)
    server = LogWatch(clinic.instance / "serve.log")
    server.mark()
    cpu = signaling_load.cpu_seconds
    assert clinic.process is not None
    own, server_pid = os.getpid(), clinic.process.pid
    cpu_before = cpu(server_pid), cpu(own)
    result = await run_call(
        clinic.url,
        booked["join_url"],
        call_setup.STAFF_EMAIL,
        call_setup.STAFF_PASSWORD,
        int(booked["id"]),
        hold_seconds=0.0,
        step_timeout=call_setup.STEP_TIMEOUT,
    )
    wanted = ("connect", "check_in", "admit", "admit_to_first_frame_patient")
    timings: dict[str, Any] = {f"{key}_s": round(float(result[key]), 4) for key in wanted}
    cpu_ms = {
        "server": round((cpu(server_pid) - cpu_before[0]) * 1000),
        "peers": round((cpu(own) - cpu_before[1]) * 1000),
    }
    return {**timings, "cpu_ms": cpu_ms, "server": server.since_mark()}


async def aiortc_calls(clinic: call_setup.Clinic, calls: int) -> dict[str, Any]:
    """The peers' own first use in a direct call, then `calls` calls through a cold server."""
    direct_first = await call_setup.direct()
    direct_later = await call_setup.direct()
    through_server = [await aiortc_call(clinic) for _ in range(calls)]
    return {
        "direct_first_s": round(direct_first, 4),
        "direct_later_s": round(direct_later, 4),
        "through_server": through_server,
    }


# -- one fresh start -------------------------------------------------------------------------


def browser_round(
    calls: int, media_worker: bool, turn: bool, profile: Path | None, round_number: int
) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with fresh_clinic(media_worker, turn) as clinic, sync_playwright() as playwright:
        log(f"start {round_number}: server ready in {clinic.started_s:.2f} s")
        prefix = profile / f"start{round_number}" if profile else None
        sampler = signaling_load.Sampler(clinic.server_pid, prefix)
        same_browser, fresh_browser = [], None
        chromium = launch(playwright)
        try:
            for number in range(calls):
                same_browser.append(browser_call(chromium, clinic, sampler))
                log(f"call {number + 1}: {summary_line(same_browser[-1])}")
        finally:
            chromium.close()
        newcomer = launch(playwright)
        try:
            unsampled = signaling_load.Sampler(clinic.server_pid, None)
            fresh_browser = browser_call(newcomer, clinic, unsampled)
            log(f"new browser, warm server: {summary_line(fresh_browser)}")
        finally:
            newcomer.close()
        problems = server_problems(clinic.clinic)
    return {
        "server_start_s": round(clinic.started_s, 2),
        "turn": clinic.coturn is not None,
        "media_worker": media_worker,
        "calls_same_browser": same_browser,
        "new_browser_warm_server": fresh_browser,
        "server_log_problems": problems,
    }


def aiortc_round(calls: int, turn: bool) -> dict[str, Any]:
    with fresh_clinic(media_worker=False, turn=turn) as clinic:
        result = asyncio.run(aiortc_calls(clinic.clinic, calls))
    frames = [c["admit_to_first_frame_patient_s"] for c in result["through_server"]]
    log(f"aiortc through a fresh server, admit → frame: {frames}")
    return result


def summary_line(call: dict[str, Any]) -> str:
    return (
        f"admit → frame patient {call['admit_to_first_frame_patient_s']} s, "
        f"physio {call['admit_to_first_frame_physio_s']} s, "
        f"ice_servers after {call['patient']['admit_to_ice_servers_s']} s, "
        f"check {call['connection_check']['created_to_dtls_connected_s']} s"
    )


def server_problems(clinic: call_setup.Clinic) -> list[str]:
    lines = clinic.log().splitlines()
    return [line for line in lines if "Traceback" in line or " ERROR " in line][:5]


# -- first against later ----------------------------------------------------------------------


def median(values: list[Any]) -> float | None:
    clean = [v for v in values if isinstance(v, int | float)]
    return round(statistics.median(clean), 4) if clean else None


def flat(call: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in call.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        elif isinstance(value, int | float):
            out[f"{prefix}{key}"] = value
    return out


def compare(first: list[dict[str, Any]], later: list[dict[str, Any]]) -> dict[str, Any]:
    """Per piece: the median over first calls, over later calls, and first / later."""
    firsts, laters = [flat(c) for c in first], [flat(c) for c in later]
    out = {}
    for key in firsts[0] if firsts else []:
        a, b = median([f.get(key) for f in firsts]), median([x.get(key) for x in laters])
        out[key] = {"first": a, "later": b, "ratio": round(a / b, 2) if a and b else None}
    return out


def report(rounds: list[dict[str, Any]], aiortc: list[dict[str, Any]]) -> dict[str, Any]:
    first = [r["calls_same_browser"][0] for r in rounds]
    later = [c for r in rounds for c in r["calls_same_browser"][1:]]
    newcomer = [r["new_browser_warm_server"] for r in rounds if r["new_browser_warm_server"]]
    aiortc_first = [a["through_server"][0] for a in aiortc]
    aiortc_later = [c for a in aiortc for c in a["through_server"][1:]]
    headline = "admit_to_first_frame_patient_s"
    return {
        "benchmark": "first_call",
        "what": "admit → first decoded remote video frame, first call on a fresh server and "
        "browser against later calls, seconds",
        "restarts": len(rounds),
        "first_call_median_s": median([c[headline] for c in first]),
        "later_calls_median_s": median([c[headline] for c in later]),
        "first_over_later": ratio(first, later, headline),
        "new_browser_on_warm_server_median_s": median([c[headline] for c in newcomer]),
        "new_browser_over_later": ratio(newcomer, later, headline),
        "aiortc_through_server": {
            "first_call_median_s": median([c[headline] for c in aiortc_first]),
            "later_calls_median_s": median([c[headline] for c in aiortc_later]),
            "first_over_later": ratio(aiortc_first, aiortc_later, headline),
            "pieces_first_vs_later": compare(aiortc_first, aiortc_later),
            "direct_first_call_s": [a["direct_first_s"] for a in aiortc],
            "direct_later_call_s": [a["direct_later_s"] for a in aiortc],
        },
        "pieces_first_vs_later": compare(first, later),
        "pieces_new_browser_vs_later": compare(newcomer, later),
        "rounds": rounds,
        "aiortc_rounds": aiortc,
    }


def ratio(first: list[dict[str, Any]], later: list[dict[str, Any]], key: str) -> float | None:
    a, b = median([c[key] for c in first]), median([c[key] for c in later])
    return round(a / b, 2) if a and b else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--restarts", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3, help="browser calls per fresh server")
    parser.add_argument("--aiortc-calls", type=int, default=4)
    parser.add_argument("--no-media-worker", action="store_true")
    parser.add_argument("--no-turn", action="store_true", help="no coturn, no TURN servers")
    parser.add_argument("--no-aiortc", action="store_true")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--profile", type=Path, help="folder for py-spy profiles (first start)")
    args = parser.parse_args()
    call_setup.refuse_outside_namespace()
    if not Path(CHROMIUM).exists():
        sys.exit(f"first_call: {CHROMIUM} is not installed")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    rounds, aiortc = [], []
    for number in range(1, args.restarts + 1):
        profile = args.profile if number == 1 else None
        if not args.no_browser:
            worker, turn = not args.no_media_worker, not args.no_turn
            rounds.append(browser_round(args.calls, worker, turn, profile, number))
        if not args.no_aiortc:
            aiortc.append(aiortc_round(args.aiortc_calls, not args.no_turn))
    result = report(rounds, aiortc)
    result["load_average"] = {"before": load_before, "after": load_average()}
    result["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
