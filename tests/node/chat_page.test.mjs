// The chat page (GET /) in a real browser: Debian's chromium, headless, driven by
// puppeteer-core. A message gets a streamed reply, the stop button ends a long one, and the
// header shows the server's tokens/s and placement.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import puppeteer from "puppeteer-core";
import { startServer, metric, eventually } from "./server.mjs";

const CHROMIUM = process.env.VK_SYMBIOTE_CHROMIUM || "/usr/bin/chromium";
const WAIT_MS = 120_000;
let server, browser, page;

before(async () => {
  // A long context, so that the stopped reply (up to 8000 tokens) is still running when the test
  // clicks stop, even on a fast machine (stories260K makes thousands of tokens per second).
  server = await startServer(["--parallel", "2", "--ctx-size", "8192", "--max-tokens-limit", "8000", "--prompt-cache", "0"]);  // no kept caches: every KV block back at the end (checked)
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const failed = [];
  page.on("requestfailed", (r) => { if (!r.url().includes("/v1/chat/completions")) failed.push(r.url()); });
  await page.goto(server.url + "/", { waitUntil: "load" });
  assert.deepEqual(failed, []);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const text = (sel) => page.$eval(sel, (e) => e.textContent);

async function send(message, maxTokens) {
  await page.$eval("#max-tokens", (e, v) => { e.value = v; }, String(maxTokens));
  await page.$eval("#temperature", (e) => { e.value = "0"; });
  await page.type("#input", message);
  await page.click("#send");
}

test("a message gets a streamed reply and the header shows the server's figures", async () => {
  await send("Once upon a time", 24);
  await page.waitForFunction(() => !document.getElementById("send").disabled && document.querySelectorAll(".msg.assistant").length === 1);
  const reply = await text(".msg.assistant");
  assert.ok(reply.length > 0, "the reply is shown");
  const expected = await (await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 24, temperature: 0 }),
  })).json();
  assert.equal(reply, expected.choices[0].message.content, "the page shows what the API answers");
  assert.equal(await text(".msg.user"), "Once upon a time");
  await page.waitForFunction(() => Number(document.getElementById("tps").textContent) > 0);
  assert.equal(await text("#model"), "stories260K");
  assert.match(await text("#placement"), /cpu/);
});

test("the stop button ends a long reply and the server cancels it", async () => {
  const cancelled = await metric(server.url, "requests_cancelled_total");
  await page.$eval("#input", (e) => { e.value = ""; });
  // A reply of up to 8000 tokens: the stop button is enabled while it streams.
  await page.evaluate(() => {
    const orig = window.fetch;
    window.fetch = (url, opts) => {
      if (String(url).includes("/v1/chat/completions")) {
        const body = JSON.parse(opts.body);
        body.ignore_eos = true;
        opts = { ...opts, body: JSON.stringify(body) };
      }
      return orig(url, opts);
    };
  });
  await send("The cat", 8000);
  await page.waitForFunction(() => !document.getElementById("stop").disabled && document.querySelectorAll(".msg.assistant")[1]?.textContent.length > 0);
  await page.click("#stop");
  await page.waitForFunction(() => !document.getElementById("send").disabled && document.getElementById("stop").disabled);
  const seen = await eventually(async () => (await metric(server.url, "requests_cancelled_total")) === cancelled + 1);
  assert.ok(seen, `the server cancelled the generation (cancelled ${await metric(server.url, "requests_cancelled_total")}, before ${cancelled}, ` +
                  `finished ${await metric(server.url, "requests_finished_total")}, active ${await metric(server.url, "requests_active")})`);
  assert.ok(await eventually(async () => (await metric(server.url, "kv_blocks_used")) === 0));
});
