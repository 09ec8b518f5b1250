// The connection check: the patient's camera and microphone travel to the clinic's media
// worker and back, over the same ICE/TURN path as the call, and we measure the trip. The
// verdict in words is check.js's; this module only measures.
import { t } from "../strings.js";

const CONNECT_TIMEOUT_MS = 12000;
const MEASURE_MS = 5000;
const POOR = { rtt_ms: 400, loss_pct: 5, bitrate_kbps: 250 };

function waitForIceGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    window.setTimeout(resolve, 3000); // send what we have; the worker answers anyway
  });
}

function sleep(ms) {
  return new Promise((resolve) => window.setTimeout(resolve, ms));
}

/** Round-trip time, jitter, loss, outgoing bitrate and route, from two getStats samples. */
export async function measure(pc, milliseconds = MEASURE_MS) {
  const first = await pc.getStats();
  await sleep(milliseconds);
  const last = await pc.getStats();
  const result = { route: "direct", sent_video: false };
  let sentBefore = 0;
  first.forEach((s) => { if (s.type === "outbound-rtp" && s.kind === "video") sentBefore += s.bytesSent || 0; });
  let sentAfter = 0;
  let received = 0;
  let lost = 0;
  last.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video") {
      sentAfter += s.bytesSent || 0;
      result.sent_video = true;
    }
    if (s.type === "inbound-rtp") {
      received += s.packetsReceived || 0;
      lost += Math.max(0, s.packetsLost || 0);
      if (s.kind === "audio" && typeof s.jitter === "number") result.jitter_ms = Math.round(s.jitter * 1000);
    }
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
      if (typeof s.currentRoundTripTime === "number") result.rtt_ms = Math.round(s.currentRoundTripTime * 1000);
      const local = last.get(s.localCandidateId);
      if (local && local.candidateType === "relay") result.route = "relayed";
    }
  });
  result.bitrate_kbps = Math.round(((sentAfter - sentBefore) * 8) / milliseconds);
  result.loss_pct = received + lost ? Math.round((1000 * lost) / (received + lost)) / 10 : 0;
  return result;
}

export function verdictFor(numbers) {
  if (!numbers) return "cannot_connect";
  // Without a camera there is no video to measure: the sound's trip decides.
  const slowVideo = numbers.sent_video !== false && numbers.bitrate_kbps < POOR.bitrate_kbps;
  const weak = (numbers.rtt_ms || 0) > POOR.rtt_ms || numbers.loss_pct > POOR.loss_pct || slowVideo;
  return weak ? "audio_only" : "good";
}

const REFUSED_CODES = ["no_worker", "check_running", "precheck_budget", "busy", "not_open_yet", "wrong_phase"];

/**
 * One connection check at a time over `socket` (the /consult or /setup namespace). After
 * each run `result` is {verdict, numbers} or {refused: message}; `onChange` hears every step.
 */
export class Precheck {
  constructor({ socket, request, media, onChange }) {
    Object.assign(this, { socket, request, media, onChange });
    this.pc = null;
    this.checkId = null;
    this.running = false;
    this.answer = null;
    this.result = null;
    this.echoedTracks = 0; // tracks that came back from the worker (diagnostics and tests)
    socket.on("precheck_answer", (data) => this.answer && this.answer.resolve(data));
    socket.on("precheck_error", (data) => this.answer && this.answer.reject(data));
  }

  changed() {
    this.onChange?.(this);
  }

  async run() {
    if (this.running) return;
    this.running = true;
    this.changed();
    let numbers = null;
    let refusal = null;
    try {
      await this.media.ensureStarted();
      numbers = await this.roundTrip();
    } catch (error) {
      refusal = error && error.message ? error : null;
    } finally {
      this.stop();
      this.running = false;
    }
    // The server said why the check cannot run now (no worker, one already running, or
    // this consult's checks for the hour are used up): its message says what to do.
    if (refusal && REFUSED_CODES.includes(refusal.code)) {
      this.result = { refused: String(refusal.message) };
    } else {
      this.result = { verdict: verdictFor(numbers), numbers };
      this.request("precheck_result", { verdict: this.result.verdict, ...withoutFlags(numbers) });
    }
    this.changed();
  }

  async roundTrip() {
    const ice = await this.request("precheck_ice", {});
    if (!ice.ok && ice.error && REFUSED_CODES.includes(ice.error.code)) throw ice.error;
    const pc = new RTCPeerConnection({
      iceServers: ice.ok ? ice.iceServers : [],
      iceTransportPolicy: ice.ok && ice.iceTransportPolicy === "relay" ? "relay" : "all",
    });
    this.pc = pc;
    const tracks = this.media.stream.getTracks();
    for (const track of tracks) pc.addTrack(track, this.media.stream);
    if (!tracks.some((t) => t.kind === "video")) pc.addTransceiver("video", { direction: "recvonly" });
    this.echoedTracks = 0;
    // The echo proves the round trip; the verdict says so, so it is not shown as a video.
    pc.addEventListener("track", () => { this.echoedTracks += 1; });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    const answered = new Promise((resolve, reject) => { this.answer = { resolve, reject }; });
    const ack = await this.request("precheck_offer", {
      description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp },
    });
    if (!ack.ok) throw ack.error || { code: "failed", message: t("precheck.failed") };
    this.checkId = ack.check_id;
    const reply = await Promise.race([answered, sleep(CONNECT_TIMEOUT_MS).then(() => null)]);
    if (!reply) return null;
    await pc.setRemoteDescription(reply.description);
    const connected = await this.waitConnected(pc);
    if (!connected) return null;
    return measure(pc);
  }

  waitConnected(pc) {
    return new Promise((resolve) => {
      const timer = window.setTimeout(() => resolve(false), CONNECT_TIMEOUT_MS);
      const check = () => {
        if (pc.connectionState === "connected") { window.clearTimeout(timer); resolve(true); }
        if (pc.connectionState === "failed") { window.clearTimeout(timer); resolve(false); }
      };
      pc.addEventListener("connectionstatechange", check);
      check();
    });
  }

  stop() {
    if (this.checkId) this.request("precheck_stop", { check_id: this.checkId });
    this.checkId = null;
    this.answer = null;
    if (this.pc) {
      this.pc.getSenders().forEach((sender) => this.pc.removeTrack(sender)); // the camera stays on
      this.pc.close();
    }
    this.pc = null;
  }
}

/** The numbers as the protocol's precheck_result takes them (no page-only flags). */
function withoutFlags(numbers) {
  if (!numbers) return {};
  const { sent_video: _sentVideo, ...rest } = numbers;
  return rest;
}
