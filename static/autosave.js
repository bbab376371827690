// Saves a letter as it is written, so nothing typed is lost to a closed tab or a timeout.
// Progressive enhancement only: without JavaScript, "Save draft" does the same.
// The server answers {saved_at, action} (docs/architecture.md, "Drafts"): `action` is the
// draft's own address, which every later save (and the buttons) then uses.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave]");
  if (!form || !window.fetch || !window.FormData) { return; }
  var text = form.querySelector("textarea[name='text']");
  var status = document.getElementById("save-status");
  var DELAY_MS = 3000;
  var lastSaved = text.value;
  var timer = null;
  var inFlight = null;

  function say(message) { status.textContent = message; }

  function timeOf(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function save() {
    clearTimeout(timer);
    if (inFlight) { return inFlight; }
    var typed = text.value;
    if (typed === lastSaved) { return Promise.resolve(); }
    var body = new FormData(form);
    body.append("autosave", "1");
    inFlight = fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
      redirect: "manual"
    }).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      if (!json) {
        say("Not saved: you may have been signed out. Sign in again to carry on; " +
            "copy what you wrote somewhere safe first.");
        return;
      }
      return response.json().then(function (answer) {
        if (!response.ok) { say("Not saved: " + answer.error); return; }
        lastSaved = typed;
        if (answer.saved_at === null) { return; }
        if (answer.action && answer.action !== form.getAttribute("action")) {
          form.setAttribute("action", answer.action);
          // A reload (or Back) now finds the draft rather than an empty page.
          window.history.replaceState(null, "", answer.action);
        }
        say("Saved at " + timeOf(answer.saved_at));
      });
    }).catch(function () {
      say("Not saved: the connection was lost. Your letter is still here; try again soon.");
    }).then(function () {
      inFlight = null;
      if (text.value !== lastSaved) { timer = setTimeout(save, DELAY_MS); }
    });
    return inFlight;
  }

  if (!form.getAttribute("action")) { form.setAttribute("action", window.location.pathname); }
  text.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(save, DELAY_MS);
  });
  text.addEventListener("blur", save);
  // A button pressed while a save is on its way waits for it: the save may have just made
  // the draft, and the button must then change that draft, not make a second one.
  form.addEventListener("submit", function (event) {
    clearTimeout(timer);
    if (!inFlight) { return; }
    event.preventDefault();
    var submitter = event.submitter;
    inFlight.then(function () { form.requestSubmit(submitter); });
  });
  // Before a timeout signs the person out (relay.js), the draft is saved first.
  document.addEventListener("relay:before-timeout", function () {
    save().then(function () { document.dispatchEvent(new CustomEvent("relay:saved")); });
  });
})();
