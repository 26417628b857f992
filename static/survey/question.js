/* Survey question: synchronised zoom/pan over all candidates, choose by mouse or keyboard,
   a few large candidates at a time (rounds, winners going on). Without JavaScript every
   candidate is a plain submit button, so the page still works. */
(function () {
  "use strict";
  var form = document.getElementById("survey-answer-form");
  if (!form) { return; }
  var started = performance.now();
  var chosenInput = document.getElementById("survey-chosen");
  var timeInput = document.getElementById("survey-time-taken");
  var submitButton = document.getElementById("survey-submit");
  var zoomLabel = document.getElementById("survey-zoom-level");
  var allCandidates = Array.prototype.slice.call(form.querySelectorAll("button.candidate"));
  // the candidates of the current round (all of them when there are no rounds)
  var candidates = allCandidates.slice();
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
    allCandidates.forEach(function (other) {
      var on = other === button;
      other.classList.toggle("selected", on);
      other.setAttribute("aria-checked", on ? "true" : "false");
    });
    chosenInput.value = button.dataset.candidate;
    submitButton.disabled = false;
    form.dataset.selected = button.dataset.position;
  }
  // --- Rounds: a microscopist compares a few large candidates at a time. The candidates
  // (already in the server's blinded order) are dealt into groups of 4-6; the best of each
  // group goes on to the next round, until one is left. Only that final choice is posted,
  // so the recorded answer (one candidate, hence one k) is what the training needs.
  var ROUND_MAX = 6;
  var roundBox = document.getElementById("survey-round");
  var restartButton = document.getElementById("survey-restart");
  var rounds = null;  // {number, groups: [[button]], group, winners: [button]}

  function deal(pool) {
    var count = Math.ceil(pool.length / ROUND_MAX);
    var groups = [], start = 0;
    for (var i = 0; i < count; i += 1) {
      var size = Math.floor(pool.length / count) + (i < pool.length % count ? 1 : 0);
      groups.push(pool.slice(start, start + size));
      start += size;
    }
    return groups;
  }
  function showGroup() {
    var group = rounds.groups[rounds.group];
    candidates = group.slice();
    allCandidates.forEach(function (button) {
      var index = group.indexOf(button);
      button.hidden = index < 0;
      button.querySelector(".caption").textContent = index < 0 ? "" : String(index + 1);
      button.setAttribute("aria-label", "Candidate " + (index + 1) + " of " + group.length);
    });
    var last = rounds.groups.length === 1;
    form.dataset.round = String(rounds.number);
    form.dataset.group = String(rounds.group + 1);
    form.dataset.groups = String(rounds.groups.length);
    form.dataset.shown = String(group.length);
    document.getElementById("survey-candidates").dataset.count = String(group.length);
    roundBox.textContent = last
      ? (rounds.number === 1 ? "Choose the best of these " + group.length + "."
        : "Final: choose the best of the " + group.length + " you kept.")
      : "Round " + rounds.number + ", group " + (rounds.group + 1) + " of " + rounds.groups.length
        + ": keep the best of these " + group.length + "; it goes on to the next round.";
    submitButton.textContent = last ? "Submit my choice" : "Keep this one and go on";
    var previous = group.filter(function (b) { return b.dataset.candidate === chosenInput.value; })[0];
    allCandidates.forEach(function (b) { b.classList.remove("selected"); b.setAttribute("aria-checked", "false"); });
    if (previous) { select(previous); } else { submitButton.disabled = true; }
    if (restartButton) { restartButton.hidden = rounds.number === 1 && rounds.group === 0; }
    (previous || group[0]).focus({ preventScroll: true });
  }
  function startRounds() {
    if (allCandidates.length <= ROUND_MAX) { rounds = null; return; }
    rounds = { number: 1, groups: deal(allCandidates), group: 0, winners: [] };
    chosenInput.value = initialChoice;
    showGroup();
  }
  function advance() {
    var winner = candidates.filter(function (b) { return b.dataset.candidate === chosenInput.value; })[0];
    if (!winner) { return false; }
    rounds.winners.push(winner);
    rounds.group += 1;
    if (rounds.group >= rounds.groups.length) {
      rounds = { number: rounds.number + 1, groups: deal(rounds.winners), group: 0, winners: [] };
    }
    chosenInput.value = initialChoice;
    showGroup();
    return true;
  }
  function submitChoice() {
    if (!chosenInput.value) { return; }
    if (rounds && rounds.groups.length > 1) { advance(); return; }
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

  allCandidates.forEach(function (button) {
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
  if (restartButton) { restartButton.addEventListener("click", function () { startRounds(); }); }
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
    if (/^[1-9]$/.test(key) && Number(key) <= candidates.length) { focusIndex(Number(key) - 1); event.preventDefault(); return; }
    if (key === "ArrowRight") { focusIndex(current < 0 ? 0 : current + 1); event.preventDefault(); return; }
    if (key === "ArrowLeft") { focusIndex(current < 0 ? 0 : current - 1); event.preventDefault(); return; }
    if (key === "ArrowDown") { focusIndex(current < 0 ? 0 : current + columns()); event.preventDefault(); return; }
    if (key === "ArrowUp") { focusIndex(current < 0 ? 0 : current - columns()); event.preventDefault(); return; }
    if (key === "+" || key === "=") { zoomAt(1.25, 0, 0); event.preventDefault(); return; }
    if (key === "-" || key === "_") { zoomAt(0.8, 0, 0); event.preventDefault(); return; }
    if (key === "0") { resetView(); event.preventDefault(); return; }
    if (key === "Enter" && current < 0 && chosenInput.value && target === document.body) { submitChoice(); event.preventDefault(); return; }
    if ((key === "Enter" || key === " ") && current >= 0) {
      event.preventDefault();
      var button = candidates[current];
      if (key === "Enter" && chosenInput.value === button.dataset.candidate) { submitChoice(); }
      else { select(button); }
    }
  });
  applyView();
  var initialChoice = chosenInput.value;  // a previous answer, highlighted where it appears
  startRounds();
  if (!rounds) {
    if (roundBox) { roundBox.textContent = "Choose the best of these " + candidates.length + "."; }
    var selected = candidates.filter(function (c) { return c.dataset.candidate === chosenInput.value; })[0];
    if (selected || candidates.length) { (selected || candidates[0]).focus({ preventScroll: true }); }
  }
})();
