// Job page: live progress while running; linked zoom, slider and line profile when done.
(function () {
  "use strict";

  // ---- Progress (queued / running) -------------------------------------------------
  var progressCard = document.getElementById("job-progress-card");
  if (progressCard) {
    var bar = document.getElementById("job-progress");
    var text = document.getElementById("job-progress-text");
    var interim = document.getElementById("interim-image");
    var caption = document.getElementById("interim-caption");
    var statusBadge = document.getElementById("job-status");
    var url = progressCard.dataset.statusUrl;
    // "best" reports groups x passes as its stacks
    var unit = progressCard.dataset.method === "best" ? "Group" : "Stack";
    var delay = 1000;
    var lastInterim = null;
    interim.addEventListener("error", function () { interim.hidden = true; });

    // Queue position and estimated time (the API's queue_position, estimated_*_seconds).
    var queueText = document.getElementById("job-queue");
    var duration = function (seconds) {
      if (seconds < 90) return Math.round(seconds) + " s";
      if (seconds < 5400) return Math.round(seconds / 60) + " min";
      return (seconds / 3600).toFixed(1) + " h";
    };
    var showQueue = function (job) {
      if (!queueText) return;
      if (job.estimated_seconds === null || job.estimated_seconds === undefined) {
        queueText.hidden = true;
        return;
      }
      if (job.queue_position) {
        queueText.textContent = "Position " + job.queue_position + " in the queue (" +
          job.jobs_ahead + (job.jobs_ahead === 1 ? " job" : " jobs") + " ahead): about " +
          duration(job.estimated_wait_seconds) + " until it starts, " +
          duration(job.estimated_seconds) + " until the result.";
      } else {
        queueText.textContent = "About " + duration(job.estimated_seconds) + " left.";
      }
      queueText.title = job.estimate_basis || "";
      queueText.hidden = false;
    };

    var poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (response.status === 404) throw new Error("gone");
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (job) {
          delay = 1000;
          if (job.status === "done" || job.status === "failed") {
            window.location.reload();
            return;
          }
          showQueue(job);
          var pct = Math.round(100 * job.progress.fraction);
          bar.firstElementChild.style.width = pct + "%";
          bar.setAttribute("aria-valuenow", String(pct));
          statusBadge.textContent = job.status === "running" ? "Running" : "Queued";
          statusBadge.className = "status status-" + job.status;
          if (job.status === "queued") {
            var waited = (Date.now() - Date.parse(job.created_at)) / 1000;
            text.textContent = job.attempts > 0 ? "Waiting for a worker (retrying)…" :
              (waited > 60 ? "Still waiting for a worker: the queue is busy, or the site's workers are down. " +
                             "The job stays queued; this page updates by itself." : "Waiting for a worker…");
          } else if (job.progress.n_stacks) {
            text.textContent = unit + " " + job.progress.stacks_done + " of " + job.progress.n_stacks +
              (unit === "Group" ? " (both passes, " : " (") + pct + "%)";
          } else {
            text.textContent = unit === "Group" ?
              "Estimating the noise model and grouping similar patches…" :
              "Estimating the patch size and preparing the stacks…";
          }
          if (job.urls.interim_preview && job.urls.interim_preview !== lastInterim) {
            lastInterim = job.urls.interim_preview;
            interim.src = lastInterim;
            interim.hidden = false;
            caption.textContent = "Reconstruction after " + job.progress.stacks_done + " of " +
              job.progress.n_stacks + (unit === "Group" ? " group steps" : " stack(s)");
          }
          window.setTimeout(poll, delay);
        })
        .catch(function (error) {
          if (error.message === "gone") {
            text.textContent = "This job no longer exists.";
            return;
          }
          delay = Math.min(delay * 2, 15000);
          text.textContent = "Lost contact with the server; retrying…";
          window.setTimeout(poll, delay);
        });
    };
    window.setTimeout(poll, 500);
    return;
  }

  // ---- Result: linked zoom, slider, line profile --------------------------------------
  var compare = document.getElementById("compare");
  if (!compare) return;
  var imageWidth = parseInt(compare.dataset.width, 10);
  var imageHeight = parseInt(compare.dataset.height, 10);
  var layers = compare.querySelectorAll(".zoom-layer");
  var panes = compare.querySelectorAll(".pane");
  var lines = compare.querySelectorAll(".line-overlay line");
  var slider = document.getElementById("compare-slider");
  var sliderLabel = document.getElementById("compare-slider-label");
  var view = { scale: 1, x: 0, y: 0 };
  var tool = "pan";

  function applyView() {
    var transform = "translate(" + view.x + "px," + view.y + "px) scale(" + view.scale + ")";
    layers.forEach(function (layer) { layer.style.transform = transform; });
  }
  function applySlider() {
    var after = compare.querySelector('.pane[data-pane="after"]');
    after.style.clipPath = compare.classList.contains("mode-slider") ?
      "inset(0 0 0 " + slider.value + "%)" : "";
  }

  document.querySelectorAll("[data-mode]").forEach(function (button) {
    button.addEventListener("click", function () {
      compare.classList.remove("mode-side", "mode-slider");
      compare.classList.add("mode-" + button.dataset.mode);
      document.querySelectorAll("[data-mode]").forEach(function (b) { b.classList.toggle("active", b === button); });
      sliderLabel.hidden = button.dataset.mode !== "slider";
      applySlider();
    });
  });
  slider.addEventListener("input", applySlider);
  document.querySelectorAll("[data-tool]").forEach(function (button) {
    button.addEventListener("click", function () {
      tool = button.dataset.tool;
      compare.classList.toggle("tool-profile", tool === "profile");
      document.querySelectorAll("[data-tool]").forEach(function (b) { b.classList.toggle("active", b === button); });
    });
  });
  document.getElementById("zoom-reset").addEventListener("click", function () {
    view = { scale: 1, x: 0, y: 0 };
    applyView();
  });

  panes.forEach(function (pane) {
    pane.addEventListener("wheel", function (event) {
      event.preventDefault();
      var rect = pane.getBoundingClientRect();
      var cx = event.clientX - rect.left;
      var cy = event.clientY - rect.top;
      var factor = event.deltaY < 0 ? 1.2 : 1 / 1.2;
      var scale = Math.min(64, Math.max(1, view.scale * factor));
      factor = scale / view.scale;
      view.x = cx - (cx - view.x) * factor;
      view.y = cy - (cy - view.y) * factor;
      view.scale = scale;
      if (scale === 1) { view.x = 0; view.y = 0; }
      applyView();
    }, { passive: false });
  });

  // Image pixel (x = column, y = row, full resolution) under the pointer.
  function imagePoint(event, pane) {
    var img = pane.querySelector("img");
    var rect = img.getBoundingClientRect();
    var x = (event.clientX - rect.left) / rect.width * imageWidth - 0.5;
    var y = (event.clientY - rect.top) / rect.height * imageHeight - 0.5;
    return { x: Math.min(imageWidth - 1, Math.max(0, x)), y: Math.min(imageHeight - 1, Math.max(0, y)) };
  }
  function drawLine(a, b) {
    lines.forEach(function (line) {
      line.setAttribute("x1", a.x + 0.5); line.setAttribute("y1", a.y + 0.5);
      line.setAttribute("x2", b.x + 0.5); line.setAttribute("y2", b.y + 0.5);
      line.setAttribute("visibility", "visible");
    });
  }

  var drag = null;
  panes.forEach(function (pane) {
    pane.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      pane.setPointerCapture(event.pointerId);
      drag = tool === "profile" ?
        { kind: "line", pane: pane, start: imagePoint(event, pane) } :
        { kind: "pan", x: event.clientX - view.x, y: event.clientY - view.y };
    });
    pane.addEventListener("pointermove", function (event) {
      if (!drag) return;
      if (drag.kind === "pan") {
        view.x = event.clientX - drag.x;
        view.y = event.clientY - drag.y;
        applyView();
      } else {
        drag.end = imagePoint(event, drag.pane);
        drawLine(drag.start, drag.end);
      }
    });
    pane.addEventListener("pointerup", function () {
      if (drag && drag.kind === "line" && drag.end &&
          Math.hypot(drag.end.x - drag.start.x, drag.end.y - drag.start.y) >= 2) {
        requestProfile(drag.start, drag.end);
      }
      drag = null;
    });
  });

  // ---- Line profile chart -------------------------------------------------------------
  var profileCard = document.getElementById("profile-card");
  var chart = document.getElementById("profile-chart");
  var SVG = "http://www.w3.org/2000/svg";

  function element(name, attributes, textContent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { node.setAttribute(key, attributes[key]); });
    if (textContent !== undefined) node.textContent = textContent;
    return node;
  }

  function requestProfile(a, b) {
    var query = "?x0=" + a.x.toFixed(2) + "&y0=" + a.y.toFixed(2) + "&x1=" + b.x.toFixed(2) + "&y1=" + b.y.toFixed(2);
    fetch(profileCard.dataset.profileUrl + query, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(drawProfile)
      .catch(function () { document.getElementById("profile-hint").textContent = "The profile could not be loaded."; });
  }

  function drawProfile(profile) {
    while (chart.firstChild) chart.removeChild(chart.firstChild);
    if (!profile.distance || profile.distance.length < 2) return;
    var W = 640, H = 240, left = 64, right = 12, top = 12, bottom = 36;
    var all = profile.input.concat(profile.output);
    var low = Math.min.apply(null, all), high = Math.max.apply(null, all);
    if (!(high > low)) { high = low + 1; }
    var dmax = profile.distance[profile.distance.length - 1] || 1;
    function sx(d) { return left + d / dmax * (W - left - right); }
    function sy(v) { return top + (1 - (v - low) / (high - low)) * (H - top - bottom); }
    chart.appendChild(element("rect", { x: left, y: top, width: W - left - right, height: H - top - bottom, fill: "#fff", stroke: "#d9dde6" }));
    [["input", "#8a8f9c", "Input"], ["output", "#2459c7", "REUCID"]].forEach(function (series, i) {
      var points = profile[series[0]].map(function (v, k) { return sx(profile.distance[k]).toFixed(1) + "," + sy(v).toFixed(1); }).join(" ");
      chart.appendChild(element("polyline", { points: points, fill: "none", stroke: series[1], "stroke-width": i ? 2 : 1.2, "data-series": series[0] }));
      chart.appendChild(element("text", { x: W - right - 70, y: top + 16 + 16 * i, fill: series[1], "font-size": 12 }, series[2]));
    });
    chart.appendChild(element("text", { x: left - 6, y: top + 10, "text-anchor": "end", "font-size": 11, fill: "#5b6275" }, high.toPrecision(4)));
    chart.appendChild(element("text", { x: left - 6, y: H - bottom, "text-anchor": "end", "font-size": 11, fill: "#5b6275" }, low.toPrecision(4)));
    chart.appendChild(element("text", { x: left, y: H - bottom + 16, "font-size": 11, fill: "#5b6275" }, "0"));
    chart.appendChild(element("text", { x: W - right, y: H - bottom + 16, "text-anchor": "end", "font-size": 11, fill: "#5b6275" }, dmax.toPrecision(4) + " " + profile.unit));
    chart.appendChild(element("text", { x: (left + W - right) / 2, y: H - 6, "text-anchor": "middle", "font-size": 12, fill: "#1d2230" }, "distance along the line (" + profile.unit + ")"));
    profileCard.classList.add("has-profile");
  }
})();
