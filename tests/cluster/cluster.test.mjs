// Four real nodes on loopback agreeing by PBFT over TLS, under a steady load
// of transfers: kill -9 a follower and restart it, kill -9 the leader, wipe a
// node's data directory, try a fifth node with a certificate from another CA,
// and check at the end that every node has the same block at every height and
// every transfer acknowledged as committed is in the chain.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, startChain, TALLY_BIN } from '../e2e/lib/chain.mjs';
import { Load, checkAgreement, crashFollowerAndCatchUp, heightOf, sleep, waitCommits, waitFor,
  waitHeight } from './lib/cluster.mjs';

const N = 4;

function log(msg) {
  console.log(`# ${new Date().toISOString().slice(11, 23)} ${msg}`);
}

test('4-node PBFT cluster: crashes, leader failure, wipe and resync, foreign CA, agreement',
  { timeout: 240000 }, async () => {
    const p2p = await freePort(N);
    const chain = await startChain({ nodes: N, initArgs: ['--accounts', '13',
      '--p2p-port', String(p2p), '--view-timeout-ms', '600'] });
    const nodes = chain.nodes;
    const live = () => nodes.filter((n) => n.alive).map((n) => n.url);
    const liveNodes = () => nodes.filter((n) => n.alive);
    // senders: every development account but the first (the receiver) and the issuer
    const load = new Load(chain, { senders: chain.accounts.slice(1, -1), liveUrls: live });
    let fifth = null;
    try {
      // the nodes find each other
      await waitFor(async () => {
        for (const n of nodes) {
          const peers = await n.rpc('tally_peers');
          if (peers.filter((p) => p.connected).length !== N - 1) return false;
        }
        return true;
      }, { timeout: 20000, what: 'all nodes connected to each other' });
      const vals = await nodes[0].rpc('tally_validators');
      assert.equal(vals.length, N);
      load.start();
      await waitCommits(live(), 5, 30000, 'first commits under load');
      log(`load running: ${load.committed.size} committed`);

      // 1. kill -9 a follower: commits continue; restart: it catches up with the same state
      await crashFollowerAndCatchUp(nodes, live, { downMs: 3000, log });

      // 2. kill -9 the current leader: a view change happens, commits continue
      const cs = await nodes[0].rpc('tally_consensus');
      const leader = nodes[cs.leaderIndex];
      const vcBefore = await Promise.all(nodes.map((n) => n.rpc('tally_consensus')
        .then((c) => c.viewChanges)));
      log(`kill -9 leader node${leader.index} (height ${cs.deciding}, view ${cs.view})`);
      await leader.kill9();
      await sleep(3000);
      await waitCommits(live(), 6, 40000, 'commits without the leader');
      {
        let changed = false;
        for (const n of liveNodes()) {
          const c = await n.rpc('tally_consensus');
          if (c.viewChanges > vcBefore[n.index]) changed = true;
        }
        assert.ok(changed, 'a view change happened');
      }
      await leader.start();
      log(`node${leader.index} restarted`);

      // 3. wipe one node's data directory: it syncs from genesis
      const wiped = nodes[(leader.index + 2) % N];
      await waitCommits(live(), 3, 30000, 'commits before the wipe');
      log(`wipe node${wiped.index}`);
      await wiped.kill9();
      fs.rmSync(path.join(wiped.dir, 'data'), { recursive: true, force: true });
      await sleep(2000);
      await waitCommits(live(), 2, 30000, 'commits while wiped');
      await wiped.start();
      const tgt = Math.max(...(await Promise.all(live().map(heightOf))));
      await waitHeight([wiped.url], tgt, 90000, `node${wiped.index} syncing from genesis`);
      const wlog = fs.readFileSync(wiped.logPath, 'utf8');
      assert.match(wlog, /sync: /, 'the wiped node logs sync progress');
      log(`node${wiped.index} synced to ${tgt}`);

      // 4. a fifth node with node3's key but a certificate from another CA is refused
      fifth = await startForeign(chain);
      // it dials the validators and every handshake fails (it distrusts their CA too)
      await waitFor(() => nodes.every((n) => /handshake failed/.test(
        fs.readFileSync(n.logPath, 'utf8'))), { timeout: 15000,
        what: 'every node logging the refused handshakes of the foreign node' });
      // and a client that trusts our CA but shows the foreign certificate is
      // refused by our node's own verification
      const p2p0 = fs.readFileSync(path.join(nodes[0].dir, 'config.ini'), 'utf8')
        .match(/\[p2p\][^[]*port = (\d+)/)[1];
      const fdir = path.join(chain.dir, 'node4-foreign');
      spawnSync('openssl', ['s_client', '-tls1_3', '-connect', `127.0.0.1:${p2p0}`,
        '-cert', path.join(fdir, 'node.crt'), '-key', path.join(fdir, 'node.key'),
        '-CAfile', path.join(chain.dir, 'ca.crt')], { input: '', timeout: 5000 });
      await waitFor(() => /certificate rejected: unable to get local issuer/.test(
        fs.readFileSync(nodes[0].logPath, 'utf8')), { timeout: 10000,
        what: 'node0 logging the foreign certificate as rejected' });
      const peers = await nodes[0].rpc('tally_peers');
      assert.equal(peers.filter((p) => p.connected).length, N - 1, 'still only the 3 real peers');
      await waitCommits(live(), 2, 30000, 'commits with the foreign node knocking');
      log('foreign-CA node refused');
    } finally {
      if (fifth) {
        fifth.kill('SIGKILL');
      }
      await load.stop();
    }
    // 5. agreement: same hash at every height; every acknowledged transfer is in the chain
    try {
      await checkAgreement(nodes, load, { timeout: 30000, log });
    } finally {
      await chain.stop();
    }
  });

/** A node that holds validator node3's key but a certificate from another CA. */
async function startForeign(chain) {
  const fdir = path.join(chain.dir, 'foreign');
  const r = spawnSync(TALLY_BIN, ['chain', 'init', '--nodes', '1', '--dir', fdir], {
    encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const ndir = path.join(chain.dir, 'node4-foreign');
  fs.mkdirSync(ndir, { recursive: true });
  fs.copyFileSync(path.join(chain.nodes[3].dir, 'node.key'), path.join(ndir, 'node.key'));
  const ext = path.join(ndir, 'ext.cnf');
  fs.writeFileSync(ext, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n' +
    'extendedKeyUsage=serverAuth,clientAuth\n');
  const csr = path.join(ndir, 'node.csr');
  let o = spawnSync('openssl', ['req', '-new', '-key', path.join(ndir, 'node.key'), '-subj',
    '/O=Tally/CN=node3', '-out', csr], { encoding: 'utf8' });
  assert.equal(o.status, 0, o.stderr);
  o = spawnSync('openssl', ['x509', '-req', '-in', csr, '-CA', path.join(fdir, 'ca.crt'),
    '-CAkey', path.join(fdir, 'ca.key'), '-CAcreateserial', '-days', '30', '-extfile', ext,
    '-out', path.join(ndir, 'node.crt')], { encoding: 'utf8' });
  assert.equal(o.status, 0, o.stderr);
  const rpcPort = await freePort();
  const p2pPort = await freePort();
  const peers = chain.nodes.map((n) => {
    const ini = fs.readFileSync(path.join(n.dir, 'config.ini'), 'utf8');
    return `peer = 127.0.0.1:${ini.match(/\[p2p\][^[]*port = (\d+)/)[1]}`;
  }).join('\n');
  fs.writeFileSync(path.join(ndir, 'config.ini'), `[chain]\ngenesis = ../genesis.json\n` +
    `[node]\nname = node4-foreign\n[rpc]\nport = ${rpcPort}\n` +
    `[p2p]\nport = ${p2pPort}\nca = ${path.join(fdir, 'ca.crt')}\n${peers}\n`);
  const logFd = fs.openSync(path.join(chain.dir, 'node4-foreign.log'), 'a');
  const p = spawn(TALLY_BIN, ['node', '--dir', ndir], { stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  await sleep(500);
  return p;
}
