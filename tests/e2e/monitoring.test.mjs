// Monitoring and the explorer's listings on a real 4-node cluster: GET
// /metrics in the Prometheus text format (every family, counters that move,
// RPC calls by method and status), tally_nodes / tally_blocks /
// tally_latestTxs / tally_accountTxs with their bounds and refusals, the
// explorer's files at /, and `tally status DIR` (one shot and --watch).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { ethers } from 'ethers';
import { freePort, startChain, waitFor, RpcError, TALLY_BIN } from './lib/chain.mjs';

// Parse the text format strictly: HELP/TYPE comments, then samples
// `name{labels} value`; returns { types: {family: type}, samples: [...] }.
function parseMetrics(text) {
  const types = {};
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/.exec(line))) continue;
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line))) {
      types[m[1]] = m[2];
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[2]) {
      for (const part of m[2].slice(1, -1).split(/,(?=[a-zA-Z_]+=")/)) {
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/.exec(part);
        assert.ok(lm, `bad label ${part} in ${line}`);
        labels[lm[1]] = lm[2];
      }
    }
    const value = Number(m[3] === '+Inf' ? Infinity : m[3]);
    assert.ok(!Number.isNaN(value), `bad value in ${line}`);
    samples.push({ name: m[1], labels, value });
  }
  return { types, samples };
}

const sample = (parsed, name, labels = {}) => parsed.samples.find((s) => s.name === name &&
  Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

async function getText(url) {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

describe('monitoring and explorer listings', () => {
  let chain;
  let txHash;
  const value = ethers.parseEther('1.25');

  before(async () => {
    const p2p = await freePort(4);
    chain = await startChain({ nodes: 4, initArgs: ['--p2p-port', String(p2p)] });
    await waitFor(async () => (await chain.rpc('tally_nodes')).every((n) => n.connected),
      { timeout: 20000, what: 'all four nodes connected' });
    const w = new ethers.Wallet(chain.accounts[0].private_key);
    const raw = await w.signTransaction({ to: chain.accounts[1].address, value, nonce: 0,
      gasLimit: 21000n, gasPrice: 0n, chainId: chain.chainId, type: 0 });
    txHash = await chain.rpc('eth_sendRawTransaction', [raw]);
    await waitFor(async () => (await chain.rpc('eth_getTransactionReceipt', [txHash])) !== null,
      { timeout: 20000, what: 'the transfer committed' });
  });

  after(async () => {
    if (chain) await chain.stop();
  });

  test('GET /metrics: every family, in the text format, with moving counters', async () => {
    const r = await getText(`${chain.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    const m = parseMetrics(r.text);
    const want = {
      tally_block_height: 'gauge', tally_transactions_committed_total: 'counter',
      tally_pool_transactions: 'gauge', tally_peers_connected: 'gauge',
      tally_view_changes_total: 'counter', tally_block_commit_latency_seconds: 'histogram',
      tally_rpc_requests_total: 'counter', tally_p2p_received_bytes_total: 'counter',
      tally_p2p_sent_bytes_total: 'counter',
    };
    for (const [name, type] of Object.entries(want)) assert.equal(m.types[name], type, name);
    const height = Number(await chain.rpc('eth_blockNumber'));
    assert.ok(sample(m, 'tally_block_height') >= height);
    assert.ok(sample(m, 'tally_transactions_committed_total') >= 1);
    assert.equal(sample(m, 'tally_peers_connected'), 3);
    assert.ok(sample(m, 'tally_p2p_received_bytes_total') > 0);
    assert.ok(sample(m, 'tally_p2p_sent_bytes_total') > 0);
    // the histogram: cumulative buckets ending in +Inf = count, at least one block
    const buckets = m.samples.filter((s) => s.name === 'tally_block_commit_latency_seconds_bucket');
    assert.ok(buckets.length >= 2);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value);
    assert.equal(buckets.at(-1).labels.le, '+Inf');
    assert.equal(buckets.at(-1).value, sample(m, 'tally_block_commit_latency_seconds_count'));
    assert.ok(sample(m, 'tally_block_commit_latency_seconds_count') >= 1);
    // RPC calls by method and status; unknown method names are not echoed
    const ok0 = sample(m, 'tally_rpc_requests_total', { method: 'eth_chainId', status: 'ok' }) ?? 0;
    await chain.rpc('eth_chainId');
    await assert.rejects(chain.rpc('eth_getBalance', ['0xnot-an-address']), RpcError);
    await assert.rejects(chain.rpc('no_such_method_x'), RpcError);
    const m2 = parseMetrics((await getText(`${chain.url}/metrics`)).text);
    assert.equal(sample(m2, 'tally_rpc_requests_total', { method: 'eth_chainId', status: 'ok' }),
      ok0 + 1);
    assert.ok(sample(m2, 'tally_rpc_requests_total', { method: 'eth_getBalance', status: 'error' })
      >= 1);
    assert.ok(sample(m2, 'tally_rpc_requests_total', { method: '(refused)', status: 'error' }) >= 1);
    assert.ok(!m2.samples.some((s) => s.labels.method === 'no_such_method_x'));
  });

  test('tally_nodes: four validators, one leader, heights and views of the peers', async () => {
    await waitFor(async () => (await chain.rpc('tally_nodes')).every((n) => n.view !== null &&
      n.height >= 1), { timeout: 10000, what: 'peer heights and views from STATUS' });
    const nodes = await chain.rpc('tally_nodes');
    assert.equal(nodes.length, 4);
    assert.equal(nodes.filter((n) => n.leader).length, 1);
    assert.equal(nodes.filter((n) => n.self).length, 1);
    for (const n of nodes) {
      assert.match(n.id, /^0x[0-9a-f]{64}$/);
      assert.equal(n.address, ethers.dataSlice(ethers.keccak256(n.id), 12));
      assert.equal(n.connected, true);
    }
    // tally_validators is the same list
    assert.deepEqual((await chain.rpc('tally_validators')).map((v) => v.id), nodes.map((n) => n.id));
  });

  test('block headers carry the transaction count and the certificate signers', async () => {
    const rc = await chain.rpc('eth_getTransactionReceipt', [txHash]);
    const b = await chain.rpc('eth_getBlockByNumber', [rc.blockNumber, false]);
    assert.equal(Number(b.transactionCount), b.transactions.length);
    assert.ok(b.commitSigners.length >= 3, 'a quorum of 4 signed');
    assert.deepEqual([...b.commitSigners].sort(), b.commitSigners);
    const genesis = await chain.rpc('eth_getBlockByNumber', ['0x0', false]);
    assert.deepEqual(genesis.commitSigners, []);
  });

  test('tally_blocks, tally_latestTxs, tally_accountTxs', async () => {
    const head = Number(await chain.rpc('eth_blockNumber'));
    const blocks = await chain.rpc('tally_blocks', [5]);
    assert.equal(blocks.length, Math.min(5, head + 1));
    assert.ok(blocks[0].number >= head);
    for (let i = 1; i < blocks.length; i++) assert.equal(blocks[i].number, blocks[i - 1].number - 1);
    const one = await chain.rpc('eth_getBlockByNumber', [ethers.toQuantity(blocks[1].number), false]);
    assert.equal(blocks[1].hash, one.hash);
    assert.equal(blocks[1].transactionCount, one.transactions.length);
    assert.deepEqual((await chain.rpc('tally_blocks', [2, 1])).map((x) => x.number), [0]);

    const latest = await chain.rpc('tally_latestTxs', [5]);
    const mine = latest.find((t) => t.hash === txHash);
    assert.ok(mine, 'the transfer is among the latest');
    assert.equal(mine.value, value.toString());
    assert.equal(mine.from, chain.accounts[0].address.toLowerCase());
    assert.equal(mine.success, true);

    const acct = await chain.rpc('tally_accountTxs', [chain.accounts[1].address]);
    assert.deepEqual(acct.transactions.map((t) => t.hash), [txHash]);
    assert.equal(acct.more, false);
    assert.equal(acct.scannedFrom, 0);
    const none = await chain.rpc('tally_accountTxs', [ethers.Wallet.createRandom().address]);
    assert.deepEqual(none.transactions, []);
    const older = await chain.rpc('tally_accountTxs', [chain.accounts[1].address,
      { before: mine.blockNumber }]);
    assert.deepEqual(older.transactions, []);

    // a block's transactions page by page
    const page = await chain.rpc('tally_blockTxs', [ethers.toQuantity(mine.blockNumber), 0, 100]);
    assert.equal(page.total, page.transactions.length);
    assert.deepEqual(page.transactions.find((t) => t.hash === txHash), mine);
    assert.deepEqual((await chain.rpc('tally_blockTxs', [ethers.toQuantity(mine.blockNumber),
      page.total, 10])).transactions, []);
    assert.equal(await chain.rpc('tally_blockTxs', ['0xffffff']), null);

    // a contract creation is listed for the contract's address, with it
    const w = new ethers.Wallet(chain.accounts[2].private_key);
    const raw = await w.signTransaction({ data: '0x60006000f3', nonce: 0, gasLimit: 100000n,
      gasPrice: 0n, chainId: chain.chainId, type: 0 });
    const create = await chain.rpc('eth_sendRawTransaction', [raw]);
    const rc = await waitFor(() => chain.rpc('eth_getTransactionReceipt', [create]),
      { timeout: 20000, what: 'the creation committed' });
    const byContract = await chain.rpc('tally_accountTxs', [rc.contractAddress]);
    assert.deepEqual(byContract.transactions.map((t) => t.hash), [create]);
    assert.equal(byContract.transactions[0].contractAddress, rc.contractAddress);
    assert.equal(byContract.transactions[0].to, null);

    for (const [method, params] of [
      ['tally_blocks', [1001]], ['tally_blocks', [-1]], ['tally_blocks', ['ten']],
      ['tally_blocks', [1.5]], ['tally_latestTxs', [101]], ['tally_accountTxs', []],
      ['tally_accountTxs', ['0x1234']], ['tally_accountTxs', [chain.accounts[1].address, 7]],
      ['tally_accountTxs', [chain.accounts[1].address, { limit: 1000 }]],
      ['tally_blockTxs', ['0x1', 0, 101]], ['tally_blockTxs', ['0x1', -1]], ['tally_blockTxs', [{}]],
    ]) {
      await assert.rejects(chain.rpc(method, params), (e) => e instanceof RpcError &&
        e.code === -32602, `${method} ${JSON.stringify(params)}`);
    }
    assert.ok(Number(await chain.rpc('eth_blockNumber')) >= head, 'the node still answers');
  });

  test('the explorer is served at / from web/ beside the binary', async () => {
    const r = await getText(`${chain.url}/`);
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/html/);
    assert.match(r.text, /<script[^>]+app\.js/);
    assert.equal((await getText(`${chain.url}/no-such-file.js`)).status, 404);
    assert.equal((await getText(`${chain.url}/../../etc/passwd`)).status, 404);
  });

  test('tally status DIR: one screen; --watch refreshes', async () => {
    const once = spawnSync(TALLY_BIN, ['status', chain.dir], { encoding: 'utf8', timeout: 20000 });
    assert.equal(once.status, 0, once.stderr);
    assert.match(once.stdout, /4 node\(s\), 4 up/);
    assert.match(once.stdout, /leader node\d/);
    for (let i = 0; i < 4; i++) assert.match(once.stdout, new RegExp(`node${i} .* up `));
    const missing = spawnSync(TALLY_BIN, ['status', `${chain.dir}/nope`], { encoding: 'utf8' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no node directories/);

    const watch = spawn(TALLY_BIN, ['status', chain.dir, '--watch', '--interval', '200']);
    let out = '';
    watch.stdout.on('data', (d) => { out += d; });
    await waitFor(() => (out.match(/Tally cluster/g) || []).length >= 3,
      { timeout: 15000, what: 'three refreshes' });
    watch.kill('SIGINT');
    const code = await new Promise((res) => watch.on('exit', (c) => res(c)));
    assert.equal(code, 0);
  });
});
