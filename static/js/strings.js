// The words of the page's scripts, in the page's language. The page renders them as JSON
// (templates/_js_strings.html: `<script type="application/json" data-page-strings>`), so
// every sentence lives in the gettext catalogs and no script hard-codes one.
//
//   import { t, plural, lang } from "../strings.js";
//   t("chat.sent")                        -> "Message sent."
//   t("waiting.for", { name: "Dr. Roy" }) -> "Waiting for Dr. Roy."
//   plural("chat.unread", 3)              -> "3 new messages"  (the entry holds one/other forms)
//   has("refusal.not_member")             -> whether the page gave that key
//
// Placeholders are {name}; {count} in a plural entry is the count in the page's language.

export const CLINIC_ZONE = "America/Toronto";

let table = null;

function strings() {
  if (table) return table;
  table = {};
  for (const block of document.querySelectorAll("script[data-page-strings]")) {
    try {
      Object.assign(table, JSON.parse(block.textContent || "{}"));
    } catch (error) {
      console.error("page strings are not JSON", error);
    }
  }
  return table;
}

/** The page's language tag (<html lang>), e.g. "fr-CA"; Intl formats in it. */
export function lang() {
  return document.documentElement.lang || "en-CA";
}

function fill(template, params) {
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    params && Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole,
  );
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(strings(), key);
}

/** The page's sentence for `key` with {placeholders} filled; the key itself if the page has none. */
export function t(key, params) {
  const value = strings()[key];
  if (typeof value !== "string") {
    console.warn("no page string", key);
    return key;
  }
  return fill(value, params);
}

let pluralRules = null;

/** The form of `key` ({one, other, ...}) the page's language uses for `count`; {count} filled. */
export function plural(key, count, params) {
  const forms = strings()[key];
  if (!forms || typeof forms !== "object") {
    console.warn("no page plural", key);
    return `${count} ${key}`;
  }
  if (!pluralRules) pluralRules = new Intl.PluralRules(lang());
  const form = forms[pluralRules.select(count)] || forms.other || "";
  return fill(form, { ...params, count: new Intl.NumberFormat(lang()).format(count) });
}

/** Intl.DateTimeFormat in the page's language and the clinic's zone (both people are in Ontario). */
export function clinicFormat(options) {
  return new Intl.DateTimeFormat(lang(), { timeZone: CLINIC_ZONE, ...options });
}
