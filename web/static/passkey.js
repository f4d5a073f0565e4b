// Passkeys in the browser: registration on the "my passkeys" page, login on the login page,
// and the reminder banner for experts without one. WebAuthn options come from the server
// (webauthn-rs) with binary fields as base64url text; the browser API wants ArrayBuffers,
// and the server wants the response back as base64url again.
//
// Exported helpers (`createCredential`, `getAssertion`, `postJson`) are reused by other
// pages that need an assertion, such as the expert check-in.

/** base64url (no padding) → Uint8Array. */
export function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "===".slice((b64.length + 3) % 4);
  const bin = atob(padded);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** ArrayBuffer or view → base64url (no padding). */
export function toB64url(buf) {
  const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

/** POSTs JSON with the CSRF header; resolves to the parsed body or throws its message. */
export async function postJson(url, body) {
  const resp = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": csrfToken(), "accept-language": document.documentElement.lang },
    body: JSON.stringify(body ?? {}),
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error(data.message ?? `HTTP ${resp.status}`);
    err.code = data.code;
    err.status = resp.status;
    throw err;
  }
  return data;
}

/** Runs navigator.credentials.create with webauthn-rs creation options; returns JSON for the server. */
export async function createCredential(options) {
  const pk = structuredClone(options.publicKey);
  pk.challenge = fromB64url(pk.challenge);
  pk.user.id = fromB64url(pk.user.id);
  pk.excludeCredentials = (pk.excludeCredentials ?? []).map((c) => ({ ...c, id: fromB64url(c.id) }));
  // Ask the authenticator to enable the PRF extension (CTAP2 hmac-secret) for the new
  // credential: a custodian can then hold their opening key with it (bid.js). Authenticators
  // and browsers without PRF ignore the request.
  pk.extensions = { ...(pk.extensions ?? {}), prf: {} };
  const cred = await navigator.credentials.create({ publicKey: pk });
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      attestationObject: toB64url(cred.response.attestationObject),
      clientDataJSON: toB64url(cred.response.clientDataJSON),
      transports: cred.response.getTransports?.() ?? undefined,
    },
    extensions: cred.getClientExtensionResults?.() ?? {},
  };
}

/** Runs navigator.credentials.get with webauthn-rs request options; returns JSON for the server. */
export async function getAssertion(options) {
  const pk = structuredClone(options.publicKey);
  pk.challenge = fromB64url(pk.challenge);
  pk.allowCredentials = (pk.allowCredentials ?? []).map((c) => ({ ...c, id: fromB64url(c.id) }));
  const cred = await navigator.credentials.get({ publicKey: pk, mediation: options.mediation });
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      authenticatorData: toB64url(cred.response.authenticatorData),
      clientDataJSON: toB64url(cred.response.clientDataJSON),
      signature: toB64url(cred.response.signature),
      userHandle: cred.response.userHandle ? toB64url(cred.response.userHandle) : null,
    },
    extensions: cred.getClientExtensionResults?.() ?? {},
  };
}

function say(text, isError) {
  const el = document.getElementById("passkey-message");
  if (!el) return;
  el.textContent = text;
  el.className = isError ? "error" : "muted";
  el.hidden = false;
}

/** A browser-side failure (cancelled, timed out, no authenticator) as one readable line. */
function browserError(e) {
  if (e?.name === "NotAllowedError") {
    return "操作已取消或超时 / the passkey request was cancelled or timed out";
  }
  if (e?.name === "InvalidStateError") {
    return "该设备已登记过通行密钥 / this device already holds a passkey for this account";
  }
  return e?.message ?? String(e);
}

function setUpRegistration(form) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const start = await postJson("/api/v1/passkeys/register/start");
      let credential;
      try {
        credential = await createCredential(start.options);
      } catch (e) {
        say(browserError(e), true);
        return;
      }
      const name = form.querySelector("input[name=name]")?.value ?? "";
      await postJson("/api/v1/passkeys/register/finish", { ceremony_id: start.ceremony_id, credential, name: name || null });
      location.reload();
    } catch (e) {
      say(e.message, true);
    } finally {
      button.disabled = false;
    }
  });
}

function setUpLogin(box) {
  const button = box.querySelector("#passkey-login-button");
  button.addEventListener("click", async () => {
    const username = document.querySelector("input[name=username]")?.value.trim() ?? "";
    if (!username) {
      document.querySelector("input[name=username]")?.focus();
      return;
    }
    button.disabled = true;
    try {
      const start = await postJson("/api/v1/passkeys/login/start", { username });
      let credential;
      try {
        credential = await getAssertion(start.options);
      } catch (e) {
        say(browserError(e), true);
        return;
      }
      const done = await postJson("/login/passkey", { ceremony_id: start.ceremony_id, credential });
      location.assign(done.redirect ?? "/");
    } catch (e) {
      say(e.message, true);
    } finally {
      button.disabled = false;
    }
  });
}

async function showBannerIfNeeded(banner) {
  if (location.pathname === "/passkeys") return;
  try {
    const resp = await fetch("/api/v1/passkeys", { credentials: "same-origin" });
    if (!resp.ok) return;
    const data = await resp.json();
    if (data.enabled && data.passkeys.length === 0) banner.hidden = false;
  } catch {}
}

const registerForm = document.getElementById("passkey-register");
if (registerForm) {
  if (!window.PublicKeyCredential) say("此浏览器不支持通行密钥 / this browser does not support passkeys", true);
  setUpRegistration(registerForm);
}
const loginBox = document.getElementById("passkey-login");
if (loginBox) {
  if (window.PublicKeyCredential) setUpLogin(loginBox);
  else loginBox.hidden = true;
}
const banner = document.getElementById("passkey-banner");
if (banner) showBannerIfNeeded(banner);
