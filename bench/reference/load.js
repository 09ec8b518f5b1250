// The load generator of bench/signaling_load.py, used against both servers so the client
// side costs the same for each: socket.io-client 4 over websocket only.
//
//   node load.js ROOMS.json [--seconds 10] [--warmup 1] [--concurrency 50]
//   node load.js ROOMS.json --idle 1000
//
// ROOMS.json: [{"patient": {"url", "auth", "headers"}, "provider": {...}}, ...] where url is
// the namespace URL (http://127.0.0.1:PORT/consult), auth the Socket.IO auth payload and
// headers extra HTTP headers for the websocket handshake (the staff session Cookie).
//
// Ping-pong mode: connects every socket (measuring sockets/s), then for --seconds each room
// keeps one `signal` in flight: the patient sends a ~1 KB ICE candidate carrying its send
// time, the provider sends it straight back, the patient records the round trip and sends
// the next. Prints one JSON line:
//   {"rooms", "sockets", "connect_per_s", "relayed_msgs", "msgs_per_s", "rtt_p50_ms",
//    "rtt_p99_ms", "errors", ...}
// With --markers it also prints "#measuring" and "#measured" lines as the measured window
// opens and closes, so the caller can read the servers' CPU time at those moments.
// relayed_msgs counts every `signal` delivered to a socket (both directions) inside the
// measured window; --warmup seconds of ping-pong before it are not counted.
//
// --no-deflate: do not offer permessage-deflate (browsers and socket.io-client do; the
// Node reference server declines it by default, simple-websocket accepts it).
//
// Idle mode (--idle N): connects N patient sockets, the rooms' patients round-robin, prints
// {"idle_sockets", "connected", "connect_per_s", "errors"} and holds them until stdin
// closes (or SIGTERM), then disconnects and exits.
"use strict";

const fs = require("fs");
const { io } = require("socket.io-client");
const { performance } = require("perf_hooks");

function parseArgs(argv) {
  const opts = {
    seconds: 10,
    warmup: 1,
    concurrency: 50,
    idle: 0,
    stall: 5,
    markers: false,
    deflate: true,
    file: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => Number(argv[++i]);
    if (arg === "--seconds") opts.seconds = value();
    else if (arg === "--warmup") opts.warmup = value();
    else if (arg === "--concurrency") opts.concurrency = value();
    else if (arg === "--idle") opts.idle = value();
    else if (arg === "--stall") opts.stall = value();
    else if (arg === "--markers") opts.markers = true;
    else if (arg === "--no-deflate") opts.deflate = false;
    else if (!arg.startsWith("--") && opts.file === null) opts.file = arg;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!opts.file) throw new Error("usage: node load.js ROOMS.json [--seconds N] [--idle N]");
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const rooms = JSON.parse(fs.readFileSync(opts.file, "utf8"));

const errors = { count: 0, codes: {} };
function error(code) {
  errors.count += 1;
  errors.codes[code] = (errors.codes[code] || 0) + 1;
}

// A realistic host candidate padded to ~950 characters; `ts:` carries the send time.
const PAD = "x".repeat(820);
function candidate(seq, sentAt) {
  return {
    candidate:
      `candidate:842163049 1 udp 1677729535 127.0.0.1 ${50000 + (seq % 10000)} typ srflx ` +
      `raddr 0.0.0.0 rport 0 generation 0 ufrag EsAw network-cost 999 ` +
      `ts:${sentAt.toFixed(3)} seq:${seq} pad:${PAD}`,
    sdpMid: "0",
    sdpMLineIndex: 0,
  };
}
const TS = /ts:([0-9.]+) /;

function open(peer) {
  return new Promise((resolve) => {
    const socket = io(peer.url, {
      transports: ["websocket"],
      auth: peer.auth || {},
      extraHeaders: peer.headers || {},
      forceNew: true,
      reconnection: false,
      timeout: 30000,
      // socket.io-client offers permessage-deflate (threshold 1 KB) as browsers do;
      // --no-deflate stops offering it.
      ...(opts.deflate ? {} : { perMessageDeflate: false }),
    });
    let settled = false;
    socket.on("connect", () => {
      if (!settled) {
        settled = true;
        resolve(socket);
      }
    });
    socket.on("connect_error", (err) => {
      const code = (err && err.data && err.data.code) || (err && err.message) || "connect_error";
      error(`connect:${code}`);
      socket.close();
      if (!settled) {
        settled = true;
        resolve(null);
      }
    });
    socket.on("error", (data) => error(`server_error:${(data && data.code) || "unknown"}`));
  });
}

// Open `peers` with at most `concurrency` handshakes in flight; returns sockets in order.
async function openAll(peers, concurrency) {
  const sockets = new Array(peers.length).fill(null);
  let next = 0;
  async function worker() {
    while (next < peers.length) {
      const index = next++;
      sockets[index] = await open(peers[index]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, peers.length) }, worker));
  return sockets;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Number(sorted[rank].toFixed(3));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function idle() {
  const peers = Array.from({ length: opts.idle }, (_, i) => rooms[i % rooms.length].patient);
  const started = performance.now();
  const sockets = await openAll(peers, opts.concurrency);
  const seconds = (performance.now() - started) / 1000;
  const connected = sockets.filter(Boolean);
  let stopping = false;
  for (const socket of connected) {
    socket.on("disconnect", (reason) => {
      if (!stopping) error(`disconnect:${reason}`);
    });
  }
  console.log(
    JSON.stringify({
      idle_sockets: opts.idle,
      connected: connected.length,
      connect_per_s: Number((connected.length / seconds).toFixed(1)),
      errors: errors.count,
      error_codes: errors.codes,
    })
  );
  const stop = () => {
    stopping = true;
    for (const socket of connected) socket.disconnect();
    setTimeout(() => process.exit(0), 200);
  };
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.resume();
  process.on("SIGTERM", stop);
}

async function pingPong() {
  const peers = [];
  for (const room of rooms) peers.push(room.patient, room.provider);
  const started = performance.now();
  const sockets = await openAll(peers, opts.concurrency);
  const connectSeconds = (performance.now() - started) / 1000;
  const connected = sockets.filter(Boolean).length;

  let measuring = false;
  let stopping = false;
  let relayed = 0;
  const rtts = [];
  let seq = 0;

  const ackOf = (response) => {
    if (!response || response.ok !== true) {
      const code = (response && response.error && response.error.code) || "bad_ack";
      error(`ack:${code}`);
    }
  };

  const live = [];
  rooms.forEach((room, i) => {
    const patient = sockets[2 * i];
    const provider = sockets[2 * i + 1];
    if (!patient || !provider) return;
    const state = { patient, provider, lastReply: 0, inFlight: false };
    const send = () => {
      if (stopping) {
        state.inFlight = false;
        return;
      }
      state.inFlight = true;
      state.lastReply = performance.now();
      patient.emit("signal", { candidate: candidate(seq++, state.lastReply) }, ackOf);
    };
    state.send = send;
    provider.on("signal", (payload) => {
      if (measuring) relayed += 1;
      provider.emit("signal", payload, ackOf);
    });
    patient.on("signal", (payload) => {
      const now = performance.now();
      if (measuring) {
        relayed += 1;
        const match = payload && payload.candidate && TS.exec(payload.candidate.candidate);
        if (match) rtts.push(now - Number(match[1]));
        else error("bad_payload");
      }
      send();
    });
    for (const socket of [patient, provider]) {
      socket.on("disconnect", (reason) => {
        if (!stopping) error(`disconnect:${reason}`);
      });
    }
    live.push(state);
  });

  // A room whose message was refused or lost would stall: count it and send again.
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const state of live) {
      if (state.inFlight && state.patient.connected && now - state.lastReply > opts.stall * 1000) {
        error("stalled");
        state.send();
      }
    }
  }, 1000);

  for (const state of live) state.send();
  await sleep(opts.warmup * 1000);
  if (opts.markers) console.log("#measuring");
  measuring = true;
  const measureStart = performance.now();
  await sleep(opts.seconds * 1000);
  measuring = false;
  const measured = (performance.now() - measureStart) / 1000;
  if (opts.markers) console.log("#measured");
  stopping = true;
  clearInterval(watchdog);
  const drainUntil = performance.now() + 2000;
  while (live.some((s) => s.inFlight) && performance.now() < drainUntil) await sleep(20);
  for (const socket of sockets) if (socket) socket.disconnect();

  rtts.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      rooms: rooms.length,
      active_rooms: live.length,
      sockets: connected,
      connect_per_s: Number((connected / connectSeconds).toFixed(1)),
      connect_seconds: Number(connectSeconds.toFixed(3)),
      seconds: Number(measured.toFixed(3)),
      relayed_msgs: relayed,
      msgs_per_s: Number((relayed / measured).toFixed(1)),
      round_trips: rtts.length,
      rtt_p50_ms: percentile(rtts, 50),
      rtt_p99_ms: percentile(rtts, 99),
      errors: errors.count,
      error_codes: errors.codes,
    })
  );
  setTimeout(() => process.exit(0), 200);
}

(opts.idle > 0 ? idle() : pingPong()).catch((err) => {
  console.error(err);
  process.exit(1);
});
