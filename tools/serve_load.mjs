#!/usr/bin/env node
// serve_load: a load generator for `vk_symbiote serve` (or any OpenAI-compatible server).
// For each concurrency in --clients, that many clients each send --requests streamed
// completions of exactly --max-tokens tokens (ignore_eos) one after the other; it reports the
// aggregate generated tokens/s over the wall time and the time to first token (p50 / p99).
//
//   node tools/serve_load.mjs --url http://127.0.0.1:8080 --clients 1,4,16 [--requests 4]
//        [--max-tokens 128] [--prompt TEXT] [--api-key KEY] [--json]
//
// Needs Node 18 or later (fetch); no packages.
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:8080" },
    clients: { type: "string", default: "1,4,16" },
    requests: { type: "string", default: "4" },
    "max-tokens": { type: "string", default: "128" },
    prompt: { type: "string", default: "Once upon a time" },
    "api-key": { type: "string", default: "" },
    json: { type: "boolean", default: false },
  },
});

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// One streamed completion: its time to first token (ms) and generated tokens (from usage).
async function oneRequest(i) {
  const headers = { "Content-Type": "application/json" };
  if (opt["api-key"]) headers.Authorization = `Bearer ${opt["api-key"]}`;
  const body = { prompt: `${opt.prompt} ${i}`, max_tokens: Number(opt["max-tokens"]), ignore_eos: true, temperature: 0,
                 stream: true, stream_options: { include_usage: true } };
  const t0 = performance.now();
  const r = await fetch(`${opt.url}/v1/completions`, { method: "POST", headers, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
  const decoder = new TextDecoder();
  let buffer = "", ttft = 0, tokens = 0;
  for await (const bytes of r.body) {
    buffer += decoder.decode(bytes, { stream: true });
    for (let cut; (cut = buffer.indexOf("\n\n")) >= 0; buffer = buffer.slice(cut + 2)) {
      const event = buffer.slice(0, cut);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const chunk = JSON.parse(event.slice(6));
      if (chunk.error) throw new Error(chunk.error.message);
      if (!ttft && chunk.choices?.[0]?.text) ttft = performance.now() - t0;
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  }
  return { ttft, tokens };
}

async function level(clients) {
  const perClient = Number(opt.requests);
  const results = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let k = 0; k < perClient; k++) results.push(await oneRequest(c * perClient + k));
  }));
  const seconds = (performance.now() - t0) / 1000;
  const ttfts = results.map((r) => r.ttft).sort((a, b) => a - b);
  const tokens = results.reduce((s, r) => s + r.tokens, 0);
  return { clients, requests: results.length, tokens, seconds, tokens_per_second: tokens / seconds,
           ttft_p50_ms: percentile(ttfts, 50), ttft_p99_ms: percentile(ttfts, 99) };
}

const levels = [];
for (const c of opt.clients.split(",").map(Number)) {
  if (!Number.isInteger(c) || c < 1) throw new Error(`--clients: '${c}' is not a positive integer`);
  levels.push(await level(c));
}
if (opt.json) {
  console.log(JSON.stringify({ url: opt.url, max_tokens: Number(opt["max-tokens"]), levels }, null, 2));
} else {
  console.log(`server ${opt.url}, ${opt["max-tokens"]} tokens per request, ${opt.requests} requests per client`);
  console.log("clients  requests  tokens   seconds  tokens/s  TTFT p50 ms  TTFT p99 ms");
  for (const l of levels)
    console.log(`${String(l.clients).padStart(7)}  ${String(l.requests).padStart(8)}  ${String(l.tokens).padStart(6)}  ${l.seconds.toFixed(2).padStart(8)}  ` +
                `${l.tokens_per_second.toFixed(1).padStart(8)}  ${l.ttft_p50_ms.toFixed(1).padStart(11)}  ${l.ttft_p99_ms.toFixed(1).padStart(11)}`);
}
