/* Drafts of half-written forms, kept in this browser (static/core/drafts.js).
 *
 * A form opts in with data-draft="<name>" (e.g. "desk:comment:42"); the page names its
 * signed-in person on <body data-draft-owner="<tenant schema>:<user id>">. What the form
 * holds is saved in localStorage under "warden:draft:<owner>:<name>" (text fields, and
 * the choices that go with them: selects, radios, checkboxes; never files, passwords or
 * hidden fields) half a second after the last keystroke and when the page is left, with
 * the time it was saved. A draft older than seven days is dropped.
 *
 * Restore: when the form comes on the page (load, or an htmx swap) with all its text
 * fields empty, the draft fills it in and a notice (role="status", the words come from
 * the <template id="draft-notice"> of base.html, in the page's language) says so, with
 * a button to discard it. A form that already holds text (the page the server sent back
 * with errors) is left alone and goes on being saved.
 *
 * Clear, only when the server took the form:
 *   - htmx posts (the portal forms): when the answer is a 2xx (a 422 with errors, a lost
 *     connection or a 5xx keep the draft);
 *   - plain posts (the desk forms, the portal without htmx): Warden answers a form it
 *     accepted with a redirect and a success message (Post/Redirect/Get). On submit the
 *     draft is marked "pending" in sessionStorage (this tab only); the next page this tab
 *     loads settles it: the draft is removed if that page was reached through a redirect
 *     from the page the form was on and shows a success message for the same person;
 *     otherwise the mark is dropped and the draft kept (errors re-rendered with 400/422,
 *     the sign-in page after an expired session, an error page, a page opened later by
 *     hand; the browser's own page for a lost connection runs nothing, so the next page
 *     of ours decides, and it is no redirect). Nothing on the server changes for this.
 *
 * Another person on the same computer: sign-out (a form with data-drafts-clear) removes
 * every draft of the browser for this site, and other open tabs of the person stop
 * saving; a page of someone else removes the drafts of everyone but them. A page
 * without a signed-in person (the sign-in page) removes nothing, so a person whose
 * session ran out finds their draft again after signing in.
 */
(function () {
  "use strict";

  var PREFIX = "warden:draft:";
  var PENDING = "warden:draft-pending";
  var SIGNED_OUT = "warden:signed-out";
  var MAX_AGE = 7 * 24 * 60 * 60 * 1000;
  var PENDING_MAX_AGE = 10 * 60 * 1000;
  var SAVE_DELAY = 500;
  var NOT_KEPT = /^(hidden|password|file|submit|button|reset|image)$/;

  function storage(name) {
    try {
      var store = window[name];
      store.setItem(PREFIX + "probe", "1");
      store.removeItem(PREFIX + "probe");
      return store;
    } catch (error) {
      return null; // storage disabled or full: forms work as before, without drafts
    }
  }

  var local = storage("localStorage");
  if (!local) { return; }
  var session = storage("sessionStorage") || local;

  var owner = document.body.getAttribute("data-draft-owner") || "";
  var timers = {};    // storage key -> {form, id}: saves waiting for typing to pause
  var inflight = {};  // storage key -> true while an htmx post of that form runs
  var stopped = false;  // this person signed out in another tab
  var quiet = false;    // our own change events (a restore) are not edits

  /* --- Storage ----------------------------------------------------------------------- */

  function keyOf(form) {
    var name = form.getAttribute("data-draft");
    return owner && name ? PREFIX + owner + ":" + name : "";
  }

  function draftKeys() {
    var keys = [];
    for (var i = 0; i < local.length; i++) {
      var key = local.key(i);
      if (key && key.indexOf(PREFIX) === 0) { keys.push(key); }
    }
    return keys;
  }

  function read(key) {
    try {
      var draft = JSON.parse(local.getItem(key));
      return draft && typeof draft.saved === "number" && draft.fields ? draft : null;
    } catch (error) {
      return null;
    }
  }

  function cancelSave(key) {
    if (timers[key]) {
      window.clearTimeout(timers[key].id);
      delete timers[key];
    }
  }

  function remove(key) {
    cancelSave(key);
    local.removeItem(key);
  }

  function clearAll() {
    Object.keys(timers).forEach(cancelSave);
    draftKeys().forEach(remove);
    session.removeItem(PENDING);
  }

  /* Expired drafts go; on a signed-in page so do the drafts of anyone else. */
  function prune() {
    var now = Date.now();
    draftKeys().forEach(function (key) {
      var draft = read(key);
      if (!draft || now - draft.saved > MAX_AGE || (owner && draft.owner !== owner)) { local.removeItem(key); }
    });
  }

  /* --- Fields ------------------------------------------------------------------------ */

  function kept(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "csrfmiddlewaretoken" && !el.disabled && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) &&
        !NOT_KEPT.test(el.type) && !el.hasAttribute("data-draft-skip");
    });
  }

  function isChoice(el) { return el.type === "checkbox" || el.type === "radio"; }
  function isText(el) { return el.tagName !== "SELECT" && !isChoice(el); }

  /* {name: [values]}: a text field's value, the checked boxes, the selected options. */
  function collect(form) {
    var fields = {};
    var text = false;
    kept(form).forEach(function (el) {
      var values = fields[el.name] || (fields[el.name] = []);
      if (isText(el)) {
        values.push(el.value);
        text = text || el.value.trim() !== "";
      } else if (isChoice(el)) {
        if (el.checked) { values.push(el.value); }
      } else {
        Array.prototype.forEach.call(el.selectedOptions, function (option) { values.push(option.value); });
      }
    });
    return { fields: fields, text: text };
  }

  function hasText(form) {
    return kept(form).some(function (el) { return isText(el) && el.value.trim() !== ""; });
  }

  /* Put the draft's values in; returns the elements it changed. */
  function fill(form, fields) {
    var changed = [];
    var seen = {};
    kept(form).forEach(function (el) {
      var values = fields[el.name];
      if (!values) { return; }
      if (isText(el)) {
        var index = seen[el.name] = (seen[el.name] || 0) + 1;
        var value = values[index - 1];
        if (typeof value === "string" && value !== el.value) { el.value = value; changed.push(el); }
      } else if (isChoice(el)) {
        var checked = values.indexOf(el.value) !== -1;
        if (checked !== el.checked) { el.checked = checked; changed.push(el); }
      } else {
        var options = Array.prototype.slice.call(el.options);
        var known = options.some(function (option) { return values.indexOf(option.value) !== -1; });
        if (!known) { return; } // an option that is gone (a category removed): keep the default
        var before = el.value;
        options.forEach(function (option) { option.selected = values.indexOf(option.value) !== -1; });
        if (el.value !== before) { changed.push(el); }
      }
    });
    return changed;
  }

  function unfill(elements) {
    elements.forEach(function (el) {
      if (isText(el)) {
        el.value = el.defaultValue;
      } else if (isChoice(el)) {
        el.checked = el.defaultChecked;
      } else {
        Array.prototype.forEach.call(el.options, function (option) { option.selected = option.defaultSelected; });
        if (!el.multiple && el.selectedIndex === -1) { el.selectedIndex = 0; }
      }
    });
    changedChoices(elements);
  }

  /* Let what depends on a choice follow it (the due-time previews listen to change);
   * text fields get no event, so the @mention list does not open. */
  function changedChoices(elements) {
    quiet = true;
    try {
      elements.forEach(function (el) {
        if (!isText(el)) { el.dispatchEvent(new Event("change", { bubbles: true })); }
      });
    } finally {
      quiet = false;
    }
  }

  /* --- Saving ------------------------------------------------------------------------ */

  function save(form) {
    var key = keyOf(form);
    if (!key || stopped || !form.isConnected) { return; }
    var state = collect(form);
    if (!state.text) { local.removeItem(key); return; }
    try {
      local.setItem(key, JSON.stringify({ owner: owner, saved: Date.now(), fields: state.fields }));
    } catch (error) {
      // Storage full: the form still works; this draft is just not kept.
    }
  }

  function saveSoon(form) {
    var key = keyOf(form);
    if (!key || stopped) { return; }
    cancelSave(key);
    timers[key] = { form: form, id: window.setTimeout(function () { delete timers[key]; save(form); }, SAVE_DELAY) };
  }

  function saveNow() {
    Object.keys(timers).forEach(function (key) {
      var form = timers[key].form;
      cancelSave(key);
      save(form);
    });
  }

  function draftForm(target) {
    return target && target.closest ? target.closest("form[data-draft]") : null;
  }

  function edited(event) {
    var form = draftForm(event.target);
    if (form && !quiet && event.target.form === form) { saveSoon(form); }
  }

  document.addEventListener("input", edited);
  document.addEventListener("change", edited);
  window.addEventListener("pagehide", saveNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { saveNow(); }
  });

  /* --- Restoring --------------------------------------------------------------------- */

  function ago(saved) {
    var seconds = Math.round((saved - Date.now()) / 1000);
    var lang = document.documentElement.lang || undefined;
    if (!window.Intl || !Intl.RelativeTimeFormat) { return new Date(saved).toLocaleString(lang); }
    var format = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
    var units = [["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(seconds) >= units[i][1]) { return format.format(Math.round(seconds / units[i][1]), units[i][0]); }
    }
    // Under a minute: "5 seconds ago" ("numeric: auto" would say "now", which reads oddly here).
    return new Intl.RelativeTimeFormat(lang).format(Math.min(-1, seconds), "second");
  }

  function showNotice(form, draft, changed) {
    var template = document.getElementById("draft-notice");
    if (!template) { return; }
    var notice = template.content.firstElementChild.cloneNode(true);
    var when = notice.querySelector("[data-draft-saved]");
    if (when) {
      when.dateTime = new Date(draft.saved).toISOString();
      when.title = new Date(draft.saved).toLocaleString(document.documentElement.lang || undefined);
      when.textContent = ago(draft.saved);
    }
    var discarded = notice.querySelector("[data-draft-discarded]");
    var discardedText = discarded ? discarded.textContent.trim() : "";
    if (discarded) { discarded.remove(); }
    notice.querySelector("[data-draft-discard]").addEventListener("click", function () {
      remove(keyOf(form));
      unfill(changed);
      notice.textContent = discardedText;
      var first = changed.filter(isText)[0] || kept(form)[0];
      if (first) { first.focus(); }
    });
    // The status region goes in empty and is filled a moment later, so that screen readers
    // announce it (a live region that arrives with its text is often not read).
    var parts = Array.prototype.slice.call(notice.childNodes);
    parts.forEach(function (part) { notice.removeChild(part); });
    form.insertBefore(notice, form.firstChild);
    window.setTimeout(function () { parts.forEach(function (part) { notice.appendChild(part); }); }, 50);
  }

  function restore(form) {
    if (form.hasAttribute("data-draft-ready")) { return; }
    form.setAttribute("data-draft-ready", "");
    var key = keyOf(form);
    if (!key || inflight[key] || hasText(form)) { return; }
    var draft = read(key);
    if (!draft || draft.owner !== owner) { return; }
    var changed = fill(form, draft.fields);
    if (!changed.length) { return; }
    changedChoices(changed);
    showNotice(form, draft, changed);
  }

  function restoreIn(root) {
    if (!root || !root.querySelectorAll) { return; }
    if (root.matches && root.matches("form[data-draft]")) { restore(root); }
    Array.prototype.forEach.call(root.querySelectorAll("form[data-draft]"), restore);
  }

  document.addEventListener("htmx:load", function (event) { restoreIn(event.detail && event.detail.elt); });

  /* --- Submitting and clearing ------------------------------------------------------- */

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute && form.hasAttribute("data-drafts-clear")) {
      // Sign-out: nothing of this person stays in the browser; their other tabs stop saving.
      clearAll();
      try {
        local.setItem(SIGNED_OUT, owner);
        local.removeItem(SIGNED_OUT);
      } catch (error) {
        // Storage full: the drafts are gone all the same; other tabs just keep saving.
      }
      return;
    }
    if (!form.matches || !form.matches("form[data-draft]")) { return; }
    var key = keyOf(form);
    if (!key) { return; }
    cancelSave(key);
    save(form);
    // htmx sends its forms itself (and cancelled this event): settled by the htmx events below.
    if (!event.defaultPrevented) {
      try {
        session.setItem(PENDING, JSON.stringify({ key: key, at: Date.now(), page: location.pathname + location.search }));
      } catch (error) {
        // Not marked: the draft outlives the post and can be discarded from its notice.
      }
    }
  });

  window.addEventListener("storage", function (event) {
    if (event.key === SIGNED_OUT && event.newValue && event.newValue === owner) {
      stopped = true;
      Object.keys(timers).forEach(cancelSave);
    }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var detail = event.detail || {};
    var form = detail.elt;
    var verb = detail.requestConfig && detail.requestConfig.verb;
    if (!form || !form.matches || !form.matches("form[data-draft]") || verb !== "post" || !detail.xhr) { return; }
    var key = keyOf(form);
    if (!key) { return; }
    detail.xhr.wardenDraft = key;
    inflight[key] = true;
  });

  // Fired on the form, or on an ancestor when the answer swapped the form out (hence the
  // key rides on the request), after the swap. htmx:load of the swapped-in form comes
  // after the settle delay today; should it ever come first, the in-flight mark keeps the
  // fresh empty form from being refilled with what was just sent.
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var key = xhr && xhr.wardenDraft;
    if (!key) { return; }
    delete inflight[key];
    if (xhr.status >= 200 && xhr.status < 300) { remove(key); }
  });

  /* Where this page was reached from (path and query), or null when the browser does not say. */
  function referrer() {
    if (!document.referrer) { return null; }
    try {
      var url = new URL(document.referrer);
      return url.origin === location.origin ? url.pathname + url.search : "";
    } catch (error) {
      return "";
    }
  }

  /* The first page this tab loads after a plain submit says whether it was taken: reached
   * through a redirect (a 200 or 4xx page is not), from the page the form was sent from
   * (the referrer survives the redirect), showing a success message, signed in as the
   * draft's owner. Anything else keeps the draft. */
  function settlePending() {
    var raw = session.getItem(PENDING);
    if (!raw) { return; }
    session.removeItem(PENDING);
    var pending;
    try { pending = JSON.parse(raw); } catch (error) { return; }
    if (!pending || typeof pending.key !== "string" || !owner || pending.key.indexOf(PREFIX + owner + ":") !== 0) { return; }
    if (Date.now() - pending.at > PENDING_MAX_AGE) { return; }
    var from = referrer();
    if (from !== null && from !== pending.page) { return; }
    var navigation = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    var redirected = Boolean(navigation && navigation.type === "navigate" && navigation.redirectCount > 0);
    if (redirected && document.querySelector(".messages li.success")) { remove(pending.key); }
  }

  settlePending();
  prune();
  restoreIn(document.body);
}());
