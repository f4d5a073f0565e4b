// Browser test of the regulator's workspace (issue 13), in Debian's chromium driven by
// playwright-core. With the demo data, the demo tender SZ2026-JS-005 is opened at load with
// prices in arithmetic progression: the regulator logs in and lands on the dashboard with its
// server-drawn charts and the open collusion alerts, filters the alert list, opens an alert
// with its evidence events, acknowledges it, opens a case, writes a note, suspends the tender
// (the agent sees it suspended), resumes it and closes the case with a finding. A bidder is
// refused the workspace.
//
// Run: `node --test supervision.mjs` in this folder, with the debug binary built
// (`cargo build`), or SUNBID_BIN pointing at a binary.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launchChromium, startDemoServer, stopAll } from "./harness.mjs";
import * as steps from "./steps.mjs";

const CODE = "SZ2026-JS-005";
let server, browser, base, dataDir;

before(async () => {
  ({ base, dataDir, server } = await startDemoServer("sunbid-supervision-"));
  browser = await launchChromium();
});

after(async () => {
  await stopAll({ browser, server, dataDir });
});

test("supervision: alerts with evidence, a case, suspension and a finding", async () => {
  const regulator = await steps.session(browser, base, "regulator");
  const rp = regulator.page;

  // The login lands on the dashboard: four charts and the open collusion alerts.
  assert.match(new URL(rp.url()).pathname, /^\/supervision$/);
  assert.equal(await rp.locator("#charts svg.chart").count(), 4);
  assert.ok(await rp.locator("#chart-kind g.bar").count() >= 1);
  assert.ok(await rp.locator('#open-alerts li[data-rule="collusion.arithmetic_prices"]').count() >= 1);

  // The list filtered by tender and kind shows only that tender's collusion alerts.
  await rp.goto(`${base}/supervision/alerts`);
  await rp.fill("#alert-filter input[name=tender]", CODE);
  await rp.selectOption("#alert-filter select[name=kind]", "collusion");
  await steps.submitAndReload(rp, "#alert-filter button");
  const rules = await rp.$$eval("#alerts tr.alert-row", (rows) => rows.map((r) => r.dataset.rule));
  assert.ok(rules.length >= 2, `${rules}`);
  assert.ok(rules.every((r) => r.startsWith("collusion.")), `${rules}`);
  assert.ok(rules.includes("collusion.arithmetic_prices"));

  // The alert with its evidence: the opening record, readable in full.
  await Promise.all([rp.waitForNavigation(), rp.click('#alerts tr[data-rule="collusion.arithmetic_prices"] a')]);
  assert.equal(await rp.getAttribute("#alert", "data-status"), "open");
  const evidence = rp.locator("#evidence li.evidence");
  assert.ok(await evidence.count() >= 1);
  assert.match(await evidence.last().textContent(), /opening\.record/);
  await steps.submitAndReload(rp, "#acknowledge-form button");
  assert.equal(await rp.getAttribute("#alert", "data-status"), "acknowledged");

  // A case: a note, then the tender suspended with its reason.
  await steps.submitAndReload(rp, "#open-case-form button");
  assert.match(new URL(rp.url()).pathname, /^\/supervision\/cases\//);
  assert.equal(await rp.getAttribute("#case", "data-state"), "open");
  await rp.fill("#note-form textarea[name=text]", "调取三家投标人的报价与上传记录。");
  await steps.submitAndReload(rp, "#note-form button");
  assert.equal(await rp.locator("#notes li.note").count(), 1);
  const reason = "报价呈等差数列，涉嫌串通投标，暂停（实施条例 第62条）";
  await rp.fill("#suspend-form textarea[name=text]", reason);
  await steps.submitAndReload(rp, "#suspend-form button");
  assert.equal((await rp.locator("#suspended-reason").textContent()).trim(), reason);

  // The agent finds the tender suspended.
  const agent = await steps.session(browser, base, "agent");
  await agent.page.goto(`${base}/tenders/${CODE}`);
  assert.equal(await agent.page.locator("span.state.suspended").count(), 1);

  // Resume, then close with a finding.
  await steps.submitAndReload(rp, "#resume-form button");
  assert.equal(await rp.locator("#suspended-reason").count(), 0);
  await agent.page.reload();
  assert.equal(await agent.page.locator("span.state.opened").count(), 1);
  await rp.selectOption("#close-form select[name=finding]", "rectification");
  await rp.fill("#close-form textarea[name=text]", "责令招标人核查投标文件，重新组织评审。");
  await steps.submitAndReload(rp, "#close-form button");
  assert.equal(await rp.getAttribute("#case", "data-state"), "closed");
  assert.equal(await rp.getAttribute("#case-finding", "data-finding"), "rectification");

  // A bidder may not enter the workspace.
  const bidder = await steps.session(browser, base, "bidder1");
  const resp = await bidder.page.goto(`${base}/supervision`);
  assert.equal(resp.status(), 403);
});
