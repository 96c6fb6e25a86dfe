// Smart contracts through ethers.js v6: an ERC-20 (tests/contracts/Token.sol),
// the arbitration chain's evidence registry (Evidence.sol) and every kind of
// revert (Reverter.sol), over HTTP JSON-RPC and over WebSocket subscriptions.
//
// By default this runs against a fresh 1-node Tally chain and its development
// accounts. To check the tests themselves against a reference node, point them
// at any Ethereum JSON-RPC endpoint (see lib/target.mjs), e.g. ganache 7.9.2,
// whose EVM stops at shanghai (so compile for it, lib/solc.mjs):
//
//   node_modules/.bin/ganache --wallet.deterministic --chain.hardfork shanghai \
//     --logging.quiet --server.port 18545 &
//   TALLY_E2E_RPC=http://127.0.0.1:18545 TALLY_E2E_EVM_VERSION=shanghai \
//   TALLY_E2E_KEYS=0x4f3edf98...,0x6cbed15c...,... node --test tests/e2e/contracts.test.mjs
//
// What the tests rely on from the node: eth_estimateGas and eth_call return
// the revert data of a failed call in the JSON-RPC error's `data` (hex, as geth
// does: {code: 3, message: "execution reverted: ...", data: "0x08c379a0..."});
// a transaction that reverts with an explicit gas limit is still mined, with
// receipt status 0; eth_call accepts a block number; eth_getLogs filters by
// address, topics (with null and OR lists), block range and blockHash;
// eth_subscribe "logs" (with the same filters) and "newHeads" over WebSocket.
// Nothing here assumes a gas price: Tally charges 0, ganache does not.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ethers } from 'ethers';
import { compileContracts, EVM_VERSION } from './lib/solc.mjs';
import { waitFor } from './lib/chain.mjs';
import { openTarget } from './lib/target.mjs';

const WAIT_MS = 30000; // longest wait for a receipt or a WebSocket event
const SUPPLY = ethers.parseUnits('1000000', 18); // Token's initial supply
const TRANSFER_TOPIC = ethers.id('Transfer(address,address,uint256)');
const ERROR_STRING_SELECTOR = '0x08c379a0'; // Error(string)

/** The node's own JSON-RPC error behind an ethers error, for failure messages. */
function nodeAnswer(e) {
  return JSON.stringify(e?.info?.error ?? e?.error ?? e?.message ?? e);
}

/** Await a promise that must reject; returns the error. */
async function rejection(promise, what) {
  let value;
  try {
    value = await promise;
  } catch (e) {
    return e;
  }
  assert.fail(`${what}: expected a revert, but it succeeded (${value})`);
}

// ganache 7 answers a reverting eth_estimateGas with the revert data in the
// error's data.result, where ethers v6 does not look
// (github.com/ConsenSys-archive/ganache/issues/4526; its eth_call is fine).
// Set in before() from web3_clientVersion; only then is the data taken from there.
let ganacheEstimateQuirk = false;

/** { data, reason, revert } of an ethers CALL_EXCEPTION, as ethers decoded
 * them (for ganache's eth_estimateGas, decoded here with iface). */
function revertOf(e, iface) {
  const raw = e.info?.error?.data?.result;
  if (!ganacheEstimateQuirk || e.action !== 'estimateGas' || e.data != null || !raw) {
    // ethers decodes custom errors only for contract calls (staticCall); for
    // estimateGas it leaves e.revert null and the data in e.data: decode it
    // through the ABI, as an application would.
    const revert = e.revert ?? (iface && e.data ? iface.parseError(e.data) : null);
    return { data: e.data, reason: e.reason, revert };
  }
  const builtin = ethers.AbiCoder.getBuiltinCallException('estimateGas', {}, raw);
  return { data: raw, reason: builtin.reason, revert: builtin.revert ?? iface?.parseError(raw) };
}

/** Assert that ethers reports a revert (CALL_EXCEPTION) with this reason string. */
async function assertRevertReason(promise, reason, what) {
  const e = await rejection(promise, what);
  assert.equal(e.code, 'CALL_EXCEPTION',
    `${what}: ethers error code; ethers said "${e.shortMessage ?? e.message}", node answered ` +
    nodeAnswer(e));
  const got = revertOf(e);
  assert.equal(got.reason, reason, `${what}: revert reason; node answered ${nodeAnswer(e)}`);
  assert.ok(typeof got.data === 'string' && got.data.startsWith(ERROR_STRING_SELECTOR),
    `${what}: revert data is Error(string): ${got.data}`);
  return e;
}

/** The receipt of tx; fails with `what` and the receipt's status and gas if
 * it reverted (ethers' wait() throws for status 0). */
async function receiptOf(tx, what) {
  try {
    return await tx.wait(1, WAIT_MS);
  } catch (e) {
    const r = e.receipt;
    assert.fail(`${what}: ${e.shortMessage ?? e.message}` +
      (r ? ` (receipt status ${r.status}, gas used ${r.gasUsed} of ${tx.gasLimit})` : ''));
  }
}

/** Send a contract transaction and wait for its receipt (status 1). */
async function mined(txPromise, what) {
  return receiptOf(await txPromise, what);
}

/** The events named `name` that `contract` emitted in a receipt, parsed. */
function eventsOf(receipt, contract, name) {
  return receipt.logs
    .filter((l) => l.address === contract.target)
    .map((l) => contract.interface.parseLog(l))
    .filter((ev) => ev?.name === name);
}

/** Deploy a compiled contract from wallet; returns { contract, receipt }. */
async function deploy(artifact, wallet, args, what) {
  const factory = new ethers.ContractFactory(artifact.abi, artifact.bytecode, wallet);
  const contract = await factory.deploy(...args);
  const receipt = await receiptOf(contract.deploymentTransaction(), `${what} deployment`);
  assert.equal(receipt.contractAddress, contract.target,
    `${what}: receipt.contractAddress is the CREATE address of (sender, nonce)`);
  return { contract, receipt };
}

describe('smart contracts through ethers.js', () => {
  let target, provider, artifacts;
  let w; // funded wallets; w[0] deploys, the others are counterparties

  before(async () => {
    artifacts = compileContracts(['Token', 'Evidence', 'Reverter']);
    target = await openTarget();
    console.log(`# target: ${target.name}`);
    assert.ok(target.keys.length >= 5,
      `need 5 funded keys, have ${target.keys.length} (set TALLY_E2E_KEYS)`);
    // cacheTimeout -1: every read goes to the node (no 250 ms result cache).
    provider = new ethers.JsonRpcProvider(target.url, undefined, {
      pollingInterval: 100,
      cacheTimeout: -1,
    });
    w = target.keys.slice(0, 5).map((k) => new ethers.Wallet(k, provider));
    const client = await provider.send('web3_clientVersion', []);
    console.log(`# client: ${client}, contracts compiled for evmVersion ${EVM_VERSION}`);
    if (/^ganache/i.test(client)) {
      assert.notEqual(EVM_VERSION, 'cancun',
        'ganache 7 has no cancun opcodes (MCOPY): set TALLY_E2E_EVM_VERSION=shanghai');
      ganacheEstimateQuirk = true;
    }
  });

  after(async () => {
    provider?.destroy();
    await target?.stop();
  });

  describe('Token (ERC-20)', () => {
    let token, deployReceipt;

    before(async () => {
      ({ contract: token, receipt: deployReceipt } = await deploy(artifacts.Token, w[0],
        ['Tally Test Token', 'TTT', SUPPLY], 'Token'));
    });

    test('deployment: code, constructor mint event, metadata views', async () => {
      assert.equal(await provider.getCode(token.target), artifacts.Token.deployedBytecode,
        'eth_getCode returns exactly the runtime bytecode solc produced');
      const mints = eventsOf(deployReceipt, token, 'Transfer');
      assert.equal(mints.length, 1, 'constructor emits one Transfer');
      assert.deepEqual([...mints[0].args], [ethers.ZeroAddress, w[0].address, SUPPLY]);
      assert.equal(await token.name(), 'Tally Test Token');
      assert.equal(await token.symbol(), 'TTT');
      assert.equal(await token.decimals(), 18n);
      assert.equal(await token.totalSupply(), SUPPLY);
      assert.equal(await token.balanceOf(w[0].address), SUPPLY);
      assert.equal(await token.balanceOf(w[1].address), 0n);
    });

    test('transfer: balances move, receipt has the Transfer log', async () => {
      const amount = ethers.parseUnits('1234.5', 18);
      const [b0, b1] = [await token.balanceOf(w[0].address), await token.balanceOf(w[1].address)];
      const r = await mined(token.transfer(w[1].address, amount), 'transfer');
      assert.equal(await token.balanceOf(w[0].address), b0 - amount, 'sender balance');
      assert.equal(await token.balanceOf(w[1].address), b1 + amount, 'receiver balance');
      assert.equal(await token.totalSupply(), SUPPLY, 'supply unchanged');

      assert.equal(r.logs.length, 1, 'one log');
      const log = r.logs[0];
      assert.equal(log.address, token.target, 'log address is the token');
      assert.deepEqual(log.topics, [TRANSFER_TOPIC, ethers.zeroPadValue(w[0].address, 32),
        ethers.zeroPadValue(w[1].address, 32)], 'topics: event signature, indexed from, to');
      assert.equal(log.data, ethers.toBeHex(amount, 32), 'data: the value');
      assert.equal(log.transactionHash, r.hash);
      assert.equal(log.blockHash, r.blockHash);
      assert.equal(log.blockNumber, r.blockNumber);
      const [ev] = eventsOf(r, token, 'Transfer');
      assert.deepEqual([...ev.args], [w[0].address, w[1].address, amount]);
    });

    test('eth_getLogs: address, topic, OR-topic, block range and blockHash filters', async () => {
      const to1 = await mined(token.transfer(w[1].address, 11n), 'transfer to w1');
      const to2 = await mined(token.transfer(w[2].address, 22n), 'transfer to w2');
      const back = await mined(token.connect(w[1]).transfer(w[0].address, 1n), 'w1 -> w0');
      const from = deployReceipt.blockNumber;
      const latest = await provider.getBlockNumber();
      const key = (l) => `${l.transactionHash}:${l.index}`;
      const keys = (logs) => logs.map(key);

      const all = await provider.getLogs({ address: token.target, topics: [TRANSFER_TOPIC],
        fromBlock: from, toBlock: latest });
      for (const r of [deployReceipt, to1, to2, back]) {
        assert.ok(keys(all).includes(key(r.logs[0])),
          `address + topic0 filter finds the Transfer of tx ${r.hash}`);
      }
      const again = all.find((l) => l.transactionHash === to2.hash);
      assert.deepEqual([again.blockHash, again.blockNumber, again.topics, again.data],
        [to2.blockHash, to2.blockNumber, to2.logs[0].topics, to2.logs[0].data],
        'eth_getLogs returns the same log as the receipt');

      const fromW0toW1 = await token.queryFilter(token.filters.Transfer(w[0].address,
        w[1].address), from, latest);
      assert.ok(fromW0toW1.length >= 1, 'indexed from + to filter finds w0 -> w1');
      for (const ev of fromW0toW1) {
        assert.deepEqual([ev.args.from, ev.args.to], [w[0].address, w[1].address],
          'indexed from + to filter returns only w0 -> w1');
      }

      const toW1orW2 = await provider.getLogs({ address: token.target, fromBlock: from,
        toBlock: latest, topics: [TRANSFER_TOPIC, null,
          [ethers.zeroPadValue(w[1].address, 32), ethers.zeroPadValue(w[2].address, 32)]] });
      assert.ok(keys(toW1orW2).includes(key(to1.logs[0])), 'OR topic list matches w1');
      assert.ok(keys(toW1orW2).includes(key(to2.logs[0])), 'OR topic list matches w2');
      assert.ok(!keys(toW1orW2).includes(key(back.logs[0])), 'OR topic list excludes to = w0');

      const onlyTo2Block = await provider.getLogs({ address: token.target,
        fromBlock: to2.blockNumber, toBlock: to2.blockNumber });
      assert.ok(keys(onlyTo2Block).includes(key(to2.logs[0])), 'single-block range');
      assert.ok(onlyTo2Block.every((l) => l.blockNumber === to2.blockNumber),
        'single-block range returns only that block');

      const byHash = await provider.getLogs({ address: token.target, blockHash: to2.blockHash });
      assert.ok(keys(byHash).includes(key(to2.logs[0])), 'blockHash filter');

      assert.deepEqual(await provider.getLogs({ address: w[3].address, fromBlock: from,
        toBlock: latest }), [], 'no logs for an address without code');
      assert.deepEqual(await provider.getLogs({ address: token.target, fromBlock: from,
        toBlock: latest, topics: [ethers.id('Nothing()')] }), [], 'no logs for an unused topic');
    });

    test('approve, allowance, transferFrom; Approval event', async () => {
      const r = await mined(token.approve(w[2].address, 500n), 'approve');
      const [ev] = eventsOf(r, token, 'Approval');
      assert.deepEqual([...ev.args], [w[0].address, w[2].address, 500n]);
      assert.equal(await token.allowance(w[0].address, w[2].address), 500n);
      const before3 = await token.balanceOf(w[3].address);
      await mined(token.connect(w[2]).transferFrom(w[0].address, w[3].address, 200n),
        'transferFrom');
      assert.equal(await token.allowance(w[0].address, w[2].address), 300n, 'allowance spent');
      assert.equal(await token.balanceOf(w[3].address), before3 + 200n);
      await assertRevertReason(token.connect(w[2]).transferFrom(w[0].address, w[3].address, 301n),
        'insufficient allowance', 'transferFrom over the allowance');
    });

    test('over-balance transfer: eth_estimateGas and eth_call revert with the reason', async () => {
      const have = await token.balanceOf(w[1].address);
      // Without a gas limit ethers estimates gas first: eth_estimateGas reverts.
      await assertRevertReason(token.connect(w[1]).transfer(w[0].address, have + 1n),
        'insufficient balance', 'transfer (eth_estimateGas)');
      await assertRevertReason(token.connect(w[1]).transfer.estimateGas(w[0].address, have + 1n),
        'insufficient balance', 'estimateGas');
      await assertRevertReason(token.connect(w[1]).transfer.staticCall(w[0].address, have + 1n),
        'insufficient balance', 'staticCall (eth_call)');
      assert.equal(await token.balanceOf(w[1].address), have, 'balance unchanged');
    });

    test('over-balance transfer with a gas limit: mined with status 0, replay gives the reason',
      async () => {
        const have = await token.balanceOf(w[1].address);
        const supplyBefore = await token.totalSupply();
        const tx = await token.connect(w[1]).transfer(w[0].address, have + 1n,
          { gasLimit: 200000n });
        const e = await rejection(tx.wait(1, WAIT_MS), 'wait() for a reverting transaction');
        assert.equal(e.code, 'CALL_EXCEPTION', `wait() error: ${e.shortMessage ?? e.message}`);
        const r = e.receipt;
        assert.ok(r, 'the error carries the receipt');
        assert.equal(r.status, 0, 'receipt status 0');
        assert.equal(r.hash, tx.hash);
        assert.equal(r.logs.length, 0, 'a reverted transaction has no logs');
        assert.ok(r.gasUsed > 21000n && r.gasUsed <= 200000n, `gas used ${r.gasUsed}`);
        assert.equal((await provider.getTransactionReceipt(tx.hash)).status, 0,
          'eth_getTransactionReceipt says status 0 too');
        assert.equal(await token.balanceOf(w[1].address), have, 'balance unchanged');
        assert.equal(await token.totalSupply(), supplyBefore, 'supply unchanged');
        // ethers reports no reason for a mined revert; replaying the
        // transaction as eth_call at its block gives it.
        await assertRevertReason(provider.call({ from: tx.from, to: tx.to, data: tx.data,
          blockTag: r.blockNumber }), 'insufficient balance', 'eth_call replay at the block');
      });

    test('eth_getCode: contract code, "0x" for an account without code', async () => {
      const code = await provider.getCode(token.target);
      assert.equal(code, artifacts.Token.deployedBytecode);
      assert.equal(await provider.getCode(w[1].address), '0x', 'funded EOA');
      assert.equal(await provider.getCode(ethers.Wallet.createRandom().address), '0x',
        'unused address');
    });

    test('eth_getStorageAt: totalSupply slot and a balanceOf mapping slot', async () => {
      // Compared as numbers: geth answers 32 bytes, ganache "0x" for an empty slot.
      const word = async (addr, slot) => {
        const hex = await provider.getStorage(addr, slot);
        assert.match(hex, /^0x([0-9a-f]{2}){0,32}$/, `eth_getStorageAt(${addr}, ${slot}) = ${hex}`);
        return hex === '0x' ? 0n : BigInt(hex);
      };
      assert.equal(await word(token.target, 0), await token.totalSupply(), 'slot 0 is totalSupply');
      const slot = ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(
        ['address', 'uint256'], [w[1].address, 1]));
      const b1 = await token.balanceOf(w[1].address);
      assert.ok(b1 > 0n, 'w1 holds tokens (from the transfer test)');
      assert.equal(await word(token.target, slot), b1,
        'keccak256(pad(w1) ++ pad(1)) is balanceOf[w1]');
      assert.equal(await word(token.target, 99), 0n, 'an unused slot reads as zero');
      assert.equal(await word(w[1].address, 0), 0n, 'an account without code has empty storage');
    });
  });

  describe('Evidence registry (2 of 3 parties confirm)', () => {
    let ev, bank, court, notary, outsider;
    const fileHash = ethers.id('evidence: loan contract scan, 12 pages');
    const Status = { Unknown: 0n, Submitted: 1n, Confirmed: 2n };

    before(async () => {
      [, bank, court, notary, outsider] = w;
      ({ contract: ev } = await deploy(artifacts.Evidence, w[0],
        [bank.address, court.address, notary.address], 'Evidence'));
    });

    const asParty = (wallet) => ev.connect(wallet);

    test('deployment: the three parties', async () => {
      assert.deepEqual([await ev.bank(), await ev.court(), await ev.notary()],
        [bank.address, court.address, notary.address]);
      for (const p of [bank, court, notary]) assert.equal(await ev.isParty(p.address), true);
      assert.equal(await ev.isParty(outsider.address), false);
      assert.equal(await ev.isParty(w[0].address), false, 'the deployer is not a party');
      assert.equal(await ev.status(fileHash), Status.Unknown);
    });

    test('submit: record stored, EvidenceSubmitted with the indexed hash', async () => {
      const r = await mined(ev.submit(fileHash, 'loan contract scan.pdf'), 'submit');
      const [e] = eventsOf(r, ev, 'EvidenceSubmitted');
      assert.ok(e, 'EvidenceSubmitted emitted');
      assert.deepEqual([...e.args], [fileHash, w[0].address, 'loan contract scan.pdf']);
      assert.equal(r.logs[0].topics[1], fileHash, 'hash is the first indexed topic');
      assert.equal(await ev.status(fileHash), Status.Submitted);
      const rec = await ev.getEvidence(fileHash);
      assert.equal(rec.submitter, w[0].address);
      assert.equal(rec.description, 'loan contract scan.pdf');
      assert.equal(rec.signatures, 0n);
      assert.equal(rec.confirmed, false);
      const block = await provider.getBlock(r.blockNumber);
      assert.equal(rec.submittedAt, BigInt(block.timestamp), 'submittedAt is the block time');
      await assertRevertReason(ev.submit(fileHash, 'again'), 'already submitted',
        'second submit of the same hash');
      await assertRevertReason(ev.getEvidence(ethers.id('never submitted')), 'unknown evidence',
        'getEvidence of an unknown hash (view)');
    });

    test('sign by party 1 (bank): EvidenceSigned, not yet confirmed', async () => {
      const r = await mined(asParty(bank).sign(fileHash), 'bank signs');
      const [s] = eventsOf(r, ev, 'EvidenceSigned');
      assert.deepEqual([...s.args], [fileHash, bank.address, 1n]);
      assert.equal(eventsOf(r, ev, 'EvidenceConfirmed').length, 0, 'no EvidenceConfirmed yet');
      assert.equal(await ev.signatureCount(fileHash), 1n);
      assert.equal(await ev.isConfirmed(fileHash), false);
      assert.equal(await ev.status(fileHash), Status.Submitted);
      assert.equal(await ev.hasSigned(fileHash, bank.address), true);
      assert.equal(await ev.hasSigned(fileHash, court.address), false);
    });

    test('refused signatures: non-party, double signing, unknown hash', async () => {
      await assertRevertReason(asParty(outsider).sign(fileHash), 'not a party',
        'sign by an outsider');
      await assertRevertReason(ev.sign(fileHash), 'not a party', 'sign by the submitter');
      await assertRevertReason(asParty(bank).sign(fileHash), 'already signed',
        'second signature by the bank');
      await assertRevertReason(asParty(court).sign(ethers.id('unknown file')),
        'unknown evidence', 'sign an unknown hash');
      assert.equal(await ev.signatureCount(fileHash), 1n, 'still one signature');
    });

    test('sign by party 2 (court): EvidenceConfirmed, view says confirmed', async () => {
      const r = await mined(asParty(court).sign(fileHash), 'court signs');
      const [s] = eventsOf(r, ev, 'EvidenceSigned');
      assert.deepEqual([...s.args], [fileHash, court.address, 2n]);
      const confirmed = eventsOf(r, ev, 'EvidenceConfirmed');
      assert.equal(confirmed.length, 1, 'EvidenceConfirmed emitted once');
      assert.deepEqual([...confirmed[0].args], [fileHash, 2n]);
      assert.equal(await ev.isConfirmed(fileHash), true);
      assert.equal(await ev.status(fileHash), Status.Confirmed);
      assert.equal((await ev.getEvidence(fileHash)).confirmed, true);
    });

    test('sign by party 3 (notary) after confirmation: counted, not confirmed again', async () => {
      const r = await mined(asParty(notary).sign(fileHash), 'notary signs');
      assert.deepEqual([...eventsOf(r, ev, 'EvidenceSigned')[0].args],
        [fileHash, notary.address, 3n]);
      assert.equal(eventsOf(r, ev, 'EvidenceConfirmed').length, 0);
      assert.equal(await ev.signatureCount(fileHash), 3n);
      const logs = await ev.queryFilter(ev.filters.EvidenceConfirmed(fileHash), 0, 'latest');
      assert.equal(logs.length, 1, 'eth_getLogs by the indexed hash: one EvidenceConfirmed');
      const signed = await ev.queryFilter(ev.filters.EvidenceSigned(fileHash), 0, 'latest');
      assert.deepEqual(signed.map((l) => l.args.party), [bank.address, court.address,
        notary.address], 'EvidenceSigned logs in order');
    });
  });

  describe('Reverter: revert data through eth_call, eth_estimateGas and receipts', () => {
    let rv;

    before(async () => {
      ({ contract: rv } = await deploy(artifacts.Reverter, w[0], [], 'Reverter'));
    });

    test('revert("..."): reason for eth_call and eth_estimateGas', async () => {
      await assertRevertReason(rv.failWithReason.staticCall(), 'Reverter: reason string',
        'eth_call');
      await assertRevertReason(rv.failWithReason.estimateGas(), 'Reverter: reason string',
        'eth_estimateGas');
      await assertRevertReason(rv.failWithReason(), 'Reverter: reason string',
        'send (ethers estimates first)');
    });

    test('require(false, "..."): reason for eth_call and eth_estimateGas', async () => {
      await assertRevertReason(rv.failWithRequire.staticCall(), 'Reverter: require failed',
        'eth_call');
      await assertRevertReason(rv.failWithRequire.estimateGas(), 'Reverter: require failed',
        'eth_estimateGas');
    });

    test('custom error: decoded through the ABI', async () => {
      for (const [what, promise] of [['eth_call', rv.failWithCustomError.staticCall(42n)],
        ['eth_estimateGas', rv.failWithCustomError.estimateGas(42n)]]) {
        const e = await rejection(promise, what);
        assert.equal(e.code, 'CALL_EXCEPTION', `${what}: ${e.shortMessage ?? e.message}`);
        const { data, revert } = revertOf(e, rv.interface);
        assert.ok(revert, `${what}: ethers decoded the revert; node answered ${nodeAnswer(e)}`);
        assert.equal(revert.name, 'Unauthorized', what);
        assert.deepEqual([...revert.args], [w[0].address, 42n], `${what}: error arguments`);
        const parsed = rv.interface.parseError(data);
        assert.equal(parsed.name, 'Unauthorized', `${what}: interface.parseError(data)`);
        assert.equal(parsed.args.code, 42n);
      }
    });

    test('panic: division by zero decodes as Panic(0x12)', async () => {
      const e = await rejection(rv.failWithPanic.staticCall(0n), 'eth_call');
      assert.equal(e.code, 'CALL_EXCEPTION', `${e.shortMessage ?? e.message}`);
      assert.equal(e.revert?.name, 'Panic', `ethers decoded Panic; node answered ${nodeAnswer(e)}`);
      assert.equal(BigInt(e.revert.args[0]), 0x12n, 'panic code');
      assert.equal(await rv.failWithPanic.staticCall(1n), (await rv.counter()) + 1n,
        'a non-zero divisor succeeds');
    });

    test('view function: a value, or the revert reason', async () => {
      const counter = await rv.counter();
      assert.equal(await rv.viewCheck(5n), 5n + counter);
      await assertRevertReason(rv.viewCheck(0n), 'Reverter: view reverted', 'view eth_call');
      await assertRevertReason(rv.viewCheck.estimateGas(0n), 'Reverter: view reverted',
        'view eth_estimateGas');
    });

    test('mined reverts undo their writes; a successful call keeps its write', async () => {
      const before = await rv.counter();
      for (const fn of ['failWithReason', 'failWithRequire']) {
        const tx = await rv[fn]({ gasLimit: 100000n });
        const e = await rejection(tx.wait(1, WAIT_MS), `${fn} mined`);
        assert.equal(e.receipt?.status, 0, `${fn}: receipt status 0`);
      }
      const tx = await rv.failWithCustomError(7n, { gasLimit: 100000n });
      const e = await rejection(tx.wait(1, WAIT_MS), 'failWithCustomError mined');
      assert.equal(e.receipt?.status, 0, 'failWithCustomError: receipt status 0');
      assert.equal(await rv.counter(), before, 'reverted increments are undone');
      await mined(rv.bump(), 'bump');
      assert.equal(await rv.counter(), before + 1n, 'bump increments');
    });
  });

  describe('WebSocket subscriptions (ethers WebSocketProvider)', () => {
    let wsp, token;

    before(async () => {
      ({ contract: token } = await deploy(artifacts.Token, w[0], ['WS Token', 'WST', SUPPLY],
        'Token for WebSocket'));
      wsp = new ethers.WebSocketProvider(target.wsUrl);
      await wsp.getBlockNumber();
    });

    after(async () => {
      // off() sends eth_unsubscribe in the background; let it be answered first.
      await roundTrip();
      wsp?.destroy();
    });

    // ethers sends eth_subscribe (and eth_unsubscribe) without waiting for the
    // answer; a request sent after it on the same socket comes back only once
    // the node has handled it, so events from then on are not missed.
    const roundTrip = () => wsp?.send('eth_blockNumber', []);

    /** Wait until find() returns what a listener collected. */
    const arrived = (find, what) => waitFor(find, { timeout: WAIT_MS, interval: 20, what });

    test('newHeads: a block event for the block of a new transaction', async () => {
      const heads = [];
      const onBlock = (n) => heads.push(n);
      await wsp.on('block', onBlock);
      try {
        await roundTrip();
        const r = await mined(token.transfer(w[1].address, 5n), 'transfer');
        const n = await arrived(() => heads.find((h) => h >= r.blockNumber),
          'newHeads notification');
        assert.ok(n >= r.blockNumber, `block ${n} >= ${r.blockNumber}`);
        const b = await wsp.getBlock(r.blockNumber);
        assert.equal(b.hash, r.blockHash, 'eth_getBlockByNumber over WebSocket');
      } finally {
        await wsp.off('block');
      }
    });

    test('logs: contract.on("Transfer") receives the event', async () => {
      const tokenWs = token.connect(wsp);
      const seen = [];
      const listener = (from, to, value, payload) => seen.push({ from, to, value, payload });
      await tokenWs.on('Transfer', listener);
      try {
        await roundTrip();
        const r = await mined(token.transfer(w[2].address, 77n), 'transfer');
        const got = await arrived(() => seen.find((s) => s.payload.log.transactionHash === r.hash),
          'Transfer log notification');
        assert.deepEqual([got.from, got.to, got.value], [w[0].address, w[2].address, 77n]);
        assert.equal(got.payload.log.blockHash, r.blockHash);
        assert.equal(got.payload.log.address, token.target);
      } finally {
        await tokenWs.off('Transfer', listener);
      }
    });

    test('logs: provider.on({address, topics}) filters on an indexed topic', async () => {
      const filter = { address: token.target,
        topics: [TRANSFER_TOPIC, null, ethers.zeroPadValue(w[3].address, 32)] };
      const seen = [];
      const listener = (log) => seen.push(log);
      await wsp.on(filter, listener);
      try {
        await roundTrip();
        // The transfer to w[4] comes first: a node that ignored the topic filter
        // would deliver it.
        const other = await mined(token.transfer(w[4].address, 1n), 'transfer to w4');
        const match = await mined(token.transfer(w[3].address, 2n), 'transfer to w3');
        const log = await arrived(() => seen.find((x) => x.transactionHash === match.hash),
          'filtered log notification');
        assert.equal(log.topics[2], ethers.zeroPadValue(w[3].address, 32));
        assert.equal(seen.filter((x) => x.transactionHash === other.hash).length, 0,
          'the transfer to w4 was filtered out');
        assert.equal(seen[0].transactionHash, match.hash, 'first delivered log is the match');
      } finally {
        await wsp.off(filter, listener);
      }
    });
  });
});
