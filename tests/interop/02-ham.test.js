// Differential test of HAM: our merge (ham_oracle, built from tests/interop/ham_oracle.c)
// against the real Gun.js merge (gun@0.2020.1241), on the same put messages.
//
// For each case a fresh soul gets a "current" put (or none) and then an "incoming" put,
// one key each. Gun.js is fed both as raw 'in' messages; a 'put' listener on the root sees
// whether its ham() accepted the incoming key, and its graph is checked to agree. The
// oracle runs the same JSON through gun__graph_from_put + gun__core_put against a memory
// store. Future states are left out (deferral is covered by the C unit tests), but some
// states lie a few ms before now.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const fs = require('node:fs');
const { spawn } = require('node:child_process');

const BUILD = process.env.GUN_BUILD || path.join(__dirname, '..', '..', 'build');
const ORACLE = path.join(BUILD, 'ham_oracle');

// Deterministic cases: a failure names a case that reproduces.
function rng(seed) {
  return function () {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// String pieces whose JSON texts compare interestingly: quote and escapes against ' ' and
// '!', controls, DEL, BMP above the surrogates (U+E000..U+FFFF) against astral characters
// (UTF-16 order differs from UTF-8 there), and lone surrogates (JSON.stringify writes them
// as \udxxx, which our parser keeps as WTF-8).
const PIECES = ['a', 'b', 'A', 'Z', ' ', '!', '#', '"', '\\', '\n', '\t', '\u0001', '\u001f',
  '\u007f', '~', '0', '9', '\u00e9', '\u0800', '\ud7ff', '\ue000', '\uffff', '\ufffd',
  '\ud83d\ude00', '\u{10ffff}', '\u{10000}', '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d',
  'u', 'ud800', '\u2028'];

const NUMBERS = [0, 1, -1, 9, 10, 11, 1e21, 1e-7, 1e-6, 1.5, -1.5, 5e-324, 2.5e-324,
  123456789012, 1700000000000.001, 0.1, 0.30000000000000004, 100, 1e2 + 1e-13, 2, -2,
  -0.000001, 1.7976931348623157e308, -1e21, 4294967296, 9007199254740993];

const STRINGS = ['', ' ', '!', 'a', 'ab', 'ab!', 'ab ', 'ab#', 'Alice', 'Al', 'Zed', '"', '\\',
  '\n', '\u0001', '\u007f', '\u00e9', '\ue000', '\uffff', '\ufffd', '\ud83d\ude00',
  '\u{10ffff}', 'a\ud83d\ude00', 'a\ue000', '\ud800', '\udbff', '\udc00', 'x\ud83d',
  '\ud83d\ud83d', '\udc00\ud800', 'null', 'true', '1', '{"#":"a"}'];

const LINKS = ['a', 'b', 'ab!', 'ab', '\ud83d\ude00', '\ue000', '\ud800', '"', ' ']
  .map(s => ({ '#': s }));

const POOL = [null, true, false, ...NUMBERS, ...STRINGS, ...LINKS];

function randomString(r) {
  let s = '';
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)];
  return s;
}

function randomValue(r) {
  const k = r();
  if (k < 0.05) return null;
  if (k < 0.1) return r() < 0.5;
  if (k < 0.3) return NUMBERS[Math.floor(r() * NUMBERS.length)];
  if (k < 0.4) return { '#': randomString(r) || 'x' };
  if (k < 0.5) return POOL[Math.floor(r() * POOL.length)];
  return randomString(r);
}

function makeCases() {
  const r = rng(0x6a11);
  const cases = [];
  const S = 1700000000000;
  const add = (cur, curState, inc, inState) => cases.push({ cur, curState, inc, inState });
  // 1. Every pair of the pool at an equal state: type order and text order.
  for (const a of POOL) for (const b of POOL) add(a, S, b, S);
  // 2. Random values, equal states.
  for (let i = 0; i < 5000; i++) add(randomValue(r), S + 0.001, randomValue(r), S + 0.001);
  // 3. Older and newer states, including fractions one clock tick apart.
  const deltas = [-1, 1, -0.001, 0.001, -1 / 999, 1 / 999, -1e9, 1e9, -S, 0];
  for (let i = 0; i < 2000; i++) {
    const d = deltas[Math.floor(r() * deltas.length)];
    add(randomValue(r), S, randomValue(r), S + d);
  }
  // 4. No current value.
  for (let i = 0; i < 300; i++) add(undefined, 0, randomValue(r), r() < 0.5 ? S : -5);
  // 5. Near now (but not future): both sides decide with their own clocks.
  const now = Date.now();
  for (let i = 0; i < 300; i++) {
    const cs = now - 50 + Math.floor(r() * 40);
    const is = r() < 0.5 ? cs : now - Math.floor(r() * 50) - 1;
    add(randomValue(r), cs, randomValue(r), is);
  }
  return cases;
}

function putText(soul, value, state) {
  return JSON.stringify({ [soul]: { _: { '#': soul, '>': { k: state } }, k: value } });
}

// Gun.js's decision for every case; throws if its graph disagrees with its own events.
function runGun(cases, texts) {
  const Gun = require('gun/gun');
  const gun = Gun({ peers: [], localStorage: false, radisk: false, axe: false,
    multicast: false, file: false });
  const root = gun._;
  let seen = null;
  root.on('put', function (msg) {
    if (seen && msg.put['#'] === seen.soul && msg.put['.'] === 'k') seen.hit++;
    this.to.next(msg);
  });
  const out = [];
  cases.forEach((c, i) => {
    const soul = 'h' + i;
    const [curText, inText] = texts[i];
    if (curText) {
      seen = { soul, hit: 0 };
      root.on('in', { '#': 'c' + i + '.', put: JSON.parse(curText) });
      if (seen.hit !== 1) throw new Error(`case ${i}: Gun.js did not take the current value`);
    }
    seen = { soul, hit: 0 };
    root.on('in', { '#': 'i' + i + '.', put: JSON.parse(inText) });
    const accepted = seen.hit === 1;
    seen = null;
    const node = root.graph[soul];
    const want = accepted ? inText : curText;
    const have = node ? putText(soul, node.k, node._['>'].k) : null;
    assert.strictEqual(have, want, `case ${i}: Gun.js graph does not match its own put events`);
    out.push(accepted);
  });
  // Gun.js's per-key ack ids are msg['#'] + n ("c1" + 0 would clash with case 10's "c10"),
  // hence the '.' in ours. Its dedup timer would keep this process alive for 9 s.
  clearTimeout(root.dup.to);
  return out;
}

function runOracle(texts) {
  return new Promise((resolve, reject) => {
    const p = spawn(ORACLE, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', d => { buf += d; });
    p.on('error', reject);
    p.on('close', code => {
      if (code !== 0) return reject(new Error(`ham_oracle exited with ${code}`));
      resolve(buf.split('\n').filter(Boolean).join(''));
    });
    const lines = [];
    for (let i = 0; i < texts.length; i += 500) {
      const batch = texts.slice(i, i + 500).map(([c, n]) => `[${c || 'null'},${n}]`);
      lines.push('[' + batch.join(',') + ']\n');
    }
    p.stdin.end(lines.join(''));
  });
}

test('HAM decisions match Gun.js', { timeout: 60000 }, async () => {
  assert.ok(fs.existsSync(ORACLE), `ham_oracle not built: ${ORACLE} (set GUN_BUILD)`);
  const cases = makeCases();
  assert.ok(cases.length >= 10000, `only ${cases.length} cases`);
  const texts = cases.map((c, i) => [
    c.cur === undefined ? null : putText('h' + i, c.cur, c.curState),
    putText('h' + i, c.inc, c.inState),
  ]);
  const ours = await runOracle(texts);
  assert.strictEqual(ours.length, cases.length, 'one decision per case');
  const gun = runGun(cases, texts);

  const counts = { A: 0, O: 0, S: 0 };
  const bad = [];
  let lone = 0;
  cases.forEach((c, i) => {
    const d = ours[i];
    if (!(d in counts)) {
      bad.push(`case ${i}: oracle said ${d} for ${texts[i][0]} then ${texts[i][1]}`);
      return;
    }
    counts[d]++;
    if ((d === 'A') !== gun[i]) {
      bad.push(`case ${i}: ours ${d}, Gun.js ${gun[i] ? 'accepted' : 'ignored'}: ` +
               `${texts[i][0]} then ${texts[i][1]}`);
    }
    // Our reason for ignoring must fit the states.
    if (d === 'O' && !(c.inState < c.curState)) bad.push(`case ${i}: O with a state not older`);
    if (d === 'S' && c.inState !== c.curState) bad.push(`case ${i}: S with unequal states`);
    if (/\\ud[89a-f]/.test(texts[i][1])) lone++;
  });
  assert.deepStrictEqual(bad.slice(0, 20), []);
  // The mix really exercised both outcomes and the lone-surrogate transport.
  assert.ok(counts.A > 2000 && counts.S > 2000 && counts.O > 500, JSON.stringify(counts));
  assert.ok(lone > 500, `${lone} cases with lone surrogates`);
});
