// The consult chat: relayed by the server, never stored. One instance per page, moved between
// the waiting room (or lobby) and the call so the conversation carries on.
import { byId, formatTime, setText, setVisible } from "./ui.js";
import { plural, t } from "../strings.js";

const MAX_LENGTH = 1000;
// What the unread count says (the badge on the "Chat" link, and the polite announcement).
const UNREAD = {
  badge: (count) => plural("chat.unreadBadge", count),
  status: (count, name) => plural("chat.unread", count, { name }),
};

export class Chat {
  constructor({ request, role, otherName }) {
    Object.assign(this, { request, role, otherName });
    this.section = byId("chat");
    this.log = byId("chat-log");
    this.form = byId("chat-form");
    this.input = byId("chat-input");
    this.sendButton = byId("chat-send");
    this.error = byId("chat-error");
    this.empty = byId("chat-empty");
    this.closedNote = byId("chat-closed");
    this.sending = false;
    this.jump = byId("chat-jump");
    this.unreadBadge = byId("chat-unread");
    this.unreadStatus = byId("chat-unread-status");
    this.unread = 0;
    this.inView = true;
    this.watchVisibility();
    this.jump?.addEventListener("click", (event) => {
      event.preventDefault();
      this.input?.focus(); // scrolls the chat into view, ready to answer
      this.section?.scrollIntoView({ block: "nearest" });
    });
    this.form?.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.input?.addEventListener("input", () => {
      if (this.input.getAttribute("aria-invalid") === "true") this.showError("");
    });
  }

  /** Whether the person can see the chat: its form on screen, in a tab they are looking at. */
  watchVisibility() {
    if (!this.form || !("IntersectionObserver" in window)) return;
    const observer = new IntersectionObserver((entries) => {
      for (const entry of entries) this.inView = entry.isIntersecting;
      this.markReadIfSeen();
    });
    observer.observe(this.form);
    document.addEventListener("visibilitychange", () => this.markReadIfSeen());
  }

  get seen() {
    return this.inView && document.visibilityState !== "hidden";
  }

  markReadIfSeen() {
    if (this.seen && this.unread) {
      this.unread = 0;
      this.renderUnread();
    }
  }

  renderUnread() {
    setVisible(this.unreadBadge, this.unread > 0);
    if (this.unread) setText(this.unreadBadge, UNREAD.badge(this.unread));
    setText(this.unreadStatus, this.unread ? UNREAD.status(this.unread, this.otherName) : "");
  }

  /** Put the chat into another view's slot (keeps its messages). */
  moveTo(slot) {
    if (this.section && slot && this.section.parentElement !== slot) slot.append(this.section);
  }

  /** Chat is allowed in the waiting room and the call only; say so before that. */
  setOpen(open, closedText = "") {
    setVisible(this.closedNote, !open && Boolean(closedText));
    if (!open && closedText) setText(this.closedNote, closedText);
  }

  /** A `chat` event (our own messages come back too, which confirms delivery). */
  add(message) {
    if (!message || typeof message.text !== "string" || !this.log) return;
    const mine = message.from === this.role;
    const item = document.createElement("div");
    item.className = mine ? "chat-message is-mine" : "chat-message";
    const meta = document.createElement("p");
    meta.className = "chat-meta";
    const who = document.createElement("strong");
    who.textContent = mine ? t("chat.you") : this.otherName;
    meta.append(who);
    const time = formatTime(message.at);
    if (time) {
      const stamp = document.createElement("time");
      stamp.dateTime = message.at;
      stamp.textContent = time;
      meta.append(" · ", stamp);
    }
    const text = document.createElement("p");
    text.className = "chat-text";
    text.textContent = message.text;
    item.append(meta, text);
    this.log.append(item);
    this.log.scrollTop = this.log.scrollHeight;
    setVisible(this.empty, false);
    if (!mine && !this.seen) {
      this.unread += 1;
      this.renderUnread();
    }
  }

  showError(message) {
    setText(this.error, message);
    if (!this.input) return;
    if (message) {
      this.input.setAttribute("aria-invalid", "true");
      this.input.setAttribute("aria-describedby", "chat-error chat-hint");
    } else {
      this.input.removeAttribute("aria-invalid");
      this.input.setAttribute("aria-describedby", "chat-hint");
    }
  }

  async send() {
    if (this.sending || !this.input) return;
    const text = this.input.value.trim();
    if (!text) {
      this.showError(t("chat.empty"));
      this.input.focus();
      return;
    }
    if (text.length > MAX_LENGTH) {
      this.showError(t("chat.tooLong", { max: MAX_LENGTH }));
      this.input.focus();
      return;
    }
    this.sending = true;
    this.sendButton?.setAttribute("aria-disabled", "true");
    const ack = await this.request("chat", { text });
    this.sending = false;
    this.sendButton?.setAttribute("aria-disabled", "false");
    if (ack.ok) {
      this.showError("");
      this.input.value = "";
    } else {
      this.showError(ack.error.message);
    }
    this.input.focus();
  }
}
