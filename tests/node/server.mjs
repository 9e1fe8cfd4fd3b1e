// Starts `vk_symbiote serve` for a test: stories260K on the CPU, on 127.0.0.1 and a port the
// server picks (--port 0; read back from its "listening on" line), and stops it with SIGTERM.
// The binary and model come from ctest's environment (VK_SYMBIOTE_BIN, VK_SYMBIOTE_MODEL).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

const START_TIMEOUT_MS = 120_000; // two slow shared cores

export async function startServer(extraArgs = []) {
  const bin = process.env.VK_SYMBIOTE_BIN;
  const model = process.env.VK_SYMBIOTE_MODEL;
  if (!bin || !model) throw new Error("VK_SYMBIOTE_BIN and VK_SYMBIOTE_MODEL must be set (ctest sets them)");
  const args = ["serve", "--model", model, "--disable-gpu", "--port", "0", "--ctx-size", "512",
                "--temperature", "0", "--threads", "2", ...extraArgs];
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the server did not start:\n" + log)), START_TIMEOUT_MS);
    child.stderr.on("data", (d) => {
      log += d.toString();
      const m = log.match(/listening on (http:\/\/[\d.]+:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`the server exited (${code}):\n${log}`)); });
  });
  const stop = () => new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.removeAllListeners("exit");
    child.on("exit", (code) => resolve(code));
    child.kill("SIGTERM");
  });
  return { url, pid: child.pid, stop, log: () => log };
}

// One value of GET /metrics (vk_symbiote_<name>).
export async function metric(url, name, apiKey) {
  const headers = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
  const text = await (await fetch(`${url}/metrics`, { headers })).text();
  const m = text.match(new RegExp(`^vk_symbiote_${name} (\\S+)$`, "m"));
  return m ? Number(m[1]) : NaN;
}

// Polls pred() until it is true (at most `ms`).
export async function eventually(pred, ms = 60_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return pred();
}

// Peak resident set size of a process in bytes (Linux).
export function peakRss(pid) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : NaN;
}
