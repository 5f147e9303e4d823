/* The agent desk's progressive enhancements (static/tickets/agent.js).
 *
 * Everything here is optional: every page works without it (plain links and forms).
 * No inline handlers anywhere: listeners are attached here, so the CSP needs no
 * 'unsafe-inline'. Parts:
 *   - keyboard shortcuts (j/k/Enter/x on the queue, / search, c comment, ? help dialog)
 *   - queue: "select all", focus kept and results announced across htmx refreshes
 *   - board: drag and drop and the per-card "Move to" forms post transitions the
 *     server checks; a refused card returns to where it was and the refusal is
 *     announced in the board's aria-live region.
 */
(function () {
  "use strict";

  var doc = document;

  function $(selector, root) { return (root || doc).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || doc).querySelectorAll(selector)); }

  function csrfToken() {
    var input = $("input[name=csrfmiddlewaretoken]");
    if (input) { return input.value; }
    var match = doc.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function announce(region, message, isError) {
    if (!region) { return; }
    region.classList.toggle("is-error", Boolean(isError));
    region.classList.toggle("is-ok", !isError && Boolean(message));
    region.textContent = "";
    // A fresh text node after a tick, so screen readers announce a repeated message too.
    window.setTimeout(function () { region.textContent = message || ""; }, 50);
  }

  function isTyping(event) {
    var el = event.target;
    if (!el || !el.tagName) { return false; }
    var tag = el.tagName.toLowerCase();
    if (el.isContentEditable || tag === "textarea" || tag === "select") { return true; }
    if (tag === "input") {
      var type = (el.getAttribute("type") || "text").toLowerCase();
      return ["checkbox", "radio", "button", "submit", "reset"].indexOf(type) === -1;
    }
    return false;
  }

  /* --- Shortcuts dialog -------------------------------------------------------------- */

  var dialog = $("#shortcuts-dialog");

  function openShortcuts() {
    if (dialog && typeof dialog.showModal === "function" && !dialog.open) { dialog.showModal(); }
  }

  $all("[data-open-shortcuts]").forEach(function (button) {
    if (!dialog || typeof dialog.showModal !== "function") { return; }
    button.hidden = false;
    button.addEventListener("click", openShortcuts);
  });

  /* --- Queue: rows, selection, htmx ------------------------------------------------- */

  function rows() { return $all("[data-queue-table] tbody tr[data-row]"); }

  function currentIndex(list) {
    for (var i = 0; i < list.length; i += 1) {
      if (list[i].classList.contains("is-current")) { return i; }
    }
    return -1;
  }

  function moveCurrent(step) {
    var list = rows();
    if (!list.length) { return; }
    var index = currentIndex(list);
    var next = index === -1 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, index + step));
    list.forEach(function (row) { row.classList.remove("is-current"); row.removeAttribute("aria-current"); });
    var row = list[next];
    row.classList.add("is-current");
    row.setAttribute("aria-current", "true");
    var link = $(".row-link", row);
    if (link) { link.focus(); }
    if (row.scrollIntoView) { row.scrollIntoView({ block: "nearest" }); }
  }

  function currentRow() {
    var list = rows();
    var index = currentIndex(list);
    return index === -1 ? null : list[index];
  }

  doc.addEventListener("change", function (event) {
    // Selecting a ticket opens the bulk actions.
    if (!event.target.matches || !event.target.matches("[data-queue-table] input[type=checkbox]")) { return; }
    var bulk = $("[data-bulk]");
    if (bulk && event.target.checked) { bulk.open = true; }
  });

  doc.addEventListener("keydown", function (event) {
    // Enter in a text field of the bulk actions runs that field's own action (the form's
    // first button, "Assign selected", would otherwise be the one submitted).
    if (event.key !== "Enter" || !event.target.matches || !event.target.matches("[data-bulk] .bulk-group input")) { return; }
    var button = $("button[type=submit]", event.target.closest(".bulk-group"));
    if (!button) { return; }
    event.preventDefault();
    button.click();
  });

  doc.addEventListener("focusin", function (event) {
    // Tabbing into a row makes it the current one, so j/k continue from there.
    var row = event.target.closest && event.target.closest("tr[data-row]");
    if (!row) { return; }
    rows().forEach(function (r) { r.classList.toggle("is-current", r === row); if (r !== row) { r.removeAttribute("aria-current"); } });
    row.setAttribute("aria-current", "true");
  });

  /* --- Page load: narrow screens, error summaries ------------------------------------- */

  if (window.matchMedia && window.matchMedia("(max-width: 900px)").matches) {
    // On a phone the side panels start closed, unless a filter is in use.
    var active = /[?&](q|status|priority|sla|team|assignee|category|tag)=[^&]/.test(window.location.search);
    $all("details[data-collapse-narrow]").forEach(function (details) {
      if (!active || !details.querySelector("#queue-filters, [name=q]")) { details.open = false; }
    });
  }
  var summary = $("[data-error-summary]");
  if (summary) { summary.focus(); }

  function wireSelectAll(root) {
    $all("[data-select-all]", root).forEach(function (box) {
      box.hidden = false;
      box.addEventListener("change", function () {
        $all("[data-queue-table] tbody input[name=ticket]").forEach(function (item) { item.checked = box.checked; });
      });
    });
  }
  wireSelectAll(doc);

  var focusKey = null;
  var focusWasInResults = false;
  doc.body.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "queue-results") { return; }
    var active = doc.activeElement;
    focusWasInResults = Boolean(active && target.contains(active));
    focusKey = active && active.getAttribute ? active.getAttribute("data-focus-key") : null;
  });
  doc.body.addEventListener("htmx:afterSettle", function (event) {
    var results = $("#queue-results");
    if (!results || !event.detail || !event.detail.target || event.detail.target.id !== "queue-results") { return; }
    wireSelectAll(results);
    var report = $("#bulk-report", results);
    if (report) {
      report.focus();
    } else if (focusWasInResults && focusKey) {
      var again = $('[data-focus-key="' + focusKey + '"]', results);
      if (again) { again.focus(); }
    } else if (focusWasInResults) {
      var first = $(".row-link", results);
      if (first) { first.focus(); }
    }
    var message = results.getAttribute("data-count-message") || "";
    announce($("#live-status"), message, false);
    focusKey = null;
    focusWasInResults = false;
  });

  /* --- Keys -------------------------------------------------------------------------- */

  doc.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || isTyping(event)) { return; }
    if (dialog && dialog.open) { return; }  // the dialog handles Esc itself
    var key = event.key;
    if (key === "?") {
      event.preventDefault();
      openShortcuts();
    } else if (key === "j" || key === "k") {
      if (!rows().length) { return; }
      event.preventDefault();
      moveCurrent(key === "j" ? 1 : -1);
    } else if (key === "Enter") {
      var row = currentRow();
      if (row && (doc.activeElement === doc.body || doc.activeElement === row)) {
        var link = $(".row-link", row);
        if (link) { event.preventDefault(); link.click(); }
      }
    } else if (key === "x") {
      var selected = currentRow();
      var box = selected && $("input[name=ticket]", selected);
      if (box) {
        event.preventDefault();
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      }
    } else if (key === "/") {
      var search = $('[data-shortcut-focus="/"]');
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (key === "c") {
      var composer = $("[data-composer] textarea");
      if (composer) { event.preventDefault(); composer.focus(); }
    }
  });

  /* --- Ticket page: fields edited in place --------------------------------------------
   * Each editable field has an Edit button (a GET form: without JavaScript it reloads the
   * page with the editor open) whose htmx request puts the editor into the field's slot.
   * Here: focus goes into the editor when it opens; Enter saves (also from a select),
   * Escape or Cancel closes it and focus returns to the Edit button; after a save (the
   * server swaps the values, badges, SLA panel and timeline out of band) focus returns
   * to the Edit button and the result is announced; after a refusal focus goes to the
   * field in error. */

  function editButton(key) { return doc.getElementById("edit-" + key + "-button"); }

  function focusEditor(form) {
    var target = $("[aria-invalid=true]", form) || $(".edit-errors", form) ||
      $("input:not([type=hidden]), select, textarea", form);
    if (!target) { return; }
    target.focus();
    if (target.select && target.tagName === "INPUT" && !target.hasAttribute("aria-invalid")) { target.select(); }
  }

  function closeEditor(form) {
    var key = form.getAttribute("data-edit-form");
    var slot = form.parentNode;
    slot.removeChild(form);
    var button = editButton(key);
    if (button) { button.focus(); }
  }

  doc.addEventListener("click", function (event) {
    var cancel = event.target.closest && event.target.closest("[data-edit-cancel]");
    var form = cancel && cancel.closest("[data-edit-form]");
    if (!form || !form.parentNode || !form.parentNode.classList.contains("editable-slot")) { return; }
    event.preventDefault();
    closeEditor(form);
  });

  doc.addEventListener("keydown", function (event) {
    var form = event.target.closest && event.target.closest("[data-edit-form]");
    if (!form || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape" && form.parentNode && form.parentNode.classList.contains("editable-slot")) {
      event.preventDefault();
      closeEditor(form);
    } else if (event.key === "Enter" && event.target.tagName === "SELECT") {
      // A text field submits on Enter by itself; a select does not.
      event.preventDefault();
      if (typeof form.requestSubmit === "function") { form.requestSubmit(); } else { form.submit(); }
    }
  });

  doc.body.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || !target.classList || !target.classList.contains("editable-slot")) { return; }
    var form = $("[data-edit-form]", target);
    if (form) { focusEditor(form); }
  });

  doc.body.addEventListener("desk:edit-saved", function (event) {
    var detail = event.detail || {};
    var button = editButton(detail.field);
    if (button) { button.focus(); }
    announce($("#live-status"), detail.message || "", false);
  });

  doc.body.addEventListener("desk:edit-refused", function (event) {
    var detail = event.detail || {};
    var form = doc.getElementById("edit-" + detail.field + "-form");
    if (form) { focusEditor(form); }
    announce($("#live-status"), detail.message || "", true);
  });

  // Without JavaScript an editor arrives with the page (?edit=...): once the script runs,
  // focus goes into it, as it would have after an Edit click.
  var openEditor = $(".editable-slot [data-edit-form]");
  if (openEditor && !summary) { focusEditor(openEditor); }

  /* --- Board ------------------------------------------------------------------------- */

  var board = $("[data-board]");
  if (!board) { return; }
  var moveUrl = board.getAttribute("data-move-url");
  var boardStatus = $("#board-status");
  var moveDialog = $("#move-dialog");
  var dragged = null;
  var origin = null;

  function columnOf(status) { return $('.board-column[data-status="' + status + '"]', board); }

  function refreshCounts() {
    $all(".board-column", board).forEach(function (column) {
      var count = $(".count", column);
      if (!count) { return; }
      var more = /\+$/.test(count.textContent.trim());
      count.textContent = String($all("[data-card]", column).length) + (more ? "+" : "");
    });
  }

  function rememberPlace(card) { return { parent: card.parentNode, next: card.nextSibling }; }

  function putBack(card, place) {
    if (place && place.parent) { place.parent.insertBefore(card, place.next && place.next.parentNode === place.parent ? place.next : null); }
    refreshCounts();
  }

  function updateMoveForm(card, status) {
    // The "Move to" list of the card now offers the targets of its new column.
    var select = $("select[name=to]", card);
    var column = columnOf(status);
    if (!select || !column) { return; }
    var targets = (column.getAttribute("data-targets") || "").split(" ").filter(Boolean);
    var labels = {};
    $all(".board-column", board).forEach(function (col) { labels[col.getAttribute("data-status")] = col.getAttribute("data-label"); });
    var chosen = select.value;
    select.innerHTML = "";
    targets.forEach(function (value) {
      var option = doc.createElement("option");
      option.value = value;
      option.textContent = labels[value] || value;
      option.selected = value === chosen;
      select.appendChild(option);
    });
    var form = $("[data-move-form]", card);
    if (form) { form.hidden = targets.length === 0; }
  }

  function askForMore(card, to, place, needs, message, focusAfter) {
    if (!moveDialog || typeof moveDialog.showModal !== "function") {
      putBack(card, place);
      announce(boardStatus, message, true);
      return;
    }
    $all("[data-need]", moveDialog).forEach(function (field) {
      var wanted = needs.indexOf(field.getAttribute("data-need")) !== -1;
      field.hidden = !wanted;
      var control = $("input, select, textarea", field);
      if (control) { control.required = wanted; control.disabled = !wanted; }
    });
    $("[data-move-dialog-message]", moveDialog).textContent = message;
    moveDialog.returnValue = "";
    var onClose = function () {
      moveDialog.removeEventListener("close", onClose);
      if (moveDialog.returnValue === "confirm") {
        var extra = {};
        $all("[data-need]:not([hidden]) [name]", moveDialog).forEach(function (control) { extra[control.name] = control.value; });
        send(card, to, place, extra, focusAfter);
      } else {
        putBack(card, place);
        announce(boardStatus, board.getAttribute("data-cancelled-message") || "", true);
        if (focusAfter) { focusAfter.focus(); }
      }
    };
    moveDialog.addEventListener("close", onClose);
    moveDialog.showModal();
  }

  function send(card, to, place, extra, focusAfter) {
    var number = card.getAttribute("data-number");
    var body = new FormData();
    body.append("number", number);
    body.append("to", to);
    Object.keys(extra || {}).forEach(function (name) { body.append(name, extra[name]); });
    card.setAttribute("aria-busy", "true");
    fetch(moveUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() },
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) { return { response: response, data: data }; });
    }).then(function (result) {
      card.removeAttribute("aria-busy");
      var data = result.data || {};
      if (result.response.ok && data.ok) {
        card.setAttribute("data-status", data.status || to);
        updateMoveForm(card, data.status || to);
        refreshCounts();
        announce(boardStatus, data.message, false);
        if (focusAfter) { ($("select[name=to]", card) || $("a", card)).focus(); }
      } else if (data.needs && data.needs.length) {
        askForMore(card, to, place, data.needs, data.message || "", focusAfter);
      } else {
        putBack(card, place);
        announce(boardStatus, data.message || board.getAttribute("data-failed-message") || "", true);
        if (focusAfter) { focusAfter.focus(); }
      }
    }).catch(function () {
      card.removeAttribute("aria-busy");
      putBack(card, place);
      announce(boardStatus, board.getAttribute("data-failed-message") || "", true);
    });
  }

  function moveCard(card, to, focusAfter) {
    var from = card.getAttribute("data-status");
    var column = columnOf(to);
    if (!column || from === to) { return; }
    var place = rememberPlace(card);
    var list = $("[data-dropzone]", column);
    list.insertBefore(card, list.firstChild);  // optimistic: the server may still refuse
    refreshCounts();
    if (focusAfter) { focusAfter.focus(); }
    send(card, to, place, {}, focusAfter);
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest("[data-card]");
    if (!card) { return; }
    dragged = card;
    origin = card.getAttribute("data-status");
    card.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-number"));
  });
  board.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("is-dragging"); }
    $all(".is-over", board).forEach(function (zone) { zone.classList.remove("is-over"); });
    dragged = null;
  });
  board.addEventListener("dragover", function (event) {
    var column = event.target.closest && event.target.closest(".board-column");
    if (!column || !dragged) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    $all(".is-over", board).forEach(function (zone) { if (zone !== column) { zone.classList.remove("is-over"); } });
    column.classList.add("is-over");
  });
  board.addEventListener("drop", function (event) {
    var column = event.target.closest && event.target.closest(".board-column");
    if (!column || !dragged) { return; }
    event.preventDefault();
    column.classList.remove("is-over");
    var card = dragged;
    dragged = null;
    card.classList.remove("is-dragging");
    if (column.getAttribute("data-status") !== origin) { moveCard(card, column.getAttribute("data-status"), null); }
  });

  board.addEventListener("submit", function (event) {
    var form = event.target.closest && event.target.closest("[data-move-form]");
    if (!form) { return; }
    event.preventDefault();
    var card = form.closest("[data-card]");
    var select = $("select[name=to]", form);
    moveCard(card, select.value, select);
  });
}());
