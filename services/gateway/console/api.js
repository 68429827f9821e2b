// The public ops API as the console calls it: the staff session (in sessionStorage only: never localStorage, never a
// cookie, so it ends with the tab and no other site's request carries it), its refresh, and errors as the problem
// documents' own `detail`.

const STORED = "sekisho.ops.session";
let refreshing = null;
let timer = null;

export class ApiError extends Error {
  constructor(status, problem) {
    const violations = (problem.violations || []).map((v) => `${v.field}: ${v.message}`);
    super([problem.detail || problem.title || `HTTP ${status}`, ...violations].join(" "));
    this.status = status;
    this.code = problem.code || "";
    this.problem = problem;
  }
}

function claimsOf(token) {
  // Read for the screen only (which menus to show); the gateway checks the token and the role on every call.
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(STORED) || "null");
  } catch {
    return null;
  }
}

function keep(tokens) {
  const claims = claimsOf(tokens.access_token);
  const kept = {
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token || null,
    expires_at: Date.now() + tokens.expires_in * 1000,
    expires_in: tokens.expires_in,
    staff_id: claims.sub,
    role: claims.role || "",
  };
  sessionStorage.setItem(STORED, JSON.stringify(kept));
  scheduleRefresh();
  return kept;
}

// `expired`: the API ended it (idle, end of shift, a reused refresh token), not the staff member's own logout.
export function endSession(expired = true) {
  sessionStorage.removeItem(STORED);
  clearTimeout(timer);
  window.dispatchEvent(new CustomEvent("ops-session-ended", { detail: { expired } }));
}

// Renewed before the access token runs out, while the shift's session lasts.
export function scheduleRefresh() {
  clearTimeout(timer);
  const kept = session();
  if (!kept || !kept.refresh_token) return;
  const early = Math.min(60, kept.expires_in / 5) * 1000;
  timer = setTimeout(() => refresh().catch(() => endSession()), Math.max(1000, kept.expires_at - Date.now() - early));
}

async function send(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  const text = await response.text();
  let parsed = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { detail: text.slice(0, 200) };
  }
  return { status: response.status, body: parsed };
}

export async function refresh() {
  const kept = session();
  if (!kept || !kept.refresh_token) throw new ApiError(401, { code: "session_expired", detail: "" });
  refreshing ??= send("POST", "/v1/ops/auth/refresh", { refresh_token: kept.refresh_token }).finally(() => {
    refreshing = null;
  });
  const answer = await refreshing;
  if (answer.status !== 200) throw new ApiError(answer.status, answer.body);
  return keep(answer.body);
}

// Password first: staff always answer a challenge next (401 mfa_required with the challenge): a TOTP code, or a
// passkey when the challenge lists `passkey` (its `passkey` field: the WebAuthn options).
export async function startLogin(loginId, password) {
  const answer = await send("POST", "/v1/ops/auth/login", { login_id: loginId, password });
  if (answer.status === 401 && answer.body.code === "mfa_required" && answer.body.challenge) {
    return answer.body.challenge;
  }
  throw new ApiError(answer.status, answer.body);
}

// `answer`: the TOTP code, or { credential } (a passkey's assertion for the challenge's options).
export async function finishLogin(challenge, answer) {
  const path = `/v1/ops/auth/challenges/${encodeURIComponent(challenge.id)}/verify`;
  const body = typeof answer === "string" ? { method: "totp", code: answer } : { method: "passkey", ...answer };
  const verified = await send("POST", path, body);
  if (verified.status !== 200) throw new ApiError(verified.status, verified.body);
  return keep(verified.body);
}

export async function logout() {
  const kept = session();
  if (kept) await send("POST", "/v1/ops/auth/logout", undefined, kept.access_token).catch(() => null);
  endSession(false);
}

function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") params.set(name, value);
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

// One call with the staff token; an expired token is refreshed once and the call made again.
export async function api(method, path, { query, body } = {}) {
  const kept = session();
  if (!kept) {
    endSession();
    const ended = new ApiError(401, { code: "unauthenticated", detail: "" });
    ended.sessionEnded = true;
    throw ended;
  }
  const target = withQuery(path, query);
  let answer = await send(method, target, body, kept.access_token);
  // A change of passkeys after a sign-in too long ago: the session goes on, the page says to sign in again.
  if (answer.status === 401 && answer.body.code === "fresh_sign_in_required") throw new ApiError(401, answer.body);
  if (answer.status === 401 && kept.refresh_token) {
    try {
      const renewed = await refresh();
      answer = await send(method, target, body, renewed.access_token);
    } catch {
      // the refresh was refused too: the session is over
    }
  }
  if (answer.status === 401) {
    endSession();
    const ended = new ApiError(401, answer.body);
    ended.sessionEnded = true; // the sign-in page is shown instead of the failed page
    throw ended;
  }
  if (answer.status < 200 || answer.status >= 300) throw new ApiError(answer.status, answer.body);
  return answer.body;
}

const RANK = { analyst: 1, supervisor: 2, admin: 3 };

export function hasRole(least) {
  const kept = session();
  return Boolean(kept) && (RANK[kept.role] || 0) >= RANK[least];
}

// A file from the API (a report draft as HTML or PDF): a link cannot carry the bearer token, so the page fetches it
// with the token and hands the browser the bytes as a blob to save. An expired token is refreshed once, as in `api`.
export async function download(path, { query } = {}) {
  const target = withQuery(path, query);
  const fetchWith = (token) =>
    fetch(target, { headers: { Authorization: `Bearer ${token}` }, credentials: "omit", cache: "no-store" });
  const kept = session();
  if (!kept) {
    endSession();
    const ended = new ApiError(401, { code: "unauthenticated", detail: "" });
    ended.sessionEnded = true;
    throw ended;
  }
  let response = await fetchWith(kept.access_token);
  if (response.status === 401 && kept.refresh_token) {
    try {
      response = await fetchWith((await refresh()).access_token);
    } catch {
      // the refresh was refused too: the session is over
    }
  }
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      problem = {};
    }
    if (response.status === 401) endSession();
    throw new ApiError(response.status, problem);
  }
  return response.blob();
}
