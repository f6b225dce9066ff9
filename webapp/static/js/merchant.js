// Merchant dashboard helpers: copy-to-clipboard and print buttons (no inline script, CSP-ready).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLElement)) return;
    if (target.hasAttribute("data-copy") && navigator.clipboard) {
      navigator.clipboard.writeText(target.getAttribute("data-copy") || "").then(function () {
        target.textContent = "Copied";
      });
    }
    if (target.hasAttribute("data-print")) window.print();
  });
})();
