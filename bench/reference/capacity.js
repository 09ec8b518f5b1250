// The load generator of bench/capacity.py: consults with a real call's traffic, added level
// by level, against our /consult namespace or a reference relay. socket.io-client 4,
// websocket only, as load.js.
//
//   node capacity.js [--relay-only] [--monitor MONITOR.json] [--stats-every 2]
//                    [--probe-every 2] [--chat-every 30] [--concurrency 25]
//                    [--probe-timeout 5] [--setup-timeout 120]
//
// It reads one JSON command a line on stdin:
//   {"add": [ROOM, ...], "warmup": 5, "hold": 20}
// where ROOM is {"patient": {"url", "auth", "headers"}, "provider": {...}} as in load.js.
// For each command it connects the new consults' two sides (the earlier ones stay in their
// call), waits --warmup seconds, prints "#measuring", holds for `hold` seconds, prints
// "#measured" and then one JSON line for the level. The warm-up starts once every new
// consult's set-up burst is done (or --setup-timeout seconds have passed): the window
// measures the steady state of all the consults. Errors before the window (connects, set-up
// bursts, the steady traffic meanwhile) are `setup_errors`, those inside it `errors`.
// It prints {"ready": true, "payload_bytes": {...}} once the monitor (if any) is connected.
// Closing stdin (or SIGTERM) disconnects everything and exits.
//
// A consult's traffic once both sides are connected:
//   - the set-up burst: 30 signals, as a browser's perfect negotiation sends them: the
//     physiotherapist's offer (a ~5 KB SDP), the patient's answer (~3 KB), then 14 trickled
//     ICE candidates from each side;
//   - every --stats-every seconds, each side's `stats` (what call.js reports from getStats);
//   - every --probe-every seconds, a probe: the patient sends a candidate-like `signal`
//     carrying its send time, the physiotherapist sends it straight back, and the patient
//     records the round trip (the figure the capacity is judged on);
//   - every --chat-every seconds, one chat message from one side or the other;
//   - Engine.IO's own heartbeats (each server's ping interval).
// Each activity starts at a random phase, so the consults do not tick in step.
// Every event is sent with an acknowledgement; a refusal, a disconnect, a failed connect or
// a probe that does not come back within --probe-timeout seconds is an error.
//
// --relay-only: the reference relays only relay `signal`, so `stats` and `chat` go as
// `signal`s with the same payloads (the same number of messages, of the same sizes).
// --monitor: {"url", "headers"} of an admin's /monitor socket, held open for the whole run
// (our server sends it a `room` update for every `stats`).
"use strict";

const fs = require("fs");
const readline = require("readline");
const { io } = require("socket.io-client");
const { performance, monitorEventLoopDelay } = require("perf_hooks");

function parseArgs(argv) {
  const opts = {
    relayOnly: false,
    monitor: null,
    statsEvery: 2,
    probeEvery: 2,
    chatEvery: 30,
    concurrency: 25,
    probeTimeout: 5,
    setupTimeout: 120,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => Number(argv[++i]);
    if (arg === "--relay-only") opts.relayOnly = true;
    else if (arg === "--monitor") opts.monitor = JSON.parse(fs.readFileSync(argv[++i], "utf8"));
    else if (arg === "--stats-every") opts.statsEvery = value();
    else if (arg === "--probe-every") opts.probeEvery = value();
    else if (arg === "--chat-every") opts.chatEvery = value();
    else if (arg === "--concurrency") opts.concurrency = value();
    else if (arg === "--probe-timeout") opts.probeTimeout = value();
    else if (arg === "--setup-timeout") opts.setupTimeout = value();
    else throw new Error(`unknown argument ${arg}`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// -- what a call sends --------------------------------------------------------------------

const TRICKLED_PER_SIDE = 14; // + the offer and the answer: a set-up burst of 30 signals

function randomHex(length) {
  let out = "";
  while (out.length < length) out += Math.floor(Math.random() * 0x100000000).toString(16);
  return out.slice(0, length);
}

function fingerprint() {
  return Array.from({ length: 32 }, () => randomHex(2).toUpperCase()).join(":");
}

// Chrome's audio codecs and video codecs with their feedback and rtx lines, as an offer
// lists them; an answer keeps the first few.
const AUDIO = [
  [111, "opus/48000/2", ["transport-cc"], "minptime=10;useinbandfec=1"],
  [63, "red/48000/2", [], "111/111"],
  [9, "G722/8000", [], null],
  [0, "PCMU/8000", [], null],
  [8, "PCMA/8000", [], null],
  [13, "CN/8000", [], null],
  [110, "telephone-event/48000", [], null],
  [126, "telephone-event/8000", [], null],
];
const VIDEO_FB = ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"];
const VIDEO = [
  [96, "VP8/90000", null],
  [98, "VP9/90000", "profile-id=0"],
  [100, "VP9/90000", "profile-id=2"],
  [102, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"],
  [104, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f"],
  [106, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"],
  [108, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"],
  [112, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"],
  [35, "AV1/90000", "level-idx=5;profile=0;tier=0"],
];
const EXTMAPS_AUDIO = [
  "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
  "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
  "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
  "urn:ietf:params:rtp-hdrext:sdes:mid",
];
const EXTMAPS_VIDEO = [
  "urn:ietf:params:rtp-hdrext:toffset",
  "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
  "urn:3gpp:video-orientation",
  "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
  "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
  "http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
  "http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
  "http://www.webrtc.org/experiments/rtp-hdrext/color-space",
  "urn:ietf:params:rtp-hdrext:sdes:mid",
  "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
  "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
];

function mediaSection(kind, mid, codecs, ice, setup, stream) {
  const types = [];
  const body = [];
  let extId = 1;
  for (const uri of kind === "audio" ? EXTMAPS_AUDIO : EXTMAPS_VIDEO) {
    body.push(`a=extmap:${extId++} ${uri}`);
  }
  body.push("a=sendrecv", `a=msid:${stream} ${randomHex(8)}-${randomHex(4)}-${randomHex(12)}`);
  body.push("a=rtcp-mux");
  if (kind === "video") body.push("a=rtcp-rsize");
  for (const codec of codecs) {
    if (kind === "audio") {
      const [pt, name, feedback, fmtp] = codec;
      types.push(pt);
      body.push(`a=rtpmap:${pt} ${name}`);
      for (const fb of feedback) body.push(`a=rtcp-fb:${pt} ${fb}`);
      if (fmtp) body.push(`a=fmtp:${pt} ${fmtp}`);
    } else {
      const [pt, name, fmtp] = codec;
      types.push(pt, pt + 1);
      body.push(`a=rtpmap:${pt} ${name}`);
      for (const fb of VIDEO_FB) body.push(`a=rtcp-fb:${pt} ${fb}`);
      if (fmtp) body.push(`a=fmtp:${pt} ${fmtp}`);
      body.push(`a=rtpmap:${pt + 1} rtx/90000`, `a=fmtp:${pt + 1} apt=${pt}`);
    }
  }
  const ssrc = Math.floor(Math.random() * 0xffffffff);
  const cname = randomHex(16);
  body.push(`a=ssrc:${ssrc} cname:${cname}`, `a=ssrc:${ssrc} msid:${stream} ${randomHex(36)}`);
  return [
    `m=${kind} 9 UDP/TLS/RTP/SAVPF ${types.join(" ")}`,
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    `a=ice-ufrag:${ice.ufrag}`,
    `a=ice-pwd:${ice.pwd}`,
    "a=ice-options:trickle",
    `a=fingerprint:sha-256 ${ice.fingerprint}`,
    `a=setup:${setup}`,
    `a=mid:${mid}`,
    ...body,
  ];
}

function sessionDescription(type, ice) {
  const full = type === "offer";
  const audio = full ? AUDIO : AUDIO.slice(0, 4);
  const video = full ? VIDEO : VIDEO.slice(0, 4);
  const stream = randomHex(36);
  const lines = [
    "v=0",
    `o=- ${Math.floor(Math.random() * 1e18)} 2 IN IP4 127.0.0.1`,
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed",
    `a=msid-semantic: WMS ${stream}`,
    ...mediaSection("audio", 0, audio, ice, full ? "actpass" : "active", stream),
    ...mediaSection("video", 1, video, ice, full ? "actpass" : "active", stream),
  ];
  return { description: { type, sdp: `${lines.join("\r\n")}\r\n` } };
}

function newIce() {
  return { ufrag: randomHex(4), pwd: randomHex(24), fingerprint: fingerprint() };
}

// Host, server-reflexive and relay candidates as Chrome trickles them (loopback addresses:
// only their size matters).
function trickledCandidate(index, ice) {
  const port = 40000 + Math.floor(Math.random() * 20000);
  const foundation = Math.floor(Math.random() * 4e9);
  const mid = index % 2;
  const kinds = [
    `typ host generation 0 ufrag ${ice.ufrag} network-id 1`,
    `typ srflx raddr 127.0.0.1 rport ${port + 1} generation 0 ufrag ${ice.ufrag} ` +
      "network-id 1 network-cost 10",
    `typ relay raddr 127.0.0.2 rport ${port + 2} generation 0 ufrag ${ice.ufrag} ` +
      "network-id 1 network-cost 10",
  ];
  return {
    candidate: {
      candidate: `candidate:${foundation} 1 udp ${2122260223 - index} 127.0.0.${1 + (index % 3)} ${port} ${kinds[index % 3]}`,
      sdpMid: String(mid),
      sdpMLineIndex: mid,
      usernameFragment: ice.ufrag,
    },
  };
}

// The probe: a candidate-sized signal that carries its number and send time.
const PROBE = /probe:(\d+) ts:([0-9.]+)/;
function probeSignal(seq, sentAt, ice) {
  return {
    candidate: {
      candidate:
        `candidate:3213374627 1 udp 1686052607 127.0.0.1 ${50000 + (seq % 10000)} typ srflx ` +
        `raddr 0.0.0.0 rport 0 generation 0 ufrag ${ice.ufrag} network-cost 999 ` +
        `probe:${seq} ts:${sentAt.toFixed(3)}`,
      sdpMid: "0",
      sdpMLineIndex: 0,
      usernameFragment: ice.ufrag,
    },
  };
}

// What call.js's summariseStats sends (rtt_ms, jitter_ms, loss_pct, bitrate_kbps, route).
function callStats() {
  const round = (value, digits) => Number(value.toFixed(digits));
  return {
    rtt_ms: round(20 + Math.random() * 60, 1),
    jitter_ms: round(1 + Math.random() * 9, 1),
    loss_pct: round(Math.random() * 2, 2),
    bitrate_kbps: round(800 + Math.random() * 1700, 1),
    route: "direct",
  };
}

const CHAT = [
  "Can you hear me all right?",
  "I'll share the exercise sheet after the call.",
  "Please step back a little so I can see your whole leg.",
  "The pain is mostly on the outside of the knee, especially going down stairs.",
  "Try to lift your arm slowly until you feel the stretch, then hold it for ten seconds.",
  "Thanks, that was really helpful. Should I keep icing it in the evening?",
];

// The JSON size of each kind of message, as the report states them.
function payloadBytes() {
  const ice = newIce();
  const size = (payload) => Buffer.byteLength(JSON.stringify(payload));
  const candidates = Array.from({ length: TRICKLED_PER_SIDE }, (_, i) =>
    size(trickledCandidate(i, ice))
  );
  const chats = CHAT.map((text) => size({ text }));
  return {
    offer: size(sessionDescription("offer", ice)),
    answer: size(sessionDescription("answer", ice)),
    candidate: [Math.min(...candidates), Math.max(...candidates)],
    probe: size(probeSignal(123456, 1234567.891, ice)),
    stats: size(callStats()),
    chat: [Math.min(...chats), Math.max(...chats)],
  };
}

// -- counting ------------------------------------------------------------------------------

const errors = { count: 0, codes: {} };
function error(code) {
  errors.count += 1;
  errors.codes[code] = (errors.codes[code] || 0) + 1;
}

let measuring = false;
const sent = {};
const received = {};
function countSent(kind) {
  if (measuring) sent[kind] = (sent[kind] || 0) + 1;
}
function countReceived(kind) {
  if (measuring) received[kind] = (received[kind] || 0) + 1;
}

function acknowledged(kind) {
  return (response) => {
    if (!response || response.ok !== true) {
      const code = (response && response.error && response.error.code) || "bad_ack";
      error(`ack:${kind}:${code}`);
    }
  };
}

// Probes in flight: seq -> {sentAt, inWindow}.
const probes = new Map();
let probeSeq = 0;
let windowRtts = [];
let windowLost = 0;

setInterval(() => {
  const now = performance.now();
  for (const [seq, probe] of probes) {
    if (now - probe.sentAt > opts.probeTimeout * 1000) {
      probes.delete(seq);
      error("probe_lost");
      if (probe.inWindow) windowLost += 1;
    }
  }
}, 500).unref();

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Number(sorted[rank].toFixed(3));
}

// -- sockets and consults ------------------------------------------------------------------

let stopping = false;
const allSockets = [];

function open(peer, namespaceErrors) {
  return new Promise((resolve) => {
    const socket = io(peer.url, {
      transports: ["websocket"],
      auth: peer.auth || {},
      extraHeaders: peer.headers || {},
      forceNew: true,
      reconnection: false,
      timeout: 60000,
    });
    let settled = false;
    socket.on("connect", () => {
      if (!settled) {
        settled = true;
        allSockets.push(socket);
        resolve(socket);
      }
    });
    socket.on("connect_error", (err) => {
      const code = (err && err.data && err.data.code) || (err && err.message) || "connect_error";
      error(`connect:${code}`);
      namespaceErrors.count += 1;
      socket.close();
      if (!settled) {
        settled = true;
        resolve(null);
      }
    });
    socket.on("disconnect", (reason) => {
      if (!stopping) error(`disconnect:${reason}`);
    });
    socket.on("error", (data) => error(`server_error:${(data && data.code) || "unknown"}`));
  });
}

// `stats` and `chat` as our server takes them, or as plain signals for a reference relay.
function emitAs(socket, event, payload) {
  const name = opts.relayOnly ? "signal" : event;
  countSent(event);
  socket.emit(name, payload, acknowledged(event));
}

// Runs `action` every `seconds`, from a random phase; the timer is kept for shutdown.
const timers = [];
function every(seconds, action) {
  const first = setTimeout(
    () => {
      action();
      timers.push(setInterval(action, seconds * 1000));
    },
    Math.random() * seconds * 1000
  );
  timers.push(first);
}

function classify(payload) {
  if (!payload || typeof payload !== "object") return "other";
  if (payload.description) return payload.description.type;
  if (payload.candidate && typeof payload.candidate.candidate === "string") {
    return PROBE.test(payload.candidate.candidate) ? "probe" : "candidate";
  }
  if ("rtt_ms" in payload) return "stats";
  if ("text" in payload) return "chat";
  return "other";
}

function trickle(socket, ice, done) {
  let index = 0;
  const next = () => {
    if (stopping || !socket.connected) return;
    countSent("setup");
    socket.emit("signal", trickledCandidate(index, ice), acknowledged("setup"));
    index += 1;
    if (index < TRICKLED_PER_SIDE) setTimeout(next, 5 + Math.random() * 20);
    else done();
  };
  next();
}

const consults = [];

// A consult's set-up burst, then its steady state; resolves with the burst's duration (ms).
function startConsult(patient, provider) {
  const consult = { patient, provider, ice: { patient: newIce(), provider: newIce() } };
  let trickling = 0;
  let settle;
  const settled = new Promise((resolve) => (settle = resolve));
  const offeredAt = performance.now();
  const steady = () => {
    trickling += 1;
    if (trickling === 2) {
      startSteadyState(consult);
      settle(performance.now() - offeredAt);
    }
  };
  provider.on("signal", (payload) => {
    const kind = classify(payload);
    countReceived(kind);
    if (kind === "probe") {
      countSent("echo");
      provider.emit("signal", payload, acknowledged("echo"));
    } else if (kind === "answer") {
      trickle(provider, consult.ice.provider, steady);
    }
  });
  patient.on("signal", (payload) => {
    const kind = classify(payload);
    countReceived(kind === "probe" ? "echo" : kind);
    if (kind === "probe") {
      const match = PROBE.exec(payload.candidate.candidate);
      const probe = probes.get(Number(match[1]));
      if (probe) {
        probes.delete(Number(match[1]));
        if (probe.inWindow) windowRtts.push(performance.now() - probe.sentAt);
      }
    } else if (kind === "offer") {
      countSent("setup");
      patient.emit(
        "signal",
        sessionDescription("answer", consult.ice.patient),
        acknowledged("setup")
      );
      trickle(patient, consult.ice.patient, steady);
    }
  });
  for (const socket of [patient, provider]) socket.on("chat", () => countReceived("chat"));
  countSent("setup");
  provider.emit("signal", sessionDescription("offer", consult.ice.provider), acknowledged("setup"));
  consults.push(consult);
  return settled;
}

function startSteadyState(consult) {
  const { patient, provider } = consult;
  every(opts.statsEvery, () => emitAs(patient, "stats", callStats()));
  every(opts.statsEvery, () => emitAs(provider, "stats", callStats()));
  every(opts.probeEvery, () => {
    if (!patient.connected) return;
    const seq = probeSeq++;
    const sentAt = performance.now();
    probes.set(seq, { sentAt, inWindow: measuring });
    countSent("probe");
    patient.emit("signal", probeSignal(seq, sentAt, consult.ice.patient), acknowledged("probe"));
  });
  let turn = Math.random() < 0.5 ? 0 : 1;
  every(opts.chatEvery, () => {
    turn = 1 - turn;
    const text = CHAT[Math.floor(Math.random() * CHAT.length)];
    emitAs(turn ? patient : provider, "chat", { text });
  });
}

// Connects the new consults, at most --concurrency at a time; `setups` are their set-up
// bursts under way.
async function addConsults(rooms) {
  const failed = { count: 0 };
  const setups = [];
  let next = 0;
  let added = 0;
  async function worker() {
    while (next < rooms.length) {
      const room = rooms[next++];
      const [patient, provider] = await Promise.all([
        open(room.patient, failed),
        open(room.provider, failed),
      ]);
      if (patient && provider) {
        setups.push(startConsult(patient, provider));
        added += 1;
      } else {
        for (const socket of [patient, provider]) if (socket) socket.disconnect();
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, rooms.length) }, worker));
  return { added, connectFailures: failed.count, setups };
}

// The set-up bursts' durations, once all are done or --setup-timeout has passed (the
// unfinished ones are errors).
async function setupTimes(setups) {
  const times = [];
  for (const setup of setups) setup.then((ms) => times.push(ms));
  const deadline = performance.now() + opts.setupTimeout * 1000;
  while (times.length < setups.length && performance.now() < deadline) await sleep(50);
  for (let i = times.length; i < setups.length; i++) error("setup_incomplete");
  return times.sort((a, b) => a - b);
}

let monitorUpdates = 0;
async function openMonitor() {
  if (!opts.monitor) return null;
  const failed = { count: 0 };
  const socket = await open(opts.monitor, failed);
  if (!socket) throw new Error("the admin monitor did not connect");
  // Each message lists the rooms that changed since the last one: count the room updates.
  socket.on("rooms_update", (payload) => {
    if (measuring) monitorUpdates += (payload && payload.rooms ? payload.rooms.length : 0);
  });
  return socket;
}

// The server's Engine.IO heartbeat, as its handshake announced it.
function pingInterval() {
  const socket = allSockets.find((each) => each.connected);
  const engine = socket && socket.io && socket.io.engine;
  // engine.io-client 6 keeps it in a private field.
  const interval = engine && (engine.pingInterval ?? engine._pingInterval);
  return typeof interval === "number" && interval > 0 ? interval : null;
}

function errorsBetween(before, after) {
  const codes = {};
  for (const [code, count] of Object.entries(after.codes)) {
    const more = count - (before.codes[code] || 0);
    if (more > 0) codes[code] = more;
  }
  return codes;
}

// -- one level -----------------------------------------------------------------------------

async function level(command) {
  const started = performance.now();
  const errorsAtStart = { count: errors.count, codes: { ...errors.codes } };
  const { added, connectFailures, setups } = await addConsults(command.add || []);
  const connectSeconds = (performance.now() - started) / 1000;
  const setupMs = await setupTimes(setups);
  const setupSeconds = (performance.now() - started) / 1000;
  await sleep((command.warmup ?? 5) * 1000);

  for (const key of Object.keys(sent)) delete sent[key];
  for (const key of Object.keys(received)) delete received[key];
  windowRtts = [];
  windowLost = 0;
  monitorUpdates = 0;
  const errorsBefore = { count: errors.count, codes: { ...errors.codes } };
  const setupErrors = errorsBetween(errorsAtStart, errorsBefore);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpuBefore = process.cpuUsage();
  console.log("#measuring");
  measuring = true;
  const windowStart = performance.now();
  await sleep((command.hold ?? 20) * 1000);
  measuring = false;
  const seconds = (performance.now() - windowStart) / 1000;
  console.log("#measured");
  const cpu = process.cpuUsage(cpuBefore);
  loop.disable();
  // The window's last probes come back (or time out) before the level is judged.
  const deadline = performance.now() + (opts.probeTimeout + 1) * 1000;
  while ([...probes.values()].some((p) => p.inWindow) && performance.now() < deadline) {
    await sleep(50);
  }

  const windowErrors = errorsBetween(errorsBefore, errors);
  windowRtts.sort((a, b) => a - b);
  const events = Object.values(sent).reduce((a, b) => a + b, 0);
  console.log(
    JSON.stringify({
      consults: consults.length,
      added,
      connect_failures: connectFailures,
      connect_seconds: Number(connectSeconds.toFixed(3)),
      setup_seconds: Number(setupSeconds.toFixed(3)),
      setup_burst_p50_ms: percentile(setupMs, 50),
      setup_burst_p99_ms: percentile(setupMs, 99),
      seconds: Number(seconds.toFixed(3)),
      probes: windowRtts.length + windowLost,
      probes_lost: windowLost,
      rtt_p50_ms: percentile(windowRtts, 50),
      rtt_p90_ms: percentile(windowRtts, 90),
      rtt_p99_ms: percentile(windowRtts, 99),
      rtt_max_ms: percentile(windowRtts, 100),
      sent: { ...sent },
      received: { ...received },
      events_per_s: Number((events / seconds).toFixed(1)),
      monitor_updates: monitorUpdates,
      errors: errors.count - errorsBefore.count,
      error_codes: windowErrors,
      setup_errors: errorsBefore.count - errorsAtStart.count,
      setup_error_codes: setupErrors,
      errors_total: errors.count,
      generator_cpu_s: Number(((cpu.user + cpu.system) / 1e6).toFixed(3)),
      generator_loop_delay_p99_ms: Number((loop.percentile(99) / 1e6).toFixed(1)),
      generator_loop_delay_max_ms: Number((loop.max / 1e6).toFixed(1)),
      ping_interval_ms: pingInterval(),
    })
  );
}

// -- the command loop ----------------------------------------------------------------------

function shutdown() {
  if (stopping) return;
  stopping = true;
  for (const timer of timers) clearTimeout(timer);
  for (const socket of allSockets) socket.disconnect();
  setTimeout(() => process.exit(0), 300);
}

async function main() {
  await openMonitor();
  const lines = readline.createInterface({ input: process.stdin });
  const queue = [];
  let wake = null;
  lines.on("line", (line) => {
    if (line.trim()) queue.push(JSON.parse(line));
    if (wake) wake();
  });
  lines.on("close", () => {
    queue.push(null);
    if (wake) wake();
  });
  process.on("SIGTERM", shutdown);
  console.log(JSON.stringify({ ready: true, payload_bytes: payloadBytes() }));
  for (;;) {
    while (queue.length === 0) await new Promise((resolve) => (wake = resolve));
    wake = null;
    const command = queue.shift();
    if (command === null) break;
    await level(command);
  }
  shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
