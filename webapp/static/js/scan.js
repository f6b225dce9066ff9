// Scan & pay: decode a QR from the camera or a photo with jsQR, or take a
// pasted link, and submit it to the server, which parses and shows the payee.
// jsQR (npm) is the decoder because BarcodeDetector is missing in many
// browsers (headless Chromium on Linux among them).
(function () {
  'use strict';

  var MAX_SIDE = 1024; // decode at most this many pixels per side: fast enough on phones
  var SCAN_EVERY_MS = 150;

  var form = document.getElementById('code-form');
  var field = document.getElementById('code');
  var video = document.getElementById('camera');
  var startButton = document.getElementById('start-camera');
  var statusLine = document.getElementById('scan-status');
  var photo = document.getElementById('photo');
  var canvas = document.createElement('canvas');
  var context = canvas.getContext('2d', { willReadFrequently: true });
  var stream = null;

  function say(text) {
    if (statusLine) statusLine.textContent = text;
  }

  function submitCode(text) {
    stopCamera();
    field.value = text;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  function decodeFrom(source, width, height) {
    if (typeof window.jsQR !== 'function' || !width || !height) return null;
    var scale = Math.min(1, MAX_SIDE / Math.max(width, height));
    var w = Math.max(1, Math.round(width * scale));
    var h = Math.max(1, Math.round(height * scale));
    canvas.width = w;
    canvas.height = h;
    context.drawImage(source, 0, 0, w, h);
    var pixels = context.getImageData(0, 0, w, h);
    var found = window.jsQR(pixels.data, w, h, { inversionAttempts: 'attemptBoth' });
    return found && found.data ? found.data : null;
  }

  function scanFrame() {
    if (!stream) return;
    if (video.readyState >= 2) {
      var text = decodeFrom(video, video.videoWidth, video.videoHeight);
      if (text) {
        say('QR code found.');
        submitCode(text);
        return;
      }
    }
    window.setTimeout(scanFrame, SCAN_EVERY_MS);
  }

  function stopCamera() {
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
  }

  function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say('No camera access here: upload a photo or paste the link.');
      return;
    }
    say('Opening the camera…');
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: 'environment' }, audio: false })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        video.hidden = false;
        startButton.hidden = true;
        return video.play();
      })
      .then(function () {
        say('Point the camera at the QR code.');
        scanFrame();
      })
      .catch(function (err) {
        stopCamera();
        say('Camera unavailable (' + (err && err.name ? err.name : 'error') + '): upload a photo or paste the link.');
      });
  }

  function decodePhoto(file) {
    var url = URL.createObjectURL(file);
    var image = new Image();
    image.onload = function () {
      var text = decodeFrom(image, image.naturalWidth, image.naturalHeight);
      URL.revokeObjectURL(url);
      if (text) submitCode(text); else say('No QR code found in that photo. Try a closer, sharper picture.');
    };
    image.onerror = function () {
      URL.revokeObjectURL(url);
      say('That file is not an image we can read.');
    };
    image.src = url;
  }

  if (startButton && video) startButton.addEventListener('click', startCamera);
  if (photo) {
    photo.addEventListener('change', function () {
      if (photo.files && photo.files[0]) decodePhoto(photo.files[0]);
    });
  }
  window.addEventListener('pagehide', stopCamera);
})();
