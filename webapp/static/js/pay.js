// Pay flow enhancements (the pages work without them):
// - picking a coin on the payee page asks for its quote at once;
// - the quote page counts down to expiry, then hides "Confirm" and offers a
//   new quote (the server refuses an expired quote anyway).
(function () {
  'use strict';

  var quoteForm = document.getElementById('quote-form');
  if (quoteForm) {
    var radios = quoteForm.querySelectorAll('input[name="asset"]');
    Array.prototype.forEach.call(radios, function (radio) {
      radio.addEventListener('change', function () {
        var amount = document.getElementById('amount_inr');
        if (amount && !amount.value) { amount.focus(); return; }
        if (quoteForm.reportValidity && !quoteForm.reportValidity()) return;
        if (quoteForm.requestSubmit) quoteForm.requestSubmit(); else quoteForm.submit();
      });
    });
  }

  var quote = document.getElementById('quote');
  if (quote) {
    var left = parseInt(quote.getAttribute('data-expires-in'), 10) || 0;
    var counter = document.getElementById('countdown');
    var confirmForm = document.getElementById('confirm-form');
    var live = quote.querySelector('[data-when="live"]');
    var expired = document.getElementById('expired-note');
    var deadline = Date.now() + left * 1000; // the server's seconds, our clock: no skew
    var tick = function () {
      var s = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      if (counter) counter.textContent = String(s);
      if (s <= 0) {
        if (confirmForm) confirmForm.hidden = true;
        if (live) live.hidden = true;
        if (expired) expired.hidden = false;
        return;
      }
      window.setTimeout(tick, 250);
    };
    tick();
    if (confirmForm) {
      confirmForm.addEventListener('submit', function () {
        var button = document.getElementById('confirm');
        if (button) button.disabled = true; // one tap, one payment
      });
    }
  }
})();
