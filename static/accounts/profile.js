// The profile page: offer the time zone this device is set to, when it is one of the
// options and not the zone the person already sees times in. No inline script (CSP).
(function () {
  "use strict";
  function ready() {
    var form = document.querySelector("[data-profile-zone]");
    if (!form || !window.Intl || !Intl.DateTimeFormat) return;
    var device = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var select = form.querySelector("select[name=time_zone]");
    var offer = form.querySelector("[data-device-zone]");
    if (!device || !select || !offer) return;
    var option = Array.prototype.find.call(select.options, function (o) { return o.value === device; });
    if (!option || device === form.getAttribute("data-shown-zone")) return;
    offer.querySelector("[data-device-zone-name]").textContent = "(" + device + ")";
    offer.hidden = false;
    offer.querySelector("[data-use-device-zone]").addEventListener("click", function () {
      select.value = device;
      select.focus();
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
