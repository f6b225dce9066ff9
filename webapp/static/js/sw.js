// Service worker: the app shell is cached; pages and the API go to the
// network first. Served at /sw.js (scope "/"). Bump VERSION when the shell
// changes; old caches are dropped on activate. Sign-out sends
// Clear-Site-Data, which empties these caches on that device.
'use strict';

// Push and notification-click handlers live beside the payer flow.
importScripts('/static/js/sw-push.js');

var VERSION = 'tfw-shell-v2';
var SHELL = [
  '/offline',
  '/manifest.webmanifest',
  '/static/app.css',
  '/static/css/pay.css',
  '/static/js/app.js',
  '/static/js/scan.js',
  '/static/js/pay.js',
  '/static/js/status.js',
  '/static/js/push.js',
  '/static/icons/icon.svg',
  '/vendor/jsqr.js'
];

self.addEventListener('install', function (event) {
  event.waitUntil(
    caches.open(VERSION).then(function (cache) { return cache.addAll(SHELL); })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener('activate', function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (k) { return k !== VERSION; })
        .map(function (k) { return caches.delete(k); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function offlineJson() {
  var body = JSON.stringify({ error: { code: 'offline', message: 'No network connection.' } });
  return new Response(body, { status: 503, headers: { 'Content-Type': 'application/json' } });
}

self.addEventListener('fetch', function (event) {
  var request = event.request;
  if (request.method !== 'GET') return; // payments and forms always go to the server
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (url.pathname.indexOf('/api/') === 0) {
    // Network first: balances and statuses must be live; never cached.
    event.respondWith(fetch(request).catch(offlineJson));
    return;
  }
  if (request.mode === 'navigate') {
    // Pages are per user: network first, the offline page when there is none.
    event.respondWith(fetch(request).catch(function () { return caches.match('/offline'); }));
    return;
  }
  if (SHELL.indexOf(url.pathname) !== -1) {
    // Shell assets: cache first, refreshed in the background.
    event.respondWith(
      caches.open(VERSION).then(function (cache) {
        return cache.match(request).then(function (hit) {
          var refresh = fetch(request).then(function (response) {
            if (response.ok) cache.put(request, response.clone());
            return response;
          });
          return hit || refresh;
        });
      })
    );
  }
});
