// Browser test of custodian keys held by a passkey (issue 11 item 4): two custodians enrol
// with a passkey whose authenticator has the WebAuthn PRF extension (DevTools virtual
// authenticator, `hasPrf: true`), an agent publishes a tender with them and a demo
// custodian who holds a passphrase-locked key (the rulebook asks for 3, 2 to open), three bidders seal bids in the browser, the deadline passes (the server is
// restarted on the same data with the demo clock 21 days ahead), the agent starts the
// opening and both custodians unlock with their passkeys: the page unwraps the key with the
// PRF output, opens the share and posts it, and the opening record appears.
// Run: `node --test custodian_prf.mjs` here, after `cargo build`.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launchChromium, startDemoServer, stopAll, stopServer } from "./harness.mjs";
import * as steps from "./steps.mjs";

let server, browser, base, dataDir, port;
const CODE = "SZ2026-PRF-001";
const CUSTODIANS = ["prfcust1", "prfcust2"];

before(async () => {
  ({ base, dataDir, server, port } = await startDemoServer("sunbid-browser-prf-"));
  browser = await launchChromium();
});

after(async () => {
  await stopAll({ browser, server, dataDir });
});

async function api(method, path, token, body) {
  const resp = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await resp.json().catch(() => ({}));
  return { status: resp.status, data };
}

async function token(username) {
  const { status, data } = await api("POST", "/api/v1/auth/login", null, { username, password: steps.DEMO_PASSWORD });
  assert.equal(status, 200, JSON.stringify(data));
  return data.token;
}

/** A date-time in China time (UTC+8) as a datetime-local value, `days` from now. */
function chinaLocal(days, minutes = 5) {
  const t = new Date(Date.now() + days * 86400e3 + minutes * 60e3 + 8 * 3600e3);
  return t.toISOString().slice(0, 16);
}

/** A custodian's own browser: a page with a virtual authenticator that has PRF. */
const custodians = {};

test("two custodians enrol keys held by their passkeys (PRF); the server gets no private key", async () => {
  const admin = await token("admin");
  const orgs = await api("GET", "/api/v1/organisations", admin);
  assert.equal(orgs.status, 200, JSON.stringify(orgs.data));
  const list = Array.isArray(orgs.data) ? orgs.data : orgs.data.organisations;
  const centre = list.find((o) => o.kind === "trading_centre");
  assert.ok(centre, JSON.stringify(orgs.data));
  for (const username of CUSTODIANS) {
    const made = await api("POST", "/api/v1/users", admin, {
      username,
      display_name: `通行密钥保管人 ${username}`,
      role: "custodian",
      org_id: centre.org_id ?? centre.id,
      password: steps.DEMO_PASSWORD,
    });
    assert.equal(made.status, 201, JSON.stringify(made.data));

    const c = await steps.pageWithAuthenticator(browser, true, { hasPrf: true });
    custodians[username] = c;
    await steps.login(c.page, base, username);
    // Without a passkey the enrolment says so.
    await c.page.goto(`${base}/custodian`);
    await c.page.click("#enrol-passkey-button");
    await c.page.waitForSelector("#custodian-error:not([hidden])");
    assert.match(await c.page.textContent("#custodian-error"), /通行密钥|passkey/);
    // Register a passkey, then enrol with it.
    await steps.registerPasskey(c.page, base, "PRF 认证器");
    await c.page.goto(`${base}/custodian`);
    await c.page.click("#enrol-passkey-button");
    await c.page.waitForSelector("#custodian-held-by", { timeout: 20e3 });
    assert.equal(await c.page.getAttribute("#custodian-held-by", "data-kdf"), "webauthn-prf");
    const key = await c.page.evaluate(async () => (await fetch("/api/v1/custodian/key")).json());
    assert.equal(key.kdf, "webauthn-prf", JSON.stringify(key));
    const [cred] = await c.credentials();
    assert.ok(cred, "the authenticator holds the passkey");
  }
});

test("an authenticator without PRF cannot enrol a passkey-held key; the page says why", async () => {
  const admin = await token("admin");
  const orgs = await api("GET", "/api/v1/organisations", admin);
  const list = Array.isArray(orgs.data) ? orgs.data : orgs.data.organisations;
  const centre = list.find((o) => o.kind === "trading_centre");
  const made = await api("POST", "/api/v1/users", admin, {
    username: "noprfcust",
    display_name: "无 PRF 保管人",
    role: "custodian",
    org_id: centre.org_id ?? centre.id,
    password: steps.DEMO_PASSWORD,
  });
  assert.equal(made.status, 201, JSON.stringify(made.data));
  const c = await steps.pageWithAuthenticator(browser, true, { hasPrf: false });
  await steps.login(c.page, base, "noprfcust");
  await steps.registerPasskey(c.page, base, "无 PRF");
  await c.page.goto(`${base}/custodian`);
  await c.page.click("#enrol-passkey-button");
  await c.page.waitForSelector("#custodian-error:not([hidden])", { timeout: 20e3 });
  assert.match(await c.page.textContent("#custodian-error"), /PRF/);
  assert.ok(await c.page.locator("#custodian-not-enrolled").isVisible());
  // The passphrase fallback refuses a weak passphrase with the server's rule.
  await c.page.click("#enrol-passphrase summary");
  await c.page.fill("#enrol-form input[name=passphrase]", "password1234");
  await c.page.fill("#enrol-form input[name=passphrase2]", "password1234");
  await c.page.click("#enrol-form button");
  await c.page.waitForSelector("#custodian-error:not([hidden])");
  await c.page.waitForFunction(() => /强度不足|too weak/.test(document.querySelector("#custodian-error").textContent));
  await c.context.close();
});

test("the agent publishes a tender with the two passkey custodians and a passphrase one; three bidders seal bids", async () => {
  const agent = await steps.session(browser, base, "agent");
  const page = agent.page;
  await page.goto(`${base}/agent/tenders/new`);
  await page.fill("input[name=code]", CODE);
  await page.fill("input[name=title]", `通行密钥开标测试 ${CODE}`);
  await page.fill("textarea[name=description]", "用于通行密钥保管开标密钥的浏览器测试。");
  await page.fill("input[name=estimated_yuan]", "1,000,000.00");
  await page.fill("input[name=bid_security_yuan]", "20000");
  await page.fill("input[name=documents_available_at]", chinaLocal(0));
  await page.fill("input[name=clarification_cutoff_at]", chinaLocal(10));
  await page.fill("input[name=bid_deadline_at]", chinaLocal(20));
  await page.fill("input[name=opening_place]", "开标一室");
  for (const box of await page.locator("input[name=custodian]").all()) {
    const label = await box.evaluate((el) => el.closest("label").textContent);
    if ([...CUSTODIANS, "custodian3"].some((u) => label.includes(`(${u})`))) await box.check();
    else await box.uncheck();
  }
  await Promise.all([page.waitForNavigation(), page.click("#tender-form button[type=submit]")]);
  assert.match(page.url(), new RegExp(`/agent/tenders/${CODE}$`), await page.content());
  await page.setInputFiles("#upload-form input[type=file]", { name: "招标文件.txt", mimeType: "text/plain", buffer: Buffer.from("招标文件正文") });
  await Promise.all([page.waitForNavigation(), page.click("#upload-form button[type=submit]")]);
  await Promise.all([page.waitForNavigation(), page.click("#publish-form button[type=submit]")]);
  assert.equal(await page.locator("#action-error").count(), 0, await page.content());
  const key = await api("GET", `/api/v1/tenders/${CODE}/opening-key`);
  assert.equal(key.status, 200, JSON.stringify(key.data));
  assert.equal(key.data.n, 3);
  await agent.context.close();

  for (const [user, price] of [["bidder1", "980000"], ["bidder2", "990000"], ["bidder3", "995000.5"]]) {
    const b = await steps.session(browser, base, user);
    await b.page.goto(`${base}/tenders/${CODE}/bid`);
    await b.page.fill("input[name=price_yuan]", price);
    await b.page.fill("input[name=duration_days]", "200");
    await b.page.fill("input[name=quality]", "合格");
    await b.page.fill("input[name=project_manager]", "李工");
    await b.page.fill("textarea[name=declarations]", "接受招标文件全部条款");
    await b.page.waitForSelector("#bid-state");
    await b.page.click("#bid-submit");
    await b.page.waitForSelector("#bid-receipt:not([hidden]), #bid-error:not([hidden])", { timeout: 60e3 });
    assert.equal(await b.page.locator("#bid-error").isVisible(), false, await b.page.textContent("#bid-error"));
    await b.context.close();
  }
});

test("after the deadline both custodians unlock with their passkeys and the bids are opened", async () => {
  // The same data and origin, with the clock 21 days ahead: the deadline has passed.
  await stopServer(server);
  ({ server } = await startDemoServer("sunbid-browser-prf-", { dataDir, port, args: ["--demo-clock-offset-hours", String(21 * 24)] }));
  const agent = await steps.session(browser, base, "agent");
  await agent.page.goto(`${base}/tenders/${CODE}/opening`);
  await agent.page.waitForSelector('#ceremony-state[data-state="not_started"]');
  await agent.page.click("#opening-start");
  await agent.page.waitForSelector('#ceremony-state[data-state="unlocking"]');

  for (const [i, username] of CUSTODIANS.entries()) {
    const c = custodians[username];
    // The session of 21 days ago has expired: log in again in the same browser, whose
    // authenticator holds the passkey.
    await steps.login(c.page, base, username);
    await c.page.goto(`${base}/custodian/tenders/${CODE}`);
    await c.page.waitForSelector('#ceremony-state[data-state="unlocking"]');
    assert.equal(await c.page.locator("#unlock-form").count(), 0, "no passphrase form for a passkey-held key");
    await c.page.click("#unlock-passkey-button");
    await c.page.waitForSelector("#unlock-message:not([hidden]), #unlock-error:not([hidden])", { timeout: 60e3 });
    assert.equal(await c.page.locator("#unlock-error").isVisible(), false, await c.page.textContent("#unlock-error"));
    if (i === 0) await c.page.waitForSelector('#quorum-text[data-unlocked="1"]');
  }
  await agent.page.waitForSelector('#ceremony-state[data-state="opened"]', { timeout: 60e3 });
  await agent.page.waitForSelector("#opening-record:not([hidden])", { timeout: 30e3 });
  assert.equal(await agent.page.locator("#record-table tr.bid").count(), 3);

  // The audit log names the passkey for each unlock and never carries a share.
  const events = await api("GET", "/api/v1/audit/events?limit=1000");
  const unlocks = events.data.events
    .map((e) => (e.entry ? JSON.parse(e.entry) : null))
    .filter((e) => e && e.action === "opening.unlock");
  const ours = unlocks.filter((e) => e.payload.method === "passkey");
  assert.equal(ours.length, 2, JSON.stringify(unlocks));
  for (const e of ours) assert.ok(e.payload.credential_id, JSON.stringify(e));
  await agent.context.close();
});
