// Record in the browser: MediaRecorder, webm/opus where the browser has it (Safari: mp4/aac).
// The browser's own cleanup (echo cancellation, noise suppression, auto gain) is switched off:
// SpeakUp does that better, and doubled processing sounds worse.

const TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];

export function canRecord() {
  return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia
                 && typeof MediaRecorder !== "undefined");
}

export class Recorder {
  constructor({ onTick, onLevel }) {
    this.onTick = onTick;
    this.onLevel = onLevel;
    this.recorder = null;
  }

  get recording() {
    return this.recorder !== null && this.recorder.state === "recording";
  }

  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const mimeType = TYPES.find((t) => MediaRecorder.isTypeSupported(t)) || "";
    this.recorder = new MediaRecorder(this.stream, mimeType ? { mimeType } : {});
    this.chunks = [];
    this.recorder.addEventListener("dataavailable", (e) => { if (e.data.size) this.chunks.push(e.data); });
    this.recorder.start(1000);
    this.startedAt = performance.now();
    this.meter();
    this.timer = setInterval(() => this.onTick((performance.now() - this.startedAt) / 1000), 250);
  }

  meter() {
    try {
      this.context = new AudioContext();
      const source = this.context.createMediaStreamSource(this.stream);
      const analyser = this.context.createAnalyser();
      analyser.fftSize = 1024;
      source.connect(analyser);
      const data = new Float32Array(analyser.fftSize);
      const tick = () => {
        if (!this.recording) return;
        analyser.getFloatTimeDomainData(data);
        let peak = 0;
        for (const v of data) peak = Math.max(peak, Math.abs(v));
        this.onLevel(peak);
        requestAnimationFrame(tick);
      };
      tick();
    } catch (err) {
      this.context = null;  // a level meter is a nicety; recording works without it
    }
  }

  stop() {
    return new Promise((resolve) => {
      const recorder = this.recorder;
      recorder.addEventListener("stop", () => {
        clearInterval(this.timer);
        for (const track of this.stream.getTracks()) track.stop();
        if (this.context) this.context.close();
        const type = (recorder.mimeType || "audio/webm").split(";")[0];
        const ext = type.includes("mp4") ? "m4a" : type.includes("ogg") ? "ogg" : "webm";
        const stamp = new Date().toISOString().slice(0, 16).replace(/[-:T]/g, "");
        this.recorder = null;
        resolve(new File(this.chunks, "recording-" + stamp + "." + ext, { type }));
      }, { once: true });
      recorder.stop();
    });
  }
}
