// Shared start-up for the browser tests: a real `sunbid serve --demo` on a free port with
// its own data folder, and Debian's chromium (no browser download) with the flags this
// closed network needs.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));

/** The sunbid binary under test (the debug build unless SUNBID_BIN says otherwise). */
export const bin = process.env.SUNBID_BIN ?? join(here, "../../target/debug/sunbid");

/** Flags for headless chromium here; without the networking ones it tries to reach Google. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function waitHealthy(url) {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server at ${url} did not become healthy`);
}

/**
 * Starts the server with demo data. WebAuthn needs a host name, so pages are opened at
 * localhost, never 127.0.0.1. Returns { base, dataDir, server, port }. A restart passes the
 * `dataDir` and `port` of the first start (same data, same origin) and may add `args`.
 */
export async function startDemoServer(prefix = "sunbid-browser-", { dataDir: reuse, port: fixedPort, args = [] } = {}) {
  const port = fixedPort ?? (await freePort());
  const base = `http://localhost:${port}`;
  const dataDir = reuse ?? mkdtempSync(join(tmpdir(), prefix));
  const server = spawn(bin, ["serve", "--demo", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`, "--public-url", base, ...args], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  await waitHealthy(base);
  return { base, dataDir, server, port };
}

/** Stops a server started by startDemoServer and waits until it has exited. */
export async function stopServer(server) {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  await exited;
}

/**
 * Content-Security-Policy violations seen by any page of a browser from launchChromium
 * (the console messages chromium prints for them); stopAll fails when there are any, so a
 * page that needs inline script or style under the server's policy fails its test.
 */
export const cspViolations = [];

export function watchCsp(context) {
  context.on("console", (msg) => {
    if (/Content Security Policy/i.test(msg.text())) cspViolations.push(`${msg.location()?.url ?? "?"}: ${msg.text()}`);
  });
  return context;
}

/** Launches Debian's chromium (or $CHROMIUM), watching every page for CSP violations. */
export async function launchChromium(options = {}) {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: CHROMIUM_ARGS, ...options });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...args) => watchCsp(await newContext(...args));
  // browser.newPage opens its own context, through the public newContext above.
  browser.newPage = async (...args) => {
    const context = await browser.newContext(...args);
    const page = await context.newPage();
    page.on("close", () => context.close().catch(() => {}));
    return page;
  };
  return browser;
}

/** Fails when any page broke the Content-Security-Policy (see cspViolations). */
export function assertNoCspViolations() {
  if (cspViolations.length > 0) {
    throw new Error(`Content-Security-Policy violations:\n${cspViolations.join("\n")}`);
  }
}

/** Stops what startDemoServer and launchChromium started. */
export async function stopAll({ browser, server, dataDir }) {
  await browser?.close();
  server?.kill("SIGTERM");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  assertNoCspViolations();
}
