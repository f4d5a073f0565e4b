// Browser tests of Sunbid's pages: Debian's chromium driven by playwright-core (no browser
// download). Starts the real server with demo data on a free port and walks the publish
// flow as an agent would. Run: `node --test` in this folder (after `npm ci`), with the
// debug binary built (`cargo build`), or SUNBID_BIN pointing at a binary.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { bin, launchChromium, startDemoServer, stopAll } from "./harness.mjs";

let server, browser, base, dataDir;

/** A date-time in China time (UTC+8) as a datetime-local value, `days` from now. */
function chinaLocal(days, minutes = 5) {
  const t = new Date(Date.now() + days * 86400e3 + minutes * 60e3 + 8 * 3600e3);
  return t.toISOString().slice(0, 16);
}

before(async () => {
  ({ base, dataDir, server } = await startDemoServer("sunbid-browser-"));
  browser = await launchChromium();
});

after(async () => {
  await stopAll({ browser, server, dataDir });
});

async function login(page, username) {
  await page.goto(`${base}/login`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", "sunbid-demo-2026");
  await Promise.all([page.waitForNavigation(), page.click("form.card button[type=submit]")]);
}

async function draftTender(page, code, deadlineDays) {
  await page.goto(`${base}/agent/tenders/new`);
  await page.fill("input[name=code]", code);
  await page.fill("input[name=title]", `浏览器测试项目 ${code}`);
  await page.fill("textarea[name=description]", "用于浏览器测试的招标项目。");
  await page.fill("input[name=estimated_yuan]", "1,000,000.00");
  await page.fill("input[name=bid_security_yuan]", "20000");
  await page.fill("input[name=documents_available_at]", chinaLocal(0));
  await page.fill("input[name=clarification_cutoff_at]", chinaLocal(deadlineDays - 10));
  await page.fill("input[name=bid_deadline_at]", chinaLocal(deadlineDays));
  await page.fill("input[name=opening_place]", "开标一室");
  await Promise.all([page.waitForNavigation(), page.click("#tender-form button[type=submit]")]);
  assert.match(page.url(), new RegExp(`/agent/tenders/${code}$`), await page.content());
  await page.setInputFiles("#upload-form input[type=file]", {
    name: "招标文件.txt",
    mimeType: "text/plain",
    buffer: Buffer.from("招标文件正文"),
  });
  await Promise.all([page.waitForNavigation(), page.click("#upload-form button[type=submit]")]);
  assert.ok(await page.getByText("招标文件.txt").isVisible());
  await Promise.all([page.waitForNavigation(), page.click("#publish-form button[type=submit]")]);
}

test("the portal shows the demo tenders in Chinese and switches to English", async () => {
  const page = await browser.newPage();
  await page.goto(base);
  assert.equal(await page.getAttribute("html", "lang"), "zh-CN");
  assert.ok(await page.getByText("吴中区第二实验小学教学楼新建工程施工").isVisible());
  await page.click("a.lang");
  assert.equal(await page.getAttribute("html", "lang"), "en");
  assert.ok(await page.getByText("Open for bids").first().isVisible());
  await page.close();
});

test("an agent publishes a tender: 19 days is refused under 第24条, 20 days is published", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await login(page, "agent");
  assert.match(page.url(), /\/agent$/);

  await draftTender(page, "BT-19D", 19);
  const error = await page.textContent("#action-error");
  assert.match(error, /第24条/);
  assert.match(error, /20/);
  assert.equal((await page.textContent("#tender-state")).trim(), "草稿");

  await draftTender(page, "BT-20D", 20);
  assert.equal(await page.locator("#action-error").count(), 0, await page.content());
  assert.equal((await page.textContent("#tender-state")).trim(), "公告中");

  // The public sees it, and can find it by a Chinese substring.
  const visitor = await browser.newPage();
  await visitor.goto(`${base}/?q=${encodeURIComponent("浏览器测试")}`);
  assert.ok(await visitor.getByText("浏览器测试项目 BT-20D").isVisible());
  assert.equal(await visitor.getByText("浏览器测试项目 BT-19D").count(), 0, "drafts stay private");
  await visitor.close();
  await context.close();
});

test("the audit log of the whole session verifies", async () => {
  const out = execFileSync(bin, ["audit", "verify", "--server", base], { encoding: "utf8" });
  assert.match(out, /^OK \d+ [0-9a-f]{64}$/m);
});
