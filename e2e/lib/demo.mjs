// Starts the demo server (the `demo` binary of the workspace's demo/ crate) on a free
// loopback port.

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The demo binary: $DEMO_BIN, else <target dir>/debug/demo (`cargo build -p demo`). */
export function demoBinary() {
  if (process.env.DEMO_BIN) return process.env.DEMO_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(repo, 'target');
  return path.join(target, 'debug', 'demo');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Spawns the demo with `env` added to this process' environment and waits (at most
 * 20 s) until it answers. Returns {base, log(), stop()}.
 */
export async function startDemo(env) {
  const bin = demoBinary();
  if (!existsSync(bin)) throw new Error(`${bin} not found: run \`cargo build -p demo\` first`);
  const port = await freePort();
  let output = '';
  const child = spawn(bin, [], {
    env: { ...process.env, RUST_LOG: 'info', ...env, BIND: `127.0.0.1:${port}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`demo exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`${base}/.well-known/jwks.json`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (i >= 200) {
      child.kill('SIGKILL');
      throw new Error(`demo did not answer within 20 s:\n${output}`);
    }
    await sleep(100);
  }
  return {
    base,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
