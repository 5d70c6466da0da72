'use strict';
// Markdown table from the JSON lines of one bench/run.sh run: Gun.js relay, ours, and the ratio.
// Usage: node bench/table.js FILE.jsonl   (or bench/results.jsonl --run RUN_ID)
const fs = require('node:fs');
const [file, flag, runId] = process.argv.slice(2);
let rows = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
if (flag === '--run') rows = rows.filter((r) => r.run === runId);

// [label, key, better] — better: 'up' (higher wins) or 'down'
const METRICS = {
  put: [['acked puts/s', 'acked_per_s', 'up'], ['ack p50 (ms)', 'p50_ms', 'down'], ['ack p99 (ms)', 'p99_ms', 'down'],
    ['err acks', 'err_acks', null]],
  fanout: [['deliveries/s', 'deliveries_per_s', 'up'], ['delivered / expected', 'deliv_frac', null],
    ['e2e p50 (ms)', 'p50_ms', 'down'], ['e2e p99 (ms)', 'p99_ms', 'down'], ['all subs at final value', 'all_final', null]],
  conns: [['open connections', 'open', null], ['RSS per idle conn (bytes)', 'rss_per_conn_bytes', 'down']],
};
const fmt = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(+v.toFixed(2))) : String(v));

const groups = new Map();
for (const r of rows) {
  if (r.scenario === 'fanout') r.deliv_frac = `${r.deliveries}/${r.expected_deliveries}`;
  const g = groups.get(r.args) || {};
  g[r.relay] = r;
  groups.set(r.args, g);
}
const out = ['| scenario | metric | Gun.js relay | ours | ours vs Gun.js |', '|---|---|---|---|---|'];
const cpu = [];
for (const [args, g] of groups) {
  const any = g.ours || g.gunjs;
  for (const [label, key, better] of METRICS[any.scenario] || []) {
    const a = g.gunjs && g.gunjs[key], b = g.ours && g.ours[key];
    let ratio = '';
    if (better && typeof a === 'number' && typeof b === 'number' && a > 0 && b > 0) {
      const x = better === 'up' ? b / a : a / b;
      ratio = `${x >= 10 ? Math.round(x) : x.toFixed(2)}× ${better === 'up' ? (x >= 1 ? 'higher' : 'lower') : (x >= 1 ? 'lower' : 'higher')}`;
      if (x < 1) ratio = `${(1 / x).toFixed(2)}× ${better === 'up' ? 'lower' : 'higher'} (worse)`;
    }
    out.push(`| \`${args}\` | ${label} | ${a === undefined ? '—' : fmt(a)} | ${b === undefined ? '—' : fmt(b)} | ${ratio} |`);
  }
  for (const r of [g.gunjs, g.ours].filter(Boolean)) {
    cpu.push(`- \`${args}\` ${r.relay === 'ours' ? 'ours' : 'Gun.js'}: relay CPU ${fmt(r.relay_cpu_share * 100)}% of a core, ` +
      `loadgen CPU ${fmt(r.loadgen_cpu_share * 100)}% of a core (${fmt(r.loadgen_cpu_s)} s), relay RSS at end ${fmt(r.relay_rss_end_kib / 1024)} MiB`);
  }
}
console.log(out.join('\n'));
console.log('');
console.log(cpu.join('\n'));
if (rows[0]) console.log(`\nrun ${rows[0].run}, commit ${rows[0].commit}, ${rows[0].host}`);
