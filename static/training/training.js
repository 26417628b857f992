// Live progress of training runs: poll each unfinished run's status and redraw its row.
(function () {
  "use strict";
  const POLL_MS = 2000;

  function drawLoss(canvas, history) {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!history || history.length < 2) return;
    const series = [["train_loss", "#2459c7"], ["val_loss", "#e07b00"]];
    const values = history.flatMap((h) => [h.train_loss, h.val_loss]).filter(Number.isFinite);
    const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
    for (const [key, colour] of series) {
      ctx.strokeStyle = colour;
      ctx.beginPath();
      history.forEach((h, i) => {
        const x = (i / (history.length - 1)) * (canvas.width - 2) + 1;
        const y = canvas.height - 2 - ((h[key] - lo) / span) * (canvas.height - 4);
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    }
  }

  function render(row, data) {
    const statusCell = row.querySelector(".run-status");
    statusCell.className = "run-status status-" + data.status;
    statusCell.firstChild.textContent = data.status.charAt(0).toUpperCase() + data.status.slice(1);
    row.querySelector(".run-stage").textContent = data.stage || "";
    const pct = data.n_epochs ? Math.round((100 * data.epoch) / data.n_epochs) : 0;
    row.querySelector(".run-bar").style.width = pct + "%";
    row.querySelector(".run-epochs").textContent = "epoch " + data.epoch + "/" + data.n_epochs;
    const last = data.history && data.history[data.history.length - 1];
    const lossCell = row.querySelector(".run-loss");
    const canvas = lossCell.querySelector("canvas");
    lossCell.firstChild.textContent = last
      ? last.train_loss.toFixed(4) + " / " + last.val_loss.toFixed(4) : "—";
    drawLoss(canvas, data.history);
    const result = row.querySelector(".run-result");
    if (data.result) {
      result.textContent = "model #" + data.result.id + (data.activated ? " (activated)" : "");
    } else if (data.error) {
      result.textContent = data.error.slice(0, 160);
      result.classList.add("error");
    }
  }

  // The model table is server-rendered (one template for page and refresh); it is
  // fetched again when a run finishes, and every MODELS_MS in case a run started
  // elsewhere (another tab, the admin, the command line) registered or activated a model.
  const MODELS_MS = 15000;
  const modelsSection = document.getElementById("models");

  async function refreshModels() {
    if (!modelsSection) return;
    try {
      const response = await fetch(modelsSection.dataset.modelsUrl, { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const holder = document.createElement("div");
      holder.innerHTML = await response.text();
      const fresh = holder.querySelector("#models-table");
      const current = document.getElementById("models-table");
      if (fresh && current && fresh.outerHTML !== current.outerHTML) current.replaceWith(fresh);
    } catch (error) {
      // The server may be restarting; the next refresh tries again.
    }
  }

  if (modelsSection) window.setInterval(refreshModels, MODELS_MS);

  async function poll(row) {
    try {
      const response = await fetch(row.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const data = await response.json();
      render(row, data);
      if (data.status === "succeeded" || data.status === "failed") {
        row.dataset.finished = "1";
        if (data.status === "succeeded") refreshModels();
        return;
      }
    } catch (error) {
      // The server may be restarting; keep polling.
    }
    window.setTimeout(() => poll(row), POLL_MS);
  }

  document.querySelectorAll("tr[data-run-id]").forEach((row) => {
    fetch(row.dataset.statusUrl).then((r) => r.ok && r.json()).then((d) => d && drawLoss(row.querySelector("canvas"), d.history));
    if (row.dataset.finished !== "1") poll(row);
  });
})();
