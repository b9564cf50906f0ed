// Minimal SpeakUp client: create a job, upload with progress to the presigned POST, submit,
// poll the status (honouring Retry-After), then fetch a short-lived download link.
// The job token lives only in this page's memory.
"use strict";

const $ = (id) => document.getElementById(id);

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  $("start").disabled = false;
}

async function api(path, token, init = {}) {
  const headers = Object.assign({ Accept: "application/json" }, init.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, Object.assign({}, init, { headers }));
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && body.error ? body.error.message : response.statusText;
    throw new Error(detail + " (HTTP " + response.status + ")");
  }
  return { response, body };
}

function upload(target, file) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(target.fields)) form.append(name, value);
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", target.url);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) $("upload-progress").value = event.loaded / event.total;
    };
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300
      ? resolve() : reject(new Error("upload refused (HTTP " + xhr.status + ")")));
    xhr.onerror = () => reject(new Error("upload failed: network error"));
    xhr.send(form);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function poll(id, token) {
  for (;;) {
    const { response, body } = await api("/v1/jobs/" + encodeURIComponent(id), token);
    $("job-progress").value = body.progress;
    $("status").textContent = body.status;
    if (body.status === "succeeded" || body.status === "downloaded") return body;
    if (body.error) throw new Error(body.error.message + " (" + body.error.code + ")");
    if (!response.headers.get("Retry-After")) throw new Error("job ended: " + body.status);
    await sleep(1000 * Number(response.headers.get("Retry-After")));
  }
}

async function run(file) {
  const options = {
    preset: $("preset").value,
    strength: Number($("strength").value),
    sample_rate_hz: Number($("sample-rate").value),
    format: $("format").value,
  };
  const created = await api("/v1/jobs", null, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      filename: file.name,
      content_type: file.type || "application/octet-stream",
      size_bytes: file.size,
      options,
    }),
  });
  const { id, token, upload: target } = created.body;
  await upload(target, file);
  $("upload-progress").value = 1;
  await api("/v1/jobs/" + encodeURIComponent(id) + "/submit", token, { method: "POST" });
  await poll(id, token);
  // Accept: application/json → the presigned URL as JSON (a cross-origin 303 is unreadable).
  const link = await api("/v1/jobs/" + encodeURIComponent(id) + "/result", token);
  $("download").href = link.body.download_url;
  $("result").hidden = false;
  $("status").textContent = "done — download within a few minutes";
}

$("job-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) return showError("Choose a recording first.");
  $("error").hidden = true;
  $("result").hidden = true;
  $("progress-section").hidden = false;
  $("start").disabled = true;
  run(file).then(() => { $("start").disabled = false; }, (err) => showError(err.message));
});
