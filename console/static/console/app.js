// Gatehouse console: the few behaviours plain HTML lacks. No framework; htmx does the rest.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="#selector">, the target is an input or any element.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target) return;
    var text = "value" in target ? target.value : target.textContent;
    var label = button.querySelector("[data-copy-label]") || button;
    var done = function () {
      label.textContent = "Copied";
      setTimeout(function () { label.textContent = "Copy"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      target.select && target.select();
      document.execCommand("copy");
      done();
    }
  });

  // Dropdown menus (<details class="menu">): one open at a time; close on outside click / Esc.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
    });
  });
})();

// Gates: after htmx swaps in a result, bring it into view (the "test a user" verdict).
document.addEventListener("htmx:afterSettle", function () {
  var result = document.querySelector("[data-scroll-into-view]");
  if (!result) return;
  result.removeAttribute("data-scroll-into-view");
  result.scrollIntoView({ block: "nearest", behavior: "smooth" });
});

// Gates rules editor: an operator's value hint follows the chosen operator.
document.addEventListener("change", function (event) {
  var select = event.target;
  if (!select.matches || !select.matches("select[data-placeholder-for]")) return;
  var input = document.getElementById(select.getAttribute("data-placeholder-for"));
  var option = select.options[select.selectedIndex];
  if (input && option) input.placeholder = option.getAttribute("data-placeholder") || "";
});

// Bars (allocation, approvals, impact): their width comes as data-width="<percent>", because
// the Content-Security-Policy allows no style="" attributes. Runs on load and on htmx swaps.
function applyWidths(root) {
  root.querySelectorAll("[data-width]").forEach(function (bar) {
    bar.style.width = parseFloat(bar.getAttribute("data-width")) + "%";
  });
}
document.addEventListener("DOMContentLoaded", function () { applyWidths(document); });
document.addEventListener("htmx:load", function (event) { applyWidths(event.target); });

// Read-only checkboxes (locked overrides): submitted as they are, but not changeable.
document.addEventListener("click", function (event) {
  if (event.target.matches && event.target.matches("input[type=checkbox][data-readonly]")) {
    event.preventDefault();
  }
});

// Global search (the top bar): "/" goes to the box; arrows walk the results; Escape closes.
(function () {
  "use strict";
  function box() { return document.getElementById("global-search"); }
  function hits() {
    return Array.prototype.slice.call(document.querySelectorAll("#search-popover .search-hit"));
  }
  function close() {
    var popover = document.getElementById("search-popover");
    if (popover) popover.innerHTML = "";
  }
  document.addEventListener("keydown", function (event) {
    var input = box();
    if (!input) return;
    var typing = event.target.closest && event.target.closest("input, textarea, select, [contenteditable]");
    if (event.key === "/" && !typing) {
      event.preventDefault();
      input.focus();
      input.select();
      return;
    }
    var inSearch = event.target.closest && event.target.closest(".topbar-search");
    if (!inSearch) return;
    var list = hits();
    var at = list.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && list.length) {
      event.preventDefault();
      list[Math.min(at + 1, list.length - 1)].focus();
    } else if (event.key === "ArrowUp" && list.length) {
      event.preventDefault();
      if (at <= 0) input.focus(); else list[at - 1].focus();
    } else if (event.key === "Escape") {
      close();
      input.focus();
    }
  });
  document.addEventListener("click", function (event) {
    if (!(event.target.closest && event.target.closest(".topbar-search"))) close();
  });
})();

// Save bars (<div data-savebar> in an edit form): shown only while the form differs from
// what was loaded (or from what the server last said is unchanged); a clean form does not
// submit, so Enter in a text box saves nothing either. data-dirty marks a form sent back
// with problems: it differs from the saved entity. Without script the bar always shows.
(function () {
  "use strict";

  function snapshot(form) {
    var parts = [];
    new FormData(form).forEach(function (value, key) {
      if (key === "csrfmiddlewaretoken" || typeof value !== "string") return;
      parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
    });
    return parts.join("&");
  }

  function refresh(form) {
    var bar = form.querySelector("[data-savebar]");
    if (!bar) return;
    var changed = bar.hasAttribute("data-dirty") || snapshot(form) !== form.dataset.loaded;
    var same = bar.querySelector("[data-unchanged]") !== null;
    bar.hidden = !changed || same;
  }

  function watch(root) {
    root.querySelectorAll("form").forEach(function (form) {
      if (!form.querySelector("[data-savebar]") || "loaded" in form.dataset) return;
      form.dataset.loaded = snapshot(form);
      refresh(form);
    });
  }

  function refreshAround(target) {
    var form = target && target.closest && target.closest("form");
    if (form && "loaded" in form.dataset) refresh(form);
  }

  document.addEventListener("DOMContentLoaded", function () { watch(document); });
  document.addEventListener("input", function (event) { refreshAround(event.target); });
  document.addEventListener("change", function (event) { refreshAround(event.target); });
  // Editor rows added or removed by htmx, and the server's answer about the save bar.
  document.addEventListener("htmx:afterSettle", function (event) { refreshAround(event.target); });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var bar = form.querySelector && form.querySelector("[data-savebar]");
    if (bar && "loaded" in form.dataset && bar.hidden) event.preventDefault();
  });
})();
