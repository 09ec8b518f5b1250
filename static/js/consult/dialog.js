// A question in a modal <dialog> (a <form method="dialog"> whose buttons carry value
// "confirm" or "cancel"). Escape cancels; focus goes to the dialog's autofocus button (the
// safe answer) and back to where it was when the dialog closes.

/** Ask; resolves true only when the person chose the "confirm" button. */
export function ask(dialog) {
  if (!dialog) return Promise.resolve(false);
  if (typeof dialog.showModal !== "function") {
    // A browser without <dialog>: its own question, with the same words.
    const title = dialog.querySelector("h2");
    return Promise.resolve(window.confirm(title ? title.textContent : ""));
  }
  if (dialog.open) return Promise.resolve(false);
  const opener = document.activeElement;
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener(
      "close",
      () => {
        if (opener && typeof opener.focus === "function" && document.contains(opener)) opener.focus();
        resolve(dialog.returnValue === "confirm");
      },
      { once: true },
    );
    dialog.showModal();
  });
}
