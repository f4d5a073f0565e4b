// Browser test of the demo's live auction (issue 17, "done when"): three bidders in three
// browser contexts bid on the state asset SZ2026-ZC-001, a bid in the last seconds visibly
// extends the end, two custodians open the sealed reserve in their own contexts, the winner
// signs the deal confirmation with a passkey (DevTools virtual authenticator), the public
// page shows the result, and `sunbid audit verify` is OK. The demo auction is made short
// for the test (SUNBID_DEMO_AUCTION_SECONDS, SUNBID_DEMO_EXTEND_SECONDS) so nothing waits
// minutes. Run: `node --test auction.mjs` in this folder, with the debug binary built.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { bin, launchChromium, startDemoServer, stopAll } from "./harness.mjs";
import { DEMO_PASSWORD, login, pageWithAuthenticator, registerPasskey, session } from "./steps.mjs";

const CODE = "SZ2026-ZC-001";
// The demo's reserve (auction::demo::LIVE_RESERVE_FEN) in yuan: start + two increments.
const START_YUAN = 28_600_000;
const INCREMENT_YUAN = 50_000;
const EXTEND_SECONDS = 20;

let server, browser, base, dataDir;

before(async () => {
  // The spawned server inherits these.
  process.env.SUNBID_DEMO_AUCTION_SECONDS = "60";
  process.env.SUNBID_DEMO_EXTEND_SECONDS = String(EXTEND_SECONDS);
  process.env.SUNBID_JOB_POLL_SECONDS = "1";
  ({ base, dataDir, server } = await startDemoServer("sunbid-auction-"));
  browser = await launchChromium();
});

after(async () => {
  await stopAll({ browser, server, dataDir });
});

/** The trade as the API shows it (ends_at and server_time in ms). */
async function trade(page) {
  return page.evaluate(async (code) => (await fetch(`/api/v1/auctions/${code}`)).json(), CODE);
}

/** Bids `yuan` from the room on `page` and waits until the bid is in its history. */
async function bid(page, yuan) {
  const rows = await page.locator("#bids tbody tr").count();
  await page.fill("#bid-amount", String(yuan));
  await page.click("#bid-form button[type=submit]");
  await page.waitForFunction((n) => document.querySelectorAll("#bids tbody tr").length > n, rows);
  assert.equal(await page.locator("#bid-message").textContent(), "");
}

async function waitState(page, state, timeout = 120_000) {
  await page.waitForFunction(
    (s) => document.getElementById("auction")?.dataset.state === s,
    state,
    { timeout },
  );
}

test("three bidders bid, a late bid extends the end, custodians open the reserve, the winner signs", { timeout: 300_000 }, async () => {
  // The winner-to-be has a passkey; the other two bid from plain sessions.
  const winner = await pageWithAuthenticator(browser, true);
  await login(winner.page, base, "bidder3");
  await registerPasskey(winner.page, base, "竞买人三的通行密钥");
  const one = await session(browser, base, "bidder1");
  const two = await session(browser, base, "bidder2");
  const rooms = [one.page, two.page, winner.page];
  for (const p of rooms) {
    await p.goto(`${base}/auctions/${CODE}`);
    await waitState(p, "bidding");
    assert.ok(await p.locator("#bid-form").isVisible(), "an admitted bidder sees the bid form");
  }
  // A reserve is sealed and unreadable.
  assert.equal(await one.page.locator("#reserve").getAttribute("data-state"), "sealed");

  await bid(one.page, START_YUAN);
  await one.page.waitForSelector('#live-standing[data-leader="me"]');
  await bid(two.page, START_YUAN + INCREMENT_YUAN);
  await two.page.waitForSelector('#live-standing[data-leader="me"]');
  await one.page.waitForSelector('#live-standing[data-leader="other"]');

  // Wait for the anti-sniping window, then bid: the end moves, every room shows it.
  let t = await trade(winner.page);
  const before = t.ends_at;
  const waitMs = t.ends_at - t.server_time - (EXTEND_SECONDS - 5) * 1000;
  if (waitMs > 0) await winner.page.waitForTimeout(waitMs);
  await bid(winner.page, START_YUAN + 2 * INCREMENT_YUAN);
  t = await trade(winner.page);
  assert.ok(t.ends_at > before, `the late bid extended the end: ${before} → ${t.ends_at}`);
  for (const p of rooms) await p.locator("#live-extended:not([hidden])").waitFor();
  await winner.page.waitForSelector('#live-standing[data-leader="me"]');

  // The end: the trade waits for the custodians; nobody reads the reserve yet.
  await waitState(one.page, "ended");
  const reserve = await one.page.evaluate(async (code) => (await fetch(`/api/v1/auctions/${code}/reserve`)).json(), CODE);
  assert.equal(reserve.reserve_fen, null);

  // Two custodians open it, each in their own context.
  for (const name of ["custodian1", "custodian2"]) {
    const c = await session(browser, base, name);
    await c.page.goto(`${base}/auctions/${CODE}`);
    await c.page.fill("#reserve-passphrase", DEMO_PASSWORD);
    await c.page.click("#reserve-unlock-form button[type=submit]");
    await c.page.waitForFunction(() => document.getElementById("reserve-unlock-form")?.hidden !== false, null, { timeout: 60_000 });
    await c.context.close();
  }
  for (const p of rooms) await waitState(p, "deal", 30_000);

  // The winner signs the confirmation with the passkey.
  await winner.page.goto(`${base}/auctions/${CODE}`);
  assert.ok(await winner.page.locator('#winner-signature[data-signed="false"]').isVisible());
  await winner.page.click("#sign-confirmation");
  await winner.page.waitForSelector('#winner-signature[data-signed="true"]');
  assert.equal(await one.page.locator("#sign-confirmation").count(), 0, "only the winner may sign");

  // Published: anyone sees the result, the reserve and the signature.
  const anon = await browser.newContext();
  const pub = await anon.newPage();
  await pub.goto(`${base}/auctions/${CODE}`);
  assert.ok(await pub.locator("#reserve-amount").isVisible());
  assert.ok(await pub.locator('#winner-signature[data-signed="true"]').isVisible());
  const result = await pub.evaluate(async (code) => (await fetch(`/api/v1/auctions/${code}/result`)).json(), CODE);
  assert.equal(result.state, "deal");
  assert.equal(result.confirmation.price_fen, (START_YUAN + 2 * INCREMENT_YUAN) * 100);
  assert.equal(result.awaiting_winner, false);
  await anon.close();

  const out = execFileSync(bin, ["audit", "verify", "--server", base], { encoding: "utf8" });
  assert.match(out, /^OK /, out);
  for (const c of [one.context, two.context, winner.context]) await c.close();
});
