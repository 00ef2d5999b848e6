// The public API, called with the session cookie; writes carry the session's CSRF token. Errors become ApiError
// with the API's own message (never a bare code).

let csrf = null;
export const session = {value: null};
// Bumped on every navigation: an answer to a request made before it never settles, so a slow view that was left
// cannot draw itself over the page the user went to.
export const navigation = {generation: 0};
const never = () => new Promise(() => {});

export function setSession(value) {
  session.value = value;
  csrf = value ? value.csrf_token : null;
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function describe(status, data, statusText) {
  const error = data && data.error;
  if (error && error.message) return new ApiError(status, error.code, error.message, error.details);
  return new ApiError(status, `http_${status}`, `The server answered ${status} ${statusText || ''}`.trim() + '.');
}

function headers(method, extra = {}) {
  const out = {...extra};
  if (method !== 'GET' && csrf) out['X-CSRF-Token'] = csrf;
  return out;
}

// A fresh Idempotency-Key for one create form: resubmitting it (a retry after a lost answer) never makes two.
// getRandomValues, not randomUUID: the latter exists only in secure contexts, and a campus may serve plain http.
export function idempotencyKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

// A read whose connection failed is sent once more after a moment (a blip, a keep-alive socket the server had just
// closed); a write is not: it may have reached the server, and only the caller knows whether repeating it is safe.
const RETRY_READ_AFTER_MS = 300;

async function fetchRetryingReads(path, init) {
  try {
    return await fetch(path, init);
  } catch (error) {
    if (init.method !== 'GET') throw error;
    await new Promise((resolve) => setTimeout(resolve, RETRY_READ_AFTER_MS));
    return fetch(path, init);
  }
}

export async function api(method, path, body, extra = {}) {
  const generation = navigation.generation;
  const init = {method, credentials: 'same-origin', headers: headers(method, extra)};
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetchRetryingReads(path, init);
  } catch {
    if (generation !== navigation.generation) return never();
    throw new ApiError(0, 'network', 'CloudFaster cannot be reached: check the connection and try again.');
  }
  const text = resp.status === 204 ? '' : await resp.text();
  if (generation !== navigation.generation) return never();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const error = describe(resp.status, data, resp.statusText);
    if (resp.status === 401 && !path.startsWith('/session')) window.dispatchEvent(new CustomEvent('cf-signed-out', {detail: error}));
    throw error;
  }
  return data;
}

export const get = (path) => api('GET', path);

// Every page of a list (the API pages with limit and cursor).
export async function getAll(path, limit = 200) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

// A multipart upload through XMLHttpRequest, the one browser API that reports upload progress.
export function upload(path, form, onProgress, extra = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    for (const [name, value] of Object.entries(headers('POST', extra))) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(describe(xhr.status, data, xhr.statusText));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'The upload was interrupted: check the connection and try again.')));
    xhr.send(form);
  });
}
