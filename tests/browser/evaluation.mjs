// Browser test of the evaluation (issue 5 "Done when"), in Debian's chromium with the
// DevTools virtual authenticator, driven by playwright-core. With the demo data, on the
// demo tender SZ2026-JS-000 (past its deadline with three sealed bids): the agent opens it
// (custodian1 and custodian2 unlock in their pages), requests a draw, the regulator enters
// the supervisor's input, the five drawn experts confirm, register a passkey with user
// verification and check in; the agent starts the evaluation in the evaluation page; every
// member votes for the leader, marks the preliminary review, scores the bids and signs the
// report with a passkey, each in the page; the page then shows the ranking and every
// signature. Refusals are shown in the page: a fail without a reason and a score out of
// range (caught in the page, then, with the page's check removed, the server's 422).
// An outsider gets a 403 page, and the agent never sees a member's name.
//
// Run: `node --test evaluation.mjs` in this folder, with the debug binary built
// (`cargo build`), or SUNBID_BIN pointing at a binary.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { bin, launchChromium, startDemoServer, stopAll, stopServer } from "./harness.mjs";
import * as steps from "./steps.mjs";
import { formError, submitAndReload } from "./steps.mjs";

const CODE = "SZ2026-JS-000";
let server, browser, base, dataDir, port;
/** The bidders in rank order, as the evaluation page showed them. */
let ranked = [];
/** The draw page of the committee's draw. */
let drawUrl = "";

before(async () => {
  ({ base, dataDir, server, port } = await startDemoServer("sunbid-evaluation-"));
  browser = await launchChromium();
});

after(async () => {
  await stopAll({ browser, server, dataDir });
});

const evaluationUrl = () => `${base}/tenders/${CODE}/evaluation`;

/** With SUNBID_SHOTS=<folder>, saves a full-page screenshot there (for reviewing the page). */
async function shot(page, name) {
  if (process.env.SUNBID_SHOTS) await page.screenshot({ path: join(process.env.SUNBID_SHOTS, `${name}.png`), fullPage: true });
}

async function evaluationState(page) {
  return page.getAttribute("#evaluation-state", "data-state");
}

test("the evaluation runs in the browser: start, leader, review, scores, ranking, report signed with passkeys", async () => {
  const agent = await steps.session(browser, base, "agent");
  const ap = agent.page;
  const regulator = await steps.session(browser, base, "regulator");
  const rp = regulator.page;

  // From the agent's tender page to the evaluation page: it cannot start before the opening.
  await ap.goto(`${base}/agent/tenders/${CODE}`);
  await Promise.all([ap.waitForNavigation(), ap.click("#evaluation-link")]);
  assert.equal(new URL(ap.url()).pathname, `/tenders/${CODE}/evaluation`);
  assert.match(await ap.textContent("#start-blocker"), /开标后才能启动评标/);
  assert.equal(await ap.locator("#start-form").count(), 0);

  // The opening ceremony, then the draw.
  assert.equal(await steps.openTender(browser, base, ap, CODE), 3, "three bids in the opening record");
  const { members, drawUrl: url } = await steps.drawExperts(ap, rp, base, CODE, { alternates: 0, minutes: 30 });
  drawUrl = url;
  assert.equal(members.length, 5);

  // Not ready yet: the committee has not checked in.
  await ap.goto(evaluationUrl());
  assert.match(await ap.textContent("#start-blocker"), /评标委员会尚未组建完成/);

  // Each drawn expert, in a browser of their own that keeps its authenticator for signing.
  const experts = await steps.checkedInCommittee(browser, base, CODE, members);
  // The assignment links to the evaluation page, which says the evaluation has not started.
  const first = experts[0].page;
  await first.goto(`${base}/expert/assignments`);
  await Promise.all([first.waitForNavigation(), first.click(`a.evaluation-link`)]);
  assert.match(await first.textContent("#evaluation-notice"), /评标尚未开始/);

  // An outsider gets a 403 page; so does an expert who was not drawn.
  for (const user of ["bidder1", "custodian1"]) {
    const o = await steps.session(browser, base, user);
    const resp = await o.page.goto(evaluationUrl());
    assert.equal(resp.status(), 403, user);
    assert.match(await o.page.content(), /无权查看评标情况/);
    await o.context.close();
  }

  // The agent starts the evaluation with the defaults: five criteria, majority, the price
  // criterion 投标报价 by the lowest valid price, mean.
  await ap.goto(evaluationUrl());
  await shot(ap, "1-agent-start");
  assert.equal(await ap.inputValue("#start-form select[name=price_criterion]"), "投标报价");
  assert.match(await ap.inputValue("#start-form textarea[name=criteria]"), /^形式评审: /);
  // A criteria line of an unknown kind is refused in the page.
  const defaults = await ap.inputValue("#start-form textarea[name=criteria]");
  await ap.fill("#start-form textarea[name=criteria]", `${defaults}\n其他: 无此类别`);
  await ap.click("#start-form button[type=submit]");
  assert.match(await formError(ap, "#start-form"), /其他: 无此类别/);
  await ap.fill("#start-form textarea[name=criteria]", defaults);
  await submitAndReload(ap, "#start-form button[type=submit]");
  assert.equal(await evaluationState(ap), "electing");
  assert.equal(await ap.textContent("#evaluation-message"), "评标已启动。");
  // The agent sees anonymous members, never names.
  assert.equal(await ap.locator("#committee tr.member").count(), 5);
  assert.doesNotMatch(await ap.content(), /评标专家\d/, "the agent's page names no expert");
  assert.equal(await ap.locator("#ballot-form").count(), 0, "the agent does not vote");

  // Leader election: everyone votes for the first member.
  for (const ex of experts) {
    await ex.page.goto(evaluationUrl());
    assert.equal(await ex.page.locator("#committee tr.member").count(), 5);
    await ex.page.selectOption("#ballot-form select[name=for]", { index: 0 });
    await submitAndReload(ex.page, "#ballot-form button[type=submit]");
    assert.match(await ex.page.textContent("#voted"), /评标专家\d/);
  }
  await first.reload();
  assert.equal(await evaluationState(first), "review");
  assert.ok(await first.locator("#committee strong.leader").isVisible());

  // Preliminary review: 3 bids × 5 criteria each; a fail needs a reason.
  for (const [i, ex] of experts.entries()) {
    const p = ex.page;
    await p.goto(evaluationUrl());
    assert.equal(await p.locator("#marks-form tr.mark").count(), 15);
    if (i === 0) {
      await p.locator("#marks-form tr.mark").first().locator("input[value=fail]").check();
      await p.click("#marks-form button[type=submit]");
      assert.match(await formError(p, "#marks-form"), /判定不合格须填写理由/);
      await p.locator("#marks-form tr.mark").first().locator("input[value=pass]").check();
    }
    await submitAndReload(p, "#marks-form button[type=submit]");
    assert.equal(await p.locator("#marks-form").count(), 0, `marks of ${ex.user} in`);
    if (i < experts.length - 1) assert.ok(await p.locator("#marked").isVisible(), await p.content());
  }
  await first.reload();
  assert.equal(await evaluationState(first), "scoring");
  assert.equal(await first.locator("#review-outcome tr.passed").count(), 3);

  // A written clarification while scoring: a member asks, bidder1 answers, on their pages.
  await steps.clarificationRoundTrip(browser, base, first, ap, CODE);
  await first.goto(evaluationUrl());

  // Detailed scoring: 施工组织设计 (0–30) and 企业信誉 (0–10) for each of the three bids.
  const bidders = await first.$$eval("#scores-form tr.sheet td:first-child", (tds) => tds.map((td) => td.firstChild.textContent.trim()));
  assert.equal(bidders.length, 3);
  const fillScores = async (p, k) => {
    const rows = p.locator("#scores-form tr.sheet");
    for (let r = 0; r < 3; r++) {
      await rows.nth(r).locator('input[data-criterion="施工组织设计"]').fill(`${20 + 3 * r + (k % 2)}.50`);
      await rows.nth(r).locator('input[data-criterion="企业信誉"]').fill(`${8 - r}.25`);
    }
  };
  for (const [k, ex] of experts.entries()) {
    const p = ex.page;
    await p.goto(evaluationUrl());
    await fillScores(p, k);
    if (k === 0) {
      const input = p.locator('#scores-form tr.sheet >> nth=0').locator('input[data-criterion="施工组织设计"]');
      // Out of range: the page refuses at once.
      await input.fill("35");
      await p.click("#scores-form button[type=submit]");
      assert.match(await formError(p, "#scores-form"), /最高 30\.00 分/);
      // More than two decimals is not a score.
      await input.fill("27.555");
      await p.click("#scores-form button[type=submit]");
      assert.match(await formError(p, "#scores-form"), /最多两位小数/);
      // With the page's own check removed (as a modified client would), the server refuses
      // and the page shows its answer.
      await input.evaluate((el) => (el.dataset.max = "100000"));
      await input.fill("35");
      await p.click("#scores-form button[type=submit]");
      await p.waitForFunction(() => /allowed 0\.\.=3000/.test(document.querySelector("#scores-form .form-error")?.textContent ?? ""));
      const shown = await p.textContent("#scores-form .form-error");
      await shot(p, "2-member-score-refused");
      assert.match(shown, /35\.00 分超出 0–30\.00 的范围/);
      await input.fill("27.50");
    }
    await submitAndReload(p, "#scores-form button[type=submit]");
    assert.ok(await p.locator("#scores-submitted").isVisible());
    if (k === 0) {
      // Nobody sees another's scores until all are in.
      assert.equal(await p.locator("#sheets").count(), 0);
      await ap.goto(evaluationUrl());
      assert.equal((await ap.textContent("#sheets-progress")).trim(), "1/5");
    }
  }

  // Ranked: every sheet is visible to the members, the ranking to everyone on the page.
  await first.reload();
  assert.equal(await evaluationState(first), "ranked");
  assert.equal(await first.locator("#sheets tr").count(), 1 + 5 * 3);
  assert.equal(await first.locator("#ranking tr.rank").count(), 3);
  assert.match(await first.textContent("#report-sha256"), /^[0-9a-f]{64}$/);
  await shot(first, "3-member-ranked");

  // Each member signs the report with their passkey.
  for (const ex of experts) {
    const p = ex.page;
    await p.goto(evaluationUrl());
    assert.ok(await p.locator("#sign-box").isVisible());
    await submitAndReload(p, "#sign-report");
    assert.equal(await p.textContent("#evaluation-message"), "您已用通行密钥签署评标报告。");
    assert.match(await p.textContent("#my-sign"), /已签署/);
    assert.equal(await p.locator("#sign-box").count(), 0, "signed once, never again");
  }

  // The agent's page: the ranking, every signature, the report and the result actions.
  await ap.goto(evaluationUrl());
  assert.equal(await evaluationState(ap), "ranked");
  const ranking = await ap.$$eval("#ranking tr.rank", (trs) =>
    trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent.trim())),
  );
  assert.equal(ranking.length, 3);
  assert.deepEqual(ranking.map((r) => r[0]), ["1", "2", "3"]);
  for (const r of ranking) assert.match(r[5], /^\d+\.\d\d$/, JSON.stringify(r));
  assert.deepEqual(
    ranking.map((r) => r[1]).sort(),
    [...bidders].sort(),
    "every bid ranked, named by its bidder",
  );
  assert.deepEqual(
    await ap.$$eval("#committee tr.member", (trs) => trs.map((tr) => tr.dataset.sign)),
    ["signed", "signed", "signed", "signed", "signed"],
  );
  assert.match(await ap.textContent("#signing-progress"), /5\/5 · 已完成/);
  assert.doesNotMatch(await ap.content(), /评标专家\d/, "still no names for the agent");
  assert.equal(await ap.getAttribute("#report-link", "href"), `/tenders/${CODE}/evaluation/report`);
  assert.equal(await ap.getAttribute("#result-actions #result-link", "href"), `/tenders/${CODE}/result`);
  await shot(ap, "4-agent-signed");
  // The report link leads to the report when that page exists (it is built separately).
  const report = await ap.request.get(`${base}/tenders/${CODE}/evaluation/report`);
  if (report.status() !== 404) {
    assert.equal(report.status(), 200);
    assert.ok((await report.text()).includes(await ap.textContent("#report-sha256")), "the report names its SHA-256");
    // Opened in the browser, the report's own inline style sheet applies: the
    // Content-Security-Policy admits it by its hash (a violation would fail stopAll).
    await ap.goto(`${base}/tenders/${CODE}/evaluation/report`);
    assert.equal(await ap.$eval("h1", (h) => getComputedStyle(h).fontSize), "22px");
  }
  // The regulator sees the same progress with names.
  await rp.goto(evaluationUrl());
  assert.match(await rp.textContent("#committee"), /评标专家\d/);
  assert.equal(await rp.locator("#sign-box").count(), 0);

  ranked = ranking.map((r) => r[1]);

  // The result page: the agent delivers the report (closing signing) and publishes the
  // candidates, in rank order, for the publicity.
  await ap.goto(evaluationUrl());
  await Promise.all([ap.waitForNavigation(), ap.click("#result-actions #result-link")]);
  assert.equal(new URL(ap.url()).pathname, `/tenders/${CODE}/result`);
  await Promise.all([ap.waitForNavigation(), ap.click("#deliver-form button")]);
  assert.equal(await ap.locator("#deliver-form").count(), 0, await ap.content());
  await Promise.all([ap.waitForNavigation(), ap.click("#publicity-form button")]);
  const candidates = await ap.$$eval("#candidates tr[data-bid]", (trs) => trs.map((tr) => tr.cells[1].textContent.trim()));
  assert.deepEqual(candidates, ranked, "the candidates published are the ranking's");
  await shot(ap, "5-agent-publicity");
  await ap.goto(evaluationUrl());
  assert.equal(await evaluationState(ap), "reported");
  assert.match(await ap.textContent("#evaluation-state"), /评标报告已提交招标人/);

  for (const ex of experts) await ex.context.close();
  await agent.context.close();
  await regulator.context.close();
});

test("after the publicity the agent issues the award notice to the first candidate", async () => {
  assert.equal(ranked.length, 3, "the evaluation test ran");
  // The publicity lasts at least 3 days: the same server, restarted with its clock 100 hours
  // ahead (a demo-only option), stands in for waiting.
  await stopServer(server);
  ({ server } = await startDemoServer("sunbid-evaluation-", { dataDir, port, args: ["--demo-clock-offset-hours", "100"] }));
  const agent = await steps.session(browser, base, "agent");
  const ap = agent.page;
  await ap.goto(`${base}/tenders/${CODE}/result`);
  assert.equal(await ap.inputValue("#award-form select[name=bid_id]"), await ap.getAttribute("#candidates tr[data-bid] >> nth=0", "data-bid"));
  await Promise.all([ap.waitForNavigation(), ap.click("#award-form button")]);
  assert.equal((await ap.textContent("#winner")).trim(), ranked[0], await ap.content());
  await shot(ap, "6-agent-award");
  await agent.context.close();
});

test("after the award, sunbid draw verify replays the committee's draw from public data", async () => {
  const drawId = new URL(drawUrl, base).pathname.split("/").pop();
  assert.ok(drawId, drawUrl);
  const out = execFileSync(bin, ["draw", "verify", "--server", base, "--draw", drawId], { encoding: "utf8" });
  assert.match(out, /^MATCH /m);
});

test("the audit log of the whole session verifies", async () => {
  const out = execFileSync(bin, ["audit", "verify", "--server", base], { encoding: "utf8" });
  assert.match(out, /^OK \d+ [0-9a-f]{64}$/m);
});
