// Registers the service worker so the app installs and opens offline.
(function () {
  'use strict';
  if ('serviceWorker' in navigator && window.isSecureContext) {
    window.addEventListener('load', function () {
      navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(function () {
        // The app works without it; only installability and offline suffer.
      });
    });
  }
})();
