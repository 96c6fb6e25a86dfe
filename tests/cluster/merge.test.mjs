// Pool merge between peers: a transaction submitted while its node had no
// peers reaches a peer's pool when that peer connects, and is committed once
// a quorum is back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ethers } from 'ethers';
import { freePort, startChain } from '../e2e/lib/chain.mjs';
import { heightOf, waitFor } from './lib/cluster.mjs';

test('a pooled transaction reaches a peer that connects later, then commits', { timeout: 120000 },
  async () => {
    const p2p = await freePort(4);
    const chain = await startChain({ nodes: 4, initArgs: ['--p2p-port', String(p2p),
      '--view-timeout-ms', '600'] });
    const [n0, n1, n2, n3] = chain.nodes;
    try {
      // only node0 runs: no quorum, so what it is sent stays in its pool
      await Promise.all([n1.kill9(), n2.kill9(), n3.kill9()]);
      const w = new ethers.Wallet(chain.accounts[1].private_key);
      const raw = await w.signTransaction({ to: chain.accounts[0].address, value: 5n, nonce: 0,
        gasLimit: 21000n, chainId: chain.chainId, type: 2, maxFeePerGas: 0n,
        maxPriorityFeePerGas: 0n });
      const hash = await n0.rpc('eth_sendRawTransaction', [raw]);
      assert.equal((await n0.rpc('tally_pool')).count, 1);

      // node1 starts with an empty pool and gets node0's on connecting
      await n1.start();
      await waitFor(async () => (await n1.rpc('tally_pool')).pool.some((t) => t.hash === hash),
        { timeout: 15000, what: 'the transaction in node1\'s pool (pool merge)' });
      assert.match(n0.logTail(200), /pool merge: sent 1 of 1 pooled transactions/);

      // a quorum back: it is committed, on every node
      await Promise.all([n2.start(), n3.start()]);
      await waitFor(async () => {
        for (const n of chain.nodes) {
          const r = await n.rpc('eth_getTransactionReceipt', [hash]);
          if (!r || r.status !== '0x1') return false;
        }
        return true;
      }, { timeout: 30000, what: 'the transaction committed on all 4 nodes' });
      const hs = await Promise.all(chain.nodes.map((n) => heightOf(n.url)));
      assert.ok(hs.every((h) => h >= 1), `heights ${hs}`);
    } finally {
      await chain.stop();
    }
  });
