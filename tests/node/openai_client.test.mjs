// `vk_symbiote serve` called the way applications call it: the official openai client.
// Chat and completions, streamed and not; stop strings; seed; errors; 401; the model list;
// 8 concurrent streamed chats equal to the same requests one at a time; a client that
// disconnects mid-stream; a bounded load test.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startServer, metric, eventually, peakRss } from "./server.mjs";

const KEY = "test-key";
const RAM_GB = 1;
let server, client;

before(async () => {
  server = await startServer(["--parallel", "8", "--api-key", KEY, "--ram-gb", String(RAM_GB), "--ctx-size", "2048", "--prompt-cache", "0"]);  // no kept caches: every KV block back at the end (checked)
  client = new OpenAI({ apiKey: KEY, baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 120_000 });
});
after(async () => { assert.equal(await server.stop(), 0, "the server ends cleanly on SIGTERM"); });

const STARTS = ["Once upon a time", "The cat", "Lily went to", "Tom had a big", "One day, a bird", "The sun was", "Mom said", "A little boy"];
const chatOf = (i, extra = {}) => ({ model: "stories260K", messages: [{ role: "user", content: STARTS[i % 8] }], max_tokens: 24, ...extra });

async function streamedChat(body) {
  const stream = await client.chat.completions.create({ ...body, stream: true });
  let text = "", finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  return { text, finish };
}

test("the model list names the served model", async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["stories260K"]);
});

test("chat: whole and streamed answers agree", async () => {
  const whole = await client.chat.completions.create(chatOf(0));
  const text = whole.choices[0].message.content;
  assert.ok(text.length > 0);
  assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);
  const streamed = await streamedChat(chatOf(0));
  assert.equal(streamed.text, text);
  assert.equal(streamed.finish, whole.choices[0].finish_reason);
});

test("completions: whole and streamed, finish_reason length", async () => {
  const body = { model: "stories260K", prompt: "Once upon a time", max_tokens: 12, ignore_eos: true };
  const whole = await client.completions.create(body);
  assert.equal(whole.choices[0].finish_reason, "length");
  assert.equal(whole.usage.completion_tokens, 12);
  let text = "";
  for await (const chunk of await client.completions.create({ ...body, stream: true })) text += chunk.choices[0]?.text ?? "";
  assert.equal(text, whole.choices[0].text);
});

test("stop strings end the text and are never sent", async () => {
  const body = { model: "stories260K", prompt: "Once upon a time", max_tokens: 60, ignore_eos: true };
  const free = (await client.completions.create(body)).choices[0].text;
  const stop = free.slice(20, 24);
  const expected = free.slice(0, free.indexOf(stop));
  const cut = await client.completions.create({ ...body, stop: [stop] });
  assert.equal(cut.choices[0].text, expected);
  assert.equal(cut.choices[0].finish_reason, "stop");
  const streamed = await streamedChat({ ...chatOf(1), max_tokens: 60, stop });
  assert.ok(!streamed.text.includes(stop));
});

test("a seed reproduces a sampled answer", async () => {
  const body = { model: "stories260K", prompt: "The little dog", max_tokens: 40, temperature: 1.0, top_p: 1.0, seed: 77 };
  const a = (await client.completions.create(body)).choices[0].text;
  const b = (await client.completions.create(body)).choices[0].text;
  assert.equal(a, b);
});

test("errors are OpenAI errors: 400 names the field, 401 without the key", async () => {
  await assert.rejects(client.chat.completions.create({ ...chatOf(0), n: 2 }), (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === "n");
  await assert.rejects(client.chat.completions.create({ ...chatOf(0), temperature: -1 }), (e) => e.status === 400 && e.param === "temperature");
  const stranger = new OpenAI({ apiKey: "wrong", baseURL: `${server.url}/v1`, maxRetries: 0 });
  await assert.rejects(stranger.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  await assert.rejects(stranger.chat.completions.create(chatOf(0)), (e) => e.status === 401);
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
});

test("8 concurrent streamed chats equal the same requests one at a time", async () => {
  const sequential = [];
  for (let i = 0; i < 8; i++) sequential.push((await client.chat.completions.create(chatOf(i))).choices[0].message.content);
  const concurrent = await Promise.all(STARTS.map((_, i) => streamedChat(chatOf(i))));
  assert.deepEqual(concurrent.map((c) => c.text), sequential);
});

test("a client that disconnects mid-stream cancels its sequence and frees its KV blocks", async () => {
  const cancelled = await metric(server.url, "requests_cancelled_total", KEY);
  const stream = await client.chat.completions.create({ ...chatOf(2), max_tokens: 2000, ignore_eos: true, stream: true });
  let chunks = 0;
  for await (const chunk of stream) { if (++chunks === 2) { stream.controller.abort(); break; } }
  assert.ok(await eventually(async () => (await metric(server.url, "requests_cancelled_total", KEY)) === cancelled + 1));
  assert.ok(await eventually(async () => (await metric(server.url, "kv_blocks_used", KEY)) === 0));
});

test("load: 200 requests, 16 at a time: no failure, no leaked KV block, RSS within the budget", async () => {
  const failedBefore = await metric(server.url, "requests_failed_total", KEY);
  let next = 0, done = 0;
  const worker = async () => {
    while (next < 200) {
      const i = next++;
      const body = { ...chatOf(i), max_tokens: 8 + (i % 8) };
      const text = i % 2 ? (await streamedChat(body)).text : (await client.chat.completions.create(body)).choices[0].message.content;
      assert.equal(typeof text, "string");
      done++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  assert.equal(done, 200);
  assert.equal(await metric(server.url, "requests_failed_total", KEY), failedBefore);
  assert.ok(await eventually(async () => (await metric(server.url, "kv_blocks_used", KEY)) === 0), "every KV block back in the pool");
  assert.equal(await metric(server.url, "queue_length", KEY), 0);
  assert.ok(peakRss(server.pid) < RAM_GB * 2 ** 30, `peak RSS ${peakRss(server.pid)} within --ram-gb ${RAM_GB}`);
});
