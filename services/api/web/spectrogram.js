// Before/after spectrograms drawn in the browser: decodeAudioData (at 48 kHz, so both pictures
// share one 0–24 kHz axis) → Hann-windowed 2048-point FFT per canvas column → dB → colour map.
// Also estimates how far up the spectrum the speech reaches: the number a person can check
// ("before: up to 4 kHz, after: up to 20 kHz") and what screen readers are told.

export const SPEC_RATE_HZ = 48000;
const FFT_SIZE = 2048;
const RANGE_DB = 80;
const BAND_FLOOR_DB = -60;  // below the long-term spectrum's peak: "no content here"
export const MAX_DRAW_BYTES = 80 * 1024 * 1024;  // past this, decoding in a tab is too heavy

export async function decodeMono(blob) {
  const context = new OfflineAudioContext(1, 1, SPEC_RATE_HZ);
  const buffer = await context.decodeAudioData(await blob.arrayBuffer());
  const mono = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const channel = buffer.getChannelData(c);
    for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / buffer.numberOfChannels;
  }
  return { samples: mono, rateHz: buffer.sampleRate, durationS: buffer.duration };
}

function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {  // bit-reversal permutation
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = (-2 * Math.PI) / len;
    const wr = Math.cos(angle);
    const wi = Math.sin(angle);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b] * cr - im[b] * ci;
        const ti = re[b] * ci + im[b] * cr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
        const next = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = next;
      }
    }
  }
}

// power[column][bin] for `columns` frames spread evenly over the signal.
export function powerFrames(samples, columns) {
  const window = new Float32Array(FFT_SIZE);
  for (let i = 0; i < FFT_SIZE; i++) window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FFT_SIZE);
  const bins = FFT_SIZE / 2;
  const frames = [];
  const re = new Float64Array(FFT_SIZE);
  const im = new Float64Array(FFT_SIZE);
  for (let col = 0; col < columns; col++) {
    const start = Math.round(((col + 0.5) / columns) * samples.length - FFT_SIZE / 2);
    for (let i = 0; i < FFT_SIZE; i++) {
      const idx = start + i;
      re[i] = idx >= 0 && idx < samples.length ? samples[idx] * window[i] : 0;
      im[i] = 0;
    }
    fft(re, im);
    const power = new Float32Array(bins);
    for (let k = 0; k < bins; k++) power[k] = re[k] * re[k] + im[k] * im[k];
    frames.push(power);
  }
  return frames;
}

// Highest frequency (Hz) where the long-term spectrum, smoothed over ~190 Hz, stays within
// 60 dB of its peak.
export function bandwidthHz(frames, rateHz) {
  const bins = frames[0].length;
  const mean = new Float64Array(bins);
  for (const power of frames) for (let k = 0; k < bins; k++) mean[k] += power[k];
  const smooth = 8;
  const db = new Float64Array(bins);
  let peak = -Infinity;
  for (let k = 0; k < bins; k++) {
    let sum = 0;
    let count = 0;
    for (let j = Math.max(1, k - smooth); j <= Math.min(bins - 1, k + smooth); j++) {
      sum += mean[j];
      count++;
    }
    db[k] = 10 * Math.log10(sum / count + 1e-20);
    if (k > 2 && db[k] > peak) peak = db[k];
  }
  let top = 0;
  for (let k = 0; k < bins; k++) if (db[k] > peak + BAND_FLOOR_DB) top = k;
  return ((top + 1) * rateHz) / FFT_SIZE;
}

function colourMap() {
  const stops = [[0, 0, 0, 4], [0.25, 81, 18, 124], [0.5, 183, 55, 121], [0.75, 252, 137, 97],
                 [1, 252, 253, 191]];
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let s = 0;
    while (s < stops.length - 2 && t > stops[s + 1][0]) s++;
    const [t0, r0, g0, b0] = stops[s];
    const [t1, r1, g1, b1] = stops[s + 1];
    const f = (t - t0) / (t1 - t0);
    lut.set([r0 + f * (r1 - r0), g0 + f * (g1 - g0), b0 + f * (b1 - b0)], i * 3);
  }
  return lut;
}
const LUT = colourMap();

export function draw(canvas, frames, rateHz) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  const scale = canvas.width / Math.max(1, canvas.clientWidth || canvas.width);
  const axisPx = Math.round(34 * scale);
  const plotW = width - axisPx;
  const bins = frames[0].length;
  const nyquistHz = rateHz / 2;
  let maxDb = -Infinity;
  const rows = frames.map((power) => {
    const column = new Float32Array(height);
    for (let y = 0; y < height; y++) {  // y = 0 is the top (Nyquist)
      const k0 = Math.floor(((height - 1 - y) / height) * bins);
      const k1 = Math.max(k0 + 1, Math.floor(((height - y) / height) * bins));
      let sum = 0;
      for (let k = k0; k < k1; k++) sum += power[k];
      column[y] = 10 * Math.log10(sum / (k1 - k0) + 1e-20);
      if (column[y] > maxDb) maxDb = column[y];
    }
    return column;
  });
  const image = ctx.createImageData(plotW, height);
  for (let x = 0; x < plotW; x++) {
    const column = rows[Math.min(rows.length - 1, Math.floor((x / plotW) * rows.length))];
    for (let y = 0; y < height; y++) {
      const level = Math.max(0, Math.min(1, 1 + (column[y] - maxDb) / RANGE_DB));
      const c = Math.round(level * 255) * 3;
      const p = (y * plotW + x) * 4;
      image.data[p] = LUT[c];
      image.data[p + 1] = LUT[c + 1];
      image.data[p + 2] = LUT[c + 2];
      image.data[p + 3] = 255;
    }
  }
  const style = getComputedStyle(canvas);
  ctx.fillStyle = style.getPropertyValue("--axis-bg").trim() || "#111";
  ctx.fillRect(0, 0, axisPx, height);
  ctx.putImageData(image, axisPx, 0);
  ctx.fillStyle = style.getPropertyValue("--axis-fg").trim() || "#ccc";
  ctx.font = Math.round(11 * scale) + "px system-ui, sans-serif";
  ctx.textAlign = "right";
  for (let khz = 0; khz <= nyquistHz / 1000; khz += 4) {
    const y = height - (khz * 1000 / nyquistHz) * height;
    ctx.fillText(khz + "k", axisPx - 5 * scale,
                 Math.min(height - 2 * scale, Math.max(10 * scale, y + 4 * scale)));
    ctx.fillRect(axisPx - 3 * scale, Math.min(height - scale, y), 3 * scale, scale);
  }
}

// Sized to the canvas' CSS box × devicePixelRatio, so axis labels stay sharp on a phone.
export async function render(canvas, blob) {
  const { samples, rateHz, durationS } = await decodeMono(blob);
  const ratio = window.devicePixelRatio || 1;
  if (canvas.clientWidth > 0) {
    canvas.width = Math.round(canvas.clientWidth * ratio);
    canvas.height = Math.round(canvas.clientHeight * ratio);
  }
  const axisPx = Math.round(34 * (canvas.width / Math.max(1, canvas.clientWidth || canvas.width)));
  const frames = powerFrames(samples, Math.min(2400, canvas.width - axisPx));
  draw(canvas, frames, rateHz);
  return { bandwidthHz: bandwidthHz(frames, rateHz), durationS };
}
