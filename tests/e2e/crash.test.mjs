// Crash safety: under a load of transfers, kill -9 the node at random
// moments (seeded: TALLY_SEED replays) and restart it. After every restart the
// height has not gone back, every block and receipt seen before the kill is
// still there with the same hash, and at the end the balances add up: with a
// zero gas price, the sum of all accounts' balances equals the genesis total
// plus what the issuer minted (its transfers create the value they send).
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ethers } from 'ethers';
import { startChain, waitFor, sleep, httpPost, rpcCall, prng, testSeed } from './lib/chain.mjs';

const ROUNDS = Number(process.env.TALLY_CRASH_ROUNDS || 5);

describe('crash safety under load (kill -9)', () => {
  let chain;
  after(async () => {
    await chain?.stop();
  });

  test(`${ROUNDS} random kill -9 / restart cycles lose nothing that was seen`,
    { timeout: 300000 }, async () => {
      const seed = testSeed('crash');
      // Separate streams: the kill times replay exactly; load and sampling
      // interleave with real time.
      const rnd = prng(seed);
      const rndLoad = prng(seed + 1);
      const rndWatch = prng(seed + 2);
      chain = await startChain();
      const url = chain.url;
      const wallets = chain.accounts.map((a) => new ethers.Wallet(a.private_key));
      const issuers = new Set(chain.genesis.issuers.map((a) => a.toLowerCase()));
      const genesisTotal = Object.values(chain.genesis.alloc).reduce((s, v) => s + BigInt(v), 0n);
      const nonces = wallets.map(() => 0);

      const blocksSeen = new Map(); // height -> hash
      const txSeen = new Map(); // tx hash -> block hash (from blocks)
      const receiptsSeen = new Map(); // tx hash -> block hash (from eth_getTransactionReceipt)
      let maxHeight = 0n; // highest height any answer showed
      let sentCount = 0;

      // ---- load: batches of signed transfers between the accounts ----
      async function loadLoop(state) {
        while (state.running) {
          const n = rndLoad.int(5, 25);
          const batch = [];
          for (let k = 0; k < n; k++) {
            const i = rndLoad.int(0, wallets.length - 1);
            let j = rndLoad.int(0, wallets.length - 2);
            if (j >= i) j++;
            const type = rndLoad() < 0.5 ? 0 : 2;
            const raw = await wallets[i].signTransaction({ to: wallets[j].address,
              value: BigInt(rndLoad.int(1, 1000000)), nonce: nonces[i]++, gasLimit: 21000n,
              chainId: chain.chainId, type,
              ...(type === 0 ? { gasPrice: 0n } : { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }) });
            batch.push({ jsonrpc: '2.0', id: k, method: 'eth_sendRawTransaction', params: [raw] });
          }
          try {
            const r = await httpPost(url, batch, { timeout: 5000 });
            if (Array.isArray(r.json)) {
              sentCount += r.json.filter((x) => x.result).length;
              if (r.json.some((x) => x.error)) await resyncNonces();
            }
          } catch {
            if (!state.running) return;
            await sleep(20);
            await resyncNonces().catch(() => {});
          }
          await sleep(rndLoad.int(0, 20));
        }
      }

      async function resyncNonces() {
        for (let i = 0; i < wallets.length; i++) {
          nonces[i] = Number(BigInt(await rpcCall(url, 'eth_getTransactionCount',
            [wallets[i].address, 'pending'])));
        }
      }

      // ---- watcher: follows blocks and samples receipts ----
      async function watchLoop(state) {
        let next = 1n;
        while (state.running) {
          try {
            const head = BigInt(await rpcCall(url, 'eth_blockNumber'));
            if (head > maxHeight) maxHeight = head;
            for (; next <= head; next++) {
              const b = await rpcCall(url, 'eth_getBlockByNumber', [ethers.toQuantity(next), false]);
              blocksSeen.set(next, b.hash);
              for (const h of b.transactions) {
                txSeen.set(h, b.hash);
                if (rndWatch() < 0.2) {
                  const r = await rpcCall(url, 'eth_getTransactionReceipt', [h]);
                  if (r) receiptsSeen.set(h, r.blockHash);
                }
              }
            }
          } catch {}
          await sleep(50);
        }
      }

      async function checkSeen(round) {
        const st = await rpcCall(url, 'tally_status');
        assert.ok(BigInt(st.height) >= maxHeight,
          `round ${round}: height ${st.height} went back below ${maxHeight} (seed ${seed})`);
        for (const [h, hash] of blocksSeen) {
          const b = await rpcCall(url, 'eth_getBlockByNumber', [ethers.toQuantity(h), false]);
          assert.ok(b, `round ${round}: block ${h} missing after restart (seed ${seed})`);
          assert.equal(b.hash, hash, `round ${round}: block ${h} changed (seed ${seed})`);
        }
        for (const [tx, bh] of [...txSeen, ...receiptsSeen]) {
          const r = await rpcCall(url, 'eth_getTransactionReceipt', [tx]);
          assert.ok(r, `round ${round}: receipt of ${tx} missing after restart (seed ${seed})`);
          assert.equal(r.blockHash, bh, `round ${round}: ${tx} moved (seed ${seed})`);
          assert.equal(r.status, '0x1');
        }
      }

      for (let round = 1; round <= ROUNDS; round++) {
        const state = { running: true };
        const loops = [loadLoop(state), watchLoop(state)];
        const delay = rnd.int(300, 2500);
        await sleep(delay);
        const before = maxHeight;
        await chain.node.kill9();
        state.running = false;
        await Promise.all(loops);
        console.log(`# round ${round}: killed after ${delay} ms at height >= ${before}; ` +
          `${blocksSeen.size} blocks, ${txSeen.size} txs, ${receiptsSeen.size} receipts seen`);
        await chain.node.start();
        await checkSeen(round);
        await resyncNonces();
      }

      // ---- a last stretch of load, then let the pool drain and add up ----
      const state = { running: true };
      const loops = [loadLoop(state), watchLoop(state)];
      await sleep(1000);
      state.running = false;
      await Promise.all(loops);
      await waitFor(async () => (await rpcCall(url, 'tally_status')).poolSize === 0,
        { timeout: 30000, what: 'the pool to drain' });
      await checkSeen('final');
      assert.ok(txSeen.size > 0, 'some transactions were committed');

      const head = BigInt(await rpcCall(url, 'eth_blockNumber'));
      const all = new Set();
      const perSender = new Map();
      let minted = 0n;
      let prevHash = (await rpcCall(url, 'eth_getBlockByNumber', ['0x0', false])).hash;
      for (let n = 1n; n <= head; n++) {
        const b = await rpcCall(url, 'eth_getBlockByNumber', [ethers.toQuantity(n), true]);
        assert.equal(b.parentHash, prevHash, `block ${n} links to its parent`);
        prevHash = b.hash;
        for (const t of b.transactions) {
          assert.ok(!all.has(t.hash), `${t.hash} committed twice`);
          all.add(t.hash);
          const from = t.from.toLowerCase();
          perSender.set(from, (perSender.get(from) ?? 0) + 1);
          if (issuers.has(from)) minted += BigInt(t.value);
        }
      }
      let total = 0n;
      for (const w of wallets) {
        const a = w.address.toLowerCase();
        total += BigInt(await rpcCall(url, 'eth_getBalance', [a, 'latest']));
        const n = Number(BigInt(await rpcCall(url, 'eth_getTransactionCount', [a, 'latest'])));
        assert.equal(n, perSender.get(a) ?? 0, `nonce of ${a} = its committed transactions`);
      }
      console.log(`# crash: ${all.size} transactions in ${head} blocks; ${sentCount} accepted ` +
        `submissions; minted ${minted}`);
      assert.equal(total, genesisTotal + minted,
        `sum of balances = genesis total + minted (seed ${seed})`);
      assert.equal(chain.node.exits.filter((e) => e.signal !== 'SIGKILL').length, 0,
        'the node never exited by itself');
    });
});
