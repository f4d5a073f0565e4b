// Browser test of the lowest evaluated price (经评审的最低投标价法), in Debian's chromium with
// the DevTools virtual authenticator, driven by playwright-core. With the demo data, on the
// demo tender SZ2026-JS-004 (past its deadline with three sealed bids, evaluated by the
// lowest evaluated price): opening, draw, passkey check-in, start, leader, review as in
// evaluation.mjs; then nobody gets a score sheet, the leader records the committee's price
// comparison table in the page (bad amounts and missing reasons refused in the page, a
// negative evaluated price refused by the server), the bids are ranked by evaluated price at
// once, every member signs the report that carries the table with a passkey, and the report
// document shows the table.
//
// Run: `node --test lowest_price.mjs` in this folder, with the debug binary built
// (`cargo build`), or SUNBID_BIN pointing at a binary.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launchChromium, startDemoServer, stopAll } from "./harness.mjs";
import * as steps from "./steps.mjs";

const CODE = "SZ2026-JS-004";
let server, browser, base, dataDir;

before(async () => {
  ({ base, dataDir, server } = await startDemoServer("sunbid-lowest-price-"));
  browser = await launchChromium();
});

after(async () => {
  await stopAll({ browser, server, dataDir });
});

const evaluationUrl = () => `${base}/tenders/${CODE}/evaluation`;
const state = (page) => page.getAttribute("#evaluation-state", "data-state");

test("lowest evaluated price: the leader records the price comparison table, the bids rank by evaluated price", async () => {
  const agent = await steps.session(browser, base, "agent");
  const ap = agent.page;
  const regulator = await steps.session(browser, base, "regulator");

  assert.equal(await steps.openTender(browser, base, ap, CODE), 3, "three bids in the opening record");
  const { members } = await steps.drawExperts(ap, regulator.page, base, CODE, { alternates: 0, minutes: 30 });
  const experts = await steps.checkedInCommittee(browser, base, CODE, members);

  // The start form has no price formula and no aggregation: nobody scores.
  await ap.goto(evaluationUrl());
  assert.ok(await ap.locator("#start-lowest-price").isVisible());
  assert.equal(await ap.locator("#start-form select[name=price_criterion]").count(), 0);
  await steps.submitAndReload(ap, "#start-form button[type=submit]");
  assert.equal(await state(ap), "electing");

  for (const ex of experts) {
    await ex.page.goto(evaluationUrl());
    await ex.page.selectOption("#ballot-form select[name=for]", { index: 0 });
    await steps.submitAndReload(ex.page, "#ballot-form button[type=submit]");
  }
  for (const ex of experts) {
    await ex.page.goto(evaluationUrl());
    await steps.submitAndReload(ex.page, "#marks-form button[type=submit]");
  }

  // Scoring is the leader's table: the others wait, nobody has a score sheet.
  const pages = experts.map((e) => e.page);
  for (const p of pages) await p.reload();
  assert.equal(await state(pages[0]), "scoring");
  const withForm = [];
  for (const p of pages) {
    assert.equal(await p.locator("#scores-form").count(), 0);
    if (await p.locator("#price-table-form").count()) withForm.push(p);
    else assert.ok(await p.locator("#price-table-wait").isVisible());
  }
  assert.equal(withForm.length, 1, "only the leader records the table");
  const lp = withForm[0];
  assert.ok(await lp.locator("#committee strong.leader").isVisible());
  const rows = lp.locator("#price-table-form tr.adjustment");
  assert.equal(await rows.count(), 3);
  const bidders = await lp.$$eval("#price-table-form tr.adjustment td:first-child", (tds) => tds.map((td) => td.firstChild.textContent.trim()));

  // Refused in the page: an amount that is not yuan, an adjustment without a reason.
  await rows.nth(0).locator("input.amount").fill("三万");
  await lp.click("#price-table-form button[type=submit]");
  assert.match(await steps.formError(lp, "#price-table-form"), /请填写非零金额/);
  await rows.nth(0).locator("input.amount").fill("30000");
  await lp.click("#price-table-form button[type=submit]");
  assert.match(await lp.textContent("#price-table-form .form-error"), /每项调整须写明理由/);
  await rows.nth(0).locator("input.reason").fill("工期偏差折价（招标文件第三章 2.1）");
  // A second line for the first bid.
  await rows.nth(0).locator("button.more-line").click();
  const lines = lp.locator("#price-table-form tr.adjustment");
  assert.equal(await lines.count(), 4);
  await lines.nth(1).locator("input.amount").fill("-5000.50");
  await lines.nth(1).locator("input.reason").fill("付款条件优惠");
  // Refused by the server: more than the bid price taken off.
  await lines.nth(2).locator("input.amount").fill("-4000000");
  await lines.nth(2).locator("input.reason").fill("错误的调整");
  await lp.click("#price-table-form button[type=submit]");
  await lp.waitForFunction(() => /评标价为负/.test(document.querySelector("#price-table-form .form-error")?.textContent ?? ""));
  assert.equal(await state(lp), "scoring");
  await lines.nth(2).locator("input.amount").fill("");
  await lines.nth(2).locator("input.reason").fill("");
  await steps.submitAndReload(lp, "#price-table-form button[type=submit]");
  assert.equal(await state(lp), "ranked");

  // The table as recorded, and the ranking by evaluated price: 3,098,000 + 24,999.50 for the
  // first bid, 3,045,000 and 3,122,500 for the others.
  const table = await lp.$$eval("#price-table tr", (trs) => trs.slice(1).map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
  assert.deepEqual(table, [
    [bidders[0], "30,000.00", "工期偏差折价（招标文件第三章 2.1）"],
    [bidders[0], "-5,000.50", "付款条件优惠"],
  ]);
  const ranking = await lp.$$eval("#ranking tr.rank", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
  assert.deepEqual(ranking.map((r) => r[1]), [bidders[1], bidders[2], bidders[0]]);
  assert.deepEqual(ranking.map((r) => r[4]), ["3,045,000.00", "3,122,500.00", "3,122,999.50"]);
  assert.equal(ranking[2][3], "24,999.50");

  // Every member signs the report that carries the table.
  for (const p of pages) {
    await p.goto(evaluationUrl());
    await steps.submitAndReload(p, "#sign-report");
    assert.match(await p.textContent("#my-sign"), /已签署/);
  }
  await ap.goto(evaluationUrl());
  assert.match(await ap.textContent("#signing-progress"), /5\/5 · 已完成/);
  const report = await ap.request.get(`${base}/tenders/${CODE}/evaluation/report`);
  assert.equal(report.status(), 200);
  const text = await report.text();
  assert.ok(text.includes("标价比较表"));
  assert.ok(text.includes("付款条件优惠"));
  assert.ok(text.includes(await ap.textContent("#report-sha256")), "the report names its SHA-256");

  for (const ex of experts) await ex.context.close();
  await agent.context.close();
  await regulator.context.close();
});
