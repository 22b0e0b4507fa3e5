/*
 * Assay's trace viewer for the local stack, served by Jaeger's query extension (`ui.assets_path`) and reading only
 * the same-origin query API. Pages: `trace/<id>` (the trace's spans as a waterfall) and `/` or `search` (services,
 * and the recent traces of `?service=`). Plain DOM, no framework, no build step; text is inserted as text only.
 */
/* global document, location */
'use strict';

const app = document.getElementById('app');
const palette = ['#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#ff7f0e'];
const errorColour = '#d73a49';

/** An element with attributes (`on…` ones are listeners; null/undefined ones are left out) and children. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) if (child !== undefined && child !== null) node.append(child);
  return node;
}

/** Replaces the page's content; `data-state` (loaded, not-found, error) tells tests the page is done. */
function show(state, ...children) {
  app.replaceChildren(...children);
  app.dataset.state = state;
}

/** The answer's JSON, or `null` on a 404. */
async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return res.json();
}

function duration(us) {
  if (us < 1000) return `${Math.round(us)}µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)}ms`;
  return `${(us / 1_000_000).toFixed(2)}s`;
}

const count = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`;
const text = (value) => (typeof value === 'string' ? value : JSON.stringify(value));
const time = (us) => new Date(us / 1000).toISOString().replace('T', ' ').replace('Z', ' UTC');
const tag = (span, key) => (span.tags || []).find((t) => t.key === key)?.value;
const isError = (span) =>
  [true, 'true'].includes(tag(span, 'error')) || tag(span, 'otel.status_code') === 'ERROR';

/**
 * The spans in tree order (a parent is its CHILD_OF reference, else its FOLLOWS_FROM one; children by start time),
 * each with its depth and, for a root whose parent is not in the trace, that parent's id. Also the trace's bounds.
 */
function layout(trace) {
  const byId = new Map(trace.spans.map((s) => [s.spanID, s]));
  const children = new Map();
  const roots = [];
  for (const span of trace.spans) {
    const refs = span.references || [];
    const ref = refs.find((r) => r.refType === 'CHILD_OF') || refs.find((r) => r.refType === 'FOLLOWS_FROM');
    if (ref && byId.has(ref.spanID) && ref.spanID !== span.spanID) {
      children.set(ref.spanID, [...(children.get(ref.spanID) || []), span]);
    } else roots.push({ span, missingParent: ref?.spanID });
  }
  const rows = [];
  const seen = new Set();
  const visit = (span, depth, missingParent) => {
    if (seen.has(span.spanID)) return;
    seen.add(span.spanID);
    rows.push({ span, depth, missingParent });
    const kids = (children.get(span.spanID) || []).sort((a, b) => a.startTime - b.startTime);
    for (const child of kids) visit(child, depth + 1);
  };
  roots.sort((a, b) => a.span.startTime - b.span.startTime);
  for (const root of roots) visit(root.span, 0, root.missingParent);
  // Spans in a reference cycle hang from no root: show them as roots rather than drop them.
  for (const span of trace.spans) visit(span, 0, '(cycle)');
  const start = Math.min(...trace.spans.map((s) => s.startTime));
  const end = Math.max(...trace.spans.map((s) => s.startTime + s.duration));
  return { rows, start, total: Math.max(end - start, 1), rootName: rows[0].span.operationName };
}

const keyValues = (entries) =>
  el(
    'dl',
    { class: 'kv' },
    (entries || []).map((t) => [el('dt', {}, t.key), el('dd', {}, '= ', text(t.value))]),
  );

/** The expanded part of a row: tags, logs, warnings and the process's tags. */
function details(span, process, start) {
  const at = (us) => `+${duration(us - start)}`;
  return el(
    'div',
    { class: 'details', 'data-details-for': span.spanID },
    el('p', {}, `span ${span.spanID} at ${at(span.startTime)}, lasting ${duration(span.duration)}`),
    el('h4', {}, 'tags'),
    keyValues(span.tags),
    (span.logs || []).map((log) => [el('h4', {}, `log at ${at(log.timestamp)}`), keyValues(log.fields)]),
    (span.warnings || []).map((w) => el('p', { class: 'warning' }, `warning: ${w}`)),
    el('h4', {}, `process ${process.serviceName}`),
    keyValues(process.tags),
  );
}

function spanRow({ span, depth, missingParent }, process, colour, start, total) {
  const error = isError(span);
  const left = ((span.startTime - start) / total) * 100;
  const width = Math.max((span.duration / total) * 100, 0.2);
  const label = el(
    'div',
    { class: 'label', style: `padding-left:${depth * 18 + 6}px` },
    el('span', { class: 'service', style: `border-color:${colour}` }, process.serviceName),
    el('span', { class: 'operation' }, span.operationName),
    error ? el('span', { class: 'badge' }, 'error') : null,
    missingParent ? el('span', { class: 'badge orphan' }, `parent ${missingParent} missing`) : null,
  );
  const timeline = el(
    'div',
    { class: 'timeline' },
    el('div', {
      class: 'bar',
      style: `left:${left}%;width:${width}%;background:${error ? errorColour : colour}`,
    }),
    // The duration goes after the bar, or inside its end when the bar is long enough to hold it.
    el(
      'span',
      {
        class: width > 20 ? 'duration inside' : 'duration',
        style: width > 20 ? `right:${100 - left - width}%` : `left:${left + width}%`,
      },
      duration(span.duration),
    ),
  );
  let open = null;
  const toggle = () => {
    open = open ? (open.remove(), null) : details(span, process, start);
    if (open) row.after(open);
    row.setAttribute('aria-expanded', String(open !== null));
  };
  const row = el(
    'div',
    {
      class: error ? 'row span error' : 'row span',
      tabindex: 0,
      'aria-expanded': 'false',
      'data-span-id': span.spanID,
      'data-operation': span.operationName,
      'data-service': process.serviceName,
      'data-depth': depth,
      'data-error': String(error),
      'data-missing-parent': missingParent,
      onclick: toggle,
      onkeydown: (e) => e.key === 'Enter' && toggle(),
    },
    label,
    timeline,
  );
  return row;
}

async function tracePage(traceId) {
  const trace = (await getJson(`api/traces/${encodeURIComponent(traceId)}`))?.data?.[0];
  if (!trace?.spans?.length) {
    document.title = `trace ${traceId} not found`;
    return show('not-found', el('p', { class: 'message not-found' }, `trace ${traceId} not found`));
  }
  const processOf = (span) => trace.processes[span.processID] || { serviceName: '?', tags: [] };
  const services = [...new Set(trace.spans.map((s) => processOf(s).serviceName))];
  const colour = (service) => palette[services.indexOf(service) % palette.length];
  const { rows, start, total, rootName } = layout(trace);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    el('span', { style: `left:${f * 100}%` }, duration(f * total)),
  );
  document.title = `${rootName} · trace ${traceId}`;
  show(
    'loaded',
    el('h1', {}, rootName, ' ', el('code', { 'data-trace-id': trace.traceID }, trace.traceID)),
    el(
      'p',
      { class: 'facts' },
      `${count(services.length, 'service')} · ${count(trace.spans.length, 'span')} · ${duration(total)} · started ${time(start)}`,
    ),
    el(
      'div',
      { class: 'waterfall' },
      el(
        'div',
        { class: 'row head' },
        el('div', { class: 'label' }, 'service · operation'),
        el('div', { class: 'timeline' }, ticks),
      ),
      rows.map((r) => spanRow(r, processOf(r.span), colour(processOf(r.span).serviceName), start, total)),
    ),
  );
}

async function searchPage(params) {
  const selected = params.get('service');
  const services = ((await getJson('api/services'))?.data || []).sort();
  const link = (s) => el('a', { href: `search?service=${encodeURIComponent(s)}`, 'data-service': s }, s);
  const parts = [
    el('h1', {}, 'Services'),
    services.length === 0
      ? el('p', { class: 'message' }, 'no services yet')
      : el(
          'ul',
          { class: 'services' },
          services.map((s) => el('li', { class: s === selected ? 'selected' : null }, link(s))),
        ),
  ];
  if (selected) {
    const lookback = params.get('lookback') || '1h';
    const query = new URLSearchParams({ service: selected, limit: params.get('limit') || '20', lookback });
    const traces = ((await getJson(`api/traces?${query}`))?.data || []).filter((t) => t.spans?.length);
    const listed = traces.map((t) => ({ t, ...layout(t) })).sort((a, b) => b.start - a.start);
    const row = ({ t, rootName, total, start }) =>
      el(
        'tr',
        { 'data-trace-id': t.traceID },
        el('td', {}, el('a', { href: `trace/${t.traceID}` }, rootName), ' ', el('code', {}, t.traceID)),
        el('td', {}, String(t.spans.length)),
        el('td', {}, duration(total)),
        el('td', {}, time(start)),
      );
    const head = el(
      'tr',
      {},
      ['root span', 'spans', 'duration', 'started'].map((h) => el('th', {}, h)),
    );
    parts.push(
      el('h2', {}, `Traces of ${selected} in the last ${lookback}`),
      listed.length
        ? el('table', { class: 'traces' }, head, listed.map(row))
        : el('p', { class: 'message' }, 'no traces'),
    );
  }
  document.title = selected ? `traces of ${selected}` : 'Assay traces';
  show('loaded', ...parts);
}

const traceMatch = /\/trace\/([^/]+)\/?$/.exec(location.pathname);
const page = traceMatch
  ? tracePage(decodeURIComponent(traceMatch[1]))
  : searchPage(new URLSearchParams(location.search));
page.catch((err) => show('error', el('p', { class: 'message failed' }, `could not load: ${err.message}`)));
