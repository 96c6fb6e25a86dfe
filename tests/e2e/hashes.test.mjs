// Keccak-256 and addresses: the node's view must agree with ethers.js —
// transaction hashes, recovered senders, addresses of keys, and block hashes
// and transaction roots recomputed from what the node reports.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ethers } from 'ethers';
import { startChain, waitFor } from './lib/chain.mjs';

const lc = (s) => s.toLowerCase();
const qty = (x) => ethers.toBeArray(BigInt(x)); // minimal big-endian, 0 -> empty

// Tally's Merkle rule (docs/chain.md): leaf Keccak(0x00||h), inner
// Keccak(0x01||l||r), an odd last node is carried up, no leaves: Keccak("").
function merkleRoot(leaves) {
  if (leaves.length === 0) return ethers.keccak256('0x');
  let level = leaves.map((h) => ethers.keccak256(ethers.concat(['0x00', h])));
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i < level.length; i += 2) {
      if (i + 1 < level.length) next.push(ethers.keccak256(ethers.concat(['0x01', level[i], level[i + 1]])));
      else next.push(level[i]);
    }
    level = next;
  }
  return level[0];
}

// Block hash = Keccak(rlp([parent_hash, height, timestamp_ms, proposer, tx_root,
// receipts_root, state_root, gas_limit, gas_used, base_fee, view])).
function blockHash(b) {
  return ethers.keccak256(ethers.encodeRlp([
    b.parentHash, qty(b.number), qty(b.timestampMs), b.miner, b.transactionsRoot,
    b.receiptsRoot, b.stateRoot, qty(b.gasLimit), qty(b.gasUsed), qty(b.baseFeePerGas),
    qty(b.view),
  ]));
}

describe('keccak and addresses agree with ethers', () => {
  let chain;
  const sent = []; // { raw, parsed }

  before(async () => {
    chain = await startChain();
    // A mix of transactions: legacy, EIP-2930, EIP-1559, with calldata, from
    // several accounts, to known and to fresh addresses.
    const rnd = ethers.Wallet.createRandom();
    for (let i = 0; i < 6; i++) {
      const w = new ethers.Wallet(chain.accounts[i % 3].private_key);
      const nonce = Math.floor(i / 3);
      const type = [0, 1, 2][i % 3];
      const data = i === 4 ? '0xdeadbeef00' : '0x';
      const fields = { to: i % 2 ? rnd.address : chain.accounts[5].address, value: BigInt(i + 1),
        nonce, gasLimit: 21000n + (data === '0x' ? 0n : 16n * 4n + 4n), chainId: chain.chainId,
        type, data };
      if (type === 2) Object.assign(fields, { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });
      else fields.gasPrice = 0n;
      if (type === 1) fields.accessList = [];
      const raw = await w.signTransaction(fields);
      sent.push({ raw, parsed: ethers.Transaction.from(raw), wallet: w });
    }
    for (const s of sent) {
      s.hash = await chain.rpc('eth_sendRawTransaction', [s.raw]);
    }
    for (const s of sent) {
      s.receipt = await waitFor(() => chain.rpc('eth_getTransactionReceipt', [s.hash]),
        { what: `receipt of ${s.hash}` });
    }
  });

  after(async () => {
    await chain?.stop();
  });

  test('addresses of the development keys match ethers.computeAddress', () => {
    for (const a of chain.accounts) {
      assert.equal(lc(ethers.computeAddress(a.private_key)), lc(a.address));
    }
  });

  test('transaction hash = keccak256(raw) and the node returns it', () => {
    for (const s of sent) {
      assert.equal(s.hash, ethers.keccak256(s.raw));
      assert.equal(s.hash, s.parsed.hash);
    }
  });

  test('the node recovers the same sender as ethers, for every type', async () => {
    for (const s of sent) {
      const tx = await chain.rpc('eth_getTransactionByHash', [s.hash]);
      assert.equal(lc(tx.from), lc(s.parsed.from), `type ${s.parsed.type}`);
      assert.equal(lc(tx.from), lc(s.wallet.address));
      assert.equal(lc(s.receipt.from), lc(s.wallet.address));
      assert.equal(tx.input, s.parsed.data);
      assert.equal(BigInt(tx.type), BigInt(s.parsed.type));
      assert.equal(s.receipt.status, '0x1');
    }
  });

  test('balances follow the recovered senders and receivers', async () => {
    const rnd = sent[1].parsed.to;
    const got = (await Promise.all(sent.filter((s) => s.parsed.to === rnd)
      .map((s) => s.parsed.value))).reduce((a, b) => a + b, 0n);
    assert.equal(BigInt(await chain.rpc('eth_getBalance', [rnd, 'latest'])), got);
  });

  test('block hashes recompute from the header fields; parent links; receipts agree',
    async () => {
      const head = BigInt(await chain.rpc('eth_blockNumber'));
      assert.ok(head >= 1n);
      let prev = null;
      for (let n = 0n; n <= head; n++) {
        const b = await chain.rpc('eth_getBlockByNumber', [ethers.toQuantity(n), false]);
        assert.equal(BigInt(b.number), n);
        assert.equal(blockHash(b), b.hash, `hash of block ${n}`);
        assert.equal(merkleRoot(b.transactions), b.transactionsRoot, `tx root of block ${n}`);
        if (prev) assert.equal(b.parentHash, prev.hash);
        const byHash = await chain.rpc('eth_getBlockByHash', [b.hash, false]);
        assert.equal(byHash.hash, b.hash);
        assert.deepEqual(byHash.transactions, b.transactions);
        const full = await chain.rpc('eth_getBlockByNumber', [ethers.toQuantity(n), true]);
        assert.deepEqual(full.transactions.map((t) => t.hash), b.transactions);
        for (const t of full.transactions) {
          assert.equal(t.blockHash, b.hash);
          const r = await chain.rpc('eth_getTransactionReceipt', [t.hash]);
          assert.equal(r.blockHash, b.hash);
          assert.equal(r.blockNumber, b.number);
        }
        prev = b;
      }
      const st = await chain.rpc('tally_status');
      assert.equal(BigInt(st.height), head);
      assert.equal(st.headHash, prev.hash);
    });
});
