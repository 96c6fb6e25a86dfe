// `tally deploy` and `tally call` against a real 1-node chain: the ERC-20 of
// tests/contracts/Token.sol compiled by lib/solc.mjs into a solc standard-JSON
// artifact file, deployed with constructor arguments, read (balanceOf, name),
// written (transfer, with its Transfer event printed), an over-balance
// transfer that prints the revert reason and exits 1 (refused before it is
// sent, and, with --gas, mined with status 0), a custom error decoded with the
// ABI (Reverter.sol), and bad input that exits 2 with a clear message and
// sends nothing. Every outcome is checked on the chain itself over JSON-RPC,
// with ethers only encoding the checks (not trusting the CLI's decoder).
//
//   TALLY_BIN=/tmp/build-cli/tally node --test tests/e2e/cli_contracts.test.mjs
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ethers } from 'ethers';
import { writeArtifact } from './lib/solc.mjs';
import { startChain, TALLY_BIN } from './lib/chain.mjs';

const SUPPLY = 10n ** 24n;

/** Run `tally ARGS`; resolves { code, stdout, stderr }. */
function tally(args, { timeout = 90000 } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(TALLY_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeout);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The value of a "label   value" line of tally's output. */
function field(out, label) {
  const line = out.split('\n').find((l) => l.startsWith(label + ' '));
  return line ? line.slice(label.length).trim() : undefined;
}

function show(r) {
  return `exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}\n--- stdout\n${r.stdout}` +
    `--- stderr\n${r.stderr}`;
}

describe('tally deploy / tally call', () => {
  let chain, artifact, reverterArtifact, token, iface, a0, a1, a2;

  const conn = () => ['--rpc', chain.url];
  const dev = (n) => ['--from-dev', String(n), '--dir', chain.dir];
  const call = (args) => tally(['call', artifact, '--to', token, ...args, ...conn()]);

  /** balanceOf(who) read straight from the node. */
  async function balanceOf(who) {
    const data = iface.encodeFunctionData('balanceOf', [who]);
    const out = await chain.rpc('eth_call', [{ to: token, data }, 'latest']);
    return iface.decodeFunctionResult('balanceOf', out)[0];
  }
  const nonce = async (a) => BigInt(await chain.rpc('eth_getTransactionCount', [a, 'pending']));

  before(async () => {
    chain = await startChain();
    artifact = path.join(chain.dir, 'Token.json');
    reverterArtifact = path.join(chain.dir, 'Reverter.json');
    const out = writeArtifact(artifact, ['Token']);
    writeArtifact(reverterArtifact, ['Reverter']);
    iface = new ethers.Interface(out.contracts['Token.sol'].Token.abi);
    [a0, a1, a2] = chain.accounts.map((a) => ethers.getAddress(a.address));
  });

  after(async () => {
    await chain?.stop();
  });

  test('deploy with constructor arguments prints the address, hash, block, gas and event',
    async () => {
      const r = await tally(['deploy', artifact, 'Tally Token', 'TLY', SUPPLY.toString(),
        ...dev(0), ...conn()]);
      assert.equal(r.code, 0, show(r));
      token = field(r.stdout, 'contract');
      assert.match(token ?? '', /^0x[0-9a-fA-F]{40}$/, show(r));
      assert.equal(token, ethers.getAddress(token), 'the address is printed checksummed');
      const hash = field(r.stdout, 'transaction');
      const receipt = await chain.rpc('eth_getTransactionReceipt', [hash]);
      assert.equal(receipt.status, '0x1');
      assert.equal(receipt.contractAddress.toLowerCase(), token.toLowerCase());
      assert.equal(field(r.stdout, 'block'), BigInt(receipt.blockNumber).toString());
      assert.equal(field(r.stdout, 'gas used'), BigInt(receipt.gasUsed).toString());
      assert.equal(field(r.stdout, 'status'), 'success');
      assert.equal(field(r.stdout, 'event'),
        `Transfer(from: ${ethers.ZeroAddress}, to: ${a0}, value: ${SUPPLY})`);
      assert.notEqual(await chain.rpc('eth_getCode', [token, 'latest']), '0x');
      assert.equal(await balanceOf(a0), SUPPLY);
    });

  test('view functions print their decoded outputs', async () => {
    let r = await call(['balanceOf', a0]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, `${SUPPLY}\n`);
    r = await call(['name']);
    assert.equal(r.stdout, '"Tally Token"\n', show(r));
    r = await call(['decimals']);
    assert.equal(r.stdout, '18\n', show(r));
    // A lowercase address and the full signature work too.
    r = await call(['balanceOf(address)', a1.toLowerCase()]);
    assert.equal(r.stdout, '0\n', show(r));
  });

  test('transfer is sent as a transaction; its Transfer event is printed', async () => {
    const r = await call(['transfer', a1, '5', ...dev(0)]);
    assert.equal(r.code, 0, show(r));
    assert.equal(field(r.stdout, 'status'), 'success', show(r));
    assert.equal(field(r.stdout, 'event'), `Transfer(from: ${a0}, to: ${a1}, value: 5)`);
    const receipt = await chain.rpc('eth_getTransactionReceipt', [field(r.stdout, 'transaction')]);
    assert.equal(receipt.status, '0x1');
    assert.equal(receipt.from.toLowerCase(), a0.toLowerCase());
    assert.equal(await balanceOf(a1), 5n);
    assert.equal(await balanceOf(a0), SUPPLY - 5n);
    const b = await call(['balanceOf', a1]);
    assert.equal(b.stdout, '5\n', show(b));
  });

  test('--key signs as well as --from-dev', async () => {
    const r = await call(['transfer', a2, '0x10', '--key', chain.accounts[0].private_key]);
    assert.equal(r.code, 0, show(r));
    assert.equal(field(r.stdout, 'event'), `Transfer(from: ${a0}, to: ${a2}, value: 16)`);
    assert.equal(await balanceOf(a2), 16n);
  });

  test('an over-balance transfer prints the revert reason, exits 1 and sends nothing',
    async () => {
      const n = await nonce(a1);
      const r = await call(['transfer', a0, '6', ...dev(1)]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /transfer reverted: insufficient balance/, show(r));
      assert.equal(await nonce(a1), n, 'nothing was sent');
      assert.equal(await balanceOf(a1), 5n);
      // --static simulates it with eth_call: the same reason.
      const s = await call(['transfer', a0, '6', '--static', '--from', a1]);
      assert.equal(s.code, 1, show(s));
      assert.match(s.stderr, /insufficient balance/);
    });

  test('with --gas the failing transfer is mined: status failed with the reason, exit 1',
    async () => {
      const n = await nonce(a1);
      const r = await call(['transfer', a0, '6', '--gas', '100000', ...dev(1)]);
      assert.equal(r.code, 1, show(r));
      assert.equal(field(r.stdout, 'status'), 'failed: execution reverted: insufficient balance',
        show(r));
      const receipt = await chain.rpc('eth_getTransactionReceipt',
        [field(r.stdout, 'transaction')]);
      assert.equal(receipt.status, '0x0');
      assert.equal(await nonce(a1), n + 1n, 'mined');
      assert.equal(await balanceOf(a1), 5n, 'reverted');
    });

  test('a custom error is decoded with the ABI', async () => {
    const d = await tally(['deploy', reverterArtifact, ...dev(2), ...conn()]);
    assert.equal(d.code, 0, show(d));
    const reverter = field(d.stdout, 'contract');
    const r = await tally(['call', reverterArtifact, '--to', reverter, 'failWithCustomError', '7',
      ...dev(2), ...conn()]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr,
      new RegExp(`failWithCustomError reverted: Unauthorized\\(caller: ${a2}, code: 7\\)`),
      show(r));
    const p = await tally(['call', reverterArtifact, '--to', reverter, 'failWithPanic', '0',
      ...dev(2), ...conn()]);
    assert.equal(p.code, 1, show(p));
    assert.match(p.stderr, /panic 0x12 \(division or modulo by zero\)/, show(p));
  });

  test('bad input: clear errors, exit 2, nothing sent', async () => {
    const n0 = await nonce(a0);
    const cases = [
      [['nosuch', a1], /has no function nosuch; its functions: .*transfer/],
      [['transfer', a1], /transfer expects 2 arguments \(address to, uint256 value\), got 1/],
      [['transfer', a1, '5', '6'], /transfer expects 2 arguments .*got 3/],
      [['transfer', '0x1234', '5'],
        /transfer: argument 1 \(address to\): "0x1234" is not an address/],
      // ethers: "bad address checksum" for this one (last letter's case flipped)
      [['transfer', '0x5B38Da6a701c568545dCfcB03FcB875f56beddc4', '5'],
        /argument 1 \(address to\): .*bad EIP-55 checksum/],
      [['transfer', a1, '-5'], /argument 2 \(uint256 value\): -5 is negative/],
      [['transfer', a1, 'five'], /argument 2 \(uint256 value\): "five" is not a number/],
      [['transfer', a1, (1n << 256n).toString()], /out of range for uint256/],
    ];
    for (const [args, want] of cases) {
      const r = await call([...args, ...dev(0)]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${show(r)}`);
      assert.match(r.stderr, want, `${args.join(' ')}: ${show(r)}`);
      assert.equal(r.stdout, '', 'nothing printed on stdout');
    }
    let r = await tally(['call', artifact, '--to', '0x12', 'balanceOf', a0, ...conn()]);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /--to must be 0x and 40 hex digits/);
    r = await tally(['call', artifact, '--to', token, 'transfer', a1, '5', ...conn()]);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /needs a signing key/);
    r = await tally(['deploy', artifact, 'only-one-arg', ...dev(0), ...conn()]);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /constructor expects 3 arguments/);
    r = await tally(['deploy', path.join(chain.dir, 'missing.json'), ...dev(0), ...conn()]);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /cannot read the artifact/);
    r = await tally(['call', artifact, '--to', token, 'balanceOf', a0, '--bogus', ...conn()]);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /unknown option --bogus/);
    assert.equal(await nonce(a0), n0, 'nothing was sent');
  });

  test('an unreachable node exits 3', async () => {
    const r = await tally(['call', artifact, '--to', token, 'balanceOf', a0, '--rpc',
      'http://127.0.0.1:1']);
    assert.equal(r.code, 3, show(r));
    assert.match(r.stderr, /cannot reach the node/);
  });
});
