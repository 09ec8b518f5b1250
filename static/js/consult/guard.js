// While someone is in the call, leaving the page asks first: the browser's own question for
// a reload or a closed tab (beforeunload), our dialog for the site's links and for the
// back button (a history entry of our own, guarded with popstate).
import { ask } from "./dialog.js";

export class LeaveGuard {
  constructor(dialog, root) {
    this.dialog = dialog;
    this.root = root; // links inside the consult (phone numbers, the chat) never leave
    this.active = false;
    this.guardEntry = false;
    this.onBeforeUnload = (event) => {
      if (!this.active) return;
      event.preventDefault();
      event.returnValue = "";
    };
    this.onClick = (event) => this.linkClicked(event);
    this.onPopState = () => this.backPressed();
    window.addEventListener("beforeunload", this.onBeforeUnload);
    document.addEventListener("click", this.onClick, true);
    window.addEventListener("popstate", this.onPopState);
  }

  enable() {
    if (this.active) return;
    this.active = true;
    if (!this.guardEntry) {
      // Back from this entry lands on the page's own entry: popstate, not a navigation.
      window.history.pushState({ consultGuard: true }, "", window.location.href);
      this.guardEntry = true;
    }
  }

  disable() {
    this.active = false;
  }

  async linkClicked(event) {
    if (!this.active || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return; // a new tab
    const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
    if (!link || (this.root && this.root.contains(link)) || link.target === "_blank") return;
    const url = new URL(link.href, window.location.href);
    if (!/^https?:$/.test(url.protocol)) return; // tel:, mailto:
    if (url.pathname === window.location.pathname && url.hash) return; // "Skip to main content"
    event.preventDefault();
    if (await ask(this.dialog)) {
      this.disable();
      window.location.assign(url.href);
    }
  }

  async backPressed() {
    if (!this.guardEntry) return;
    this.guardEntry = false; // we are on the page's own entry now
    if (!this.active) {
      window.history.back(); // our entry is no longer needed: go where the person meant
      return;
    }
    if (await ask(this.dialog)) {
      this.disable();
      window.history.back();
    } else if (this.active) {
      window.history.pushState({ consultGuard: true }, "", window.location.href);
      this.guardEntry = true;
    }
  }
}
