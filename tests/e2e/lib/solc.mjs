// Compiles the test contracts in tests/contracts/ with the npm solc package
// (solc-js, the compiler pinned in package.json) and writes artifact files.
//
//   import { compileContracts } from './lib/solc.mjs';
//   const { Token } = compileContracts(['Token']);   // { abi, bytecode } each
//   new ethers.ContractFactory(Token.abi, Token.bytecode, wallet);
//
// Settings: evmVersion 'cancun' (override with $TALLY_E2E_EVM_VERSION, for
// endpoints whose EVM is older, such as ganache 7.9.2, which stops at
// 'shanghai'), optimizer enabled with 200 runs. Any compiler error throws with
// every message solc gave; warnings are printed on stderr.
//
// Artifact files (writeArtifact, or from the shell:
//   node tests/e2e/lib/solc.mjs OUT.json [Token Evidence ...]
// ) hold solc's standard-JSON output, exactly as `solc --standard-json` prints
// it for the output selection below (errors included only if there were
// warnings):
//
//   {
//     "contracts": {
//       "Token.sol": {                      // source unit name
//         "Token": {                        // contract name
//           "abi": [ ... ],                 // the JSON ABI
//           "evm": {
//             "bytecode":         { "object": "6080..." },  // creation code, hex, NO 0x
//             "deployedBytecode": { "object": "6080..." }   // runtime code, hex, NO 0x
//           }
//         }
//       }
//     },
//     "sources": { "Token.sol": { "id": 0 } }
//   }
//
// A deployer takes contracts[unit][name].evm.bytecode.object, prefixes 0x,
// appends the ABI-encoded constructor arguments and sends it with no `to`.
// The bytecode of these contracts has no library placeholders (__$...$__).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import solc from 'solc';

export const CONTRACTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)),
  '../../contracts');

export const EVM_VERSION = process.env.TALLY_E2E_EVM_VERSION || 'cancun';

/** The solc-js version string, e.g. "0.8.37+commit.f401782d.Emscripten.clang". */
export const SOLC_VERSION = solc.version();

/** solc's standard-JSON input for tests/contracts/NAME.sol, each name. */
export function standardInput(names, { evmVersion = EVM_VERSION } = {}) {
  const sources = {};
  for (const n of names) {
    sources[`${n}.sol`] = { content: fs.readFileSync(path.join(CONTRACTS_DIR, `${n}.sol`), 'utf8') };
  }
  return {
    language: 'Solidity',
    sources,
    settings: {
      evmVersion,
      optimizer: { enabled: true, runs: 200 },
      outputSelection: {
        '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
      },
    },
  };
}

/** Compile tests/contracts/NAME.sol for each name; returns solc's standard-JSON
 * output (parsed). options.evmVersion overrides EVM_VERSION. Throws on any
 * error-severity message. */
export function compileStandard(names, options) {
  const out = JSON.parse(solc.compile(JSON.stringify(standardInput(names, options))));
  const msgs = out.errors ?? [];
  const errors = msgs.filter((m) => m.severity === 'error');
  if (errors.length) {
    throw new Error(`solc ${SOLC_VERSION}: ${errors.length} error(s) compiling ` +
      `${names.join(', ')}:\n${errors.map((m) => m.formattedMessage).join('\n')}`);
  }
  for (const m of msgs) process.stderr.write(`solc: ${m.formattedMessage}\n`);
  return out;
}

/** Compile and return { Name: { abi, bytecode, deployedBytecode } } for every
 * contract in the named files; the bytecodes are 0x-prefixed hex.
 * options.evmVersion overrides EVM_VERSION. */
export function compileContracts(names = ['Token', 'Evidence', 'Reverter'], options) {
  return contractsOf(compileStandard(names, options));
}

/** { Name: { abi, bytecode, deployedBytecode } } from a standard-JSON output. */
export function contractsOf(out) {
  const result = {};
  for (const unit of Object.values(out.contracts)) {
    for (const [name, c] of Object.entries(unit)) {
      if (!c.evm.bytecode.object) throw new Error(`${name}: no bytecode (abstract?)`);
      result[name] = { abi: c.abi, bytecode: '0x' + c.evm.bytecode.object,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object };
    }
  }
  return result;
}

/** Compile the named files and write the standard-JSON output to file. */
export function writeArtifact(file, names = ['Token', 'Evidence', 'Reverter']) {
  const out = compileStandard(names);
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  return out;
}

// Command line: node tests/e2e/lib/solc.mjs OUT.json [NAME ...]
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [file, ...names] = process.argv.slice(2);
  if (!file || file.startsWith('-')) {
    process.stderr.write('usage: node tests/e2e/lib/solc.mjs OUT.json [Token Evidence ...]\n' +
      `compiles tests/contracts/NAME.sol (default: all three) with solc ${SOLC_VERSION}, ` +
      `evmVersion ${EVM_VERSION}, and writes solc's standard-JSON output to OUT.json\n`);
    process.exit(2);
  }
  const out = writeArtifact(file, names.length ? names : undefined);
  const list = Object.entries(out.contracts)
    .flatMap(([unit, cs]) => Object.keys(cs).map((n) => `${unit}:${n}`));
  process.stderr.write(`wrote ${file}: ${list.join(', ')}\n`);
}
