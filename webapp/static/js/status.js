// Live payment status: poll the API until the vendor is paid or the payment
// ends, updating the status line, the timeline and the receipt's UTR.
(function () {
  'use strict';

  var box = document.getElementById('payment');
  if (!box) return;
  var api = box.getAttribute('data-api');
  var labels = {};
  try { labels = JSON.parse(box.getAttribute('data-labels') || '{}'); } catch (e) { labels = {}; }
  var FINAL = ['completed', 'failed', 'refunded', 'held_for_review', 'expired'];
  var EVERY_MS = 1500;
  var statusLine = document.getElementById('status');
  var timeline = document.getElementById('timeline');
  var utr = document.getElementById('utr');
  var payoutStatus = document.getElementById('payout-status');

  function label(status) { return labels[status] || status; }

  function render(p) {
    if (p.vendor_paid) {
      var text = (labels.vendor_paid || 'Vendor paid ₹{amount}').replace('{amount}', p.amount_inr);
      if (p.payout && p.payout.utr) {
        text += ' (' + (labels.utr || 'UTR {utr}').replace('{utr}', p.payout.utr) + ')';
      }
      statusLine.textContent = text;
      statusLine.classList.add('paid');
    } else {
      statusLine.textContent = label(p.status);
    }
    if (timeline && p.timeline) {
      while (timeline.firstChild) timeline.removeChild(timeline.firstChild);
      p.timeline.forEach(function (step) {
        var li = document.createElement('li');
        li.setAttribute('data-status', step.status);
        var span = document.createElement('span');
        span.textContent = label(step.status);
        var time = document.createElement('time');
        time.setAttribute('datetime', step.at);
        time.textContent = ' ' + new Date(step.at).toLocaleTimeString();
        li.appendChild(span);
        li.appendChild(time);
        timeline.appendChild(li);
      });
    }
    if (utr) utr.textContent = (p.payout && p.payout.utr) || '—';
    if (payoutStatus && p.payout) payoutStatus.textContent = p.payout.status;
  }

  function done(p) {
    return FINAL.indexOf(p.status) !== -1 || (p.vendor_paid && p.payout && p.payout.utr);
  }

  function poll() {
    fetch(api, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (p) render(p);
        if (!p || !done(p)) window.setTimeout(poll, EVERY_MS);
      })
      .catch(function () { window.setTimeout(poll, EVERY_MS * 2); });
  }

  if (box.getAttribute('data-vendor-paid') !== 'true') poll();
})();
