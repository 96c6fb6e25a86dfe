// Generates tests/vectors/tx_ethers.json: raw transactions signed by ethers v6,
// with their hash and sender, for tests/unit/chain/test_tx.c.
// ethers is resolved from the current directory, so run it from a scratch
// directory that has it installed (not from the repository):
//   mkdir /tmp/ethc && cd /tmp/ethc && npm init -y && npm i ethers@6
//   node /path/to/tally/tests/vectors/gen_tx.mjs > /path/to/tally/tests/vectors/tx_ethers.json
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const { Wallet, Transaction, version } = require('ethers');

// Hardhat's well-known development account #0: never holds real funds.
const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const wallet = new Wallet(KEY);

const txs = [
  {
    name: 'legacy_eip155_transfer',
    tx: { type: 0, chainId: 1337, nonce: 7, gasPrice: 20000000000n, gasLimit: 21000n,
          to: '0x3535353535353535353535353535353535353535', value: 1000000000000000000n, data: '0x' },
  },
  {
    name: 'legacy_eip155_call_data',
    tx: { type: 0, chainId: 20240101, nonce: 0, gasPrice: 1n, gasLimit: 100000n,
          to: '0x00000000000000000000000000000000000000ff', value: 0n,
          data: '0xa9059cbb000000000000000000000000000000000000000000000000000000000000000100' },
  },
  {
    name: 'dynamic_fee_transfer',
    tx: { type: 2, chainId: 1337, nonce: 42, maxPriorityFeePerGas: 1500000000n,
          maxFeePerGas: 30000000000n, gasLimit: 21000n,
          to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', value: 123456789n, data: '0x' },
  },
  {
    name: 'dynamic_fee_create_access_list',
    tx: { type: 2, chainId: 1, nonce: 1, maxPriorityFeePerGas: 0n, maxFeePerGas: 7n,
          gasLimit: 200000n, to: null, value: 0n,
          data: '0x6080604052348015600f57600080fd5b50603f80601d6000396000f3fe',
          accessList: [
            { address: '0x00000000000000000000000000000000000000aa',
              storageKeys: ['0x' + '00'.repeat(31) + '01', '0x' + '00'.repeat(31) + '02'] },
            { address: '0x00000000000000000000000000000000000000bb', storageKeys: [] },
          ] },
  },
  {
    name: 'access_list_type1',
    tx: { type: 1, chainId: 5, nonce: 3, gasPrice: 1000n, gasLimit: 50000n,
          to: '0x00000000000000000000000000000000000000cc', value: 5n, data: '0x00ff',
          accessList: [{ address: '0x00000000000000000000000000000000000000cc',
                         storageKeys: ['0x' + 'ab'.repeat(32)] }] },
  },
];

const out = { generator: `ethers ${version}`, key: KEY, address: wallet.address.toLowerCase(),
              vectors: [] };
for (const { name, tx } of txs) {
  const raw = await wallet.signTransaction(tx);
  const parsed = Transaction.from(raw);
  const nz = parsed.data === '0x' ? [] : Buffer.from(parsed.data.slice(2), 'hex');
  let gas = 21000n;
  for (const b of nz) gas += b === 0 ? 4n : 16n;
  if (parsed.to === null) gas += 32000n + 2n * BigInt(Math.ceil(nz.length / 32));
  for (const e of parsed.accessList || []) gas += 2400n + 1900n * BigInt(e.storageKeys.length);
  out.vectors.push({
    name, raw, hash: parsed.hash, sender: parsed.from.toLowerCase(), type: parsed.type,
    chainId: Number(parsed.chainId), nonce: parsed.nonce, intrinsicGas: Number(gas),
  });
}
console.log(JSON.stringify(out, null, 2));
