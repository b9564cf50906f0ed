// SpeakUp's page: choose/drop/record → create a job → upload straight to storage (presigned POST,
// real progress) → submit → live progress by stage → result (see result.js).
// `document.body.dataset.phase` says where the page is (idle, uploading, processing, ready,
// erased, error): styling hooks, and what the browser tests wait on.

import { ApiError, api, poll, upload } from "./api.js";
import { explain, STAGE_WORDS } from "./messages.js";
import { offerVideo, probeMedia } from "./media.js";
import { Recorder, canRecord } from "./recorder.js";
import { showResult, resetResult } from "./result.js";

const $ = (id) => document.getElementById(id);
const KNOWN_TYPES = {
  wav: "audio/wav", flac: "audio/flac", mp3: "audio/mpeg", m4a: "audio/mp4", aac: "audio/aac",
  ogg: "audio/ogg", oga: "audio/ogg", opus: "audio/opus", webm: "audio/webm", mp4: "video/mp4",
  mov: "video/quicktime", mkv: "video/x-matroska",
};
const STEPS = ["upload", "queued", "enhancing", "upsampling", "mastering"];
const MASTERING_FROM = 0.65 + 0.35 * 0.7;  // the upsample stage masters in its last 30 %

const state = { file: null, job: null, controller: null, lastStep: null };

export const bytes = (n) => (n < 1e6 ? Math.max(1, Math.round(n / 1e3)) + " kB"
  : (n / 1e6).toFixed(n < 1e7 ? 1 : 0) + " MB");

function setPhase(phase) {
  document.body.dataset.phase = phase;
}

function show(id) {
  for (const card of ["job-form", "progress-card", "error-card", "result-card"]) {
    $(card).hidden = card !== id;
  }
  const heading = $(id).querySelector("h1, h2");
  if (id !== "job-form" && heading) heading.focus();
}

// -- choosing a recording --------------------------------------------------------------------
function choose(file) {
  if (!file) return;
  state.file = file;
  $("chosen-name").textContent = file.name;
  $("chosen-facts").textContent = " · " + bytes(file.size);
  $("chosen").hidden = false;
  $("drop").classList.add("has-file");
  offerVideo(false);
  probeMedia(file, ({ durationS, hasVideo }) => {
    if (state.file !== file) return;
    if (Number.isFinite(durationS)) {
      const s = Math.round(durationS);
      $("chosen-facts").textContent = " · " + bytes(file.size) + " · "
        + Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
    }
    offerVideo(hasVideo, file);
  });
  $("start").focus();
}

function clearChoice() {
  state.file = null;
  offerVideo(false);
  $("file").value = "";
  $("chosen").hidden = true;
  $("drop").classList.remove("has-file");
  $("file").focus();
}

function contentType(file) {
  const type = (file.type || "").split(";")[0].trim().toLowerCase();
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  if (Object.values(KNOWN_TYPES).includes(type) || type === "audio/x-wav" || type === "audio/x-m4a") {
    return type;
  }
  // Unknown to us: the worker decodes the bytes and never trusts the type anyway.
  return KNOWN_TYPES[ext] || "application/octet-stream";
}

function options() {
  const picked = (name) => document.querySelector(`input[name="${name}"]:checked`).value;
  return {
    preset: picked("preset"),
    strength: Number($("strength").value) / 100,
    format: picked("format"),
    sample_rate_hz: Number(picked("rate")),
    bit_depth: 24,
    engine: $("engine").value,
    upsampler: $("upsampler").value,
  };
}

// -- progress --------------------------------------------------------------------------------
function markSteps(current, detail) {
  const at = STEPS.indexOf(current);
  for (const li of document.querySelectorAll("#steps li")) {
    const i = STEPS.indexOf(li.dataset.step);
    li.dataset.state = i < at ? "done" : i === at ? "active" : "waiting";
    if (i === at) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  }
  if (current !== state.lastStep) {
    state.lastStep = current;
    const words = current === "upload" ? "Uploading" : STAGE_WORDS[current];
    $("bar-caption").textContent = words;
    $("live").textContent = words + "…";
  }
  if (detail !== undefined) $("bar-percent").textContent = detail;
}

function onUpload(loaded, total, startedAt) {
  const fraction = total ? loaded / total : 0;
  const seconds = (performance.now() - startedAt) / 1000;
  const speed = seconds > 0.2 ? " · " + bytes(loaded / seconds) + "/s" : "";
  $("upload-progress").value = Math.round(fraction * 100);
  $("upload-detail").textContent = bytes(loaded) + " of " + bytes(total) + speed;
  markSteps("upload", Math.round(fraction * 100) + " %");
}

function onJob(job) {
  let step = job.status === "awaiting_upload" ? "upload" : job.status;
  if (step === "upsampling" && job.progress >= MASTERING_FROM) step = "mastering";
  if (job.status === "succeeded" || job.status === "downloaded") step = "done";
  const percent = Math.round(job.progress * 100);
  $("job-progress").value = percent;
  if (step === "done") {
    for (const li of document.querySelectorAll("#steps li")) li.dataset.state = "done";
    $("bar-caption").textContent = "Done";
    $("bar-percent").textContent = "100 %";
    return;
  }
  if (STEPS.includes(step)) markSteps(step, percent + " %");
}

// -- the whole flow --------------------------------------------------------------------------
async function run() {
  const file = state.file;
  state.controller = new AbortController();
  const signal = state.controller.signal;
  state.lastStep = null;
  state.job = null;
  $("upload-progress").value = 0;
  $("job-progress").value = 0;
  $("upload-detail").textContent = "";
  $("progress-name").textContent = file.name;
  setPhase("uploading");
  show("progress-card");
  markSteps("upload", "0 %");

  const created = await api("/v1/jobs", {
    method: "POST", signal,
    json: { filename: file.name, content_type: contentType(file), size_bytes: file.size,
            options: options() },
  });
  state.job = { id: created.body.id, token: created.body.token };
  const startedAt = performance.now();
  await upload(created.body.upload, file, (l, t) => onUpload(l, t, startedAt), signal);
  onUpload(file.size, file.size, startedAt);
  await api(`/v1/jobs/${encodeURIComponent(state.job.id)}/submit`,
            { method: "POST", token: state.job.token, signal });
  setPhase("processing");
  const job = await poll(state.job.id, state.job.token, {
    signal,
    onUpdate: onJob,
    done: (j) => !["awaiting_upload", "queued", "enhancing", "upsampling"].includes(j.status),
    onTrouble: (err, waitS) => {
      $("connection").textContent = err ? `Connection trouble — trying again in ${waitS} s.` : "";
    },
  });
  if (!["succeeded", "downloaded"].includes(job.status)) {
    const error = job.error || { code: job.status, message: "" };
    throw new ApiError(0, error.code, error.message);
  }
  onJob(job);
  await showResult({ job, jobRef: state.job, file, signal, setPhase, show });
}

function fail(err) {
  if (err && err.code === "aborted") return;
  const why = explain(err.code || "job_failed", err.message);
  $("error-title").textContent = why.title;
  $("error-message").textContent = why.message;
  $("error-message").hidden = !why.message;
  $("error-next").textContent = why.next;
  $("retry").hidden = !why.retry;
  document.body.dataset.errorCode = why.code;
  setPhase("error");
  show("error-card");
}

function start() {
  if (!state.file) {
    $("file").focus();
    $("drop").classList.add("want");
    $("record-status").textContent = "Choose or record a recording first.";
    return;
  }
  resetResult();
  run().catch(fail);
}

async function cancel() {
  if (state.controller) state.controller.abort();
  if (state.job) {
    await api(`/v1/jobs/${encodeURIComponent(state.job.id)}`,
              { method: "DELETE", token: state.job.token }).catch(() => {});
  }
  fail(new ApiError(0, "cancelled", "You cancelled the job; its audio was erased."));
}

function restart() {
  resetResult();
  setPhase("idle");
  show("job-form");
  clearChoice();
}

// -- recording -------------------------------------------------------------------------------
const recorder = new Recorder({
  onTick: (s) => {
    $("record-status").textContent = "Recording " + Math.floor(s / 60) + ":"
      + String(Math.floor(s % 60)).padStart(2, "0");
  },
  onLevel: (peak) => {
    const canvas = $("record-level");
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = peak > 0.9 ? "#e5484d" : "#3fb68b";
    ctx.fillRect(0, 0, Math.min(1, peak) * canvas.width, canvas.height);
  },
});

async function toggleRecording() {
  const button = $("record");
  if (recorder.recording) {
    const file = await recorder.stop();
    button.setAttribute("aria-pressed", "false");
    $("record-label").textContent = "Record again";
    $("record-level").hidden = true;
    $("record-status").textContent = "Recorded " + bytes(file.size) + ".";
    choose(file);
    return;
  }
  try {
    await recorder.start();
  } catch (err) {
    $("record-status").textContent = "The microphone is not available: allow access to it, "
      + "or choose a file instead.";
    return;
  }
  button.setAttribute("aria-pressed", "true");
  $("record-label").textContent = "Stop recording";
  $("record-level").hidden = false;
}

// -- wiring ----------------------------------------------------------------------------------
function wire() {
  $("file").addEventListener("change", () => choose($("file").files[0]));
  $("clear").addEventListener("click", clearChoice);
  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) choose(e.dataTransfer.files[0]);
  });
  $("strength").addEventListener("input", () => {
    $("strength-out").textContent = $("strength").value + " %";
  });
  $("job-form").addEventListener("submit", (e) => { e.preventDefault(); start(); });
  $("cancel").addEventListener("click", cancel);
  $("retry").addEventListener("click", start);
  $("restart").addEventListener("click", restart);
  $("another").addEventListener("click", restart);
  if (canRecord()) $("record").addEventListener("click", toggleRecording);
  else $("record").hidden = true;
  // Leaving mid-upload loses the job (the server erases it on its TTL): ask first.
  window.addEventListener("beforeunload", (e) => {
    if (["uploading", "processing"].includes(document.body.dataset.phase)) e.preventDefault();
  });
  setPhase("idle");
}

wire();
