/* Requester portal: upload progress, focus and announcements around htmx swaps.
 *
 * Every form works without this file (plain multipart POST, redirect or the page with
 * its errors). With htmx loaded, forms marked data-upload-form are sent by XHR and this
 * script shows the upload's progress (htmx re-emits the XHR's upload progress events as
 * htmx:xhr:progress). No inline handlers anywhere: the page's CSP forbids them.
 */
(function () {
  "use strict";

  function announce(text) {
    var region = document.getElementById("live-status");
    if (!region || !text) { return; }
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  function focusFirstError(root) {
    var summary = (root || document).querySelector("[data-error-summary]");
    if (summary) {
      var details = summary.closest("details");
      if (details) { details.open = true; }
      summary.focus();
      return true;
    }
    return false;
  }

  function hasFiles(form) {
    var inputs = form.querySelectorAll("input[type=file]");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].files && inputs[i].files.length) { return true; }
    }
    return false;
  }

  function progressOf(form) {
    var box = form.querySelector("[data-upload-progress]");
    if (!box) { return null; }
    return { box: box, bar: box.querySelector("progress"), text: box.querySelector("[data-upload-percent]") };
  }

  function setProgress(progress, percent) {
    var value = Math.max(Number(progress.bar.value) || 0, Math.min(100, Math.round(percent)));
    progress.bar.value = value;
    progress.bar.textContent = value + " %";
    progress.text.textContent = value + " %";
  }

  function uploadForm(event) {
    var form = event.detail && event.detail.elt;
    return form && form.matches && form.matches("form[data-upload-form]") ? form : null;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = uploadForm(event);
    if (!form) { return; }
    form.setAttribute("aria-busy", "true");
    var progress = progressOf(form);
    if (progress && hasFiles(form)) {
      progress.bar.value = 0;
      setProgress(progress, 0);
      progress.box.hidden = false;
      form.dataset.uploading = "true";
      announce(progress.box.querySelector("label").textContent);
    }
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = uploadForm(event);
    if (!form || form.dataset.uploading !== "true") { return; }
    var progress = progressOf(form);
    if (progress && event.detail.lengthComputable && event.detail.total > 0) {
      setProgress(progress, (event.detail.loaded / event.detail.total) * 100);
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = uploadForm(event);
    if (!form) { return; }
    form.removeAttribute("aria-busy");
    var progress = progressOf(form);
    if (progress && form.dataset.uploading === "true" && event.detail.successful) {
      setProgress(progress, 100);
    }
    delete form.dataset.uploading;
  });

  function requestFailed(event) {
    var form = uploadForm(event);
    if (!form) { return; }
    form.removeAttribute("aria-busy");
    var progress = progressOf(form);
    if (progress) { progress.box.hidden = true; }
    var message = form.getAttribute("data-failed-message");
    var slot = form.querySelector("[data-request-error]");
    if (slot && message) {
      slot.textContent = message;
      slot.hidden = false;
      slot.focus();
    }
    announce(message);
  }

  document.addEventListener("htmx:responseError", requestFailed);
  document.addEventListener("htmx:sendError", requestFailed);

  document.addEventListener("htmx:afterSettle", function (event) {
    var root = event.detail && event.detail.elt;
    if (!root || !root.querySelector) { return; }
    if (focusFirstError(root)) { return; }
    var notice = root.querySelector("[data-announce]");
    if (notice) {
      announce(notice.textContent.trim());
      var field = root.querySelector("form[data-upload-form] textarea");
      if (field) { field.focus(); }
    }
  });

  function ready() { focusFirstError(document); }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
}());
