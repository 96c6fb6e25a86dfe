// Shared helper for the end-to-end tests: a temporary chain made by
// `tally chain init`, its node(s) run as child processes, and small JSON-RPC /
// WebSocket clients that do not hide what the node answered.
//
//   const chain = await startChain({ initArgs: ['--min-block-txs', '3'] });
//   await chain.rpc('eth_blockNumber');
//   await chain.stop();
//
// The binary is $TALLY_BIN (default build/tally at the repository root).
// Every chain lives in its own temporary directory with a free port; the node's
// stderr goes to DIR/node0.log and its tail is shown when something fails.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const TALLY_BIN = path.resolve(REPO, process.env.TALLY_BIN || 'build/tally');

const live = new Set(); // child processes to kill if the test process exits early
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {}
  }
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll fn() until it returns a truthy value; throws after timeout ms. */
export async function waitFor(fn, { timeout = 15000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}` +
        (lastErr ? ` (last error: ${lastErr.message})` : ''));
    }
    await sleep(interval);
  }
}

/** A TCP port that was free a moment ago (n consecutive ports if n > 1). */
export async function freePort(n = 1) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await new Promise((resolve, reject) => {
      const s = net.createServer();
      s.unref();
      s.on('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
    if (base + n > 65535) continue;
    let ok = true;
    for (let i = 1; i < n && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error('no free port found');
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.on('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Error thrown for a JSON-RPC error answer; keeps code, message, data. */
export class RpcError extends Error {
  constructor(method, error) {
    super(`${method}: ${error?.message ?? JSON.stringify(error)}`);
    this.rpcMessage = error?.message;
    this.code = error?.code;
    this.data = error?.data;
  }
}

/** POST a body to url with node:http; resolves {status, headers, text, json}.
 * Never throws for HTTP errors; json is undefined if the body is not JSON. */
export function httpPost(url, body, { headers = {}, timeout = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const data = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname || '/', method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data),
        ...headers },
      timeout,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

let nextId = 1;

/** One JSON-RPC call; returns the result or throws RpcError. */
export async function rpcCall(url, method, params = []) {
  const r = await httpPost(url, { jsonrpc: '2.0', id: nextId++, method, params });
  if (!r.json) throw new Error(`${method}: HTTP ${r.status}, not JSON: ${r.text.slice(0, 200)}`);
  if (r.json.error) throw new RpcError(method, r.json.error);
  if (!('result' in r.json)) throw new Error(`${method}: no result in ${r.text.slice(0, 200)}`);
  return r.json.result;
}

/** A WebSocket client for the teaching-ledger ops. request() sends one op and
 * resolves with the next message (ops are answered in order). */
export class WsClient {
  constructor(url) {
    this.url = url;
    this.queue = [];
    this.waiters = [];
  }

  async open(timeout = 10000) {
    this.ws = new WebSocket(this.url);
    this.ws.on('message', (data) => {
      let msg;
      try {
        msg = JSON.parse(data.toString('utf8'));
      } catch {
        msg = { unparsable: data.toString('utf8') };
      }
      const w = this.waiters.shift();
      if (w) w.resolve(msg);
      else this.queue.push(msg);
    });
    this.ws.on('close', () => {
      for (const w of this.waiters.splice(0)) w.reject(new Error('WebSocket closed'));
    });
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`WebSocket ${this.url}: open timed out`)),
        timeout);
      this.ws.once('open', () => {
        clearTimeout(t);
        resolve();
      });
      this.ws.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
    return this;
  }

  next(timeout = 10000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error('no WebSocket answer within ' + timeout + ' ms'));
      }, timeout);
      w.resolve = (m) => {
        clearTimeout(t);
        resolve(m);
      };
      w.reject = (e) => {
        clearTimeout(t);
        reject(e);
      };
      this.waiters.push(w);
    });
  }

  /** Send an op object (or a raw string, for malformed input) and await the answer. */
  request(msg, timeout) {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
    return this.next(timeout);
  }

  get isOpen() {
    return this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  close() {
    if (this.ws) this.ws.close();
  }
}

/** A node process of a chain. With chain.netns it runs in network namespace
 * chain.netns[index] (`ip netns exec`, which execs, so the child is the node)
 * and is reached at chain.hosts[index]; otherwise at 127.0.0.1. */
class Node {
  constructor(chain, index) {
    this.chain = chain;
    this.index = index;
    this.dir = path.join(chain.dir, `node${index}`);
    this.port = chain.port + index;
    this.netns = chain.netns ? chain.netns[index] : null;
    this.host = chain.hosts ? chain.hosts[index] : '127.0.0.1';
    this.url = `http://${this.host}:${this.port}`;
    this.wsUrl = `ws://${this.host}:${this.port}/`;
    this.logPath = path.join(chain.dir, `node${index}.log`);
    this.proc = null;
    this.exits = [];
  }

  /** Start the node and wait until its JSON-RPC answers eth_blockNumber. */
  async start({ timeout = 30000 } = {}) {
    if (this.proc) throw new Error(`node${this.index} is already running`);
    const log = fs.openSync(this.logPath, 'a');
    fs.writeSync(log, `\n==== start ${new Date().toISOString()}\n`);
    const argv = [TALLY_BIN, 'node', '--dir', this.dir];
    if (this.netns) argv.unshift('ip', 'netns', 'exec', this.netns);
    const p = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    this.proc = p;
    live.add(p);
    const exited = new Promise((resolve) => {
      p.on('exit', (code, signal) => {
        live.delete(p);
        this.exits.push({ code, signal });
        if (this.proc === p) this.proc = null;
        resolve({ code, signal });
      });
    });
    this.exited = exited;
    const deadline = Date.now() + timeout;
    for (;;) {
      if (!this.proc) {
        const { code, signal } = await exited;
        throw new Error(`node${this.index} exited during start-up (code ${code}, signal ` +
          `${signal}); log tail:\n${this.logTail()}`);
      }
      try {
        await rpcCall(this.url, 'eth_blockNumber');
        return this;
      } catch {}
      if (Date.now() > deadline) {
        await this.kill9();
        throw new Error(`node${this.index} did not answer JSON-RPC within ${timeout} ms; ` +
          `log tail:\n${this.logTail()}`);
      }
      await sleep(50);
    }
  }

  get alive() {
    return this.proc !== null;
  }

  get pid() {
    return this.proc ? this.proc.pid : undefined;
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves with the exit status. */
  async stop({ graceMs = 10000 } = {}) {
    const p = this.proc;
    if (!p) return null;
    p.kill('SIGTERM');
    const t = setTimeout(() => {
      try {
        p.kill('SIGKILL');
      } catch {}
    }, graceMs);
    const st = await this.exited;
    clearTimeout(t);
    return st;
  }

  /** kill -9; resolves when the process is gone. */
  async kill9() {
    const p = this.proc;
    if (!p) return null;
    p.kill('SIGKILL');
    return this.exited;
  }

  async restart(opts) {
    await this.stop();
    return this.start(opts);
  }

  logTail(lines = 40) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  rpc(method, params = []) {
    return rpcCall(this.url, method, params);
  }

  post(body, opts) {
    return httpPost(this.url, body, opts);
  }

  ws() {
    return new WsClient(this.wsUrl).open();
  }
}

/**
 * Create a temporary chain with `tally chain init` and start its nodes.
 * options: nodes (default 1), initArgs (extra `chain init` arguments),
 * start (default true), keep (keep the directory after stop; also when
 * $TALLY_E2E_KEEP is set), hosts (one address per node, passed to `chain init
 * --hosts` and used in the nodes' urls), netns (one network namespace name per
 * node to run it in; needs hosts).
 * Returns a chain: { dir, port, url, wsUrl, nodes, node, accounts, genesis,
 *   chainId, rpc(), post(), ws(), stop() }.
 */
export async function startChain({ nodes = 1, initArgs = [], start = true, keep = false,
  hosts = null, netns = null } = {}) {
  if (!fs.existsSync(TALLY_BIN)) {
    throw new Error(`tally binary not found at ${TALLY_BIN} (build it, or set TALLY_BIN)`);
  }
  if (netns && !hosts) throw new Error('startChain: netns needs hosts');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-e2e-'));
  const port = await freePort(nodes);
  const hostArgs = hosts ? ['--hosts', hosts.join(',')] : [];
  const init = spawnSync(TALLY_BIN, ['chain', 'init', '--nodes', String(nodes), '--dir', dir,
    '--rpc-port', String(port), ...hostArgs, ...initArgs], { encoding: 'utf8' });
  if (init.status !== 0) {
    throw new Error(`tally chain init failed (${init.status}): ${init.stderr}${init.stdout}`);
  }
  const accounts = JSON.parse(fs.readFileSync(path.join(dir, 'accounts.json'), 'utf8'));
  const genesis = JSON.parse(fs.readFileSync(path.join(dir, 'genesis.json'), 'utf8'));
  const chain = {
    dir,
    port,
    accounts,
    genesis,
    chainId: BigInt(genesis.chain_id),
    nodes: [],
    keep: keep || !!process.env.TALLY_E2E_KEEP,
    hosts,
    netns,
  };
  for (let i = 0; i < nodes; i++) chain.nodes.push(new Node(chain, i));
  chain.node = chain.nodes[0];
  chain.url = chain.node.url;
  chain.wsUrl = chain.node.wsUrl;
  chain.rpc = (m, p) => chain.node.rpc(m, p);
  chain.post = (b, o) => chain.node.post(b, o);
  chain.ws = () => chain.node.ws();
  chain.stop = async () => {
    for (const n of chain.nodes) await n.stop();
    if (!chain.keep) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`# kept chain directory ${dir}`);
  };
  if (start) {
    try {
      for (const n of chain.nodes) await n.start();
    } catch (e) {
      for (const n of chain.nodes) await n.kill9();
      throw e;
    }
  }
  return chain;
}

/** Deterministic PRNG (mulberry32) for randomized tests: prints nothing;
 * callers print the seed. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)); // inclusive
  next.bytes = (n) => Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
  return next;
}

/** The seed for a randomized test: $TALLY_SEED or a fresh one. Printed so a
 * failing run can be replayed with TALLY_SEED=... */
export function testSeed(name) {
  const seed = process.env.TALLY_SEED ? Number(process.env.TALLY_SEED)
    : Math.floor(Math.random() * 2 ** 31);
  console.log(`# ${name}: seed ${seed} (replay with TALLY_SEED=${seed})`);
  return seed;
}
