// The block explorer (web/) in headless Chromium against a 4-node chain under
// a small steady load: the dashboard's height grows and its TPS chart has
// data, the node table shows 4 validators with one leader, a block opened
// from the latest-blocks list shows its commit certificate, a searched
// transaction shows its amount, unknown hashes show "not found", a 390 px
// phone screen has no horizontal overflow, and the page talks to nobody but
// the node. Screenshots go to $TALLY_ARTIFACTS (default build/artifacts/explorer).
//
// Needs Chromium (/usr/bin/chromium or $CHROMIUM; scripts/install.sh --tests);
// without it the test fails, unless TALLY_SKIP_BROWSER=1 (then it is skipped).
// The node serves web/ beside its binary (build/web, the CMake `web` target);
// $TALLY_WEB_DIR points the nodes at another directory (with vendor/ in it).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { ethers } from 'ethers';
import { chromium } from 'playwright-core';
import { freePort, REPO, rpcCall, startChain, waitFor } from './lib/chain.mjs';
import { Load } from '../cluster/lib/cluster.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SKIP = process.env.TALLY_SKIP_BROWSER === '1';
const ARTIFACTS = path.resolve(REPO, process.env.TALLY_ARTIFACTS || 'build/artifacts/explorer');
const N = 4;
const AMOUNT = ethers.parseEther('1.5');

const log = (msg) => console.log(`# ${new Date().toISOString().slice(11, 23)} ${msg}`);

/** GET url: {status, text}. */
function httpGet(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode,
        text: Buffer.concat(chunks).toString('utf8') }));
    }).on('error', reject);
  });
}

/** Points every node's [rpc] static_dir at dir (before the nodes start). */
function setStaticDir(chain, dir) {
  for (let i = 0; i < chain.nodes.length; i++) {
    const ini = path.join(chain.dir, `node${i}`, 'config.ini');
    const text = fs.readFileSync(ini, 'utf8');
    fs.writeFileSync(ini, text.replace(/^\[rpc\]$/m, `[rpc]\nstatic_dir = ${dir}`));
  }
}

/** A 4-node chain, started. The P2P ports are picked before the RPC ports,
 * so the two ranges can collide: then it starts over with other ports. */
async function startCluster() {
  for (let attempt = 1; ; attempt++) {
    const p2p = await freePort(N);
    const chain = await startChain({ nodes: N, start: false,
      initArgs: ['--p2p-port', String(p2p), '--accounts', '8'] });
    if (process.env.TALLY_WEB_DIR) setStaticDir(chain, path.resolve(process.env.TALLY_WEB_DIR));
    try {
      for (const n of chain.nodes) await n.start();
      return chain;
    } catch (e) {
      await chain.stop();
      if (attempt >= 3 || !/address already in use/.test(e.message)) throw e;
      log(`port clash, starting over: ${e.message.split('\n')[0]}`);
    }
  }
}

/** Sends value from wallet to `to` and waits until it is committed; returns the hash. */
async function transfer(chain, wallet, to, value) {
  const nonce = Number(BigInt(await chain.rpc('eth_getTransactionCount',
    [wallet.address, 'latest'])));
  const raw = await wallet.signTransaction({ to, value, nonce, gasLimit: 21000n,
    chainId: chain.chainId, type: 2, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });
  const hash = await chain.rpc('eth_sendRawTransaction', [raw]);
  await waitFor(async () => (await chain.rpc('tally_txStatus', [hash])).status === 'committed',
    { timeout: 30000, interval: 100, what: `transfer ${hash} committed` });
  return hash;
}

async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot ${file}`);
}

/** Waits until the page's location.hash is `hash` (case-insensitive). */
const waitHash = (page, hash) => page.waitForFunction((want) =>
  location.hash.toLowerCase() === want.toLowerCase(), hash);

/** The number in a [data-testid] element's data-value (set by app.js). */
const valueOf = (page, testid) => page.$eval(`[data-testid="${testid}"]`,
  (el) => Number(el.dataset.value));

test('explorer: dashboard, block, transaction, search, not found, phone screen',
  { timeout: 180000, skip: SKIP && 'TALLY_SKIP_BROWSER=1' }, async () => {
    assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install it ` +
      '(scripts/install.sh --tests, or apt-get install chromium), set CHROMIUM=/path/to/chromium, ' +
      'or set TALLY_SKIP_BROWSER=1 to skip this test');
    const t0 = Date.now();
    const chain = await startCluster();
    const urls = chain.nodes.map((n) => n.url);
    const load = new Load(chain, { senders: chain.accounts.slice(2, 6), liveUrls: () => urls });
    let browser = null;
    try {
      const origin = chain.url; // http://127.0.0.1:PORT

      // The node serves this explorer, with the chart library.
      const index = await httpGet(`${origin}/`);
      assert.equal(index.status, 200, `GET / on the node: ${index.status} ${index.text.slice(0, 80)} ` +
        '(build the CMake target `web`, or set TALLY_WEB_DIR)');
      assert.match(index.text, /data-testid="search"/, 'GET / is the explorer\'s index.html');
      assert.equal((await httpGet(`${origin}/vendor/uPlot.iife.min.js`)).status, 200,
        'vendor/uPlot.iife.min.js is served (node_modules/uplot installed when web/ was built?)');

      await waitFor(async () => {
        const peers = await chain.rpc('tally_nodes');
        return peers.filter((p) => p.connected).length === N;
      }, { timeout: 30000, what: 'all 4 nodes connected' });
      load.start();
      // One transfer with a known amount, to a fresh address, for the search.
      const payer = new ethers.Wallet(chain.accounts[1].private_key);
      const payee = ethers.Wallet.createRandom().address.toLowerCase();
      const knownTx = await transfer(chain, payer, payee, AMOUNT);
      log(`chain up, load running, known tx ${knownTx} (${Date.now() - t0} ms)`);

      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(20000);
      const requests = [];
      const sockets = [];
      const errors = [];
      context.on('request', (r) => requests.push({ url: r.url(), method: r.method(), at: Date.now() }));
      page.on('websocket', (ws) => sockets.push(ws.url()));
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`console: ${m.text()}`);
      });

      // ---- dashboard: height grows, TPS chart has data, node table, live lists
      await page.goto(`${origin}/`);
      await page.waitForFunction(() =>
        Number(document.querySelector('[data-testid="height"]')?.dataset.value) > 0);
      const h1 = await valueOf(page, 'height');
      await page.waitForFunction((h) =>
        Number(document.querySelector('[data-testid="height"]').dataset.value) > h, h1);
      const h2 = await valueOf(page, 'height');
      assert.ok(h2 > h1, `height grows on the dashboard: ${h1} then ${h2}`);

      await page.waitForFunction(() =>
        Number(document.querySelector('[data-testid="tps-chart"]')?.dataset.nonzero) > 0);
      const chart = await page.evaluate(() => {
        const el = document.querySelector('[data-testid="tps-chart"]');
        const [xs, ys] = window.tallyExplorer.tps;
        return { canvas: !!el.querySelector('canvas'), points: xs.length,
          nonzero: ys.filter((y) => y > 0).length, missing: !!el.querySelector('.chart-missing') };
      });
      assert.ok(chart.canvas && !chart.missing, 'the TPS chart is drawn (uPlot canvas)');
      assert.ok(chart.points > 0 && chart.nonzero > 0,
        `TPS series has non-zero points: ${JSON.stringify(chart)}`);

      await page.waitForFunction((n) =>
        document.querySelectorAll('[data-testid="node-table"] [data-testid="node-row"]').length === n &&
        [...document.querySelectorAll('[data-testid="node-row"]')]
          .every((r) => r.dataset.connected === 'true'), N);
      const rows = await page.$$eval('[data-testid="node-row"]', (trs) =>
        trs.map((tr) => ({ leader: tr.dataset.leader === 'true', text: tr.textContent })));
      assert.equal(rows.length, N, 'node table: one row per validator');
      assert.equal(rows.filter((r) => r.leader).length, 1,
        `node table: exactly one leader: ${JSON.stringify(rows)}`);
      for (let i = 0; i < N; i++) assert.match(rows[i].text, new RegExp(`node${i}`));

      // The latest-blocks list moves with newHeads; latest txs are filled.
      const topBlock = () => page.$eval('[data-testid="latest-blocks"] li[data-number]',
        (li) => Number(li.dataset.number));
      const top1 = await topBlock();
      await page.waitForFunction((n) => Number(document.querySelector(
        '[data-testid="latest-blocks"] li[data-number]').dataset.number) > n, top1);
      await page.waitForSelector('[data-testid="latest-txs"] [data-testid="tx-row"]');

      // Live updates come from the subscription: at most a few requests a second.
      const since = Date.now();
      await page.waitForTimeout(4000);
      const posts = requests.filter((r) => r.at >= since && r.method === 'POST').length;
      assert.ok(posts <= 12, `dashboard made ${posts} JSON-RPC requests in 4 s (no polling loop)`);
      assert.ok(sockets.length >= 1, 'the dashboard opened a WebSocket');
      await screenshot(page, 'dashboard');

      // ---- a block from the latest-blocks list: its page and certificate
      // (the list holds still while the pointer is on it)
      await page.hover('[data-testid="latest-blocks"]');
      await page.waitForSelector('[data-testid="latest-blocks-paused"]:not(.hidden)');
      const num = await page.$eval('[data-testid="latest-blocks"] li[data-number]:nth-child(2)',
        (li) => Number(li.dataset.number));
      await page.click(`[data-testid="latest-blocks"] li[data-number="${num}"] [data-testid="block-link"]`);
      await waitHash(page, `#/block/${num}`);
      const heading = page.locator('[data-testid="block-heading"]');
      await heading.waitFor();
      assert.equal(Number(await heading.getAttribute('data-number')), num);
      assert.match(await heading.textContent(), new RegExp(`#${num.toLocaleString('en-US')}`));
      await page.waitForSelector('[data-testid="certificate-summary"]');
      const signed = await page.$$eval('[data-testid="signer"][data-signed="true"]', (l) => l.length);
      const signers = await page.$$eval('[data-testid="signer"]', (l) => l.length);
      assert.equal(signers, N, 'the certificate lists every validator');
      assert.ok(signed >= 3, `at least a quorum (3) signed block ${num}: ${signed}`);
      assert.match(await page.textContent('[data-testid="certificate-summary"]'),
        new RegExp(`${signed} of ${N}`));
      await page.waitForSelector('[data-testid="block-tx-table"] [data-testid="tx-link"]');
      await screenshot(page, 'block');

      // ---- search the known transaction: its page shows 1.5 ether
      await page.fill('[data-testid="search"]', knownTx);
      await page.press('[data-testid="search"]', 'Enter');
      await waitHash(page, `#/tx/${knownTx}`);
      const amount = page.locator('[data-testid="tx-amount"]');
      await amount.waitFor();
      const amountText = await amount.textContent();
      assert.match(amountText, /1\.5\s*ether/, `amount shown: ${amountText}`);
      assert.match(amountText, /1,500,000,000,000,000,000 wei/);
      assert.match(await page.textContent('[data-testid="tx-status"]'), /success/);
      assert.match(await page.textContent('[data-testid="tx-to"]'), new RegExp(payee, 'i'));
      await screenshot(page, 'transaction');

      // ---- the payee's account page: balance and the transfer
      await page.click('[data-testid="tx-to"] a');
      await waitHash(page, `#/address/${payee}`);
      await page.waitForSelector('[data-testid="account-tx-row"]');
      assert.match(await page.textContent('[data-testid="balance"]'), /1\.5\s*ether/);
      assert.match(await page.textContent('[data-testid="account-txs"]'),
        new RegExp(knownTx.slice(0, 10)));

      // ---- not found: a direct URL, a searched hash, a malformed search
      const unknown = ethers.hexlify(ethers.randomBytes(32));
      await page.goto(`${origin}/#/tx/${unknown}`);
      await page.waitForSelector('[data-testid="not-found"]');
      assert.match(await page.textContent('[data-testid="not-found"]'), /not found/i);
      assert.match(await page.textContent('[data-testid="not-found-query"]'), new RegExp(unknown));
      const unknown2 = ethers.hexlify(ethers.randomBytes(32));
      await page.fill('[data-testid="search"]', unknown2);
      await page.press('[data-testid="search"]', 'Enter');
      await page.waitForFunction((q) => document.querySelector('[data-testid="not-found-query"]')
        ?.textContent === q, unknown2);
      await page.fill('[data-testid="search"]', 'no such thing');
      await page.press('[data-testid="search"]', 'Enter');
      await page.waitForSelector('[data-testid="not-found"][data-reason="malformed"]');
      assert.match(await page.textContent('[data-testid="not-found"]'), /no such thing/);

      // ---- a phone screen: no horizontal overflow on the dashboard
      const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true,
        hasTouch: true, deviceScaleFactor: 2 });
      phone.on('request', (r) => requests.push({ url: r.url(), method: r.method(), at: Date.now() }));
      phone.on('websocket', (ws) => sockets.push(ws.url()));
      phone.on('pageerror', (e) => errors.push(e.message));
      await phone.goto(`${origin}/`);
      await phone.waitForSelector('[data-testid="node-row"]', { timeout: 20000 });
      await phone.waitForFunction(() =>
        Number(document.querySelector('[data-testid="tps-chart"]')?.dataset.nonzero) > 0,
      null, { timeout: 20000 });
      const widths = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth,
        inner: window.innerWidth }));
      assert.ok(widths.scroll <= widths.inner,
        `no horizontal overflow at 390 px: scrollWidth ${widths.scroll} > ${widths.inner}`);
      await screenshot(phone, 'dashboard-narrow');
      await phone.close();

      // ---- without the chart library: a message instead of the chart, no crash
      const bare = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      bare.on('pageerror', (e) => errors.push(`without uPlot: ${e.message}`));
      bare.on('request', (r) => requests.push({ url: r.url(), method: r.method(), at: Date.now() }));
      await bare.route('**/vendor/uPlot.iife.min.js', (r) => r.fulfill({ status: 404, body: '' }));
      await bare.goto(`${origin}/`);
      await bare.waitForSelector('[data-testid="chart-missing"]');
      assert.match(await bare.textContent('[data-testid="tps-chart"]'),
        /chart library missing \(run scripts\/install\.sh\)/);
      await bare.waitForSelector('[data-testid="node-row"]');
      await bare.close();

      // ---- nobody but the node was contacted, and nothing threw
      const wsOrigin = origin.replace(/^http/, 'ws');
      const foreign = requests.map((r) => r.url).filter((u) => !u.startsWith(origin + '/') &&
        !u.startsWith('data:') && !u.startsWith('blob:'));
      assert.deepEqual(foreign, [], 'requests to other origins');
      assert.deepEqual(sockets.filter((u) => !u.startsWith(wsOrigin + '/')), [],
        'WebSockets to other origins');
      assert.deepEqual(errors, [], 'page errors');
      log(`browser checks done: ${requests.length} requests, ${Date.now() - t0} ms in all`);
    } finally {
      await browser?.close().catch(() => {});
      await load.stop().catch(() => {});
      await chain.stop();
    }
  });
