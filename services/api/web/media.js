// What the chosen file holds, read by the browser before upload: its duration, and whether it has
// a picture — then the "Video" result (the same picture, the new sound) is offered and chosen:
// a video in, a video out. The server decides from the bytes either way.

const $ = (id) => document.getElementById(id);

// `done({ durationS, hasVideo })` once the browser has read the file's header. A <video>
// element reads audio files too; one it cannot read (e.g. H.265) is judged by its type.
export function probeMedia(file, done) {
  const probe = document.createElement("video");
  probe.preload = "metadata";
  probe.muted = true;
  probe.src = URL.createObjectURL(file);
  probe.addEventListener("loadedmetadata", () => {
    done({ durationS: probe.duration, hasVideo: probe.videoWidth > 0 });
    URL.revokeObjectURL(probe.src);
  }, { once: true });
  probe.addEventListener("error", () => {
    done({ durationS: NaN, hasVideo: (file.type || "").startsWith("video/") });
    URL.revokeObjectURL(probe.src);
  }, { once: true });
}

export function offerVideo(hasVideo, file) {
  const choice = $("format-video-choice");
  const input = choice.querySelector("input");
  choice.hidden = !hasVideo;
  if (hasVideo) {
    const ext = (file.name.split(".").pop() || "").toLowerCase();
    $("format-video-hint").textContent = ["mp4", "mov", "mkv", "webm"].includes(ext)
      ? `${ext.toUpperCase()}, picture untouched` : "picture untouched";
    input.checked = true;
  } else if (input.checked) {
    document.querySelector('input[name="format"][value="wav"]').checked = true;
  }
}
