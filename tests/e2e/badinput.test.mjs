// Bad input, one test per class. Each shows a clear JSON-RPC (or HTTP) error
// AND an unchanged ledger: height, balances and nonces as before, and a
// following valid transaction is still accepted and committed.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ethers } from 'ethers';
import { startChain, waitFor, sleep, httpPost, RpcError } from './lib/chain.mjs';

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n; // secp256k1 order

describe('bad input is refused and changes nothing', () => {
  let chain, alice, bob;

  before(async () => {
    chain = await startChain();
    alice = new ethers.Wallet(chain.accounts[0].private_key);
    bob = new ethers.Wallet(chain.accounts[1].private_key);
  });

  after(async () => {
    await chain?.stop();
  });

  const bal = async (a) => BigInt(await chain.rpc('eth_getBalance', [a, 'latest']));
  const nonce = async (a, tag = 'latest') =>
    Number(BigInt(await chain.rpc('eth_getTransactionCount', [a, tag])));

  async function snapshot(extra = []) {
    const addrs = [alice.address, bob.address, ...extra];
    return {
      height: BigInt(await chain.rpc('eth_blockNumber')),
      balances: await Promise.all(addrs.map(bal)),
      nonces: await Promise.all(addrs.map((a) => nonce(a))),
      pending: await Promise.all(addrs.map((a) => nonce(a, 'pending'))),
      poolSize: (await chain.rpc('tally_status')).poolSize,
      addrs,
    };
  }

  async function assertUnchanged(before) {
    await sleep(400); // two block intervals: nothing may be committed meanwhile
    const now = await snapshot(before.addrs.slice(2));
    assert.equal(now.height, before.height, 'height unchanged');
    assert.deepEqual(now.balances, before.balances, 'balances unchanged');
    assert.deepEqual(now.nonces, before.nonces, 'nonces unchanged');
    assert.deepEqual(now.pending, before.pending, 'pending nonces unchanged');
    assert.equal(now.poolSize, before.poolSize, 'pool unchanged');
  }

  function signTransfer(w, fields = {}) {
    return w.signTransaction({ to: bob.address, value: 1000n, gasLimit: 21000n, gasPrice: 0n,
      chainId: chain.chainId, type: 0, ...fields });
  }

  /** A valid transfer is still accepted afterwards, and commits exactly. */
  async function assertValidStillAccepted() {
    const n = await nonce(alice.address, 'pending');
    const [a0, b0] = [await bal(alice.address), await bal(bob.address)];
    const raw = await signTransfer(alice, { nonce: n, value: 4242n });
    const hash = await chain.rpc('eth_sendRawTransaction', [raw]);
    assert.equal(hash, ethers.keccak256(raw));
    const r = await waitFor(() => chain.rpc('eth_getTransactionReceipt', [hash]),
      { what: 'receipt of the valid transaction' });
    assert.equal(r.status, '0x1');
    assert.equal(await bal(alice.address), a0 - 4242n);
    assert.equal(await bal(bob.address), b0 + 4242n);
    assert.equal(await nonce(alice.address), n + 1);
  }

  /** eth_sendRawTransaction must fail with a JSON-RPC error whose message matches re. */
  async function expectSendError(raw, re, what) {
    let err;
    try {
      const h = await chain.rpc('eth_sendRawTransaction', [raw]);
      assert.fail(`${what}: accepted (hash ${h}), expected an error matching ${re}`);
    } catch (e) {
      if (!(e instanceof RpcError)) throw e;
      err = e;
    }
    assert.equal(typeof err.code, 'number', `${what}: numeric error code`);
    assert.ok(err.code < 0, `${what}: negative JSON-RPC code, got ${err.code}`);
    assert.match(err.rpcMessage, re, `${what}: message`);
    return err;
  }

  test('bad JSON: parse error -32700, id null', async () => {
    const s = await snapshot();
    const valid = '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}';
    for (const body of ['{"jsonrpc":"2.0","id":1,"method":', 'not json at all', '{"a":1}}',
      valid + ' xx', valid + '}', '']) {
      const r = await httpPost(chain.url, body);
      assert.ok(r.json, `answer to ${JSON.stringify(body)} is JSON: ${r.text}`);
      assert.equal(r.json.error?.code, -32700,
        `parse error for ${JSON.stringify(body)}; got ${r.text}`);
      assert.equal(r.json.id, null);
      assert.equal(typeof r.json.error.message, 'string');
      assert.ok(r.json.error.message.length > 0);
    }
    // Valid JSON but not a request: invalid request -32600.
    const r = await httpPost(chain.url, '{"jsonrpc":"2.0","id":7}');
    assert.equal(r.json?.error?.code, -32600, r.text);
    // Unknown method: -32601 naming the method.
    const u = await httpPost(chain.url, { jsonrpc: '2.0', id: 8, method: 'eth_noSuchMethod',
      params: [] });
    assert.equal(u.json?.error?.code, -32601, u.text);
    assert.match(u.json.error.message, /eth_noSuchMethod|not found|not exist/i);
    await assertUnchanged(s);
    await assertValidStillAccepted();
  });

  test('bad RLP: random bytes, truncated and padded transactions', async () => {
    const s = await snapshot();
    const n = await nonce(alice.address, 'pending');
    const good = await signTransfer(alice, { nonce: n });
    const cases = [
      ['random bytes', ethers.hexlify(ethers.randomBytes(64))],
      ['RLP list of garbage', ethers.encodeRlp(['0x01', '0x02'])],
      ['truncated', good.slice(0, good.length - 20)],
      ['trailing bytes', good + '00'],
      ['empty', '0x'],
      ['not hex', '0xzz'],
      ['unknown type 0x05', '0x05' + good.slice(2)],
    ];
    for (const [what, raw] of cases) {
      await expectSendError(raw, /rlp|decode|malformed|invalid|truncat|trailing|type|hex|empty|short|length/i,
        what);
    }
    await assertUnchanged(s);
    await assertValidStillAccepted();
  });

  test('bad signature: r or s zeroed, out of range, high s; flipped r never moves the signer\'s funds',
    async () => {
      const s0 = await snapshot();
      const n = await nonce(alice.address, 'pending');
      const good = await signTransfer(alice, { nonce: n });
      const f = ethers.decodeRlp(good); // [nonce, gasPrice, gas, to, value, data, v, r, s]
      const withSig = (r, s) => ethers.encodeRlp([...f.slice(0, 7), r, s]);
      const hex = (x) => ethers.toBeHex(x);
      const r = BigInt(f[7]);
      const s = BigInt(f[8]);
      const cases = [
        ['r = 0', withSig('0x', f[8])],
        ['s = 0', withSig(f[7], '0x')],
        ['r >= n', withSig(hex(N + 1n), f[8])],
        ['s high (malleated)', withSig(f[7], hex(N - s))],
        ['r all ones', withSig('0x' + 'ff'.repeat(32), f[8])],
      ];
      for (const [what, raw] of cases) {
        await expectSendError(raw, /signature|invalid|sig|\bs\b|\br\b|malleab|range/i, what);
      }
      await assertUnchanged(s0);
      // A flipped byte in r is either refused, or recovers to some other
      // address: never alice, whose balance and nonce stay put.
      const flipped = withSig(hex(r ^ (0xffn << 64n)), f[8]);
      try {
        const h = await chain.rpc('eth_sendRawTransaction', [flipped]);
        await sleep(500);
        const tx = await chain.rpc('eth_getTransactionByHash', [h]);
        if (tx) assert.notEqual(tx.from.toLowerCase(), alice.address.toLowerCase());
      } catch (e) {
        if (!(e instanceof RpcError)) throw e;
      }
      assert.equal(await nonce(alice.address), s0.nonces[0]);
      assert.equal(await bal(alice.address), s0.balances[0]);
      await assertValidStillAccepted();
    });

  test('wrong chain id is refused', async () => {
    const s = await snapshot();
    const n = await nonce(alice.address, 'pending');
    for (const type of [0, 2]) {
      const fields = { nonce: n, chainId: chain.chainId + 1n, type };
      if (type === 2) Object.assign(fields, { gasPrice: undefined, maxFeePerGas: 0n,
        maxPriorityFeePerGas: 0n });
      const raw = await signTransfer(alice, fields);
      await expectSendError(raw, /chain/i, `type ${type} with chain id ${chain.chainId + 1n}`);
    }
    await assertUnchanged(s);
    await assertValidStillAccepted();
  });

  test('reused nonce after commit is refused (nonce too low)', async () => {
    const n = await nonce(alice.address, 'pending');
    const raw = await signTransfer(alice, { nonce: n, value: 5n });
    const hash = await chain.rpc('eth_sendRawTransaction', [raw]);
    await waitFor(() => chain.rpc('eth_getTransactionReceipt', [hash]), { what: 'commit' });
    const s = await snapshot();
    // A different transaction with the same nonce.
    const again = await signTransfer(alice, { nonce: n, value: 6n });
    await expectSendError(again, /nonce/i, 'same nonce, different tx');
    // The very same bytes again: "already known" or "nonce too low".
    await expectSendError(raw, /nonce|known|already|duplicate/i, 'identical resend');
    // An older nonce.
    if (n > 0) await expectSendError(await signTransfer(alice, { nonce: n - 1 }), /nonce/i, 'older');
    await assertUnchanged(s);
    await assertValidStillAccepted();
  });

  test('insufficient balance: refused, or dropped with the reason; nothing moves',
    async () => {
      const poor = ethers.Wallet.createRandom();
      const s = await snapshot([poor.address]);
      assert.equal(s.balances[2], 0n);
      const raw = await signTransfer(poor, { nonce: 0, value: 1n });
      const hash = ethers.keccak256(raw);
      const re = /not enough balance|insufficient funds/i;
      try {
        const h = await chain.rpc('eth_sendRawTransaction', [raw]);
        assert.equal(h, hash);
        const st = await waitFor(async () => {
          const x = await chain.rpc('tally_txStatus', [hash]);
          return x.status === 'dropped' ? x : null;
        }, { what: 'tally_txStatus dropped' });
        assert.match(st.reason, re);
      } catch (e) {
        if (!(e instanceof RpcError)) throw e;
        assert.match(e.rpcMessage, re);
        const st = await chain.rpc('tally_txStatus', [hash]);
        assert.ok(['unknown', 'dropped'].includes(st.status), JSON.stringify(st));
      }
      assert.equal(await chain.rpc('eth_getTransactionReceipt', [hash]), null);
      await assertUnchanged(s);
      await assertValidStillAccepted();
    });

  test('oversized request body (over 4 MiB) gets HTTP 413', async () => {
    const s = await snapshot();
    const pad = 'a'.repeat(4 * 1024 * 1024 + 1024);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber',
      params: [pad] });
    let r;
    try {
      r = await httpPost(chain.url, body);
    } catch (e) {
      assert.fail(`expected an HTTP 413 answer, got a connection error: ${e.message}`);
    }
    assert.equal(r.status, 413, `status (body: ${r.text.slice(0, 200)})`);
    // Just under the limit is still served (the error is about the size only).
    const ok = await httpPost(chain.url, JSON.stringify({ jsonrpc: '2.0', id: 2,
      method: 'eth_blockNumber', params: [] }) + ' '.repeat(1024 * 1024));
    assert.equal(ok.status, 200);
    assert.equal(BigInt(ok.json.result), s.height);
    await assertUnchanged(s);
    await assertValidStillAccepted();
  });

  test('a flood of 1500 idle connections does not lock out other clients', async () => {
    const s = await snapshot();
    const port = chain.port;
    const socks = [];
    const opened = await Promise.all(Array.from({ length: 1500 }, () => new Promise((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port });
      socks.push(c);
      c.on('connect', () => resolve(true));
      c.on('error', () => resolve(false));
    })));
    const connected = opened.filter(Boolean).length;
    console.log(`# flood: ${connected} of 1500 connections established`);
    try {
      // Meanwhile another client (a fresh connection each time) is answered
      // within 5 s, three times in a row.
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        let last;
        for (;;) {
          last = await rawPost(port, '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber",' +
            '"params":[]}');
          if (last.startsWith('HTTP/1.1 200')) break;
          if (Date.now() - t0 > 5000) break;
          await sleep(200);
        }
        assert.ok(last.startsWith('HTTP/1.1 200'),
          `eth_blockNumber during the flood: not answered within 5 s; last answer: ` +
          JSON.stringify(last));
        const body = JSON.parse(last.slice(last.indexOf('\r\n\r\n') + 4));
        assert.equal(BigInt(body.result), s.height);
      }
      assert.ok(chain.node.alive, 'node process alive during the flood');
    } finally {
      for (const c of socks) c.destroy();
    }
    await sleep(500);
    assert.ok(chain.node.alive, 'node process alive after the flood');
    assert.equal(BigInt(await chain.rpc('eth_blockNumber')), s.height);
    await assertUnchanged(s);
    await assertValidStillAccepted();
  });
});

/** One HTTP/1.1 POST with Connection: close over a raw socket; resolves with
 * everything the server sent (status line, headers, body), whatever it is. */
function rawPost(port, body, timeout = 5000) {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port });
    const chunks = [];
    const done = () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const t = setTimeout(() => {
      c.destroy();
    }, timeout);
    c.on('connect', () => c.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ` +
      `application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}` +
      `\r\n\r\n${body}`));
    c.on('data', (d) => chunks.push(d));
    c.on('error', () => {});
    c.on('close', done);
  });
}
