// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Quick exit: the link works without JavaScript; with it, the page is replaced
  // (so the back button does not return here) and Escape pressed three times leaves too.
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
