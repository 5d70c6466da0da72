'use strict';
// Markdown table from the JSON lines of one bench/run.sh run: Gun.js relay, ours, the ratio, and
// for `put` the bare lws echo server as the ceiling (each relay's rate as % of it).
// Usage: node bench/table.js FILE.jsonl            (every line of the file)
//        node bench/table.js bench/results.jsonl --run RUN_ID
//        node bench/table.js bench/results.jsonl --last   (the newest run in the file)
const fs = require('node:fs');
const [file, flag, runId] = process.argv.slice(2);
let rows = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
if (flag === '--run') rows = rows.filter((r) => r.run === runId);
if (flag === '--last' && rows.length) rows = rows.filter((r) => r.run === rows[rows.length - 1].run);

// [label, key, better] — better: 'up' (higher wins), 'down', or null (no ratio)
const METRICS = {
  put: [['acked puts/s', 'acked_per_s', 'up'], ['acked puts/s as % of the echo ceiling', 'pct_echo', null],
    ['ack p50 (ms)', 'p50_ms', 'down'], ['ack p99 (ms)', 'p99_ms', 'down'], ['err acks', 'err_acks', null]],
  fanout: [['deliveries/s (distinct updates seen while the writer ran)', 'deliveries_per_s', 'up'],
    ['offered (subscribers × updates/s)', 'offered_per_s', null],
    ['updates seen / sent × subscribers', 'deliv_frac', null],
    ['updates no subscriber saw / seen by only some', 'missed_kinds', null],
    ['e2e p50 (ms)', 'p50_ms', 'down'], ['e2e p99 (ms)', 'p99_ms', 'down'],
    ['per update, p50 of the first / last subscriber to see it (ms)', 'first_last', null],
    ['subscribers at the final value / not', 'final_frac', null]],
  conns: [['connections open / asked', 'open_frac', null], ['sent away by the relay (`dam: "mob"`)', 'told_to_leave_mob', null], ['GETs answered', 'gets_answered', null],
    ['RSS per idle connection (bytes)', 'rss_per_conn_bytes', 'down'],
    ['RSS before → after (MiB)', 'rss_span', null]],
  coldget: [['write: acked puts/s', 'write_acked_per_s', 'up'], ['stop on SIGTERM (s)', 'stop_s', null],
    ['read after restart: gets/s', 'gets_per_s', 'up'], ['read p99 (ms)', 'p99_ms', 'down'],
    ['ok / missing / partial / wrong', 'correct', null], ['acked writes not read back', 'acked_not_read_back', null]],
};
const fmt = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(+v.toFixed(2))) : String(v));
const mib = (k) => (k / 1024).toFixed(1);

const groups = new Map();
for (const r of rows) {
  if (r.scenario === 'fanout') {
    r.deliv_frac = `${r.deliveries}/${r.expected_deliveries}`;
    r.final_frac = `${r.subs_at_final} / ${r.subs_not_final ?? r.subs - r.subs_at_final}`;
    if (r.first_sub_p50_ms !== undefined) r.first_last = `${fmt(r.first_sub_p50_ms)} / ${fmt(r.last_sub_p50_ms)}`;
    if (r.seqs_missed_by_all !== undefined) r.missed_kinds = `${r.seqs_missed_by_all} / ${r.seqs_missed_by_some - r.seqs_missed_by_all}`;
  }
  if (r.scenario === 'conns') {
    r.open_frac = `${r.open}/${r.conns}`;
    r.rss_span = `${mib(r.rss_before_kib)} → ${mib(r.rss_after_kib)}`;
  }
  if (r.scenario === 'coldget') r.correct = `${r.ok} / ${r.missing} / ${r.partial} / ${r.wrong}`;
  const g = groups.get(r.args) || {};
  g[r.relay] = r;
  groups.set(r.args, g);
}
const out = ['| scenario | metric | Gun.js relay | ours | ours vs Gun.js |', '|---|---|---|---|---|'];
const cpu = [];
for (const [args, g] of groups) {
  const any = g.ours || g.gunjs || g.echo;
  if (g.echo) {
    for (const r of [g.gunjs, g.ours].filter(Boolean)) r.pct_echo = `${(100 * r.acked_per_s / g.echo.acked_per_s).toFixed(1)}% (echo: ${fmt(g.echo.acked_per_s)}/s)`;
  }
  for (const [label, key, better] of METRICS[any.scenario] || []) {
    const a = g.gunjs && g.gunjs[key], b = g.ours && g.ours[key];
    if (a === undefined && b === undefined) continue;
    let ratio = '';
    if (better && typeof a === 'number' && typeof b === 'number' && a > 0 && b > 0) {
      const x = better === 'up' ? b / a : a / b;
      ratio = x >= 1 ? `${x >= 10 ? Math.round(x) : x.toFixed(2)}× ${better === 'up' ? 'higher' : 'lower'}` :
        `${(1 / x).toFixed(2)}× ${better === 'up' ? 'lower' : 'higher'} (worse)`;
    }
    out.push(`| \`${args}\` | ${label} | ${a === undefined ? '—' : fmt(a)} | ${b === undefined ? '—' : fmt(b)} | ${ratio} |`);
  }
  for (const r of [g.gunjs, g.ours, g.echo].filter(Boolean)) {
    const who = { ours: 'ours', gunjs: 'Gun.js', echo: 'echo' }[r.relay];
    let line = `- \`${args}\` ${who}: relay CPU ${fmt(r.relay_cpu_share * 100)}% of a core, ` +
      `loadgen CPU ${fmt(r.loadgen_cpu_share * 100)}% of a core (${fmt(r.loadgen_cpu_s)} s)`;
    if (r.scenario === 'coldget') line += ` in the read phase, ${fmt(r.write_loadgen_cpu_share * 100)}% in the write phase; stopped ${r.stop_needed_sigkill ? 'only by SIGKILL' : 'by SIGTERM'} in ${r.stop_s} s`;
    line += `, relay RSS at end ${mib(r.relay_rss_end_kib)} MiB`;
    cpu.push(line);
  }
}
console.log(out.join('\n'));
console.log('');
console.log(cpu.join('\n'));
if (rows[0]) console.log(`\nrun ${rows[0].run} (${rows[0].date || '?'}), commit ${rows[0].commit}, ${rows[0].host}, Gun.js ${rows[0].gunjs_version || '?'}`);
