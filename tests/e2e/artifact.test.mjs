// bench/Token.json (the token `tally bench --erc20` deploys) must be what the
// pinned solc makes of tests/contracts/Token.sol today, so the benchmark never
// measures a stale contract. Regenerate with:
//   node tests/e2e/lib/solc.mjs bench/Token.json Token
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO } from './lib/chain.mjs';
import { compileStandard, contractsOf } from './lib/solc.mjs';

test('bench/Token.json matches a fresh compile of tests/contracts/Token.sol', () => {
  const committed = contractsOf(JSON.parse(fs.readFileSync(path.join(REPO, 'bench/Token.json'),
    'utf8')));
  const fresh = contractsOf(compileStandard(['Token'], { evmVersion: 'cancun' }));
  assert.deepEqual(Object.keys(committed), ['Token']);
  assert.equal(committed.Token.bytecode, fresh.Token.bytecode,
    'stale: run node tests/e2e/lib/solc.mjs bench/Token.json Token');
  assert.deepEqual(committed.Token.abi, fresh.Token.abi);
});
