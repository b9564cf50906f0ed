// error.code → words a person understands, and what to do next. `retry`: the same file may work
// a second time (the Try again button); otherwise another file is needed.

const UNSUPPORTED = {
  title: "We can't read this file",
  next: "Export the recording as m4a, mp3, wav or flac (most phone and computer recorders can) "
        + "and upload that instead.",
};

const FAILED = {
  title: "Processing failed",
  next: "This is on our side, not yours. Try again in a minute; if it keeps failing, choose "
        + "“Automatic” under Advanced.",
  retry: true,
};

const TABLE = {
  not_audio: UNSUPPORTED,
  unsupported_content_type: UNSUPPORTED,
  unsupported_media_type: UNSUPPORTED,
  no_audio_stream: { title: "This file has no sound", next: "Choose a recording with an audio track." },
  corrupt_audio: { title: "The file is damaged", next: "Export or copy the recording again and upload the new file." },
  decode_timeout: { title: "The file is damaged", next: "Export or copy the recording again and upload the new file." },
  invalid_samples: { title: "The file is damaged", next: "Export the recording again as wav or flac." },
  too_many_streams: { title: "Too many tracks in this file", next: "Export just the voice track and upload it." },
  too_many_channels: { title: "Too many channels", next: "Export the recording as mono or stereo." },
  unsupported_sample_rate: { title: "Unusual sample rate", next: "Export the recording at 44.1 or 48 kHz." },
  too_long: { title: "The recording is too long", next: "Split it into parts of under 3 hours and upload them one by one." },
  too_short: { title: "The recording is too short", next: "Upload at least a second of speech." },
  silent_audio: { title: "The recording is silent", next: "Check that the microphone was on, then record again." },
  unsupported_bit_depth: { title: "The WAV file is damaged", next: "Export the recording again as a 16- or 24-bit WAV (or as flac or m4a)." },
  malformed_wav_header: { title: "The WAV file is damaged", next: "Export the recording again as a 16- or 24-bit WAV (or as flac or m4a)." },
  no_video_stream: { title: "This file has no video we can keep", next: "Choose the file again and pick an audio format (WAV, FLAC, MP3, M4A or Opus)." },
  video_not_remuxable: { title: "The video cannot be kept in that format", next: "Choose the file again and pick “Video” (its own container) or an audio format." },
  empty_file: { title: "The file is empty", next: "Choose the recording again; it may not have finished saving." },
  file_too_large: { title: "The file is too big", next: "Trim silence at the ends, or export it at a lower bitrate (e.g. m4a), then upload again." },
  too_large: { title: "The file is too big", next: "Trim silence at the ends, or export it at a lower bitrate (e.g. m4a), then upload again." },
  upload_expired: {
    title: "The upload link expired",
    next: "The upload took longer than the link allowed. Press Try again: you get a fresh link.",
    retry: true,
  },
  upload_refused: { title: "The upload was refused", next: "Press Try again; if it happens again, try a smaller file.", retry: true },
  upload_missing: { title: "The upload did not arrive", next: "Press Try again to upload the file once more.", retry: true },
  network: {
    title: "The connection was lost",
    next: "Check your internet connection, then press Try again.",
    retry: true,
  },
  rate_limited: { title: "Too many recordings at once", next: "Wait a minute, then press Try again.", retry: true },
  unavailable: { title: "The service is busy", next: "Wait a minute, then press Try again.", retry: true },
  expired: {
    title: "The job expired",
    next: "It waited too long and its audio was erased. Upload the recording again.",
    retry: true,
  },
  cancelled: { title: "Cancelled", next: "The recording was erased. Choose a file to start again.", retry: true },
  processing_timeout: {
    title: "Processing took too long",
    next: "Try a shorter recording, or split this one into parts.",
  },
  worker_lost: FAILED,
  job_failed: FAILED,
  unknown_engine: {
    title: "That enhancer is not installed here",
    next: "Choose “Automatic” under Advanced and try again.",
    retry: true,
  },
  unknown_upsampler: {
    title: "That bandwidth restorer is not installed here",
    next: "Choose “Automatic” under Advanced and try again.",
    retry: true,
  },
  purged: { title: "The result was already erased", next: "Upload the recording again to get a new result.", retry: true },
};

export function explain(code, serverMessage) {
  const entry = TABLE[code] || FAILED;
  // The server's message is written for people too (shared/audio/errors.py); keep it when the
  // table has nothing more specific than the generic failure.
  const message = serverMessage && !/^http_/.test(code) ? serverMessage : "";
  return {
    title: entry.title,
    message,
    next: entry.next,
    retry: Boolean(entry.retry),
    code,
  };
}

export const STAGE_WORDS = {
  awaiting_upload: "Uploading",
  queued: "Waiting for a free worker",
  enhancing: "Removing noise and echo",
  upsampling: "Restoring full bandwidth",
  mastering: "Setting the loudness",
  succeeded: "Done",
  downloaded: "Done",
};
