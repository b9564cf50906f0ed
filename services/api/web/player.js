// One transport for two recordings: Before/After switch at the same position, so a person hears
// exactly what changed. "Match loudness" turns the louder one down by the measured LUFS
// difference (an <audio> element can only attenuate), so the comparison is about the cleanup.

const fmt = (seconds) => {
  if (!Number.isFinite(seconds)) return "0:00";
  const s = Math.max(0, Math.floor(seconds));
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
};

export class ABPlayer {
  constructor(root) {
    this.el = root;
    this.audio = { before: root.before, after: root.after };
    this.which = "after";
    this.gainDb = { before: 0, after: 0 };
    this.dragging = false;
    root.play.addEventListener("click", () => this.toggle());
    for (const radio of root.radios) {
      radio.addEventListener("change", () => { if (radio.checked) this.switchTo(radio.value); });
    }
    root.seek.addEventListener("input", () => {
      this.dragging = true;
      this.seekTo((Number(root.seek.value) / 1000) * this.duration());
    });
    root.seek.addEventListener("change", () => { this.dragging = false; });
    root.match.addEventListener("change", () => this.applyLevels());
    for (const [name, audio] of Object.entries(this.audio)) {
      audio.addEventListener("timeupdate", () => { if (name === this.which) this.paint(); });
      audio.addEventListener("loadedmetadata", () => this.paint());
      audio.addEventListener("ended", () => { if (name === this.which) this.stopped(); });
      audio.addEventListener("play", () => this.paintButton());
      audio.addEventListener("pause", () => this.paintButton());
    }
  }

  load(beforeUrl, afterUrl, loudness) {
    this.audio.before.src = beforeUrl;
    this.audio.after.src = afterUrl;
    // Attenuate the louder one by the difference; unknown loudness → no change.
    const diff = (loudness.afterLufs ?? 0) - (loudness.beforeLufs ?? 0);
    this.gainDb = diff > 0 ? { before: 0, after: -diff } : { before: diff, after: 0 };
    this.applyLevels();
    this.paint();
  }

  unload() {
    for (const audio of Object.values(this.audio)) {
      audio.pause();
      audio.removeAttribute("src");
      audio.load();
    }
  }

  active() {
    return this.audio[this.which];
  }

  duration() {
    const d = this.audio.after.duration;
    return Number.isFinite(d) ? d : (this.audio.before.duration || 0);
  }

  applyLevels() {
    const match = this.el.match.checked;
    for (const name of ["before", "after"]) {
      const db = match ? this.gainDb[name] : 0;
      this.audio[name].volume = Math.min(1, Math.max(0, 10 ** (db / 20)));
    }
  }

  async toggle() {
    const audio = this.active();
    if (audio.paused) {
      try {
        await audio.play();
      } catch (err) {
        this.el.status.textContent = "This browser cannot play the "
          + (this.which === "before" ? "original" : "enhanced") + " recording.";
      }
    } else {
      audio.pause();
    }
  }

  switchTo(which) {
    if (which === this.which) return;
    const from = this.active();
    const to = this.audio[which];
    const playing = !from.paused;
    const position = from.currentTime;
    from.pause();
    to.currentTime = Math.min(position, Number.isFinite(to.duration) ? to.duration : position);
    this.which = which;
    for (const radio of this.el.radios) radio.checked = radio.value === which;
    if (playing) to.play().catch(() => {});
    this.el.status.textContent = "Now playing: " + (which === "before" ? "before" : "after");
    this.paint();
  }

  seekTo(seconds) {
    for (const audio of Object.values(this.audio)) {
      if (Number.isFinite(audio.duration)) audio.currentTime = Math.min(seconds, audio.duration);
    }
    this.paint();
  }

  stopped() {
    for (const audio of Object.values(this.audio)) audio.currentTime = 0;
    this.paint();
  }

  paintButton() {
    const playing = !this.active().paused;
    this.el.play.classList.toggle("playing", playing);
    this.el.play.setAttribute("aria-label", playing ? "Pause" : "Play");
  }

  paint() {
    const now = this.active().currentTime;
    const total = this.duration();
    if (!this.dragging && total > 0) this.el.seek.value = String(Math.round((now / total) * 1000));
    this.el.seek.setAttribute("aria-valuetext", fmt(now) + " of " + fmt(total));
    this.el.timeNow.textContent = fmt(now);
    this.el.timeTotal.textContent = fmt(total);
    this.paintButton();
  }
}
