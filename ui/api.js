// The admin API as the page uses it: every request carries the key from
// sessionStorage as a Bearer token, and GETs that answered with an ETag
// are asked again with If-None-Match, so an unchanged answer costs a 304
// and no body. Nothing here knows about the page's views.

const KEY_ITEM = "cronduct.admin-key";

export function storedKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function storeKey(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_ITEM);
}

/** A refused or failed request: `status` is the HTTP status (0 when the
 * daemon could not be reached), `message` the API's own `error` text. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// path -> { etag, body }: the last full answer of each conditional GET.
const held = new Map();

async function request(method, path, { body, conditional = false } = {}) {
  const headers = { Accept: "application/json" };
  const key = storedKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  const last = conditional ? held.get(path) : undefined;
  if (last) headers["If-None-Match"] = last.etag;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let answer;
  try {
    // no-store: the page does its own revalidation, so it sees the 304
    // instead of the browser cache's copy dressed up as a 200.
    answer = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (e) {
    throw new ApiError(0, `cannot reach the daemon: ${e.message}`);
  }
  if (answer.status === 304 && last) return { changed: false, body: last.body };
  let parsed = null;
  const text = await answer.text();
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!answer.ok && !(path === "/health" && answer.status === 503)) {
    const message = parsed && typeof parsed.error === "string" ? parsed.error : answer.statusText;
    throw new ApiError(answer.status, message || `HTTP ${answer.status}`);
  }
  const etag = answer.headers.get("ETag");
  if (conditional && etag) held.set(path, { etag, body: parsed });
  return { changed: true, body: parsed };
}

/** GET `path`; `{changed, body}`, where `changed` is false when the
 * daemon answered 304 and `body` is the copy held from before. */
export function getConditional(path) {
  return request("GET", path, { conditional: true });
}

export async function get(path) {
  return (await request("GET", path)).body;
}

export async function post(path, body) {
  return (await request("POST", path, { body })).body;
}

/** GET `path` as text, handing each piece to `onText` as it arrives (a
 * followed output sends pieces until the attempt ends); resolves once
 * the answer is complete. A refusal is an ApiError with the API's
 * reason, like the JSON calls. `signal` aborts it (an AbortError). */
export async function streamText(path, onText, signal) {
  const headers = { Accept: "text/plain, application/json" };
  const key = storedKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let answer;
  try {
    answer = await fetch(path, { headers, cache: "no-store", credentials: "omit", signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, `cannot reach the daemon: ${e.message}`);
  }
  if (!answer.ok) {
    let message = answer.statusText;
    try {
      const parsed = JSON.parse(await answer.text());
      if (parsed && typeof parsed.error === "string") message = parsed.error;
    } catch {
      // Not the API's JSON error: the status line says what there is.
    }
    throw new ApiError(answer.status, message || `HTTP ${answer.status}`);
  }
  const reader = answer.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onText(decoder.decode(value, { stream: true }), value.length);
  }
  const rest = decoder.decode();
  if (rest) onText(rest, 0);
}

/** Drops the held answers, so the next requests fetch everything again
 * (after the key changed, say). */
export function forgetAnswers() {
  held.clear();
}

export function jobPath(id, tail = "") {
  return `/api/v1/jobs/${encodeURIComponent(id)}${tail}`;
}
