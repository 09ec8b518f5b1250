// The patient's check-in form: where they are, whether that is in Ontario, an emergency
// contact, consent. Errors go next to each field and into a summary that takes focus.
import { byId, setText, setVisible } from "./ui.js";
import { lang, t } from "../strings.js";

// Server field name → the control to focus and the error paragraph next to it.
const FIELDS = {
  location: { input: "location", error: "error-location", inputs: ["location"] },
  in_ontario: { input: "in-ontario-yes", error: "error-in_ontario", inputs: ["in-ontario-yes", "in-ontario-no"] },
  emergency_phone: { input: "emergency-phone", error: "error-emergency_phone", inputs: ["emergency-phone"] },
  consent: { input: "consent", error: "error-consent", inputs: ["consent"] },
};

const MESSAGES = {
  location: t("checkin.location"),
  in_ontario: t("checkin.inOntario"),
  not_in_ontario: t("checkin.notInOntario"),
  emergency_phone: t("checkin.emergencyPhone"),
  consent: t("checkin.consent"),
};

function describedBy(element, id, add) {
  const ids = new Set((element.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean));
  if (add) ids.add(id);
  else ids.delete(id);
  if (ids.size) element.setAttribute("aria-describedby", [...ids].join(" "));
  else element.removeAttribute("aria-describedby");
}

export class CheckIn {
  constructor({ request, onDone }) {
    this.request = request;
    this.onDone = onDone;
    this.form = byId("checkin-form");
    this.summary = byId("checkin-errors");
    this.summaryList = byId("checkin-errors-list");
    this.location = byId("location");
    this.yes = byId("in-ontario-yes");
    this.no = byId("in-ontario-no");
    this.phone = byId("emergency-phone");
    this.consent = byId("consent");
    this.notInOntario = byId("not-in-ontario");
    this.joinButton = byId("join-button");
    this.joinBlocked = byId("join-blocked");
    this.status = byId("join-status");
    this.busy = false;
    if (!this.form) return;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    for (const radio of [this.yes, this.no]) radio?.addEventListener("change", () => this.renderOntario());
    this.summaryList?.addEventListener("click", (event) => {
      const link = event.target.closest("a[data-focus]");
      if (!link) return;
      event.preventDefault();
      const target = byId(link.dataset.focus);
      target?.focus();
      target?.scrollIntoView({ block: "center" });
    });
    this.renderOntario();
  }

  answers() {
    return {
      location: this.location.value.trim(),
      in_ontario: this.yes.checked ? true : this.no.checked ? false : null,
      emergency_phone: this.phone.value.trim(),
      consent: this.consent.checked,
    };
  }

  /** "No" explains why and blocks joining (the server refuses it too). */
  renderOntario() {
    const outside = this.no?.checked === true;
    setVisible(this.notInOntario, outside);
    setVisible(this.joinBlocked, outside);
    this.updateButton();
    if (!outside && this.yes?.checked) this.clearField("in_ontario");
  }

  updateButton() {
    if (!this.joinButton) return;
    const blocked = this.no?.checked === true || this.busy;
    this.joinButton.setAttribute("aria-disabled", String(blocked));
    describedBy(this.joinButton, "join-blocked", this.no?.checked === true);
  }

  validate(answers) {
    const errors = {};
    if (!answers.location || answers.location.length > 120) errors.location = MESSAGES.location;
    if (answers.in_ontario === null) errors.in_ontario = MESSAGES.in_ontario;
    else if (answers.in_ontario === false) errors.in_ontario = MESSAGES.not_in_ontario;
    const digits = answers.emergency_phone.replace(/\D/g, "");
    if (digits.length < 10 || digits.length > 15) errors.emergency_phone = MESSAGES.emergency_phone;
    if (!answers.consent) errors.consent = MESSAGES.consent;
    return errors;
  }

  async submit() {
    if (this.busy) return;
    const answers = this.answers();
    const errors = this.validate(answers);
    if (Object.keys(errors).length) {
      this.showErrors(errors);
      return;
    }
    this.busy = true;
    this.updateButton();
    setText(this.status, t("checkin.joining"));
    const ack = await this.request("check_in", {
      location: answers.location,
      in_ontario: true,
      emergency_phone: answers.emergency_phone,
      consent: true,
    });
    this.busy = false;
    this.updateButton();
    if (ack.ok) {
      setText(this.status, "");
      this.clearErrors();
      this.onDone?.();
      return;
    }
    setText(this.status, "");
    this.showErrors(this.errorsFromAck(ack), ack.error.message);
  }

  /** Field errors from a refused `check_in` ack; `fields` may be an object or a list. */
  errorsFromAck(ack) {
    const errors = {};
    if (ack.error.code === "not_in_ontario") {
      errors.in_ontario = ack.error.message || MESSAGES.not_in_ontario;
      return errors;
    }
    const fields = ack.fields;
    const names = Array.isArray(fields) ? fields : fields && typeof fields === "object" ? Object.keys(fields) : [];
    for (const name of names) {
      if (!(name in FIELDS)) continue;
      const given = !Array.isArray(fields) ? fields[name] : "";
      // The server's sentence (English) on an English page when it is one, else our own wording.
      const serverSays = typeof given === "string" && given.includes(" ") && lang().toLowerCase().startsWith("en");
      errors[name] = serverSays ? given : MESSAGES[name];
    }
    return errors;
  }

  clearField(name) {
    const field = FIELDS[name];
    const error = byId(field.error);
    setText(error, "");
    setVisible(error, false);
    for (const id of field.inputs) {
      const input = byId(id);
      if (!input) continue;
      input.removeAttribute("aria-invalid");
      describedBy(input, field.error, false);
    }
  }

  clearErrors() {
    for (const name of Object.keys(FIELDS)) this.clearField(name);
    this.summaryList?.replaceChildren();
    setVisible(this.summary, false);
  }

  /** Errors next to their fields and in the summary, which takes focus. */
  showErrors(errors, general = "") {
    this.clearErrors();
    const items = [];
    for (const [name, message] of Object.entries(errors)) {
      const field = FIELDS[name];
      if (!field) continue;
      const error = byId(field.error);
      setText(error, message);
      setVisible(error, true);
      for (const id of field.inputs) {
        const input = byId(id);
        if (!input) continue;
        input.setAttribute("aria-invalid", "true");
        describedBy(input, field.error, true);
      }
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `#${field.input}`;
      link.dataset.focus = field.input;
      link.textContent = message;
      item.append(link);
      items.push(item);
    }
    if (!items.length) {
      const item = document.createElement("li");
      item.textContent = general || t("checkin.failed");
      items.push(item);
    }
    this.summaryList?.replaceChildren(...items);
    setVisible(this.summary, true);
    this.summary?.focus();
  }
}
