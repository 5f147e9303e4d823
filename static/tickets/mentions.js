/* @mentions in the desk's comment composer (static/tickets/mentions.js).
 *
 * Typing "@" and a few letters in the comment box offers the people the comment may
 * mention (GET data-mentions-url?q=...&internal=0|1: agents and admins, and the requester
 * on a public reply). ArrowDown/ArrowUp choose, Enter or Tab insert "@handle ", Escape
 * closes; a click inserts too. The list is an ARIA listbox tied to the textarea
 * (combobox pattern). Without JavaScript, "@name" typed by hand works the same.
 */
(function () {
  "use strict";

  var form = document.querySelector("form[data-mentions-url]");
  if (!form) { return; }
  var box = form.querySelector("textarea[name=body]");
  if (!box) { return; }
  var url = form.getAttribute("data-mentions-url");
  var TOKEN = /(^|[^\w.@])@([\w.%+\-@]{0,60})$/;

  var list = document.createElement("ul");
  list.id = "mention-suggestions";
  list.className = "mention-suggestions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", box.getAttribute("data-mentions-label") || "People");
  list.hidden = true;
  box.parentNode.insertBefore(list, box.nextSibling);
  box.setAttribute("role", "combobox");
  box.setAttribute("aria-autocomplete", "list");
  box.setAttribute("aria-controls", list.id);
  box.setAttribute("aria-expanded", "false");

  var people = [];
  var active = -1;
  var pending = null;
  var asked = "";

  function internal() {
    var checked = form.querySelector("input[name=visibility]:checked");
    return checked && checked.value === "internal" ? "1" : "0";
  }

  function typedToken() {
    var before = box.value.slice(0, box.selectionStart);
    var match = TOKEN.exec(before);
    return match ? { text: match[2], start: before.length - match[2].length - 1 } : null;
  }

  function close() {
    list.hidden = true;
    list.textContent = "";
    people = [];
    active = -1;
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    var options = list.querySelectorAll("[role=option]");
    for (var i = 0; i < options.length; i++) {
      options[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    active = index;
    if (index >= 0 && options[index]) {
      box.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    } else {
      box.removeAttribute("aria-activedescendant");
    }
  }

  function show(found) {
    people = found;
    list.textContent = "";
    if (!found.length) { close(); return; }
    found.forEach(function (person, index) {
      var option = document.createElement("li");
      option.id = "mention-option-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = person.name;
      var email = document.createElement("span");
      email.className = "email";
      email.textContent = person.email;
      option.appendChild(name);
      option.appendChild(email);
      option.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep the focus in the textarea
        insert(person);
      });
      list.appendChild(option);
    });
    list.hidden = false;
    box.setAttribute("aria-expanded", "true");
    highlight(0);
  }

  function insert(person) {
    var token = typedToken();
    if (!token) { close(); return; }
    var end = box.selectionStart;
    var text = "@" + person.handle + " ";
    box.value = box.value.slice(0, token.start) + text + box.value.slice(end);
    var caret = token.start + text.length;
    box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", { bubbles: true }));
    close();
    box.focus();
  }

  function ask() {
    var token = typedToken();
    if (!token) { close(); return; }
    var key = token.text + "|" + internal();
    if (key === asked && !list.hidden) { return; }
    asked = key;
    window.clearTimeout(pending);
    pending = window.setTimeout(function () {
      var query = url + "?q=" + encodeURIComponent(token.text) + "&internal=" + internal();
      fetch(query, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { people: [] }; })
        .then(function (data) {
          if (asked === key) { show(data.people || []); }
        })
        .catch(close);
    }, 120);
  }

  box.addEventListener("input", ask);
  box.addEventListener("click", ask);
  box.addEventListener("blur", function () { window.setTimeout(close, 150); });
  box.addEventListener("keydown", function (event) {
    if (list.hidden || !people.length) { return; }
    if (event.key === "ArrowDown") {
      event.preventDefault();
      highlight((active + 1) % people.length);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      highlight((active - 1 + people.length) % people.length);
    } else if ((event.key === "Enter" || event.key === "Tab") && active >= 0) {
      event.preventDefault();
      event.stopPropagation();
      insert(people[active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  });
  form.addEventListener("change", function (event) {
    if (event.target && event.target.name === "visibility") { asked = ""; close(); }
  });
})();
