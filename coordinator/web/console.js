// The operator's console of `surplus control`. Every figure comes from the coordinator's
// open endpoints (/status, /history, /commands). Every string that came from a site, a
// rig, a fleetd or an operator (names, families, states, reasons, signals) reaches the
// page as a text node: the DOM is built with createElement and textContent, never from
// HTML text. The operator's token is read from its input at each action and sent as a
// bearer token; it is never written anywhere else (no cookie, no storage).
import { el, svg } from './dom.js';  // builds the DOM with text nodes only

(function () {
  const REFRESH_MS = 5000;
  const $ = (id) => document.getElementById(id);
  let timer = null;
  let siteNames = [];

  // ---------------------------------------------------------------- building the DOM


  function mw(x) {
    if (x === null || x === undefined || !isFinite(x)) return '–';
    const a = Math.abs(x);
    if (a >= 1) return x.toFixed(a >= 100 ? 0 : 2) + ' MW';
    if (a >= 0.001) return (x * 1000).toFixed(a >= 0.1 ? 0 : 1) + ' kW';
    return (x * 1e6).toFixed(0) + ' W';
  }

  function num(x, digits) {
    return x === null || x === undefined || !isFinite(x) ? '–' : Number(x).toFixed(digits);
  }

  function clock(t) {
    if (t === null || t === undefined || !isFinite(t)) return '–';
    return new Date(t * 1000).toLocaleTimeString([], { hour12: false });
  }

  function valued(tag, field, value, text) {
    return el(tag, { 'data-field': field, 'data-value': value === null || value === undefined ? '' : value }, text);
  }

  function say(text, bad) {
    const m = $('message');
    m.textContent = text;
    m.className = 'message' + (bad ? ' bad' : ' good');
  }

  // ---------------------------------------------------------------- reading

  async function getJson(path) {
    const r = await fetch(path, { cache: 'no-store', credentials: 'omit' });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }

  function renderStatus(st) {
    const stop = st.emergency;
    const banner = $('emergency');
    banner.hidden = !stop;
    banner.textContent = stop ? 'EMERGENCY STOP by ' + stop.by + ' at ' + clock(stop.at) +
      (stop.reason ? ': ' + stop.reason : '') : '';
    $('emergency').dataset.value = stop ? 'true' : 'false';
    const summary = document.querySelector('[data-field=summary]');
    summary.textContent = 'portfolio ' + mw(st.portfolio_now_mw) + ' (set ' + mw(st.portfolio_mw) +
      ' by ' + (st.portfolio_by || '–') + ') · policy ' + st.policy +
      (st.shortfall_mw > 0 ? ' · short ' + mw(st.shortfall_mw) : '');
    summary.dataset.value = st.portfolio_now_mw;

    const body = document.querySelector('[data-table=sites] tbody');
    const rows = st.sites.map((s) => el('tr', { 'data-site': s.name },
      el('td', { class: 'name', 'data-field': 'name' }, s.name),
      valued('td', 'allotment_mw', s.allotment_mw, mw(s.allotment_mw)),
      valued('td', 'draw_mw', s.draw_mw, mw(s.draw_mw)),
      valued('td', 'licence_mw', s.licence_mw, mw(s.licence_mw)),
      valued('td', 'jth', s.jth, num(s.jth, 1) + (s.jth_source ? ' (' + s.jth_source + ')' : '')),
      valued('td', 'pool_ths', s.pool_ths, num(s.pool_ths, 2)),
      valued('td', 'override', s.override ? s.override.mw : null,
        s.override ? mw(s.override.mw) + ' by ' + s.override.by + ' until ' + clock(s.override.expires_at) : '–'),
      el('td', { 'data-field': 'bound' }, s.bound || '–'),
      el('td', { 'data-field': 'report', class: s.report_error ? 'bad' : '' },
        s.report_error ? s.report_error : s.report_age_s === null ? 'never' : num(s.report_age_s, 1) + ' s ago')));
    body.replaceChildren(...rows);

    const names = st.sites.map((s) => s.name);
    if (names.join('\u0000') !== siteNames.join('\u0000')) {
      siteNames = names;
      $('override-site').replaceChildren(...names.map((n) => el('option', { value: n }, n)));
    }
    renderRigs(st.sites);
    renderVerified(st.sites);
    renderFlagged(st);
  }

  function renderRigs(sites) {
    const blocks = sites.map((s) => {
      const block = el('div', { class: 'rigs', 'data-site': s.name }, el('h3', {}, s.name));
      const r = s.rigs;
      if (!r) {
        block.append(el('p', { class: 'empty' }, 'Not read from its fleetd yet.'));
        return block;
      }
      const states = [];
      for (const byState of Object.values(r.by_family)) {
        for (const state of Object.keys(byState)) if (!states.includes(state)) states.push(state);
      }
      states.sort();
      const head = el('tr', {}, el('th', {}, 'Family'), ...states.map((x) => el('th', {}, x)), el('th', {}, 'All'));
      const rows = Object.entries(r.by_family).sort().map(([family, byState]) => el('tr', { 'data-family': family },
        el('td', { class: 'name' }, family),
        ...states.map((x) => el('td', { 'data-state': x, 'data-value': byState[x] || 0 }, String(byState[x] || 0))),
        el('td', { 'data-value': Object.values(byState).reduce((a, b) => a + b, 0) },
          String(Object.values(byState).reduce((a, b) => a + b, 0)))));
      block.append(el('table', { 'data-table': 'rigs' }, el('thead', {}, head), el('tbody', {}, ...rows)));
      const models = Object.entries(r.by_model).sort().map(([m, n]) => m + ': ' + n).join(' · ');
      block.append(el('p', { class: 'muted', 'data-field': 'models' }, 'Models: ' + (models || '–')));
      return block;
    });
    $('rigs').replaceChildren(...blocks);
  }

  function renderFlagged(st) {
    const box = $('flagged');
    if (!Array.isArray(st.flagged)) {
      box.replaceChildren(el('p', { class: 'empty', 'data-field': 'flagged-none' },
        'None tracked: no site is checked against the licensed pool ([pool] and a site\'s pool_account).'));
      return;
    }
    if (!st.flagged.length) {
      box.replaceChildren(el('p', { class: 'empty', 'data-field': 'flagged-none' }, 'No rig flagged.'));
      return;
    }
    const rows = st.flagged.map((f) => el('tr', { 'data-rig': f.rig },
      el('td', {}, f.site), el('td', { class: 'name' }, f.rig), el('td', {}, f.model || '–'),
      el('td', {}, num(f.claimed_ths, 2)), el('td', {}, num(f.credited_ths, 3)),
      el('td', {}, String(f.shares)), el('td', {}, num(f.expected_shares, 1))));
    box.replaceChildren(el('table', { 'data-table': 'flagged' },
      el('thead', {}, el('tr', {}, ...['Site', 'Rig', 'Model', 'Claimed TH/s', 'Credited TH/s', 'Shares', 'Expected']
        .map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)));
  }

  function renderVerified(sites) {
    const rows = [];
    for (const s of sites) {
      const pv = s.pool_verified;
      if (!pv) continue;
      rows.push(el('tr', { 'data-site': s.name, 'data-model': '' },
        el('td', { class: 'name' }, s.name), el('td', {}, 'site (meter)'),
        valued('td', 'credited_ths', pv.credited_ths, num(pv.credited_ths, 2)),
        valued('td', 'claimed_ths', pv.claimed_ths, num(pv.claimed_ths, 2)),
        valued('td', 'jth_pool', pv.jth_pool, num(pv.jth_pool, 1)),
        valued('td', 'jth_claimed', pv.jth_claimed, num(pv.jth_claimed, 1))));
      for (const [model, m] of Object.entries(pv.by_model).sort()) {
        rows.push(el('tr', { 'data-site': s.name, 'data-model': model },
          el('td', {}, ''), el('td', { class: 'name' }, model),
          valued('td', 'credited_ths', m.credited_ths, num(m.credited_ths, 2)),
          valued('td', 'claimed_ths', m.claimed_ths, num(m.claimed_ths, 2)),
          valued('td', 'jth_pool', m.jth_pool, num(m.jth_pool, 1)),
          valued('td', 'jth_claimed', m.jth_claimed, num(m.jth_claimed, 1))));
      }
    }
    const box = $('verified');
    if (!rows.length) {
      box.replaceChildren(el('p', { class: 'empty' }, 'No site is checked against the licensed pool.'));
      return;
    }
    box.replaceChildren(el('table', { 'data-table': 'verified' },
      el('thead', {}, el('tr', {}, ...['Site', 'Model', 'Credited TH/s', 'Claimed TH/s', 'J/TH (pool)', 'J/TH (claimed)']
        .map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)));
  }

  function chart(name, points, at, span) {
    const W = Math.round(Math.min(560, Math.max(280, (window.innerWidth - 80) / 2)));
    const H = 180;
    const left = 62;
    const bottom = 22;
    const top = 10;
    const wrap = el('figure', { class: 'chart-box', 'data-site': name, 'data-points': points.length },
      el('figcaption', {}, name));
    const values = [];
    for (const p of points) for (const v of [p[1], p[2]]) if (v !== null) values.push(v);
    if (!values.length) {
      wrap.append(el('p', { class: 'empty' }, 'No figures yet.'));
      return wrap;
    }
    const max = Math.max(...values) * 1.1 || 1;
    // the last hour, or since the first sample when the coordinator is younger than that
    const t0 = Math.max(at - span, points.length ? points[0][0] : at - span);
    const x = (t) => left + ((t - t0) / Math.max(1, at - t0)) * (W - left - 8);
    const y = (v) => top + (1 - v / max) * (H - top - bottom);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img' });
    root.append(svg('title', {}, name + ': allotment and metered power over the last hour'));
    for (const f of [0, 0.5, 1]) {
      root.append(svg('line', { class: 'grid', x1: left, x2: W - 8, y1: y(max * f), y2: y(max * f) }));
      root.append(svg('text', { class: 'axis', x: left - 6, y: y(max * f) + 4, 'text-anchor': 'end' }, mw(max * f)));
    }
    root.append(svg('text', { class: 'axis', x: left, y: H - 5, 'text-anchor': 'start' }, clock(t0)));
    root.append(svg('text', { class: 'axis', x: W - 8, y: H - 5, 'text-anchor': 'end' }, clock(at)));
    for (const [k, cls, step] of [[1, 'allotment', true], [2, 'draw', false]]) {
      let d = '';
      let last = null;
      for (const p of points) {
        if (p[k] === null) { last = null; continue; }
        const px = x(p[0]).toFixed(1);
        const py = y(p[k]).toFixed(1);
        if (last === null) d += `M${px} ${py}`;
        else d += step ? ` H${px} V${py}` : ` L${px} ${py}`;
        last = p;
      }
      if (d) root.append(svg('path', { class: 'line ' + cls, d: d, 'data-series': cls }));
    }
    wrap.append(root);
    wrap.append(el('p', { class: 'legend' }, el('span', { class: 'key allotment' }, 'allotment'),
      ' ', el('span', { class: 'key draw' }, 'metered')));
    return wrap;
  }

  function renderHistory(h) {
    const names = siteNames.length ? siteNames : Object.keys(h.sites);
    $('charts').replaceChildren(...names.map((n) => chart(n, h.sites[n] || [], h.at, h.span_s)));
  }

  function renderCommands(c) {
    const rows = c.records.slice(0, 50).map((r) => {
      let what = r.action;
      if (r.kind === 'command') what = r.signal;
      else if (r.kind === 'openadr') what = 'OpenADR ' + (r.opt || '') + ' ' + (r.event_id || '');
      else if (r.kind === 'shed-first') {
        what = 'shed first: ' + (Array.isArray(r.rigs) && r.rigs.length ? r.rigs.join(', ') : 'none');
      }
      const value = r.mw;
      return el('tr', { 'data-kind': r.kind },
        el('td', {}, clock(r.ts)), el('td', {}, r.kind), el('td', { class: 'name' }, r.site || ''),
        valued('td', 'mw', value, value === undefined ? '' : mw(value)),
        el('td', { 'data-field': 'signal' }, what || ''), el('td', { 'data-field': 'by' }, r.by || ''),
        el('td', {}, r.reason || r.detail || ''));
    });
    document.querySelector('[data-table=commands] tbody').replaceChildren(...rows);
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [st, h, c] = await Promise.all([getJson('/status'), getJson('/history'), getJson('/commands?limit=50')]);
      renderStatus(st);
      renderHistory(h);
      renderCommands(c);
      document.body.dataset.loaded = String(st.revision) + '@' + String(st.at);
    } catch (e) {
      say('Cannot read the coordinator: ' + e.message, true);
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  // ---------------------------------------------------------------- acting

  function token() {
    const t = $('token').value.trim();
    if (!t) throw new Error('type the operator token first');
    return t;
  }

  async function act(method, path, body) {
    let r;
    try {
      r = await fetch(path, {
        method: method, credentials: 'omit', cache: 'no-store',
        headers: { 'Authorization': 'Bearer ' + token(), 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      say(e.message, true);
      return null;
    }
    let answer = null;
    try { answer = await r.json(); } catch (e) { answer = null; }
    if (!r.ok) {
      say(method + ' ' + path + ': ' + (answer && answer.error ? answer.error : 'HTTP ' + r.status), true);
      return null;
    }
    return answer;
  }

  function sitesResult(answer) {
    return Object.entries(answer.sites || {}).map(([n, v]) => n + ' ' + v).join(', ');
  }

  $('override-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const site = $('override-site').value;
    const a = await act('POST', '/sites/' + encodeURIComponent(site) + '/override', {
      mw: Number($('override-mw').value), ttl_s: Number($('override-minutes').value) * 60,
      reason: $('override-reason').value,
    });
    if (a) say('Override on ' + a.site + ': ' + mw(a.override.mw) + ' by ' + a.override.by + '.');
    refresh();
  });

  $('override-lift').addEventListener('click', async () => {
    const site = $('override-site').value;
    const a = await act('DELETE', '/sites/' + encodeURIComponent(site) + '/override');
    if (a) say(a.cleared ? 'Override on ' + a.site + ' lifted.' : 'No override on ' + a.site + '.');
    refresh();
  });

  $('stop-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const a = await act('POST', '/emergency-stop', { reason: $('stop-reason').value });
    if (a) say('Emergency stop sent: ' + sitesResult(a) + '.');
    refresh();
  });

  $('resume').addEventListener('click', async () => {
    const a = await act('POST', '/resume', { reason: $('stop-reason').value });
    if (a) say('Resumed: ' + sitesResult(a) + '.');
    refresh();
  });

  $('token-form').addEventListener('submit', (ev) => ev.preventDefault());

  function localValue(d) {
    const pad = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  const now = new Date();
  $('report-to').value = localValue(new Date(now.getTime() + 3600 * 1000));
  $('report-from').value = localValue(new Date(now.getTime() - 24 * 3600 * 1000));

  $('report-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const format = ev.submitter && ev.submitter.value === 'json' ? 'json' : 'csv';
    const from = new Date($('report-from').value).getTime() / 1000;
    const to = new Date($('report-to').value).getTime() / 1000;
    if (!isFinite(from) || !isFinite(to)) { say('Give the report a start and an end.', true); return; }
    let r;
    try {
      r = await fetch(`/report?from=${from}&to=${to}&format=${format}`, {
        credentials: 'omit', cache: 'no-store', headers: { 'Authorization': 'Bearer ' + token() },
      });
    } catch (e) { say(e.message, true); return; }
    if (!r.ok) {
      let why = 'HTTP ' + r.status;
      try { why = (await r.json()).error || why; } catch (e) { /* not JSON */ }
      say('The report: ' + why, true);
      return;
    }
    const blob = await r.blob();
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: `control-report-${Math.floor(from)}-${Math.floor(to)}.${format}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    say('Report downloaded (' + format.toUpperCase() + ').');
  });

  refresh();
})();
