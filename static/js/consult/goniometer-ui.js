// The physiotherapist's virtual goniometer: "Measure" freezes the patient's video into a
// canvas in this browser (the picture is never sent or stored; the live video stays in a
// small tile), three points are placed by pointer or keyboard, the angle is drawn and
// announced, and the reading is saved with the joint, side, movement and mode.
import { angleAt, arcBetween, arrowStep, clampPoint, mirrorPoints, nearestPoint, startingPoints, wholeDegrees } from "./goniometer.js";
import { t } from "../strings.js";
import { byId, setText, setVisible } from "./ui.js";

// The words are the page's (templates/consult/_strings.html, "measure.*"), in its language.
const STRINGS = {
  noVideo: () => t("measure.noVideo"),
  angle: (degrees) => t("measure.angle", { degrees }),
  noAngle: () => t("measure.noAngle"),
  announce: (point, degrees) => t("measure.announce", { point, degrees }),
  announceNoAngle: (point) => t("measure.announceNoAngle", { point }),
  frozen: () => t("measure.frozen"),
  back: () => t("measure.back"),
  saving: () => t("measure.saving"),
  saved: (summary) => t("measure.saved", { summary }),
  missing: () => t("measure.missing"),
  noReading: () => t("measure.noReading"),
  failed: () => t("measure.failed"),
  point: (name) => t(`measure.point.${name}`),
};
// The points' marks on the frame: the same letters in English and French (Proximal, Axis/Axe, Distal).
const MARKS = { proximal: "P", axis: "A", distal: "D" };
const ANNOUNCE_AFTER_MS = 600;
const ORDER = ["proximal", "axis", "distal"];

export class Goniometer {
  /**
   * @param {object} options
   * @param {HTMLVideoElement} options.video  the patient's live video
   * @param {(active: boolean) => void} options.onActiveChange  tell the patient's page
   */
  constructor({ video, onActiveChange }) {
    this.video = video;
    this.onActiveChange = onActiveChange;
    this.panel = byId("measure-panel");
    this.stage = document.querySelector(".call-main");
    this.button = byId("measure-button");
    this.start = this.panel.querySelector(".measure-start");
    this.tools = byId("measure-tools");
    this.canvas = byId("measure-canvas");
    this.reading = byId("measure-angle");
    this.announcer = byId("measure-announce");
    this.form = byId("measure-form");
    this.error = byId("measure-error");
    this.savedStatus = byId("measure-saved");
    this.savedList = byId("measure-list");
    this.mirror = byId("measure-mirror");
    this.frame = document.createElement("canvas"); // the frozen picture, as the camera sent it
    this.points = null;
    this.selected = "proximal";
    this.dragging = false;
    this.announceTimer = 0;
    this.active = false;
    this.saving = false;

    this.button.addEventListener("click", () => this.freeze());
    byId("measure-back").addEventListener("click", () => this.unfreeze());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.mirror.addEventListener("change", () => this.flip());
    for (const radio of this.pointRadios()) {
      radio.addEventListener("change", () => {
        if (radio.checked) this.select(radio.value, { announce: false });
      });
    }
    window.addEventListener("resize", () => this.draw()); // marks keep their size on screen
    this.canvas.addEventListener("keydown", (event) => this.key(event));
    this.canvas.addEventListener("pointerdown", (event) => this.pointerDown(event));
    this.canvas.addEventListener("pointermove", (event) => this.pointerMove(event));
    this.canvas.addEventListener("pointerup", (event) => this.pointerUp(event));
    this.canvas.addEventListener("pointercancel", (event) => this.pointerUp(event));
  }

  pointRadios() {
    return [...this.panel.querySelectorAll('input[name="measure-point"]')];
  }

  /** Shown only in the call: the panel goes under the videos. */
  place(inCall) {
    if (inCall && this.stage && this.panel.parentElement !== this.stage) {
      const stageVideo = this.stage.querySelector(".video-stage");
      stageVideo?.after(this.panel);
    }
    setVisible(this.panel, inCall);
    if (!inCall && this.active) this.unfreeze({ focus: false });
  }

  freeze() {
    const video = this.video;
    const width = video.videoWidth;
    const height = video.videoHeight;
    if (!width || !height || video.readyState < 2) {
      setText(this.error, STRINGS.noVideo());
      return;
    }
    this.frame.width = width;
    this.frame.height = height;
    this.frame.getContext("2d").drawImage(video, 0, 0, width, height);
    this.canvas.width = width;
    this.canvas.height = height;
    this.mirror.checked = false;
    this.points = startingPoints(width, height);
    this.active = true;
    this.stage?.classList.add("is-measuring");
    setVisible(this.tools, true);
    setVisible(this.start, false);
    setText(this.error, "");
    setText(this.savedStatus, "");
    this.select("proximal", { announce: false });
    this.draw();
    setText(this.announcer, STRINGS.frozen());
    this.canvas.focus();
    this.onActiveChange(true);
  }

  unfreeze({ focus = true } = {}) {
    if (!this.active) return;
    this.active = false;
    window.clearTimeout(this.announceTimer);
    this.stage?.classList.remove("is-measuring");
    setVisible(this.tools, false);
    setVisible(this.start, true);
    // The frozen picture goes with the view: nothing of it is kept on the page.
    this.frame.width = 0;
    this.canvas.width = 0;
    this.points = null;
    setText(this.announcer, STRINGS.back());
    if (focus) this.button.focus();
    this.onActiveChange(false);
  }

  select(name, { announce = true } = {}) {
    this.selected = name;
    for (const radio of this.pointRadios()) radio.checked = radio.value === name;
    this.draw();
    if (announce) this.announceSoon();
  }

  angle() {
    const p = this.points;
    return p ? wholeDegrees(angleAt(p.proximal, p.axis, p.distal)) : null;
  }

  move(name, to) {
    this.points[name] = clampPoint(to, this.canvas.width, this.canvas.height);
    this.draw();
    this.announceSoon();
  }

  flip() {
    if (!this.active) return;
    this.points = mirrorPoints(this.points, this.canvas.width);
    this.draw();
    this.announceSoon();
  }

  // -- keyboard and pointer ---------------------------------------------------------------

  key(event) {
    if (!this.active) return;
    const step = arrowStep(event.key, event.shiftKey);
    if (!step) return;
    event.preventDefault(); // the page must not scroll while a point moves
    const at = this.points[this.selected];
    this.move(this.selected, { x: at.x + step.dx, y: at.y + step.dy });
  }

  framePoint(event) {
    const box = this.canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * this.canvas.width) / box.width,
      y: ((event.clientY - box.top) * this.canvas.height) / box.height,
    };
  }

  pointerDown(event) {
    if (!this.active) return;
    event.preventDefault();
    const at = this.framePoint(event);
    // A finger needs a larger target than a mouse: about 22 CSS pixels around each point.
    const radius = (22 * this.canvas.width) / this.canvas.getBoundingClientRect().width;
    const hit = nearestPoint(ORDER.map((name) => this.points[name]), at, radius);
    if (hit >= 0) {
      this.select(ORDER[hit], { announce: false });
    } else {
      // A click or tap away from the points places the chosen one, then offers the next.
      const placed = this.selected;
      this.move(placed, at);
      this.select(ORDER[(ORDER.indexOf(placed) + 1) % ORDER.length], { announce: false });
      return;
    }
    this.dragging = true;
    this.canvas.setPointerCapture?.(event.pointerId);
  }

  pointerMove(event) {
    if (!this.dragging) return;
    this.move(this.selected, this.framePoint(event));
  }

  pointerUp(event) {
    if (!this.dragging) return;
    this.dragging = false;
    this.canvas.releasePointerCapture?.(event.pointerId);
  }

  // -- what is seen and heard -----------------------------------------------------------------

  announceSoon() {
    const degrees = this.angle();
    setText(this.reading, degrees === null ? STRINGS.noAngle() : STRINGS.angle(degrees));
    window.clearTimeout(this.announceTimer);
    // Debounced: a held arrow key or a drag says the angle once it settles, not at every pixel.
    this.announceTimer = window.setTimeout(() => {
      const point = STRINGS.point(this.selected);
      const now = this.angle();
      setText(this.announcer, now === null ? STRINGS.announceNoAngle(point) : STRINGS.announce(point, now));
    }, ANNOUNCE_AFTER_MS);
  }

  draw() {
    if (!this.active || !this.points) return;
    const ctx = this.canvas.getContext("2d");
    const { width, height } = this.canvas;
    ctx.save();
    ctx.clearRect(0, 0, width, height);
    if (this.mirror.checked) {
      ctx.translate(width, 0);
      ctx.scale(-1, 1);
    }
    ctx.drawImage(this.frame, 0, 0);
    ctx.restore();

    // Sizes in the screen's pixels, whatever the frame's: readable on a phone and a desktop.
    const shown = this.canvas.getBoundingClientRect().width;
    const unit = shown > 0 ? width / shown : Math.max(width, height) / 640;
    const { proximal, axis, distal } = this.points;
    ctx.lineCap = "round";
    this.strokeTwice(ctx, unit, () => {
      ctx.moveTo(proximal.x, proximal.y);
      ctx.lineTo(axis.x, axis.y);
      ctx.lineTo(distal.x, distal.y);
    });
    const degrees = this.angle();
    if (degrees !== null) {
      const arc = arcBetween(proximal, axis, distal);
      this.strokeTwice(ctx, unit, () => ctx.arc(axis.x, axis.y, 24 * unit, arc.start, arc.end, arc.anticlockwise));
      this.label(ctx, unit, `${degrees}°`, axis.x + 28 * unit, axis.y - 28 * unit, 16);
    }
    for (const name of ORDER) this.mark(ctx, unit, name);
    this.canvas.setAttribute("aria-label", this.describe(degrees));
  }

  /** A dark line under a light one: visible on any skin, clothing or background. */
  strokeTwice(ctx, unit, path) {
    for (const [colour, size] of [["rgba(0,0,0,0.85)", 4], ["#ffe14d", 2]]) {
      ctx.beginPath();
      path();
      ctx.strokeStyle = colour;
      ctx.lineWidth = size * unit;
      ctx.stroke();
    }
  }

  mark(ctx, unit, name) {
    const point = this.points[name];
    const chosen = name === this.selected;
    ctx.beginPath();
    ctx.arc(point.x, point.y, (chosen ? 7 : 5) * unit, 0, 2 * Math.PI);
    ctx.fillStyle = chosen ? "#ffe14d" : "#ffffff";
    ctx.fill();
    ctx.lineWidth = (chosen ? 3 : 2) * unit;
    ctx.strokeStyle = "#000000";
    ctx.stroke();
    // Letters name the points, so the chosen one is not told by colour alone (also larger).
    this.label(ctx, unit, MARKS[name], point.x + 9 * unit, point.y + 9 * unit, chosen ? 12 : 10);
  }

  label(ctx, unit, text, x, y, size) {
    ctx.font = `bold ${size * unit}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    const width = ctx.measureText(text).width;
    const pad = 2 * unit;
    const left = Math.min(Math.max(x, 0), this.canvas.width - width - 2 * pad);
    const top = Math.min(Math.max(y, 0), this.canvas.height - size * unit - 2 * pad);
    ctx.fillStyle = "rgba(0,0,0,0.8)";
    ctx.fillRect(left, top, width + 2 * pad, size * unit + 2 * pad);
    ctx.fillStyle = "#ffffff";
    ctx.fillText(text, left + pad, top + pad);
  }

  describe(degrees) {
    const base = this.canvas.dataset.label || "";
    return degrees === null ? base : `${base} ${STRINGS.angle(degrees)}`;
  }

  // -- saving ---------------------------------------------------------------------------------

  async save() {
    if (this.saving || !this.active) return;
    const data = new FormData(this.form);
    const reading = {
      joint: String(data.get("joint") || ""),
      side: String(data.get("side") || ""),
      movement: String(data.get("movement") || ""),
      mode: String(data.get("mode") || ""),
      degrees: this.angle(),
    };
    if (!reading.joint || !reading.side || !reading.movement || !reading.mode) {
      setText(this.error, STRINGS.missing());
      return;
    }
    if (reading.degrees === null) {
      setText(this.error, STRINGS.noReading());
      return;
    }
    this.saving = true;
    setText(this.error, "");
    setText(this.savedStatus, STRINGS.saving());
    try {
      const answer = await fetch(this.panel.dataset.saveUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": this.panel.dataset.csrfToken },
        body: JSON.stringify(reading),
      });
      const body = await answer.json().catch(() => ({}));
      if (!answer.ok) {
        const problem = body && body.error ? body.error : {};
        const fields = problem.fields && typeof problem.fields === "object" ? Object.values(problem.fields) : [];
        setText(this.savedStatus, "");
        setText(this.error, [problem.message || STRINGS.failed(), ...fields].join(" "));
        return;
      }
      setText(this.savedStatus, STRINGS.saved(body.summary));
      const item = document.createElement("li");
      item.textContent = body.summary;
      this.savedList.append(item);
      setVisible(byId("measure-list-region"), true);
    } catch {
      setText(this.savedStatus, "");
      setText(this.error, STRINGS.failed());
    } finally {
      this.saving = false;
    }
  }
}
