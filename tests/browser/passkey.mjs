// Browser tests of passkeys: Debian's chromium with the DevTools virtual authenticator
// (WebAuthn.addVirtualAuthenticator), driven by playwright-core. An expert registers a
// passkey on "my passkeys", logs out and logs in with it; with user verification off the
// authenticator cannot register, and a passkey whose verification fails cannot log in.
// Run: `node --test` in this folder, with the debug binary built (`cargo build`), or
// SUNBID_BIN pointing at a binary.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launchChromium, startDemoServer, stopAll } from "./harness.mjs";

let server, browser, base, dataDir;

before(async () => {
  ({ base, dataDir, server } = await startDemoServer("sunbid-passkey-"));
  browser = await launchChromium();
});

after(async () => {
  await stopAll({ browser, server, dataDir });
});

/**
 * A page with one virtual authenticator: by default a platform one (fingerprint-like) with
 * user verification, whose outcome is `verified`; `overrides` change its options.
 */
async function pageWithAuthenticator(verified, overrides = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: verified,
      automaticPresenceSimulation: true,
      ...overrides,
    },
  });
  const setVerified = (v) => cdp.send("WebAuthn.setUserVerified", { authenticatorId, isUserVerified: v });
  const credentials = async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
  const addCredential = (credential) => cdp.send("WebAuthn.addCredential", { authenticatorId, credential });
  return { context, page, setVerified, credentials, addCredential };
}

async function loginWithPassword(page, username) {
  await page.goto(`${base}/login`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", "sunbid-demo-2026");
  await Promise.all([page.waitForNavigation(), page.click("form.card button[type=submit]")]);
  assert.ok(await page.locator(".who").isVisible(), `logged in as ${username}`);
}

async function logout(page) {
  await Promise.all([page.waitForNavigation(), page.click("form[action='/logout'] button")]);
  assert.equal(await page.locator(".who").count(), 0);
}

async function registerPasskey(page, name) {
  await page.goto(`${base}/passkeys`);
  await page.fill("#passkey-register input[name=name]", name);
  await page.click("#passkey-register button[type=submit]");
}

async function passkeyLogin(page, username) {
  await page.goto(`${base}/login`);
  await page.fill("input[name=username]", username);
  await page.click("#passkey-login-button");
}

async function apiPasskeys(page) {
  return page.evaluate(async () => (await (await fetch("/api/v1/passkeys")).json()).passkeys);
}

test("an expert registers a passkey, logs out, and logs in with it (user verification on)", async () => {
  const { context, page, credentials } = await pageWithAuthenticator(true);
  await loginWithPassword(page, "expert1");
  // Experts without a passkey are reminded on every page.
  await page.locator("#passkey-banner").waitFor({ state: "visible" });

  await registerPasskey(page, "浏览器测试密钥");
  await page.locator("#passkey-list .passkey-name", { hasText: "浏览器测试密钥" }).waitFor();
  assert.equal(await page.locator("#passkey-required").count(), 0, "the expert warning is gone");
  assert.equal((await credentials()).length, 1, "the authenticator holds one credential");
  assert.equal((await apiPasskeys(page)).length, 1);

  await logout(page);
  await passkeyLogin(page, "expert1");
  await page.waitForURL(`${base}/`);
  assert.match(await page.textContent(".who"), /评标专家1/);
  const [pk] = await apiPasskeys(page);
  assert.ok(pk.last_used_at, "the login is recorded on the passkey");

  // The reminder no longer shows once a passkey exists.
  await page.goto(`${base}/`);
  await page.waitForLoadState("networkidle");
  assert.equal(await page.locator("#passkey-banner").isVisible(), false);

  // Remove it from the list: the reminder returns.
  await page.goto(`${base}/passkeys`);
  await Promise.all([page.waitForNavigation(), page.click("#passkey-list button[type=submit]")]);
  assert.ok(await page.locator("#passkey-none").isVisible());
  assert.ok(await page.locator("#passkey-required").isVisible());
  await context.close();
});

/**
 * What a modified client gets when it asks the authenticator not to verify the user: the
 * server's error code, or the browser's error name when the authenticator refuses first.
 */
async function tamperedCeremony(page, kind, username) {
  return page.evaluate(
    async ([kind, username]) => {
      const m = await import("/static/passkey.js");
      try {
        if (kind === "register") {
          const start = await m.postJson("/api/v1/passkeys/register/start");
          start.options.publicKey.authenticatorSelection.userVerification = "discouraged";
          // Chromium refuses credProtect "UV required" together with "discouraged".
          delete start.options.publicKey.extensions;
          const credential = await m.createCredential(start.options);
          await m.postJson("/api/v1/passkeys/register/finish", { ceremony_id: start.ceremony_id, credential });
        } else {
          const start = await m.postJson("/api/v1/passkeys/login/start", { username });
          start.options.publicKey.userVerification = "discouraged";
          const credential = await m.getAssertion(start.options);
          await m.postJson("/login/passkey", { ceremony_id: start.ceremony_id, credential });
        }
        return "ACCEPTED";
      } catch (e) {
        return e instanceof DOMException ? `${e.name}: ${e.message}` : e.code;
      }
    },
    [kind, username],
  );
}

test("without user verification a passkey is neither registered nor accepted for login", async () => {
  const { context, page, setVerified, credentials } = await pageWithAuthenticator(false);
  await loginWithPassword(page, "expert2");

  // The authenticator cannot verify the user: the registration fails.
  await registerPasskey(page, "未验证");
  await page.locator("#passkey-message.error").waitFor({ state: "visible" });
  assert.equal((await apiPasskeys(page)).length, 0, "nothing was registered");
  assert.ok(await page.locator("#passkey-none").isVisible());

  // Register with verification, then turn it off: the login fails.
  await setVerified(true);
  await registerPasskey(page, "已验证");
  await page.locator("#passkey-list .passkey-name", { hasText: "已验证" }).waitFor();
  await setVerified(false);
  await logout(page);
  await passkeyLogin(page, "expert2");
  await page.locator("#passkey-message.error").waitFor({ state: "visible" });
  assert.match(page.url(), /\/login$/);
  assert.equal(await page.locator(".who").count(), 0, "not logged in");
  const [credential] = await credentials();
  await context.close();

  // Chromium itself refuses above, so the server never saw an unverified response. A modified
  // client with an authenticator that has no user verification at all, asked not to verify,
  // does send one: the server must refuse it.
  const noUv = await pageWithAuthenticator(false, { transport: "usb", hasUserVerification: false });
  await loginWithPassword(noUv.page, "expert3");
  assert.equal(await tamperedCeremony(noUv.page, "register"), "PASSKEY_USER_NOT_VERIFIED");
  assert.equal((await apiPasskeys(noUv.page)).length, 0, "nothing was registered");
  // expert2's verified credential copied into it: an unverified login is refused too.
  await noUv.addCredential(credential);
  await logout(noUv.page);
  await noUv.page.goto(`${base}/login`);
  assert.equal(await tamperedCeremony(noUv.page, "login", "expert2"), "PASSKEY_USER_NOT_VERIFIED");
  await noUv.page.goto(`${base}/`);
  assert.equal(await noUv.page.locator(".who").count(), 0, "still not logged in");
  await noUv.context.close();
});
