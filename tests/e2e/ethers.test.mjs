// ethers.js v6 against a 1-node chain: network, wallets from accounts.json,
// legacy and EIP-1559 transfers, raw transactions, blocks, gas, nonces.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ethers } from 'ethers';
import { startChain, waitFor, sleep } from './lib/chain.mjs';

const lc = (s) => (s == null ? s : s.toLowerCase());

function provider(chain) {
  // cacheTimeout -1: every read goes to the node (no 250 ms result cache).
  return new ethers.JsonRpcProvider(chain.url, undefined, {
    pollingInterval: 100,
    cacheTimeout: -1,
  });
}

describe('ethers.js v6 against a node', () => {
  let chain, p, w0, w1;

  before(async () => {
    chain = await startChain();
    p = provider(chain);
    w0 = new ethers.Wallet(chain.accounts[0].private_key, p);
    w1 = new ethers.Wallet(chain.accounts[1].private_key, p);
  });

  after(async () => {
    p?.destroy();
    await chain?.stop();
  });

  test('network: chain id from genesis.json, net_version, client version', async () => {
    const net = await p.getNetwork();
    assert.equal(net.chainId, chain.chainId);
    assert.equal(BigInt(await chain.rpc('eth_chainId')), chain.chainId);
    assert.equal(await chain.rpc('net_version'), chain.chainId.toString());
    const v = await chain.rpc('web3_clientVersion');
    assert.equal(typeof v, 'string');
    assert.ok(v.length > 0);
  });

  test('wallets from accounts.json have the listed addresses and funds', async () => {
    for (const a of chain.accounts) {
      const w = new ethers.Wallet(a.private_key);
      assert.equal(w.address, ethers.getAddress(a.address), 'address derived by ethers');
      const expect = BigInt(chain.genesis.alloc[a.address] ?? chain.genesis.alloc[lc(a.address)]);
      assert.equal(await p.getBalance(w.address), expect, `genesis balance of ${a.address}`);
      assert.equal(await p.getTransactionCount(w.address), 0);
    }
  });

  async function transfer(type) {
    const value = 123456789n + BigInt(type);
    const [b0, b1, n0, n1] = await Promise.all([p.getBalance(w0.address),
      p.getBalance(w1.address), p.getTransactionCount(w0.address, 'latest'),
      p.getTransactionCount(w1.address, 'latest')]);
    const tx = await w0.sendTransaction({ to: w1.address, value, type });
    assert.equal(tx.type, type);
    assert.equal(tx.nonce, n0);
    const r = await tx.wait(1, 20000);
    assert.equal(r.status, 1);
    assert.equal(r.hash, tx.hash);
    assert.equal(r.from, w0.address);
    assert.equal(r.to, w1.address);
    assert.equal(r.gasUsed, 21000n);
    assert.equal(r.gasPrice, 0n, 'consortium chain: effective gas price 0');
    assert.equal(await p.getBalance(w0.address), b0 - value - r.gasUsed * r.gasPrice);
    assert.equal(await p.getBalance(w0.address), b0 - value, 'sender pays exactly the value');
    assert.equal(await p.getBalance(w1.address), b1 + value);
    assert.equal(await p.getTransactionCount(w0.address, 'latest'), n0 + 1);
    assert.equal(await p.getTransactionCount(w1.address, 'latest'), n1, 'receiver nonce unchanged');
    const got = await p.getTransaction(tx.hash);
    assert.equal(got.hash, tx.hash);
    assert.equal(got.from, w0.address);
    assert.equal(got.type, type);
    assert.equal(got.blockHash, r.blockHash);
    return r;
  }

  test('legacy (type 0) transfer: receipt, balances and nonces move exactly', async () => {
    await transfer(0);
  });

  test('EIP-1559 (type 2) transfer: receipt, balances and nonces move exactly', async () => {
    const r = await transfer(2);
    const tx = await p.getTransaction(r.hash);
    assert.equal(tx.maxFeePerGas, 0n);
    assert.equal(tx.maxPriorityFeePerGas, 0n);
  });

  for (const type of [0, 2]) {
    test(`raw type ${type} tx from wallet.signTransaction: node returns ethers' hash and the ` +
      'same fields', async () => {
      const nonce = await p.getTransactionCount(w0.address, 'pending');
      const fields = { to: w1.address, value: 777n, nonce, gasLimit: 21000n, chainId: chain.chainId,
        type, data: '0x' };
      if (type === 0) fields.gasPrice = 0n;
      else Object.assign(fields, { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });
      const raw = await w0.signTransaction(fields);
      const parsed = ethers.Transaction.from(raw);
      assert.equal(parsed.hash, ethers.keccak256(raw));
      const hash = await chain.rpc('eth_sendRawTransaction', [raw]);
      assert.equal(hash, parsed.hash);
      const r = await p.waitForTransaction(hash, 1, 20000);
      assert.equal(r.status, 1);
      const got = await chain.rpc('eth_getTransactionByHash', [hash]);
      assert.equal(got.hash, parsed.hash);
      assert.equal(lc(got.from), lc(parsed.from));
      assert.equal(lc(got.to), lc(parsed.to));
      assert.equal(BigInt(got.value), 777n);
      assert.equal(BigInt(got.nonce), BigInt(nonce));
      assert.equal(BigInt(got.gas), 21000n);
      assert.equal(got.input, '0x');
      assert.equal(BigInt(got.type), BigInt(type));
      assert.equal(BigInt(got.chainId), chain.chainId);
      assert.equal(BigInt(got.r), BigInt(parsed.signature.r));
      assert.equal(BigInt(got.s), BigInt(parsed.signature.s));
      if (type === 0) {
        assert.equal(BigInt(got.v), parsed.signature.networkV);
        assert.equal(BigInt(got.gasPrice), 0n);
      } else {
        assert.equal(BigInt(got.v), BigInt(parsed.signature.yParity));
        assert.equal(BigInt(got.yParity), BigInt(parsed.signature.yParity));
        assert.equal(BigInt(got.maxFeePerGas), 0n);
        assert.equal(BigInt(got.maxPriorityFeePerGas), 0n);
      }
      assert.equal(got.blockHash, r.blockHash);
      assert.equal(BigInt(got.blockNumber), BigInt(r.blockNumber));
      assert.equal(BigInt(got.transactionIndex), BigInt(r.index));
      // Re-serialising what the node reports gives back the exact raw bytes.
      const again = ethers.Transaction.from({
        type, chainId: BigInt(got.chainId), nonce: Number(got.nonce), to: got.to,
        value: BigInt(got.value), gasLimit: BigInt(got.gas), data: got.input,
        ...(type === 0 ? { gasPrice: BigInt(got.gasPrice) }
          : { maxFeePerGas: BigInt(got.maxFeePerGas),
            maxPriorityFeePerGas: BigInt(got.maxPriorityFeePerGas), accessList: [] }),
        signature: { r: ethers.toBeHex(BigInt(got.r), 32), s: ethers.toBeHex(BigInt(got.s), 32),
          v: type === 0 ? Number(got.v) : 27 + Number(got.yParity) },
      });
      assert.equal(again.serialized, raw);
    });
  }

  test('getBlock: baseFeePerGas 0, hash/parent links, contains the transaction', async () => {
    const tx = await w0.sendTransaction({ to: w1.address, value: 1n });
    const r = await tx.wait(1, 20000);
    const b = await p.getBlock(r.blockNumber);
    assert.equal(b.hash, r.blockHash);
    assert.equal(b.number, r.blockNumber);
    assert.equal(b.baseFeePerGas, 0n, 'baseFeePerGas present and 0');
    assert.ok(b.transactions.includes(tx.hash));
    const byHash = await p.getBlock(r.blockHash);
    assert.equal(byHash.number, b.number);
    const parent = await p.getBlock(r.blockNumber - 1);
    assert.equal(b.parentHash, parent.hash);
    const latest = await p.getBlock('latest');
    assert.ok(latest.number >= b.number);
    assert.equal(latest.number, await p.getBlockNumber());
  });

  test('estimateGas for a plain transfer is 21000; gas price and priority fee are 0',
    async () => {
      assert.equal(await p.estimateGas({ from: w0.address, to: w1.address, value: 1n }), 21000n);
      assert.equal(BigInt(await chain.rpc('eth_gasPrice')), 0n);
      assert.equal(BigInt(await chain.rpc('eth_maxPriorityFeePerGas')), 0n);
      const fees = await p.getFeeData();
      assert.equal(fees.gasPrice, 0n);
    });
});

describe('getTransactionCount latest vs pending (builder waits for 3 txs per block)', () => {
  let chain, p;
  before(async () => {
    chain = await startChain({ initArgs: ['--min-block-txs', '3', '--block-interval-ms', '60000'] });
    p = provider(chain);
  });
  after(async () => {
    p?.destroy();
    await chain?.stop();
  });

  test('pooled transactions count in pending, not in latest, until their block commits',
    async () => {
      const w = new ethers.Wallet(chain.accounts[2].private_key, p);
      const to = chain.accounts[3].address;
      const b0 = await p.getBalance(w.address);
      const h0 = await p.getBlockNumber();
      const sign = (nonce) => w.signTransaction({ to, value: 1000n + BigInt(nonce), nonce,
        gasLimit: 21000n, gasPrice: 0n, chainId: chain.chainId, type: 0 });
      const hashes = [];
      for (const n of [0, 1]) hashes.push(await chain.rpc('eth_sendRawTransaction', [await sign(n)]));
      await waitFor(async () => (await chain.rpc('tally_status')).poolSize === 2,
        { what: 'poolSize 2' });
      await sleep(1000); // several block intervals: the builder must keep waiting for 3
      assert.equal(await p.getTransactionCount(w.address, 'latest'), 0);
      assert.equal(await p.getTransactionCount(w.address, 'pending'), 2);
      assert.equal(await p.getBalance(w.address), b0, 'balance unchanged while pending');
      assert.equal(await p.getBlockNumber(), h0, 'no block with fewer than 3 txs');
      for (const h of hashes) {
        assert.equal((await chain.rpc('tally_txStatus', [h])).status, 'pending');
        assert.equal(await chain.rpc('eth_getTransactionReceipt', [h]), null);
      }
      hashes.push(await chain.rpc('eth_sendRawTransaction', [await sign(2)]));
      const receipts = await Promise.all(hashes.map((h) => p.waitForTransaction(h, 1, 20000)));
      assert.equal(await p.getTransactionCount(w.address, 'latest'), 3);
      assert.equal(await p.getTransactionCount(w.address, 'pending'), 3);
      assert.equal(new Set(receipts.map((r) => r.blockHash)).size, 1, 'all three in one block');
      assert.equal(await p.getBalance(w.address), b0 - 1000n - 1001n - 1002n);
      for (const h of hashes) {
        const st = await chain.rpc('tally_txStatus', [h]);
        assert.equal(st.status, 'committed');
      }
    });
});
