// Ask before marking a patient a no-show: any form with data-no-show (the dashboard's rows,
// the consult page) opens the page's confirm dialog; only "Mark no-show" in it submits.
// The sentences come from the dialog's data attributes, with {name} and {when} filled in.

function fill(template, values) {
  return String(template || "").replace(/\{(\w+)\}/g, (whole, key) => (key in values ? values[key] : whole));
}

/**
 * @param {object} [options]
 * @param {() => void} [options.beforeSubmit]  called once the person confirmed, before the form is sent
 */
export function askBeforeNoShow({ beforeSubmit } = {}) {
  const dialog = document.getElementById("no-show-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return;
  const title = dialog.querySelector("h2");
  const text = dialog.querySelector("p");
  const confirm = dialog.querySelector("[data-confirm]");
  const cancel = dialog.querySelector("[data-cancel]");
  let pending = null;
  let opener = null;

  document.addEventListener("submit", (event) => {
    const form = event.target instanceof HTMLFormElement ? event.target : null;
    if (!form || !form.matches("form[data-no-show]")) return;
    event.preventDefault();
    pending = form;
    opener = event.submitter || form.querySelector("button");
    const values = { name: form.dataset.patientName || "", when: form.dataset.when || "" };
    title.textContent = fill(dialog.dataset.title, values);
    text.textContent = fill(dialog.dataset.text, values);
    dialog.showModal();
    cancel.focus(); // the safe choice first: a stray Enter keeps waiting
  });

  confirm.addEventListener("click", () => {
    const form = pending;
    pending = null;
    dialog.close();
    if (form && beforeSubmit) beforeSubmit();
    // submit() skips the submit event, so the dialog does not ask again.
    if (form && form.isConnected) form.submit();
  });

  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    if (pending && opener && opener.isConnected) opener.focus();
    pending = null;
  });
}
