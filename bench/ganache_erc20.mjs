// ERC-20 transfer throughput of ganache: the reference figure for
// `tally bench --erc20`.
//
//   node bench/ganache_erc20.mjs [--duration S] [--warmup S] [--senders N]
//     [--window N] [--batch N] [--conns N] [--txs N] [--block-time S]
//     [--instamine eager|strict]
//
// What it does: starts ganache 7.9.2 in this process (ganache.server on its
// own worker thread, on a free loopback port), deploys tests/contracts/Token.sol
// (compiled by tests/e2e/lib/solc.mjs), gives each of --senders accounts
// tokens, and signs every transfer it will send before the clock starts
// (sender i sends 1 unit to sender i+1, with its own nonces 0, 1, 2, ...).
// Then it submits them as JSON-RPC batches of eth_sendRawTransaction over
// keep-alive HTTP connections, with at most --window transfers in flight (sent,
// no receipt yet) and at most one per sender, and polls the receipts of those
// in flight. A transfer is committed when its receipt has status 1. After
// --warmup seconds it counts for --duration seconds: transfers committed in
// that window per second, and the latency from sending a transfer's batch to
// seeing its receipt (p50, p99; the 20 ms poll is part of it). Progress goes
// to stderr every 5 s; the last line on stdout is one JSON object:
//   {"tool":"ganache","transfersPerSec":X,"committed":N,"seconds":S,"p50ms":..,"p99ms":..}
//
// Ganache options, chosen for its best honest throughput on the 2-core
// development machine:
// - Interval mining, miner.blockTime 0.2 s, with a window of 200 transfers
//   in 4 batches of 50 over 4 connections: each block takes every pending
//   transfer, so ganache's per-block work (a block, its receipts and the state
//   trie written to its database) is paid once per ~200 transfers. The
//   machine's speed varies by up to 2x from minute to minute, so modes were
//   compared in alternating runs: blockTime 0.2 s / window 200 gave 96-140
//   transfers/s where instamine "eager" (ganache's default: one block per
//   transaction, the hash returned once mined; windows of 8 to 32) gave 47-72
//   and "strict" 27-48; in a slower minute 70 and 80 against eager's 72 and
//   71. Other block times: 0.1 s / window 100: 96-110; 0.5 s / 400: 80-120;
//   1 s / 800: 40-80 (ganache's cost per transfer grows with the block). The
//   price is latency: a transfer waits for the block being mined, p50 ~2 s
//   (eager: ~50 ms).
//   The ceiling is ganache's EVM, not the client: 1,000 transfers mined as one
//   block (evm_mine, no HTTP) take ~8 s here, since ganache runs every opcode
//   through a JavaScript step hook (for console.log) and keeps its state in
//   leveldown.
// - miner.blockGasLimit 1e9, so that the block gas limit never binds (~35,000
//   gas per transfer; Tally's blocks take up to 10,000 transactions).
// - logging.quiet: no log line per request.
// - chain.hardfork shanghai (ganache 7.9.2 has nothing newer), so the token is
//   compiled for evmVersion shanghai. For cancun solc emits one MCOPY, in the
//   string encoder behind name() and symbol(); the transfer path is unaffected.
// - Otherwise ganache's defaults, among them chain.asyncRequestProcessing
//   (batched requests are handled concurrently).
// Ganache runs on a worker thread so that this script's signing, JSON work and
// polling run on the other core, as a separate client process would.
import http from 'node:http';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ethers } from 'ethers';
import { compileContracts } from '../tests/e2e/lib/solc.mjs';

const GANACHE_HARDFORK = 'shanghai';
const CHAIN_ID = 1337n;
const ETHER_EACH = 10n ** 24n; // wei given to the deployer and every sender at genesis
const TOKENS_EACH = 10n ** 30n; // token units the deployer gives each sender
const TRANSFER_GAS = 100000n; // gas limit of a transfer (it uses ~35,000)
const DEPLOY_GAS = 3000000n;
const MAX_FEE = 100n * 10n ** 9n; // maxFeePerGas: far above ganache's base fee
const POLL_MS = 20; // how often the poller asks for the head
const PROGRESS_MS = 5000;
const REQUEST_TIMEOUT_MS = 60000; // a hang guard, not a latency bound

const USAGE = `usage: node bench/ganache_erc20.mjs [options]
  --duration S     measured seconds (default 20)
  --warmup S       seconds of load before the measurement starts (default 3)
  --senders N      sender accounts, each with its own nonce sequence and at most
                   one transfer in flight (default 200)
  --window N       most transfers in flight, sent but no receipt yet (default 200)
  --batch N        eth_sendRawTransaction calls per JSON-RPC batch (default 50)
  --conns N        keep-alive HTTP connections for sending (default 4)
  --txs N          transfers to pre-sign (default 6000; a warning says if they ran
                   out before the end)
  --block-time S   ganache miner.blockTime in seconds; 0 = instamine (default 0.2)
  --instamine M    eager or strict: the instamine mode for --block-time 0 (default eager)`;

function parseArgs(argv) {
  const opts = { duration: 20, warmup: 3, senders: 200, window: 200, batch: 50, conns: 4,
    txs: 6000, blockTime: 0.2, instamine: 'eager' };
  const names = { '--duration': 'duration', '--warmup': 'warmup', '--senders': 'senders',
    '--window': 'window', '--batch': 'batch', '--conns': 'conns', '--txs': 'txs',
    '--block-time': 'blockTime' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--instamine' && ['eager', 'strict'].includes(argv[i + 1])) {
      opts.instamine = argv[++i];
      continue;
    }
    const key = names[argv[i]];
    const v = Number(argv[i + 1]);
    if (!key || !Number.isFinite(v) || v < 0) {
      process.stderr.write(`${argv[i] === '--help' ? '' : `bad argument: ${argv[i]}\n`}${USAGE}\n`);
      process.exit(argv[i] === '--help' ? 0 : 2);
    }
    opts[key] = v;
    i++;
  }
  for (const k of ['duration', 'senders', 'window', 'batch', 'conns', 'txs']) {
    if (opts[k] <= 0) {
      process.stderr.write(`--${k} must be positive\n${USAGE}\n`);
      process.exit(2);
    }
  }
  return opts;
}

// ---- worker thread: ganache ----------------------------------------------

async function runGanache({ blockTime, instamine, accounts }) {
  const { default: ganache } = await import('ganache');
  const server = ganache.server({
    logging: { quiet: true },
    chain: { hardfork: GANACHE_HARDFORK, chainId: Number(CHAIN_ID) },
    miner: { blockTime, instamine, blockGasLimit: '0x3b9aca00' },
    wallet: { accounts },
  });
  await server.listen(0, '127.0.0.1');
  parentPort.postMessage({ port: server.address().port });
  // Closed on request: terminating the thread under ganache's native HTTP
  // server aborts node ("uv_loop_close() while having open handles").
  parentPort.once('message', async () => {
    await server.close();
    parentPort.close();
  });
}

// ---- main thread: the client ----------------------------------------------

const log = (msg) => process.stderr.write(`ganache_erc20: ${msg}\n`);

/** JSON-RPC over keep-alive HTTP; body is one call or a batch (array). */
function makeRpc(url, conns) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const u = new URL(url);
  let nextId = 1;
  const post = (body) => new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({ host: u.hostname, port: u.port, path: '/', method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
    (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(new Error(`HTTP ${res.statusCode}: not JSON (${e.message})`));
        }
      });
      res.on('error', reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('no answer within ' +
      `${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(data);
  });
  const call = async (method, params = []) => {
    const r = await post({ jsonrpc: '2.0', id: nextId++, method, params });
    if (r.error) throw new Error(`${method}: ${r.error.message}`);
    return r.result;
  };
  /** A batch of [method, params]; resolves with the answers in call order. */
  const batch = async (calls) => {
    const first = nextId;
    nextId += calls.length;
    const answers = await post(calls.map(([method, params], k) => ({ jsonrpc: '2.0',
      id: first + k, method, params })));
    if (!Array.isArray(answers) || answers.length !== calls.length) {
      throw new Error(`bad batch answer: ${JSON.stringify(answers).slice(0, 200)}`);
    }
    return answers.sort((a, b) => a.id - b.id);
  };
  return { call, batch, close: () => agent.destroy() };
}

/** The receipt of a set-up transaction, polled for; throws unless status 1. */
async function receipt(rpc, hash) {
  const deadline = performance.now() + REQUEST_TIMEOUT_MS;
  for (;;) {
    const r = await rpc.call('eth_getTransactionReceipt', [hash]);
    if (r) {
      if (r.status !== '0x1') throw new Error(`set-up transaction ${hash} failed`);
      return r;
    }
    if (performance.now() > deadline) throw new Error(`set-up transaction ${hash} not mined`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { Token } = compileContracts(['Token'], { evmVersion: GANACHE_HARDFORK });
  const iface = new ethers.Interface(Token.abi);

  const deployer = new ethers.Wallet(ethers.id('ganache_erc20 deployer'));
  const senders = Array.from({ length: opts.senders },
    (_, i) => new ethers.Wallet(ethers.id(`ganache_erc20 sender ${i}`)));
  const accounts = [deployer, ...senders].map((w) => ({ secretKey: w.privateKey,
    balance: ethers.toBeHex(ETHER_EACH) }));

  const worker = new Worker(new URL(import.meta.url), {
    workerData: { blockTime: opts.blockTime, instamine: opts.instamine, accounts } });
  worker.on('error', (e) => {
    log(`ganache worker failed: ${e.stack ?? e}`);
    process.exit(1);
  });
  const { port } = await new Promise((resolve) => worker.once('message', resolve));
  const url = `http://127.0.0.1:${port}`;
  log(`ganache on ${url}: blockTime ${opts.blockTime} s` +
    (opts.blockTime === 0 ? ` (instamine ${opts.instamine})` : '') + `, ${opts.senders} senders`);

  // Set-up, not measured: deploy and give every sender tokens (raw
  // transactions and receipt polling, which work in every ganache mining mode).
  const setupRpc = makeRpc(url, 1);
  const fee = { gasLimit: TRANSFER_GAS, maxFeePerGas: MAX_FEE, maxPriorityFeePerGas: 0n,
    chainId: CHAIN_ID, type: 2 };
  const deployData = ethers.concat([Token.bytecode, iface.encodeDeploy(['Bench Token', 'BT',
    TOKENS_EACH * BigInt(opts.senders + 1)])]);
  const deployHash = await setupRpc.call('eth_sendRawTransaction', [await deployer.signTransaction(
    { ...fee, gasLimit: DEPLOY_GAS, nonce: 0, data: deployData })]);
  const tokenAddress = (await receipt(setupRpc, deployHash)).contractAddress;
  const funding = [];
  for (const [i, s] of senders.entries()) {
    funding.push(await deployer.signTransaction({ ...fee, to: tokenAddress, nonce: i + 1,
      data: iface.encodeFunctionData('transfer', [s.address, TOKENS_EACH]) }));
  }
  for (let i = 0; i < funding.length; i += opts.batch) {
    await setupRpc.batch(funding.slice(i, i + opts.batch).map((raw) => ['eth_sendRawTransaction',
      [raw]]));
  }
  for (const raw of funding) await receipt(setupRpc, ethers.keccak256(raw));
  setupRpc.close();

  // Pre-sign: sender i's k-th transfer (nonce k, 1 unit to sender i + 1) is
  // transfer j = k * N + i.
  const N = senders.length;
  const perSender = Math.ceil(opts.txs / N);
  const total = perSender * N;
  const t0sign = performance.now();
  const data = senders.map((_, i) => iface.encodeFunctionData('transfer',
    [senders[(i + 1) % N].address, 1n]));
  const raws = new Array(total);
  for (let j = 0; j < total; j++) {
    raws[j] = await senders[j % N].signTransaction({ ...fee, to: tokenAddress,
      nonce: Math.floor(j / N), data: data[j % N] });
  }
  const hashes = raws.map((raw) => ethers.keccak256(raw));
  log(`signed ${total} transfers in ${((performance.now() - t0sign) / 1000).toFixed(1)} s`);

  // The run, on fresh connections (ganache drops keep-alive connections left
  // idle while signing); the poller has its own, so that it never waits
  // behind a batch (in instamine "eager" mode a batch is answered once mined).
  const rpc = makeRpc(url, opts.conns);
  const pollRpc = makeRpc(url, 1);
  const sentAt = new Float64Array(total); // when transfer j's batch was sent
  const pending = new Set(); // transfers in flight (sent, no receipt yet)
  const nextNonce = new Int32Array(N); // per sender: the next transfer to send
  // Senders with nothing in flight, in the order they became free. A sender
  // has at most one transfer in flight, so its nonces reach ganache in order
  // (instamine mines on arrival; a transfer arriving before its predecessor
  // would wait in the pool until some later arrival triggers mining), and a
  // slow transfer holds back only its own sender.
  const ready = Array.from({ length: N }, (_, i) => i);
  let sent = 0;
  let exhausted = 0; // senders that sent all their pre-signed transfers
  let committedTotal = 0;
  let submitErrors = 0;
  let firstError = null;
  let reverted = 0; // receipts with status 0 (none expected)
  const fromHead = Number(await pollRpc.call('eth_blockNumber'));
  const start = performance.now();
  const windowStart = start + opts.warmup * 1000;
  const windowEnd = windowStart + opts.duration * 1000;
  let committedInWindow = 0;
  const latencies = [];
  let done = false;
  const waiting = []; // resolvers of send loops waiting for a free sender
  const wakeAll = () => {
    for (const r of waiting.splice(0)) r();
  };

  async function sendLoop(conn) {
    while (!done) {
      const batch = [];
      while (batch.length < opts.batch && pending.size < opts.window && ready.length) {
        const i = ready.shift();
        if (nextNonce[i] === perSender) {
          exhausted++;
          continue;
        }
        const j = nextNonce[i]++ * N + i;
        batch.push(j);
        pending.add(j);
      }
      if (!batch.length) {
        if (exhausted === N) return;
        await new Promise((r) => waiting.push(r));
        continue;
      }
      const now = performance.now();
      for (const j of batch) sentAt[j] = now;
      sent += batch.length;
      let answers;
      try {
        answers = await rpc.batch(batch.map((j) => ['eth_sendRawTransaction', [raws[j]]]));
      } catch (e) {
        answers = batch.map(() => ({ error: { message: `connection ${conn}: ${e.message}` } }));
      }
      // A refused transfer leaves its sender out: its later nonces cannot go.
      answers.forEach((a, k) => {
        if (!a.error || !pending.delete(batch[k])) return;
        submitErrors++;
        firstError ??= a.error.message;
      });
    }
  }

  // Asks for the receipts of the transfers in flight whenever the head moved
  // (and once more on the next poll: ganache reports a new block number
  // before it has stored the block's receipts).
  async function pollLoop() {
    let lastHead = fromHead;
    let recheck = false;
    while (!done) {
      const head = Number(await pollRpc.call('eth_blockNumber'));
      const moved = head !== lastHead;
      if ((moved || recheck) && pending.size) {
        const list = [...pending];
        const answers = await pollRpc.batch(list.map((j) => ['eth_getTransactionReceipt',
          [hashes[j]]]));
        const seen = performance.now();
        answers.forEach((a, k) => {
          if (a.error) throw new Error(`eth_getTransactionReceipt: ${a.error.message}`);
          if (!a.result) return;
          const j = list[k];
          pending.delete(j);
          ready.push(j % N);
          if (a.result.status !== '0x1') {
            reverted++;
            return;
          }
          committedTotal++;
          if (seen >= windowStart && seen <= windowEnd) {
            committedInWindow++;
            latencies.push(seen - sentAt[j]);
          }
        });
        wakeAll();
      }
      recheck = moved;
      lastHead = head;
      if (performance.now() >= windowEnd) done = true;
      else await new Promise((r) => setTimeout(r, POLL_MS));
    }
    wakeAll();
  }

  let lastCount = 0;
  const progress = setInterval(() => {
    const t = (performance.now() - start) / 1000;
    const rate = (committedTotal - lastCount) / (PROGRESS_MS / 1000);
    lastCount = committedTotal;
    log(`t=${t.toFixed(1)} s: sent ${sent}, committed ${committedTotal}, in flight ${pending.size}, ` +
      `${rate.toFixed(0)} transfers/s over the last ${PROGRESS_MS / 1000} s` +
      (t < opts.warmup ? ' (warm-up)' : ''));
  }, PROGRESS_MS);

  await Promise.all([pollLoop(), ...Array.from({ length: opts.conns }, (_, c) => sendLoop(c))]);
  clearInterval(progress);

  const seconds = opts.duration;
  if (exhausted) {
    log(`WARNING: ${exhausted} senders used all their pre-signed transfers; raise --txs`);
  }
  if (submitErrors) log(`${submitErrors} eth_sendRawTransaction errors; first: ${firstError}`);
  if (reverted) log(`WARNING: ${reverted} transfers reverted (receipt status 0)`);
  latencies.sort((a, b) => a - b);
  const round = (x) => (x == null ? null : Math.round(x));
  console.log(JSON.stringify({ tool: 'ganache', transfersPerSec: +(committedInWindow / seconds)
    .toFixed(1), committed: committedInWindow, seconds, p50ms: round(percentile(latencies, 50)),
  p99ms: round(percentile(latencies, 99)) }));
  rpc.close();
  pollRpc.close();
  worker.postMessage('close');
  await new Promise((resolve) => worker.once('exit', resolve));
}

if (isMainThread) {
  main().catch((e) => {
    log(e.stack ?? String(e));
    process.exit(1);
  });
} else {
  runGanache(workerData);
}
