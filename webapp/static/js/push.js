// Web Push sign-up: ask permission, subscribe with our VAPID key, and store
// the subscription on the server (CSRF token from the page's meta tag).
(function () {
  'use strict';

  var box = document.getElementById('push');
  var button = document.getElementById('enable-push');
  var statusLine = document.getElementById('push-status');
  if (!box || !button) return;
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !window.isSecureContext) {
    statusLine.textContent = 'Notifications are not available in this browser.';
    return;
  }
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';

  function keyBytes(base64url) {
    var padded = base64url.replace(/-/g, '+').replace(/_/g, '/');
    padded += '='.repeat((4 - (padded.length % 4)) % 4);
    var raw = atob(padded);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function subscribe() {
    button.disabled = true;
    Promise.all([
      fetch(box.getAttribute('data-key-url'), { credentials: 'same-origin' }).then(function (r) { return r.json(); }),
      navigator.serviceWorker.ready
    ]).then(function (both) {
      return both[1].pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(both[0].public_key)
      });
    }).then(function (subscription) {
      return fetch(box.getAttribute('data-subscribe-url'), {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify(subscription)
      });
    }).then(function (r) {
      statusLine.textContent = r.ok ? 'Notifications are on for this phone.' : 'Could not turn notifications on.';
    }).catch(function () {
      statusLine.textContent = 'Notifications were not allowed.';
      button.disabled = false;
    });
  }

  button.hidden = false;
  button.addEventListener('click', subscribe);
})();
