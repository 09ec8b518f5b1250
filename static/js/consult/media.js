// This device's camera, microphone and screen share. One MediaStream (`stream`) always holds
// what we send: the microphone and either the shared screen or the camera. It fires "change"
// whenever a track starts, stops or is swapped, and whenever `message` changes.
import { t } from "../strings.js";

const STORE_CAMERA = "telehealth.cameraId";
const STORE_MICROPHONE = "telehealth.microphoneId";

const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

function recall(key) {
  try {
    return window.localStorage.getItem(key) || "";
  } catch {
    return "";
  }
}

function remember(key, value) {
  try {
    if (value) window.localStorage.setItem(key, value);
    else window.localStorage.removeItem(key);
  } catch {
    /* private mode: nothing to remember */
  }
}

function constraintsFor(kind, deviceId) {
  if (kind === "audio") {
    return { audio: deviceId ? { ...AUDIO, deviceId: { exact: deviceId } } : { ...AUDIO } };
  }
  return { video: deviceId ? { ...VIDEO, deviceId: { exact: deviceId } } : { ...VIDEO, facingMode: "user" } };
}

// Whole sentences per device: other languages agree their words with the device.
const DEVICE_KEYS = { camera: "Camera", microphone: "Microphone", "camera and microphone": "Both" };

/**
 * Plain-language reason for a getUserMedia failure. `what` is "camera", "microphone" or
 * "camera and microphone".
 */
export function describeMediaError(error, what) {
  const device = DEVICE_KEYS[what] || "Both";
  const name = (error && error.name) || "";
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
    return t(`media.denied${device}`);
  }
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
    return t(`media.missing${device}`);
  }
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
    return t(`media.busy${device}`);
  }
  return t(`media.failed${device}`);
}

/** What kind of getUserMedia failure this is: "denied", "missing", "busy" or "other". */
export function mediaProblemKind(error) {
  const name = (error && error.name) || "";
  if (["NotAllowedError", "SecurityError", "PermissionDeniedError"].includes(name)) return "denied";
  if (["NotFoundError", "OverconstrainedError", "DevicesNotFoundError"].includes(name)) return "missing";
  if (["NotReadableError", "TrackStartError", "AbortError"].includes(name)) return "busy";
  return "other";
}

export class LocalMedia extends EventTarget {
  constructor() {
    super();
    this.stream = new MediaStream();
    this.audioTrack = null;
    this.cameraTrack = null;
    this.screenTrack = null;
    this.muted = false;
    this.cameraId = recall(STORE_CAMERA);
    this.microphoneId = recall(STORE_MICROPHONE);
    this.message = "";
    this.problem = false;
    this.started = false;
    this.startPromise = null;
    // Why the camera or microphone is missing (mediaProblemKind), for the setup check's advice.
    this.problems = { camera: null, microphone: null };
  }

  /** What goes out as video: the shared screen while sharing, else the camera (or nothing). */
  get videoTrack() {
    return this.screenTrack || this.cameraTrack;
  }

  /** The `media_state` payload of docs/protocol.md. */
  get state() {
    return {
      audio: Boolean(this.audioTrack) && !this.muted,
      video: Boolean(this.cameraTrack),
      screen: Boolean(this.screenTrack),
    };
  }

  get supported() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  get canShareScreen() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  }

  /** Start once; later callers get the same promise. Resolves (never rejects) when settled. */
  ensureStarted() {
    if (!this.startPromise) this.startPromise = this.start();
    return this.startPromise;
  }

  /** Ask again, e.g. after the person changed the browser's permission. */
  restart() {
    this.startPromise = this.start();
    return this.startPromise;
  }

  async start() {
    if (!this.supported) {
      this.problems = { camera: "other", microphone: "other" };
      this.setMessage(
        t("media.unsupported"),
        true,
      );
      this.started = true;
      return this.state;
    }
    this.releaseCapture();
    let audio = null;
    let video = null;
    let audioError = null;
    let videoError = null;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        ...constraintsFor("audio", this.microphoneId),
        ...constraintsFor("video", this.cameraId),
      });
      audio = stream.getAudioTracks()[0] || null;
      video = stream.getVideoTracks()[0] || null;
    } catch (error) {
      // Find out which one is the problem: audio alone first (the call can go on without video).
      videoError = error;
      try {
        audio = await this.openTrack("audio", this.microphoneId);
      } catch (audioFailure) {
        audioError = audioFailure;
        if (error.name !== "NotAllowedError") {
          try {
            video = await this.openTrack("video", this.cameraId);
            videoError = null;
          } catch (videoFailure) {
            videoError = videoFailure;
          }
        }
      }
    }
    this.problems = {
      camera: video ? null : mediaProblemKind(videoError),
      microphone: audio ? null : mediaProblemKind(audioError || videoError),
    };
    this.setAudio(audio);
    this.setCamera(video);
    this.started = true;
    if (audio && video) {
      this.setMessage(t("media.working"), false);
    } else if (audio) {
      this.setMessage(t("media.audioOnly", { problem: describeMediaError(videoError, "camera") }), true);
    } else if (video) {
      this.setMessage(t("media.chatOnly", { problem: describeMediaError(audioError, "microphone") }), true);
    } else {
      this.setMessage(
        t("media.chatOnly", { problem: describeMediaError(audioError || videoError, "camera and microphone") }),
        true,
      );
    }
    return this.state;
  }

  async openTrack(kind, deviceId) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraintsFor(kind, deviceId));
      return (kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks())[0] || null;
    } catch (error) {
      // A remembered device that is gone: fall back to the default one.
      if (deviceId && (error.name === "OverconstrainedError" || error.name === "NotFoundError")) {
        return this.openTrack(kind, "");
      }
      throw error;
    }
  }

  async listDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) {
      return { cameras: [], microphones: [] };
    }
    const devices = await navigator.mediaDevices.enumerateDevices();
    const pick = (kind, key) =>
      devices
        .filter((device) => device.kind === kind && device.deviceId)
        .map((device, index) => ({ id: device.deviceId, label: device.label || t(key, { number: index + 1 }) }));
    return { cameras: pick("videoinput", "media.cameraNumber"), microphones: pick("audioinput", "media.microphoneNumber") };
  }

  currentDeviceId(track) {
    if (!track || !track.getSettings) return "";
    return track.getSettings().deviceId || "";
  }

  async useCamera(deviceId) {
    this.cameraId = deviceId;
    remember(STORE_CAMERA, deviceId);
    if (!this.cameraTrack) return; // the camera is off: the choice applies when it starts again
    this.cameraTrack.stop(); // phones can't open two cameras at once
    this.setCamera(null);
    await this.startCamera();
  }

  async useMicrophone(deviceId) {
    this.microphoneId = deviceId;
    remember(STORE_MICROPHONE, deviceId);
    try {
      const track = await this.openTrack("audio", deviceId);
      if (this.audioTrack) this.audioTrack.stop();
      this.setAudio(track);
      this.setMessage("", false);
    } catch (error) {
      this.setMessage(describeMediaError(error, "microphone"), true);
    }
  }

  /** Turn the camera on (again). Resolves true when it works. */
  async startCamera() {
    try {
      const track = await this.openTrack("video", this.cameraId);
      if (this.cameraTrack) this.cameraTrack.stop();
      this.problems.camera = null;
      this.setCamera(track);
      if (this.problem) this.setMessage("", false);
      return true;
    } catch (error) {
      this.problems.camera = mediaProblemKind(error);
      this.setMessage(describeMediaError(error, "camera"), true);
      return false;
    }
  }

  /** Turn the camera off completely (its light goes off too). */
  stopCamera() {
    if (this.cameraTrack) this.cameraTrack.stop();
    this.setCamera(null);
  }

  /** Get a microphone when there was none (e.g. permission given later). */
  async startMicrophone() {
    try {
      this.problems.microphone = null;
      this.setAudio(await this.openTrack("audio", this.microphoneId));
      if (this.problem) this.setMessage("", false);
      return true;
    } catch (error) {
      this.problems.microphone = mediaProblemKind(error);
      this.setMessage(describeMediaError(error, "microphone"), true);
      return false;
    }
  }

  setMuted(muted) {
    this.muted = Boolean(muted);
    if (this.audioTrack) this.audioTrack.enabled = !this.muted;
    this.changed();
  }

  /** Share a screen or window. Resolves true when sharing started (false if cancelled). */
  async startScreenShare() {
    if (!this.canShareScreen) return false;
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (error) {
      if (error && error.name !== "NotAllowedError" && error.name !== "AbortError") {
        this.setMessage(t("media.shareFailed"), true);
      }
      return false;
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return false;
    if ("contentHint" in track) track.contentHint = "detail";
    // The browser's own "Stop sharing" button ends the track: go back to the camera.
    track.addEventListener("ended", () => {
      if (this.screenTrack === track) this.setScreen(null);
    });
    if (this.screenTrack) this.screenTrack.stop();
    this.setScreen(track);
    return true;
  }

  stopScreenShare() {
    if (this.screenTrack) this.screenTrack.stop();
    this.setScreen(null);
  }

  /** Stop everything (end of the consult). */
  stopAll() {
    this.releaseCapture();
    this.changed();
  }

  releaseCapture() {
    for (const track of [this.audioTrack, this.cameraTrack, this.screenTrack]) {
      if (track) track.stop();
    }
    this.audioTrack = null;
    this.cameraTrack = null;
    this.screenTrack = null;
    this.syncStream();
  }

  setAudio(track) {
    this.audioTrack = track;
    if (track) {
      track.enabled = !this.muted;
      const id = this.currentDeviceId(track);
      if (id) this.microphoneId = id;
      track.addEventListener("ended", () => {
        if (this.audioTrack !== track) return;
        this.audioTrack = null;
        this.setMessage(t("media.micStopped"), true);
        this.changed();
      });
    }
    this.changed();
  }

  setCamera(track) {
    this.cameraTrack = track;
    if (track) {
      const id = this.currentDeviceId(track);
      if (id) this.cameraId = id;
      track.addEventListener("ended", () => {
        if (this.cameraTrack !== track) return;
        this.cameraTrack = null;
        this.setMessage(t("media.cameraStopped"), true);
        this.changed();
      });
    }
    this.changed();
  }

  setScreen(track) {
    this.screenTrack = track;
    this.changed();
  }

  setMessage(message, problem) {
    if (this.message === message && this.problem === problem) return;
    this.message = message;
    this.problem = problem;
    this.dispatchEvent(new Event("message"));
  }

  syncStream() {
    const wanted = [this.audioTrack, this.videoTrack].filter(Boolean);
    for (const track of this.stream.getTracks()) {
      if (!wanted.includes(track)) this.stream.removeTrack(track);
    }
    for (const track of wanted) {
      if (!this.stream.getTrackById(track.id)) this.stream.addTrack(track);
    }
  }

  changed() {
    this.syncStream();
    this.dispatchEvent(new Event("change"));
  }
}
