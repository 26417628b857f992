/* Survey question: synchronised zoom/pan over all candidates, choose by mouse or keyboard.
   Without JavaScript every candidate is a plain submit button, so the page still works. */
(function () {
  "use strict";
  var form = document.getElementById("survey-answer-form");
  if (!form) { return; }
  var started = performance.now();
  var chosenInput = document.getElementById("survey-chosen");
  var timeInput = document.getElementById("survey-time-taken");
  var submitButton = document.getElementById("survey-submit");
  var zoomLabel = document.getElementById("survey-zoom-level");
  var candidates = Array.prototype.slice.call(form.querySelectorAll("button.candidate"));
  var images = Array.prototype.slice.call(document.querySelectorAll("#survey-layout .viewport img"));
  var view = { scale: 1, x: 0, y: 0 };  // translation in fractions of the viewport
  var MIN_SCALE = 1, MAX_SCALE = 16;
  document.body.classList.add("survey-js");

  function clampView() {
    view.scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, view.scale));
    var limit = (view.scale - 1) / 2;
    view.x = Math.min(limit, Math.max(-limit, view.x));
    view.y = Math.min(limit, Math.max(-limit, view.y));
  }
  function applyView() {
    clampView();
    var transform = "translate(" + (view.x * 100) + "%," + (view.y * 100) + "%) scale(" + view.scale + ")";
    images.forEach(function (img) { img.style.transform = transform; });
    zoomLabel.textContent = (Math.round(view.scale * 10) / 10) + "×";
    form.dataset.zoom = String(view.scale);
  }
  // Zoom by `factor` keeping the point (fx, fy) of the viewport (fractions, 0 = centre) fixed.
  function zoomAt(factor, fx, fy) {
    var old = view.scale;
    view.scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, old * factor));
    var ratio = view.scale / old;
    view.x = fx - (fx - view.x) * ratio;
    view.y = fy - (fy - view.y) * ratio;
    applyView();
  }
  function resetView() { view.scale = 1; view.x = 0; view.y = 0; applyView(); }

  function select(button) {
    candidates.forEach(function (other) {
      var on = other === button;
      other.classList.toggle("selected", on);
      other.setAttribute("aria-checked", on ? "true" : "false");
    });
    chosenInput.value = button.dataset.candidate;
    submitButton.disabled = false;
    form.dataset.selected = button.dataset.position;
  }
  function submitChoice() {
    if (!chosenInput.value) { return; }
    timeInput.value = String(Math.round(performance.now() - started));
    submitButton.disabled = true;
    form.submit();
  }

  // Dragging pans; a click that did not move selects.
  var drag = null, dragged = false;
  document.querySelectorAll("#survey-layout .viewport").forEach(function (viewport) {
    viewport.addEventListener("wheel", function (event) {
      event.preventDefault();
      var box = viewport.getBoundingClientRect();
      var fx = (event.clientX - box.left) / box.width - 0.5;
      var fy = (event.clientY - box.top) / box.height - 0.5;
      zoomAt(event.deltaY < 0 ? 1.25 : 0.8, fx, fy);
    }, { passive: false });
    viewport.addEventListener("pointerdown", function (event) {
      var box = viewport.getBoundingClientRect();
      drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y, w: box.width, h: box.height };
      dragged = false;
    });
  });
  window.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) { dragged = true; }
    if (dragged) {
      view.x = drag.vx + dx / drag.w;
      view.y = drag.vy + dy / drag.h;
      applyView();
    }
  });
  window.addEventListener("pointerup", function () { drag = null; });

  candidates.forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (dragged) { dragged = false; return; }
      select(button);
    });
    button.addEventListener("dblclick", function (event) {
      event.preventDefault();
      select(button);
      submitChoice();
    });
  });
  submitButton.addEventListener("click", function (event) { event.preventDefault(); submitChoice(); });
  form.addEventListener("submit", function () {
    timeInput.value = String(Math.round(performance.now() - started));
  });
  document.getElementById("survey-zoom-in").addEventListener("click", function () { zoomAt(1.25, 0, 0); });
  document.getElementById("survey-zoom-out").addEventListener("click", function () { zoomAt(0.8, 0, 0); });
  document.getElementById("survey-zoom-reset").addEventListener("click", resetView);

  function columns() {
    if (candidates.length < 2) { return 1; }
    var top = candidates[0].offsetTop, count = 0;
    candidates.forEach(function (c) { if (c.offsetTop === top) { count += 1; } });
    return Math.max(1, count);
  }
  function focusIndex(index) {
    if (!candidates.length) { return; }
    index = Math.max(0, Math.min(candidates.length - 1, index));
    candidates[index].focus();
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) { return; }
    var current = candidates.indexOf(document.activeElement);
    var key = event.key;
    if (event.shiftKey && key.indexOf("Arrow") === 0) {
      var step = 0.1 / view.scale;
      if (key === "ArrowLeft") { view.x += step; } else if (key === "ArrowRight") { view.x -= step; }
      else if (key === "ArrowUp") { view.y += step; } else { view.y -= step; }
      applyView();
      event.preventDefault();
      return;
    }
    if (/^[1-9]$/.test(key)) { focusIndex(Number(key) - 1); event.preventDefault(); return; }
    if (key === "ArrowRight") { focusIndex(current < 0 ? 0 : current + 1); event.preventDefault(); return; }
    if (key === "ArrowLeft") { focusIndex(current < 0 ? 0 : current - 1); event.preventDefault(); return; }
    if (key === "ArrowDown") { focusIndex(current < 0 ? 0 : current + columns()); event.preventDefault(); return; }
    if (key === "ArrowUp") { focusIndex(current < 0 ? 0 : current - columns()); event.preventDefault(); return; }
    if (key === "+" || key === "=") { zoomAt(1.25, 0, 0); event.preventDefault(); return; }
    if (key === "-" || key === "_") { zoomAt(0.8, 0, 0); event.preventDefault(); return; }
    if (key === "0") { resetView(); event.preventDefault(); return; }
    if ((key === "Enter" || key === " ") && current >= 0) {
      event.preventDefault();
      var button = candidates[current];
      if (key === "Enter" && chosenInput.value === button.dataset.candidate) { submitChoice(); }
      else { select(button); }
    }
  });
  applyView();
  var selected = candidates.filter(function (c) { return c.dataset.candidate === chosenInput.value; })[0];
  if (selected || candidates.length) { (selected || candidates[0]).focus({ preventScroll: true }); }
})();
