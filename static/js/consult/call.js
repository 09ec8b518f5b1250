// The peer-to-peer call: one RTCPeerConnection negotiated with the W3C "perfect negotiation"
// pattern (the patient is polite, the physiotherapist impolite), signals relayed by the server.

const STATS_EVERY_MS = 5000;
const RESTART_GAP_MS = 3000;
// The polite side lets the impolite side offer first: both sides get `ice_servers` at the same
// moment, and a glare at the very start (offer rolled back while ICE gathering begins) can
// leave Chrome with no local candidates at all.
const POLITE_FIRST_OFFER_DELAY_MS = 1000;
// Negotiated but ICE still not connected after this long: the impolite side restarts ICE.
const CONNECT_WATCHDOG_MS = 8000;
const MAX_EARLY_CANDIDATES = 50;
const RECREATE_GAP_MS = 4000;

const sleep = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));

/** The DTLS fingerprint of a session description: it changes only when the peer's page is new. */
function fingerprint(sdp) {
  const match = typeof sdp === "string" ? sdp.match(/^a=fingerprint:(.+)$/m) : null;
  return match ? match[1].trim().toLowerCase() : "";
}

/** The ICE username fragments (one per ICE generation) of a session description. */
function iceFragments(sdp) {
  return typeof sdp === "string" ? [...sdp.matchAll(/^a=ice-ufrag:(\S+)/gm)].map((match) => match[1]) : [];
}

function round(value, digits = 0) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/**
 * Call health from a getStats() report: the selected candidate pair (RTT and route), the
 * inbound RTP streams (jitter, loss and received bitrate since the previous sample) and, when
 * the pair has no RTT yet, remote-inbound-rtp. Unknown numbers are left out.
 */
export function summariseStats(report, previous, now = Date.now()) {
  const byId = new Map();
  report.forEach((entry) => byId.set(entry.id, entry));
  let pair = null;
  for (const entry of byId.values()) {
    if (entry.type === "transport" && entry.selectedCandidatePairId && byId.has(entry.selectedCandidatePairId)) {
      pair = byId.get(entry.selectedCandidatePairId);
    }
  }
  if (!pair) {
    for (const entry of byId.values()) {
      if (entry.type === "candidate-pair" && (entry.selected || (entry.nominated && entry.state === "succeeded"))) {
        pair = entry;
        break;
      }
    }
  }
  const payload = {};
  let rtt = pair && typeof pair.currentRoundTripTime === "number" ? pair.currentRoundTripTime * 1000 : null;
  if (rtt === null) {
    const rtts = [...byId.values()]
      .filter((entry) => entry.type === "remote-inbound-rtp" && typeof entry.roundTripTime === "number")
      .map((entry) => entry.roundTripTime * 1000);
    if (rtts.length) rtt = rtts.reduce((a, b) => a + b, 0) / rtts.length;
  }
  if (rtt !== null) payload.rtt_ms = round(rtt);

  let jitter = null;
  let lost = 0;
  let received = 0;
  let bytes = 0;
  let inbound = false;
  for (const entry of byId.values()) {
    if (entry.type !== "inbound-rtp") continue;
    inbound = true;
    if (typeof entry.jitter === "number") jitter = Math.max(jitter ?? 0, entry.jitter * 1000);
    lost += entry.packetsLost || 0;
    received += entry.packetsReceived || 0;
    bytes += entry.bytesReceived || 0;
  }
  if (jitter !== null) payload.jitter_ms = round(jitter, 1);
  if (inbound) {
    const newLost = Math.max(0, previous ? lost - previous.lost : lost);
    const newReceived = Math.max(0, previous ? received - previous.received : received);
    const total = newLost + newReceived;
    payload.loss_pct = total > 0 ? round((newLost / total) * 100, 1) : 0;
    if (previous && now > previous.time && bytes >= previous.bytes) {
      payload.bitrate_kbps = round(((bytes - previous.bytes) * 8) / (now - previous.time)); // bits per ms = kbit/s
    }
  }
  if (pair) {
    const local = byId.get(pair.localCandidateId);
    const remote = byId.get(pair.remoteCandidateId);
    payload.route = local?.candidateType === "relay" || remote?.candidateType === "relay" ? "relayed" : "direct";
  }
  return { payload, sample: { lost, received, bytes, time: now } };
}

export class Call {
  /**
   * @param {object} options
   * @param {import("socket.io-client").Socket} options.socket
   * @param {boolean} options.polite  true for the patient
   * @param {import("./media.js").LocalMedia} options.media
   * @param {HTMLVideoElement} options.remoteVideo
   * @param {(state: string) => void} [options.onConnectionState]
   * @param {(track: MediaStreamTrack) => void} [options.onRemoteTrack]
   * @param {() => void} [options.onPlayBlocked]  autoplay with sound was refused
   */
  constructor({ socket, polite, media, remoteVideo, onConnectionState, onRemoteTrack, onPlayBlocked }) {
    Object.assign(this, { socket, polite, media, remoteVideo, onConnectionState, onRemoteTrack, onPlayBlocked });
    this.pc = null;
    this.iceServers = null;
    this.iceTransportPolicy = "all";
    this.mediaReady = false;
    this.closed = false;
    this.pending = [];
    this.chain = Promise.resolve();
    this.senders = {};
    this.earlyCandidates = [];
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswerPending = false;
    this.lastRestart = 0;
    this.lastRecreate = 0;
    this.deferred = null;
    this.watchdog = 0;
    this.statsTimer = 0;
    this.previousStats = null;
    this.remoteStream = null;
    media.addEventListener("change", () => this.syncTracks());
  }

  /** `ice_servers` from the server: create the connection, or update it after a reconnect. */
  setIceServers(data) {
    if (this.closed) return;
    const iceServers = data && Array.isArray(data.iceServers) ? data.iceServers : [];
    this.iceServers = iceServers;
    // "relay" when the clinic hides each side's address from the other (TURN only).
    this.iceTransportPolicy = data && data.iceTransportPolicy === "relay" ? "relay" : "all";
    const pc = this.pc;
    if (!pc) {
      this.maybeCreate();
      return;
    }
    // Same connection, fresh TURN credentials.
    try {
      const configuration = pc.getConfiguration();
      configuration.iceServers = iceServers;
      configuration.iceTransportPolicy = this.iceTransportPolicy;
      pc.setConfiguration(configuration);
    } catch (error) {
      console.warn("setConfiguration failed", error);
    }
    if (pc.connectionState === "failed" || pc.iceConnectionState === "failed") this.restartIce();
  }

  /** Local media has settled (with or without tracks): the connection may be created. */
  setMediaReady() {
    this.mediaReady = true;
    this.maybeCreate();
  }

  maybeCreate() {
    if (this.closed || this.pc || !this.iceServers || !this.mediaReady) return;
    this.create();
    for (const message of this.pending.splice(0)) this.handleSignal(message);
    if (!this.statsTimer) {
      this.statsTimer = window.setInterval(() => {
        this.reportStats().catch((error) => console.warn("stats failed", error));
      }, STATS_EVERY_MS);
    }
  }

  create() {
    const pc = new RTCPeerConnection({
      iceServers: this.iceServers || [],
      iceTransportPolicy: this.iceTransportPolicy,
    });
    this.pc = pc;
    this.senders = {};
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswerPending = false;
    this.earlyCandidates = [];
    this.previousStats = null;
    this.remoteStream = new MediaStream();

    pc.ontrack = ({ track }) => {
      if (pc !== this.pc) return;
      if (!this.remoteStream.getTrackById(track.id)) this.remoteStream.addTrack(track);
      // Attached only once it has a track: an empty stream would hold up the page's load event.
      if (this.remoteVideo && this.remoteVideo.srcObject !== this.remoteStream) {
        this.remoteVideo.srcObject = this.remoteStream;
      }
      track.addEventListener("ended", () => this.remoteStream?.removeTrack(track));
      this.onRemoteTrack?.(track);
      this.play();
    };
    pc.onicecandidate = ({ candidate }) => {
      if (pc !== this.pc) return;
      this.send({ candidate: candidate ? candidate.toJSON() : null });
    };
    pc.onnegotiationneeded = async () => {
      if (pc !== this.pc) return;
      if (this.polite && !pc.currentRemoteDescription) {
        await sleep(POLITE_FIRST_OFFER_DELAY_MS);
        // An offer came in meanwhile: answering it carries our tracks too, and the browser
        // fires negotiationneeded again later if anything is still missing.
        if (pc !== this.pc || pc.signalingState !== "stable" || pc.currentRemoteDescription) return;
      }
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        this.sendDescription(pc);
        this.armWatchdog();
      } catch (error) {
        console.warn("could not make an offer", error);
      } finally {
        if (pc === this.pc) this.makingOffer = false;
      }
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      this.onConnectionState?.(pc.connectionState);
      if (pc.connectionState === "failed") this.restartIce();
      if (pc.connectionState === "connected") {
        window.clearTimeout(this.watchdog);
        this.play();
      }
    };
    pc.oniceconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.iceConnectionState === "failed") this.restartIce();
    };
    this.syncTracks();
    this.onConnectionState?.(pc.connectionState);
  }

  /** Our tracks onto the connection: added once per kind, then swapped with replaceTrack. */
  syncTracks() {
    const pc = this.pc;
    if (!pc || pc.signalingState === "closed") return;
    const wanted = { audio: this.media.audioTrack, video: this.media.videoTrack };
    for (const kind of ["audio", "video"]) {
      const track = wanted[kind];
      const sender = this.senders[kind];
      if (sender) {
        if (sender.track !== track) {
          sender.replaceTrack(track).catch((error) => console.warn(`replaceTrack(${kind}) failed`, error));
        }
      } else if (track) {
        try {
          this.senders[kind] = pc.addTrack(track, this.media.stream);
        } catch (error) {
          console.warn(`addTrack(${kind}) failed`, error);
        }
      }
    }
  }

  send(payload) {
    if (this.closed) return;
    this.socket.emit("signal", payload, (ack) => {
      if (ack && ack.ok === false) console.warn("signal refused", ack.error);
    });
  }

  sendDescription(pc) {
    const { type, sdp } = pc.localDescription;
    this.send({ description: { type, sdp } });
  }

  /** A `signal` from the other side; applied strictly in order. */
  handleSignal(message) {
    if (this.closed || !message || typeof message !== "object") return;
    if (!this.pc) {
      this.pending.push(message);
      return;
    }
    this.chain = this.chain
      .then(() => this.applySignal(message))
      .catch((error) => console.warn("signal could not be applied", error));
  }

  async applySignal(message) {
    let pc = this.pc;
    if (!pc || this.closed) return;
    if (message.description) {
      const description = message.description;
      if (this.deferred && this.deferred !== message) this.deferred = null; // superseded
      if (this.peerIsNew(pc, description)) {
        // The other side reloaded its page: its new connection can't continue our old session.
        // (At most once every few seconds: two devices of one person taking turns must not
        // make us rebuild the connection in a loop.)
        const wait = this.lastRecreate + RECREATE_GAP_MS - Date.now();
        if (wait > 0) {
          // Try again later with the newest such description only.
          this.deferred = message;
          window.setTimeout(() => {
            if (this.deferred === message) {
              this.deferred = null;
              this.handleSignal(message);
            }
          }, wait);
          return;
        }
        this.deferred = null;
        this.lastRecreate = Date.now();
        this.recreate();
        pc = this.pc;
        if (description.type !== "offer") return; // our fresh connection makes its own offer
      }
      const readyForOffer =
        !this.makingOffer && (pc.signalingState === "stable" || this.settingRemoteAnswerPending);
      const offerCollision = description.type === "offer" && !readyForOffer;
      this.ignoreOffer = !this.polite && offerCollision;
      if (this.ignoreOffer) return;
      this.settingRemoteAnswerPending = description.type === "answer";
      try {
        await pc.setRemoteDescription(description); // the polite side rolls back implicitly
      } finally {
        this.settingRemoteAnswerPending = false;
      }
      await this.flushEarlyCandidates(pc);
      if (description.type === "offer") {
        await pc.setLocalDescription();
        this.sendDescription(pc);
      }
      this.armWatchdog();
    } else if ("candidate" in message) {
      const candidate = message.candidate;
      const fragment = candidate && candidate.usernameFragment;
      if (!pc.remoteDescription || (fragment && !iceFragments(pc.remoteDescription.sdp).includes(fragment))) {
        // Relayed ahead of its description (a new offer, an ICE restart, a reloaded peer):
        // keep it until that description is applied.
        this.earlyCandidates.push(candidate);
        if (this.earlyCandidates.length > MAX_EARLY_CANDIDATES) this.earlyCandidates.shift();
        return;
      }
      await this.addCandidate(pc, candidate);
    }
  }

  async addCandidate(pc, candidate) {
    try {
      if (candidate) await pc.addIceCandidate(candidate);
      else await pc.addIceCandidate(); // end of candidates
    } catch (error) {
      if (!this.ignoreOffer) console.warn("addIceCandidate failed", error);
    }
  }

  async flushEarlyCandidates(pc) {
    if (!this.earlyCandidates.length || !pc.remoteDescription) return;
    const fragments = iceFragments(pc.remoteDescription.sdp);
    const early = this.earlyCandidates.splice(0);
    for (const candidate of early) {
      const fragment = candidate && candidate.usernameFragment;
      if (!fragment || fragments.includes(fragment)) await this.addCandidate(pc, candidate);
      else this.earlyCandidates.push(candidate); // for a description still to come
    }
  }

  peerIsNew(pc, description) {
    if (description.type !== "offer" && description.type !== "answer") return false;
    const known = pc.currentRemoteDescription || pc.remoteDescription;
    if (!known) return false;
    const incoming = fingerprint(description.sdp);
    const previous = fingerprint(known.sdp);
    return Boolean(incoming && previous && incoming !== previous);
  }

  recreate() {
    const old = this.pc;
    const early = this.earlyCandidates; // may already hold the new peer's candidates
    this.pc = null;
    if (old) {
      old.ontrack = null;
      old.onicecandidate = null;
      old.onnegotiationneeded = null;
      old.onconnectionstatechange = null;
      old.oniceconnectionstatechange = null;
      old.close();
    }
    this.create();
    this.earlyCandidates = early;
  }

  /**
   * After a negotiation, check that ICE gets connected; if it is still stuck (no candidates,
   * or checks that never succeed), the impolite side restarts ICE, which gathers anew.
   */
  armWatchdog() {
    if (this.polite || this.closed) return;
    window.clearTimeout(this.watchdog);
    const pc = this.pc;
    this.watchdog = window.setTimeout(() => {
      if (pc !== this.pc || this.closed) return;
      const stuck = pc.iceConnectionState === "new" || pc.iceConnectionState === "checking";
      if (stuck && pc.signalingState === "stable" && pc.remoteDescription) {
        console.warn("ICE not connected after negotiation: restarting ICE");
        this.restartIce();
      }
    }, CONNECT_WATCHDOG_MS);
  }

  /** ICE failed: the impolite side (the physiotherapist) restarts it; the polite side waits. */
  restartIce() {
    const pc = this.pc;
    if (this.polite || !pc || this.closed) return;
    const now = Date.now();
    if (now - this.lastRestart < RESTART_GAP_MS) return;
    this.lastRestart = now;
    try {
      pc.restartIce();
    } catch (error) {
      console.warn("restartIce failed", error);
    }
  }

  play() {
    const video = this.remoteVideo;
    if (!video || !video.paused) return;
    const attempt = video.play();
    if (attempt && attempt.catch) {
      attempt.catch((error) => {
        if (error && error.name === "NotAllowedError") this.onPlayBlocked?.();
      });
    }
  }

  async reportStats() {
    const pc = this.pc;
    if (!pc || this.closed || pc.connectionState !== "connected" || !this.socket.connected) return;
    const report = await pc.getStats();
    if (pc !== this.pc) return;
    const { payload, sample } = summariseStats(report, this.previousStats);
    this.previousStats = sample;
    this.socket.emit("stats", payload);
  }

  /** The other side moved to another device: start afresh, as when its page reloads. */
  restart() {
    if (this.closed || !this.pc) return;
    this.lastRecreate = Date.now();
    this.deferred = null;
    this.recreate();
    this.earlyCandidates = []; // the old device's, never the new one's
  }

  /**
   * This device no longer takes part (the consult moved to another device): hang up, but
   * stay ready to join again with fresh ICE servers if the call comes back here.
   */
  stop() {
    window.clearInterval(this.statsTimer);
    window.clearTimeout(this.watchdog);
    this.statsTimer = 0;
    const pc = this.pc;
    this.pc = null;
    if (pc) {
      pc.ontrack = null;
      pc.onicecandidate = null;
      pc.onnegotiationneeded = null;
      pc.onconnectionstatechange = null;
      pc.oniceconnectionstatechange = null;
      pc.close();
    }
    if (this.remoteVideo) this.remoteVideo.srcObject = null;
    this.remoteStream = null;
    this.pending = [];
    this.earlyCandidates = [];
    this.deferred = null;
    this.iceServers = null;
    this.mediaReady = false;
    this.chain = Promise.resolve();
  }

  close() {
    this.closed = true;
    window.clearInterval(this.statsTimer);
    window.clearTimeout(this.watchdog);
    this.statsTimer = 0;
    const pc = this.pc;
    this.pc = null;
    if (pc) pc.close();
    if (this.remoteVideo) this.remoteVideo.srcObject = null;
    this.pending = [];
  }
}
