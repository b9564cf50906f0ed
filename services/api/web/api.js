// The REST calls the page makes (v1 contract in ARCHITECTURE.md). The job token lives only in
// this page's memory: it is never written to storage, the URL or a cookie.

export class ApiError extends Error {
  constructor(status, code, message, retryAfterS = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  if (signal) signal.addEventListener("abort", () => { clearTimeout(timer); reject(abortError()); },
                                      { once: true });
});

function abortError() {
  return new ApiError(0, "aborted", "stopped");
}

export async function api(path, { token = null, method = "GET", json, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const init = { method, headers, signal, cache: "no-store" };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (signal && signal.aborted) throw abortError();
    throw new ApiError(0, "network", "The connection to the server was lost.");
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  const retry = Number(response.headers.get("Retry-After"));
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new ApiError(response.status, error.code || "http_" + response.status,
                       error.message || response.statusText, retry > 0 ? retry : null);
  }
  return { body, retryAfterS: retry > 0 ? retry : null };
}

// Storage answers S3's XML errors; the page needs the code (an expired upload reads
// "Request has expired" / AccessDenied on AWS and MinIO alike).
function storageError(xhr) {
  const text = xhr.responseText || "";
  const tag = (name) => {
    const match = text.match(new RegExp("<" + name + ">([^<]*)</" + name + ">"));
    return match ? match[1] : "";
  };
  // Storage's own wording ("Invalid according to Policy…") helps nobody: the code picks the words.
  const code = tag("Code");
  if (/expired/i.test(tag("Message")) || /expired/i.test(code)) {
    return new ApiError(xhr.status, "upload_expired", "");
  }
  if (code === "EntityTooLarge" || xhr.status === 413) return new ApiError(xhr.status, "too_large", "");
  return new ApiError(xhr.status, "upload_refused", "");
}

// POST the file to the presigned target with XMLHttpRequest: fetch() cannot report upload
// progress, XHR's upload.onprogress can.
export function upload(target, file, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(target.fields)) form.append(name, value);
    form.append("file", file);  // last: S3 ignores fields after the file
    const xhr = new XMLHttpRequest();
    xhr.open("POST", target.url);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(storageError(xhr));
    };
    xhr.onerror = () => reject(new ApiError(0, "network", "The upload was interrupted."));
    xhr.onabort = () => reject(abortError());
    if (signal) signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

// Poll the job until `done(job)` says stop. Waits what Retry-After says between polls; on a
// lost connection or a busy server, backs off (1, 2, 4 … 30 s) and tells `onTrouble`.
export async function poll(id, token, { onUpdate, done, onTrouble, signal }) {
  let backoffS = 1;
  for (;;) {
    let answer;
    try {
      answer = await api("/v1/jobs/" + encodeURIComponent(id), { token, signal });
    } catch (err) {
      if (err.code === "aborted" || !(err.status === 0 || err.status === 429 || err.status >= 500)) {
        throw err;
      }
      const waitS = err.retryAfterS || backoffS;
      if (onTrouble) onTrouble(err, waitS);
      await sleep(waitS * 1000, signal);
      backoffS = Math.min(backoffS * 2, 30);
      continue;
    }
    backoffS = 1;
    if (onTrouble) onTrouble(null, 0);
    onUpdate(answer.body);
    if (done(answer.body)) return answer.body;
    // Finished jobs carry no Retry-After (e.g. waiting for the purge): poll gently.
    await sleep(1000 * (answer.retryAfterS || 2), signal);
  }
}

export { sleep };
