// Call buttons (mute, camera, screen share, end), the other side's media badges and the
// connection indicator. Every state is shown as text, never by colour alone.
import { ask } from "./dialog.js";
import { byId, setText, setVisible } from "./ui.js";
import { t } from "../strings.js";

export class CallControls {
  /**
   * `onLeave`, when given, shows the Leave button: step out without ending the call.
   */
  constructor({ socket, request, media, onEnd, onLeave = null }) {
    Object.assign(this, { socket, request, media, onEnd, onLeave });
    this.active = false;
    this.lastSent = "";
    this.muteButton = byId("mute-button");
    this.cameraButton = byId("camera-button");
    this.shareButton = byId("share-button");
    this.endButton = byId("end-button");
    this.endDialog = byId("end-dialog");
    this.leaveButton = byId("leave-button");
    this.localVideo = byId("local-video");
    this.localOff = byId("local-camera-off");
    this.message = byId("call-message");
    this.badges = {
      muted: byId("peer-muted"),
      cameraOff: byId("peer-camera-off"),
      screen: byId("peer-screen"),
      away: byId("peer-away"),
    };
    setVisible(this.shareButton, media.canShareScreen);

    this.muteButton?.addEventListener("click", () => this.toggleMute());
    this.cameraButton?.addEventListener("click", () => this.toggleCamera());
    this.shareButton?.addEventListener("click", () => this.toggleShare());
    this.endButton?.addEventListener("click", () => this.confirmEnd());
    this.leaveButton?.addEventListener("click", () => this.onLeave?.());
    const canLeave = Boolean(onLeave);
    setVisible(this.leaveButton, canLeave);
    setVisible(byId("leave-hint"), canLeave);
    setVisible(byId("end-dialog-leave"), canLeave);
    media.addEventListener("change", () => {
      this.render();
      this.sendMediaState();
    });
    media.addEventListener("message", () => {
      if (this.active && media.problem) setText(this.message, media.message);
    });
    this.render();
  }

  /** From now on our media switches are sent to the other side (phase in_call). */
  activate() {
    this.active = true;
    this.render();
  }

  /** This device left the call (it moved to another device): send nothing more. */
  deactivate() {
    this.active = false;
  }

  render() {
    const media = this.media;
    const muted = media.muted || !media.audioTrack;
    if (this.muteButton) {
      setText(this.muteButton, muted ? t("controls.unmute") : t("controls.mute"));
      this.muteButton.setAttribute("aria-pressed", String(muted));
    }
    setText(this.cameraButton, media.cameraTrack ? t("controls.stopCamera") : t("controls.startCamera"));
    setText(this.shareButton, media.screenTrack ? t("controls.stopSharing") : t("controls.share"));
    const source = media.stream.getTracks().length ? media.stream : null;
    if (this.localVideo && this.localVideo.srcObject !== source) this.localVideo.srcObject = source;
    this.localVideo?.classList.toggle("is-screen", Boolean(media.screenTrack));
    setVisible(this.localOff, !media.videoTrack);
  }

  /** Tell the other side about our microphone, camera and screen (deduplicated unless forced). */
  sendMediaState(force = false) {
    if (!this.active || !this.socket.connected) return;
    const state = this.media.state;
    const key = JSON.stringify(state);
    if (!force && key === this.lastSent) return;
    this.lastSent = key;
    this.socket.emit("media_state", state);
  }

  async toggleMute() {
    const media = this.media;
    if (!media.audioTrack) {
      setText(this.message, t("controls.micStarting"));
      media.muted = false;
      if (await media.startMicrophone()) setText(this.message, t("controls.micOn"));
      return;
    }
    media.setMuted(!media.muted);
    setText(this.message, media.muted ? t("controls.muted") : t("controls.micOn"));
  }

  async toggleCamera() {
    const media = this.media;
    if (media.cameraTrack) {
      media.stopCamera();
      setText(this.message, t("controls.cameraOff"));
    } else {
      setText(this.message, t("controls.cameraStarting"));
      if (await media.startCamera()) setText(this.message, t("controls.cameraOn"));
    }
  }

  async toggleShare() {
    const media = this.media;
    if (media.screenTrack) {
      media.stopScreenShare();
      setText(this.message, t("controls.shareStopped"));
    } else if (await media.startScreenShare()) {
      setText(this.message, t("controls.sharing"));
    }
  }

  /** "End call" asks first: it ends the consult for both, for good. */
  async confirmEnd() {
    const button = this.endButton;
    if (!button || button.getAttribute("aria-disabled") === "true") return;
    if (await ask(this.endDialog)) await this.end();
  }

  async end() {
    const button = this.endButton;
    if (!button || button.getAttribute("aria-disabled") === "true") return;
    button.setAttribute("aria-disabled", "true");
    setText(this.message, t("controls.ending"));
    const ack = await this.request("end", {});
    if (ack.ok || ack.error.code === "already_ended") {
      // The server's `ended` event carries where to go; don't wait for it forever.
      window.setTimeout(() => this.onEnd?.(null), 3000);
      return;
    }
    button.setAttribute("aria-disabled", "false");
    setText(this.message, ack.error.message);
  }

  /** `peer_media`: the other side's microphone, camera and screen. */
  showPeerMedia(data) {
    if (!data || typeof data !== "object") return;
    setVisible(this.badges.muted, data.audio === false);
    setVisible(this.badges.screen, data.screen === true);
    setVisible(this.badges.cameraOff, data.video === false && data.screen !== true);
  }

  showPeerAway(away) {
    setVisible(this.badges.away, away);
  }
}

/**
 * "Connected" / "Connecting…" / "Reconnecting…" / "Connection lost", from the signaling
 * socket and the peer connection together.
 */
export class ConnectionIndicator {
  constructor(element, { lostAfterMs = 30000 } = {}) {
    this.element = element;
    this.lostAfterMs = lostAfterMs;
    this.socketUp = false;
    this.socketLost = false;
    this.serverClosed = false;
    this.peerState = "new";
    this.timer = 0;
  }

  setSocket(up, reason = "") {
    this.socketUp = up;
    window.clearTimeout(this.timer);
    if (up) {
      this.socketLost = false;
      this.serverClosed = false;
    } else {
      this.serverClosed = reason === "io server disconnect";
      this.timer = window.setTimeout(() => {
        this.socketLost = true;
        this.render();
      }, this.lostAfterMs);
    }
    this.render();
  }

  setPeer(state) {
    this.peerState = state;
    this.render();
  }

  render() {
    let state;
    let text;
    if (this.serverClosed || this.socketLost || this.peerState === "failed" || this.peerState === "closed") {
      state = "lost";
      text = t("connection.lost");
    } else if (!this.socketUp || this.peerState === "disconnected") {
      state = "reconnecting";
      text = t("connection.reconnecting");
    } else if (this.peerState === "connected") {
      state = "connected";
      text = t("connection.connected");
    } else {
      state = "connecting";
      text = t("connection.connecting");
    }
    if (this.element) {
      this.element.dataset.state = state;
      setText(this.element, text);
    }
    this.state = state;
  }
}
