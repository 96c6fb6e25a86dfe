// The teaching ledger's WebSocket ops: {"op": .., "args": {..}} answered by
// {"status", "error", "response"}. The chain's builder waits for 3
// transactions per block so that transactions stay visible in the pool.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ethers } from 'ethers';
import { startChain, waitFor } from './lib/chain.mjs';

const lc = (s) => (s == null ? s : s.toLowerCase());

describe('WebSocket teaching-ledger ops', () => {
  let chain, ws, alice, bob;
  const raws = [];
  const hashes = [];

  before(async () => {
    chain = await startChain({ initArgs: ['--min-block-txs', '3', '--block-interval-ms', '60000'] });
    ws = await chain.ws();
    alice = new ethers.Wallet(chain.accounts[0].private_key);
    bob = new ethers.Wallet(chain.accounts[1].private_key);
    for (let n = 0; n < 3; n++) {
      raws.push(await alice.signTransaction({ to: bob.address, value: 100n + BigInt(n), nonce: n,
        gasLimit: 21000n, gasPrice: 0n, chainId: chain.chainId, type: 0 }));
      hashes.push(ethers.keccak256(raws[n]));
    }
  });

  after(async () => {
    ws?.close();
    await chain?.stop();
  });

  function assertShape(m) {
    assert.ok(m && typeof m === 'object', `answer is a JSON object: ${JSON.stringify(m)}`);
    assert.ok('status' in m && 'error' in m && 'response' in m,
      `answer has status, error, response: ${JSON.stringify(m)}`);
  }

  test('peers -> 200 with a list (no peers on a 1-node chain)', async () => {
    const m = await ws.request({ op: 'peers' });
    assertShape(m);
    assert.equal(m.status, 200);
    assert.equal(m.error, null);
    assert.ok(Array.isArray(m.response.peers));
    assert.equal(m.response.peers.length, 0);
  });

  test('pool -> 200 with pending transactions: hash, sender, receiver, amount, nonce',
    async () => {
      const empty = await ws.request({ op: 'pool' });
      assertShape(empty);
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.response.pool, []);
      for (const raw of raws.slice(0, 2)) await chain.rpc('eth_sendRawTransaction', [raw]);
      await waitFor(async () => (await chain.rpc('tally_status')).poolSize === 2);
      const m = await ws.request({ op: 'pool', args: {} });
      assert.equal(m.status, 200);
      assert.equal(m.error, null);
      const pool = m.response.pool;
      assert.equal(pool.length, 2);
      const byHash = new Map(pool.map((t) => [t.hash, t]));
      for (let n = 0; n < 2; n++) {
        const t = byHash.get(hashes[n]);
        assert.ok(t, `pool contains ${hashes[n]}: ${JSON.stringify(pool)}`);
        assert.equal(lc(t.sender), lc(alice.address));
        assert.equal(lc(t.receiver), lc(bob.address));
        assert.equal(BigInt(t.amount), 100n + BigInt(n));
        assert.equal(Number(t.nonce), n);
      }
    });

  test('merge without args.pool -> 500 with the exact message, response null', async () => {
    for (const msg of [{ op: 'merge' }, { op: 'merge', args: {} }, { op: 'merge', args: null }]) {
      const m = await ws.request(msg);
      assertShape(m);
      assert.equal(m.status, 500, JSON.stringify(msg));
      assert.equal(m.error, 'Operation "merge" requires the following "args": "pool"');
      assert.equal(m.response, null);
    }
  });

  test('merge with args.pool -> 202 Accepted; refused items listed; valid ones commit',
    async () => {
      const h0 = BigInt(await chain.rpc('eth_blockNumber'));
      const m = await ws.request({ op: 'merge', args: { pool: [
        { raw: raws[2] }, // new and valid: the third transaction, so a block is built
        { raw: raws[0] }, // already pooled
        { raw: '0xdeadbeef' }, // not a transaction
        { hash: hashes[1] }, // no raw at all
      ] } });
      assertShape(m);
      assert.equal(m.status, 202, JSON.stringify(m));
      assert.equal(m.error, null);
      const message = typeof m.response === 'string' ? m.response : m.response.message;
      assert.equal(message, 'Accepted');
      const refused = m.response.refused;
      assert.ok(Array.isArray(refused), JSON.stringify(m.response));
      const idx = refused.map((r) => r.index);
      assert.ok(!idx.includes(0), 'the valid transaction is not refused');
      assert.ok(idx.includes(2), 'the bad raw is refused');
      assert.ok(idx.includes(3), 'the item without raw is refused');
      for (const r of refused) {
        assert.equal(typeof r.error, 'string');
        assert.ok(r.error.length > 0);
      }
      const receipts = await Promise.all(hashes.map((h) =>
        waitFor(() => chain.rpc('eth_getTransactionReceipt', [h]), { what: `receipt ${h}` })));
      assert.equal(new Set(receipts.map((r) => r.blockHash)).size, 1);
      assert.equal(BigInt(receipts[0].blockNumber), h0 + 1n);
      assert.equal(BigInt(await chain.rpc('eth_getTransactionCount', [alice.address, 'latest'])), 3n);
      const after = await ws.request({ op: 'pool' });
      assert.deepEqual(after.response.pool, []);
    });

  test('blocks -> 200 from genesis, and from args.start', async () => {
    const head = Number(BigInt(await chain.rpc('eth_blockNumber')));
    assert.ok(head >= 1);
    const all = await ws.request({ op: 'blocks' });
    assertShape(all);
    assert.equal(all.status, 200);
    assert.equal(all.error, null);
    const blocks = all.response.blocks;
    assert.equal(blocks.length, head + 1);
    assert.equal(blocks[0].height, 0);
    for (let i = 0; i < blocks.length; i++) {
      const b = await chain.rpc('eth_getBlockByNumber', [ethers.toQuantity(i), false]);
      assert.equal(blocks[i].height, i);
      assert.equal(blocks[i].hash, b.hash);
      if (i > 0) assert.equal(blocks[i].parentHash, blocks[i - 1].hash);
      assert.deepEqual(blocks[i].transactions.map((t) => t.hash), b.transactions);
    }
    const from1 = await ws.request({ op: 'blocks', args: { start: 1 } });
    assert.equal(from1.status, 200);
    assert.equal(from1.response.blocks[0].height, 1);
    assert.equal(from1.response.blocks.length, head);
    const txs = from1.response.blocks[0].transactions;
    assert.deepEqual(txs.map((t) => t.hash), hashes);
    assert.equal(lc(txs[0].sender), lc(alice.address));
    assert.equal(BigInt(txs[2].amount), 102n);
    const past = await ws.request({ op: 'blocks', args: { start: head + 10 } });
    assert.equal(past.status, 200);
    assert.deepEqual(past.response.blocks, []);
    const bad = await ws.request({ op: 'blocks', args: { start: 'x' } });
    assert.ok(bad.status >= 400 && bad.status < 500, JSON.stringify(bad));
    assert.equal(typeof bad.error, 'string');
  });

  test('unknown op -> 4xx with a clear error; the connection keeps working', async () => {
    const m = await ws.request({ op: 'frobnicate', args: {} });
    assertShape(m);
    assert.ok(m.status >= 400 && m.status < 500, `status ${m.status}`);
    assert.match(m.error, /frobnicate|unknown|not supported|no such/i);
    assert.equal(m.response, null);
    const p = await ws.request({ op: 'peers' });
    assert.equal(p.status, 200);
  });

  test('malformed JSON and missing op -> 4xx; the connection keeps working', async () => {
    // (A JSON array is a JSON-RPC batch over WS, so it is not used here.)
    for (const bad of ['this is {not json', '{"op":', '{"args":{}}', '{"op":42}', '{"op":"pool"} x']) {
      const m = await ws.request(bad);
      assertShape(m);
      assert.ok(m.status >= 400 && m.status < 500, `${bad}: status ${m.status}`);
      assert.equal(typeof m.error, 'string');
      assert.ok(m.error.length > 0);
      assert.ok(ws.isOpen, `connection still open after ${bad}`);
    }
    const p = await ws.request({ op: 'pool' });
    assert.equal(p.status, 200);
    assert.ok(Array.isArray(p.response.pool));
  });

  test('JSON-RPC also works over the same WebSocket', async () => {
    const m = await ws.request({ jsonrpc: '2.0', id: 99, method: 'eth_blockNumber', params: [] });
    assert.equal(m.id, 99);
    assert.equal(BigInt(m.result), BigInt(await chain.rpc('eth_blockNumber')));
  });
});
