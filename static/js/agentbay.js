// Agentbay's own script: a few small enhancements. Every page works without it.
// It is a static file, like htmx, so the Content-Security-Policy allows scripts from 'self'
// only: no inline <script>, no on*= attributes, no hx-on (htmx would eval it).
(function () {
  "use strict";

  const PHONE = window.matchMedia("(max-width: 40rem)");

  // Chat: Enter sends the message, Shift+Enter adds a line.
  document.addEventListener("keydown", function (event) {
    const box = event.target;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || box.tagName !== "TEXTAREA") return;
    const form = box.closest("form[data-enter-submits]");
    if (!form) return;
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button && !button.disabled && box.value.trim()) form.requestSubmit(button);
  });

  // Chat: when the turn in progress ends (the polled run card says so), sending opens again.
  document.addEventListener("run-finished", function () {
    const note = document.getElementById("busy-note");
    if (note) note.remove();
    const send = document.querySelector("#send[data-enable-when-idle]");
    if (send) send.disabled = false;
  });

  // Forms marked data-busy (log in, sign up): once submitted, the button says so and a
  // second press does nothing until the next page arrives.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.matches("form[data-busy]")) return;
    if (form.getAttribute("aria-busy") === "true") {
      event.preventDefault();
      return;
    }
    if (event.defaultPrevented) return;
    const button = event.submitter || form.querySelector("button[type=submit]");
    form.setAttribute("aria-busy", "true");
    if (!button) return;
    button.dataset.idleLabel = button.textContent;
    if (button.dataset.busyLabel) button.textContent = button.dataset.busyLabel;
    // Disabled after the browser has collected the form data, which skips disabled buttons.
    window.setTimeout(function () { button.disabled = true; }, 0);
  });
  // Back to a page kept in the back/forward cache: its form is idle again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    for (const form of document.querySelectorAll("form[data-busy][aria-busy=true]")) {
      form.removeAttribute("aria-busy");
      for (const button of form.querySelectorAll("button[data-idle-label]")) {
        button.textContent = button.dataset.idleLabel;
        button.disabled = false;
      }
    }
  });

  // On phones, lists marked data-close-on-phones (the chat's conversations) start closed,
  // so what the page is for (the message box) is on the first screen.
  function closeOnPhones(root) {
    if (!PHONE.matches || !root.querySelectorAll) return;
    for (const details of root.querySelectorAll("details[data-close-on-phones]")) details.open = false;
  }
  closeOnPhones(document);  // deferred: the document is parsed
  document.addEventListener("htmx:load", function (event) { closeOnPhones(event.detail.elt); });

  // Live run cards. A card still in flight (data-run-events) follows its run's event stream
  // (GET /api/v1/runs/{id}/events, server-sent events) and re-fetches itself (its hx-get)
  // when a step is stored or the status changes, instead of polling every second. One
  // EventSource per run, kept across the card's swaps; the browser reconnects it with
  // Last-Event-ID when the server ends a stream (each lives about a minute). While a stream
  // is not open (refused, dropped, a proxy that buffers), the card's 1 s poll runs as before.
  const runStreams = new Map();  // card id -> {source, open}
  const refreshDue = new Set();  // card ids with a re-fetch scheduled
  let streamRefresh = null;  // the card whose stream-driven request is being issued

  function refreshCard(id) {
    // Events come in bursts (a replay, a step and a status together): one re-fetch each.
    if (refreshDue.has(id)) return;
    refreshDue.add(id);
    window.setTimeout(function () {
      refreshDue.delete(id);
      const card = document.getElementById(id);
      if (!card || !window.htmx || !card.getAttribute("hx-get")) return;
      streamRefresh = card;
      try {
        window.htmx.ajax("GET", card.getAttribute("hx-get"), { source: card, target: card, swap: "outerHTML" });
      } finally {
        streamRefresh = null;
      }
    }, 100);
  }

  function followRuns(root) {
    if (!window.EventSource || !root.querySelectorAll) return;
    const cards = Array.from(root.querySelectorAll("[data-run-events]"));
    if (root.matches && root.matches("[data-run-events]")) cards.push(root);
    for (const card of cards) {
      if (runStreams.has(card.id)) continue;
      const id = card.id;
      const source = new EventSource(card.dataset.runEvents);
      const stream = { source: source, open: false };
      runStreams.set(id, stream);
      source.onopen = function () { stream.open = true; };
      source.addEventListener("step", function () { refreshCard(id); });
      source.addEventListener("status", function () { refreshCard(id); });
      source.addEventListener("end", function () {
        source.close();
        runStreams.delete(id);
        refreshCard(id);
      });
      // Polling covers the gap while the browser reconnects; a refused stream (the browser
      // gives up: CLOSED) stays in the map, so the card keeps polling and never retries it.
      source.onerror = function () { stream.open = false; };
    }
  }
  followRuns(document);
  document.addEventListener("htmx:load", function (event) { followRuns(event.detail.elt); });

  // While its stream is open, a card's own poll is skipped; its stream's re-fetches go ahead.
  document.addEventListener("htmx:confirm", function (event) {
    const card = event.detail.elt;
    if (!card || card === streamRefresh || !card.matches || !card.matches("[data-run-events]")) return;
    const stream = runStreams.get(card.id);
    if (stream && stream.open) event.preventDefault();
  });

  // Auction countdowns: every [data-ends-at] (an ISO 8601 end time) says how long is left,
  // once a second, without a reload. The polled status (htmx) replaces the element when the
  // end moves (soft close) or the auction settles; each tick reads the attribute afresh.
  function timeLeft(ms) {
    const total = Math.floor(ms / 1000);
    const days = Math.floor(total / 86400);
    const hours = Math.floor((total % 86400) / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const seconds = total % 60;
    const parts = [];
    if (days) parts.push(days + "d");
    if (days || hours) parts.push(hours + "h");
    if (days || hours || minutes) parts.push(minutes + "m");
    parts.push(seconds + "s");
    return parts.join(" ") + " left";
  }
  function tickCountdowns() {
    const now = Date.now();
    for (const el of document.querySelectorAll("[data-ends-at]")) {
      const end = Date.parse(el.dataset.endsAt);
      if (Number.isNaN(end)) continue;
      el.textContent = end > now ? timeLeft(end - now) : el.dataset.endedText || "ended, settling…";
    }
  }
  if (document.querySelector("[data-ends-at]")) tickCountdowns();
  window.setInterval(tickCountdowns, 1000);

  // Formsets (a competition's tasks): "Add task" appends a copy of the <template> row,
  // numbered, and counts it in the management form's TOTAL_FORMS. Without this script the
  // button stays hidden and the form's blank rows serve.
  for (const button of document.querySelectorAll("button[data-add-form]")) {
    const list = document.getElementById(button.dataset.addForm);
    const template = document.getElementById(button.dataset.template);
    const prefix = list && list.dataset.formsetPrefix;
    const total = prefix && document.getElementById("id_" + prefix + "-TOTAL_FORMS");
    if (!template || !total) continue;
    const max = Number(button.dataset.max) || Infinity;
    button.hidden = false;
    button.disabled = Number(total.value) >= max;
    button.addEventListener("click", function () {
      const index = Number(total.value);
      if (index >= max) return;
      list.insertAdjacentHTML("beforeend", template.innerHTML
        .replace(/__prefix__/g, String(index)).replace(/__number__/g, String(index + 1)));
      total.value = String(index + 1);
      button.disabled = index + 1 >= max;
      const field = list.lastElementChild.querySelector("textarea, input, select");
      if (field) field.focus();
    });
  }
})();
