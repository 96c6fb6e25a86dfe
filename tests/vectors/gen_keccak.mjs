// Generates tests/vectors/keccak_ethers.json: Keccak-256 digests computed by
// ethers.js v6 (an independent implementation) for 64 deterministic
// pseudo-random inputs, read by tests/unit/crypto/test_keccak.c.
//
// ethers is not a dependency of the repository; install it in a scratch
// directory and run this script from there:
//
//   mkdir /tmp/ethk && cd /tmp/ethk && npm init -y && npm i ethers@6
//   node /path/to/tally/tests/vectors/gen_keccak.mjs
//
// (or set ETHERS_DIR to the directory whose node_modules holds ethers).
// The output is deterministic: rerunning it must not change the file.
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const base = process.env.ETHERS_DIR || process.cwd();
const require = createRequire(join(base, "noop.js"));
const { keccak256, hexlify, version } = require("ethers");

// xorshift32 with a fixed seed: same inputs on every run.
let x = 0x7a11e5;
function next() {
  x ^= x << 13; x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5; x >>>= 0;
  return x;
}

// Lengths around the rate (136) and its multiples, then random ones <= 600.
const lengths = [0, 1, 31, 32, 33, 55, 56, 63, 64, 65, 127, 128, 134, 135, 136, 137,
  200, 255, 256, 270, 271, 272, 273, 407, 408, 409, 543, 544, 545, 599, 600];
while (lengths.length < 64) lengths.push(next() % 601);

const vectors = lengths.map((len) => {
  const bytes = new Uint8Array(len);
  for (let i = 0; i < len; i++) bytes[i] = next() & 0xff;
  return { len, in: hexlify(bytes), keccak256: keccak256(bytes) };
});

const out = join(dirname(fileURLToPath(import.meta.url)), "keccak_ethers.json");
writeFileSync(out, JSON.stringify({
  generator: "tests/vectors/gen_keccak.mjs",
  ethers: version,
  vectors,
}, null, 1) + "\n");
console.log(`wrote ${vectors.length} vectors to ${out} (ethers ${version})`);
