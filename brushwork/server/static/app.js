// The brushwork page: a thin client of the HTTP API (/v1/styles, /v1/stylize, /v1/jobs, /v1/explain). No build step.
"use strict";
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("token");  // open /#token=... on a guarded server
const headers = token ? { Authorization: "Bearer " + token } : {};
const state = { photo: null, style: null, custom: null, painted: { style2: false, keep: false },
                busy: false, pending: null, controller: null, full: null, fullKey: "" };

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}
function setStatus(text) { $("status").textContent = text; }

async function detail(response) {  // the API's errors are JSON {"detail": "..."}
  try { return (await response.json()).detail || response.statusText; } catch { return response.statusText; }
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new Error("cannot reach the server (" + err.message + ")");
  }
  if (!response.ok) {
    const err = new Error(await detail(response));
    err.status = response.status;
    err.retryAfter = Number(response.headers.get("Retry-After") || 0);
    throw err;
  }
  return response;
}

// ---- styles ----
function styleButton(name, title, src, onPick) {
  const b = document.createElement("button");
  b.type = "button"; b.dataset.style = name; b.title = title; b.setAttribute("aria-pressed", "false");
  b.innerHTML = `<img alt=""><span></span>`;
  b.querySelector("img").src = src;
  b.querySelector("span").textContent = name;
  b.addEventListener("click", onPick);
  return b;
}
function pick(name) {
  state.style = name;
  hideExplain();
  for (const b of $("gallery").querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.style === name));
  render(false);
}
async function loadStyles() {  // "Loading the styles…" stays until every thumbnail can be drawn
  const gallery = $("gallery");
  try {
    const styles = await (await api("/v1/styles")).json();
    const buttons = styles.map((s) => styleButton(s.name, s.title, s.thumbnail, () => pick(s.name)));
    await Promise.all(buttons.map((b) => b.querySelector("img").decode().catch(() => {})));
    $("gallery-loading").remove();
    gallery.append(...buttons);
    for (const s of styles) $("style2").append(new Option(s.name, s.name));
    gallery.dataset.ready = "true";
  } catch (err) {
    $("gallery-loading").textContent = "The styles could not be loaded; reload the page to try again.";
    throw err;
  } finally {
    gallery.setAttribute("aria-busy", "false");
  }
}
$("style-upload").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (!file) return;
  state.custom = file;
  const old = $("gallery").querySelector('[data-style="custom"]');
  if (old) old.remove();
  $("gallery").prepend(styleButton("custom", file.name, URL.createObjectURL(file), () => pick("custom")));
  if (![...$("style2").options].some((o) => o.value === "custom")) $("style2").append(new Option("your painting", "custom"));
  pick("custom");
});

// ---- photo ----
function setPhoto(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) { showError(`${file.name} is not a picture`); return; }
  state.photo = file; state.full = null;
  hideExplain();
  const before = $("before");
  before.onload = () => { $("stage").classList.remove("empty"); resetMask(); render(false); };
  before.onerror = () => showError("this browser cannot show that picture; try a JPEG or PNG");
  before.src = URL.createObjectURL(file);
  $("result").removeAttribute("src");
}
$("photo").addEventListener("change", (e) => setPhoto(e.target.files[0]));
const drop = $("drop");
for (const ev of ["dragenter", "dragover"]) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); setPhoto(e.dataTransfer.files[0]); });

// ---- brush ----
const mask = $("mask");
const ctx = mask.getContext("2d");
const COLORS = { style2: "rgb(255,0,0)", keep: "rgb(0,0,255)" };
function brushMode() { return document.querySelector('input[name="brush"]:checked').value; }
function resetMask() {
  const im = $("before"), scale = Math.min(1, 768 / Math.max(im.naturalWidth, im.naturalHeight));
  mask.width = Math.round(im.naturalWidth * scale); mask.height = Math.round(im.naturalHeight * scale);
  state.painted = { style2: false, keep: false };
}
for (const r of document.querySelectorAll('input[name="brush"]')) {
  r.addEventListener("change", () => $("stage").classList.toggle("painting", brushMode() !== "off"));
}
let drawing = false, last = null;
function dab(e) {  // a round-capped stroke from the last point: fast strokes stay continuous, not dotted
  const box = mask.getBoundingClientRect(), k = mask.width / box.width, mode = brushMode();
  const p = [(e.clientX - box.left) * k, (e.clientY - box.top) * k], from = last || p;
  ctx.strokeStyle = ctx.fillStyle = COLORS[mode];
  ctx.lineWidth = $("brush-size").value * k; ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath(); ctx.moveTo(from[0], from[1]); ctx.lineTo(p[0] + 0.01, p[1]); ctx.stroke();
  last = p;
  state.painted[mode] = true;
}
mask.addEventListener("pointerdown", (e) => { if (brushMode() === "off") return; drawing = true; last = null; mask.setPointerCapture(e.pointerId); dab(e); });
mask.addEventListener("pointermove", (e) => { if (drawing) dab(e); });
mask.addEventListener("pointerup", () => { if (drawing) { drawing = false; last = null; render(false); } });
$("clear-brush").addEventListener("click", () => { ctx.clearRect(0, 0, mask.width, mask.height); state.painted = { style2: false, keep: false }; render(false); });

function maskBlob(channel, invert = false) {  // white where the brush painted in that mode's colour
  const src = ctx.getImageData(0, 0, mask.width, mask.height).data;
  const out = new ImageData(mask.width, mask.height);
  for (let i = 0; i < src.length; i += 4) {
    const on = src[i + 3] > 0 && src[i + channel] > 128;
    const v = on !== invert ? 255 : 0;
    out.data[i] = out.data[i + 1] = out.data[i + 2] = v; out.data[i + 3] = 255;
  }
  const c = document.createElement("canvas");
  c.width = mask.width; c.height = mask.height;
  c.getContext("2d").putImageData(out, 0, 0);
  return new Promise((resolve) => c.toBlob(resolve, "image/png"));
}

// ---- rendering ----
function addStyle(form, name) {
  if (name === "custom") form.append("style_image", state.custom, state.custom.name);
  else form.append("style", name);
}
async function buildForm(preview) {
  const form = new FormData();
  form.append("content", state.photo, state.photo.name);
  addStyle(form, state.style);
  const second = $("style2").value;
  if (second) {
    addStyle(form, second);
    if (state.painted.style2) {
      form.append("mask", await maskBlob(0, true), "mask1.png");
      form.append("mask", await maskBlob(0), "mask2.png");
    } else {
      const w = $("blend").value / 100;
      form.append("style_weights", `${1 - w},${w}`);
    }
  } else if (state.painted.style2) {
    throw new Error("choose a second style for the regions you painted");
  }
  if (state.painted.keep) form.append("keep_mask", await maskBlob(2), "keep.png");
  form.append("strength", $("strength").value / 100);
  if ($("keep-colors").checked) form.append("preserve_color", "luminance");
  const quality = $("quality").value;
  if (quality) {
    form.append("quality", quality);  // the preset picks the method and size
  } else {
    form.append("method", method());
    form.append("size", preview ? 256 : $("size").value);
    if (preview && method() === "lapstyle") form.append("draft_size", 128);  // a fast pass while a slider moves
  }
  return form;
}
function method() { return $("method").value; }
function slow() {  // optimize, chosen or through a preset, takes minutes: it runs as a job
  const preset = $("quality").selectedOptions[0];
  return ($("quality").value ? preset.dataset.method : method()) === "optimize";
}

// Long work (optimize) goes through /v1/jobs: start it, show its progress, fetch the picture; abort = delete it.
async function runJob(form, signal, onProgress) {
  const job = await (await api("/v1/jobs", { method: "POST", body: form, signal })).json();
  const mine = { "X-Job-Secret": job.secret };
  const drop = () => api(`/v1/jobs/${job.id}`, { method: "DELETE", headers: mine }).catch(() => {});
  signal?.addEventListener("abort", drop);
  for (;;) {
    await new Promise((r) => setTimeout(r, 700));
    if (signal?.aborted) throw new DOMException("aborted", "AbortError");
    const s = await (await api(`/v1/jobs/${job.id}`, { headers: mine })).json();
    onProgress(s);
    if (s.state === "failed" || s.state === "cancelled") throw new Error(s.error || `the job was ${s.state}`);
    if (s.state === "done") break;
  }
  const blob = await (await api(`/v1/jobs/${job.id}/result`, { headers: mine })).blob();
  signal?.removeEventListener("abort", drop);
  drop();  // fetched: free its files on the server
  return blob;
}
function progressText(s) {
  return `${s.state} ${Math.round(100 * s.progress)}%${s.eta_s ? `, about ${Math.round(s.eta_s)} s left` : ""}`;
}

// One request at a time: while one runs, only the latest wish is kept and sent when it ends.
function render(preview) {
  if (!state.photo || !state.style) return;
  if (preview && slow()) return;  // no previews for minutes-long work: it starts when the slider is let go
  if (state.busy) {
    // a full render replaces a preview or a minutes-long job that is now out of date
    if (!preview && state.controller && (state.busyPreview || state.busySlow)) state.controller.abort();
    state.pending = state.pending === false ? false : preview;
    return;
  }
  run(preview);
}
async function run(preview) {
  state.busy = true; state.busyPreview = preview; state.busySlow = slow(); state.controller = new AbortController();
  const t0 = performance.now();
  setStatus(preview ? "preview…" : "painting…");
  try {
    const form = await buildForm(preview);
    const signal = state.controller.signal;
    const blob = slow()
      ? await runJob(form, signal, (s) => setStatus(`painting: ${progressText(s)}…`))
      : await (await api("/v1/stylize", { method: "POST", body: form, signal })).blob();
    const img = $("result");
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    img.dataset.url = URL.createObjectURL(blob);
    img.src = img.dataset.url;
    img.dataset.kind = preview ? "preview" : "full";
    img.dataset.renders = String(Number(img.dataset.renders) + 1);
    if (!preview) setDownload(blob);
    $("explain-hint").hidden = false;
    showError("");
    setStatus(`${preview ? "preview" : "done"} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  } catch (err) {
    if (err.name !== "AbortError") {
      showError(err.status === 503 ? `The server is busy; trying again in ${err.retryAfter || 1} s.` : err.message);
      setStatus("");
      if (err.status === 503) setTimeout(() => render(preview), 1000 * (err.retryAfter || 1));
    }
  } finally {
    state.busy = false;
    const next = state.pending;
    state.pending = null;
    if (next !== null) run(next);
  }
}
function setDownload(blob) {
  const a = $("download");
  if (a.dataset.url) URL.revokeObjectURL(a.dataset.url);
  a.dataset.url = URL.createObjectURL(blob);
  a.href = a.dataset.url;
  a.download = `brushwork-${state.style}.${blob.type.split("/")[1] || "png"}`;
  a.setAttribute("aria-disabled", "false");
}

// ---- explain: click a point of the result to see where it takes its style from (the attention network's view) ----
let explainController = null;
function hideExplain() {
  if (explainController) explainController.abort();
  $("explain").hidden = $("explain-dot").hidden = $("explain-hint").hidden = true;
}
$("stage").addEventListener("click", (e) => {
  if (brushMode() !== "off" || !$("result").getAttribute("src") || !state.photo || !state.style) return;
  const box = $("before").getBoundingClientRect();  // the result covers the photo exactly
  const x = (e.clientX - box.left) / box.width, y = (e.clientY - box.top) / box.height;
  if (x >= 0 && x <= 1 && y >= 0 && y <= 1) explainAt(x, y);
});
async function explainAt(x, y) {  // x, y: fractions of the photo's width and height
  const dot = $("explain-dot");
  dot.style.left = `${100 * x}%`; dot.style.top = `${100 * y}%`; dot.hidden = false;
  if (explainController) explainController.abort();
  const controller = explainController = new AbortController();
  const form = new FormData();
  form.append("content", state.photo, state.photo.name);
  addStyle(form, state.style);
  form.append("x", x.toFixed(4)); form.append("y", y.toFixed(4));
  $("explain").hidden = false; $("explain").setAttribute("aria-busy", "true");
  try {
    const blob = await (await api("/v1/explain", { method: "POST", body: form, signal: controller.signal })).blob();
    const img = $("explain-heat");
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    img.dataset.url = URL.createObjectURL(blob);
    img.src = img.dataset.url;
    await img.decode().catch(() => {});
    img.dataset.at = `${x.toFixed(4)},${y.toFixed(4)}`;
    img.dataset.explains = String(Number(img.dataset.explains) + 1);
    showError("");
  } catch (err) {
    if (err.name !== "AbortError") showError(err.status === 503 ? "The server is busy; click again in a moment." : err.message);
  } finally {
    if (explainController === controller) { explainController = null; $("explain").setAttribute("aria-busy", "false"); }
  }
}

// ---- sliders ----
for (const [id, out, fmt] of [["strength", "strength-out", (v) => v + "%"], ["blend", "blend-out", (v) => v + "%"]]) {
  $(id).addEventListener("input", () => { $(out).textContent = fmt($(id).value); render(true); });
  $(id).addEventListener("change", () => render(false));
}
$("style2").addEventListener("change", () => { $("blend").disabled = !$("style2").value; render(false); });
$("size").addEventListener("change", () => render(false));
$("method").addEventListener("change", () => render(false));
$("quality").addEventListener("change", () => {
  $("method").disabled = $("size").disabled = !!$("quality").value;
  render(false);
});
$("keep-colors").addEventListener("change", () => render(false));
$("compare").addEventListener("input", () => {
  $("after-wrap").style.clipPath = `inset(0 ${100 - $("compare").value}% 0 0)`;
});

// ---- video (only when the server has video support) ----
$("video").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file || !state.style) { showError("choose a style first, then the video"); return; }
  const form = new FormData();
  form.append("video", file, file.name);
  addStyle(form, state.style);
  form.append("strength", $("strength").value / 100);
  const bar = $("video-progress");
  try {
    bar.hidden = false;
    const blob = await runJob(form, null, (s) => { bar.value = s.progress; setStatus(`video: ${progressText(s)}`); });
    const a = $("video-download");
    a.href = URL.createObjectURL(blob); a.download = "brushwork-video.mp4"; a.hidden = false;
  } catch (err) { showError(err.message); }
});

window.addEventListener("error", (e) => showError("page error: " + e.message));
(async () => {
  try {
    const health = await (await fetch("/healthz")).json();
    $("video-section").hidden = !health.video;
    for (const q of health.qualities || []) {
      const option = new Option(q.label || q.name, q.name);
      option.dataset.method = q.method || "";
      $("quality").append(option);
    }
    $("quality-label").hidden = !(health.qualities || []).length;
    await loadStyles();
  } catch (err) { showError(err.message); }
})();
