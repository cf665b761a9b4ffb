// The miners' page: the pool page at /, one account's page at /?account=NAME.
// Every figure comes from the stats API (/api/v1/...). Every string that came from a
// miner (worker and account names, addresses) reaches the page as a text node:
// the DOM is built with createElement and textContent, never from HTML text.
import { el, svg } from './dom.js';  // builds the DOM with text nodes only

(function () {
  const API = '/api/v1';
  const REFRESH_MS = 15000;
  const PAGE = 100;
  const app = document.getElementById('app');
  const params = new URLSearchParams(window.location.search);
  const account = params.get('account');
  let range = '1h';
  let timer = null;

  // ---------------------------------------------------------------- formatting

  function hashrate(hs) {
    if (hs === null || hs === undefined) return '–';
    const units = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s', 'PH/s', 'EH/s', 'ZH/s'];
    let i = 0;
    let v = hs;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
    return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ' + units[i];
  }

  function compact(x) {
    if (x === null || x === undefined) return '–';
    if (x === 0) return '0';
    if (Math.abs(x) < 0.01) return x.toExponential(2);
    const units = ['', ' k', ' M', ' G', ' T', ' P', ' E'];
    let i = 0;
    let v = x;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
    const digits = v >= 100 || Number.isInteger(v) ? 0 : v >= 10 ? 1 : 2;
    return v.toFixed(digits) + units[i];
  }

  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return '–';
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    if (s < 3600) return (s / 60).toFixed(s < 600 ? 1 : 0) + ' min';
    if (s < 86400 * 2) return (s / 3600).toFixed(1) + ' h';
    if (s < 86400 * 730) return (s / 86400).toFixed(s < 86400 * 20 ? 1 : 0) + ' days';
    return compact(s / (86400 * 365.25)) + ' years';
  }

  function ago(t, now) {
    if (t === null || t === undefined) return 'never';
    const s = Math.max(0, now - t);
    return s < 5 ? 'just now' : duration(s) + ' ago';
  }

  function when(t) {
    if (t === null || t === undefined) return '–';
    return new Date(t * 1000).toLocaleString();
  }

  function btc(sat) {
    if (sat === null || sat === undefined) return '–';
    return (sat / 1e8).toFixed(8) + ' BTC';
  }

  function clock(t, span) {
    const d = new Date(t * 1000);
    if (span === '7d') return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
    return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  }

  // ---------------------------------------------------------------- talking to the API

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function get(path, query) {
    const url = new URL(API + path, window.location.origin);
    for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, v);
    const response = await fetch(url, { headers: { Accept: 'application/json' } });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      const message = body && typeof body.error === 'string' ? body.error
        : 'the stats API answered ' + response.status;
      throw new ApiError(response.status, message);
    }
    return body;
  }

  // ---------------------------------------------------------------- pieces

  function card(label, value, field, raw, note, cls) {
    return el('div', { class: cls ? 'card ' + cls : 'card' },
      el('div', { class: 'label' }, label),
      el('div', { class: 'value', 'data-field': field, 'data-value': raw }, value),
      note ? el('div', { class: 'note' }, note) : null);
  }

  function badge(status) {
    return el('span', { class: 'badge ' + status, 'data-status': status }, status);
  }

  function table(columns, rows, field) {
    const head = el('tr', {}, ...columns.map((c) => el('th', { class: c.cls || null }, c.title)));
    const body = el('tbody', {});
    for (const row of rows) {
      const tr = el('tr', { class: row._class || null });
      for (const c of columns) {
        const cell = c.render(row);
        tr.append(el('td', { class: c.cls || null }, cell));
      }
      body.append(tr);
    }
    return el('div', { class: 'table-wrap' },
      el('table', { 'data-table': field }, el('thead', {}, head), body));
  }

  function chart(points, span) {
    const W = Math.round(Math.min(720, Math.max(300, window.innerWidth - 64)));
    const H = Math.round(W < 500 ? 200 : 220);
    const left = 64;
    const bottom = 24;
    const top = 10;
    const values = points.map((p) => p.hashrate_hs).filter((v) => v !== null);
    const wrap = el('div', { class: 'chart-body', 'data-points': values.length });
    if (!values.length) {
      wrap.append(el('p', { class: 'empty' }, 'No hashrate measured in this range yet.'));
      return wrap;
    }
    const max = Math.max(...values) * 1.1 || 1;
    const t0 = points[0].time;
    const t1 = points[points.length - 1].time;
    const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (W - left - 8);
    const y = (v) => top + (1 - v / max) * (H - top - bottom);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img' });
    const title = svg('title', {});
    title.textContent = 'Hashrate over ' + span;
    root.append(title);
    for (const f of [0, 0.5, 1]) {
      root.append(svg('line', { class: 'grid', x1: left, x2: W - 8, y1: y(max * f), y2: y(max * f) }));
      const label = svg('text', { class: 'axis', x: left - 6, y: y(max * f) + 4, 'text-anchor': 'end' });
      label.textContent = hashrate(max * f);
      root.append(label);
    }
    for (const [t, anchor] of [[t0, 'start'], [t1, 'end']]) {
      const label = svg('text', { class: 'axis', x: x(t), y: H - 6, 'text-anchor': anchor });
      label.textContent = clock(t, span);
      root.append(label);
    }
    // one path per run of measured buckets; unmeasured ones leave a gap
    let run = [];
    const runs = [];
    for (const p of points) {
      if (p.hashrate_hs === null) { if (run.length) runs.push(run); run = []; } else run.push(p);
    }
    if (run.length) runs.push(run);
    for (const r of runs) {
      const line = r.map((p, i) => (i ? 'L' : 'M') + x(p.time).toFixed(1) + ' ' + y(p.hashrate_hs).toFixed(1)).join(' ');
      const base = y(0).toFixed(1);
      root.append(svg('path', { class: 'area', d: `${line} L${x(r[r.length - 1].time).toFixed(1)} ${base} L${x(r[0].time).toFixed(1)} ${base} Z` }));
      root.append(svg('path', { class: 'line', d: line }));
      for (const p of r) {
        const dot = svg('circle', { class: 'dot', cx: x(p.time).toFixed(1), cy: y(p.hashrate_hs).toFixed(1), r: r.length > 40 ? 1.5 : 2.5 });
        const tip = svg('title', {});
        tip.textContent = clock(p.time, '1h') + ': ' + hashrate(p.hashrate_hs);
        dot.append(tip);
        root.append(dot);
      }
    }
    wrap.append(root);
    return wrap;
  }

  function chartSection(path, query) {
    const section = el('section', { 'data-section': 'chart' });
    const tabs = el('div', { class: 'tabs', role: 'group', 'aria-label': 'range' });
    const body = el('div', {}, el('p', { class: 'loading' }, 'Loading…'));
    async function load() {
      for (const b of tabs.children) b.setAttribute('aria-pressed', String(b.dataset.range === range));
      try {
        const data = await get(path, { ...query, range });
        body.replaceChildren(chart(data.points, data.range));
      } catch (e) {
        body.replaceChildren(el('p', { class: 'problem' }, e.message));
      }
    }
    for (const span of ['1h', '24h', '7d']) {
      const b = el('button', { type: 'button', 'data-range': span, 'aria-pressed': String(span === range) }, span);
      b.addEventListener('click', () => { range = span; load(); });
      tabs.append(b);
    }
    section.append(el('div', { class: 'chart-head' }, el('h2', {}, 'Hashrate'), tabs), body);
    load();
    return section;
  }

  // A table that grows a page at a time ("More").
  function pagedSection(title, field, path, query, key, columns, emptyText, pageSize) {
    const section = el('section', { 'data-section': field }, el('h2', {}, title));
    const holder = el('div', {}, el('p', { class: 'loading' }, 'Loading…'));
    section.append(holder);
    let rows = [];
    async function load(offset) {
      try {
        const data = await get(path, { ...query, limit: pageSize || PAGE, offset });
        rows = offset ? rows.concat(data[key]) : data[key];
        const parts = [];
        if (!rows.length) parts.push(el('p', { class: 'empty' }, emptyText));
        else parts.push(table(columns, rows, field));
        if (data.next_offset !== null) {
          const more = el('button', { type: 'button', class: 'more' }, 'More');
          more.addEventListener('click', () => load(data.next_offset));
          parts.push(more);
        }
        holder.replaceChildren(...parts);
      } catch (e) {
        holder.replaceChildren(el('p', { class: 'problem' }, e.message));
      }
    }
    load(0);
    return section;
  }

  function blockColumns(now) {
    return [
      { title: 'Height', cls: 'num', render: (b) => String(b.height) },
      { title: 'Found', render: (b) => el('span', { title: when(b.time) }, ago(b.time, now)) },
      { title: 'Finder', cls: 'name', render: (b) => el('span', { class: 'mono' }, b.worker) },
      { title: 'Status', render: (b) => badge(b.status) },
      { title: 'Reward', cls: 'num', render: (b) => btc(b.reward_sat) },
      { title: 'Hash', cls: 'wide name', render: (b) => el('span', { class: 'mono' }, b.hash.slice(0, 16) + '…') },
    ];
  }

  // ---------------------------------------------------------------- the pool page

  function connectSection(c) {
    const host = window.location.hostname || '127.0.0.1';
    const stratum = c.stratum_url || `stratum+tcp://${host}:${c.stratum_port}`;
    const tls = c.tls_url || (c.tls_port ? `stratum+ssl://${host}:${c.tls_port}` : null);
    const dl = el('dl', { class: 'connect' },
      el('dt', {}, 'Stratum'), el('dd', { class: 'mono', 'data-field': 'stratum_url' }, stratum),
      el('dt', {}, 'Stratum over TLS'),
      el('dd', { class: tls ? 'mono' : 'empty', 'data-field': 'tls_url' }, tls || 'not offered by this pool'),
      el('dt', {}, 'Username'), el('dd', { class: 'mono', 'data-field': 'username' }, c.username),
      el('dt', {}, 'Password'), el('dd', { class: 'mono', 'data-field': 'password' }, c.password));
    return el('section', { 'data-section': 'connect' }, el('h2', {}, 'How to connect'), dl,
      el('p', { class: 'hint' },
        `The password ${c.password} starts your connection at difficulty ${compact(c.suggested_difficulty)}; ` +
        `the pool then adjusts it to about one share every ${duration(c.target_share_interval_s)}. ` +
        'Any password works; d=N picks another starting difficulty.'));
  }

  async function poolPage() {
    const o = await get('/pool/overview');
    const now = o.time;
    const fee = o.fee_percent === null ? (o.mode === 'solo' ? 'solo: the finder is paid' : '–')
      : o.fee_percent + ' % fee';
    const scheme = (o.scheme || o.mode).toUpperCase();
    const blocks = o.blocks;
    const cards = el('div', { class: 'cards', 'data-section': 'figures' },
      card('Pool hashrate', hashrate(o.hashrate_hs), 'hashrate', o.hashrate_hs, 'over ' + duration(o.hashrate_window_s)),
      card('Miners online', String(o.miners_online), 'miners_online', o.miners_online),
      card('Workers online', String(o.workers_online), 'workers_online', o.workers_online),
      card('Network difficulty', compact(o.network_difficulty), 'network_difficulty', o.network_difficulty),
      card('Expected time to a block', duration(o.expected_block_s), 'expected_block_s', o.expected_block_s, 'at the pool hashrate'),
      card('Height', o.height === null ? '–' : String(o.height), 'height', o.height),
      card('Blocks found', String(blocks.found), 'blocks_found', blocks.found,
        `${blocks.confirmed} confirmed, ${blocks.pending} pending, ${blocks.orphaned} orphaned`),
      card('Scheme', scheme, 'scheme', o.scheme || o.mode, fee));
    const parts = [
      el('h1', {}, 'Pool'),
      cards,
      chartSection('/pool/hashrate', {}),
      connectSection(o.connect),
      pagedSection('Blocks found', 'blocks', '/pool/blocks', {}, 'blocks', blockColumns(now), 'No block found yet.', 20),
    ];
    app.replaceChildren(...parts);
    document.title = 'Surplus pool';
  }

  // ---------------------------------------------------------------- one account's page

  function rejectText(rejected) {
    const parts = Object.entries(rejected).filter(([, n]) => n > 0).map(([why, n]) => `${why.replace('_', ' ')} ${n}`);
    return parts.length ? parts.join(', ') : 'none';
  }

  async function minerPage(name) {
    let m;
    try {
      m = await get('/miner', { account: name });
    } catch (e) {
      const parts = [el('a', { class: 'back', href: '/' }, '← Pool'), el('h1', {}, name)];
      parts.push(el('p', { class: 'problem', 'data-field': 'problem' }, e.message));
      app.replaceChildren(...parts);
      return;
    }
    const now = m.time;
    const cards = el('div', { class: 'cards', 'data-section': 'figures' },
      card('Hashrate', hashrate(m.hashrate_hs), 'hashrate', m.hashrate_hs),
      card('Workers online', String(m.workers_online), 'workers_online', m.workers_online,
        `${m.workers_offline} offline`),
      card('Last share', ago(m.last_share_time, now), 'last_share_time', m.last_share_time));
    if (m.pplns_window) {
      const w = m.pplns_window;
      cards.append(card('Shares in the PPLNS window', String(w.shares), 'window_shares', w.shares,
        (w.fraction * 100).toFixed(2) + ' % of the window' + (w.complete ? '' : ' (still reading)')));
    }
    cards.append(card('Expected time to a block', duration(m.expected_block_s), 'expected_block_s', m.expected_block_s,
      'for this account alone'));
    const parts = [el('a', { class: 'back', href: '/' }, '← Pool'),
      el('h1', { class: 'account', 'data-field': 'account' }, m.account), cards];
    if (m.balance) {
      const b = m.balance;
      parts.push(el('section', { 'data-section': 'balance' }, el('h2', {}, 'Balance'),
        el('div', { class: 'cards' },
          card('Immature', btc(b.immature_sat), 'immature', b.immature_sat, 'blocks not yet mature', 'money'),
          card('Payable', btc(b.payable_sat), 'payable', b.payable_sat, 'paid at the minimum payout', 'money'),
          card('Being sent', btc(b.pending_sat), 'pending', b.pending_sat, null, 'money'),
          card('Paid', btc(b.paid_sat), 'paid', b.paid_sat, null, 'money'))));
    } else if (m.mode === 'solo') {
      parts.push(el('p', { class: 'hint' }, 'Solo mining: a block you find pays your address in its coinbase.'));
    }
    parts.push(chartSection('/miner/hashrate', { account: name }));
    parts.push(pagedSection('Workers', 'workers', '/miner/workers', { account: name }, 'workers', [
      { title: 'Worker', cls: 'name', render: (w) => el('span', { class: 'mono', 'data-worker': w.worker }, w.rig || w.worker) },
      { title: 'Status', render: (w) => badge(w.status) },
      { title: 'Hashrate', cls: 'num', render: (w) => el('span', { 'data-value': w.hashrate_hs }, hashrate(w.hashrate_hs)) },
      { title: 'Last share', render: (w) => ago(w.last_share_time, now) },
      { title: 'Difficulty', cls: 'num', render: (w) => compact(w.difficulty) },
      { title: 'Shares', cls: 'num wide', render: (w) => el('span', { 'data-value': w.accepted_shares }, String(w.accepted_shares)) },
      { title: 'Best share', cls: 'num wide', render: (w) => compact(w.best_share_difficulty) },
      { title: 'Rejected', cls: 'rejects', render: (w) => rejectText(w.rejected) },
    ], 'No worker seen recently.'));
    if (m.balance) {
      parts.push(pagedSection('Payouts', 'payouts', '/miner/payouts', { account: name }, 'payouts', [
        { title: 'Time', render: (p) => when(p.time) },
        { title: 'Amount', cls: 'num', render: (p) => btc(p.amount_sat) },
        { title: 'Status', render: (p) => badge(p.status) },
        { title: 'Transaction', cls: 'name', render: (p) => el('span', { class: 'mono' }, p.txid || '–') },
        { title: 'Address', cls: 'wide name', render: (p) => el('span', { class: 'mono' }, p.address) },
      ], 'No payout yet.', 20));
    }
    parts.push(pagedSection(m.mode === 'solo' ? 'Blocks you found' : 'Blocks your workers found', 'miner_blocks',
      '/miner/blocks', { account: name }, 'blocks', blockColumns(now), 'None yet.', 20));
    app.replaceChildren(...parts);
    document.title = 'Surplus pool: ' + name;
  }

  // ---------------------------------------------------------------- the loop

  async function render() {
    try {
      if (account !== null && account !== '') await minerPage(account);
      else await poolPage();
      app.dataset.loaded = String(Date.now());
    } catch (e) {
      app.replaceChildren(el('p', { class: 'problem', 'data-field': 'problem' },
        'The pool did not answer: ' + e.message));
    } finally {
      clearTimeout(timer);
      timer = setTimeout(render, REFRESH_MS);
    }
  }

  const input = document.getElementById('account');
  if (account) input.value = account;
  render();
}());
