// "Test your setup": camera, microphone, speaker and connection, and a verdict in plain words
// with what to do when something fails. One component (templates/consult/_check.html) for
// the setup page and the patient's check-in.
import { startDevicePanel } from "./devices.js";
import { Precheck } from "./precheck.js";
import { byId, getAudioContext, setText, setVisible } from "./ui.js";
import { t } from "../strings.js";

// Every sentence the person reads, from the page (templates/consult/_strings.html).
const WORDS = {
  devicesChecking: t("check.devicesChecking"),
  allWork: t("check.allWork"),
  allWorkSpeakerUnheard: t("check.allWorkSpeakerUnheard"),
  noCamera: t("check.noCamera"),
  noMicrophone: t("check.noMicrophone"),
  nothing: t("check.nothing"),
  speakerUnheard: t("check.speakerUnheard"),
  connectionWaiting: t("check.connectionWaiting"),
  connectionChecking: t("check.connectionChecking"),
  connectionGood: t("check.connectionGood"),
  connectionWeak: t("check.connectionWeak"),
  connectionUnreachable: t("check.connectionUnreachable"),
  connectionNotHere: t("check.connectionNotHere"),
  connectionNotYet: t("check.connectionNotYet"),
  testAgain: t("check.testAgain"),
  speakerQuestion: t("check.speakerQuestion"),
  speakerHeard: t("check.speakerHeard"),
  speakerNotHeard: t("check.speakerNotHeard"),
  detail: {
    notStarted: t("check.detail.notStarted"),
    working: (label) => t("check.detail.working", { label }),
    denied: t("check.detail.denied"),
    missing: t("check.detail.missing"),
    busy: t("check.detail.busy"),
    other: t("check.detail.other"),
    notTested: t("check.detail.notTested"),
    heard: t("check.detail.heard"),
    notHeard: t("check.detail.notHeard"),
    notMeasured: t("check.detail.notMeasured"),
    relayed: t("check.detail.relayed"),
    direct: t("check.detail.direct"),
  },
};

const TONE_SECONDS = 1.2;

/** Play a short two-note tone through the page's one AudioContext; false without Web Audio. */
export function playTestTone() {
  const context = getAudioContext();
  if (!context) return false;
  if (context.state === "suspended") context.resume().catch(() => {});
  const start = context.currentTime + 0.05;
  for (const [frequency, offset] of [[523.25, 0], [659.25, TONE_SECONDS / 2]]) {
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.3, start + offset + 0.03);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + TONE_SECONDS / 2);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(start + offset);
    oscillator.stop(start + offset + TONE_SECONDS / 2 + 0.05);
  }
  return true;
}

export class SetupCheck {
  /**
   * @param {object} options
   * @param {import("./media.js").LocalMedia} options.media
   * @param {object|null} options.socket  the /consult or /setup socket; null: no connection check
   * @param {Function|null} options.request  its acknowledged request
   * @param {() => boolean} [options.autoRun]  whether to run the connection check by itself now
   */
  constructor({ media, socket = null, request = null, autoRun = () => true }) {
    this.media = media;
    this.autoRun = autoRun;
    this.root = byId("setup-check");
    this.allowed = Boolean(socket) && this.root?.dataset.connectionCheck === "yes";
    this.refusedAtConnect = "";
    this.speaker = null; // "yes" | "no" once the person answered
    this.el = {
      verdict: byId("check-verdict"),
      mediaMessage: byId("media-message"),
      help: {
        permission: byId("help-permission"),
        busy: byId("help-busy"),
        missing: byId("help-missing"),
        speaker: byId("help-speaker"),
        connection: byId("help-connection"),
      },
      speakerPlay: byId("speaker-play"),
      speakerQuestion: byId("speaker-question"),
      speakerAnswers: byId("speaker-answers"),
      precheckButton: byId("precheck-button"),
      detail: {
        camera: byId("detail-camera"),
        microphone: byId("detail-microphone"),
        speaker: byId("detail-speaker"),
        rtt: byId("precheck-rtt"),
        jitter: byId("precheck-jitter"),
        loss: byId("precheck-loss"),
        bitrate: byId("precheck-bitrate"),
        route: byId("precheck-route"),
      },
    };
    // The verdict says what the device panel's own message would: one status, not two.
    setVisible(this.el.mediaMessage, false);
    this.devices = startDevicePanel(media);
    this.precheck = this.allowed ? new Precheck({ socket, request, media, onChange: () => this.render() }) : null;

    media.addEventListener("change", () => this.render());
    media.addEventListener("message", () => this.render());
    this.el.speakerPlay?.addEventListener("click", () => this.playSound());
    byId("speaker-heard")?.addEventListener("click", () => this.answerSpeaker("yes"));
    byId("speaker-not-heard")?.addEventListener("click", () => this.answerSpeaker("no"));
    this.el.precheckButton?.addEventListener("click", () => this.runConnection());
    media.ensureStarted().then(() => {
      this.render();
      if (this.precheck && this.autoRun()) this.runConnection();
    });
    this.render();
    window.telehealthCheck = this; // diagnostics and browser tests
  }

  /** The /setup socket was refused (an expired link): say why instead of checking. */
  refuseConnection(message) {
    this.refusedAtConnect = message;
    setVisible(this.el.precheckButton, false);
    this.render();
  }

  runConnection() {
    if (!this.precheck || this.precheck.running) return;
    this.refusedAtConnect = "";
    this.precheck.run();
  }

  playSound() {
    playTestTone();
    setVisible(this.el.speakerAnswers, true);
    setText(this.el.speakerQuestion, WORDS.speakerQuestion);
  }

  answerSpeaker(answer) {
    this.speaker = answer;
    setText(this.el.speakerQuestion, answer === "yes" ? WORDS.speakerHeard : WORDS.speakerNotHeard);
    this.render();
  }

  devicesSentence() {
    const media = this.media;
    if (!media.started) return WORDS.devicesChecking;
    const camera = Boolean(media.cameraTrack);
    const microphone = Boolean(media.audioTrack);
    const unheard = this.speaker === "no";
    if (camera && microphone) return unheard ? WORDS.allWorkSpeakerUnheard : WORDS.allWork;
    let sentence = WORDS.nothing;
    if (microphone) sentence = WORDS.noCamera;
    else if (camera) sentence = WORDS.noMicrophone;
    return unheard ? `${sentence} ${WORDS.speakerUnheard}` : sentence;
  }

  connectionSentence() {
    if (!this.precheck) return this.root?.dataset.connectionCheck === "yes" ? "" : WORDS.connectionNotHere;
    if (this.refusedAtConnect) return this.refusedAtConnect;
    if (this.precheck.running) return WORDS.connectionChecking;
    const result = this.precheck.result;
    if (!result) return this.media.started ? WORDS.connectionNotYet : WORDS.connectionWaiting;
    if (result.refused) return result.refused;
    return {
      good: WORDS.connectionGood,
      audio_only: WORDS.connectionWeak,
      cannot_connect: WORDS.connectionUnreachable,
    }[result.verdict];
  }

  render() {
    const media = this.media;
    const problems = media.started ? Object.values(media.problems || {}) : [];
    const verdict = this.precheck?.result?.verdict;
    const weak = verdict === "audio_only" || verdict === "cannot_connect";
    const devicesOk = media.started && Boolean(media.cameraTrack) && Boolean(media.audioTrack);
    const text = [this.devicesSentence(), this.connectionSentence()].filter(Boolean).join(" ");
    setText(this.el.verdict, text);
    let state = "problem";
    if (!media.started || this.precheck?.running) state = "checking";
    else if (devicesOk && this.speaker !== "no" && !weak && !this.precheck?.result?.refused) state = "good";
    if (this.el.verdict) this.el.verdict.dataset.verdict = state;

    setVisible(this.el.help.permission, problems.includes("denied"));
    setVisible(this.el.help.busy, problems.includes("busy"));
    setVisible(this.el.help.missing, problems.includes("missing"));
    setVisible(this.el.help.speaker, this.speaker === "no");
    setVisible(this.el.help.connection, weak);

    const button = this.el.precheckButton;
    if (button) {
      button.disabled = Boolean(this.precheck?.running);
      if (this.precheck?.result) setText(button, WORDS.testAgain);
    }
    this.renderDetails();
  }

  renderDetails() {
    const words = WORDS.detail;
    const media = this.media;
    const device = (track, problem) => {
      if (!media.started) return words.notStarted;
      if (track) return words.working(track.label || "default");
      return words[problem] || words.other;
    };
    const d = this.el.detail;
    setText(d.camera, device(media.cameraTrack, media.problems?.camera));
    setText(d.microphone, device(media.audioTrack, media.problems?.microphone));
    setText(d.speaker, { yes: words.heard, no: words.notHeard }[this.speaker] || words.notTested);
    const numbers = this.precheck?.result?.numbers;
    if (!numbers) return;
    setText(d.rtt, numbers.rtt_ms !== undefined ? `${numbers.rtt_ms} ms` : words.notMeasured);
    setText(d.jitter, numbers.jitter_ms !== undefined ? `${numbers.jitter_ms} ms` : words.notMeasured);
    setText(d.loss, `${numbers.loss_pct} %`);
    setText(d.bitrate, `${numbers.bitrate_kbps} kbps`);
    setText(d.route, numbers.route === "relayed" ? words.relayed : words.direct);
  }
}
