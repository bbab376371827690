// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Quick exit: the link (/leave) ends the session on the server and goes to an everyday
  // site, without JavaScript too; with it, the page is replaced (so the back button does
  // not return here) and Escape pressed three times leaves too.
  var exit = document.getElementById("quick-exit");
  if (exit) {
    var leave = function (event) {
      if (event) { event.preventDefault(); }
      window.location.replace(exit.href);
    };
    exit.addEventListener("click", leave);
    var presses = 0;
    var timer = null;
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") { return; }
      presses += 1;
      clearTimeout(timer);
      timer = setTimeout(function () { presses = 0; }, 1500);
      if (presses >= 3) { leave(); }
    });
  }

  // Password strength: says in words what makes the new password stronger. The server
  // makes the real check (length and the list of breached passwords) when it is sent.
  var WEAK = /^(?:password|qwerty|letmein|welcome|iloveyou|monkey|dragon|123456|abc123)/i;
  function advice(value) {
    var words = value.trim().split(/\s+/).filter(Boolean).length;
    var kinds = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9\s]/].filter(function (re) {
      return re.test(value);
    }).length;
    if (value.length === 0) { return ""; }
    if (value.length < 10) {
      return "Too short: " + value.length + " of at least 10 characters.";
    }
    if (WEAK.test(value) || /^(.)\1+$/.test(value)) {
      return "Weak: this starts like a very common password. Try three or four unrelated words.";
    }
    if (value.length >= 16 || words >= 3) {
      return "Strong: long passwords and several unrelated words are hard to guess.";
    }
    if (kinds >= 3) {
      return "Fair: adding more words or characters would make it stronger.";
    }
    return "Fair: a longer password, or three or four unrelated words, would be stronger.";
  }
  var fields = document.querySelectorAll("input[autocomplete='new-password'][name='password']");
  Array.prototype.forEach.call(fields, function (field) {
    var meter = document.createElement("p");
    meter.className = "hint";
    meter.id = field.id + "-strength";
    meter.setAttribute("aria-live", "polite");
    field.parentNode.appendChild(meter);
    var described = field.getAttribute("aria-describedby");
    field.setAttribute("aria-describedby", (described ? described + " " : "") + meter.id);
    field.addEventListener("input", function () { meter.textContent = advice(field.value); });
  });
})();

// An error summary takes the focus when the page loads, as on GOV.UK services, so a
// screen reader or keyboard user starts at the list of what to put right.
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
})();

// The warning before the idle limit (GOV.UK's timeout warning). The server ends a session
// idle for too long; the page says so two minutes before, and "Stay signed in" starts the
// server's idle time again. When time is up, the page first asks the letter autosave to
// save (relay:before-timeout, answered by relay:saved), then ends the session and shows
// the sign-in page, which says the person was signed out and takes them back here.
(function () {
  "use strict";
  var body = document.body;
  var dialog = document.getElementById("timeout-warning");
  if (!dialog || !body.hasAttribute("data-idle-left")) { return; }
  var WARN_SECONDS = 120;
  // Time up comes this long before the server's limit: the autosave needs a live session.
  var SAVE_SECONDS = 15;
  var SAVE_WAIT_MS = 1000;
  var idleLimit = Number(body.getAttribute("data-idle-limit"));
  var absoluteEnd = Date.now() + Number(body.getAttribute("data-absolute-left")) * 1000;
  var form = dialog.querySelector("form");
  var warnTimer = null;
  var endTimer = null;
  var ending = false;

  function schedule(serverSeconds) {
    var left = Math.min(serverSeconds * 1000, absoluteEnd - Date.now()) - SAVE_SECONDS * 1000;
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    warnTimer = setTimeout(warn, Math.max(0, left - WARN_SECONDS * 1000));
    endTimer = setTimeout(timeUp, Math.max(0, left));
  }

  function warn() {
    if (ending || dialog.open) { return; }
    dialog.showModal();
    form.querySelector("button").focus();
  }

  function signedOut() {
    window.location.replace(body.getAttribute("data-signed-out-url"));
  }

  function post(url) {
    return fetch(url, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      redirect: "manual"
    });
  }

  function stay(event) {
    if (event) { event.preventDefault(); }
    post(form.getAttribute("action")).then(function (response) {
      if (response.status !== 204) { signedOut(); return; }
      if (dialog.open) { dialog.close(); }
      schedule(idleLimit);
    }, signedOut);
  }

  function timeUp() {
    if (ending) { return; }
    ending = true;
    if (dialog.open) { dialog.close(); }
    var gone = false;
    var leave = function () {
      if (gone) { return; }
      gone = true;
      post(body.getAttribute("data-time-out-url")).then(signedOut, signedOut);
    };
    document.addEventListener("relay:saved", leave);
    setTimeout(leave, SAVE_WAIT_MS);
    document.dispatchEvent(new CustomEvent("relay:before-timeout"));
  }

  form.addEventListener("submit", stay);
  // Escape closes a modal dialog: here it means "stay", as on GOV.UK services. (Escape
  // pressed three times still leaves the site: that listener is on the document.)
  dialog.addEventListener("cancel", stay);
  // A save by the autosave is a request: the server's idle time started again at most
  // 30 seconds before it (signing_in.resume_session moves it every 30 seconds).
  document.addEventListener("relay:saved", function () {
    if (!ending) { schedule(idleLimit - 30); }
  });
  schedule(Number(body.getAttribute("data-idle-left")));
})();
