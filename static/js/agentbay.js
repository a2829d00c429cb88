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
})();
