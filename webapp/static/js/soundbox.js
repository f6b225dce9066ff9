// Soundbox: poll the merchant's arrivals feed and announce each payment aloud
// with the browser's speech synthesis, in English or Hindi, like a UPI payment speaker.
(function () {
  "use strict";
  var root = document.getElementById("soundbox");
  if (!root) return;
  var feed = root.getAttribute("data-feed");
  var cursor = parseInt(root.getAttribute("data-cursor") || "0", 10);
  var interval = parseInt(root.getAttribute("data-interval") || "3000", 10);
  var state = document.getElementById("soundbox-state");
  var log = document.getElementById("soundbox-log");
  var button = document.getElementById("soundbox-start");
  var timer = null;
  var seen = {};

  function lang() {
    var checked = document.querySelector('input[name="lang"]:checked');
    return checked ? checked.value : "en-IN";
  }

  // Exported for tests and for the page: the sentence spoken for an amount.
  function phrase(rupees, language) {
    return language === "hi-IN" ? "₹" + rupees + " प्राप्त हुए" : "₹" + rupees + " received";
  }
  window.soundboxPhrase = phrase;

  function speak(text, language) {
    if (!("speechSynthesis" in window)) return;
    var utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = language;
    utterance.rate = 0.95;
    window.speechSynthesis.speak(utterance);
  }

  function announce(payment) {
    if (seen[payment.payment_id]) return;
    seen[payment.payment_id] = true;
    var language = lang();
    var text = phrase(payment.rupees, language);
    speak(text, language);
    var item = document.createElement("li");
    item.textContent = text + " · " + new Date(payment.at).toLocaleTimeString();
    log.insertBefore(item, log.firstChild);
  }

  function poll() {
    fetch(feed + "?after=" + cursor, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        (body.payments || []).forEach(announce);
        if (typeof body.cursor === "number") cursor = body.cursor;
        state.textContent = "Listening… last checked " + new Date().toLocaleTimeString();
      })
      .catch(function (err) {
        state.textContent = "Reconnecting (" + err.message + ")…";
      });
  }

  button.addEventListener("click", function () {
    if (timer) {
      clearInterval(timer);
      timer = null;
      button.textContent = "Start announcing";
      state.textContent = "Stopped.";
      return;
    }
    // Browsers allow speech only after a user gesture: say a short greeting now.
    speak(lang() === "hi-IN" ? "साउंडबॉक्स चालू" : "Soundbox on", lang());
    button.textContent = "Stop";
    poll();
    timer = setInterval(poll, interval);
  });
})();
