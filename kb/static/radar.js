// The risk radar panel (templates/_radar.html): refreshed from POST /api/v1/radar as the
// change is described, and "Add as risk" turned into a `radar:add-risk` event.
//
// Without this script the panel is what the server rendered, and "Add as risk" submits its
// form with add_risk = "source<TAB>risk".
(function () {
  "use strict";
  const panel = document.getElementById("radar");
  if (!panel) return;
  const form = panel.dataset.radarForm
    ? document.getElementById(panel.dataset.radarForm)
    : panel.closest("form");
  const canAdd = panel.hasAttribute("data-radar-add");

  // --- "Add as risk" --------------------------------------------------------------------
  panel.addEventListener("click", (event) => {
    const button = event.target.closest("button[name='add_risk']");
    if (!button || !panel.contains(button)) return;
    event.preventDefault();
    const [source, ...rest] = button.value.split("\t");
    panel.dispatchEvent(
      new CustomEvent("radar:add-risk", { bubbles: true, detail: { text: rest.join("\t"), source } }),
    );
    button.textContent = "Added";
    button.disabled = true;
  });

  if (!form) return;

  // --- what the form says about the change ----------------------------------------------
  function field(name) {
    return form.elements.namedItem(name);
  }
  function services() {
    const box = field("services");
    if (!box || typeof box.value !== "string") return [];
    return box.value.split(",").map((s) => s.trim()).filter(Boolean).slice(0, 30);
  }
  function text() {
    const parts = [];
    const title = field("title");
    if (title && typeof title.value === "string") parts.push(title.value);
    form.querySelectorAll("textarea[data-markdown], [data-radar-text]").forEach((t) => parts.push(t.value));
    return parts.join("\n").slice(0, 20000);
  }
  function trigger() {
    const box = field("trigger");
    return box && box.value ? box.value : "unknown";
  }

  // --- drawing the answer ---------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
    });
    children.flat(Infinity).forEach((child) => {
      if (child === null || child === undefined || child === "") return;
      node.append(child instanceof Node ? child : String(child));
    });
    return node;
  }
  function link(href, label) {
    return el("a", { href }, label);
  }
  function month(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return d.toLocaleString("en-US", { month: "short", year: "numeric", timeZone: "UTC" });
  }
  function addButton(entry) {
    if (!canAdd) return null;
    const attrs = {
      class: "button small radar-add",
      type: "submit",
      name: "add_risk",
      value: `${entry.source}\t${entry.risk}`,
      formnovalidate: "",
      title: `Add as a risk, quoting ${entry.source}`,
    };
    if (panel.dataset.radarForm) attrs.form = panel.dataset.radarForm;
    return [" ", el("button", attrs, "Add as risk")];
  }
  function entry(what, why, item) {
    return el(
      "li",
      { class: "radar-entry" },
      el("span", { class: "radar-what" }, what, why ? [" ", el("span", { class: "muted small radar-why" }, why)] : null),
      addButton(item),
    );
  }
  function group(name, heading, items, empty) {
    const box = panel.querySelector(`.radar-group[data-group="${name}"]`);
    if (!box) return;
    const h3 = box.querySelector("h3");
    box.replaceChildren(h3);
    if (heading) h3.replaceChildren(...heading);
    box.append(items.length ? el("ul", { class: "radar-list" }, items) : el("p", { class: "muted small radar-empty" }, empty));
  }
  const joinWhy = (parts) => parts.filter(Boolean).join(" · ");

  function draw(radar) {
    const basis = panel.querySelector(".radar-basis");
    if (basis) {
      basis.replaceChildren(
        ...(radar.services.length
          ? ["Past incidents and near misses of ", el("strong", {}, radar.services.join(", ")),
            " you can see: ", el("span", { class: "radar-count" }, radar.incidents), "."]
          : ["Name the services the change touches to see their past incidents."]),
      );
    }
    const share = radar.change_share;
    const pct = (value) => `${Math.round(100 * value)}%`;
    group("share", null, share.total ? [entry(
      [el("strong", {}, `${share.matching} of ${share.total}`), ` (${pct(share.share)}) followed a ${share.trigger.replace(/-/g, " ")}`,
        share.overall.total ? el("span", { class: "muted" }, ` · ${pct(share.overall.share)} across all services`) : null],
      null, share)] : [], "No past incidents of these services.");
    group("themes", null, radar.themes.map((t) => entry(
      link(t.url, t.label),
      [`${t.count} incident${t.count === 1 ? "" : "s"}`,
        t.latest ? [" · latest ", link(`/postmortems/${encodeURIComponent(t.latest.ref)}`, t.latest.ref),
          t.latest.started_at ? `, ${month(t.latest.started_at)}` : ""] : null],
      t)), "No theme yet.");
    group("similar", null, radar.similar.map((s) => entry(
      link(`/postmortems/${encodeURIComponent(s.ref)}`, `${s.ref}: ${s.title}`),
      joinWhy([
        s.kind.replace(/-/g, " "),
        month(s.started_at),
        s.shared.services.length ? `services ${s.shared.services.join(", ")}` : "",
        s.shared.terms.length ? `“${s.shared.terms.slice(0, 4).join("”, “")}”` : "",
        s.shared.themes.length ? `theme ${s.shared.themes.join(", ")}` : "",
      ]),
      s)), "Nothing similar yet.");
    const actions = radar.open_actions;
    const counts = actions.total
      ? [" ", el("span", { class: "muted small" }, `(${actions.total}${actions.overdue ? `, ${actions.overdue} overdue` : ""})`)]
      : [];
    group("actions", ["Open action items", ...counts], actions.items.map((a) => entry(
      [a.overdue ? [el("span", { class: "badge overdue-badge" }, "overdue"), " "] : null, a.title],
      [a.owner ? `${a.owner} · ` : "", a.due ? `due ${a.due} · ` : "",
        link(`/postmortems/${encodeURIComponent(a.ref)}#action_items`, a.ref),
        a.services.length ? ` · ${a.services.join(", ")}` : ""],
      a)), "No open action items.");
    panel.dataset.radarState = "fresh";
    panel.removeAttribute("aria-busy");
  }

  // --- asking, debounced ----------------------------------------------------------------
  let timer = null;
  let asked = 0;
  let last = "";
  async function refresh() {
    const body = { services: services(), trigger: trigger(), text: text() };
    if (panel.dataset.radarRef) body.ref = panel.dataset.radarRef;
    const key = JSON.stringify(body);
    if (key === last) return;
    last = key;
    const mine = ++asked;
    panel.dataset.radarState = "loading";
    panel.setAttribute("aria-busy", "true");
    let response;
    try {
      response = await fetch(panel.dataset.radarUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": panel.dataset.csrf },
        body: key,
      });
    } catch (e) {
      panel.dataset.radarState = "offline";
      panel.removeAttribute("aria-busy");
      return;
    }
    if (mine !== asked) return; // a later question is on its way
    if (!response.ok) {
      panel.dataset.radarState = "error";
      panel.removeAttribute("aria-busy");
      last = "";
      return;
    }
    draw(await response.json());
  }
  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 500);
  }
  form.addEventListener("input", (event) => {
    const target = event.target;
    if (target.name === "services" || target.name === "title" || target.matches("textarea[data-markdown], [data-radar-text]")) later();
  });
  form.addEventListener("change", (event) => {
    if (event.target.name === "trigger" || event.target.name === "services") later();
  });
  // What the server drew is for what the form said when the page was made.
  last = JSON.stringify(Object.assign({ services: services(), trigger: trigger(), text: text() },
    panel.dataset.radarRef ? { ref: panel.dataset.radarRef } : {}));
})();
