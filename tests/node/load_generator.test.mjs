// tools/serve_load.mjs (the load generator for the GPU figures) against a running server:
// every concurrency level reports all its requests' tokens, a rate and TTFT percentiles.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { startServer } from "./server.mjs";

const TOOL = fileURLToPath(new URL("../../tools/serve_load.mjs", import.meta.url));

test("serve_load reports tokens/s and TTFT per concurrency", async () => {
  const server = await startServer(["--parallel", "4"]);
  try {
    const { stdout } = await promisify(execFile)(process.execPath,
      [TOOL, "--url", server.url, "--clients", "1,4", "--requests", "2", "--max-tokens", "8", "--json"], { timeout: 120_000 });
    const report = JSON.parse(stdout);
    assert.deepEqual(report.levels.map((l) => l.clients), [1, 4]);
    for (const l of report.levels) {
      assert.equal(l.requests, l.clients * 2);
      assert.equal(l.tokens, l.requests * 8);
      assert.ok(l.tokens_per_second > 0);
      assert.ok(l.ttft_p50_ms > 0 && l.ttft_p99_ms >= l.ttft_p50_ms);
    }
  } finally {
    await server.stop();
  }
});
