// Steps several browser tests take the same way with the demo data: logging in, a browser
// context with a DevTools virtual authenticator, the opening ceremony of a tender past its
// deadline, an expert draw with the supervisor's input, and an expert confirming,
// registering a passkey and checking in. Each step asserts what a user would see.

import assert from "node:assert/strict";

/** The demo users' password (and the demo custodians' passphrase). */
export const DEMO_PASSWORD = "sunbid-demo-2026";

/** A date-time in China time (UTC+8) as a datetime-local value, `minutes` from now. */
export function chinaLocalIn(minutes) {
  return new Date(Date.now() + minutes * 60e3 + 8 * 3600e3).toISOString().slice(0, 16);
}

/** Logs `page` in as `username` with the demo password. */
export async function login(page, base, username) {
  await page.goto(`${base}/login`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", DEMO_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("form.card button[type=submit]")]);
  assert.ok(await page.locator(".who").isVisible(), `logged in as ${username}`);
}

/** A fresh browser context logged in as `username`: { context, page }. */
export async function session(browser, base, username) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await login(page, base, username);
  return { context, page };
}

/** A fresh browser context whose page has one virtual platform authenticator. */
export async function pageWithAuthenticator(browser, verified, overrides = {}) {
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

/** A custodian unlocks their key share on their unlock page with the demo passphrase. */
export async function unlockShare(page, base, code) {
  await page.goto(`${base}/custodian/tenders/${code}`);
  await page.waitForSelector('#ceremony-state[data-state="unlocking"]');
  await page.fill("#unlock-form input[name=passphrase]", DEMO_PASSWORD);
  await page.click("#unlock-form button");
  await page.waitForSelector("#unlock-message:not([hidden])");
}

/**
 * The whole opening ceremony of a tender past its deadline, in the pages: the agent (page
 * `agentPage`, logged in) starts it, custodian1 and custodian2 unlock, the record appears.
 * Returns the number of bids in the record.
 */
export async function openTender(browser, base, agentPage, code) {
  await agentPage.goto(`${base}/tenders/${code}/opening`);
  await agentPage.waitForSelector('#ceremony-state[data-state="not_started"]');
  await agentPage.click("#opening-start");
  await agentPage.waitForSelector('#ceremony-state[data-state="unlocking"]');
  for (const user of ["custodian1", "custodian2"]) {
    const c = await session(browser, base, user);
    await unlockShare(c.page, base, code);
    await c.context.close();
  }
  await agentPage.waitForSelector('#ceremony-state[data-state="opened"]', { timeout: 60e3 });
  await agentPage.waitForSelector("#opening-record:not([hidden])", { timeout: 30e3 });
  return agentPage.locator("#record-table tr.bid").count();
}

/**
 * The agent requests a draw for `code` on its draw page (the tender's quota, `alternates`
 * alternates, the regulator as supervisor, evaluation `minutes` from now so the check-in
 * window is open), and the regulator enters the supervisor's input. Returns the draw page
 * URL and the drawn members and alternates as the regulator sees them: [{ no, name }].
 */
export async function drawExperts(agentPage, regulatorPage, base, code, { alternates = 1, minutes = 30 } = {}) {
  await agentPage.goto(`${base}/agent/tenders/${code}/draw`);
  await agentPage.selectOption("#draw-form select[name=supervisor_user_id]", { label: "孙监督" });
  await agentPage.fill("#draw-form input[name=alternates]", String(alternates));
  await agentPage.fill("#draw-form input[name=evaluation_at]", chinaLocalIn(minutes));
  await agentPage.fill("#draw-form input[name=evaluation_place]", "苏州市公共资源交易中心评标区5号室");
  await Promise.all([agentPage.waitForNavigation(), agentPage.click("#draw-form button")]);
  assert.equal(await agentPage.locator("#form-error").count(), 0, await agentPage.content());
  const drawUrl = agentPage.url();
  assert.match(drawUrl, /\/draws\/[^/]+$/);
  assert.equal(await agentPage.getAttribute("#draw-state", "data-state"), "committed");

  await regulatorPage.goto(drawUrl);
  await regulatorPage.fill("#input-form input[name=input]", "3 5 1 6 2 4 · 监督人掷骰");
  await Promise.all([regulatorPage.waitForNavigation(), regulatorPage.click("#input-form button")]);
  assert.equal(await regulatorPage.locator("#form-error").count(), 0, await regulatorPage.content());
  assert.equal(await regulatorPage.getAttribute("#draw-state", "data-state"), "drawn");
  const rows = await memberRows(regulatorPage);
  const pick = (role) => rows.filter((r) => r[3] === role).map((r) => ({ no: r[0], name: r[1] }));
  return { drawUrl, rows, members: pick("member"), alternates: pick("alternate") };
}

/** The rows of the draw page's member table, as arrays of cell texts. */
export async function memberRows(page) {
  return page.$$eval("#members tr", (rows) =>
    rows.slice(1).map((r) => [...r.querySelectorAll("td")].map((td) => td.dataset.value ?? td.textContent.trim())),
  );
}

/** The demo login of a drawn expert named 评标专家N: expertN. */
export function expertLogin(name) {
  const m = /^评标专家(\d)$/.exec(name);
  assert.ok(m, `a drawn expert with a demo login: ${name}`);
  return `expert${m[1]}`;
}

/** An expert (page logged in, with an authenticator) confirms the assignment on "my assignments". */
export async function confirmAssignment(page, base, code) {
  await page.goto(`${base}/expert/assignments`);
  const card = page.locator(`article[data-draw]`, { hasText: code });
  assert.match(await card.textContent(), /notified/);
  await Promise.all([page.waitForNavigation(), card.locator(`form[action$="/confirm"] button`).click()]);
  assert.match(await page.locator(`article[data-draw]`, { hasText: code }).textContent(), /confirmed/);
}

/** Registers a passkey named `name` on the "my passkeys" page with the page's authenticator. */
export async function registerPasskey(page, base, name) {
  await page.goto(`${base}/passkeys`);
  await page.fill("#passkey-register input[name=name]", name);
  await page.click("#passkey-register button[type=submit]");
  await page.locator("#passkey-list .passkey-name", { hasText: name }).waitFor();
}

/** Checks in from "my assignments" with the passkey; the card then says so. */
export async function checkIn(page, base, code) {
  await page.goto(`${base}/expert/assignments`);
  await Promise.all([page.waitForNavigation(), page.click("button.checkin")]);
  const after = await page.locator(`article[data-draw]`, { hasText: code }).textContent();
  assert.match(after, /已签到|Checked in/, after);
}

/**
 * The drawn members (from drawExperts) each confirm, register a passkey and check in, in a
 * browser context of their own that keeps its authenticator for signing the report:
 * [{ user, name, context, page }].
 */
export async function checkedInCommittee(browser, base, code, members) {
  const experts = [];
  for (const m of members) {
    const user = expertLogin(m.name);
    const ex = await pageWithAuthenticator(browser, true);
    await login(ex.page, base, user);
    await confirmAssignment(ex.page, base, code);
    await registerPasskey(ex.page, base, `${user} 指纹`);
    await checkIn(ex.page, base, code);
    experts.push({ user, name: m.name, ...ex });
  }
  return experts;
}

/** Clicks a button that makes the page send to the API and reload; waits for the reload. */
export async function submitAndReload(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
  await page.waitForLoadState("domcontentloaded");
}

/** The error lines a form shows, once it shows them. */
export async function formError(page, formSelector) {
  const box = page.locator(`${formSelector} .form-error`);
  await box.waitFor({ state: "visible" });
  return box.textContent();
}

/**
 * A written clarification while the committee reviews or scores, in the pages: the member
 * (`memberPage`, logged in) follows the evaluation page's link and asks bidder1's company;
 * bidder1 follows its notice to "Clarifications" and answers once; the member then sees the
 * answer, and the agent (`agentPage`) sees the request without who asked.
 */
export async function clarificationRoundTrip(browser, base, memberPage, agentPage, code) {
  const question = "请说明投标报价中安全文明施工费的计取依据。";
  const answer = "安全文明施工费按苏州市现行费率计取，已含在投标报价中。";
  await memberPage.goto(`${base}/tenders/${code}/evaluation`);
  await Promise.all([memberPage.waitForNavigation(), memberPage.click("#clarifications-link")]);
  assert.equal(new URL(memberPage.url()).pathname, `/tenders/${code}/evaluation/clarifications`);
  const bid = await memberPage.$$eval("#ask-form select[name=bid_id] option", (os) =>
    os.find((o) => o.textContent.includes("苏州华建"))?.value,
  );
  assert.ok(bid, "bidder1's bid is offered");
  await memberPage.selectOption("#ask-form select[name=bid_id]", bid);
  await memberPage.fill("#ask-form textarea[name=question]", question);
  assert.equal(await memberPage.inputValue("#ask-form input[name=window_minutes]"), "60", "the default window");
  await Promise.all([memberPage.waitForNavigation(), memberPage.click("#ask-form button")]);
  const asked = memberPage.locator("article.clarification", { hasText: question });
  assert.equal(await asked.getAttribute("data-status"), "pending");
  const asker = (await asked.locator(".asked-by").textContent()).trim();
  assert.match(asker, /评标专家\d/, "members see who asked");

  const b = await session(browser, base, "bidder1");
  await b.page.goto(`${base}/notices`);
  await Promise.all([b.page.waitForNavigation(), b.page.locator("a.clarifications-link").first().click()]);
  assert.equal(new URL(b.page.url()).pathname, "/clarifications");
  const card = b.page.locator("article.clarification", { hasText: question });
  assert.equal(await card.getAttribute("data-status"), "pending");
  await card.locator("textarea[name=answer]").fill(answer);
  await Promise.all([b.page.waitForNavigation(), card.locator("form button").click()]);
  const answered = b.page.locator("article.clarification", { hasText: question });
  assert.equal(await answered.getAttribute("data-status"), "answered", await b.page.content());
  assert.equal(await answered.locator("form").count(), 0, "answered once, never again");
  assert.doesNotMatch(await b.page.content(), /评标专家\d/, "the bidder never learns who asked");
  await b.context.close();
  // Another bidder sees nothing of it.
  const other = await session(browser, base, "bidder2");
  await other.page.goto(`${base}/clarifications`);
  assert.equal(await other.page.locator("article.clarification", { hasText: question }).count(), 0);
  await other.context.close();

  await memberPage.reload();
  const seen = memberPage.locator("article.clarification", { hasText: question });
  assert.equal(await seen.getAttribute("data-status"), "answered");
  assert.equal((await seen.locator("blockquote.answer").textContent()).trim(), answer);
  await agentPage.goto(`${base}/tenders/${code}/evaluation/clarifications`);
  const agentSees = agentPage.locator("article.clarification", { hasText: question });
  assert.equal(await agentSees.getAttribute("data-status"), "answered");
  assert.equal(await agentPage.locator("#ask-form").count(), 0);
  assert.ok(!(await agentPage.content()).includes(asker), "the agent never sees who asked");
}
