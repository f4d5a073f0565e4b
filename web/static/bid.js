// Sealed bidding in the browser (issue 3): the bidder's page seals the bid form and every
// attachment with seal.js (WebCrypto, 64 KiB chunks) and uploads the envelopes; the
// custodian pages enrol a key and unlock a share (with a passkey's PRF, or a passphrase);
// the opening page follows the ceremony and
// shows the opening record. Everything goes through the JSON API under /api/v1 with the
// CSRF header, and every refusal is shown with the server's own message.
//
// How an envelope reaches the server. The seal is a ReadableStream produced 64 KiB at a
// time. Chromium streams a ReadableStream request body (`fetch(…, {body: stream, duplex:
// "half"})`) only over HTTP/2 or later; over HTTP/1.1 — `http://localhost`, or any plain
// HTTP deployment — the fetch fails at once with "Failed to fetch". So:
//   - over https we stream the seal straight into the request (nothing is held);
//   - otherwise (or if streaming is refused) the seal is piped, chunk by chunk, into a
//     temporary file in the origin private file system (OPFS, navigator.storage), and that
//     disk-backed File is uploaded with XMLHttpRequest (which reports upload progress),
//     then deleted. Memory stays constant whatever the size (1 GiB measured).
//   - without OPFS, the sealed chunks are gathered into 8 MiB Blobs and the Blob of those
//     is uploaded. This holds the ciphertext in the browser's blob store: Chromium refuses
//     blobs beyond a few hundred MiB this way (ERR_BLOB_REFERENCED_BLOB_BROKEN), so it is
//     the last resort only.

import {
  sealStream,
  envelopeLength,
  collect,
  fromBase64,
  toBase64,
  generateCustodianKeyPair,
  wrapCustodianScalar,
  unwrapCustodianScalar,
  openShare,
} from "./seal.js";

const $ = (sel, root = document) => root.querySelector(sel);
const strings = JSON.parse($("#bid-strings")?.textContent ?? "{}");
const t = (key) => strings[key] ?? key;

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

/** A random id for this browser (recorded with uploads, as the design asks). */
function deviceId() {
  try {
    let id = localStorage.getItem("sunbid-device-id");
    if (!id) {
      id = crypto.randomUUID();
      localStorage.setItem("sunbid-device-id", id);
    }
    return id;
  } catch {
    return "";
  }
}

class ApiError extends Error {
  constructor(status, data) {
    super(data?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = data?.code;
    this.details = data?.details;
  }
}

async function api(method, url, body) {
  const init = { method, credentials: "same-origin", headers: { "x-csrf-token": csrfToken(), "accept-language": document.documentElement.lang } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** An error's text for the page (some DOM errors carry no message). */
function errorText(e) {
  return e?.message || `${e?.name ?? "Error"}: ${String(e)}`;
}

function show(el, text) {
  if (!el) return;
  el.textContent = text ?? "";
  el.hidden = !text;
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("data-")) el.setAttribute(k, v);
    else el[k] = v;
  }
  for (const c of children.flat()) {
    if (c != null) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** ArrayBuffer → base64url without padding (WebAuthn JSON). */
function toB64url(buf) {
  return toBase64(new Uint8Array(buf)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// ---------------------------------------------------------------------------------------
// Money: yuan text ↔ fen, exactly (no floating point)
// ---------------------------------------------------------------------------------------

const MAX_FEN = 10n ** 15n;

/** "1,234,567.89" → 123456789 (a safe integer), or null when it is not a yuan amount. */
export function yuanToFen(text) {
  const s = String(text).trim().replace(/[,，\s]/g, "");
  const m = /^(\d{1,13})(?:\.(\d{0,2}))?$/.exec(s);
  if (!m) return null;
  const fen = BigInt(m[1]) * 100n + BigInt((m[2] ?? "").padEnd(2, "0"));
  return fen <= MAX_FEN ? Number(fen) : null;
}

/** 123456789 → "1,234,567.89". */
export function fenToYuan(fen) {
  const n = BigInt(fen);
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${neg ? "-" : ""}${whole}.${(abs % 100n).toString().padStart(2, "0")}`;
}

// ---------------------------------------------------------------------------------------
// Sealing and uploading one part
// ---------------------------------------------------------------------------------------

const BATCH = 8 * 1024 * 1024;

/** Whether this connection can stream a request body (HTTP/2+, i.e. https here). */
function canStreamUploads() {
  if (location.protocol !== "https:") return false;
  let duplexRead = false;
  try {
    const hasContentType = new Request("https://x.invalid", {
      body: new ReadableStream(),
      method: "POST",
      get duplex() {
        duplexRead = true;
        return "half";
      },
    }).headers.has("content-type");
    return duplexRead && !hasContentType;
  } catch {
    return false;
  }
}

/** Gathers a stream of chunks into one Blob, holding at most one batch in the page. */
async function streamToBlob(stream) {
  const blobs = [];
  let batch = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    batch.push(value);
    size += value.byteLength;
    if (size >= BATCH) {
      blobs.push(new Blob(batch));
      batch = [];
      size = 0;
    }
  }
  if (batch.length) blobs.push(new Blob(batch));
  return new Blob(blobs, { type: "application/octet-stream" });
}

function xhrUpload(url, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("x-csrf-token", csrfToken());
    // Error messages in the page's language, not the browser's.
    xhr.setRequestHeader("accept-language", document.documentElement.lang);
    xhr.setRequestHeader("content-type", "application/octet-stream");
    const dev = deviceId();
    if (dev) xhr.setRequestHeader("x-device-id", dev);
    xhr.responseType = "text";
    xhr.upload.onprogress = (e) => onProgress(e.loaded, blob.size);
    xhr.onload = () => {
      let data = {};
      try {
        data = JSON.parse(xhr.responseText);
      } catch {}
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data));
    };
    xhr.onerror = () => reject(new Error("network error / 网络错误"));
    xhr.send(blob);
  });
}

/**
 * Seals `input` (Blob or Uint8Array) for this tender and bidder and uploads it; returns the
 * server's `{part_id, sha256, size}`. `row` receives progress.
 */
async function sealAndUpload({ code, tenderId, bidderId, publicKey }, label, name, input, row) {
  const plainLen = input instanceof Blob ? input.size : input.byteLength;
  const sealLabel = truncateUtf8(name, 255);
  const total = envelopeLength(plainLen, { tenderId, bidderId, label: sealLabel });
  const opts = {
    openingPublicKey: publicKey,
    tenderId,
    bidderId,
    label: sealLabel,
    onProgress: ({ sealed, total: all }) => row.seal(all ? sealed / all : 1),
  };
  const url = `/api/v1/tenders/${encodeURIComponent(code)}/bid/parts?label=${label}&name=${encodeURIComponent(name)}`;
  if (canStreamUploads()) {
    let sent = 0;
    const counted = sealStream(input, opts).pipeThrough(
      new TransformStream({
        transform(chunk, c) {
          sent += chunk.byteLength;
          row.upload(sent / total);
          c.enqueue(chunk);
        },
      }),
    );
    try {
      const headers = { "x-csrf-token": csrfToken(), "content-type": "application/octet-stream", "accept-language": document.documentElement.lang };
      const dev = deviceId();
      if (dev) headers["x-device-id"] = dev;
      const resp = await fetch(url, { method: "POST", headers, body: counted, duplex: "half", credentials: "same-origin" });
      const data = await resp.json().catch(() => ({}));
      if (!resp.ok) throw new ApiError(resp.status, data);
      return data;
    } catch (e) {
      if (e instanceof ApiError) throw e;
      // Streaming refused (e.g. an HTTP/1.1 hop): seal again into a Blob (new content key).
      row.seal(0);
      row.upload(0);
    }
  }
  row.phase(t("bidjs.sealing"));
  const disk = await sealToDisk(sealStream(input, opts)).catch(() => null);
  try {
    const blob = disk?.file ?? (await streamToBlob(sealStream(input, opts)));
    row.phase(t("bidjs.uploading"));
    return await xhrUpload(url, blob, (loaded) => row.upload(loaded / blob.size));
  } finally {
    await disk?.remove();
  }
}

/**
 * Writes a stream into a temporary file of the origin private file system and returns it
 * as a disk-backed File; throws when OPFS (or its writable streams) is not available.
 */
async function sealToDisk(stream) {
  const root = await navigator.storage.getDirectory();
  const name = `sunbid-seal-${crypto.randomUUID()}.bin`;
  const handle = await root.getFileHandle(name, { create: true });
  const remove = () => root.removeEntry(name).catch(() => {});
  try {
    await stream.pipeTo(await handle.createWritable());
    return { file: await handle.getFile(), remove };
  } catch (e) {
    await remove();
    throw e;
  }
}

function truncateUtf8(text, max) {
  const enc = new TextEncoder();
  let s = text.replace(/\//g, "_") || "file";
  while (enc.encode(s).length > max) s = s.slice(0, -1);
  return s;
}

/** A progress row in the table: sealing bar, upload bar, state text. */
function progressRow(table, name) {
  const sealBar = h("progress", { max: 1, value: 0, className: "seal-progress" });
  const upBar = h("progress", { max: 1, value: 0, className: "upload-progress" });
  const state = h("span", { className: "part-state" }, t("bidjs.waiting"));
  const tr = h("tr", { "data-part": name }, h("td", {}, name), h("td", {}, sealBar), h("td", {}, upBar), h("td", {}, state));
  table.append(tr);
  // Progress events may arrive after the answer: a finished row does not go back.
  let finished = false;
  return {
    seal: (f) => finished || (sealBar.value = Math.min(1, f)),
    upload: (f) => finished || (upBar.value = Math.min(1, f)),
    phase: (text) => (state.textContent = text),
    done: (sha) => {
      finished = true;
      sealBar.value = 1;
      upBar.value = 1;
      state.textContent = `${t("bidjs.uploaded")} · ${sha.slice(0, 16)}…`;
      tr.dataset.done = "1";
    },
    fail: (msg) => {
      state.textContent = `${t("bidjs.failed")}: ${msg}`;
      tr.dataset.failed = "1";
    },
  };
}

// ---------------------------------------------------------------------------------------
// The bidder's page
// ---------------------------------------------------------------------------------------

function bidStateLabel(state) {
  return t(`bidjs.state.${state}`);
}

let receiptUrl = null;

function showReceipt(answer) {
  const r = answer.receipt;
  const section = $("#bid-receipt");
  $("#receipt-bid-id").textContent = r.bid_id;
  $("#receipt-time").textContent = typeof r.server_time === "string" ? r.server_time : JSON.stringify(r.server_time);
  $("#receipt-audit").textContent = String(r.audit_index);
  const table = $("#receipt-parts");
  table.querySelectorAll("tr.part").forEach((tr) => tr.remove());
  for (const p of r.parts) {
    table.append(h("tr", { class: "part" }, h("td", {}, `${p.name} (${p.label})`), h("td", {}, String(p.size)), h("td", {}, h("code", {}, p.sha256))));
  }
  const file = JSON.stringify({ receipt: r, signature: answer.signature, vkey: answer.vkey }, null, 2);
  if (receiptUrl) URL.revokeObjectURL(receiptUrl);
  receiptUrl = URL.createObjectURL(new Blob([file], { type: "application/json" }));
  const link = $("#receipt-download");
  link.href = receiptUrl;
  link.download = `receipt-${r.tender_code}-${r.bid_id}.json`;
  section.hidden = false;
}

async function refreshMyBid(page) {
  const status = $("#bid-status");
  const withdraw = $("#bid-withdraw");
  try {
    const mine = await api("GET", `/api/v1/tenders/${encodeURIComponent(page.dataset.code)}/bid`);
    status.replaceChildren();
    if (!mine.bid) {
      status.append(h("p", { className: "muted", id: "bid-state", "data-state": "none" }, t("bidjs.no_bid")));
      withdraw.hidden = true;
      return mine;
    }
    const b = mine.bid;
    const p = h("p", { id: "bid-state", "data-state": b.state }, h("strong", {}, bidStateLabel(b.state)), ` · ${b.bid_id} · ${b.submitted_at}`);
    status.append(p);
    if (b.reason) status.append(h("p", { className: "muted" }, b.reason));
    withdraw.hidden = !(b.state === "submitted" && page.dataset.open === "1");
    if (b.receipt && b.state !== "withdrawn") showReceipt(b);
    else $("#bid-receipt").hidden = true;
    return mine;
  } catch (e) {
    status.replaceChildren(h("p", { className: "error" }, e.message));
    return null;
  }
}

function readForm(form) {
  const f = new FormData(form);
  const price = yuanToFen(f.get("price_yuan"));
  if (price === null) throw new Error(t("bidjs.bad_price"));
  const duration = Number(f.get("duration_days"));
  if (!Number.isInteger(duration) || duration < 1 || duration > 36500) throw new Error(t("bidjs.bad_duration"));
  return {
    price_fen: price,
    duration_days: duration,
    quality: String(f.get("quality")).trim(),
    project_manager: String(f.get("project_manager")).trim(),
    declarations: String(f.get("declarations") ?? "")
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

function initBidPage(page) {
  const code = page.dataset.code;
  const bidderId = page.dataset.bidderId;
  const form = $("#bid-form");
  const errorEl = $("#bid-error");
  refreshMyBid(page);

  $("#bid-withdraw").addEventListener("click", async () => {
    if (!confirm(t("bidjs.confirm_withdraw"))) return;
    show(errorEl, "");
    try {
      await api("POST", `/api/v1/tenders/${encodeURIComponent(code)}/bid/withdraw`, {});
      await refreshMyBid(page);
    } catch (e) {
      show(errorEl, errorText(e));
    }
  });

  if (!form) return;
  const priceHint = $("#bid-price-fen");
  form.price_yuan.addEventListener("input", () => {
    const fen = yuanToFen(form.price_yuan.value);
    priceHint.textContent = fen === null ? "" : `= ${fenToYuan(fen)} ${document.documentElement.lang === "en" ? "yuan" : "元"} (${fen} fen/分)`;
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    show(errorEl, "");
    let bidForm;
    try {
      bidForm = readForm(form);
    } catch (e) {
      show(errorEl, errorText(e));
      return;
    }
    const button = $("#bid-submit");
    button.disabled = true;
    $("#bid-receipt").hidden = true;
    const table = $("#bid-progress");
    table.querySelectorAll("tr[data-part]").forEach((tr) => tr.remove());
    table.hidden = false;
    const started = performance.now();
    try {
      const key = await api("GET", `/api/v1/tenders/${encodeURIComponent(code)}/opening-key`);
      const ctx = { code, tenderId: key.tender_id, bidderId, publicKey: fromB64url(key.public_key) };
      const parts = [{ label: "form", name: "bid-form.json", input: new TextEncoder().encode(JSON.stringify(bidForm)) }];
      for (const file of form.attachments.files) parts.push({ label: "attachment", name: file.name, input: file });
      const rows = parts.map((p) => progressRow(table, p.name));
      const ids = [];
      for (let i = 0; i < parts.length; i++) {
        const { label, name, input } = parts[i];
        try {
          const up = await sealAndUpload(ctx, label, name, input, rows[i]);
          rows[i].done(up.sha256);
          ids.push(up.part_id);
        } catch (e) {
          rows[i].fail(errorText(e));
          throw e;
        }
      }
      show($("#bid-error"), "");
      const answer = await api("POST", `/api/v1/tenders/${encodeURIComponent(code)}/bid/submit`, { parts: ids });
      page.dataset.elapsedMs = String(Math.round(performance.now() - started));
      showReceipt(answer);
      await refreshMyBid(page);
      form.reset();
      priceHint.textContent = "";
    } catch (e) {
      show(errorEl, errorText(e));
    } finally {
      button.disabled = false;
    }
  });
}

// ---------------------------------------------------------------------------------------
// Ceremony state (custodian unlock page and opening page)
// ---------------------------------------------------------------------------------------

function renderCeremony(v) {
  const state = v.opening_now && v.state === "unlocking" ? "running" : v.state;
  const el = $("#ceremony-state");
  el.textContent = t(`bidjs.opening.${state}`);
  if (state === "running" && v.bids_to_decrypt) {
    el.textContent += ` ${v.bids_decrypted ?? 0} / ${v.bids_to_decrypt}`;
  }
  el.dataset.state = v.state;
  const got = (v.unlocked ?? []).length;
  const bar = $("#quorum-bar");
  bar.max = v.k || 1;
  bar.value = Math.min(got, v.k || 1);
  $("#quorum-text").textContent = `${got} / ${v.k} (n = ${v.n})`;
  $("#quorum-text").dataset.unlocked = String(got);
  const who = $("#quorum-who");
  who.replaceChildren(...(got ? v.unlocked.map((u, i) => h("span", { className: "unlocked-by" }, `${i ? "、" : ""}${u.name} (${u.at})`)) : [t("bidjs.nobody_unlocked")]));
}

/** Polls the ceremony every 2 s while it can change, every 10 s afterwards. */
function pollOpening(code, onView) {
  let last = "";
  const tick = async () => {
    let delay = 2000;
    try {
      const v = await api("GET", `/api/v1/tenders/${encodeURIComponent(code)}/opening`);
      const json = JSON.stringify(v);
      if (json !== last) {
        last = json;
        onView(v);
      }
      if (v.state === "opened" || v.state === "failed") delay = 10000;
    } catch {}
    setTimeout(tick, delay);
  };
  tick();
}

// ---------------------------------------------------------------------------------------
// Custodian keys held by a passkey (WebAuthn PRF; docs/sealed-bidding.md "Custodian keys").
// The PRF output, the private scalar and the opened share exist only in this page's memory;
// the server gets the public key and the wrapped scalar at enrolment, and the share (which
// it checks against the digest it stored) with a user-verified assertion at the opening.
// ---------------------------------------------------------------------------------------

const PRF_MISSING =
  "此通行密钥不支持 PRF 扩展：请改用支持 PRF 的认证器，或用口令登记 / this passkey does not support the PRF extension: use an authenticator with PRF, or enrol with a passphrase";

function passkeyError(e) {
  if (e?.name === "NotAllowedError") return "操作已取消或超时 / the passkey request was cancelled or timed out";
  return errorText(e);
}

/**
 * One assertion with the PRF extension evaluated at `salt` (user verification required),
 * restricted to `credentialId` when given. Returns the assertion for the server — without
 * the PRF results — and the 32-byte PRF output, which stays here.
 */
async function assertWithPrf(options, salt, credentialId) {
  if (!window.PublicKeyCredential) throw new Error("此浏览器不支持通行密钥 / this browser does not support passkeys");
  const pk = structuredClone(options.publicKey);
  pk.challenge = fromB64url(pk.challenge);
  let allow = pk.allowCredentials ?? [];
  const only = credentialId ? allow.filter((c) => c.id === credentialId) : [];
  if (only.length) allow = only;
  pk.allowCredentials = allow.map((c) => ({ ...c, id: fromB64url(c.id) }));
  pk.userVerification = "required";
  pk.extensions = { ...(pk.extensions ?? {}), prf: { eval: { first: salt } } };
  const cred = await navigator.credentials.get({ publicKey: pk });
  const first = cred.getClientExtensionResults?.().prf?.results?.first;
  if (!first) throw new Error(PRF_MISSING);
  return {
    credential: {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64url(cred.response.authenticatorData),
        clientDataJSON: toB64url(cred.response.clientDataJSON),
        signature: toB64url(cred.response.signature),
        userHandle: cred.response.userHandle ? toB64url(cred.response.userHandle) : null,
      },
      extensions: {},
    },
    prf: new Uint8Array(first),
  };
}

/** Enrols a custodian key held by one of the user's passkeys. */
async function enrolWithPasskey() {
  const start = await api("POST", "/api/v1/custodian/key/passkey/start", {});
  const { credential, prf } = await assertWithPrf(start.options, fromBase64(start.prf_salt));
  const { scalar, publicKey } = await generateCustodianKeyPair();
  let wrapped;
  try {
    wrapped = await wrapCustodianScalar(scalar, publicKey, prf);
  } finally {
    scalar.fill(0);
    prf.fill(0);
  }
  return api("POST", "/api/v1/custodian/key/passkey", {
    ceremony_id: start.ceremony_id,
    credential,
    prf_salt: start.prf_salt,
    public_key: toBase64(publicKey),
    nonce: toBase64(wrapped.nonce),
    wrapped_key: toBase64(wrapped.wrapped),
  });
}

/** Unlocks this custodian's share of tender `code` with their passkey. */
async function unlockWithPasskey(code) {
  const base = `/api/v1/tenders/${encodeURIComponent(code)}/opening/unlock/passkey`;
  const start = await api("POST", `${base}/start`, {});
  const { credential, prf } = await assertWithPrf(start.options, fromBase64(start.key.prf_salt), start.key.credential_id);
  let share;
  try {
    const scalar = await unwrapCustodianScalar(start.key, prf);
    try {
      share = await openShare(start.sealed_share, scalar, start.tender_id);
    } finally {
      scalar.fill(0);
    }
  } finally {
    prf.fill(0);
  }
  try {
    return await api("POST", base, { ceremony_id: start.ceremony_id, credential, nonce: start.nonce, share: toBase64(share) });
  } finally {
    share.fill(0);
  }
}

function initUnlockPage(page) {
  const code = page.dataset.code;
  pollOpening(code, renderCeremony);
  const passkeyButton = $("#unlock-passkey-button");
  passkeyButton?.addEventListener("click", async () => {
    show($("#unlock-error"), "");
    show($("#unlock-message"), "");
    passkeyButton.disabled = true;
    try {
      renderCeremony(await unlockWithPasskey(code));
      show($("#unlock-message"), t("bidjs.unlocked"));
    } catch (e) {
      show($("#unlock-error"), passkeyError(e));
    } finally {
      passkeyButton.disabled = false;
    }
  });
  const form = $("#unlock-form");
  form?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    show($("#unlock-error"), "");
    show($("#unlock-message"), "");
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await api("POST", `/api/v1/tenders/${encodeURIComponent(code)}/opening/unlock`, { passphrase: form.passphrase.value });
      form.reset();
      show($("#unlock-message"), t("bidjs.unlocked"));
      renderCeremony(await api("GET", `/api/v1/tenders/${encodeURIComponent(code)}/opening`));
    } catch (e) {
      show($("#unlock-error"), e.message);
    } finally {
      button.disabled = false;
    }
  });
}

function initCustodianPage() {
  const passkeyButton = $("#enrol-passkey-button");
  passkeyButton?.addEventListener("click", async () => {
    show($("#custodian-error"), "");
    passkeyButton.disabled = true;
    try {
      await enrolWithPasskey();
      show($("#custodian-message"), t("bidjs.enrolled"));
      setTimeout(() => location.reload(), 800);
    } catch (e) {
      show($("#custodian-error"), passkeyError(e));
    } finally {
      passkeyButton.disabled = false;
    }
  });
  const form = $("#enrol-form");
  form?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    show($("#custodian-error"), "");
    const a = form.passphrase.value;
    const b = form.passphrase2.value;
    if (a !== b) return show($("#custodian-error"), t("bidjs.passphrase_mismatch"));
    if ([...a].length < 12) return show($("#custodian-error"), t("bidjs.passphrase_short"));
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await api("POST", "/api/v1/custodian/key", { passphrase: a });
      form.reset();
      show($("#custodian-message"), t("bidjs.enrolled"));
      setTimeout(() => location.reload(), 800);
    } catch (e) {
      show($("#custodian-error"), e.message);
    } finally {
      button.disabled = false;
    }
  });
}

// ---------------------------------------------------------------------------------------
// The opening page
// ---------------------------------------------------------------------------------------

function partCell(parts) {
  return h(
    "ul",
    {},
    (parts ?? []).map((p) => {
      const ok = p.outcome === "opened";
      const text = ok ? `${p.name}: ✓` : `${p.name}: ✗ ${p.code ?? ""} ${p.message ?? ""} (${t(`bidjs.fault.${p.fault}`)})`;
      return h("li", { className: ok ? "" : "error", title: `SHA-256 ${p.sha256}` }, text);
    }),
  );
}

function renderRecord(page, v) {
  const section = $("#opening-record");
  const failed = $("#opening-failed");
  const rec = v.record;
  if (!rec) {
    section.hidden = true;
    failed.hidden = true;
    return;
  }
  if (rec.outcome === "failed") {
    failed.hidden = false;
    $("#failed-message").textContent = rec.message ?? "";
    section.hidden = true;
    return;
  }
  section.hidden = false;
  $("#record-summary").textContent = `${rec.opened_at} · ${rec.valid_bids} / ${rec.bids.length}`;
  const table = $("#record-table");
  table.querySelectorAll("tr.bid").forEach((tr) => tr.remove());
  for (const b of rec.bids) {
    const status = h("span", { className: b.status === "opened" ? "ok" : "error" }, t(`bidjs.status.${b.status}`));
    table.append(
      h(
        "tr",
        { class: "bid", "data-bidder-id": b.bidder_id, "data-status": b.status },
        h("td", {}, b.bidder_name),
        h("td", { className: "price" }, b.price_fen != null ? fenToYuan(b.price_fen) : "—"),
        h("td", {}, b.duration_days ?? "—"),
        h("td", {}, b.quality ?? "—"),
        h("td", {}, b.project_manager ?? "—"),
        h("td", {}, (b.declarations ?? []).join("；") || "—"),
        h("td", {}, status, b.reason ? h("div", { className: "muted" }, b.reason) : null),
        h("td", {}, partCell(b.parts)),
      ),
    );
  }
  $("#record-base-price").textContent =
    rec.base_price_fen != null ? `${fenToYuan(rec.base_price_fen)}` : rec.base_price_error ? `⚠ ${rec.base_price_error}` : t("bidjs.no_base_price");
  $("#record-sha256").textContent = v.record_sha256 ?? "";
  $("#record-confirmations").replaceChildren(...(v.confirmations ?? []).map((c) => h("li", {}, `${c.bidder_name} · ${t("bidjs.confirmed")} ${c.at}`)));
  const mine = page.dataset.bidderId;
  const inRecord = mine && rec.bids.some((b) => b.bidder_id === mine);
  const confirmed = (v.confirmations ?? []).some((c) => c.bidder_id === mine);
  $("#bidder-actions").hidden = !inRecord;
  $("#record-confirm").hidden = confirmed;
  renderObjections(page, v.objections ?? []);
}

function renderObjections(page, list) {
  const box = $("#record-objections");
  const owner = page.dataset.owner === "1";
  const code = page.dataset.code;
  box.replaceChildren(
    ...list.map((o) => {
      const art = h("article", { className: "objection", "data-objection-id": o.objection_id }, h("p", {}, h("strong", {}, o.bidder_name), ` · ${o.raised_at}`), h("pre", { className: "text" }, o.body));
      if (o.answer) {
        art.append(h("p", {}, h("strong", {}, `${t("bidjs.answered")}: `), o.answer, ` · ${o.answered_at}`));
      } else if (owner) {
        const ta = h("textarea", { name: "answer", required: true, maxLength: 2000 });
        const f = h("form", { className: "card answer-form" }, h("label", {}, ta), h("button", { type: "submit" }, "↳"));
        f.addEventListener("submit", async (ev) => {
          ev.preventDefault();
          show($("#opening-error"), "");
          try {
            await api("POST", `/api/v1/tenders/${encodeURIComponent(code)}/opening/objections/${encodeURIComponent(o.objection_id)}/answer`, { answer: ta.value });
            await refreshOpening(page);
          } catch (e) {
            show($("#opening-error"), e.message);
          }
        });
        art.append(f);
      }
      return art;
    }),
  );
}

async function refreshOpening(page) {
  const v = await api("GET", `/api/v1/tenders/${encodeURIComponent(page.dataset.code)}/opening`);
  renderCeremony(v);
  renderRecord(page, v);
  const start = $("#opening-start");
  if (start) start.hidden = v.state !== "not_started";
}

function initOpeningPage(page) {
  const code = page.dataset.code;
  const errorEl = $("#opening-error");
  // Answer forms are rebuilt only when the server's view changed, so typing is not lost
  // to a poll that brought nothing new.
  pollOpening(code, (v) => {
    renderCeremony(v);
    renderRecord(page, v);
    const start = $("#opening-start");
    if (start) start.hidden = v.state !== "not_started";
  });
  const act = async (fn) => {
    show(errorEl, "");
    show($("#opening-message"), "");
    try {
      await fn();
      await refreshOpening(page);
    } catch (e) {
      show(errorEl, errorText(e));
    }
  };
  $("#opening-start")?.addEventListener("click", () => act(() => api("POST", `/api/v1/tenders/${encodeURIComponent(code)}/opening/start`, {})));
  $("#record-confirm")?.addEventListener("click", () => act(() => api("POST", `/api/v1/tenders/${encodeURIComponent(code)}/opening/confirm`, {})));
  const objForm = $("#objection-form");
  objForm?.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(async () => {
      await api("POST", `/api/v1/tenders/${encodeURIComponent(code)}/opening/objections`, { body: objForm.body.value });
      objForm.reset();
    });
  });
}

// ---------------------------------------------------------------------------------------
// The agent seals the base price (标底): bidder_id "base-price", {"base_price_fen": int}
// ---------------------------------------------------------------------------------------

function initBasePriceForm(form) {
  const code = form.dataset.code;
  const errorEl = $("#base-price-error");
  const done = $("#base-price-done");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    show(errorEl, "");
    done.hidden = true;
    const fen = yuanToFen(form.yuan.value);
    if (fen === null) {
      show(errorEl, form.dataset.badAmount);
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const key = await api("GET", `/api/v1/tenders/${encodeURIComponent(code)}/opening-key`);
      const plain = new TextEncoder().encode(JSON.stringify({ base_price_fen: fen }));
      const envelope = await collect(
        sealStream(plain, {
          openingPublicKey: fromB64url(key.public_key),
          tenderId: key.tender_id,
          bidderId: "base-price",
          label: "base-price.json",
        }),
      );
      const resp = await fetch(`/api/v1/tenders/${encodeURIComponent(code)}/base-price`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "x-csrf-token": csrfToken(), "content-type": "application/octet-stream", "accept-language": document.documentElement.lang },
        body: envelope,
      });
      const data = await resp.json().catch(() => ({}));
      if (!resp.ok) throw new ApiError(resp.status, data);
      form.reset();
      done.hidden = false;
    } catch (e) {
      show(errorEl, errorText(e));
    } finally {
      button.disabled = false;
    }
  });
}

// ---------------------------------------------------------------------------------------

const bidPage = $("#bid-page");
if (bidPage) initBidPage(bidPage);
const unlockPage = $("#unlock-page");
if (unlockPage) initUnlockPage(unlockPage);
if ($("#custodian-page")) initCustodianPage();
const openingPage = $("#opening-page");
if (openingPage) initOpeningPage(openingPage);
const basePriceForm = $("#base-price-form");
if (basePriceForm) initBasePriceForm(basePriceForm);
