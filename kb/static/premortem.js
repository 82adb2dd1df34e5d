// The pre-mortem editor: a risk proposed by the radar panel ("Add as risk", a `radar:add-risk`
// event with detail {text, source}) becomes a new risk row of the form, filled in and saved
// like anything typed. Without script, the panel's buttons submit the form instead
// (add_risk = "source<TAB>text") and the server appends the risk.
(function () {
  "use strict";
  const form = document.getElementById("editor");
  const radar = document.getElementById("radar");
  const list = form && form.querySelector('[data-list="risk"]');
  const addButton = form && form.querySelector('[data-add="risk"]');
  if (!form || !list || !addButton) return;

  function blankRow() {
    const rows = list.querySelectorAll("[data-row]");
    const last = rows[rows.length - 1];
    const text = last && last.querySelector('textarea[name$="-text"]');
    const source = last && last.querySelector('input[name$="-source"]');
    if (last && text && !text.value.trim() && source && !source.value.trim()) return last;
    addButton.click(); // editor.js adds the row (numbered, emptied) and focuses it
    const all = list.querySelectorAll("[data-row]");
    return all[all.length - 1];
  }

  function addRisk(detail) {
    const text = String((detail && detail.text) || "").trim();
    if (!text) return;
    const row = blankRow();
    const textArea = row.querySelector('textarea[name$="-text"]');
    const source = row.querySelector('input[name$="-source"]');
    textArea.value = text.slice(0, 2000);
    if (source) source.value = String((detail && detail.source) || "").trim().slice(0, 300);
    // An input event, as if typed: the editor saves it and keeps the local copy.
    textArea.dispatchEvent(new Event("input", { bubbles: true }));
    row.scrollIntoView({ block: "nearest" });
    textArea.focus();
  }

  // The panel may dispatch on itself (not bubbling) or let the event bubble to the document:
  // each event is handled once.
  document.addEventListener("radar:add-risk", (event) => addRisk(event.detail));
  if (radar) {
    radar.addEventListener("radar:add-risk", (event) => {
      if (!event.bubbles) addRisk(event.detail);
    });
  }
})();
