// The result card: the enhanced file comes to this tab once (that is the one download the
// service allows; its grace period starts now), then before/after players, spectrograms,
// measurements, the download button, when the server copy is erased, and the deletion receipt.

import { api, poll } from "./api.js";
import { ABPlayer } from "./player.js";
import { MAX_DRAW_BYTES, render } from "./spectrogram.js";

const $ = (id) => document.getElementById(id);
let player = null;
let urls = [];
let watcher = null;
let current = null;

const REASONS = {
  deleted: "because you asked",
  downloaded: "after your download, as promised",
  ttl: "because its time limit passed",
  audit: "in a routine check",
};
const PRESET_TARGET = { podcast: -16, broadcast: -23, video: -14 };

const num = (v, digits = 1) => (typeof v === "number" ? v.toFixed(digits).replace("-", "−") : "–");
const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit",
                                                               second: "2-digit" });
const size = (n) => (n < 1e6 ? Math.max(1, Math.round(n / 1e3)) + " kB" : (n / 1e6).toFixed(1) + " MB");

function getPlayer() {
  if (!player) {
    player = new ABPlayer({
      before: $("audio-before"), after: $("audio-after"), play: $("play"), seek: $("seek"),
      timeNow: $("time-now"), timeTotal: $("time-total"), match: $("match"),
      radios: document.querySelectorAll('input[name="ab"]'), status: $("player-status"),
    });
  }
  return player;
}

export function resetResult() {
  if (player) player.unload();
  for (const url of urls) URL.revokeObjectURL(url);
  urls = [];
  if (watcher) watcher.abort();
  watcher = null;
  current = null;
  $("receipt").hidden = true;
  $("retention").textContent = "";
  $("facts").replaceChildren();
  $("quality-rows").replaceChildren();
  $("quality").hidden = true;
  for (const id of ["band-before", "band-after"]) $(id).textContent = "";
  const after = document.querySelector('input[name="ab"][value="after"]');
  if (after) after.checked = true;
}

function fact(term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  $("facts").append(dt, dd);
}

function fillFacts(job) {
  const m = job.metrics || {};
  const e = job.engine || {};
  const input = job.input || {};
  const target = PRESET_TARGET[job.options.preset];
  fact("Loudness", `${num(m.input_lufs)} → ${num(m.output_lufs)} LUFS`
       + (target !== undefined ? ` (target ${num(target, 0)})` : ""));
  fact("True peak", `${num(m.input_true_peak_dbtp)} → ${num(m.output_true_peak_dbtp)} dBTP`);
  fact("Length", `${num(m.output_duration_s ?? input.duration_s, 1)} s`);
  fact("Original", [input.codec, input.sample_rate_hz && input.sample_rate_hz / 1000 + " kHz",
                    input.channels && (input.channels === 1 ? "mono" : input.channels + " ch")]
    .filter(Boolean).join(" · ") || "–");
  fact("Delivered as", deliveredAs(job));
  fact("Enhancer", `${e.enhancer || "–"}${e.enhancer_version ? " · version " + e.enhancer_version : ""}`);
  fact("Bandwidth", bandwidthFact(job));
  const seconds = (m.enhance_s || 0) + (m.upsample_s || 0);
  if (seconds) fact("Processing time", `${num(seconds)} s`);
}

// Which engine restored the band, and where: above the recording's own cutoff where it had sound
// above 8 kHz (kept, denoised), everything above 8 kHz otherwise; nothing where it needed none.
function bandwidthFact(job) {
  const e = job.engine || {};
  const cutoff = (job.metrics || {}).bandwidth_in_hz;
  if (!e.upsampler) return "–";
  if (e.upsampler === "none") {
    return job.options.sample_rate_hz === 16000 ? "none (16 kHz asked for)"
      : "the recording's own, kept — nothing to restore";
  }
  const version = e.upsampler_version && e.upsampler_version !== "-"
    ? " · version " + e.upsampler_version : "";
  const where = typeof cutoff === "number" && cutoff > 8000
    ? ` · above ${num(cutoff / 1000, 1)} kHz, the recording's own below` : "";
  return `${e.upsampler}${version}${where}`;
}

const VIDEO_AUDIO = { mp4: "AAC", mov: "AAC", mkv: "Opus", webm: "Opus" };
const LOSSY = { mp3: "MP3", m4a: "M4A (AAC)", opus: "Opus" };

function deliveredAs(job) {
  const fmt = job.result?.format || job.metrics?.output_format || job.options.format;
  const khz = `${(job.result?.sample_rate_hz || job.options.sample_rate_hz) / 1000} kHz`;
  const kbps = job.options.bitrate_kbps ? ` ${job.options.bitrate_kbps} kbit/s` : "";
  if (VIDEO_AUDIO[fmt]) return `${fmt.toUpperCase()} video · picture untouched · ${VIDEO_AUDIO[fmt]}`
    + `${kbps} sound · ${khz}`;
  if (LOSSY[fmt]) return `${LOSSY[fmt]}${kbps || (fmt === "mp3" ? " VBR" : "")} · ${khz}`;
  return `${fmt.toUpperCase()} ${job.options.bit_depth}-bit · ${khz}`;
}

// Before/after DNSMOS (the job's quality report): one row per score, the change coloured.
const QUALITY_ROWS = [["sig", "Speech (SIG)"], ["bak", "Background (BAK)"], ["ovrl", "Overall (OVRL)"]];

function fillQuality(job) {
  const m = job.metrics || {};
  const rows = $("quality-rows");
  rows.replaceChildren();
  const have = QUALITY_ROWS.filter(([k]) => typeof m[`dnsmos_${k}_in`] === "number"
                                             && typeof m[`dnsmos_${k}_out`] === "number");
  $("quality").hidden = have.length === 0;
  for (const [key, label] of have) {
    const before = m[`dnsmos_${key}_in`];
    const after = m[`dnsmos_${key}_out`];
    const change = after - before;
    const tr = document.createElement("tr");
    tr.dataset.score = key;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = label;
    const cells = [num(before, 2), num(after, 2),
                   (change > 0 ? "+" : "") + num(change, 2)].map((text) => {
      const td = document.createElement("td");
      td.textContent = text;
      return td;
    });
    cells[2].className = change > 0.05 ? "up" : change < -0.05 ? "down" : "";
    tr.append(th, ...cells);
    rows.append(tr);
  }
  if (typeof m.bandwidth_in_hz === "number" && typeof m.bandwidth_out_hz === "number") {
    const tr = document.createElement("tr");
    tr.dataset.score = "bandwidth";
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = "Sound up to";
    const khz = (hz) => num(hz / 1000, 1) + " kHz";
    const cells = [khz(m.bandwidth_in_hz), khz(m.bandwidth_out_hz), ""].map((text) => {
      const td = document.createElement("td");
      td.textContent = text;
      return td;
    });
    tr.append(th, ...cells);
    rows.append(tr);
  }
}

function retention(job) {
  if (!job.expires_at) return;
  const minutes = Math.max(1, Math.round((Date.parse(job.expires_at) - Date.now()) / 60000));
  $("retention").textContent = `Your original and the enhanced file are on our server until `
    + `${clock(job.expires_at)} (about ${minutes} min from now), then erased automatically — `
    + `or right away when you download with the box ticked. The copy in this page stays until you `
    + `close it.`;
}

function showReceipt(job) {
  const d = job.deletion || {};
  const when = d.deleted_at ? clock(d.deleted_at) : "just now";
  $("receipt-text").textContent = `Your audio was erased from our server at ${when} `
    + `${REASONS[d.reason] || ""}: ${d.objects ?? 0} file${d.objects === 1 ? "" : "s"} `
    + `(${size(d.bytes || 0)}) deleted` + (d.verified_empty ? ", and the storage was checked empty."
      : ". The storage check is still pending.") + " The copy in this page still plays and "
    + "downloads until you close it.";
  $("retention").textContent = "";
  $("receipt").hidden = false;
  document.body.dataset.phase = "erased";
}

async function drawSpectra(file, blob) {
  for (const [name, source] of [["before", file], ["after", blob]]) {
    const label = $("band-" + name);
    const canvas = $("spec-" + name);
    if (source.size > MAX_DRAW_BYTES) {
      label.textContent = "— too long to draw here";
      continue;
    }
    try {
      const { bandwidthHz } = await render(canvas, source);
      const khz = (bandwidthHz / 1000).toFixed(1);
      label.textContent = `— sound up to ≈ ${khz} kHz`;
      canvas.dataset.bandwidthHz = String(Math.round(bandwidthHz));
      canvas.setAttribute("aria-label", `Spectrogram ${name}: sound up to about ${khz} kHz`);
    } catch (err) {
      label.textContent = "— this browser cannot decode it";
    }
  }
  document.body.dataset.spectra = "drawn";
}

function watchErasure(jobRef) {
  watcher = new AbortController();
  poll(jobRef.id, jobRef.token, {
    signal: watcher.signal,
    onUpdate: () => {},
    done: (j) => j.status === "purged" || j.status === "expired" || j.status === "cancelled",
  }).then(showReceipt, () => {});
}

async function erase(jobRef) {
  $("retention").textContent = "Erasing your audio from our server…";
  await api(`/v1/jobs/${encodeURIComponent(jobRef.id)}`, { method: "DELETE", token: jobRef.token })
    .catch(() => { $("retention").textContent = "Could not reach the server to erase now; it "
      + "will erase the audio automatically."; });
}

export async function showResult({ job, jobRef, file, signal, setPhase, show }) {
  const link = await api(`/v1/jobs/${encodeURIComponent(jobRef.id)}/result`,
                         { token: jobRef.token, signal });
  let blob = null;
  try {
    const response = await fetch(link.body.download_url, { signal, cache: "no-store" });
    if (response.ok) blob = await response.blob();
  } catch (err) {
    if (signal.aborted) throw err;
  }
  const fresh = (await api(`/v1/jobs/${encodeURIComponent(jobRef.id)}`, { token: jobRef.token,
                                                                        signal })).body;
  current = { jobRef };
  fillFacts(fresh);
  fillQuality(fresh);
  retention(fresh);
  const fmt = fresh.result?.format || job.options.format;
  const download = $("download");
  download.download = file.name.replace(/\.[^.]+$/, "") + "-speakup." + fmt;
  const beforeUrl = URL.createObjectURL(file);
  urls.push(beforeUrl);
  if (blob) {
    const afterUrl = URL.createObjectURL(blob);
    urls.push(afterUrl);
    download.href = afterUrl;
    getPlayer().load(beforeUrl, afterUrl, { beforeLufs: fresh.metrics.input_lufs,
                                            afterLufs: fresh.metrics.output_lufs });
  } else {
    // Storage without CORS for this page: no preview, but the link still downloads.
    download.href = link.body.download_url;
    $("player-status").textContent = "The preview is not available from this storage; "
      + "the download works.";
  }
  download.onclick = () => {
    if ($("erase-after").checked && current) setTimeout(() => erase(current.jobRef), 300);
  };
  setPhase("ready");
  show("result-card");
  watchErasure(jobRef);
  if (blob) drawSpectra(file, blob);
}
