// The dashboard: plain JS, no build step, talks only to this API. Data is rendered with textContent,
// never as HTML. The token (when the server has API_TOKEN) lives in sessionStorage: sent as a bearer
// header on every call and as the `bearer.<base64url>` WebSocket subprotocol on /ws.

const PHASES = ['SPAWN', 'RUN', 'REPORT', 'ORCHESTRATE', 'COMPLETE'];
const FINISHED = ['COMPLETED', 'FAILED', 'TIMEOUT', 'ORCHESTRATION_ERROR', 'STOPPED'];
const TOKEN_KEY = 'agent-governance.token';
const MAX_LOG_LINES = 500;

const $ = (id) => document.getElementById(id);
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? '',
  selected: null, // pipeline id shown on the right
  status: null, // its last status query answer
  lastSeq: 0, // last event seq received for it: where a reconnect resumes
  events: null, // WebSocket of the selected pipeline
  allEvents: null, // WebSocket of every pipeline (refreshes the list)
  finished: false,
  live: new Map(), // agent id → its answer forming (llm_partial messages)
  transcriptAt: 0, // when the transcript was last read
  reads: 0, // pipeline reads started (refreshPipeline), numbered
  shown: 0, // the number of the newest read painted on the page
  failedReads: 0, // reads in a row with a failed part, once the pipeline has finished
};

/** Builds an element; children are nodes or text (always as text, never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  return node;
}

function notice(text) {
  const n = $('notice');
  n.textContent = text ?? '';
  n.hidden = !text;
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json().catch(() => null);
  if (res.status === 401) notice('The API needs a token: enter it above (it stays in this tab only).');
  if (!res.ok) {
    const err = new Error(json?.message ?? `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return json;
}

const base64url = (text) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

function openSocket(query) {
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws${query}`;
  const protocols = ['agent-governance'];
  if (state.token) protocols.push(`bearer.${base64url(state.token)}`);
  return new WebSocket(url, protocols);
}

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');
const debounce = (fn, ms) => {
  let t;
  return () => {
    clearTimeout(t);
    t = setTimeout(fn, ms);
  };
};

// --- health and token ---

async function refreshHealth() {
  const h = $('health');
  try {
    const res = await fetch('/healthz');
    const body = await res.json();
    h.textContent =
      body.status === 'ok'
        ? 'healthy'
        : `degraded: ${Object.entries(body.checks)
            .filter(([, v]) => v !== 'ok')
            .map(([k]) => k)
            .join(', ')}`;
    h.className = `pill ${body.status === 'ok' ? 'ok' : 'bad'}`;
  } catch {
    h.textContent = 'API unreachable';
    h.className = 'pill bad';
  }
}

function showTokenState() {
  $('token-state').textContent = state.token ? 'token set for this tab' : '';
}

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.token = $('token').value.trim();
  if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token);
  else sessionStorage.removeItem(TOKEN_KEY);
  $('token').value = '';
  showTokenState();
  notice('');
  connectAllEvents();
  void refreshList();
  if (state.selected) select(state.selected, true);
});

// --- pipeline list ---

async function refreshList() {
  try {
    const { pipelines } = await api('GET', '/api/pipelines?limit=50');
    const body = $('pipelines').tBodies[0];
    body.replaceChildren(
      ...pipelines.map((p) =>
        el(
          'tr',
          { class: p.pipeline_id === state.selected ? 'selected' : '', 'data-pipeline': p.pipeline_id },
          el('td', {}, el('a', { href: `#/pipeline/${encodeURIComponent(p.pipeline_id)}` }, p.pipeline_id)),
          el('td', {}, el('span', { class: `pill ${statusClass(p.status ?? p.execution_status)}` }, p.status ?? p.execution_status)),
          el('td', { class: 'muted' }, time(p.started_at)),
        ),
      ),
    );
  } catch (err) {
    if (err.status !== 401) notice(`Cannot list pipelines: ${err.message}`);
  }
}
const refreshListSoon = debounce(refreshList, 500);

function statusClass(status) {
  if (status === 'COMPLETED') return 'ok';
  if (['FAILED', 'TIMEOUT', 'ORCHESTRATION_FAILED', 'ORCHESTRATION_ERROR', 'STOPPED'].includes(status)) return 'bad';
  if (status === 'REPORT') return 'wait';
  return 'run';
}

/** Every pipeline's live events (no `since`: the list is re-read on each change anyway). */
function connectAllEvents() {
  state.allEvents?.close();
  const ws = openSocket('');
  state.allEvents = ws;
  ws.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (['pipeline_spawned', 'phase_changed', 'pipeline_finished'].includes(e.type)) refreshListSoon();
  };
  ws.onclose = () => {
    if (state.allEvents === ws) setTimeout(connectAllEvents, 5000);
  };
}

// --- spawn ---

$('spawn-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const body = { objective: $('objective').value.trim(), auto_continue: $('auto-continue').checked };
  if ($('mode').value) body.mode = $('mode').value;
  if ($('scenario').value) body.scenario = $('scenario').value;
  $('spawn').disabled = true;
  $('spawn-msg').textContent = 'spawning…';
  try {
    const r = await api('POST', '/api/spawn', body);
    $('spawn-msg').textContent = `spawned ${r.pipeline_id}`;
    location.hash = `#/pipeline/${encodeURIComponent(r.pipeline_id)}`;
    void refreshList();
  } catch (err) {
    $('spawn-msg').textContent = `not spawned: ${err.message}`;
  } finally {
    $('spawn').disabled = false;
  }
});

// --- one pipeline ---

function select(id, force = false) {
  if (state.selected === id && !force) return;
  state.selected = id;
  state.status = null;
  state.lastSeq = 0;
  state.finished = false;
  state.failedReads = 0;
  $('pipeline').hidden = false;
  $('p-title').textContent = id;
  $('p-status').textContent = '…';
  const ui = meta('temporal-ui');
  const link = $('p-temporal');
  link.href = `${ui}/namespaces/${encodeURIComponent(meta('temporal-namespace'))}/workflows/${encodeURIComponent(`pipeline-${id}`)}`;
  $('events').replaceChildren();
  $('report').textContent = 'no report yet';
  $('report').className = 'report muted';
  $('transcript').textContent = 'no calls yet';
  $('transcript').className = 'transcript muted';
  $('transcript-state').textContent = '';
  $('live').replaceChildren();
  state.live = new Map();
  state.transcriptAt = 0;
  $('action-msg').textContent = '';
  for (const row of $('pipelines').tBodies[0].rows) row.classList.toggle('selected', row.dataset.pipeline === id);
  connectEvents(id);
  void refreshPipeline();
}

function connectEvents(id, delay = 1000) {
  state.events?.close();
  const ws = openSocket(`?pipeline_id=${encodeURIComponent(id)}&since=${state.lastSeq}`);
  state.events = ws;
  $('ws-state').textContent = 'connecting…';
  ws.onopen = () => ($('ws-state').textContent = 'live');
  ws.onmessage = (m) => {
    const e = JSON.parse(m.data);
    // Live LLM output has no seq: it is shown, never counted as an event.
    if (e.type === 'llm_partial') return e.pipeline_id === state.selected && showPartial(e);
    if (e.pipeline_id !== state.selected || e.seq <= state.lastSeq) return;
    state.lastSeq = e.seq;
    appendEvent(e);
    if (e.type === 'pipeline_finished') state.finished = true;
    refreshPipelineSoon();
  };
  ws.onclose = (ev) => {
    if (state.events !== ws) return;
    if (state.finished) {
      $('ws-state').textContent = 'finished';
      return;
    }
    // Resume after the last event received: nothing lost, nothing twice.
    $('ws-state').textContent = `disconnected (${ev.code}${ev.reason ? `: ${ev.reason}` : ''}); reconnecting…`;
    setTimeout(() => state.selected === id && state.events === ws && connectEvents(id, Math.min(delay * 2, 15000)), delay);
  };
}

function describeEvent(e) {
  const d = { ...e.data };
  delete d.pipeline_id;
  const text = JSON.stringify(d);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

function appendEvent(e) {
  const list = $('events');
  list.append(
    el(
      'li',
      { 'data-seq': e.seq, 'data-type': e.type },
      el('span', { class: 'seq' }, `#${e.seq}`),
      el('span', { class: 'muted' }, time(e.ts)),
      el('b', {}, e.type),
      el('span', { class: 'data' }, describeEvent(e)),
    ),
  );
  while (list.children.length > MAX_LOG_LINES) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

/** How often, and after how long (growing), a finished pipeline's failed read is tried again. */
const FAILED_READ_RETRIES = 5;
const FAILED_READ_RETRY_MS = 1000;

async function refreshPipeline() {
  const id = state.selected;
  if (!id) return;
  const read = ++state.reads;
  // The status first, the rest after it, so no pane is older than the status above it: read at once,
  // a COMPLETED status could come with an orchestration answered before the orchestration began.
  const [status] = await Promise.allSettled([api('GET', `/api/pipeline/${encodeURIComponent(id)}`)]);
  const [orch, report] = await Promise.allSettled([
    api('GET', `/api/pipeline/${encodeURIComponent(id)}/orchestration`),
    api('GET', `/api/checkpoint/report?pipeline_id=${encodeURIComponent(id)}`),
  ]);
  // Reads overlap (an event's, the timer's, a button's): one answered late must not paint its older
  // state over a newer read's.
  if (state.selected !== id || read < state.shown) return;
  state.shown = read;
  if (status.status === 'fulfilled') renderStatus(status.value);
  else $('p-status').textContent = `unavailable: ${status.reason.message}`;
  if (orch.status === 'fulfilled') renderOrchestration(orch.value);
  if (report.status === 'fulfilled') renderReport(report.value);
  // A finished pipeline sends no more events to read it again after: a part that failed (the API busy,
  // the run just closed) is read again a few times, rather than leaving the page behind the pipeline.
  if (![status, orch, report].some((r) => r.status === 'rejected')) state.failedReads = 0;
  else if (state.finished && state.failedReads < FAILED_READ_RETRIES) {
    state.failedReads += 1;
    setTimeout(() => state.selected === id && refreshPipeline(), FAILED_READ_RETRY_MS * state.failedReads);
  }
  // Every page of the transcript is read again: not on every event, but a few seconds apart.
  if (Date.now() - state.transcriptAt > TRANSCRIPT_EVERY_MS || state.finished) refreshTranscriptSoon();
}
const refreshPipelineSoon = debounce(refreshPipeline, 250);

// --- live output: each agent's answer forming, from the /ws `llm_partial` messages ---

/** What is shown of one answer as it forms; the transcript has it whole once the call is recorded. */
const LIVE_SHOW_CHARS = 8000;

function showPartial(m) {
  let entry = state.live.get(m.agent_id);
  if (!entry || entry.call !== m.call || entry.exchange !== m.exchange) {
    const head = el('div', { class: 'muted' });
    const text = el('pre', {});
    const node = entry?.node ?? el('div', { class: 'live-agent', 'data-agent': m.agent_id });
    node.replaceChildren(head, text);
    if (!entry) $('live').append(node);
    // Joined mid-call: what came before is not shown (the transcript has it once the call ends).
    entry = { call: m.call, exchange: m.exchange, node, head, text, body: m.offset > 0 ? '… ' : '' };
    state.live.set(m.agent_id, entry);
  }
  entry.body += m.text;
  if (entry.body.length > LIVE_SHOW_CHARS) entry.body = `… ${entry.body.slice(-LIVE_SHOW_CHARS)}`;
  entry.text.textContent = entry.body;
  const what = `${m.role.toUpperCase()} · ${m.task}${m.round ? ` · round ${m.round}` : ''}${m.exchange > 1 ? ' · repair request' : ''}`;
  entry.head.textContent = m.done ? `${what} · done (${m.outcome})` : `${what} · forming…`;
  if (m.done) refreshTranscriptSoon();
}

// --- LLM transcripts (GET /api/pipeline/:id/transcript): a section per agent, a line per call ---

/** How often at most the transcript is read again while the pipeline runs (besides the refresh button). */
const TRANSCRIPT_EVERY_MS = 5000;
/** Pages read at most per refresh; each page is bounded by the server (count and bytes). */
const TRANSCRIPT_MAX_PAGES = 10;
/** A message or answer longer than this is cut in the page (the API has it in full). */
const TRANSCRIPT_SHOW_CHARS = 20000;

async function refreshTranscript() {
  const id = state.selected;
  if (!id) return;
  state.transcriptAt = Date.now();
  const calls = [];
  let total = 0;
  try {
    for (let offset = 0, pages = 0; offset !== null && pages < TRANSCRIPT_MAX_PAGES; pages++) {
      const page = await api('GET', `/api/pipeline/${encodeURIComponent(id)}/transcript?offset=${offset}&limit=100`);
      calls.push(...page.calls);
      total = page.total;
      offset = page.next_offset;
    }
  } catch (err) {
    if (state.selected === id) $('transcript-state').textContent = `unavailable: ${err.message}`;
    return;
  }
  if (state.selected !== id) return;
  $('transcript-state').textContent = calls.length < total ? `first ${calls.length} of ${total} calls` : `${total} calls`;
  renderTranscript(calls);
}
const refreshTranscriptSoon = debounce(refreshTranscript, 1500);

const shown = (text) => (text.length > TRANSCRIPT_SHOW_CHARS ? `${text.slice(0, TRANSCRIPT_SHOW_CHARS)}\n… (${text.length} characters)` : text);
const tokens = (u) => (u ? `${u.total_tokens} tokens${u.cost_usd !== null ? ` · $${u.cost_usd.toFixed(6)}` : ''}` : 'no usage');

function renderTranscript(calls) {
  const box = $('transcript');
  if (!calls.length) {
    box.className = 'transcript muted';
    box.textContent = 'no calls yet';
    return;
  }
  // Keep what the reader opened across refreshes.
  const open = new Set([...box.querySelectorAll('details[open]')].map((d) => d.dataset.key));
  const byAgent = new Map();
  for (const c of calls) byAgent.set(c.agent_id, [...(byAgent.get(c.agent_id) ?? []), c]);
  box.className = 'transcript';
  box.replaceChildren(
    ...[...byAgent].map(([agent, list]) => {
      const used = list.reduce((n, c) => n + (c.usage?.total_tokens ?? 0), 0);
      return el(
        'details',
        { class: 'agent', 'data-key': agent, open: open.has(agent) },
        el('summary', {}, el('b', {}, list[0].role.toUpperCase()), ` · ${agent} · ${list.length} calls · ${used} tokens`),
        list.map((c) =>
          el(
            'details',
            { class: 'call', 'data-key': c.key, open: open.has(c.key) },
            el(
              'summary',
              { class: c.outcome === 'ok' ? '' : 'failed' },
              `${time(c.started_at)} · ${c.task}${c.round ? ` · round ${c.round}` : ''} · try ${c.try}${c.repair ? ' (repair)' : ''} · ${c.model} · ${tokens(c.usage)} · ${c.outcome}`,
            ),
            c.error ? el('p', { class: 'failed' }, c.error) : null,
            // el() flattens one level: one flat list of nodes per call.
            c.exchanges.flatMap((x, i) => [
              el('p', { class: 'muted' }, `request ${i + 1} of ${c.exchanges.length} · ${x.ms} ms${x.finish_reason ? ` · ${x.finish_reason}` : ''}`),
              ...x.messages.map((m) => el('pre', {}, `${m.role}:\n${shown(m.content)}`)),
              el('pre', {}, `answer:\n${x.answer === null ? '(none)' : shown(x.answer)}`),
              x.rejected ? el('p', { class: 'failed' }, `rejected: ${x.rejected}`) : null,
              x.error ? el('p', { class: 'failed' }, `failed: ${x.error}`) : null,
            ]),
          ),
        ),
      );
    }),
  );
}

function renderStatus(s) {
  state.status = s;
  if (FINISHED.includes(s.status)) state.finished = true;
  const pill = $('p-status');
  pill.textContent = s.status;
  pill.className = `pill ${statusClass(s.status)}`;
  pill.dataset.status = s.status;
  const current = PHASES.indexOf(s.phase);
  $('phases').replaceChildren(
    ...PHASES.map((p, i) => {
      let cls = i < current ? 'done' : i === current ? 'current' : 'todo';
      if (i === current && p === 'COMPLETE') cls = s.status === 'COMPLETED' ? 'done' : 'failed';
      if (i === current && s.status === 'ORCHESTRATION_FAILED') cls = 'failed';
      return el('li', { class: cls }, p);
    }),
  );

  // Agents: the contract's columns, used against the budget when the workflow reports one, then
  // whatever else it reports.
  const known = ['id', 'role', 'phase', 'status', 'errors', 'violations', 'tokens', 'budget', 'revokedReason', 'usage'];
  const extra = [...new Set(s.agents.flatMap((a) => Object.keys(a)))].filter((k) => !known.includes(k));
  const show = (v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : (v ?? ''));
  const used = (a, key, limit) => (a.budget && a.budget[limit] !== undefined ? `${a[key] ?? 0} / ${a.budget[limit]}` : show(a[key]));
  const columns = [
    ['agent', (a) => el('span', { title: a.id }, a.id.replace(`pipeline-${s.pipelineId}-`, ''))],
    ['role', (a) => a.role],
    ['phase', (a) => a.phase],
    ['status', (a) => (a.revokedReason ? `${a.status}: ${a.revokedReason}` : a.status)],
    ['errors', (a) => used(a, 'errors', 'total')],
    ...(s.agents.some((a) => a.violations !== undefined) ? [['violations', (a) => used(a, 'violations', 'violations')]] : []),
    ['tokens', (a) => used(a, 'tokens', 'tokens')],
    // What the provider reported (openrouter mode): calls, and their cost when it reports one.
    ...(s.agents.some((a) => a.usage)
      ? [['calls · cost', (a) => (a.usage ? `${a.usage.calls}${a.usage.costUsd !== undefined ? ` · $${a.usage.costUsd.toFixed(4)}` : ''}` : '')]]
      : []),
    ...extra.map((k) => [k, (a) => show(a[k])]),
  ];
  $('agents').tHead.replaceChildren(
    el(
      'tr',
      {},
      columns.map(([name]) => el('th', {}, name)),
    ),
  );
  $('agents').tBodies[0].replaceChildren(
    ...s.agents.map((a) =>
      el(
        'tr',
        { class: a.status === 'REVOKED' ? 'bad' : '', 'data-agent': a.id },
        columns.map(([, value]) => el('td', {}, value(a))),
      ),
    ),
  );
  $('gamma').textContent = s.gamma.spawned ? `spawned · reason ${s.gamma.reason}` : s.gamma.reason ? `requested · reason ${s.gamma.reason}` : 'not spawned';

  const waiting = s.status === 'REPORT';
  $('btn-continue').disabled = !waiting;
  $('btn-stop').disabled = state.finished;
  $('btn-gamma').disabled = state.finished || s.gamma.spawned;
  $('btn-recover').disabled = s.status !== 'ORCHESTRATION_FAILED';
}

function renderOrchestration(o) {
  const attempt = o.attempt > 1 ? ` · attempt ${o.attempt}` : '';
  const partial = o.partial ? ` · partial: ${o.partial.title ?? o.partial.proposalId}` : '';
  $('orch-status').textContent =
    `· ${o.status}${o.round ? ` · round ${o.round}` : ''}${attempt}${partial} · ${o.mode === 'local' ? 'local simulator' : `${o.mode}/${o.model}`}`;
  const votesFor = (pid) => o.votes.filter((v) => v.proposalId === pid);
  $('proposals').tBodies[0].replaceChildren(
    ...o.proposals.map((p) =>
      el(
        'tr',
        { class: o.consensus?.proposalId === p.id ? 'ok' : '' },
        el('td', {}, p.id),
        el('td', {}, p.round),
        el('td', {}, p.author),
        el('td', { title: p.summary ?? '' }, p.title),
        el(
          'td',
          {},
          votesFor(p.id).map((v) =>
            el('span', { class: `vote ${v.approve ? 'for' : 'against'}`, title: v.reason ?? '' }, `${v.agent} ${v.approve ? '✔' : '✘'}`),
          ),
        ),
      ),
    ),
  );
  const handoffs = o.handoffs ?? [];
  $('handoffs').replaceChildren(
    ...(handoffs.length
      ? handoffs.map((x) =>
          el('li', {}, el('b', {}, `${x.role ?? x.agentId} revoked`), ` (${x.reason}): did ${(x.did ?? []).length} step(s); left: ${x.left ?? ''}`),
        )
      : [el('li', { class: 'muted' }, 'none')]),
  );
  $('gamma-requests').replaceChildren(
    ...(o.gamma.requests ?? []).map((r) => el('li', {}, `${time(r.at)} ${r.reason}${r.detail ? ` (${r.detail})` : ''}: ${r.note}`)),
  );
}

function renderReport(r) {
  const box = $('report');
  if (!r.report) {
    box.className = 'report muted';
    box.textContent = r.continuation.can_continue ? 'waiting at REPORT' : 'no report yet';
    return;
  }
  const rep = r.report;
  box.className = 'report';
  box.dataset.kind = rep.kind;
  const parts = [
    el('p', {}, el('b', {}, `${rep.kind} report · ${rep.status}`), ` · ${time(rep.generatedAt)} · auto-continue ${r.continuation.auto_continue ?? 'unknown'}`),
    el('p', { class: 'summary' }, rep.summary),
    rep.consensus ? el('p', {}, el('b', {}, 'Consensus: '), `${rep.consensus.title ?? rep.consensus.proposalId} (round ${rep.consensus.round ?? '?'})`) : null,
    el(
      'ul',
      { class: 'plain' },
      rep.agents.map((a) => el('li', {}, el('b', {}, `${a.role}: `), a.summary)),
    ),
    rep.notes.length
      ? el(
          'ul',
          { class: 'notes' },
          rep.notes.map((n) => el('li', {}, n)),
        )
      : null,
    ...deliverableParts(rep.deliverable),
  ];
  box.replaceChildren(...parts.filter(Boolean));
}

// The deliverable (the same content as GET /api/pipeline/:id/report.md): the design in full, then how it was decided.
const SECTIONS = [
  ['approach', 'Approach'],
  ['components', 'Components'],
  ['tradeoffs', 'Trade-offs'],
  ['risks', 'Risks'],
  ['rollout', 'Rollout'],
];
function deliverableParts(d) {
  if (!d) return [];
  const list = (title, items) =>
    items.length
      ? [
          el('h4', {}, title),
          el(
            'ul',
            { class: 'plain' },
            items.map((x) => el('li', {}, x)),
          ),
        ]
      : [];
  const p = d.design;
  return [
    p
      ? el(
          'div',
          { class: 'deliverable' },
          el('h3', {}, `${p.adopted ? 'Adopted design' : 'Best design so far (not adopted)'}: ${p.title}`),
          el('p', { class: 'muted' }, `${p.id} · round ${p.round} · by ${p.author} · complexity ${p.complexity}`),
          el('p', {}, p.summary ?? ''),
          ...SECTIONS.flatMap(([k, title]) => (p.design?.[k] ? [el('h4', {}, title), el('p', {}, p.design[k])] : [])),
        )
      : el('p', { class: 'muted' }, 'No design was posted.'),
    ...list(
      'Votes',
      d.votes.map((v) => `${v.agent}: ${v.approve ? 'for' : 'against'}${v.reason ? ` (${v.reason})` : ''}`),
    ),
    ...list(
      'Dissents',
      d.dissents.map((v) => `${v.agent} against ${v.proposalId}: ${v.reason ?? ''}`),
    ),
    ...list('Open risks', d.risks),
    ...(d.gamma ? list(`GAMMA (${d.gamma.reason})`, [...d.gamma.subproblems, ...d.gamma.notes]) : []),
  ];
}

async function act(label, method, path, body) {
  const msg = $('action-msg');
  msg.textContent = `${label}…`;
  try {
    await api(method, path, body);
    msg.textContent = `${label}: accepted`;
  } catch (err) {
    msg.textContent = `${label}: ${err.message}`;
  }
  refreshPipelineSoon();
}

$('btn-continue').addEventListener('click', () => act('continue', 'POST', '/api/pipeline/continue', { pipeline_id: state.selected }));
$('btn-stop').addEventListener('click', () =>
  act('stop', 'POST', `/api/pipeline/${encodeURIComponent(state.selected)}/stop`, { reason: 'stopped from the dashboard' }),
);
$('btn-gamma').addEventListener('click', () => act('spawn GAMMA', 'POST', `/api/pipeline/${encodeURIComponent(state.selected)}/gamma`, { reason: 'MANUAL' }));
$('btn-recover').addEventListener('click', () =>
  act('recover', 'POST', `/api/pipeline/${encodeURIComponent(state.selected)}/recover`, { action: $('recover-action').value }),
);
$('refresh-list').addEventListener('click', () => void refreshList());
$('refresh-transcript').addEventListener('click', () => void refreshTranscript());

// --- routing and start ---

function route() {
  const m = /^#\/pipeline\/(.+)$/.exec(location.hash);
  if (m) select(decodeURIComponent(m[1]));
}
window.addEventListener('hashchange', route);

showTokenState();
void refreshHealth();
void refreshList();
connectAllEvents();
route();
setInterval(refreshHealth, 15000);
setInterval(refreshList, 15000);
// Queries catch what events do not announce (e.g. an agent's token count).
setInterval(() => state.selected && !state.finished && refreshPipeline(), 5000);
