// The camera check panel: preview, camera and microphone pickers, and a microphone level meter.
import { byId, getAudioContext, setText, setVisible } from "./ui.js";
import { t } from "../strings.js";

function fillSelect(select, devices, currentId, noneText) {
  const options = devices.map((device) => {
    const option = document.createElement("option");
    option.value = device.id;
    option.textContent = device.label;
    return option;
  });
  if (!options.length) {
    const option = document.createElement("option");
    option.value = "";
    option.textContent = noneText;
    options.push(option);
  }
  select.replaceChildren(...options);
  select.disabled = !devices.length;
  if (currentId && devices.some((device) => device.id === currentId)) select.value = currentId;
}

export class DevicePanel {
  constructor({ media, video, placeholder, cameraSelect, micSelect, meter, message, retry }) {
    Object.assign(this, { media, video, placeholder, cameraSelect, micSelect, meter, message, retry });
    this.meterOn = false;
    this.frame = 0;
    this.meterTrack = null;
    this.source = null;
    this.analyser = null;
    this.samples = null;
    this.level = 0;

    media.addEventListener("change", () => this.render());
    media.addEventListener("message", () => this.renderMessage());
    cameraSelect?.addEventListener("change", () => {
      if (cameraSelect.value) media.useCamera(cameraSelect.value);
    });
    micSelect?.addEventListener("change", () => {
      if (micSelect.value) media.useMicrophone(micSelect.value);
    });
    retry?.addEventListener("click", async () => {
      setText(message, t("devices.asking"));
      await media.restart();
      await this.fillDevices();
    });
    navigator.mediaDevices?.addEventListener?.("devicechange", () => this.fillDevices());
  }

  async start() {
    await this.media.ensureStarted();
    await this.fillDevices();
    this.render();
    this.renderMessage();
  }

  async fillDevices() {
    // Device names are only readable once the browser has given permission.
    if (!this.media.started) return;
    try {
      const { cameras, microphones } = await this.media.listDevices();
      const media = this.media;
      if (this.cameraSelect) {
        fillSelect(this.cameraSelect, cameras, media.currentDeviceId(media.cameraTrack) || media.cameraId, t("devices.noCamera"));
      }
      if (this.micSelect) {
        fillSelect(this.micSelect, microphones, media.currentDeviceId(media.audioTrack) || media.microphoneId, t("devices.noMicrophone"));
      }
    } catch (error) {
      console.warn("enumerateDevices failed", error);
    }
  }

  render() {
    const media = this.media;
    // An empty stream would hold up the page's load event (and the tab's spinner).
    const source = media.stream.getTracks().length ? media.stream : null;
    if (this.video && this.video.srcObject !== source) this.video.srcObject = source;
    this.video?.classList.toggle("is-screen", Boolean(media.screenTrack));
    setVisible(this.placeholder, media.started && !media.videoTrack);
    const cameraId = media.currentDeviceId(media.cameraTrack);
    if (this.cameraSelect && cameraId && this.cameraSelect.value !== cameraId) this.cameraSelect.value = cameraId;
    const micId = media.currentDeviceId(media.audioTrack);
    if (this.micSelect && micId && this.micSelect.value !== micId) this.micSelect.value = micId;
    if (this.meterOn) this.connectMeter();
  }

  renderMessage() {
    setText(this.message, this.media.message);
    setVisible(this.retry, this.media.problem && (!this.media.audioTrack || !this.media.cameraTrack));
  }

  startMeter() {
    this.meterOn = true;
    this.connectMeter();
    if (!this.frame) this.frame = window.requestAnimationFrame(() => this.tick());
  }

  stopMeter() {
    this.meterOn = false;
    if (this.frame) window.cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.disconnectMeter();
    if (this.meter) this.meter.value = 0;
  }

  connectMeter() {
    const track = this.media.audioTrack;
    if (track === this.meterTrack) return;
    this.disconnectMeter();
    this.meterTrack = track;
    if (!track || !this.meter) return;
    const context = getAudioContext();
    if (!context) return;
    if (context.state === "suspended") context.resume().catch(() => {});
    if (!this.analyser) {
      this.analyser = context.createAnalyser();
      this.analyser.fftSize = 1024;
      this.samples = new Float32Array(this.analyser.fftSize);
    }
    try {
      this.source = context.createMediaStreamSource(new MediaStream([track]));
      this.source.connect(this.analyser);
    } catch (error) {
      console.warn("mic meter unavailable", error);
      this.source = null;
    }
  }

  disconnectMeter() {
    if (this.source) {
      try {
        this.source.disconnect();
      } catch {
        /* already disconnected */
      }
    }
    this.source = null;
    this.meterTrack = null;
  }

  tick() {
    if (!this.meterOn) {
      this.frame = 0;
      return;
    }
    let level = 0;
    if (this.source && this.analyser && this.meterTrack && this.meterTrack.enabled) {
      this.analyser.getFloatTimeDomainData(this.samples);
      let sum = 0;
      for (const sample of this.samples) sum += sample * sample;
      level = Math.min(1, Math.sqrt(sum / this.samples.length) * 5);
    }
    // Rise at once, fall slowly: easier to read.
    this.level = Math.max(level, this.level * 0.9);
    if (this.meter) this.meter.value = Math.round(this.level * 100) / 100;
    this.frame = window.requestAnimationFrame(() => this.tick());
  }
}

/** The panel of templates/consult/_devices.html, started: preview, pickers and meter. */
export function startDevicePanel(media) {
  const panel = new DevicePanel({
    media,
    video: byId("preview-video"),
    placeholder: byId("preview-off"),
    cameraSelect: byId("camera-select"),
    micSelect: byId("mic-select"),
    meter: byId("mic-level"),
    message: byId("media-message"),
    retry: byId("media-retry"),
  });
  panel.start();
  panel.startMeter();
  return panel;
}
