// The physiotherapist's dashboard stays current without a reload: every few seconds it asks
// the staff feed for the day's consults and updates the rows in place (never a re-render, so
// focus and reading position stay), announcing arrivals and changes politely (role=status).
// Sentences come from the page (data attributes), so they can be translated there.
import { askBeforeNoShow } from "./no-show.js";

const POLL_MS = 4000;
const RETRY_MS = 8000;

const table = document.getElementById("day-table");
const body = document.getElementById("day-rows");
const empty = document.getElementById("day-empty");
const news = document.getElementById("day-news");
const feedStatus = document.getElementById("day-feed");
const rowTemplate = document.getElementById("day-row-template");
const pageTitle = document.title;

const ENDED_STATES = new Set(["ended", "completed"]);

function fill(template, values) {
  return String(template || "").replace(/\{(\w+)\}/g, (whole, key) => (key in values ? values[key] : whole));
}

function setText(element, text) {
  if (element && element.textContent !== text) element.textContent = text;
}

function setHidden(element, hidden) {
  if (element && element.hidden !== hidden) element.hidden = hidden;
}

function field(row, name) {
  return row.querySelector(`[data-field="${name}"]`);
}

function fillRow(tr, consult) {
  tr.dataset.consultId = String(consult.id);
  tr.dataset.startsAt = consult.starts_at;
  tr.dataset.state = consult.state;
  tr.dataset.waiting = consult.waiting ? "yes" : "no";
  setText(field(tr, "when"), consult.when);
  setText(field(tr, "patient"), consult.patient_name);
  setText(field(tr, "provider"), consult.provider_name);
  for (const name of tr.querySelectorAll('[data-field="name"]')) setText(name, consult.patient_name);
  setText(field(tr, "status"), consult.status);
  const detail = field(tr, "detail");
  setText(detail, consult.detail);
  setHidden(detail, !consult.detail);
  const late = field(tr, "late");
  const minutes = Number(consult.running_late_minutes) || 0;
  setText(late, minutes ? fill(late.dataset.template, { minutes }) : "");
  setHidden(late, !minutes);

  const room = tr.querySelector('[data-action="room"]');
  if (consult.room_url) room.setAttribute("href", consult.room_url);
  setHidden(room, !consult.room_url);
  const outcome = tr.querySelector('[data-action="outcome"]');
  if (consult.outcome_url) outcome.setAttribute("href", consult.outcome_url);
  setText(field(tr, "outcome-label"), consult.outcome_label);
  setHidden(outcome, !consult.outcome_url);
  const noShow = tr.querySelector("form[data-no-show]");
  if (consult.no_show_url) noShow.setAttribute("action", consult.no_show_url);
  noShow.dataset.patientName = consult.patient_name;
  noShow.dataset.when = consult.when;
  setHidden(noShow, !consult.no_show);
}

function newRow(consult) {
  const tr = rowTemplate.content.firstElementChild.cloneNode(true);
  fillRow(tr, consult);
  return tr;
}

function placeRow(tr) {
  const later = [...body.rows].find((row) => row !== tr && row.dataset.startsAt > tr.dataset.startsAt);
  body.insertBefore(tr, later || null);
}

// What changed since the last look, in sentences a person wants to hear.
function changes(before, consult) {
  const values = { name: consult.patient_name, when: consult.when };
  if (!before) return fill(news.dataset.booked, values);
  if (consult.waiting && !before.waiting) return fill(news.dataset.arrived, values);
  if (before.state === consult.state && before.no_show === consult.no_show) return "";
  if (consult.state === "cancelled") return fill(news.dataset.cancelled, values);
  if (ENDED_STATES.has(consult.state) && !ENDED_STATES.has(before.state)) return fill(news.dataset.ended, values);
  if (consult.no_show && !before.no_show) return fill(news.dataset.noShow, values);
  return "";
}

let known = null; // consult id → last seen row; null until the first answer

function apply(consults) {
  const rows = new Map([...body.rows].map((tr) => [tr.dataset.consultId, tr]));
  const said = [];
  const seen = new Set();
  for (const consult of consults) {
    const id = String(consult.id);
    seen.add(id);
    let tr = rows.get(id);
    if (tr) {
      fillRow(tr, consult);
    } else {
      tr = newRow(consult);
      placeRow(tr);
    }
    // The first answer sets what is known: the page itself was rendered moments before.
    if (known) {
      const sentence = changes(known.get(id), consult);
      if (sentence) said.push(sentence);
    }
  }
  for (const [id, tr] of rows) {
    if (!seen.has(id) && !tr.contains(document.activeElement)) tr.remove();
  }
  known = new Map(consults.map((consult) => [String(consult.id), consult]));
  setHidden(empty, consults.length > 0);
  if (said.length) setText(news, said.join(" "));
  const waiting = consults.filter((consult) => consult.waiting).length;
  document.title = waiting ? fill(news.dataset.titleWaiting, { count: waiting, title: pageTitle }) : pageTitle;
}

async function poll() {
  let delay = POLL_MS;
  try {
    const response = await fetch(table.dataset.feedUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
    if (response.status === 401 || response.status === 403) {
      setText(feedStatus, feedStatus.dataset.loggedOut);
      return; // nothing more to show until the person logs in again
    }
    if (!response.ok) throw new Error(`feed answered ${response.status}`);
    const answer = await response.json();
    apply(Array.isArray(answer.consults) ? answer.consults : []);
    setText(feedStatus, "");
  } catch (error) {
    console.warn("dashboard feed", error);
    setText(feedStatus, feedStatus.dataset.failed);
    delay = RETRY_MS;
  }
  window.setTimeout(poll, delay);
}

// The rows as rendered are the starting point of what is known.
known = new Map(
  [...body.rows].map((tr) => [
    tr.dataset.consultId,
    {
      state: tr.dataset.state,
      no_show: !tr.querySelector("form[data-no-show]").hidden,
      waiting: tr.dataset.waiting === "yes",
    },
  ]),
);

askBeforeNoShow();
window.setTimeout(poll, POLL_MS);
