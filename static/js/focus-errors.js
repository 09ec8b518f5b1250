// Move focus to the error summary after a failed submit, so screen readers announce it.
const summary = document.getElementById("error-summary");
if (summary) {
  summary.focus();
}
