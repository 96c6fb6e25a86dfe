// Helpers for the cluster tests: a steady load of signed transfers spread over
// the live nodes, agreement checks across nodes, and small waits.
import assert from 'node:assert/strict';
import { ethers } from 'ethers';
import { httpPost, rpcCall, sleep, waitFor } from '../../e2e/lib/chain.mjs';

export { sleep, waitFor };

/** Height of a node, or -1 if it does not answer. */
export async function heightOf(url) {
  try {
    return Number(BigInt(await rpcCall(url, 'eth_blockNumber')));
  } catch {
    return -1;
  }
}

/** Wait until every url's height grew by at least `by` from now. */
export async function waitCommits(urls, by, timeout = 30000, what = 'commits') {
  const start = await Promise.all(urls.map(heightOf));
  await waitFor(async () => {
    const now = await Promise.all(urls.map(heightOf));
    return now.every((h, i) => h >= start[i] + by);
  }, { timeout, interval: 200, what: `${what} (heights from ${start.join(',')} up by ${by})` });
}

/** Wait until every url is at least at height h. */
export async function waitHeight(urls, h, timeout = 60000, what = 'height') {
  await waitFor(async () => (await Promise.all(urls.map(heightOf))).every((x) => x >= h),
    { timeout, interval: 200, what: `${what} >= ${h}` });
}

/**
 * A closed-loop load: each sender keeps one transfer in flight, sent to a
 * random live node; once it is committed (tally_txStatus) the next one goes.
 * A transfer that is lost (its node died before gossiping it) is detected by
 * the sender's committed nonce and re-sent with the same nonce.
 * `committed` holds the hashes a node acknowledged as committed.
 */
export class Load {
  constructor(chain, { senders, liveUrls }) {
    this.chain = chain;
    this.wallets = senders.map((a) => new ethers.Wallet(a.private_key));
    this.to = chain.accounts[0].address;
    this.liveUrls = liveUrls; // () => array of urls of running nodes
    this.committed = new Set();
    this.sent = 0;
    this.errors = 0;
    this.running = false;
  }

  start() {
    this.running = true;
    this.loops = this.wallets.map((w, i) => this.loop(w, i));
  }

  async stop() {
    this.running = false;
    await Promise.all(this.loops);
  }

  pick() {
    const urls = this.liveUrls();
    return urls[Math.floor(Math.random() * urls.length)];
  }

  async loop(wallet, i) {
    let nonce = null;
    while (this.running) {
      const url = this.pick();
      try {
        if (nonce === null) {
          nonce = Number(BigInt(await rpcCall(url, 'eth_getTransactionCount',
            [wallet.address, 'latest'])));
        }
        const raw = await wallet.signTransaction({ to: this.to, value: 1n, nonce,
          gasLimit: 21000n, chainId: this.chain.chainId, type: 2, maxFeePerGas: 0n,
          maxPriorityFeePerGas: 0n });
        const hash = await rpcCall(url, 'eth_sendRawTransaction', [raw]);
        this.sent++;
        const deadline = Date.now() + 8000;
        let done = false;
        while (this.running && Date.now() < deadline && !done) {
          await sleep(100);
          const u = this.pick();
          try {
            const st = await rpcCall(u, 'tally_txStatus', [hash]);
            if (st.status === 'committed') {
              this.committed.add(hash);
              done = true;
            }
          } catch {}
        }
        if (done) nonce++;
        else nonce = null; // lost or slow: ask the chain again
      } catch (e) {
        this.errors++;
        nonce = null;
        await sleep(200);
      }
    }
  }
}

/** JSON-RPC batch to url; returns results in order (throws on errors). */
export async function batch(url, calls) {
  const body = calls.map(([method, params], id) => ({ jsonrpc: '2.0', id, method, params }));
  const r = await httpPost(url, body, { timeout: 30000 });
  if (!Array.isArray(r.json)) throw new Error(`batch to ${url}: ${r.text.slice(0, 200)}`);
  const byId = new Map(r.json.map((x) => [x.id, x]));
  return calls.map((_, id) => {
    const x = byId.get(id);
    if (!x || x.error) throw new Error(`batch ${calls[id][0]}: ${JSON.stringify(x?.error)}`);
    return x.result;
  });
}

/** Block hashes 0..h of a node. */
export async function hashes(url, h) {
  const out = [];
  for (let from = 0; from <= h; from += 500) {
    const calls = [];
    for (let k = from; k <= Math.min(h, from + 499); k++) {
      calls.push(['eth_getBlockByNumber', ['0x' + k.toString(16), false]]);
    }
    for (const b of await batch(url, calls)) out.push(b ? b.hash : null);
  }
  return out;
}

/**
 * Agreement at the end of a run: wait until every node is at the same height
 * with an empty pool (progress logged every 2 s through log), then check the
 * same block hash at every height on every node and a receipt on every node
 * for every transfer the load saw acknowledged. Returns the final height.
 */
export async function checkAgreement(nodes, load, { timeout = 40000, log = () => {} } = {}) {
  let said = Date.now();
  await waitFor(async () => {
    const hs = await Promise.all(nodes.map((n) => heightOf(n.url)));
    const pools = await Promise.all(nodes.map((n) => n.rpc('tally_status')
      .then((s) => s.poolSize)));
    if (Date.now() - said > 2000) {
      said = Date.now();
      log(`waiting for agreement: heights ${hs.join('/')}, pools ${pools.join('/')}`);
    }
    return hs.every((x) => x === hs[0] && x > 0) && pools.every((p) => p === 0);
  }, { timeout, what: 'all nodes at the same height with empty pools' });
  const h = await heightOf(nodes[0].url);
  const all = await Promise.all(nodes.map((n) => hashes(n.url, h)));
  for (let k = 0; k <= h; k++) {
    for (let i = 1; i < nodes.length; i++) {
      assert.equal(all[i][k], all[0][k], `block ${k} on node${i}`);
    }
  }
  const acked = [...load.committed];
  for (const n of nodes) {
    for (let i = 0; i < acked.length; i += 500) {
      const part = acked.slice(i, i + 500);
      const body = part.map((hh, id) => ({ jsonrpc: '2.0', id, method:
        'eth_getTransactionReceipt', params: [hh] }));
      const r = await n.post(body);
      for (const x of r.json) assert.ok(x.result, `tx ${part[x.id]} on node${n.index}`);
    }
  }
  log(`agreement: ${h + 1} blocks identical on ${nodes.length} nodes; ${acked.length} ` +
    `acknowledged transfers present everywhere (${load.sent} sent, ${load.errors} client errors)`);
  return h;
}

/**
 * kill -9 the follower after the current leader, let the others commit 5
 * blocks without it (after downMs), restart it, wait until it catches up and
 * check that every node has the same state root at its height. live() gives
 * the urls of running nodes. Returns the follower.
 */
export async function crashFollowerAndCatchUp(nodes, live, { downMs, log = () => {} }) {
  const cs = await nodes[0].rpc('tally_consensus');
  const follower = nodes[(cs.leaderIndex + 1) % nodes.length];
  log(`kill -9 follower node${follower.index} (leader is ${cs.leader})`);
  await follower.kill9();
  await sleep(downMs); // it misses some blocks
  await waitCommits(live(), 5, 30000, 'commits without a follower');
  await follower.start();
  const target = Math.max(...(await Promise.all(live().map(heightOf))));
  await waitHeight([follower.url], target, 60000, `node${follower.index} catching up`);
  const h = await heightOf(follower.url);
  await waitHeight(live(), h);
  const blocks = await Promise.all(nodes.map((n) =>
    n.rpc('eth_getBlockByNumber', ['0x' + h.toString(16), false])));
  for (const b of blocks) assert.equal(b.stateRoot, blocks[0].stateRoot, `state root at ${h}`);
  log(`node${follower.index} caught up to ${h}; state roots agree`);
  return follower;
}
