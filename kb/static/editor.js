// The postmortem editor, made better by script: autosave, a local copy that survives a
// reload, list rows that can be added, removed and moved, Markdown preview, time zones,
// inline blameless-language hints and similar past incidents. Without script, the form
// still works: it saves on submit and adds rows with a round trip.
(function () {
  "use strict";
  const form = document.getElementById("editor");
  if (!form) return;
  document.documentElement.classList.add("js");

  const ref = form.dataset.ref;
  const storageKey = "hindsight-draft-" + ref;
  const state = document.getElementById("save-state");
  const conflictBanner = document.getElementById("conflict-banner");
  const restoredBanner = document.getElementById("restored-banner");
  const versionInput = form.querySelector("input[name=version]");
  const tzInput = form.querySelector("input[name=tz]");
  let timer = null;
  let saving = false;
  let dirty = false;
  let retryDelay = 2000;
  let conflicted = false;

  // --- time zones: show local time, store UTC ------------------------------------------
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  function zonedParts(date, zone) {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(date);
    const get = (type) => parts.find((p) => p.type === type).value;
    return `${get("year")}-${get("month")}-${get("day")}T${get("hour")}:${get("minute")}`;
  }
  function convertTimes(fromZone, toZone) {
    if (fromZone === toZone) return;
    form.querySelectorAll("input[data-time]").forEach((input) => {
      if (!input.value) return;
      // The value is wall-clock time in fromZone; find the instant, then show it in toZone.
      const guess = new Date(input.value + ":00Z");
      const offset = new Date(zonedParts(guess, fromZone) + ":00Z") - guess;
      const instant = new Date(guess.getTime() - offset);
      input.value = zonedParts(instant, toZone);
    });
    form.querySelectorAll(".tz-label").forEach((label) => { label.textContent = "(" + toZone + ")"; });
  }
  convertTimes(form.dataset.tz || "UTC", browserZone);
  tzInput.value = browserZone;

  // --- a local copy, so a reload or a crash loses nothing ------------------------------
  function snapshot() {
    const data = {};
    new FormData(form).forEach((value, key) => {
      if (key !== "csrf_token") data[key] = value;
    });
    return data;
  }
  function keepLocal() {
    try {
      localStorage.setItem(storageKey, JSON.stringify({ version: versionInput.value, data: snapshot() }));
    } catch (e) { /* storage full or disabled: the server copy still saves */ }
  }
  function dropLocal() { try { localStorage.removeItem(storageKey); } catch (e) { /* ignore */ } }

  function ensureRows(prefix, names) {
    const list = form.querySelector(`[data-list="${prefix}"]`);
    if (!list) return;
    const indices = new Set();
    names.forEach((name) => {
      const m = name.match(new RegExp("^" + prefix + "-(\\d+)-"));
      if (m) indices.add(Number(m[1]));
    });
    indices.forEach((i) => {
      if (!form.querySelector(`[name^="${prefix}-${i}-"]`)) addRow(prefix, i);
    });
  }
  function restoreLocal() {
    let saved;
    try { saved = JSON.parse(localStorage.getItem(storageKey) || "null"); } catch (e) { saved = null; }
    if (!saved || !saved.data) return;
    if (Number(saved.version) < Number(versionInput.value)) { dropLocal(); return; }
    const names = Object.keys(saved.data);
    ["timeline", "factor", "risk", "action", "link"].forEach((p) => ensureRows(p, names));
    let changed = false;
    names.forEach((name) => {
      if (name === "version" || name === "tz") return;
      const field = form.elements.namedItem(name);
      if (!field || field instanceof RadioNodeList) return;
      const value = saved.data[name];
      if (field.type === "checkbox") {
        if (field.checked !== Boolean(value)) { field.checked = Boolean(value); changed = true; }
      } else if (field.value !== value) { field.value = value; changed = true; }
    });
    if (changed) {
      restoredBanner.hidden = false;
      dirty = true;
      show("Restored unsaved changes; saving…", "busy");
      schedule(300);
    }
  }

  // --- autosave --------------------------------------------------------------------------
  function show(text, kind) {
    state.textContent = text;
    state.dataset.kind = kind || "";
  }
  // A value the server could not store is marked at its field (the rest is saved).
  function markRefused(list) {
    form.querySelectorAll("[aria-invalid=true]").forEach((el) => {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
    form.querySelectorAll(".field-error").forEach((el) => el.remove());
    list.forEach((item, n) => {
      const input = item.input ? form.elements.namedItem(item.input) : null;
      if (!input || !input.setAttribute) return;
      const message = document.createElement("p");
      message.className = "field-error";
      message.id = `err-live-${n}`;
      message.textContent = `${item.label || item.field}: ${item.message}`;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", message.id);
      (input.closest("label") || input).after(message);
    });
  }
  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(save, delay === undefined ? 1200 : delay);
  }
  async function save() {
    if (saving || conflicted) { if (!conflicted) schedule(); return; }
    if (!dirty) return;
    if (!form.dataset.autosave) {
      // A published postmortem is changed by amendment, with a note: only the Save button saves.
      show("Not saved yet: give an amendment note and press Save. Your text is kept in this browser.", "busy");
      return;
    }
    saving = true;
    dirty = false;
    show("Saving…", "busy");
    let response;
    try {
      response = await fetch(form.dataset.autosave, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch (e) {
      response = null;
    }
    saving = false;
    if (response && response.ok) {
      const body = await response.json();
      versionInput.value = body.version;
      form.dataset.version = body.version;
      retryDelay = 2000;
      if (!dirty) dropLocal(); else keepLocal();
      const refused = body.refused || [];
      markRefused(refused);
      if (refused.length) {
        show(`Saved (version ${body.version}), except: ` + refused.map((r) => `${r.label}: ${r.message}`).join("; "), "error");
      } else {
        show(`All changes saved (version ${body.version}).`, "ok");
      }
      showHints(body.hints || []);
      if (dirty) schedule();
      return;
    }
    dirty = true;
    keepLocal();
    if (response && response.status === 409) {
      conflicted = true;
      conflictBanner.hidden = false;
      show("Not saved: someone else saved a newer version.", "error");
      return;
    }
    if (response && response.status === 422) {
      const body = await response.json();
      const errors = body.error.errors || [];
      markRefused(errors);
      const first = errors[0];
      show("Not saved: " + (first ? `${first.label || first.field}: ${first.message}` : body.error.message), "error");
      return;  // saved again on the next change
    }
    if (response && (response.status === 401 || response.status === 400)) {
      show("Not saved: your session has expired. Your text is kept in this browser; sign in again in another tab, then keep typing.", "error");
    } else {
      show(`Not saved: the server could not be reached. Retrying in ${Math.round(retryDelay / 1000)} s; your text is kept in this browser.`, "error");
    }
    schedule(retryDelay);
    retryDelay = Math.min(retryDelay * 2, 30000);
  }
  function changed() {
    dirty = true;
    keepLocal();
    show("Unsaved changes…", "busy");
    schedule();
    suggestSimilar();
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  window.addEventListener("pagehide", () => {
    if (!dirty || conflicted || !form.dataset.autosave) return;
    keepLocal();
    navigator.sendBeacon(form.dataset.autosave, new FormData(form));
  });
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      event.preventDefault();
      if (!form.dataset.autosave) { form.requestSubmit(); return; }
      dirty = true;
      save();
    }
  });
  // The submitted form carries the text: no autosave (and no beacon on pagehide) after it.
  form.addEventListener("submit", () => { dropLocal(); clearTimeout(timer); dirty = false; });
  document.getElementById("discard-restored").addEventListener("click", () => {
    dropLocal();
    dirty = false;
    window.location.reload();
  });

  // --- list rows -----------------------------------------------------------------------
  function renumber(list) {
    list.querySelectorAll("[data-row]").forEach((row, i) => {
      const position = row.querySelector("input.position");
      if (position) position.value = i + 1;
    });
  }
  function addRow(prefix, index) {
    const list = form.querySelector(`[data-list="${prefix}"]`);
    const template = list.querySelector("[data-row]:last-child");
    const row = template.cloneNode(true);
    if (index === undefined) {
      index = 0;
      form.querySelectorAll(`[name^="${prefix}-"]`).forEach((el) => {
        const m = el.name.match(/-(\d+)-/);
        if (m) index = Math.max(index, Number(m[1]) + 1);
      });
    }
    row.querySelectorAll("input, textarea, select").forEach((el) => {
      el.name = el.name.replace(/-\d+-/, `-${index}-`);
      if (el.type === "checkbox") el.checked = false;
      else if (el.tagName === "SELECT") el.selectedIndex = 0;
      else el.value = "";
    });
    row.querySelectorAll(".field-error").forEach((el) => el.remove());
    list.appendChild(row);
    renumber(list);
    return row;
  }
  form.querySelectorAll("[data-add]").forEach((button) => {
    button.addEventListener("click", (event) => {
      event.preventDefault();
      const row = addRow(button.dataset.add);
      const first = row.querySelector("input:not([type=hidden]):not(.position), textarea");
      if (first) first.focus();
    });
  });
  form.addEventListener("click", (event) => {
    const button = event.target.closest("[data-move]");
    if (!button) return;
    move(button.closest("[data-row]"), button.dataset.move);
    button.focus();
  });
  function move(row, direction) {
    const list = row.parentElement;
    if (direction === "up" && row.previousElementSibling) list.insertBefore(row, row.previousElementSibling);
    if (direction === "down" && row.nextElementSibling) list.insertBefore(row.nextElementSibling, row);
    renumber(list);
    changed();
  }
  form.addEventListener("keydown", (event) => {
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
    const row = event.target.closest("[data-row]");
    if (!row) return;
    event.preventDefault();
    move(row, event.key === "ArrowUp" ? "up" : "down");
    event.target.focus();
  });
  form.addEventListener("change", (event) => {
    if (!event.target.name || !event.target.name.endsWith("-remove") || !event.target.checked) return;
    const row = event.target.closest("[data-row]");
    const list = row.parentElement;
    if (list.querySelectorAll("[data-row]").length > 1) {
      row.remove();
    } else {
      row.querySelectorAll("input, textarea").forEach((el) => { if (el.type !== "checkbox") el.value = ""; });
      event.target.checked = false;
    }
    renumber(list);
  });

  // --- Markdown preview -----------------------------------------------------------------
  form.querySelectorAll("[data-preview-toggle]").forEach((button) => {
    button.addEventListener("click", async () => {
      const textarea = document.getElementById(button.dataset.previewToggle);
      const pane = form.querySelector(`[data-preview-for="${textarea.id}"]`);
      const showing = button.getAttribute("aria-pressed") === "true";
      if (showing) {
        pane.hidden = true;
        textarea.hidden = false;
        button.setAttribute("aria-pressed", "false");
        button.textContent = "Preview";
        textarea.focus();
        return;
      }
      const body = new FormData();
      body.append("text", textarea.value);
      body.append("csrf_token", form.elements.namedItem("csrf_token").value);
      const response = await fetch(form.dataset.preview, { method: "POST", body, credentials: "same-origin" });
      if (!response.ok) return;
      const preview = await response.json();
      pane.innerHTML = preview.html || "<p class=\"muted\">Nothing written yet.</p>";
      if (preview.notice) {
        const notice = document.createElement("p");
        notice.className = "preview-notice";
        notice.textContent = preview.notice;
        pane.prepend(notice);
      }
      pane.hidden = false;
      textarea.hidden = true;
      button.setAttribute("aria-pressed", "true");
      button.textContent = "Write";
    });
  });

  // --- blameless-language hints ------------------------------------------------------------
  const hintList = document.getElementById("hints");
  function fieldElement(path) {
    const m = path.match(/^(\w+)\[(\d+)\]\.(\w+)$/);
    if (!m) return form.elements.namedItem(path);
    const prefix = { timeline: "timeline", contributing_factors: "factor", action_items: "action" }[m[1]];
    const rows = form.querySelectorAll(`[data-list="${prefix}"] [data-row]`);
    const row = rows[Number(m[2])];
    return row ? row.querySelector(`[name$="-${m[3]}"]`) : null;
  }
  function showHints(hints) {
    hintList.textContent = "";
    form.querySelectorAll(".has-hint").forEach((el) => el.classList.remove("has-hint"));
    if (!hints.length) {
      const li = document.createElement("li");
      li.className = "muted no-hints";
      li.textContent = "Nothing to flag.";
      hintList.appendChild(li);
      return;
    }
    hints.forEach((hint) => {
      const li = document.createElement("li");
      li.className = "hint";
      const link = document.createElement("a");
      link.href = "#";
      const quote = document.createElement("q");
      quote.textContent = hint.text;
      link.appendChild(quote);
      const target = fieldElement(hint.field);
      if (target) target.classList.add("has-hint");
      link.addEventListener("click", (event) => {
        event.preventDefault();
        if (!target) return;
        target.focus();
        if (target.setSelectionRange) target.setSelectionRange(hint.start, hint.end);
      });
      li.appendChild(link);
      li.appendChild(document.createTextNode(` in ${hint.field.replace(/_/g, " ")}: ${hint.message} `));
      const em = document.createElement("em");
      em.textContent = hint.suggestion;
      li.appendChild(em);
      hintList.appendChild(li);
    });
  }

  // --- similar past incidents while writing -------------------------------------------------
  const similarCard = document.getElementById("similar-card");
  const similarList = document.getElementById("similar-list");
  let similarTimer = null;
  function suggestSimilar() {
    if (!form.dataset.similar) return;
    clearTimeout(similarTimer);
    similarTimer = setTimeout(async () => {
      const parts = [form.elements.namedItem("title").value, form.elements.namedItem("summary").value];
      form.querySelectorAll('[data-list="factor"] textarea').forEach((t) => parts.push(t.value));
      const text = parts.join("\n").trim();
      if (text.length < 12) return;
      let url = form.dataset.similar + "?limit=6&text=" + encodeURIComponent(text.slice(0, 4000));
      form.elements.namedItem("services").value.split(",").map((s) => s.trim()).filter(Boolean)
        .forEach((service) => { url += "&service=" + encodeURIComponent(service); });
      let response;
      try { response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }); } catch (e) { return; }
      if (!response.ok) return;
      const body = await response.json();
      const items = (body.items || []).filter((item) => item.ref !== ref).slice(0, 5);
      similarList.textContent = "";
      items.forEach((item) => {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "/postmortems/" + encodeURIComponent(item.ref);
        a.textContent = `${item.ref}: ${item.title}`;
        li.appendChild(a);
        const shared = item.shared || {};
        const words = [].concat(
          (shared.themes || []).map((t) => t.label),
          shared.services || [],
          shared.terms || [],
        ).slice(0, 4);
        if (words.length) {
          const small = document.createElement("span");
          small.className = "muted similar-shared";
          small.textContent = "shares: " + words.join(", ");
          li.appendChild(small);
        }
        similarList.appendChild(li);
      });
      similarCard.hidden = items.length === 0;
    }, 800);
  }

  restoreLocal();
  suggestSimilar();
})();

// Images pasted or dropped into a section are attached to the postmortem and shown where the
// cursor was. Without script, the Attachments form beside the editor does the same.
(function () {
  "use strict";
  const form = document.getElementById("editor");
  const attach = document.getElementById("attach-form");
  if (!form || !attach) return;
  const token = attach.elements.namedItem("csrf_token").value;

  async function upload(textarea, file) {
    const body = new FormData();
    body.append("csrf_token", token);
    body.append("file", file, file.name || "pasted-image.png");
    const marker = `![Uploading ${file.name || "image"}…]()`;
    insert(textarea, marker);
    let answer;
    try {
      const response = await fetch(attach.action, {
        method: "POST", body, credentials: "same-origin", headers: { Accept: "application/json" },
      });
      answer = await response.json();
    } catch (e) {
      answer = { error: "Not attached: the server could not be reached." };
    }
    textarea.value = textarea.value.replace(marker, answer.markdown || "");
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    if (answer.error) window.alert(answer.error);
  }

  function insert(textarea, text) {
    const start = textarea.selectionStart, end = textarea.selectionEnd;
    textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
    textarea.selectionStart = textarea.selectionEnd = start + text.length;
  }

  form.querySelectorAll("textarea[data-markdown]").forEach((textarea) => {
    textarea.addEventListener("paste", (event) => {
      const files = Array.from(event.clipboardData ? event.clipboardData.files : []);
      if (!files.length) return;
      event.preventDefault();
      files.forEach((file) => upload(textarea, file));
    });
    textarea.addEventListener("dragover", (event) => {
      if (event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files")) {
        event.preventDefault();
        textarea.classList.add("drop-target");
      }
    });
    textarea.addEventListener("dragleave", () => textarea.classList.remove("drop-target"));
    textarea.addEventListener("drop", (event) => {
      textarea.classList.remove("drop-target");
      const files = Array.from(event.dataTransfer ? event.dataTransfer.files : []);
      if (!files.length) return;
      event.preventDefault();
      files.forEach((file) => upload(textarea, file));
    });
  });
})();
