// keypin browser client: a dependency-free ES module around fetch.
//
// The access token lives in this module's memory only. The refresh token stays in the
// HttpOnly cookie that keypin sets in cookie mode, out of reach of scripts. Refresh
// happens when a call is made, never on a timer, and at most one refresh per session
// runs at a time across every tab of the origin:
//
// - a Web Lock serialises refreshes between tabs;
// - a BroadcastChannel carries each new access token and each session end to the other
//   tabs;
// - a counter in IndexedDB (a number, never a token) shows a tab that gets the lock
//   whether another tab refreshed after this tab's token went stale. The counter is
//   needed because the browser does not order the lock grant after the channel's
//   message: without it the tab could take the lock before the new token arrives and
//   refresh a second time.

/** Request header that proves a cookie-authenticated request comes from the app. */
export const CSRF_HEADER = "X-Keypin-CSRF";

// The refresh margin is the smaller of 30 s and a quarter of the token's lifetime, the
// same rule as keypin's Python client.
const MAX_REFRESH_MARGIN_MS = 30_000;
// How long a tab that holds the lock waits for the token of a refresh that another tab
// already recorded. The message was posted before the lock was released, so it normally
// arrives within milliseconds; after this wait the tab refreshes itself.
const HANDOFF_TIMEOUT_MS = 3_000;
const DATABASE_NAME = "keypin";
const STORE_NAME = "generations";

/**
 * @typedef {"expired" | "logout"} SessionEndReason
 *
 * @typedef {object} ClientOptions
 * @property {string} [baseUrl] URL of the keypin API, "" for the page's own origin.
 * @property {(reason: SessionEndReason) => void} [onSessionEnd] Called once when the
 *   session ends: "expired" when refresh failed for good, "logout" when this tab or
 *   another tab logged out.
 *
 * @typedef {object} AccessToken
 * @property {string} token The bearer token.
 * @property {number} expiresAt Expiry, in milliseconds since the epoch (this machine's clock).
 * @property {number} lifetimeMs Lifetime the server granted, in milliseconds.
 *
 * @typedef {"ok" | "ended" | "unavailable"} RefreshOutcome
 *
 * @typedef {{type: "token", generation: number, access: AccessToken}
 *   | {type: "ended", generation: number, reason: SessionEndReason}} SessionEvent
 */

/** Error thrown by `login` and `logout` when the API rejects the request. */
export class KeypinError extends Error {
  /**
   * @param {number} status HTTP status of the response.
   * @param {string} code OAuth error code from the response body, such as "invalid_grant".
   * @param {string} description Error description from the response body.
   */
  constructor(status, code, description) {
    super(description || `keypin responded with HTTP ${status}`);
    this.name = "KeypinError";
    this.status = status;
    this.code = code;
  }
}

/**
 * Create a client for one keypin API.
 *
 * @param {ClientOptions} [options]
 * @returns {KeypinClient}
 */
export function createClient({ baseUrl = "", onSessionEnd } = {}) {
  return new KeypinClient(baseUrl, onSessionEnd ?? (() => {}));
}

/** A keypin session shared by every tab of the origin. */
export class KeypinClient {
  /** @type {AccessToken | null} */
  #access = null;
  /** Number of the last session event (refresh, login, end) this tab applied. */
  #generation = 0;
  /** Whether this tab has a session that has not ended, so that the end is reported once. */
  #live = false;
  /** @type {Promise<RefreshOutcome> | null} The refresh that concurrent calls in this tab share. */
  #refreshing = null;
  /** @type {Set<() => void>} Callbacks waiting for the next session event. */
  #waiters = new Set();
  /** @type {Promise<void>} */
  #ready;
  #baseUrl;
  #onSessionEnd;
  #lockName;
  #scope;
  #channel;

  /**
   * @param {string} baseUrl
   * @param {(reason: SessionEndReason) => void} onSessionEnd
   */
  constructor(baseUrl, onSessionEnd) {
    this.#baseUrl = baseUrl.replace(/\/+$/, "");
    this.#onSessionEnd = onSessionEnd;
    this.#scope = new URL(this.#baseUrl || "/", location.href).href;
    this.#lockName = `keypin refresh ${this.#scope}`;

    // Open the channel before reading the counter: every event numbered above the value
    // read is then either received here or was posted before the counter was written.
    this.#channel = new BroadcastChannel(`keypin ${this.#scope}`);
    this.#channel.onmessage = (event) => this.#apply(event.data);
    this.#ready = readGeneration(this.#scope).then((stored) => {
      this.#generation = Math.max(this.#generation, stored);
    });
  }

  /**
   * Log in and keep the access token in memory; the refresh token stays in the cookie.
   *
   * @param {string} username
   * @param {string} password
   * @returns {Promise<void>}
   * @throws {KeypinError} When the credentials are wrong or the request is invalid.
   */
  async login(username, password) {
    const response = await fetch(this.#url("/auth/login"), {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password, refresh_in_cookie: true }),
    });
    if (!response.ok) {
      throw await errorOf(response);
    }

    const access = accessTokenOf(await response.json());
    await this.#underLock(() => this.#publish({ type: "token", access }));
  }

  /**
   * Send a request with the bearer token, refreshing it first when it is about to
   * expire, or once after a 401 invalid_token, and then retrying once.
   *
   * Resolves with the response, including a 401 once the session has ended; rejects only
   * when `fetch` itself rejects.
   *
   * @param {string} path Path below the base URL, such as "/me".
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   */
  async fetch(path, init = {}) {
    // Wait for the start-up read of the counter, or its value would look like another tab's event.
    await this.#ready;
    let refreshed = false;
    if (this.#needsRefresh()) {
      await this.#refresh(this.#generation);
      refreshed = true;
    }

    const sentAt = this.#generation;
    const response = await this.#send(path, init);
    if (refreshed || response.status !== 401 || !(await isInvalidToken(response))) {
      return response;
    }
    // A stream body was consumed by the first attempt and cannot be sent again.
    if (init.body instanceof ReadableStream) {
      return response;
    }

    const outcome = await this.#refresh(sentAt);
    if (outcome !== "ok") {
      return response;
    }
    return this.#send(path, init);
  }

  /**
   * Log out: revoke the session and its cookie on the server, and end the session in
   * every tab.
   *
   * @returns {Promise<void>}
   * @throws {KeypinError} When the server did not revoke the session; the tabs have
   *   forgotten the access token all the same.
   */
  async logout() {
    const sent = fetch(this.#url("/auth/logout"), {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json", [CSRF_HEADER]: "1" },
      body: "{}",
    });
    // The tabs forget the session whether or not the request succeeds.
    const settled = await Promise.allSettled([sent]);
    await this.#underLock(() => this.#publish({ type: "ended", reason: "logout" }));

    const [result] = settled;
    if (result.status === "rejected") {
      throw result.reason;
    }
    if (!result.value.ok) {
      throw await errorOf(result.value);
    }
  }

  #needsRefresh() {
    if (this.#access === null) {
      return true;
    }
    const margin = Math.min(MAX_REFRESH_MARGIN_MS, this.#access.lifetimeMs / 4);
    return Date.now() >= this.#access.expiresAt - margin;
  }

  /**
   * Refresh the access token that this tab had at session event `seen`, sharing one
   * refresh between the calls of this tab.
   *
   * @param {number} seen
   * @returns {Promise<RefreshOutcome>}
   */
  #refresh(seen) {
    if (this.#refreshing !== null) {
      return this.#refreshing;
    }
    if (this.#generation > seen) {
      // The token was replaced, or the session ended, after the caller read it.
      return Promise.resolve(this.#access === null ? "ended" : "ok");
    }

    this.#refreshing = this.#underLock(() => this.#refreshOnce(seen)).finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /**
   * Refresh, unless another tab applied a session event since this tab saw `seen`.
   * Runs under the lock.
   *
   * @param {number} seen
   * @returns {Promise<RefreshOutcome>}
   */
  async #refreshOnce(seen) {
    const recorded = await readGeneration(this.#scope);
    if (recorded > this.#generation) {
      await this.#waitForEvent(recorded);
    }
    if (this.#generation > seen) {
      // Another tab refreshed, logged in or ended the session meanwhile: use its result.
      return this.#access === null ? "ended" : "ok";
    }

    let response;
    try {
      response = await fetch(this.#url("/auth/refresh"), {
        method: "POST",
        credentials: "include",
        headers: { "Content-Type": "application/json", [CSRF_HEADER]: "1" },
        body: "{}",
      });
    } catch {
      // A network failure does not end the session, so the caller's request goes on.
      return "unavailable";
    }

    if (response.ok) {
      await this.#publish({ type: "token", access: accessTokenOf(await response.json()) });
      return "ok";
    }
    // Read a failed response to its end as well: that frees the connection, and browsers
    // list a request in their resource timings (the demo page's count) only once it ends.
    await response.text().catch(() => undefined);
    if (response.status === 429 || response.status >= 500) {
      return "unavailable";
    }
    await this.#publish({ type: "ended", reason: "expired" });
    return "ended";
  }

  /**
   * Number `event`, record the number, apply the event here and post it to the other
   * tabs. Runs under the lock. The number is written before the post, so a tab that reads
   * it is sure to receive the message.
   *
   * @param {{type: "token", access: AccessToken} | {type: "ended", reason: SessionEndReason}} event
   */
  async #publish(event) {
    const generation = Math.max(this.#generation, await readGeneration(this.#scope)) + 1;
    await writeGeneration(this.#scope, generation);

    const numbered = /** @type {SessionEvent} */ ({ ...event, generation });
    this.#apply(numbered);
    this.#channel.postMessage(numbered);
  }

  /** @param {SessionEvent} event */
  #apply(event) {
    if (event.generation <= this.#generation) {
      return; // Older than what this tab already has.
    }
    this.#generation = event.generation;

    if (event.type === "token") {
      this.#access = event.access;
      this.#live = true;
    } else {
      this.#access = null;
      this.#end(event.reason);
    }

    for (const wake of this.#waiters) {
      wake();
    }
  }

  /** @param {SessionEndReason} reason */
  #end(reason) {
    if (!this.#live) {
      return; // This tab had no session, or already reported its end.
    }
    this.#live = false;
    try {
      this.#onSessionEnd(reason);
    } catch (error) {
      console.error("keypin: onSessionEnd threw", error);
    }
  }

  /**
   * Wait until this tab has applied event `generation`, for at most HANDOFF_TIMEOUT_MS.
   *
   * @param {number} generation
   * @returns {Promise<void>}
   */
  #waitForEvent(generation) {
    return new Promise((resolve) => {
      const done = () => {
        if (this.#generation < generation) {
          return;
        }
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(done);
        resolve();
      }, HANDOFF_TIMEOUT_MS);
      this.#waiters.add(done);
      done();
    });
  }

  /**
   * Run `task` while holding the refresh lock of this API, after the counter was read.
   *
   * @template T
   * @param {() => Promise<T>} task
   * @returns {Promise<T>}
   */
  async #underLock(task) {
    await this.#ready;
    if (!navigator.locks) {
      // NOTE: insecure origins (http: other than localhost) have no Web Locks, so tabs
      // may refresh at the same time. keypin's reuse grace then gives them one successor.
      return task();
    }
    return navigator.locks.request(this.#lockName, task);
  }

  /**
   * @param {string} path
   * @param {RequestInit} init
   */
  #send(path, init) {
    const headers = new Headers(init.headers);
    if (this.#access !== null) {
      headers.set("Authorization", `Bearer ${this.#access.token}`);
    }
    return fetch(this.#url(path), { ...init, headers });
  }

  /** @param {string} path */
  #url(path) {
    return `${this.#baseUrl}${path}`;
  }
}

/**
 * @param {any} body Token response of /auth/login or /auth/refresh.
 * @returns {AccessToken}
 */
function accessTokenOf(body) {
  const lifetimeMs = Number(body.expires_in) * 1000;
  return { token: String(body.access_token), expiresAt: Date.now() + lifetimeMs, lifetimeMs };
}

/**
 * Tell whether a 401 response reports an invalid access token (RFC 6750 §3.1).
 *
 * @param {Response} response
 * @returns {Promise<boolean>}
 */
async function isInvalidToken(response) {
  const challenge = response.headers.get("WWW-Authenticate") ?? "";
  if (/error="invalid_token"/.test(challenge)) {
    return true;
  }
  // A cross-origin page reads WWW-Authenticate only when the API exposes it; the body
  // carries the same code.
  try {
    const body = await response.clone().json();
    return body?.error === "invalid_token";
  } catch {
    return false;
  }
}

/**
 * @param {Response} response
 * @returns {Promise<KeypinError>}
 */
async function errorOf(response) {
  try {
    const body = await response.json();
    return new KeypinError(response.status, String(body.error ?? ""), String(body.error_description ?? ""));
  } catch {
    return new KeypinError(response.status, "", "");
  }
}

/** @returns {Promise<IDBDatabase | null>} */
function openDatabase() {
  if (typeof indexedDB === "undefined") {
    return Promise.resolve(null);
  }
  return new Promise((resolve) => {
    const request = indexedDB.open(DATABASE_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE_NAME);
    request.onsuccess = () => resolve(request.result);
    // Without IndexedDB (some private modes) the tabs still share tokens through the
    // channel, but a tab may refresh again when it takes the lock before the message.
    request.onerror = () => resolve(null);
  });
}

/** @type {Promise<IDBDatabase | null> | null} */
let database = null;

/**
 * @param {string} scope
 * @returns {Promise<number>}
 */
async function readGeneration(scope) {
  database ??= openDatabase();
  const db = await database;
  if (db === null) {
    return 0;
  }
  return new Promise((resolve) => {
    const request = db.transaction(STORE_NAME).objectStore(STORE_NAME).get(scope);
    request.onsuccess = () => resolve(Number(request.result ?? 0));
    request.onerror = () => resolve(0);
  });
}

/**
 * @param {string} scope
 * @param {number} generation
 * @returns {Promise<void>}
 */
async function writeGeneration(scope, generation) {
  database ??= openDatabase();
  const db = await database;
  if (db === null) {
    return;
  }
  return new Promise((resolve) => {
    const transaction = db.transaction(STORE_NAME, "readwrite");
    transaction.objectStore(STORE_NAME).put(generation, scope);
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => resolve();
    transaction.onabort = () => resolve();
  });
}
