// Upload page: drag-and-drop, client-side size check, upload with progress via the API.
(function () {
  "use strict";
  var form = document.getElementById("denoise-form");
  if (!form) return;
  var dropZone = document.getElementById("drop-zone");
  var fileInput = document.getElementById("file-input");
  var summary = document.getElementById("file-summary");
  var errorBox = document.getElementById("upload-error");
  var submit = document.getElementById("denoise-submit");
  var progress = document.getElementById("upload-progress");
  var statusText = document.getElementById("upload-status");
  var classifier = document.getElementById("classifier-select");
  var kOption = document.getElementById("k-option");
  var maxBytes = parseInt(form.dataset.maxBytes, 10);
  var chosenFile = null;

  function humanBytes(n) {
    if (n < 1024) return n + " bytes";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KB";
    return (n / 1048576).toFixed(1) + " MB";
  }
  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }
  function chooseFile(file) {
    chosenFile = file || null;
    showError("");
    if (!file) return;
    summary.textContent = file.name + " · " + humanBytes(file.size);
    dropZone.classList.add("has-file");
    if (file.size > maxBytes) {
      showError("The file is " + humanBytes(file.size) + "; the largest upload accepted is " +
                humanBytes(maxBytes) + ".");
    }
  }
  function syncK() { kOption.hidden = classifier.value !== "k"; }
  classifier.addEventListener("change", syncK);
  syncK();

  // Method: "best" (default) or "paper". Each has its default classifier (its active
  // trained model; "best" without one: the noise-edge rule); switching keeps a classifier the user picked
  // if it still fits. Untouched, neither is sent: the server then picks the default,
  // and for an image too large for "best" falls back to "paper" (the job page says so).
  var methodInputs = form.querySelectorAll("input[name=method]");
  var stacksOption = document.getElementById("stacks-option");
  // "protect rare defects" turns off the best method's coarse pilot: best only
  var protectOption = document.getElementById("protect-defects-option");
  var protectInput = document.getElementById("protect-defects-input");
  var noiseEdge = classifier.querySelector('option[value="noise-edge"]');
  var activeOption = classifier.querySelector('option[value="active"]');
  var classifierTouched = false;
  var methodTouched = false;
  classifier.addEventListener("change", function () { classifierTouched = true; });
  function chosenMethod() {
    var checked = form.querySelector("input[name=method]:checked");
    return checked ? checked.value : "best";
  }
  function paperDefault() { return activeOption && !activeOption.disabled ? "active" : "mp"; }
  function syncMethod() {
    var best = chosenMethod() === "best";
    noiseEdge.disabled = !best;
    stacksOption.hidden = best;
    protectOption.hidden = !best;
    protectInput.disabled = !best;
    if (!classifierTouched) {
      classifier.value = best ? (classifier.dataset.bestDefault || "noise-edge") : paperDefault();
    } else if (!best && classifier.value === "noise-edge") {
      classifier.value = paperDefault();
    }
    syncK();
  }
  methodInputs.forEach(function (input) {
    input.addEventListener("change", function () { methodTouched = true; syncMethod(); });
  });
  syncMethod();

  fileInput.addEventListener("change", function () { chooseFile(fileInput.files[0]); });
  ["dragenter", "dragover"].forEach(function (name) {
    dropZone.addEventListener(name, function (event) {
      event.preventDefault();
      dropZone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    dropZone.addEventListener(name, function (event) {
      event.preventDefault();
      dropZone.classList.remove("dragging");
    });
  });
  dropZone.addEventListener("drop", function (event) {
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    if (files.length > 1) { showError("Drop one image at a time."); return; }
    try { fileInput.files = files; } catch (e) { /* old browsers: keep chosenFile only */ }
    chooseFile(files[0]);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = chosenFile || fileInput.files[0];
    if (!file) { showError("Choose a STEM image first."); return; }
    if (file.size > maxBytes) {
      showError("The file is " + humanBytes(file.size) + "; the largest upload accepted is " +
                humanBytes(maxBytes) + ".");
      return;
    }
    var data = new FormData();
    data.append("file", file, file.name);
    var choice = classifier.value;
    if (choice === "k") choice = "k=" + document.getElementById("k-input").value;
    if (classifierTouched || methodTouched) data.append("classifier", choice);
    var method = chosenMethod();
    if (methodTouched) data.append("method", method);
    var patch = document.getElementById("patch-size-input").value.trim();
    if (patch) data.append("patch_size", patch);
    data.append("seed", document.getElementById("seed-input").value || "0");
    var frame = document.getElementById("frame-input").value.trim();
    if (frame) data.append("frame", frame);
    var stacks = document.getElementById("stacks-input").value.trim();
    if (stacks && method === "paper") data.append("n_stacks", stacks);
    if (protectInput.checked && method === "best") data.append("protect_defects", "true");

    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.apiUrl);
    xhr.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    xhr.setRequestHeader("Accept", "application/json");
    submit.disabled = true;
    progress.hidden = false;
    showError("");
    statusText.textContent = "Uploading…";
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      var pct = Math.round(100 * e.loaded / e.total);
      progress.firstElementChild.style.width = pct + "%";
      statusText.textContent = pct < 100 ? "Uploading… " + pct + "%" : "Checking the image…";
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status === 201 && body && body.urls) {
        statusText.textContent = "Accepted. Opening the job…";
        window.location.assign(body.urls.page);
        return;
      }
      submit.disabled = false;
      progress.hidden = true;
      statusText.textContent = "";
      var message = body && body.detail ? body.detail :
        (xhr.status === 413 ? "The file is too large for this server." :
         "The upload failed (HTTP " + xhr.status + ").");
      showError(message);
    });
    xhr.addEventListener("error", function () {
      submit.disabled = false;
      progress.hidden = true;
      statusText.textContent = "";
      showError("The upload was interrupted (network error). Nothing was stored; try again.");
    });
    xhr.send(data);
  });
})();
