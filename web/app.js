// Tally block explorer: a single-page app served by the node itself.
//
// Routes (location.hash):
//   #/                    dashboard (height, TPS chart, latest blocks and txs, nodes)
//   #/block/N | 0xHASH    a block, its commit certificate and transactions
//   #/tx/0xHASH           a transaction with its receipt
//   #/address/0xADDR      an account: balance, nonce, code, recent transactions
//   #/search/QUERY        resolves a search, then replaces itself with the page found
//
// Data comes from JSON-RPC over HTTP POST to the page's own origin; live
// updates come from one WebSocket subscription to newHeads (reconnected with
// backoff). Everything from the node is inserted as text, never as HTML.
'use strict';

(() => {
  // ---- settings ------------------------------------------------------------

  const TPS_WINDOW_MS = 5 * 60 * 1000; // the TPS chart shows the last 5 minutes
  const TPS_BUCKET_MS = 2000; // of block time, in 2 s buckets
  const BACKFILL_PAGE = 1000; // tally_blocks maximum per call
  const BACKFILL_PAGES = 6; // at most 6000 blocks fetched to fill the chart
  const LATEST_BLOCKS = 20;
  const LATEST_TXS = 20;
  const REFRESH_GAP_MS = 1000; // status / latest txs at most once per second
  const IDLE_REFRESH_MS = 5000; // while no block comes (the node table still changes)
  const BLOCK_TX_PAGE = 100; // transactions shown per step on a block page (tally_blockTxs)
  const ACCOUNT_TX_LIMIT = 25;
  const WS_BACKOFF_MIN_MS = 1000;
  const WS_BACKOFF_MAX_MS = 30000;

  const RE_HASH = /^0x[0-9a-fA-F]{64}$/;
  const RE_ADDR = /^0x[0-9a-fA-F]{40}$/;
  const RE_HEIGHT = /^[0-9]{1,15}$/;

  // ---- DOM helpers (text only: no innerHTML anywhere) ----------------------

  /** h('a', {href, class, testid, onclick}, children...) builds an element.
   * Strings become text nodes; null/false children and attributes are skipped. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'testid') el.setAttribute('data-testid', v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'data') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    appendAll(el, children);
    return el;
  }

  function appendAll(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  const $ = (sel, root = document) => root.querySelector(sel);

  // ---- formatting ----------------------------------------------------------

  /** A quantity from the node: 0x-hex string, decimal string or number. */
  function num(v) {
    if (v == null) return null;
    if (typeof v === 'number') return v;
    try {
      return Number(BigInt(v));
    } catch {
      return null;
    }
  }

  function big(v) {
    if (v == null) return null;
    try {
      return BigInt(v);
    } catch {
      return null;
    }
  }

  const groupDigits = (s) => s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const fmtInt = (n) => (n == null ? '—' : groupDigits(String(n)));

  /** wei (bigint) as ether, every significant decimal (up to 18). */
  function formatEther(wei) {
    if (wei == null) return '—';
    const neg = wei < 0n;
    const abs = neg ? -wei : wei;
    const unit = 10n ** 18n;
    const frac = (abs % unit).toString().padStart(18, '0').replace(/0+$/, '');
    return (neg ? '-' : '') + groupDigits((abs / unit).toString()) + (frac ? '.' + frac : '');
  }

  /** Short form for lists: at most 6 decimals; amounts below 10^12 wei in wei. */
  function formatEtherShort(wei) {
    if (wei == null) return '—';
    if (wei !== 0n && wei < 10n ** 12n && wei > -(10n ** 12n)) return `${groupDigits(wei.toString())} wei`;
    const full = formatEther(wei);
    const [i, f = ''] = full.split('.');
    if (f.length <= 6) return full;
    const cut = f.slice(0, 6).replace(/0+$/, '');
    if (i === '0' && !cut) return '<0.000001';
    return `${i}.${cut || '0'}…`;
  }

  /** A list amount: "1.5 ether" (or "1 wei" for dust), the exact value in the title. */
  function amountShort(wei) {
    const text = formatEtherShort(wei);
    const title = wei == null ? null : `${formatEther(wei)} ether = ${groupDigits(wei.toString())} wei`;
    return h('span', { class: 'amount', title },
      text.endsWith(' wei') ? [text.slice(0, -4), ' ', h('span', { class: 'unit' }, 'wei')]
        : [text, ' ', h('span', { class: 'unit' }, 'ether')]);
  }

  /** A detail-page amount: ether in full, wei below. */
  const etherAmount = (wei) => [
    h('span', { class: 'amount-big' }, formatEther(wei), ' ', h('span', { class: 'unit' }, 'ether')),
    h('div', { class: 'muted small mono' }, `${fmtInt(wei?.toString())} wei`),
  ];

  const short = (s, head = 6, tail = 4) =>
    s && s.length > head + tail + 1 ? `${s.slice(0, head)}…${s.slice(-tail)}` : s || '';

  function fmtAge(ms) {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 2) return 'just now';
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  function fmtDate(ms) {
    const d = new Date(ms);
    const pad = (n, w = 2) => String(n).padStart(w, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  const hexBytes = (hex) => (hex && hex.length > 2 ? (hex.length - 2) / 2 : 0);

  /** "3 s ago" that the ticker keeps current. */
  const age = (ms) => h('span', { class: 'age', data: { ts: ms }, title: fmtDate(ms) }, fmtAge(ms));

  // Ages tick locally once a second: no request involved.
  setInterval(() => {
    for (const el of document.querySelectorAll('.age[data-ts]')) {
      el.textContent = fmtAge(Number(el.dataset.ts));
    }
  }, 1000);

  // ---- links and small widgets ---------------------------------------------

  const blockLink = (n, text) =>
    h('a', { href: `#/block/${n}`, class: 'mono', testid: 'block-link' }, text ?? `#${fmtInt(n)}`);

  const txLink = (hash, full = false) =>
    h('a', { href: `#/tx/${hash}`, class: 'mono', title: hash, testid: 'tx-link' },
      full ? hash : short(hash, 10, 8));

  /** An address link with the validator's name when it is one. */
  function addrLink(addr, full = false, tag = true) {
    if (!addr) return h('span', { class: 'muted' }, '—');
    const v = tag && validatorByAddress(addr);
    return h('a', { href: `#/address/${addr}`, class: 'addr', title: addr, testid: 'address-link' },
      h('span', { class: 'mono' }, full ? addr : short(addr)),
      v && h('span', { class: 'tag' }, v.name));
  }

  function badge(kind, text, testid) {
    return h('span', { class: `badge badge-${kind}`, testid }, text);
  }

  function txStatusBadge(success) {
    if (success == null) return badge('muted', 'unknown');
    return success ? badge('ok', '✓ success') : badge('fail', '✗ failed');
  }

  /** Hex data in a scrollable box, with its size. */
  function hexBox(hex, testid) {
    return h('div', { class: 'hexbox' },
      h('div', { class: 'hexbox-size muted' }, `${fmtInt(hexBytes(hex))} bytes`),
      h('pre', { class: 'hex mono', testid, tabindex: 0 }, hex));
  }

  function card(title, body, { testid, extra, cls } = {}) {
    return h('section', { class: `card ${cls || ''}`, testid },
      title && h('div', { class: 'card-head' }, h('h2', null, title), extra),
      body);
  }

  /** A definition list from [label, value] pairs (falsy pairs skipped). */
  function fields(pairs) {
    return h('dl', { class: 'fields' }, pairs.filter(Boolean).map(([k, v, testid]) => [
      h('dt', null, k), h('dd', { testid }, v),
    ]));
  }

  /** The receiver of a transaction summary: an address, or the contract it
   * created (tally_* listings carry contractAddress for creations). */
  function toCell(t) {
    if (t.to) return addrLink(t.to);
    if (t.contractAddress) return [h('span', { class: 'muted' }, 'creates '), addrLink(t.contractAddress)];
    return h('span', { class: 'muted' }, 'contract creation');
  }

  /** A horizontally scrolling table. cols: [label, cls?]; rows: arrays of cells. */
  function table(cols, rows, { testid, rowAttrs } = {}) {
    return h('div', { class: 'table-wrap' },
      h('table', { testid },
        h('thead', null, h('tr', null, cols.map(([c, cls]) => h('th', { class: cls }, c)))),
        h('tbody', null, rows.map((cells, i) =>
          h('tr', rowAttrs ? rowAttrs(i) : null,
            cells.map((c, j) => h('td', { class: cols[j][1] }, c)))))));
  }

  // ---- JSON-RPC over HTTP ----------------------------------------------------

  const RPC_URL = new URL('./', location.href).href;
  let rpcId = 0;

  class RpcError extends Error {
    constructor(method, error) {
      super(`${method}: ${error?.message ?? 'error'}`);
      this.method = method;
      this.code = error?.code;
    }
  }

  async function post(body) {
    const res = await fetch(RPC_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
    if (!res.ok && res.status !== 200) {
      const text = await res.text().catch(() => '');
      throw new Error(`HTTP ${res.status} ${text.slice(0, 120)}`);
    }
    return res.json();
  }

  async function rpc(method, params = []) {
    const r = await post({ jsonrpc: '2.0', id: ++rpcId, method, params });
    if (r.error) throw new RpcError(method, r.error);
    return r.result;
  }

  /** Several calls in one request. Resolves to results in order; a failed
   * call's slot holds its RpcError (so one missing method spoils nothing else). */
  async function rpcBatch(calls) {
    const base = rpcId + 1;
    rpcId += calls.length;
    const body = calls.map(([method, params = []], i) =>
      ({ jsonrpc: '2.0', id: base + i, method, params }));
    const answer = await post(body);
    const byId = new Map((Array.isArray(answer) ? answer : [answer]).map((x) => [x.id, x]));
    return calls.map(([method], i) => {
      const x = byId.get(base + i);
      if (!x) return new RpcError(method, { message: 'no answer' });
      return x.error ? new RpcError(method, x.error) : x.result;
    });
  }

  const isErr = (x) => x instanceof Error;

  // ---- chain data shared by the views -----------------------------------------

  const store = {
    status: null, // tally_status
    consensus: null, // tally_consensus
    validators: null, // tally_validators
    blocks: new Map(), // number -> summary, recent blocks (TPS window + latest list)
    head: null, // newest summary seen
    backfilled: false,
  };

  function validatorByAddress(addr) {
    if (!store.validators || !addr) return null;
    const a = addr.toLowerCase();
    return store.validators.find((v) => v.address && v.address.toLowerCase() === a) || null;
  }

  async function loadValidators() {
    if (store.validators) return store.validators;
    try {
      store.validators = await rpc('tally_validators');
    } catch {
      store.validators = null;
    }
    return store.validators;
  }

  /** A block summary from a newHeads header, an eth_ block or a tally_blocks entry. */
  function summary(b) {
    const txs = b.transactionCount ?? (Array.isArray(b.transactions) ? b.transactions.length : null);
    return {
      number: num(b.number),
      hash: b.hash,
      timestampMs: num(b.timestampMs) ?? (num(b.timestamp) ?? 0) * 1000,
      transactionCount: num(txs) ?? 0,
      gasUsed: num(b.gasUsed),
      miner: b.miner,
      view: num(b.view),
    };
  }

  /** Adds summaries; keeps the TPS window plus the newest LATEST_BLOCKS. */
  function addBlocks(list) {
    for (const b of list) {
      if (b.number == null) continue;
      store.blocks.set(b.number, b);
      if (!store.head || b.number > store.head.number) store.head = b;
    }
    if (!store.head) return;
    const keepFrom = store.head.timestampMs - TPS_WINDOW_MS - TPS_BUCKET_MS;
    const minNumber = store.head.number - LATEST_BLOCKS + 1;
    for (const [n, b] of store.blocks) {
      if (b.timestampMs < keepFrom && n < minNumber) store.blocks.delete(n);
    }
  }

  /** Newest first. */
  function recentBlocks(count) {
    return [...store.blocks.values()].sort((a, b) => b.number - a.number).slice(0, count);
  }

  /** Fills store.blocks with the last TPS_WINDOW_MS of blocks (tally_blocks,
   * pages of 1000 going back). */
  async function backfill() {
    let before;
    for (let page = 0; page < BACKFILL_PAGES; page++) {
      const list = await rpc('tally_blocks', before == null ? [BACKFILL_PAGE] : [BACKFILL_PAGE, before]);
      if (!Array.isArray(list) || !list.length) break;
      const got = list.map(summary);
      addBlocks(got);
      const oldest = got[got.length - 1];
      if (oldest.number <= 0 || got.length < BACKFILL_PAGE) break;
      if (oldest.timestampMs < store.head.timestampMs - TPS_WINDOW_MS) break;
      before = oldest.number;
    }
    store.backfilled = true;
  }

  /** Transactions per second in TPS_BUCKET_MS buckets of block time over the
   * window ending at the head block: [x seconds[], tps[]] for uPlot. */
  function tpsSeries() {
    const xs = [];
    const ys = [];
    if (!store.head) return [xs, ys];
    const nBuckets = Math.round(TPS_WINDOW_MS / TPS_BUCKET_MS);
    // The head's bucket may still get blocks: it is left out while blocks
    // come (it would show a dip), and shown once the chain has gone quiet.
    // Once quiet, the series runs on to now with zeros.
    const headBucket = Math.floor(store.head.timestampMs / TPS_BUCKET_MS);
    const now = chainNow();
    const quiet = now - store.head.timestampMs > 2 * TPS_BUCKET_MS;
    const last = quiet ? Math.max(headBucket, Math.floor(now / TPS_BUCKET_MS) - 1) : headBucket - 1;
    // A chain younger than the window: start at its genesis block.
    const genesis = store.blocks.get(0);
    const first = Math.min(last, Math.max(last - nBuckets + 1,
      genesis ? Math.floor(genesis.timestampMs / TPS_BUCKET_MS) : -Infinity));
    for (let b = first; b <= last; b++) {
      xs.push((b * TPS_BUCKET_MS) / 1000);
      ys.push(0);
    }
    for (const blk of store.blocks.values()) {
      const i = Math.floor(blk.timestampMs / TPS_BUCKET_MS) - first;
      if (i >= 0 && i < ys.length) ys[i] += blk.transactionCount;
    }
    for (let i = 0; i < ys.length; i++) ys[i] /= TPS_BUCKET_MS / 1000;
    return [xs, ys];
  }

  /** The node's wall clock now (block timestamps are on it), from the offset
   * seen in its last tally_status answer (timeMs). */
  function chainNow() {
    return Date.now() + (store.clockOffset || 0);
  }

  /** TPS over the last `ms` of block time up to now (an idle chain decays to
   * 0), average block time of the last 100 blocks. */
  function rates(ms = 10000) {
    const blocks = recentBlocks(100);
    if (!blocks.length) return { tps: null, blockTime: null };
    const headTs = blocks[0].timestampMs;
    const end = Math.max(headTs, chainNow());
    let txs = 0;
    for (const b of store.blocks.values()) if (b.timestampMs > end - ms) txs += b.transactionCount;
    const oldest = blocks[blocks.length - 1];
    const blockTime = blocks.length > 1 ? (headTs - oldest.timestampMs) / (blocks.length - 1) : null;
    return { tps: txs / (ms / 1000), blockTime };
  }

  /** Committed transactions: tally_status's count plus blocks seen since. */
  function totalTxs() {
    const st = store.status;
    if (!st || st.txCount == null) return null;
    let t = num(st.txCount);
    for (const b of store.blocks.values()) if (b.number > num(st.height)) t += b.transactionCount;
    return t;
  }

  function headHeight() {
    const a = store.head ? store.head.number : null;
    const b = store.status ? num(store.status.height) : null;
    if (a == null) return b;
    return b == null ? a : Math.max(a, b);
  }

  // ---- live heads over WebSocket -------------------------------------------------

  const live = {
    ws: null,
    subId: null,
    subReq: null,
    attempts: 0,
    connectedOnce: false,
    listeners: new Set(),
    resyncListeners: new Set(),
    retryTimer: null,
  };

  function setConn(state, text) {
    const el = $('#conn');
    el.dataset.state = state;
    $('.conn-text', el).textContent = text;
  }

  function wsUrl() {
    const u = new URL('./', location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.hash = '';
    return u.href;
  }

  function connectLive() {
    clearTimeout(live.retryTimer);
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch {
      scheduleReconnect();
      return;
    }
    live.ws = ws;
    live.subId = null;
    setConn('connecting', live.connectedOnce ? 'reconnecting' : 'connecting');
    ws.onopen = () => {
      live.subReq = ++rpcId;
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: live.subReq, method: 'eth_subscribe',
        params: ['newHeads'] }));
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.id === live.subReq && msg.result) {
        const again = live.connectedOnce;
        live.subId = msg.result;
        live.attempts = 0;
        live.connectedOnce = true;
        setConn('live', 'live');
        // Heads may have been missed while we were away: let views catch up.
        if (again) for (const fn of live.resyncListeners) fn();
      } else if (msg.id === live.subReq && msg.error) {
        // The node refused the subscription: try again later, as after a drop.
        console.warn('eth_subscribe:', msg.error.message);
        ws.close();
      } else if (msg.method === 'eth_subscription' && msg.params &&
        msg.params.subscription === live.subId && msg.params.result) {
        onHead(msg.params.result);
      }
    };
    ws.onclose = () => {
      if (live.ws !== ws) return;
      live.ws = null;
      scheduleReconnect();
    };
    ws.onerror = () => {}; // onclose follows
  }

  function scheduleReconnect() {
    const delay = Math.min(WS_BACKOFF_MAX_MS, WS_BACKOFF_MIN_MS * 2 ** live.attempts) *
      (0.75 + Math.random() * 0.5);
    live.attempts++;
    setConn('down', `offline, retry in ${Math.round(delay / 1000)} s`);
    live.retryTimer = setTimeout(connectLive, delay);
  }

  function onHead(header) {
    const b = summary(header);
    b.commitSigners = header.commitSigners;
    addBlocks([b]);
    for (const fn of live.listeners) {
      try {
        fn(b);
      } catch (e) {
        console.error(e);
      }
    }
  }

  /** Runs fn at most once per gapMs; calls while it waits or runs coalesce
   * into one more run. Returns trigger(); trigger.cancel() stops it. */
  function throttle(fn, gapMs) {
    let last = 0;
    let timer = null;
    let running = false;
    let again = false;
    let dead = false;
    const trigger = () => {
      if (dead) return;
      if (running) {
        again = true;
        return;
      }
      if (timer) return;
      timer = setTimeout(async () => {
        timer = null;
        running = true;
        last = Date.now();
        try {
          await fn();
        } catch (e) {
          console.warn(e);
        }
        running = false;
        if (again) {
          again = false;
          trigger();
        }
      }, Math.max(0, last + gapMs - Date.now()));
    };
    trigger.cancel = () => {
      dead = true;
      clearTimeout(timer);
    };
    return trigger;
  }

  // ---- router ----------------------------------------------------------------

  const app = $('#app');
  let view = null; // { cleanups: [], alive } of the page on screen

  /** The context a view renders with: register head listeners and cleanups
   * that end with the page; `alive` turns false once the user navigated away. */
  function newView() {
    if (view) {
      view.alive = false;
      for (const fn of view.cleanups) fn();
    }
    const v = {
      alive: true,
      cleanups: [],
      onHead(fn) {
        live.listeners.add(fn);
        this.cleanups.push(() => live.listeners.delete(fn));
      },
      onResync(fn) {
        live.resyncListeners.add(fn);
        this.cleanups.push(() => live.resyncListeners.delete(fn));
      },
      every(fn, ms) {
        const t = setInterval(fn, ms);
        this.cleanups.push(() => clearInterval(t));
      },
      throttle(fn, ms) {
        const t = throttle(() => (this.alive ? fn() : null), ms);
        this.cleanups.push(t.cancel);
        return t;
      },
    };
    view = v;
    return v;
  }

  function route() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [kind, ...rest] = raw.split('/');
    let arg = rest.join('/');
    try {
      arg = decodeURIComponent(arg);
    } catch {}
    const v = newView();
    window.scrollTo(0, 0);
    const page = {
      '': viewDashboard,
      block: viewBlock,
      tx: viewTx,
      address: viewAddress,
      search: viewSearch,
    }[kind];
    const run = page ? page(v, arg.trim()) : viewNotFound(v, raw, 'There is no such page.');
    Promise.resolve(run).catch((e) => {
      if (v.alive) viewError(v, e);
    });
  }

  function mount(...children) {
    clear(app);
    appendAll(app, children);
  }

  function loading(what) {
    mount(h('div', { class: 'loading', testid: 'loading' },
      h('span', { class: 'spinner' }), `Loading ${what}…`));
  }

  function pageHead(title, sub, { testid, data } = {}) {
    return h('div', { class: 'page-head' },
      h('h1', { testid, data }, title),
      sub && h('div', { class: 'page-sub mono', testid: 'page-sub' }, sub));
  }

  function viewNotFound(v, query, detail) {
    document.title = 'Not found · Tally explorer';
    mount(h('section', { class: 'card empty-page', testid: 'not-found' },
      h('div', { class: 'empty-icon', 'aria-hidden': 'true' }, '?'),
      h('h1', null, 'Not found'),
      h('p', null, 'Nothing matches ',
        h('code', { class: 'query', testid: 'not-found-query' }, query || '(empty)'), '.'),
      detail && h('p', { class: 'muted' }, detail),
      h('p', null, h('a', { href: '#/' }, '← Back to the dashboard'))));
  }

  function viewMalformed(v, query, detail) {
    document.title = 'Invalid search · Tally explorer';
    mount(h('section', { class: 'card empty-page', testid: 'not-found', data: { reason: 'malformed' } },
      h('div', { class: 'empty-icon', 'aria-hidden': 'true' }, '!'),
      h('h1', null, 'Not a valid search'),
      h('p', { testid: 'malformed' }, h('code', { class: 'query', testid: 'not-found-query' }, query || '(empty)'),
        ' ', detail || 'is not a block height, hash or address.'),
      h('ul', { class: 'hints muted' },
        h('li', null, 'a block height: ', h('code', null, '1234')),
        h('li', null, 'a block or transaction hash: ', h('code', null, '0x'), ' + 64 hex digits'),
        h('li', null, 'an address: ', h('code', null, '0x'), ' + 40 hex digits')),
      h('p', null, h('a', { href: '#/' }, '← Back to the dashboard'))));
  }

  function viewError(v, e) {
    document.title = 'Error · Tally explorer';
    mount(h('section', { class: 'card empty-page', testid: 'error' },
      h('div', { class: 'empty-icon', 'aria-hidden': 'true' }, '!'),
      h('h1', null, 'The node did not answer'),
      h('p', { class: 'mono muted' }, String(e && e.message ? e.message : e)),
      h('p', null, h('button', { class: 'btn', onclick: () => route() }, 'Try again'))));
  }

  // ---- search ----------------------------------------------------------------

  /** Classifies a query: {kind: 'block'|'address'|'hash'|'bad', value, why}. */
  function classify(q) {
    const s = q.trim().replace(/,/g, '').replace(/^#/, '');
    if (!s) return { kind: 'bad', value: q, why: 'is empty: type a block height, hash or address.' };
    if (RE_HEIGHT.test(s)) return { kind: 'block', value: String(Number(s)) };
    const hex = /^0x/i.test(s) ? '0x' + s.slice(2) : '0x' + s;
    if (RE_HASH.test(hex)) return { kind: 'hash', value: hex.toLowerCase() };
    if (RE_ADDR.test(hex)) return { kind: 'address', value: hex.toLowerCase() };
    if (/^0x[0-9a-fA-F]*$/i.test(s) || /^[0-9a-fA-F]+$/.test(s)) {
      const digits = s.replace(/^0x/i, '').length;
      return { kind: 'bad', value: q,
        why: `has ${digits} hex digits: a hash has 64 and an address 40.` };
    }
    return { kind: 'bad', value: q };
  }

  $('#search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('#search-input');
    const q = input.value.trim();
    const c = classify(q);
    // Heights and addresses need no lookup; hashes go through #/search.
    if (c.kind === 'block') location.hash = `#/block/${c.value}`;
    else if (c.kind === 'address') location.hash = `#/address/${c.value}`;
    else location.hash = `#/search/${encodeURIComponent(q)}`;
    input.blur();
  });

  async function viewSearch(v, q) {
    const c = classify(q);
    const go = (hash) => location.replace(hash);
    if (c.kind === 'bad') return viewMalformed(v, q, c.why);
    if (c.kind === 'block') return go(`#/block/${c.value}`);
    if (c.kind === 'address') return go(`#/address/${c.value}`);
    loading('search');
    // A 64-digit hash: a transaction first, then a block.
    const [tx, status, block] = await rpcBatch([
      ['eth_getTransactionByHash', [c.value]],
      ['tally_txStatus', [c.value]],
      ['eth_getBlockByHash', [c.value, false]],
    ]);
    if (!v.alive) return;
    const st = isErr(status) ? null : status && status.status;
    if ((tx && !isErr(tx)) || st === 'pending' || st === 'committed') return go(`#/tx/${c.value}`);
    if (block && !isErr(block)) return go(`#/block/${c.value}`);
    viewNotFound(v, q, 'No transaction or block has this hash on this node.');
  }

  // ---- dashboard -------------------------------------------------------------

  function stat(label, testid, sub) {
    return h('div', { class: 'stat' },
      h('div', { class: 'stat-label' }, label),
      h('div', { class: 'stat-value', testid }, '—'),
      h('div', { class: 'stat-sub muted', testid: testid + '-sub' }, sub || ''));
  }

  function setStat(testid, value, sub, data) {
    const el = document.querySelector(`[data-testid="${testid}"]`);
    if (!el) return;
    el.textContent = value;
    if (data != null) el.dataset.value = String(data);
    if (sub != null) {
      const s = document.querySelector(`[data-testid="${testid}-sub"]`);
      if (s && sub instanceof Node) clear(s).append(sub);
      else if (s) s.textContent = sub;
    }
  }

  async function viewDashboard(v) {
    document.title = 'Dashboard · Tally explorer';
    const chartEl = h('div', { class: 'chart', testid: 'tps-chart' });
    const blocksEl = h('ul', { class: 'feed', testid: 'latest-blocks' });
    const pausedEl = h('span', { class: 'paused-note small hidden', testid: 'latest-blocks-paused' },
      '❚❚ paused while you point at the list');
    const txsEl = h('ul', { class: 'feed', testid: 'latest-txs' });
    const nodesEl = h('div', { testid: 'nodes' });
    mount(
      h('div', { class: 'stats', testid: 'stats' },
        stat('Block height', 'height'),
        stat('Transactions', 'tx-count', 'committed in total'),
        stat('Transactions / s', 'tps', 'last 10 s'),
        stat('Block time', 'block-time', 'average, last 100 blocks'),
        stat('Pool', 'pool-size'),
        stat('Consensus', 'consensus')),
      card('Transactions per second', chartEl, {
        testid: 'tps-card', cls: 'chart-card',
        extra: h('span', { class: 'muted small' },
          `last ${TPS_WINDOW_MS / 60000} min of block time, ${TPS_BUCKET_MS / 1000} s buckets`),
      }),
      h('div', { class: 'two-col' },
        card('Latest blocks', blocksEl, { testid: 'latest-blocks-card', extra: pausedEl }),
        card('Latest transactions', txsEl, { testid: 'latest-txs-card' })),
      card('Nodes', nodesEl, { testid: 'nodes-card' }));

    const chart = makeTpsChart(chartEl);
    v.cleanups.push(() => chart.destroy());

    const drawRates = () => {
      const hh = headHeight();
      setStat('height', fmtInt(hh), store.head ? h('span', null, 'last block ', age(store.head.timestampMs)) : '', hh);
      const t = totalTxs();
      setStat('tx-count', fmtInt(t), null, t);
      const r = rates();
      setStat('tps', r.tps == null ? '—' : r.tps.toFixed(r.tps < 10 ? 1 : 0), null, r.tps);
      setStat('block-time', r.blockTime == null ? '—' : fmtSeconds(r.blockTime), null, r.blockTime);
      chart.update(tpsSeries());
    };
    const drawStatus = () => {
      const st = store.status;
      if (st) {
        setStat('pool-size', fmtInt(num(st.poolSize)),
          st.poolCapacity != null ? `of ${fmtInt(num(st.poolCapacity))} capacity` : '', num(st.poolSize));
      }
      const c = store.consensus;
      if (c) {
        setStat('consensus', `view ${fmtInt(num(c.view))}`,
          `leader ${c.leader ?? '#' + c.leaderIndex}${c.inViewChange ? ' · view change' : ''} · ` +
          `quorum ${c.quorum} of ${c.validators}`, num(c.view));
      }
      drawRates();
    };

    // Latest blocks: drawn whole after (re)loads, then one row per newHeads notification.
    const drawBlocks = () => {
      clear(blocksEl);
      const list = recentBlocks(LATEST_BLOCKS);
      if (!list.length) blocksEl.append(h('li', { class: 'feed-empty muted' }, 'No blocks yet.'));
      for (const b of list) blocksEl.append(blockRow(b));
    };
    let lastPrepend = 0;
    const prependBlock = (b) => {
      const first = blocksEl.querySelector('li[data-number]');
      if (first && Number(first.dataset.number) >= b.number) return;
      if (first && Number(first.dataset.number) < b.number - 1) return drawBlocks(); // a gap
      const empty = blocksEl.querySelector('.feed-empty');
      if (empty) empty.remove();
      const row = blockRow(b);
      // A flash for a new row, unless blocks come too fast to notice one.
      if (Date.now() - lastPrepend > 700) row.classList.add('fresh');
      lastPrepend = Date.now();
      blocksEl.prepend(row);
      const rows = blocksEl.querySelectorAll('li[data-number]');
      for (let i = LATEST_BLOCKS; i < rows.length; i++) rows[i].remove();
    };

    // Status, consensus, nodes and latest txs in one batch, at most once a second.
    let lastRefresh = 0;
    const refresh = v.throttle(async () => {
      lastRefresh = Date.now();
      const [st, cons, nodes, txs] = await rpcBatch([
        ['tally_status'], ['tally_consensus'], ['tally_nodes'], ['tally_latestTxs', [LATEST_TXS]],
      ]);
      if (!v.alive) return;
      if (!isErr(st)) {
        store.status = st;
        if (st.timeMs != null) store.clockOffset = num(st.timeMs) - Date.now();
        showFooter();
      }
      if (!isErr(cons)) store.consensus = cons;
      drawStatus();
      drawNodes(nodesEl, isErr(nodes) ? null : nodes, nodes);
      drawTxs(txsEl, txs);
    }, REFRESH_GAP_MS);

    // Charts and counters follow heads, redrawn at most once a second.
    const redraw = v.throttle(drawRates, REFRESH_GAP_MS);

    // The list holds still under the pointer (or keyboard focus), so that a
    // row can be clicked; it catches up when the pointer leaves.
    const pause = { pointer: false, focus: false };
    const held = () => pause.pointer || pause.focus;
    const hold = (why, on) => {
      const was = held();
      pause[why] = on;
      pausedEl.classList.toggle('hidden', !held());
      if (was && !held()) drawBlocks();
    };
    const mouse = (e) => e.pointerType === 'mouse';
    blocksEl.addEventListener('pointerenter', (e) => mouse(e) && hold('pointer', true));
    blocksEl.addEventListener('pointerleave', (e) => mouse(e) && hold('pointer', false));
    blocksEl.addEventListener('focusin', () => hold('focus', true));
    blocksEl.addEventListener('focusout', (e) => {
      if (!blocksEl.contains(e.relatedTarget)) hold('focus', false);
    });

    v.onHead((b) => {
      if (!held()) prependBlock(b);
      const hh = headHeight(); // the height follows every head; the rest once a second
      setStat('height', fmtInt(hh), h('span', null, 'last block ', age(b.timestampMs)), hh);
      redraw();
      refresh();
    });
    v.onResync(async () => {
      await backfill();
      if (v.alive) {
        if (!held()) drawBlocks();
        redraw();
        refresh();
      }
    });
    // With no blocks coming (an idle chain, or one stalled by a lost node) the
    // node table still changes: refresh it now and then, only while shown.
    v.every(() => {
      if (!document.hidden && Date.now() - lastRefresh >= IDLE_REFRESH_MS) refresh();
    }, IDLE_REFRESH_MS);

    // First paint from what is known, then load.
    drawBlocks();
    drawStatus();
    refresh();
    await loadValidators();
    if (!store.backfilled) {
      try {
        await backfill();
      } catch (e) {
        console.warn('backfill', e);
      }
    }
    if (!v.alive) return;
    if (!held()) drawBlocks();
    drawRates();
  }

  const fmtSeconds = (ms) => (ms < 10000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(0)} s`);

  function blockRow(b) {
    const v = validatorByAddress(b.miner);
    return h('li', { class: 'feed-row', data: { number: b.number }, testid: 'block-row' },
      h('div', { class: 'feed-main' },
        h('span', { class: 'pill' }, 'BK'),
        h('div', null,
          blockLink(b.number),
          h('div', { class: 'muted small' }, age(b.timestampMs)))),
      h('div', { class: 'feed-mid small' },
        h('div', null, 'proposer ', h('span', { class: 'strong', title: b.miner || '' }, v ? v.name : short(b.miner))),
        h('div', { class: 'muted mono block-hash', title: b.hash }, short(b.hash, 10, 6))),
      h('div', { class: 'feed-end' },
        h('span', { class: 'count', testid: 'block-txcount' },
          `${fmtInt(b.transactionCount)} tx${b.transactionCount === 1 ? '' : 's'}`)));
  }

  function drawTxs(el, txs) {
    clear(el);
    if (isErr(txs)) {
      el.append(h('li', { class: 'feed-empty muted' }, `Latest transactions unavailable (${txs.message}).`));
      return;
    }
    if (!txs || !txs.length) {
      el.append(h('li', { class: 'feed-empty muted' }, 'No transactions yet.'));
      return;
    }
    for (const t of txs) {
      el.append(h('li', { class: 'feed-row', testid: 'tx-row' },
        h('div', { class: 'feed-main' },
          h('span', { class: `pill ${t.success === false ? 'pill-fail' : ''}` }, 'TX'),
          h('div', null, txLink(t.hash),
            h('div', { class: 'muted small' }, 'block ', blockLink(num(t.blockNumber)), ` · #${t.index}`))),
        h('div', { class: 'feed-mid small' },
          h('div', null, 'from ', addrLink(t.from)),
          h('div', null, 'to ', toCell(t))),
        h('div', { class: 'feed-end' },
          amountShort(big(t.value)),
          t.success === false && badge('fail', 'failed'))));
    }
  }

  /** The node table from tally_nodes (nodes null: the call failed, err says why). */
  function drawNodes(el, nodes, err) {
    const rows = nodes || [];
    const note = nodes ? null : `Node table unavailable${err && err.message ? ` (${err.message})` : ''}.`;
    const cols = [['#', 'num'], ['Name'], ['ID'], ['Address'], ['Height', 'num'], ['View', 'num'],
      ['Role'], ['Connection']];
    const body = rows.map((n) => [
      String(n.index),
      h('span', { class: 'strong' }, n.name, n.self && h('span', { class: 'tag' }, 'this node')),
      h('span', { class: 'mono', title: n.id }, short(n.id, 10, 6)),
      addrLink(n.address, false, false),
      h('span', { testid: 'node-height' }, n.height == null ? '—' : fmtInt(n.height)),
      n.view == null ? '—' : fmtInt(n.view),
      n.leader ? badge('lead', '★ leader', 'leader-badge') : h('span', { class: 'muted' }, 'replica'),
      n.connected == null ? h('span', { class: 'muted' }, 'unknown')
        : h('span', { class: `dot-label ${n.connected ? 'up' : 'down'}` },
          n.connected ? (n.self ? 'self' : 'connected') : 'disconnected'),
    ]);
    clear(el);
    appendAll(el, [table(cols, body, {
      testid: 'node-table',
      rowAttrs: (i) => ({ testid: 'node-row', class: rows[i].leader ? 'is-leader' : null,
        data: { leader: !!rows[i].leader, connected: !!rows[i].connected, index: rows[i].index } }),
    }), note && h('p', { class: 'muted small note' }, note)]);
  }

  // x-axis ticks: whole buckets and round minutes; labels HH:MM:SS or HH:MM.
  const TIME_INCRS = [2, 4, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600];
  function timeLabels(u, splits, axis, space, incr) {
    return splits.map((t) => {
      const hms = fmtDate(t * 1000).slice(11, 19);
      return incr < 60 ? hms : hms.slice(0, 5);
    });
  }

  /** uPlot area chart of the TPS series; without uPlot, a message instead. */
  function makeTpsChart(el) {
    const record = ([xs, ys]) => {
      el.dataset.points = String(xs.length);
      el.dataset.nonzero = String(ys.filter((y) => y > 0).length);
      el.dataset.max = String(ys.length ? Math.max(...ys) : 0);
      window.tallyExplorer.tps = [xs, ys];
    };
    if (typeof window.uPlot !== 'function') {
      el.append(h('p', { class: 'chart-missing', testid: 'chart-missing' },
        'chart library missing (run scripts/install.sh)'));
      return { update: record, destroy() {} };
    }
    const height = () => (el.clientWidth < 500 ? 180 : 240);
    const opts = {
      width: Math.max(200, el.clientWidth),
      height: height(),
      padding: [12, 28, 0, 4], // room for the last time label
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      legend: { show: false },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
      axes: [
        { stroke: '#4b5563', grid: { stroke: '#eef0f4', width: 1 }, ticks: { stroke: '#e2e5ea', width: 1 },
          space: 70, incrs: TIME_INCRS, values: timeLabels },
        { stroke: '#4b5563', grid: { stroke: '#eef0f4', width: 1 }, ticks: { stroke: '#e2e5ea', width: 1 },
          size: 52, values: (u, vals) => vals.map((x) => (x >= 1000 ? `${x / 1000}k` : String(x))) },
      ],
      series: [
        {},
        { label: 'tx/s', stroke: '#1d4ed8', width: 2, fill: 'rgba(29, 78, 216, 0.12)',
          points: { show: false }, value: (u, x) => (x == null ? '—' : x.toFixed(1)) },
      ],
    };
    const data = tpsSeries();
    const u = new window.uPlot(opts, data, el);
    record(data);
    const tip = h('div', { class: 'chart-tip', testid: 'chart-tip' });
    el.append(tip);
    // A small readout of the bucket under the cursor.
    u.over.addEventListener('mousemove', () => {
      const i = u.cursor.idx;
      if (i == null) return;
      const [xs, ys] = u.data;
      tip.textContent = `${fmtDate(xs[i] * 1000).slice(11, 19)} · ${ys[i].toFixed(1)} tx/s`;
      tip.classList.add('show');
    });
    u.over.addEventListener('mouseleave', () => tip.classList.remove('show'));
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height: height() });
    });
    ro.observe(el);
    return {
      update(d) {
        u.setData(d);
        record(d);
      },
      destroy() {
        ro.disconnect();
        u.destroy();
      },
    };
  }

  // ---- block page ------------------------------------------------------------

  async function viewBlock(v, arg) {
    const isHash = RE_HASH.test(arg);
    if (!isHash && !RE_HEIGHT.test(arg)) {
      return viewMalformed(v, arg, 'is not a block height (decimal) or a block hash (0x + 64 hex digits).');
    }
    loading('block');
    const byNumber = isHash ? null : '0x' + Number(arg).toString(16);
    const [block] = await Promise.all([
      isHash ? rpc('eth_getBlockByHash', [arg, false]) : rpc('eth_getBlockByNumber', [byNumber, false]),
      loadValidators(),
      store.consensus ? null : rpc('tally_consensus').then((c) => { store.consensus = c; }).catch(() => {}),
    ]);
    if (!v.alive) return;
    if (!block) {
      return viewNotFound(v, arg, isHash ? 'No block has this hash on this node.'
        : `The chain is at height ${fmtInt(headHeight() ?? 0)}; block ${fmtInt(Number(arg))} does not exist (yet).`);
    }
    const n = num(block.number);
    const count = num(block.transactionCount) ?? block.transactions.length;
    document.title = `Block ${n} · Tally explorer`;
    const ts = num(block.timestampMs) ?? num(block.timestamp) * 1000;
    const proposer = validatorByAddress(block.miner);
    const gasUsed = num(block.gasUsed);
    const gasLimit = num(block.gasLimit);

    const next = h('a', { class: 'btn btn-small', href: `#/block/${n + 1}`, testid: 'next-block' }, 'Next →');
    const showNext = () => next.classList.toggle('hidden', headHeight() != null && n >= headHeight());
    showNext();
    v.onHead(showNext);

    const txsBody = h('div', { testid: 'block-txs' });
    mount(
      h('div', { class: 'page-head' },
        h('h1', { testid: 'block-heading', data: { number: n } },
          'Block ', h('span', { class: 'mono' }, `#${fmtInt(n)}`)),
        h('div', { class: 'page-nav' },
          n > 0 && h('a', { class: 'btn btn-small', href: `#/block/${n - 1}`, testid: 'prev-block' }, '← Previous'),
          next)),
      card('Overview', fields([
        ['Height', fmtInt(n), 'block-number'],
        ['Hash', h('span', { class: 'mono break' }, block.hash), 'block-hash'],
        ['Parent', n > 0 ? h('a', { href: `#/block/${block.parentHash}`, class: 'mono break' }, block.parentHash)
          : h('span', { class: 'mono break muted' }, block.parentHash)],
        ['Time', [fmtDate(ts), ' ', h('span', { class: 'muted' }, '(', age(ts), ')')]],
        ['Proposer', n === 0 ? h('span', { class: 'muted' }, 'genesis') : [
          proposer ? h('span', { class: 'strong' }, proposer.name, ' ') : null, addrLink(block.miner, true, false)], 'block-proposer'],
        ['View', fmtInt(num(block.view))],
        ['Transactions', fmtInt(count), 'block-txcount'],
        ['Gas used', `${fmtInt(gasUsed)} of ${fmtInt(gasLimit)}` +
          (gasLimit ? ` (${((100 * gasUsed) / gasLimit).toFixed(2)} %)` : '')],
        ['Size', `${fmtInt(num(block.size))} bytes`],
        ['State root', h('span', { class: 'mono break' }, block.stateRoot)],
        ['Transactions root', h('span', { class: 'mono break' }, block.transactionsRoot)],
        ['Receipts root', h('span', { class: 'mono break' }, block.receiptsRoot)],
      ]), { testid: 'block-overview' }),
      certificateCard(block, n),
      card(`Transactions (${fmtInt(count)})`, txsBody, { testid: 'block-txs-card' }));

    await fillBlockTxs(v, txsBody, block, count);
  }

  /** Who signed the commit certificate: one line per validator, ✓ or not. */
  function certificateCard(block, n) {
    const cert = block.commitCertificate || '0x';
    if (n === 0) {
      return card('Commit certificate', h('p', { class: 'muted', testid: 'certificate-none' },
        'The genesis block has no commit certificate.'), { testid: 'certificate' });
    }
    const signers = block.commitSigners.map(Number);
    const vals = store.validators || [];
    const total = vals.length || (store.consensus && store.consensus.validators) || null;
    const quorum = store.consensus ? store.consensus.quorum
      : total ? total - Math.floor((total - 1) / 3) : null;
    const ok = quorum == null || signers.length >= quorum;
    const summaryLine = h('p', { class: 'cert-summary', testid: 'certificate-summary' },
      badge(ok ? 'ok' : 'fail', ok ? '✓ committed' : '✗ below quorum'), ' ',
      h('strong', null, `${signers.length} of ${total ?? '?'}`), ' validators signed',
      quorum != null ? ` (quorum ${quorum})` : '');
    const known = vals.length ? vals : signers.map((i) => ({ index: i, name: `validator ${i}` }));
    const list = h('ul', { class: 'signers', testid: 'signers' }, known.map((x) => {
      const signed = signers.includes(Number(x.index));
      return h('li', { class: signed ? 'signed' : 'unsigned', testid: 'signer',
        data: { signed, index: x.index } },
      h('span', { class: 'check', 'aria-label': signed ? 'signed' : 'not signed' }, signed ? '✓' : '–'),
      h('span', { class: 'strong' }, x.name ?? `#${x.index}`),
      x.address && addrLink(x.address, false, false),
      h('span', { class: 'muted small' }, signed ? 'signed' : 'not in certificate'));
    }));
    return card('Commit certificate', [summaryLine, list,
      h('details', { class: 'raw' }, h('summary', null, `Raw certificate (${fmtInt(hexBytes(cert))} bytes)`),
        hexBox(cert, 'certificate-raw'))], { testid: 'certificate' });
  }

  /** The block's transactions with sender, receiver, amount and status,
   * BLOCK_TX_PAGE at a time (tally_blockTxs pages). */
  async function fillBlockTxs(v, el, block, count) {
    if (!count) {
      el.append(h('p', { class: 'muted' }, 'No transactions.'));
      return;
    }
    const tbody = h('tbody');
    const more = h('div', { class: 'more-row' });
    el.append(h('div', { class: 'table-wrap' },
      h('table', { testid: 'block-tx-table' },
        h('thead', null, h('tr', null, [['#', 'num'], ['Hash'], ['From'], ['To'], ['Amount', 'num'],
          ['Status']].map(([c, cls]) => h('th', { class: cls }, c)))),
        tbody)), more);
    let shown = 0;
    const showMore = async () => {
      clear(more);
      more.append(h('span', { class: 'muted' }, 'Loading transactions…'));
      let page;
      try {
        page = await rpc('tally_blockTxs', [block.number, shown, BLOCK_TX_PAGE]);
      } catch (e) {
        if (!v.alive) return;
        clear(more);
        more.append(h('span', { class: 'muted' }, `Transactions unavailable (${e.message}).`));
        return;
      }
      if (!v.alive) return;
      for (const t of (page && page.transactions) || []) {
        tbody.append(h('tr', { testid: 'block-tx-row' },
          h('td', { class: 'num' }, String(t.index)), h('td', null, txLink(t.hash)),
          h('td', null, addrLink(t.from)), h('td', null, toCell(t)),
          h('td', { class: 'num' }, amountShort(big(t.value))), h('td', null, txStatusBadge(t.success))));
        shown = t.index + 1;
      }
      clear(more);
      const left = count - shown;
      if (left > 0 && page && page.transactions.length) {
        more.append(h('span', { class: 'muted', testid: 'block-tx-more' }, `${fmtInt(left)} more`), ' ',
          h('button', { class: 'btn btn-small', onclick: showMore },
            `Show ${fmtInt(Math.min(BLOCK_TX_PAGE, left))} more`));
      }
    };
    await showMore();
  }

  // ---- transaction page --------------------------------------------------------

  async function viewTx(v, arg) {
    if (!RE_HASH.test(arg)) {
      return viewMalformed(v, arg, 'is not a transaction hash (0x + 64 hex digits).');
    }
    const hash = arg.toLowerCase();
    loading('transaction');
    const [tx, receipt, status] = await rpcBatch([
      ['eth_getTransactionByHash', [hash]],
      ['eth_getTransactionReceipt', [hash]],
      ['tally_txStatus', [hash]],
    ]);
    await loadValidators();
    if (!v.alive) return;
    if (isErr(tx)) throw tx;
    const st = !isErr(status) && status ? status : { status: 'unknown' };
    const rec = isErr(receipt) ? null : receipt;
    if (!tx) {
      if (st.status === 'dropped') {
        return viewNotFound(v, hash, `The node dropped this transaction${st.reason ? `: ${st.reason}` : ''}.`);
      }
      if (st.status !== 'pending') return viewNotFound(v, hash, 'No transaction has this hash on this node.');
    }
    document.title = `Transaction ${short(hash, 10, 6)} · Tally explorer`;
    const pending = !rec && (st.status === 'pending' || (tx && tx.blockNumber == null));
    const ok = rec ? num(rec.status) === 1 : null;
    const statusBadge = (testid) => (pending ? badge('pending', '⏳ pending', testid)
      : rec ? (ok ? badge('ok', '✓ success', testid) : badge('fail', '✗ failed', testid))
        : badge('muted', st.status, testid));
    const statusEl = statusBadge('tx-status');

    // A pending transaction: look again when blocks commit (at most once a second).
    if (pending) {
      const check = v.throttle(async () => {
        const s = await rpc('tally_txStatus', [hash]);
        if (v.alive && s && s.status !== 'pending') route();
      }, REFRESH_GAP_MS);
      v.onHead(check);
    }

    const value = tx ? big(tx.value) : null;
    const input = tx ? tx.input || '0x' : '0x';
    const logs = rec && Array.isArray(rec.logs) ? rec.logs : [];
    const err = rec && rec.error;
    mount(
      pageHead(['Transaction ', statusEl], hash, { testid: 'tx-heading' }),
      pending && h('p', { class: 'notice', testid: 'tx-pending' },
        'This transaction is in the pool, waiting for a block. The page updates when it commits.'),
      !ok && err && h('div', { class: 'notice notice-fail', testid: 'tx-error' },
        h('strong', null, 'Failed: '), err),
      card('Overview', fields([
        ['Hash', h('span', { class: 'mono break' }, hash), 'tx-hash'],
        ['Status', statusBadge()],
        ['Block', tx && tx.blockNumber != null
          ? [blockLink(num(tx.blockNumber)), h('span', { class: 'muted' }, ` · index ${num(tx.transactionIndex)}`)]
          : h('span', { class: 'muted' }, 'not yet in a block'), 'tx-block'],
        ['From', tx ? addrLink(tx.from, true) : '—', 'tx-from'],
        ['To', tx && tx.to ? addrLink(tx.to, true)
          : [h('span', { class: 'muted' }, 'contract creation'),
            rec && rec.contractAddress ? [' → ', addrLink(rec.contractAddress, true)] : null], 'tx-to'],
        ['Amount', tx ? etherAmount(value) : '—', 'tx-amount'],
        ['Nonce', tx ? fmtInt(num(tx.nonce)) : '—'],
        ['Gas used', rec ? `${fmtInt(num(rec.gasUsed))} of ${fmtInt(num(tx && tx.gas))} limit` : '—', 'tx-gas-used'],
        ['Gas price', tx ? `${fmtInt(big(tx.gasPrice)?.toString())} wei` : '—'],
        ['Type', tx ? String(num(tx.type) ?? 0) : '—'],
        err && ['Error', h('span', { class: 'fail-text' }, err), 'tx-error-field'],
        ['Input data', input === '0x' ? h('span', { class: 'muted' }, 'none') : hexBox(input, 'tx-input')],
      ]), { testid: 'tx-overview' }),
      card(`Logs (${logs.length})`, logs.length ? h('ol', { class: 'logs', testid: 'tx-logs' }, logs.map(logItem))
        : h('p', { class: 'muted' }, pending ? 'Not executed yet.' : 'No logs.'), { testid: 'tx-logs-card' }));
  }

  function logItem(l) {
    return h('li', { class: 'log' }, fields([
      ['Index', String(num(l.logIndex))],
      ['Address', addrLink(l.address, true)],
      ['Topics', (l.topics || []).length ? h('ol', { class: 'topics mono', start: 0 },
        l.topics.map((t) => h('li', { class: 'break' }, t))) : h('span', { class: 'muted' }, 'none')],
      ['Data', !l.data || l.data === '0x' ? h('span', { class: 'muted' }, 'none') : hexBox(l.data)],
    ]));
  }

  // ---- account page ------------------------------------------------------------

  async function viewAddress(v, arg) {
    if (!RE_ADDR.test(arg)) return viewMalformed(v, arg, 'is not an address (0x + 40 hex digits).');
    const addr = arg.toLowerCase();
    loading('account');
    const [balance, nonce, code] = await rpcBatch([
      ['eth_getBalance', [addr, 'latest']],
      ['eth_getTransactionCount', [addr, 'latest']],
      ['eth_getCode', [addr, 'latest']],
    ]);
    await loadValidators();
    if (!v.alive) return;
    for (const x of [balance, nonce, code]) if (isErr(x)) throw x;
    const isContract = code && code !== '0x';
    const val = validatorByAddress(addr);
    document.title = `${isContract ? 'Contract' : 'Account'} ${short(addr)} · Tally explorer`;
    const wei = big(balance);
    const txsEl = h('div', { testid: 'account-txs' });
    mount(
      pageHead([isContract ? 'Contract' : 'Account',
        val && h('span', { class: 'badge badge-lead' }, `validator ${val.name}`)], addr, { testid: 'address-heading' }),
      card('Overview', fields([
        ['Address', h('span', { class: 'mono break' }, addr), 'address'],
        ['Balance', etherAmount(wei), 'balance'],
        ['Nonce', fmtInt(num(nonce)), 'nonce'],
        ['Kind', isContract ? `contract (${fmtInt(hexBytes(code))} bytes of code)` : 'externally owned account'],
      ]), { testid: 'account-overview' }),
      isContract && card(`Code (${fmtInt(hexBytes(code))} bytes)`, hexBox(code, 'code'), { testid: 'code-card' }),
      card('Recent transactions', txsEl, { testid: 'account-txs-card' }));
    await accountTxs(v, txsEl, addr);
  }

  /** tally_accountTxs scans recent blocks backwards; "look further back"
   * continues below the lowest block scanned. */
  async function accountTxs(v, el, addr) {
    const rows = [];
    let top = null; // the newest block scanned
    const tbody = h('tbody');
    const tableEl = h('div', { class: 'table-wrap' }, h('table', { testid: 'account-tx-table' },
      h('thead', null, h('tr', null, ['Hash', 'Block', '', 'Counterparty', 'Amount', 'Status']
        .map((c, i) => h('th', { class: i === 4 ? 'num' : null }, c)))), tbody));
    const foot = h('div', { class: 'more-row' });
    el.append(tableEl, foot);
    const load = async (before) => {
      clear(foot);
      foot.append(h('span', { class: 'muted' }, 'Scanning blocks…'));
      let r;
      try {
        const opts = { limit: ACCOUNT_TX_LIMIT };
        if (before != null) opts.before = before;
        r = await rpc('tally_accountTxs', [addr, opts]);
      } catch (e) {
        if (!v.alive) return;
        clear(foot);
        foot.append(h('span', { class: 'muted' }, `Transactions unavailable (${e.message}).`));
        return;
      }
      if (!v.alive) return;
      for (const t of r.transactions || []) {
        rows.push(t);
        const from = (t.from || '').toLowerCase();
        const to = (t.to || t.contractAddress || '').toLowerCase();
        const dir = from === addr && to === addr ? 'self' : from === addr ? 'out' : 'in';
        const other = dir === 'in' ? t.from : null;
        tbody.append(h('tr', { testid: 'account-tx-row' },
          h('td', null, txLink(t.hash)),
          h('td', null, blockLink(num(t.blockNumber))),
          h('td', null, badge(dir === 'in' ? 'ok' : dir === 'out' ? 'out' : 'muted', dir.toUpperCase())),
          h('td', null, other ? addrLink(other) : toCell(t)),
          h('td', { class: 'num' }, amountShort(big(t.value))),
          h('td', null, txStatusBadge(t.success))));
      }
      clear(foot);
      const from = num(r.scannedFrom);
      if (top == null) top = num(r.scannedTo);
      const count = rows.length ? `${fmtInt(rows.length)} transaction${rows.length === 1 ? '' : 's'}`
        : 'No transactions';
      const range = from == null || top == null ? ''
        : !r.more ? ` in blocks 0–${fmtInt(top)} (the whole chain).`
          : ` in blocks ${fmtInt(from)}–${fmtInt(top)}.`;
      foot.append(h('span', { class: 'muted', testid: 'account-scanned' }, count, range));
      if (r.more && from != null) {
        foot.append(h('button', { class: 'btn btn-small', testid: 'more-txs', onclick: () => load(from) },
          `Look further back (before block ${fmtInt(from)})`));
      }
    };
    await load(null);
  }

  // ---- start -----------------------------------------------------------------

  async function showFooter() {
    const st = store.status;
    if (!st) return;
    $('#footer-node').textContent = `node ${st.name} · chain ${st.chainId} · ${st.version || ''}`;
  }

  window.tallyExplorer = { store, tps: null, classify, formatEther };
  window.addEventListener('hashchange', route);
  connectLive();
  route();
  if (!store.status) {
    rpc('tally_status').then((st) => {
      store.status = store.status || st;
      showFooter();
    }).catch(() => {});
  }
})();
