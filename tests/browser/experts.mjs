// Browser test of the expert draw and passkey check-in (issue 4 "Done when"), in Debian's
// chromium with the DevTools virtual authenticator, driven by playwright-core. With the demo
// data: the agent requests a draw for SZ2026-JS-001 (the tender's quota, 5 building-works
// experts, plus an alternate, evaluation in 30 minutes so the check-in window is open), the
// regulator enters the supervisor's input and sees the names while the agent sees numbers
// only, each drawn expert confirms, registers a passkey with user verification and checks
// in from "my assignments", and the committee becomes ready. An expert who was not drawn,
// the alternate, and a check-in without user verification are refused.
//
// `sunbid draw verify` replays a draw from public data only after the award (the secret is
// revealed then), and awards do not exist yet: it is not run here.
// Run: `node --test experts.mjs` in this folder, with the debug binary built (`cargo build`),
// or SUNBID_BIN pointing at a binary.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { bin, launchChromium, startDemoServer, stopAll } from "./harness.mjs";
import * as steps from "./steps.mjs";

const CODE = "SZ2026-JS-001";
let server, browser, base, dataDir;

before(async () => {
  ({ base, dataDir, server } = await startDemoServer("sunbid-experts-"));
  browser = await launchChromium();
});

after(async () => {
  await stopAll({ browser, server, dataDir });
});

const login = (page, username) => steps.login(page, base, username);
const pageWithAuthenticator = (verified, overrides) => steps.pageWithAuthenticator(browser, verified, overrides);
const memberRows = steps.memberRows;

/** What a client gets for a check-in call made from the page: "OK" or the error code. */
async function checkinFromPage(page, tamper) {
  return page.evaluate(
    async ([code, tamper]) => {
      const m = await import("/static/passkey.js");
      try {
        const start = await m.postJson(`/api/v1/tenders/${encodeURIComponent(code)}/checkin/start`, {});
        if (tamper) start.options.publicKey.userVerification = "discouraged";
        const credential = await m.getAssertion(start.options);
        await m.postJson(`/api/v1/tenders/${encodeURIComponent(code)}/checkin/finish`, { ceremony_id: start.ceremony_id, credential });
        return "OK";
      } catch (e) {
        return e instanceof DOMException ? `${e.name}` : e.code;
      }
    },
    [CODE, tamper],
  );
}

async function committeeApi(page) {
  const body = await page.evaluate(async (code) => (await fetch(`/api/v1/tenders/${encodeURIComponent(code)}/committee`)).json(), CODE);
  assert.ok(body.committee, JSON.stringify(body));
  return body.committee;
}

test("an agent requests a draw, the drawn experts confirm and check in with a passkey, the committee is ready", async () => {
  // The agent requests the draw: the tender's own quota (construction.building × 5), one
  // alternate, the regulator as supervisor, evaluation in 30 minutes.
  const agent = await browser.newContext();
  const ap = await agent.newPage();
  await login(ap, "agent");
  const regulator = await browser.newContext();
  const rp = await regulator.newPage();
  await login(rp, "regulator");
  const { drawUrl, rows, members, alternates } = await steps.drawExperts(ap, rp, base, CODE, { alternates: 1, minutes: 30 });
  // The agent's page, still showing the draw waiting for the supervisor, had no input form.
  assert.equal(await ap.locator("#input-form").count(), 0, "the agent cannot enter the supervisor's input");
  assert.equal(rows.length, 6, `5 members and 1 alternate: ${JSON.stringify(rows)}`);
  assert.equal(members.length, 5);
  assert.equal(alternates.length, 1);
  // The demo pool's only eligible building-works experts are expert1..7 (评标专家1..7).
  const username = steps.expertLogin;
  const drawn = members.map((m) => username(m.name));
  const alternate = username(alternates[0].name);
  const notDrawn = [1, 2, 3, 4, 5, 6, 7].map((i) => `expert${i}`).filter((u) => !drawn.includes(u) && u !== alternate);
  assert.equal(notDrawn.length, 1);
  // The specialty shown is the quota's code (construction.building = A01).
  assert.ok(rows.every((r) => r[2].startsWith("A01")), JSON.stringify(rows));
  // Of the demo pool's 14 building-works experts, the tenderee's, the agent's and the
  // supervising department's employees, the junior, the too-new, the penalised and the
  // suspended are not eligible: 7 are.
  const quota = await rp.$$eval("table:nth-of-type(2) tr", (trs) =>
    trs.slice(1).map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent.trim())),
  );
  assert.deepEqual(quota.map((q) => q.slice(0, 4)), [["A01", "5", "1", "7"]], JSON.stringify(quota));

  // The agent sees member numbers and counts, never names.
  await ap.goto(drawUrl);
  assert.equal(await ap.getAttribute("#draw-state", "data-state"), "drawn");
  const agentRows = await memberRows(ap);
  assert.equal(agentRows.length, 6);
  assert.deepEqual(
    agentRows.map((r) => r[0]).sort(),
    rows.map((r) => r[0]).sort(),
    "the same member numbers",
  );
  const agentHtml = await ap.content();
  for (const r of rows) assert.ok(!agentHtml.includes(r[1]), `the agent's page does not name ${r[1]}`);
  assert.ok(!agentHtml.includes("评标专家"));

  // Each drawn member: confirm, register a passkey with user verification, check in.
  let first = true;
  for (const user of drawn) {
    const ex = await pageWithAuthenticator(true);
    const p = ex.page;
    await login(p, user);
    await p.goto(`${base}/expert/assignments`);
    assert.equal(await p.locator("button.checkin").count(), 0, "no check-in before confirming");
    await steps.confirmAssignment(p, base, CODE);
    await steps.registerPasskey(p, base, `${user} 指纹`);

    await p.goto(`${base}/expert/assignments`);
    if (first) {
      first = false;
      // The finger is not recognised: the browser refuses, the page says so, no check-in.
      await ex.setVerified(false);
      await p.click("button.checkin");
      await p.locator("#checkin-message.error").waitFor({ state: "visible" });
      assert.equal(await p.locator("button.checkin").count(), 1, "still to check in");
      // A modified client with a copy of the credential on an authenticator without user
      // verification, asking not to verify: the server refuses the unverified assertion.
      const [credential] = await ex.credentials();
      const noUv = await pageWithAuthenticator(false, { transport: "usb", hasUserVerification: false });
      await login(noUv.page, user);
      await noUv.addCredential(credential);
      await noUv.page.goto(`${base}/expert/assignments`);
      assert.equal(await checkinFromPage(noUv.page, true), "PASSKEY_USER_NOT_VERIFIED");
      await noUv.context.close();
      await ex.setVerified(true);
      await p.goto(`${base}/expert/assignments`);
    }
    await Promise.all([p.waitForNavigation(), p.click("button.checkin")]);
    const after = await p.locator(`article[data-draw]`, { hasText: CODE }).textContent();
    assert.match(after, /已签到/, after);
    assert.equal(await p.locator("button.checkin").count(), 0);
    // Twice is refused.
    assert.equal(await checkinFromPage(p, false), "ALREADY_CHECKED_IN");
    await ex.context.close();
  }

  // An expert who was not drawn, and the alternate, cannot check in.
  for (const [user, hasCard] of [
    [notDrawn[0], false],
    [alternate, true],
  ]) {
    const ex = await pageWithAuthenticator(true);
    await login(ex.page, user);
    await ex.page.goto(`${base}/passkeys`);
    await ex.page.fill("#passkey-register input[name=name]", "key");
    await ex.page.click("#passkey-register button[type=submit]");
    await ex.page.locator("#passkey-list .passkey-name").waitFor();
    await ex.page.goto(`${base}/expert/assignments`);
    assert.equal(await ex.page.locator("button.checkin").count(), 0, `${user} has no check-in button`);
    assert.equal(await ex.page.locator("article[data-draw]").count(), hasCard ? 1 : 0);
    if (!hasCard) assert.ok(await ex.page.getByText("暂无评标任务").isVisible());
    assert.equal(await checkinFromPage(ex.page, false), "EXPERT_NOT_DRAWN", user);
    await ex.context.close();
  }

  // The committee is complete: the agent's page and the API say so.
  await ap.goto(`${base}/agent/tenders/${CODE}/draw`);
  const committee = await ap.textContent("#committee");
  assert.match(committee, /5\/5/);
  assert.ok(await ap.locator("#committee strong").isVisible(), committee);
  const c = await committeeApi(ap);
  assert.equal(c.ready, true, JSON.stringify(c));
  assert.equal(c.checked_in, 5);
  assert.ok(c.members.every((m) => !m.name), "the agent's API view has no names");
  // The regulator sees every member checked in, with names.
  await rp.goto(drawUrl);
  const done = await memberRows(rp);
  for (const r of done.filter((r) => r[3] === "member")) assert.ok(r[5].length > 0, `member ${r[0]} checked in`);
  const rc = await committeeApi(rp);
  assert.equal(rc.ready, true);
  assert.ok(rc.members.some((m) => m.name), "the regulator's API view names members");

  await agent.close();
  await regulator.close();
});

test("the audit log of the whole session verifies", async () => {
  const out = execFileSync(bin, ["audit", "verify", "--server", base], { encoding: "utf8" });
  assert.match(out, /^OK \d+ [0-9a-f]{64}$/m);
});
