// The 4-node cluster again, each node in its own network namespace, the four
// joined by a bridge in the root namespace, with 20 ms of delay and 1% loss
// on every packet between hosts (so 40 ms round trips between nodes). Under a
// steady load of transfers: commits continue, a follower killed with -9
// catches up, and at the end every node has the same block at every height
// and every transfer acknowledged as committed.
//
// The impairment is `tc qdisc ... netem` on each namespace's egress. Where the
// kernel has no sch_netem, it is an iptables NFQUEUE rule on each namespace's
// ingress and tests/cluster/netdelay.c (build/netdelay) holding each packet
// 20 ms and dropping 1%. Ingress, not egress: a packet held on the sender's
// OUTPUT still belongs to its socket, and TCP Small Queues then lets only a
// couple of packets per connection be in flight below TCP, so throughput falls
// to ~2 packets per 20 ms (netem avoids this with skb_orphan_partial()); on
// the receiver's INPUT the packet is already orphaned.
//
// Skips, saying why, where namespaces are not allowed (not root, no `ip`) or
// neither impairment can be had. Everything it makes is named after its pid
// and taken down at the end, on exit and on SIGINT/SIGTERM; leftovers of a run
// whose process is gone are removed first.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { REPO, startChain, TALLY_BIN, testSeed } from '../e2e/lib/chain.mjs';
import { Load, checkAgreement, crashFollowerAndCatchUp, heightOf, sleep, waitCommits, waitFor }
  from './lib/cluster.mjs';

const N = 4;
const DELAY_MS = 20;
const LOSS_PCT = 1;
const STEADY_MS = 20000; // the steady phase under load
const PID = process.pid;
const BRIDGE = `tbr${PID}`; // interface names: at most 15 characters
const nsName = (i) => `tally${PID}n${i}`;
const vethHost = (i) => `tv${PID}h${i}`;
const vethNs = (i) => `tv${PID}n${i}`;

function log(msg) {
  console.log(`# ${new Date().toISOString().slice(11, 23)} ${msg}`);
}

/** Run a command (in namespace ns if given); never throws. */
function sh(cmd, args, { ns = null, timeout = 15000 } = {}) {
  const argv = ns ? ['ip', 'netns', 'exec', ns, cmd, ...args] : [cmd, ...args];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout });
  let err = null;
  if (r.error) err = r.error.code === 'ENOENT' ? `${argv[0]}: not found` : r.error.message;
  else if (r.status !== 0) err = (r.stderr || r.stdout || '').trim() || `exit status ${r.status}`;
  return { ok: !err, err, out: r.stdout || '', cmd: argv.join(' ') };
}

/** A reason to skip rather than fail: the machine does not allow the setup. */
class Unavailable extends Error {}

function must(cmd, args, opts, why = 'network namespaces not allowed here') {
  const r = sh(cmd, args, opts);
  if (!r.ok) throw new Unavailable(`${why}: \`${r.cmd}\`: ${r.err}`);
  return r.out;
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Remove namespaces, bridges and veths left by runs of this test whose
 * process is gone (a crash, a SIGKILL), with whatever still runs in them. */
function removeStale() {
  for (const line of sh('ip', ['netns', 'list']).out.split('\n')) {
    const name = line.split(' ')[0];
    const m = /^tally(\d+)n\d+$/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    for (const p of sh('ip', ['netns', 'pids', name]).out.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {}
    }
    sh('ip', ['netns', 'del', name]);
    log(`removed stale namespace ${name}`);
  }
  for (const line of sh('ip', ['-o', 'link', 'show']).out.split('\n')) {
    const m = /^\d+: ((?:tbr|tv)(\d+)(?:[hn]\d+)?)[@:]/.exec(line);
    if (!m || pidAlive(Number(m[2]))) continue;
    sh('ip', ['link', 'del', m[1]]);
    log(`removed stale interface ${m[1]}`);
  }
}

/** The bridge, the namespaces, their veths, the impairment and its helpers. */
class Lab {
  constructor() {
    this.bridge = false;
    this.namespaces = [];
    this.veths = [];
    this.helpers = [];
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-netns-'));
    this.torn = false;
  }

  /** Make the topology; throws Unavailable where the machine refuses. */
  setup() {
    removeStale();
    // a /24 not in use in the root namespace (10.77.0.0/24 unless taken)
    const used = sh('ip', ['-o', '-4', 'addr', 'show']).out + sh('ip', ['-4', 'route']).out;
    let x = 0;
    while (x < 255 && used.includes(`10.77.${x}.`)) x++;
    if (x === 255) throw new Unavailable('no free 10.77.x.0/24 subnet');
    this.hosts = Array.from({ length: N }, (_, i) => `10.77.${x}.${i + 1}`);
    // the namespaces first: where they are not allowed, this is what fails
    for (let i = 0; i < N; i++) {
      must('ip', ['netns', 'add', nsName(i)]);
      this.namespaces.push(nsName(i));
    }
    must('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    this.bridge = true;
    must('ip', ['addr', 'add', `10.77.${x}.254/24`, 'dev', BRIDGE]);
    must('ip', ['link', 'set', BRIDGE, 'up']);
    for (let i = 0; i < N; i++) {
      const ns = nsName(i);
      must('ip', ['link', 'add', vethHost(i), 'type', 'veth', 'peer', 'name', vethNs(i)]);
      this.veths.push(vethHost(i));
      must('ip', ['link', 'set', vethNs(i), 'netns', ns]);
      must('ip', ['link', 'set', vethHost(i), 'master', BRIDGE]);
      must('ip', ['link', 'set', vethHost(i), 'up']);
      must('ip', ['-n', ns, 'addr', 'add', `${this.hosts[i]}/24`, 'dev', vethNs(i)]);
      must('ip', ['-n', ns, 'link', 'set', vethNs(i), 'up']);
      must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  }

  /** Delay and drop between the namespaces: tc netem on each one's egress,
   * else NFQUEUE on each one's ingress and netdelay (see the top of the file).
   * Returns a line saying which; throws Unavailable if neither. */
  async impair(seed) {
    const netem = [];
    for (let i = 0; i < N; i++) {
      const r = sh('tc', ['qdisc', 'add', 'dev', vethNs(i), 'root', 'netem', 'delay',
        `${DELAY_MS}ms`, 'loss', `${LOSS_PCT}%`], { ns: nsName(i) });
      if (!r.ok) {
        netem.push(r.err);
        break;
      }
    }
    if (!netem.length) return `tc netem ${DELAY_MS}ms ${LOSS_PCT}%`;
    for (let i = 0; i < N; i++) {
      sh('tc', ['qdisc', 'del', 'dev', vethNs(i), 'root'], { ns: nsName(i) });
    }

    const noNetem = `no tc netem (${netem[0]})`;
    const candidates = [...new Set([path.join(path.dirname(TALLY_BIN), 'netdelay'),
      path.join(REPO, 'build', 'netdelay')])];
    const netdelay = candidates.find((p) => fs.existsSync(p));
    if (!netdelay) {
      throw new Unavailable(`${noNetem} and no netdelay binary (looked at ` +
        `${candidates.join(', ')}; it is built where libnetfilter_queue is installed)`);
    }
    for (let i = 0; i < N; i++) {
      const logPath = path.join(this.dir, `netdelay${i}.log`);
      const fd = fs.openSync(logPath, 'a');
      const p = spawn('ip', ['netns', 'exec', nsName(i), netdelay, '--queue', '0',
        '--delay-ms', String(DELAY_MS), '--loss-pct', String(LOSS_PCT), '--seed', String(seed + i)],
      { stdio: ['ignore', fd, fd] });
      fs.closeSync(fd);
      const helper = { proc: p, logPath, exited: null, status: null };
      helper.exited = new Promise((resolve) => p.on('exit', (code, signal) => {
        helper.status = { code, signal };
        resolve(helper.status);
      }));
      this.helpers.push(helper);
      try {
        await waitFor(() => {
          if (helper.status) return true;
          return /netdelay: queue 0,/.test(fs.readFileSync(logPath, 'utf8'));
        }, { timeout: 5000, what: `netdelay in ${nsName(i)} binding its queue` });
      } catch (e) {
        throw new Unavailable(`${noNetem}; netdelay did not start: ${e.message}`);
      }
      if (helper.status) {
        throw new Unavailable(`${noNetem} and NFQUEUE is not available: ` +
          fs.readFileSync(logPath, 'utf8').trim());
      }
    }
    // iptables (nft backend) or, failing that, iptables-legacy; packets from
    // the other namespaces and from the root one (JSON-RPC) alike
    const rule = (i) => ['-A', 'INPUT', '-i', vethNs(i), '-j', 'NFQUEUE', '--queue-num', '0',
      '--queue-bypass'];
    const tried = [];
    let iptables = null;
    for (const bin of ['iptables', 'iptables-legacy']) {
      const r = sh(bin, rule(0), { ns: nsName(0) });
      if (r.ok) {
        iptables = bin;
        break;
      }
      tried.push(`${bin}: ${r.err}`);
    }
    if (!iptables) throw new Unavailable(`${noNetem} and no usable iptables (${tried.join('; ')})`);
    for (let i = 1; i < N; i++) must(iptables, rule(i), { ns: nsName(i) }, noNetem);
    return `NFQUEUE delayer (no sch_netem in this kernel; ${iptables} INPUT rules, ` +
      `${path.relative(REPO, netdelay)}): ${DELAY_MS}ms, ${LOSS_PCT}% loss`;
  }

  /** Stop the delayers gracefully (they print their counts). */
  async stopHelpers() {
    for (const h of this.helpers) {
      if (!h.status) h.proc.kill('SIGTERM');
    }
    for (const h of this.helpers) {
      const t = setTimeout(() => h.proc.kill('SIGKILL'), 3000);
      await h.exited;
      clearTimeout(t);
      const last = fs.readFileSync(h.logPath, 'utf8').trim().split('\n').pop();
      log(last);
    }
  }

  /** Take everything down; synchronous, so it also works in an exit handler. */
  teardown() {
    if (this.torn) return;
    this.torn = true;
    for (const h of this.helpers) {
      if (!h.status) {
        try {
          h.proc.kill('SIGKILL');
        } catch {}
      }
    }
    for (const ns of this.namespaces) {
      // the nodes are killed by chain.mjs's exit handler or chain.stop();
      // anything else still in our namespace was started by this test too
      for (const p of sh('ip', ['netns', 'pids', ns]).out.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(p), 'SIGKILL');
        } catch {}
      }
      sh('ip', ['netns', 'del', ns]); // takes its veth (and the peer), qdisc and rules with it
    }
    for (const v of this.veths) sh('ip', ['link', 'del', v]); // normally gone already
    if (this.bridge) sh('ip', ['link', 'del', BRIDGE]);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Round-trip times (ms) from namespace ns to host: TCP connects to a closed
 * port, each answered by a RST, so one round trip each. */
function tcpRtts(ns, host, count = 7) {
  const script = `const net = require('net');
(async () => {
  const out = [];
  for (let i = 0; i < ${count}; i++) {
    const t = process.hrtime.bigint();
    const ok = await new Promise((res) => {
      const s = net.connect({ host: '${host}', port: 9, timeout: 3000 });
      s.on('connect', () => { s.destroy(); res(true); });
      s.on('error', (e) => res(e.code === 'ECONNREFUSED'));
      s.on('timeout', () => { s.destroy(); res(false); });
    });
    if (ok) out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  console.log(JSON.stringify(out));
})();`;
  const r = sh(process.execPath, ['-e', script], { ns, timeout: 30000 });
  assert.ok(r.ok, `RTT probe from ${ns}: ${r.err}`);
  const v = JSON.parse(r.out.trim()).sort((a, b) => a - b);
  assert.ok(v.length > 0, `no RTT sample from ${ns} to ${host}`);
  return { min: v[0], median: v[Math.floor(v.length / 2)], n: v.length };
}

const fmtRtt = (r) => `min ${r.min.toFixed(2)} ms, median ${r.median.toFixed(2)} ms (${r.n} TCP ` +
  'connects)';

/** tally_consensus viewChanges of each node. */
function viewChanges(nodes) {
  return Promise.all(nodes.map((n) => n.rpc('tally_consensus').then((c) => c.viewChanges)));
}

function countLines(file, re) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => re.test(l)).length;
  } catch {
    return 0;
  }
}

test(`4-node PBFT cluster in network namespaces, ${DELAY_MS} ms delay and ${LOSS_PCT}% loss ` +
  'between hosts: commits, follower crash, agreement', { timeout: 180000 }, async (t) => {
  const started = Date.now();
  const lab = new Lab();
  let chain = null;
  let passed = false;
  const onExit = () => lab.teardown();
  const onSignal = (sig) => {
    lab.teardown(); // kills the nodes too: they run in its namespaces
    if (chain && !chain.keep) fs.rmSync(chain.dir, { recursive: true, force: true });
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let mechanism;
    let base;
    try {
      lab.setup();
      base = tcpRtts(nsName(0), lab.hosts[1]);
      const seed = testSeed('netns impairment');
      mechanism = await lab.impair(seed);
    } catch (e) {
      if (!(e instanceof Unavailable)) throw e;
      log(`skipped: ${e.message}`);
      t.skip(e.message);
      return;
    }
    log(`impairment: ${mechanism}`);
    const rtt = tcpRtts(nsName(0), lab.hosts[1]);
    log(`RTT node0 -> node1 namespace: before ${fmtRtt(base)}; after ${fmtRtt(rtt)}`);
    assert.ok(rtt.min >= 2 * DELAY_MS - 5, `RTT between namespaces is ${rtt.min.toFixed(2)} ms, ` +
      `expected about ${2 * DELAY_MS} ms: the impairment is not in effect`);

    chain = await startChain({ nodes: N, hosts: lab.hosts, netns: lab.namespaces,
      initArgs: ['--accounts', '13', '--view-timeout-ms', '1000'] });
    const nodes = chain.nodes;
    const live = () => nodes.filter((n) => n.alive).map((n) => n.url);
    const load = new Load(chain, { senders: chain.accounts.slice(1, -1), liveUrls: live });
    log(`nodes up at ${nodes.map((n) => n.url).join(' ')} (${chain.dir})`);
    let h0;
    let h1;
    let loadSecs;
    try {
      await waitFor(async () => {
        for (const n of nodes) {
          const peers = await n.rpc('tally_peers');
          if (peers.filter((p) => p.connected).length !== N - 1) return false;
        }
        return true;
      }, { timeout: 30000, what: 'all nodes connected to each other' });
      log('all nodes connected');
      load.start();
      await waitCommits(live(), 3, 30000, 'first commits under load');
      // a steady phase: commits keep coming, with no long stall
      const vc0 = await viewChanges(nodes);
      const t0 = Date.now();
      h0 = Math.min(...(await Promise.all(live().map(heightOf))));
      let last = h0;
      let lastAt = t0;
      let stall = 0;
      while (Date.now() - t0 < STEADY_MS) {
        await sleep(250);
        const hNow = Math.min(...(await Promise.all(live().map(heightOf))));
        if (hNow > last) {
          last = hNow;
          lastAt = Date.now();
        }
        stall = Math.max(stall, Date.now() - lastAt);
      }
      h1 = last;
      loadSecs = (Date.now() - t0) / 1000;
      const vc1 = await viewChanges(nodes);
      log(`steady load: ${h1 - h0} blocks in ${loadSecs.toFixed(1)} s ` +
        `(${((h1 - h0) / loadSecs).toFixed(1)}/s), longest stall ${stall} ms, view changes ` +
        `${vc1.map((v, i) => v - vc0[i]).join('/')}, ${load.committed.size} transfers ` +
        'acknowledged so far');
      assert.ok(h1 - h0 >= 20, `only ${h1 - h0} blocks in ${loadSecs.toFixed(1)} s`);
      assert.ok(stall < 10000, `no block on some node for ${stall} ms`);

      // kill -9 a follower: commits continue; restarted, it catches up
      await crashFollowerAndCatchUp(nodes, live, { downMs: 2000, log });
      await waitCommits(live(), 3, 30000, 'commits with all four again');
      log('commits with all four again');
    } finally {
      await load.stop();
      log('load stopped');
    }

    // agreement: same hash at every height; every acknowledged transfer is in the chain
    const h = await checkAgreement(nodes, load, { log });

    // figures for the reader
    const cons = await Promise.all(nodes.map((n) => n.rpc('tally_consensus')));
    const peers = await Promise.all(nodes.map((n) => n.rpc('tally_peers')));
    log(`figures: ${mechanism}; RTT ${rtt.min.toFixed(1)}-${rtt.median.toFixed(1)} ms; ` +
      `${h1 - h0} blocks in ${loadSecs.toFixed(1)} s of steady load ` +
      `(${((h1 - h0) / loadSecs).toFixed(1)}/s); final height ${h}; ` +
      `${load.committed.size} transfers acknowledged`);
    for (const n of nodes) {
      const c = cons[n.index];
      const dropped = peers[n.index].reduce((s, p) => s + p.dropped, 0);
      log(`node${n.index}: view ${c.view}, ${c.viewChanges} view changes since its last start, ` +
        `${countLines(n.logPath, /view change:/)} "view change" log lines in all, ` +
        `${countLines(n.logPath, / disconnected$/)} peer disconnects logged, ` +
        `${dropped} frames dropped by send queues`);
    }
    log(`run time ${((Date.now() - started) / 1000).toFixed(1)} s`);
    passed = true;
  } finally {
    try {
      if (chain && !passed) {
        // the last lines of each log other than the block-by-block ones
        for (const n of chain.nodes) {
          const lines = fs.readFileSync(n.logPath, 'utf8').split('\n')
            .filter((l) => l && !/ committed: /.test(l));
          log(`node${n.index} log tail (without "block N committed"):\n` +
            lines.slice(-25).join('\n'));
        }
      }
      if (chain) await chain.stop();
    } finally {
      await lab.stopHelpers();
      lab.teardown();
      process.off('exit', onExit);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
});
