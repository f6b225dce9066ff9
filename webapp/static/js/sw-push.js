// Web Push handlers for the service worker (loaded by sw.js with importScripts):
// show the payment or deposit notice, and open its page when tapped.
'use strict';

self.addEventListener('push', function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { body: event.data && event.data.text() }; }
  event.waitUntil(self.registration.showNotification(data.title || 'TaskForce Wallet', {
    body: data.body || '',
    icon: '/static/icons/icon.svg',
    data: { url: data.url || '/wallet' }
  }));
});

self.addEventListener('notificationclick', function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || '/wallet';
  if (url.charAt(0) !== '/') url = '/wallet'; // only our own pages
  event.waitUntil(self.clients.openWindow(url));
});
