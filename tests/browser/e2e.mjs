// End-to-end test of the admin pages in a real headless browser: Debian's
// Chromium (/usr/bin/chromium) driven by playwright-core (no browser
// download: `npx playwright install` is never needed).
//
// Run by tests/it/browser_e2e.rs against a running appliance (`feedwall
// up`); by hand:
//
//   node tests/browser/e2e.mjs BASE_URL CERT_PEM EMAIL PASSWORD SCREENSHOT_PNG
//
// It signs up, logs out and logs in again, adds a device at 127.0.0.3,
// adds a deny entry (and checks that a bad one is refused next to its field
// while the good one stays listed), then saves a full-page screenshot of
// the device page. On success it prints one JSON line to stdout:
//
//   {"label": "...", "deny_name": "0.deny.<label>.acct.feedwall.internal",
//    "device_id": 1, "device_url": "...", "entry": "203.0.113.77",
//    "screenshot": "...", "ms": 1234}
//
// Progress goes to stderr. On any failure it prints the reason to stderr,
// saves SCREENSHOT_PNG with `-failure` before the extension (the page as it
// was), and exits 1.
//
// The admin server's certificate is self-signed. Rather than ignoring
// every certificate error, Chromium is told to accept exactly this
// certificate's public key (--ignore-certificate-errors-spki-list with the
// base64 SHA-256 of its SubjectPublicKeyInfo): a different certificate
// still fails the navigation.
//
// Dependencies: `npm ci` in tests/browser (tests/run-all.sh does it).

import { createHash, X509Certificate } from "node:crypto";
import { readFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.FEEDWALL_CHROMIUM || "/usr/bin/chromium";
const DEVICE_PREFIX = "127.0.0.3";
const DENY_ENTRY = "203.0.113.77";
const BAD_ENTRY = "300.1.2.3";
const STEP_TIMEOUT_MS = 15_000;
const TOTAL_TIMEOUT_MS = 120_000;

function log(msg) {
  process.stderr.write(`e2e: ${msg}\n`);
}

function fail(msg) {
  throw new Error(msg);
}

// base64(SHA-256(SubjectPublicKeyInfo DER)) of the first certificate of a PEM file.
function spkiHash(pemPath) {
  const cert = new X509Certificate(readFileSync(pemPath));
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

const [base, certPath, email, password, shotPath] = process.argv.slice(2);
if (!base || !certPath || !email || !password || !shotPath) {
  process.stderr.write("usage: node e2e.mjs BASE_URL CERT_PEM EMAIL PASSWORD SCREENSHOT_PNG\n");
  process.exit(2);
}
const failureShot = shotPath.replace(/(\.png)?$/i, "-failure.png");

const started = Date.now();
let browser;
let page;
const consoleErrors = [];
// Answers the test provokes on purpose (a refused form is a 400 page), which
// Chromium logs as "Failed to load resource".
const expectedFailures = new Set();
const pageErrors = [];

// A hung browser must not hang the test.
const watchdog = setTimeout(() => {
  process.stderr.write(`e2e: FAILED: gave up after ${TOTAL_TIMEOUT_MS / 1000} s\n`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

async function expectUrl(re, what) {
  try {
    await page.waitForURL(re, { timeout: STEP_TIMEOUT_MS });
  } catch {
    fail(`${what}: expected a URL matching ${re}, still at ${page.url()}; page says: ${await mainText()}`);
  }
}

async function mainText() {
  try {
    return (await page.locator("main").innerText({ timeout: 2_000 })).replace(/\s+/g, " ").slice(0, 600);
  } catch {
    return "(no page text)";
  }
}

// Clicks a form's own submit button, as a person would; returns the
// status of the POST's answer (303 for a redirect after success).
async function submit(form, buttonName) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && r.request().isNavigationRequest()),
    page.locator(form).getByRole("button", { name: buttonName }).click(),
  ]);
  await page.waitForLoadState("load");
  return resp.status();
}

async function submitOk(form, buttonName) {
  const status = await submit(form, buttonName);
  if (status !== 303) fail(`${form}: "${buttonName}" answered ${status}, not a redirect; page says: ${await mainText()}`);
}

async function run() {
  const spki = spkiHash(certPath);
  log(`trusting the admin certificate's key only (SPKI sha256/${spki})`);
  mkdirSync(dirname(shotPath), { recursive: true });
  // playwright-core launches with a fresh temporary --user-data-dir of its
  // own (removed on close) and adds --headless and --no-sandbox (root).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--ignore-certificate-errors-spki-list=${spki}`,
    ],
  });
  log(`browser: Chromium ${browser.version()}`);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    const url = String(m.location()?.url || "");
    if (m.type() !== "error" || url.endsWith("/favicon.ico")) return;
    if (expectedFailures.has(url) && m.text().startsWith("Failed to load resource")) return;
    consoleErrors.push(`${m.text()} (${url || "?"})`);
  });

  // Sign up: lands logged in on the devices page.
  log("sign up");
  const resp = await page.goto(`${base}/signup`);
  if (!resp || resp.status() !== 200) fail(`GET /signup answered ${resp?.status()}`);
  await page.locator("#email").fill(email);
  await page.locator("#password").fill(password);
  await page.locator("#confirm").fill(password);
  await submitOk("form[action='/signup']", "Create account");
  await expectUrl(/\/devices$/, "after sign-up");
  const who = await page.locator("header .who").innerText();
  if (!who.includes(email)) fail(`header does not show the account: ${who}`);

  // Log out with the header's button, then log in again.
  log("log out");
  await page.locator("header").getByRole("button", { name: "Log out" }).click();
  await expectUrl(/\/login$/, "after log out");
  const gone = await page.goto(`${base}/devices`);
  await expectUrl(/\/login$/, `the devices page after log out (status ${gone?.status()})`);
  log("log in");
  await page.locator("#email").fill(email);
  await page.locator("#password").fill(password);
  await submitOk("form[action='/login']", "Log in");
  await expectUrl(/\/devices$/, "after log in");

  // Add a device at 127.0.0.3: the device page follows.
  log(`add a device at ${DEVICE_PREFIX}`);
  const add = "form#add-device";
  await page.locator(`${add} #name`).fill("edge-fw");
  await page.locator(`${add} #kind`).selectOption("unbound");
  await page.locator(`${add} #prefix`).fill(DEVICE_PREFIX);
  await submitOk(add, "Add device");
  await expectUrl(/\/devices\/\d+\?done=added$/, "after adding the device");
  const deviceUrl = page.url().replace(/\?.*$/, "");
  const deviceId = Number(deviceUrl.match(/\/devices\/(\d+)$/)[1]);
  const prefix = (await page.locator("#device-prefix").innerText()).trim();
  if (prefix !== `${DEVICE_PREFIX}/32`) fail(`device page shows prefix ${prefix}`);
  const names = await page.locator("table#names").innerText();
  const m = names.match(/\b0\.deny\.([a-z0-9-]+)\.acct\.([a-z0-9.-]+)/);
  if (!m) fail(`no deny-list name in the "Names to use" table: ${names}`);
  const [denyName, label] = [m[0], m[1]];
  // The page's name agrees with the API, fetched by the page itself (its
  // session cookie, its certificate trust; page.request would be node's).
  const acct = await page.evaluate(async () => {
    const r = await fetch("/api/account", { headers: { accept: "application/json" } });
    return { status: r.status, body: await r.text() };
  });
  if (acct.status !== 200) fail(`GET /api/account with the session: ${acct.status} ${acct.body}`);
  const apiLabel = JSON.parse(acct.body).label;
  if (apiLabel !== label) fail(`device page names label ${label}, /api/account says ${apiLabel}`);

  // The deny list: add an entry through the form.
  log(`add ${DENY_ENTRY} to the deny list`);
  await page.locator("header nav").getByRole("link", { name: "Allow / deny" }).click();
  await expectUrl(/\/lists$/, "the lists page");
  const denyAdd = "form#deny-add";
  await page.locator("#deny-net").fill(DENY_ENTRY);
  await page.locator("#deny-comment").fill("seen scanning (browser e2e)");
  await submitOk(denyAdd, "Add to deny list");
  await expectUrl(/\/lists\?done=added/, "after adding the deny entry");
  const notice = await page.locator("main p.notice").first().innerText();
  if (!notice.includes("Added")) fail(`no "Added." notice: ${notice}`);
  const entries = () => page.locator("table#deny-entries").innerText();
  let listed = await entries();
  if (!listed.includes(DENY_ENTRY) || !listed.includes("seen scanning (browser e2e)")) {
    fail(`deny entries do not show ${DENY_ENTRY} with its comment: ${listed}`);
  }

  // A bad entry: refused next to its field, the value kept, nothing lost.
  log(`a bad entry (${BAD_ENTRY}) is refused next to its field`);
  await page.locator("#deny-net").fill(BAD_ENTRY);
  await page.locator("#deny-comment").fill("");
  expectedFailures.add(`${base}/lists/deny`);
  const refused = await submit(denyAdd, "Add to deny list");
  if (refused !== 400) fail(`the bad entry answered ${refused}, not 400`);
  const err = page.locator(`${denyAdd} .field-error[data-field="net"]`);
  if ((await err.count()) !== 1) fail(`no error next to the address field; page says: ${await mainText()}`);
  const errText = (await err.innerText()).trim();
  if (!errText) fail("the error next to the address field is empty");
  log(`  message: ${errText}`);
  if ((await page.locator("#deny-net").getAttribute("aria-invalid")) !== "true") fail("address field not marked aria-invalid");
  if ((await page.locator("#deny-net").inputValue()) !== BAD_ENTRY) fail("the submitted value was not kept in the field");
  listed = await entries();
  if (!listed.includes(DENY_ENTRY)) fail(`the good entry vanished after the bad one: ${listed}`);
  if (listed.includes(BAD_ENTRY)) fail(`the bad entry was stored: ${listed}`);
  if (!(await page.locator("section#deny h2").innerText()).includes("(1 entry)")) {
    fail(`deny list heading: ${await page.locator("section#deny h2").innerText()}`);
  }

  // Back to the device page for the screenshot.
  log("screenshot of the device page");
  await page.locator("header nav").getByRole("link", { name: "Devices" }).click();
  await expectUrl(/\/devices$/, "the devices page");
  await page.locator("table#devices").getByRole("link", { name: "edge-fw" }).click();
  await expectUrl(new RegExp(`/devices/${deviceId}$`), "the device page");
  if (!(await page.locator("table#names").innerText()).includes(denyName)) fail("device page lost the deny name");
  await page.screenshot({ path: shotPath, fullPage: true });

  if (pageErrors.length) fail(`script errors on the pages: ${pageErrors.join("; ")}`);
  if (consoleErrors.length) fail(`console errors on the pages: ${consoleErrors.join("; ")}`);

  const out = {
    label,
    deny_name: denyName,
    device_id: deviceId,
    device_url: deviceUrl,
    entry: DENY_ENTRY,
    bad_entry_message: errText,
    screenshot: shotPath,
    browser: browser.version(),
    ms: Date.now() - started,
  };
  process.stdout.write(JSON.stringify(out) + "\n");
}

let code = 0;
try {
  await run();
} catch (e) {
  code = 1;
  process.stderr.write(`e2e: FAILED: ${e?.message || e}\n`);
  if (pageErrors.length) process.stderr.write(`e2e: script errors: ${pageErrors.join("; ")}\n`);
  if (consoleErrors.length) process.stderr.write(`e2e: console errors: ${consoleErrors.join("; ")}\n`);
  if (page) {
    try {
      await page.screenshot({ path: failureShot, fullPage: true });
      process.stderr.write(`e2e: the page at ${page.url()} is saved as ${failureShot}\n`);
    } catch (se) {
      process.stderr.write(`e2e: no failure screenshot: ${se?.message || se}\n`);
    }
  }
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(code);
