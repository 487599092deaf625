// The console's only script: live regions, waiting timers and the new-hand-off chime. No framework, no CDN.
"use strict";

// A region marked data-live="ticket device" reloads its data-src whenever the server says such a thing changed.
// A region where someone is typing (a note) waits: replacing it would throw their words away.
function busy(region) {
  if (region.contains(document.activeElement) && document.activeElement.matches("textarea, input, select")) return true;
  return [...region.querySelectorAll("textarea, input:not([type=hidden])")].some((field) => field.value !== field.defaultValue);
}

function reloadRegion(region) {
  if (busy(region)) {
    if (!region.dataset.waiting) {
      region.dataset.waiting = "1";
      setTimeout(() => { delete region.dataset.waiting; reloadRegion(region); }, 1000);
    }
    return;
  }
  if (region.dataset.loading) { region.dataset.again = "1"; return; }
  region.dataset.loading = "1";
  const before = new Set([...region.querySelectorAll("[data-ticket]")].map((el) => el.dataset.ticket));
  fetch(region.dataset.src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
    .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
    .then((html) => {
      region.innerHTML = html;
      const arrived = [...region.querySelectorAll("[data-ticket]")].some((el) => !before.has(el.dataset.ticket));
      if (arrived && region.dataset.chime) chime();
      tickTimers();
    })
    .catch(() => {})
    .finally(() => {
      delete region.dataset.loading;
      if (region.dataset.again) { delete region.dataset.again; reloadRegion(region); }
    });
}

function listen() {
  const regions = [...document.querySelectorAll("[data-live]")];
  if (!regions.length || !document.body.dataset.csrf) return;
  const events = new EventSource("/api/events");
  for (const kind of ["ticket", "device", "rollout"]) {
    events.addEventListener(kind, () => {
      for (const region of regions) {
        if (region.dataset.live.split(" ").includes(kind)) reloadRegion(region);
      }
    });
  }
  events.onopen = () => document.body.classList.remove("disconnected");
  events.onerror = () => document.body.classList.add("disconnected");
}

// How long each customer has waited: amber after 2 minutes, red after 5.
const AMBER_S = 120;
const RED_S = 300;

function tickTimers() {
  const now = Date.now();
  for (const timer of document.querySelectorAll(".timer[data-since]")) {
    if (timer.dataset.stopped) continue;
    const waited = Math.max(0, Math.floor((now - Date.parse(timer.dataset.since)) / 1000));
    const minutes = Math.floor(waited / 60);
    timer.textContent = `${minutes}:${String(waited % 60).padStart(2, "0")}`;
    timer.classList.toggle("amber", waited >= AMBER_S && waited < RED_S);
    timer.classList.toggle("red", waited >= RED_S);
  }
}

// Two short tones, made in the browser (no sound file); browsers allow it once the page has been clicked.
let audio = null;
function chime() {
  try {
    audio = audio || new AudioContext();
    [880, 660].forEach((hz, i) => {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = hz;
      gain.gain.setValueAtTime(0.2, audio.currentTime + i * 0.2);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + i * 0.2 + 0.18);
      tone.connect(gain).connect(audio.destination);
      tone.start(audio.currentTime + i * 0.2);
      tone.stop(audio.currentTime + i * 0.2 + 0.2);
    });
  } catch (e) { /* no audio device: the list still changes */ }
  document.title = "● " + document.title.replace(/^● /, "");
}

document.addEventListener("DOMContentLoaded", () => {
  listen();
  tickTimers();
  setInterval(tickTimers, 1000);
  document.addEventListener("click", () => { document.title = document.title.replace(/^● /, ""); });
});
