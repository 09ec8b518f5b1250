// The pre-call check: the patient's camera and microphone travel to the clinic's media
// worker and back, over the same ICE/TURN path as the call, and we measure the trip.
import { setText, setVisible } from "./ui.js";

const CONNECT_TIMEOUT_MS = 12000;
const MEASURE_MS = 5000;
const POOR = { rtt_ms: 400, loss_pct: 5, bitrate_kbps: 250 };

const VERDICTS = {
  good: ["Good for video", "Your camera, microphone and connection are ready for the consult."],
  audio_only: [
    "Audio only recommended",
    "Your connection is weak for video. Move closer to your Wi-Fi router or close other apps; " +
      "you can still join, and turn your camera off if the picture freezes.",
  ],
  cannot_connect: [
    "Cannot connect",
    "We could not reach the clinic’s video service from this network. Try another network " +
      "(for example mobile data instead of Wi-Fi), or call the clinic.",
  ],
};

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
  const result = { route: "direct" };
  let sentBefore = 0;
  first.forEach((s) => { if (s.type === "outbound-rtp" && s.kind === "video") sentBefore += s.bytesSent || 0; });
  let sentAfter = 0;
  let received = 0;
  let lost = 0;
  last.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video") sentAfter += s.bytesSent || 0;
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
  const weak = (numbers.rtt_ms || 0) > POOR.rtt_ms || numbers.loss_pct > POOR.loss_pct ||
    numbers.bitrate_kbps < POOR.bitrate_kbps;
  return weak ? "audio_only" : "good";
}

export class Precheck {
  constructor({ room, media, elements }) {
    this.room = room;
    this.media = media;
    this.el = elements;
    this.pc = null;
    this.checkId = null;
    this.running = false;
    this.answer = null;
    room.socket.on("precheck_answer", (data) => this.answer && this.answer.resolve(data));
    room.socket.on("precheck_error", (data) => this.answer && this.answer.reject(data));
    this.el.button.addEventListener("click", () => this.run());
    this.el.listen.addEventListener("click", () => this.toggleListening());
  }

  async run() {
    if (this.running) return;
    this.running = true;
    this.el.button.disabled = true;
    setVisible(this.el.numbers, false);
    setText(this.el.verdict, "Checking your connection…");
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
      this.el.button.disabled = false;
      setText(this.el.button, "Test again");
    }
    // The server said why the check cannot run now (no worker, one already running, or
    // this consult's checks for the hour are used up): its message says what to do.
    if (refusal && ["no_worker", "check_running", "precheck_budget"].includes(refusal.code)) {
      setText(this.el.verdict, refusal.message);
      return;
    }
    this.show(verdictFor(numbers), numbers);
  }

  async roundTrip() {
    const ice = await this.room.request("precheck_ice", {});
    if (!ice.ok && ice.error && ice.error.code === "precheck_budget") throw ice.error;
    const pc = new RTCPeerConnection({
      iceServers: ice.ok ? ice.iceServers : [],
      iceTransportPolicy: ice.ok && ice.iceTransportPolicy === "relay" ? "relay" : "all",
    });
    this.pc = pc;
    const tracks = this.media.stream.getTracks();
    for (const track of tracks) pc.addTrack(track, this.media.stream);
    if (!tracks.some((t) => t.kind === "video")) pc.addTransceiver("video", { direction: "recvonly" });
    const echoed = new MediaStream();
    pc.addEventListener("track", (event) => {
      echoed.addTrack(event.track);
      this.el.video.srcObject = echoed;
    });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    const answered = new Promise((resolve, reject) => { this.answer = { resolve, reject }; });
    const ack = await this.room.request("precheck_offer", {
      description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp },
    });
    if (!ack.ok) throw ack.error || { code: "failed", message: "The check could not start." };
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

  show(verdict, numbers) {
    const [title, advice] = VERDICTS[verdict];
    setText(this.el.verdict, `${title}. ${advice}`);
    this.el.verdict.dataset.verdict = verdict;
    if (numbers) {
      setText(this.el.rtt, numbers.rtt_ms !== undefined ? `${numbers.rtt_ms} ms` : "not measured");
      setText(this.el.jitter, numbers.jitter_ms !== undefined ? `${numbers.jitter_ms} ms` : "not measured");
      setText(this.el.loss, `${numbers.loss_pct} %`);
      setText(this.el.bitrate, `${numbers.bitrate_kbps} kbps`);
      setText(this.el.route, numbers.route === "relayed" ? "Relayed through the clinic" : "Direct");
      setVisible(this.el.numbers, true);
    }
    this.room.request("precheck_result", { verdict, ...(numbers || {}) });
  }

  toggleListening() {
    this.el.video.muted = !this.el.video.muted;
    setText(this.el.listen, this.el.video.muted ? "Hear yourself (use headphones)" : "Stop hearing yourself");
  }

  stop() {
    if (this.checkId) this.room.request("precheck_stop", { check_id: this.checkId });
    this.checkId = null;
    this.answer = null;
    if (this.pc) {
      this.pc.getSenders().forEach((sender) => this.pc.removeTrack(sender)); // the camera stays on
      this.pc.close();
    }
    this.pc = null;
  }
}
