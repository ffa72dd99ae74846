// The Live tab: the camera (getUserMedia) sent as JPEG frames over the /v1/live WebSocket, the painted frames
// shown as they come back, with frames/s and latency. At most two frames are in flight; the server paints the
// newest and drops older ones, so a slow server lowers the frame rate, not the freshness.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.hash.slice(1)).get("token");  // open /#token=... on a guarded server
  const IN_FLIGHT = 2, WINDOW = 20, JPEG_QUALITY = 0.8;
  const live = { ws: null, stream: null, timer: 0, next: 1, resolved: 0, capturing: false, sent: new Map(),
                 header: null, arrivals: [], latencies: [], shown: null, styles: null };
  const canvas = document.createElement("canvas");

  function say(text, isError = false) {
    $("live-status").textContent = text;
    $("live-status").classList.toggle("error", isError);
  }

  function showTab(name) {
    const isLive = name === "live";
    document.querySelector("main").hidden = isLive;
    $("live").hidden = !isLive;
    $("tab-picture").setAttribute("aria-selected", String(!isLive));
    $("tab-live").setAttribute("aria-selected", String(isLive));
    if (!isLive) stop();
    else live.styles ||= loadStyles().catch((err) => { live.styles = null; say("cannot list the styles: " + err.message, true); });
  }
  $("tab-picture").addEventListener("click", () => showTab("picture"));
  $("tab-live").addEventListener("click", () => showTab("live"));

  async function loadStyles() {  // when the tab is first opened (the picture tab asks for its own list at load)
    const response = await fetch("/v1/styles", { headers: token ? { Authorization: "Bearer " + token } : {} });
    if (!response.ok) { say("cannot list the styles (" + response.status + ")", true); return; }
    for (const s of await response.json()) $("live-style").append(new Option(s.title || s.name, s.name));
  }

  function settings() {
    return { style: $("live-style").value, size: $("live-size").value, strength: $("live-strength").value / 100 };
  }

  async function start() {
    if (live.ws) return;
    if (!navigator.mediaDevices?.getUserMedia) { say("this browser cannot use a camera here (it needs https or localhost)", true); return; }
    try {
      live.stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (err) {
      say("cannot use the camera: " + (err.message || err.name), true);
      return;
    }
    const video = $("live-camera");
    video.srcObject = live.stream;
    await video.play().catch(() => {});
    const params = new URLSearchParams(settings());
    if (token) params.set("token", token);
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/v1/live?${params}`);
    ws.binaryType = "arraybuffer";
    Object.assign(live, { ws, next: 1, resolved: 0, capturing: false, header: null, arrivals: [], latencies: [] });
    live.sent.clear();
    ws.onmessage = (e) => (typeof e.data === "string" ? onText(JSON.parse(e.data)) : onPicture(e.data));
    ws.onclose = (e) => {
      if (live.ws !== ws) return;
      if (e.code !== 1000 || e.reason) say(e.reason ? `the session ended: ${e.reason}` : "the connection was lost", e.code !== 1000);
      stop();
    };
    $("live-start").disabled = true; $("live-stop").disabled = false;
    say("connecting…");
  }

  function stop() {
    clearInterval(live.timer);
    live.timer = 0;
    if (live.ws) { const ws = live.ws; live.ws = null; ws.close(1000); }
    if (live.stream) { for (const t of live.stream.getTracks()) t.stop(); live.stream = null; }
    $("live-camera").srcObject = null;
    $("live-start").disabled = false; $("live-stop").disabled = true;
  }

  function resolve(frame) {  // every frame up to this one is answered (painted, dropped or refused)
    for (const n of live.sent.keys()) if (n < frame) live.sent.delete(n);
    live.resolved = Math.max(live.resolved, frame);
  }

  function onText(msg) {
    if (msg.ready) { say(`painting in ${msg.style} at ${msg.size} px`); live.timer = setInterval(pump, 10); return; }
    if (msg.error) { say(msg.error, true); if (msg.frame) resolve(msg.frame); return; }
    if (msg.changed) { say(`painting in ${msg.changed.style}, strength ${Math.round(msg.changed.strength * 100)}%`); return; }
    if (msg.frame) live.header = msg;  // the painted frame that comes next
  }

  function onPicture(data) {
    const header = live.header, now = performance.now();
    live.header = null;
    if (!header) return;
    const sentAt = live.sent.get(header.frame);
    resolve(header.frame);
    live.sent.delete(header.frame);
    if (sentAt !== undefined) live.latencies = [...live.latencies, now - sentAt].slice(-WINDOW);
    live.arrivals = [...live.arrivals, now].slice(-WINDOW);
    const img = $("live-result"), old = live.shown;
    live.shown = URL.createObjectURL(new Blob([data], { type: "image/jpeg" }));
    img.onload = () => { if (old) URL.revokeObjectURL(old); };
    img.src = live.shown;
    img.dataset.frames = String(+img.dataset.frames + 1);
    img.dataset.style = header.style;
    img.dataset.frame = String(header.frame);
    const a = live.arrivals, lat = [...live.latencies].sort((x, y) => x - y);
    if (a.length > 1) $("live-fps").textContent = `${((a.length - 1) * 1000 / (a[a.length - 1] - a[0])).toFixed(1)} frames/s`;
    if (lat.length) $("live-latency").textContent = `latency ${Math.round(lat[Math.floor(lat.length / 2)])} ms`;
  }

  function pump() {  // send the camera's current picture when fewer than IN_FLIGHT frames await an answer
    const ws = live.ws, video = $("live-camera");
    if (!ws || ws.readyState !== WebSocket.OPEN || live.capturing || video.readyState < 2 || !video.videoWidth) return;
    if (live.next - 1 - live.resolved >= IN_FLIGHT || ws.bufferedAmount > 0) return;
    const size = +$("live-size").value, scale = Math.min(1, size / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    live.capturing = true;
    canvas.toBlob((blob) => {
      live.capturing = false;
      if (!blob || live.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
      live.sent.set(live.next++, performance.now());
      ws.send(blob);
    }, "image/jpeg", JPEG_QUALITY);
  }

  $("live-start").addEventListener("click", start);
  $("live-stop").addEventListener("click", () => { stop(); say("stopped"); });
  function control(msg) { if (live.ws?.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify(msg)); }
  $("live-style").addEventListener("change", () => control({ style: $("live-style").value }));
  $("live-strength").addEventListener("input", () => { $("live-strength-out").textContent = $("live-strength").value + "%"; });
  $("live-strength").addEventListener("change", () => control({ strength: $("live-strength").value / 100 }));
  $("live-size").addEventListener("change", () => { if (live.ws) { stop(); start(); } });
})();
