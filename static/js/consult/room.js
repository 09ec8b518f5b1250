// What both sides share: the socket, local media, the call, chat, countdown and the
// page's views. The entry points (patient.js, provider.js) add their own lobby.
import { OutageAlert } from "./alerts.js";
import { Call } from "./call.js";
import { Chat } from "./chat.js";
import { CallControls, ConnectionIndicator } from "./controls.js";
import { Countdown, formatRemaining } from "./countdown.js";
import { LeaveGuard } from "./guard.js";
import { LocalMedia } from "./media.js";
import { connect, refusalText, request } from "./signaling.js";
import { Banner, Views, byId, safeUrl, setText, setVisible, unlockOnGesture } from "./ui.js";
import { t } from "../strings.js";

export const TERMINAL_PHASES = new Set(["ended", "no_show_patient", "no_show_provider", "cancelled"]);
const NOT_OPEN_RETRY_MS = 30000;
const UNAVAILABLE_RETRY_MS = 2000;
const DEFAULT_REJOIN_SECONDS = 120;
// This browser was in the call a moment ago (kept across closed tabs): a new tab of it
// that finds its side's call device away takes the call back without asking.
const IN_CALL_KEY = "telehealth.inCall.";
const IN_CALL_REFRESH_MS = 5000;

function readMark(key) {
  try {
    return Number(window.localStorage.getItem(key)) || 0;
  } catch {
    return 0;
  }
}

function writeMark(key, value) {
  try {
    if (value) window.localStorage.setItem(key, String(value));
    else window.localStorage.removeItem(key);
  } catch {
    /* storage blocked: a new tab asks before taking over, as any other device does */
  }
}

export class Room {
  /**
   * @param {object} options
   * @param {"patient"|"provider"} options.role
   * @param {string[]} options.views  names of the sections id="view-NAME"
   * @param {Record<string, string>} options.chatSlots  view name → id of the element the chat goes into
   */
  constructor({ role, views, chatSlots }) {
    this.root = byId("consult");
    const data = this.root.dataset;
    this.role = role;
    this.consultId = Number(data.consultId);
    this.otherName = data.otherName || (role === "patient" ? t("patient.yourPhysio") : t("provider.thePatient"));
    this.fallbackUrl = role === "patient" ? data.thanksUrl : data.outcomeUrl;
    this.chatSlots = chatSlots;
    this.state = null;
    this.inCall = false;
    this.finished = false;
    this.stateListeners = [];
    // One device per side takes part; another one waits (state.this_device "standby").
    this.standbyView = role === "patient" ? "waiting" : "lobby";
    this.wasActive = false;
    this.moved = false;
    this.mediaStopped = false;

    this.leftView = byId("view-left");
    this.left = false;
    this.rejoinSeconds = Number(this.leftView?.dataset.rejoinSeconds) || DEFAULT_REJOIN_SECONDS;
    this.inCallKey = `${IN_CALL_KEY}${this.consultId}`;
    this.inCallTimer = 0;
    this.autoTakeOverTried = false;
    this.views = new Views(this.leftView ? [...views, "left"] : views);
    this.guard = new LeaveGuard(byId("leave-page-dialog"), this.root);
    this.banner = new Banner(byId("consult-alert"));
    // Connection trouble is shown only when the call is affected (not while media flows).
    this.outage = new OutageAlert(this.banner, () => this.inCall && this.call.pc?.connectionState === "connected");
    this.socket = connect({ consultId: this.consultId, role: this.role });
    this.request = (event, payload = {}) => request(this.socket, event, payload);
    this.media = new LocalMedia();
    this.connection = new ConnectionIndicator(byId("connection-status"));
    this.remotePlay = byId("remote-play");
    this.remotePlaceholder = byId("remote-placeholder");
    this.call = new Call({
      socket: this.socket,
      polite: role === "patient",
      media: this.media,
      remoteVideo: byId("remote-video"),
      onConnectionState: (state) => {
        this.connection.setPeer(state);
        this.outage.callChanged();
      },
      onRemoteTrack: (track) => {
        if (track.kind === "video") setVisible(this.remotePlaceholder, false);
      },
      onPlayBlocked: () => setVisible(this.remotePlay, true),
    });
    this.controls = new CallControls({
      socket: this.socket,
      request: this.request,
      media: this.media,
      onEnd: (nextUrl) => this.finish(nextUrl),
      onLeave: this.leftView ? () => this.leave() : null,
    });
    this.countdown = new Countdown(byId("time-left"), byId("time-warning"));
    this.chat = new Chat({ request: this.request, role, otherName: this.otherName });

    // Diagnostics and browser tests: the live connection (it may be replaced) and the socket.
    const room = this;
    window.telehealthCall = {
      get pc() {
        return room.call.pc;
      },
      socket: this.socket,
      room,
    };

    this.standbyNotice = byId("device-standby");
    this.standbyText = byId("device-standby-text");
    this.movedText = byId("device-moved-text");
    this.takeoverButton = byId("device-takeover");
    this.takeoverError = byId("device-takeover-error");
    this.takeoverButton?.addEventListener("click", () => this.takeOver());
    byId("rejoin-button")?.addEventListener("click", () => this.rejoin());

    this.views.onChange((name) => this.placeChat(name));
    this.placeChat(this.views.current);
    this.remotePlay?.addEventListener("click", () => this.playRemote());
    unlockOnGesture(() => {
      if (this.remotePlay && !this.remotePlay.hidden) this.playRemote();
    });
    this.bindSocket();
  }

  onState(listener) {
    this.stateListeners.push(listener);
  }

  placeChat(viewName) {
    const slot = byId(this.chatSlots[viewName] || "");
    if (slot) this.chat.moveTo(slot);
  }

  playRemote() {
    const video = byId("remote-video");
    video
      ?.play()
      .then(() => setVisible(this.remotePlay, false))
      .catch(() => {});
  }

  bindSocket() {
    const socket = this.socket;
    socket.on("connect", () => {
      this.connection.setSocket(true);
      this.outage.clear("connection");
      if (this.inCall) this.controls.sendMediaState(true);
    });
    socket.on("disconnect", (reason) => {
      if (this.finished || this.left) return;
      this.connection.setSocket(false, reason);
      if (reason === "io server disconnect") {
        this.outage.show(t("room.serverClosed"), {
          key: "connection",
          linkText: t("room.reloadReconnect"),
          linkHref: window.location.pathname,
        });
      } else {
        // In the call, shown only if the call's own connection drops too (OutageAlert).
        this.outage.show(t("room.lostReconnecting"), { key: "connection" });
      }
    });
    socket.on("connect_error", (error) => this.connectError(error));
    socket.on("state", (state) => this.handleState(state));
    socket.on("ice_servers", (data) => this.call.setIceServers(data));
    socket.on("signal", (message) => this.call.handleSignal(message));
    socket.on("peer_media", (data) => this.controls.showPeerMedia(data));
    socket.on("chat", (message) => this.chat.add(message));
    socket.on("warning", (data) => this.countdown.warn(data && data.seconds_left));
    socket.on("ended", (data) => this.finish(data && data.next_url));
    socket.on("peer_left", (data) => {
      if (data && data.side !== this.role && this.inCall) this.controls.showPeerAway(true);
    });
    socket.on("peer_back", (data) => {
      if (!data || data.side === this.role) return;
      this.controls.showPeerAway(false);
      if (this.inCall) this.controls.sendMediaState(true); // their new page needs to know
    });
    socket.on("device_switched", (data) => this.deviceSwitched(data));
    socket.on("error", (data) => console.warn("refused by the server", data));
  }

  connectError(error) {
    if (this.finished || this.left) return;
    this.connection.setSocket(false);
    let data = error && error.data;
    if (!(data && typeof data === "object" && data.message) && error && !error.type && error.message && error.message !== "timeout") {
      // Refused with a message only (no `data`): still the server's words, not a network error.
      data = { code: "", message: error.message };
    }
    if (data && typeof data === "object" && data.message) {
      // Refused by the server: Socket.IO does not retry these by itself.
      if (data.code === "ended") {
        this.finish(null); // the ending page says why; never the check-in again
        return;
      }
      const options = { key: "connection" };
      if (data.code === "ended") {
        options.linkText = t("room.continue");
        options.linkHref = safeUrl(this.fallbackUrl, "/");
      }
      (data.code === "ended" ? this.banner : this.outage).show(refusalText(data.code, data.message), options);
      if (data.code === "not_open" || data.code === "unavailable") {
        // Refused connects are not retried by Socket.IO itself; these two pass with time.
        const wait = data.code === "unavailable" ? UNAVAILABLE_RETRY_MS : NOT_OPEN_RETRY_MS;
        window.setTimeout(() => {
          if (!this.socket.connected && !this.finished) this.socket.connect();
        }, wait);
      }
    } else if (this.socket.active) {
      this.outage.show(t("room.unreachableRetrying"), { key: "connection" });
    } else {
      this.outage.show(t("room.unreachable"), {
        key: "connection",
        linkText: t("room.reloadRetry"),
        linkHref: window.location.pathname,
      });
    }
  }

  handleState(state) {
    if (!state || typeof state !== "object" || this.finished) return;
    const first = this.state === null;
    this.state = state;
    const phase = state.phase;
    if (TERMINAL_PHASES.has(phase)) {
      this.finish(null);
      return;
    }
    const open = phase === "waiting" || phase === "in_call";
    this.chat.setOpen(
      open,
      this.role === "provider" ? t("room.chatOpens", { name: this.otherName }) : "",
    );
    const standby = state.this_device === "standby";
    if (standby && this.cameBackToTheCall(state)) {
      this.autoTakeOverTried = true;
      this.takeOver();
    }
    if (standby) {
      this.standBy(phase);
    } else if (state.this_device === "active") {
      this.wasActive = true;
      this.moved = false;
    }
    this.renderDevice(standby);
    if (phase === "in_call" && !standby) {
      this.countdown.sync(state);
      this.enterCall();
    }
    for (const listener of this.stateListeners) {
      try {
        listener(state, { first });
      } catch (error) {
        console.error("state listener failed", error);
      }
    }
  }

  /**
   * Another device of this side is the one in the call. This one waits: no connection, no
   * signals; and if the call was here, it stops the camera and microphone and says so.
   */
  standBy(phase) {
    if (this.wasActive) this.moved = true;
    this.guard.disable();
    if (this.inCall) this.markInCall(false);
    this.wasActive = false;
    if (this.inCall) {
      this.inCall = false;
      this.controls.deactivate();
      this.call.stop();
      this.media.stopAll();
      this.mediaStopped = true;
    }
    if (phase === "in_call" || this.views.current === "call") this.views.show(this.standbyView);
  }

  renderDevice(standby) {
    setVisible(this.standbyNotice, standby);
    setVisible(this.standbyText, standby && !this.moved);
    setVisible(this.movedText, standby && this.moved);
    if (!standby) setText(this.takeoverError, "");
  }

  /**
   * This browser was in the call moments ago (a closed tab, a crash) and the call's device
   * of this side is away: this page is that person coming back, not another device.
   */
  cameBackToTheCall(state) {
    if (this.autoTakeOverTried || state.phase !== "in_call") return false;
    const mine = state.presence && Array.isArray(state.presence[this.role]) ? state.presence[this.role] : [];
    if (mine.some((device) => device && device.active)) return false;
    const lastSeen = readMark(this.inCallKey);
    return lastSeen > 0 && Date.now() - lastSeen < (this.rejoinSeconds + 15) * 1000;
  }

  /** Remember (or forget) that this browser is in the call, for a tab opened after a crash. */
  markInCall(on) {
    window.clearInterval(this.inCallTimer);
    this.inCallTimer = 0;
    writeMark(this.inCallKey, on ? Date.now() : 0);
    if (on) this.inCallTimer = window.setInterval(() => writeMark(this.inCallKey, Date.now()), IN_CALL_REFRESH_MS);
  }

  /** "Use this device instead": this waiting device takes its side's place. */
  async takeOver() {
    setText(this.takeoverError, "");
    const ack = await this.request("switch_device", {});
    if (!ack.ok && ack.error.code !== "already_active") setText(this.takeoverError, ack.error.message);
    // On success the server's `state` (this_device "active") brings this page into the call.
  }

  /** The other side moved to another device: start the call afresh with that one. */
  deviceSwitched(data) {
    if (!data || data.side === this.role || !this.inCall) return;
    this.call.restart();
    this.controls.sendMediaState(true);
  }

  enterCall() {
    if (this.inCall) return;
    this.inCall = true;
    this.banner.clear("connection");
    this.views.show("call");
    this.controls.activate();
    this.guard.enable();
    this.markInCall(true);
    // Back after the call moved away and returned: the camera was stopped, start it again.
    const started = this.mediaStopped ? this.media.restart() : this.media.ensureStarted();
    this.mediaStopped = false;
    started.then(() => {
      if (!this.inCall) return; // moved to another device meanwhile
      this.controls.sendMediaState(true);
      this.call.setMediaReady();
    });
  }

  /**
   * "Leave": step out without ending the consult. The other side is told this one is away;
   * this page offers to rejoin until the rejoin window closes, then the server ends it.
   */
  leave() {
    if (!this.inCall || this.finished || this.left) return;
    this.left = true;
    this.inCall = false;
    this.guard.disable();
    window.clearInterval(this.inCallTimer); // the mark stays: a new tab may still come back
    this.controls.deactivate();
    this.countdown.stop();
    this.call.close();
    this.media.stopAll();
    try {
      this.socket.disconnect();
    } catch {
      /* already closed */
    }
    this.banner.clear();
    this.views.show("left");
    this.startRejoinClock();
  }

  startRejoinClock() {
    const timer = byId("rejoin-countdown");
    const deadline = Date.now() + this.rejoinSeconds * 1000;
    const next = byId("left-next");
    if (next) next.href = safeUrl(this.fallbackUrl, "/");
    let interval = 0;
    const render = () => {
      const remaining = deadline - Date.now();
      setText(timer, formatRemaining(remaining));
      if (remaining > 0) return;
      window.clearInterval(interval);
      setVisible(byId("left-open"), false);
      setVisible(byId("left-closed"), true);
    };
    interval = window.setInterval(render, 250);
    render();
  }

  /** Back into the same call: the page starts again as this same device (same tab). */
  rejoin() {
    window.location.assign(window.location.pathname);
  }

  /** The consult is over: stop the camera and microphone, hang up, go to the next page. */
  finish(nextUrl) {
    if (this.finished) return;
    this.finished = true;
    this.guard.disable();
    this.markInCall(false);
    this.countdown.stop();
    this.call.close();
    this.media.stopAll();
    try {
      this.socket.disconnect();
    } catch {
      /* already closed */
    }
    window.location.assign(safeUrl(nextUrl, this.fallbackUrl));
  }
}
