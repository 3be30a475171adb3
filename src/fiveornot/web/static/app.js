// fiveornot's page: draw a digit, ask /api/predict while drawing, show the answer and why.
// Plain JavaScript, no build step, no requests to anywhere but this server.
"use strict";

(() => {
  const PREDICT_DELAY_MS = 150;   // live prediction while drawing, at most this often
  const STROKE_WIDTH = 20;        // on the 280 px pad: ~2 px after MNIST's fit into 20 px, like MNIST's pens
  const SIDE = 28;
  const NO = [43, 95, 158];       // blue: pushes away from the target digit
  const MID = [244, 244, 244];
  const YES = [198, 95, 0];       // orange: pushes toward it (blue/orange reads for colour-blind eyes)

  const $ = (id) => document.getElementById(id);
  const pad = $("pad");
  const padContext = pad.getContext("2d");

  const state = {
    run: new URLSearchParams(location.search).get("run"),  // the model picked, or null for the server's default
    model: null,
    source: null,        // null, {kind: "drawing"} or {kind: "sample", image, label, index}
    hasInk: false,
    drawing: false,
    last: null,
    timer: null,
    controller: null,
    sequence: 0,
  };

  // ---- talking to the server ------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, options = {}) {
    const response = await fetch(path, options);
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, (body && body.detail) || `The server answered ${response.status}.`);
    }
    return body;
  }

  function withRun(path) {
    if (!state.run) return path;
    return `${path}${path.includes("?") ? "&" : "?"}run=${encodeURIComponent(state.run)}`;
  }

  // ---- colours and 28x28 views ----------------------------------------------------------------------------

  function diverging(value) {      // value in -1..1 -> [r, g, b]
    const strength = Math.min(1, Math.abs(value));
    const end = value < 0 ? NO : YES;
    return MID.map((m, i) => Math.round(m + (end[i] - m) * strength));
  }

  function paint(canvas, grid, colourOf) {
    const context = canvas.getContext("2d");
    const pixels = context.createImageData(SIDE, SIDE);
    for (let row = 0; row < SIDE; row++) {
      for (let col = 0; col < SIDE; col++) {
        const [r, g, b] = colourOf(grid[row][col]);
        const at = (row * SIDE + col) * 4;
        pixels.data[at] = r;
        pixels.data[at + 1] = g;
        pixels.data[at + 2] = b;
        pixels.data[at + 3] = 255;
      }
    }
    context.putImageData(pixels, 0, 0);
  }

  function paintGrey(canvas, grid) {
    paint(canvas, grid, (v) => [v, v, v]);
  }

  // Each map spans its own range: the 98th percentile of its non-zero magnitudes is full colour, so that a few
  // extreme pixels do not wash the rest out. The sign, which is what the colours tell, is never changed.
  function colourScale(grid) {
    const magnitudes = [];
    for (const row of grid) for (const v of row) if (v !== 0) magnitudes.push(Math.abs(v));
    if (!magnitudes.length) return 1;
    magnitudes.sort((a, b) => a - b);
    return magnitudes[Math.min(magnitudes.length - 1, Math.floor(0.98 * magnitudes.length))] || 1;
  }

  function paintDiverging(canvas, grid) {
    const scale = colourScale(grid);
    paint(canvas, grid, (v) => diverging(v / scale));
  }

  function blank(canvas, colour) {
    const context = canvas.getContext("2d");
    context.fillStyle = colour;
    context.fillRect(0, 0, canvas.width, canvas.height);
  }

  // ---- the drawing pad ------------------------------------------------------------------------------------

  function clearPad() {
    padContext.fillStyle = "#000";
    padContext.fillRect(0, 0, pad.width, pad.height);
    state.hasInk = false;
    state.source = null;
    cancelPrediction();
    showIdle("Draw a digit");
    $("pad-caption").textContent = "Draw one digit, large, in the middle.";
  }

  function pointOf(event) {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * (pad.width / box.width), (event.clientY - box.top) * (pad.height / box.height)];
  }

  function strokeTo(point) {
    padContext.strokeStyle = "#fff";
    padContext.fillStyle = "#fff";
    padContext.lineWidth = STROKE_WIDTH;
    padContext.lineCap = "round";
    padContext.lineJoin = "round";
    padContext.beginPath();
    if (state.last) {
      padContext.moveTo(state.last[0], state.last[1]);
      padContext.lineTo(point[0], point[1]);
      padContext.stroke();
    } else {
      padContext.arc(point[0], point[1], STROKE_WIDTH / 2, 0, 2 * Math.PI);
      padContext.fill();
    }
    state.last = point;
  }

  pad.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    state.drawing = true;
    state.last = null;
    state.source = { kind: "drawing" };   // drawing over a sample keeps the sample's ink: edit it if you like
    state.hasInk = true;
    $("pad-caption").textContent = "Keep drawing, or lift to see the final answer.";
    strokeTo(pointOf(event));
    schedulePrediction();
  });

  pad.addEventListener("pointermove", (event) => {
    if (!state.drawing) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const each of events.length ? events : [event]) strokeTo(pointOf(each));
    schedulePrediction();
  });

  function endStroke() {
    if (!state.drawing) return;
    state.drawing = false;
    state.last = null;
    $("pad-caption").textContent = "Draw more, or Clear to start again.";
    predict();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  function showSampleOnPad(sample) {
    const small = document.createElement("canvas");
    small.width = small.height = SIDE;
    paintGrey(small, sample.image);
    padContext.fillStyle = "#000";
    padContext.fillRect(0, 0, pad.width, pad.height);
    padContext.imageSmoothingEnabled = true;
    padContext.drawImage(small, 0, 0, pad.width, pad.height);
  }

  async function randomSample(wanted) {
    const digit = targetDigit();
    try {
      const sample = await api(`/api/sample?${wanted ? "digit" : "not"}=${digit}`);
      showSampleOnPad(sample);
      state.source = { kind: "sample", ...sample };
      state.hasInk = true;
      $("pad-caption").textContent = `MNIST test image #${sample.index}, labelled ${sample.label}`;
      predict();
    } catch (error) {
      showError(error.message);
    }
  }

  // ---- predicting -----------------------------------------------------------------------------------------

  function cancelPrediction() {
    clearTimeout(state.timer);
    state.timer = null;
    state.sequence += 1;            // any answer still on its way is now stale
    if (state.controller) state.controller.abort();
    state.controller = null;
  }

  function schedulePrediction() {
    if (state.timer) return;        // one pending prediction at a time while the pen moves
    state.timer = setTimeout(() => {
      state.timer = null;
      predict();
    }, PREDICT_DELAY_MS);
  }

  async function predict() {
    clearTimeout(state.timer);
    state.timer = null;
    if (!state.source || !state.hasInk) {
      showIdle("Draw a digit");
      return;
    }
    const isSample = state.source.kind === "sample";
    const image = isSample ? state.source.image : pad.toDataURL("image/png");
    const forWhat = isSample ? `sample-${state.source.index}` : "drawing";
    cancelPrediction();
    const sequence = state.sequence;
    const controller = new AbortController();
    state.controller = controller;
    try {
      const result = await api(withRun("/api/predict"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ image }),
        signal: controller.signal,
      });
      if (sequence !== state.sequence) return;
      showResult(result, forWhat);
    } catch (error) {
      if (error.name === "AbortError" || sequence !== state.sequence) return;
      if (error.status === 422 && /no ink/.test(error.message)) showIdle("Draw a digit");
      else showError(error.message);
    }
  }

  // ---- showing answers ------------------------------------------------------------------------------------

  function targetDigit() {
    return state.model && !state.model.multiclass ? state.model.digit : 5;
  }

  function targetWord() {
    return state.model && !state.model.multiclass ? state.model.target : "five";
  }

  function format(value, digits = 3) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
  }

  function showIdle(text) {
    const answer = $("answer");
    answer.textContent = text;
    answer.className = "answer idle";
    answer.dataset.for = "none";
    $("meter").hidden = true;
    $("numbers").hidden = true;
    $("ten").hidden = true;
    $("message").textContent = "";
    blank($("input-view"), "#000");
    blank($("contributions-view"), `rgb(${MID.join(",")})`);
    if (state.model && state.model.multiclass) showWeights(5);
  }

  function showError(text) {
    $("message").textContent = text;
  }

  function showResult(result, forWhat) {
    const model = state.model;
    const multiclass = Array.isArray(result.probabilities);
    const answer = $("answer");
    const positive = multiclass || result.answer === targetWord() || (model && result.answer === model.target);
    answer.textContent = multiclass ? `${result.answer}` : result.answer;
    answer.className = `answer ${positive ? "yes" : "no"}`;
    answer.dataset.for = forWhat;
    $("message").textContent = "";

    const meterValue = result.probability !== null ? result.probability : result.output;
    const bounded = Math.max(0, Math.min(1, meterValue === null || meterValue === undefined ? 0 : meterValue));
    $("meter").hidden = false;
    $("probability-fill").style.width = `${(bounded * 100).toFixed(1)}%`;
    $("probability-fill").className = `fill ${positive ? "" : "no"}`;
    $("probability-bar").setAttribute("aria-valuenow", bounded.toFixed(3));
    $("probability-label").textContent = probabilityText(result, multiclass);

    $("numbers").hidden = false;
    $("raw").textContent = format(result.raw);
    $("pixel-sum").textContent = format(result.raw - result.bias);
    $("bias").textContent = format(result.bias);

    paintGrey($("input-view"), result.input);
    paintDiverging($("contributions-view"), result.contributions);
    if (multiclass) {
      showTen(result.probabilities, result.answer);
      showWeights(result.answer);
    }
  }

  function probabilityText(result, multiclass) {
    if (multiclass) return `probability of ${result.answer}: ${format(result.probability)}`;
    const word = targetWord();
    const threshold = state.model ? state.model.threshold : 0.5;
    if (result.probability !== null) {
      return `probability of “${word}”: ${format(result.probability)} (says ${word} from ${format(threshold, 2)})`;
    }
    return `output ${format(result.output)} (says ${word} from ${format(threshold, 2)}; not a probability)`;
  }

  function showTen(probabilities, answer) {
    const list = $("ten-bars");
    list.replaceChildren();
    probabilities.forEach((p, digit) => {
      const item = document.createElement("li");
      if (digit === answer) item.className = "top";
      item.innerHTML = `<span>${digit}</span><div class="bar"><div class="fill"></div></div>` +
        `<span class="value">${(100 * p).toFixed(1)}%</span>`;
      item.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
      item.setAttribute("aria-label", `${digit}: ${(100 * p).toFixed(1)} percent`);
      list.appendChild(item);
    });
    $("ten").hidden = false;
  }

  function showWeights(digit) {
    const model = state.model;
    if (!model) return;
    if (model.multiclass) {
      paintDiverging($("weights-view"), model.weights[digit]);
      $("weights-title").textContent = `Weights for ${digit}`;
      $("legend-no").textContent = `not ${digit}`;
      $("legend-yes").textContent = `${digit}`;
    } else {
      paintDiverging($("weights-view"), model.weights);
      $("weights-title").textContent = "Weights";
    }
  }

  // ---- models ---------------------------------------------------------------------------------------------

  function percent(value) {
    return typeof value === "number" ? `${(100 * value).toFixed(2)}%` : "–";
  }

  function describeModel(model) {
    const test = (model.metrics && model.metrics.test) || {};
    const parts = [model.multiclass ? "10 classes (softmax)" : `${model.target} or not, ${model.activation}`,
      `scale ${model.scale}${model.deskew ? ", deskewed" : ""}`];
    if (typeof test.accuracy === "number") {
      let accuracy = `test accuracy ${percent(test.accuracy)}`;
      if (typeof test.baseline_accuracy === "number") {
        const baseline = model.multiclass ? "always the commonest digit" : `always “not ${model.target}”`;
        accuracy += ` (${baseline}: ${percent(test.baseline_accuracy)})`;
      }
      parts.push(accuracy);
    }
    if (typeof test.f1 === "number") parts.push(`F1 ${test.f1.toFixed(3)}`);
    return parts.join(" · ");
  }

  async function loadModel() {
    const model = await api(withRun("/api/model"));
    state.model = model;
    $("model-summary").textContent = describeModel(model);
    const word = targetWord();
    $("random-yes").textContent = `Random MNIST ${word}`;
    $("random-no").textContent = `Random not ${word}`;
    $("legend-no").textContent = `not ${word}`;
    $("legend-yes").textContent = word;
    showWeights(5);
  }

  async function loadRuns() {
    const picker = $("model-picker");
    const runs = await api("/api/runs");
    picker.replaceChildren();
    for (const run of runs) {
      const option = document.createElement("option");
      option.value = run.name;
      const accuracy = typeof run.accuracy === "number" ? ` · ${percent(run.accuracy)}` : "";
      option.textContent = `${run.name}${accuracy}${run.default ? " (default)" : ""}`;
      option.selected = state.run ? run.name === state.run : run.default;
      picker.appendChild(option);
    }
    if (state.model && ![...picker.options].some((o) => o.selected && o.value === state.model.name)) {
      const option = document.createElement("option");   // a model file outside the runs, or a name prefix
      option.value = "";
      option.textContent = state.model.name;
      option.selected = true;
      picker.prepend(option);
    }
  }

  $("model-picker").addEventListener("change", async (event) => {
    state.run = event.target.value || null;
    const url = new URL(location.href);
    if (state.run) url.searchParams.set("run", state.run);
    else url.searchParams.delete("run");
    history.replaceState(null, "", url);
    try {
      await loadModel();
      predict();
    } catch (error) {
      showError(error.message);
    }
  });

  $("clear").addEventListener("click", clearPad);
  $("random-yes").addEventListener("click", () => randomSample(true));
  $("random-no").addEventListener("click", () => randomSample(false));

  async function start() {
    clearPad();
    try {
      await loadModel();
    } catch (error) {
      showError(error.message);
    }
    try {
      await loadRuns();
    } catch (error) {
      showError(error.message);
    }
    document.body.dataset.ready = "true";
  }

  start();
})();
