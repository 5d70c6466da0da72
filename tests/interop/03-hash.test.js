'use strict';
// `##` against Gun.js itself: for every put in shared/spec/frames and for generated graphs,
// gun__put_hash (via tests/interop/json_oracle.c) must equal what a node relay computes:
// String.hash (gun/gun.js) over YSON's text (gun/lib/yson.js, keys sorted at every level),
// hashed in 32768-char slices as mesh.hash does. Our SORTED writer must also produce YSON's
// text byte for byte. HASH_SEED / HASH_GRAPHS change the run.
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const ROOT = path.resolve(__dirname, '../..');
const BUILD = process.env.GUN_BUILD || path.join(ROOT, 'build');
const ORACLE = path.join(BUILD, 'json_oracle');
const FRAMES = process.env.GUN_SPEC_FRAMES || path.resolve(ROOT, '../shared/spec/frames');
const SEED = Number(process.env.HASH_SEED || 1241);
const GRAPHS = Number(process.env.HASH_GRAPHS || 2000);

const Gun = require('gun/gun'); // defines String.hash
Gun.log.off = true;
const YSON = require('gun/lib/yson');

function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function oracle(lines) {
  const r = spawnSync(ORACLE, [], { input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 30, timeout: 120000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`json_oracle exited ${r.status}: ${r.stderr}`);
  const out = r.stdout.split('\n');
  out.pop();
  assert.strictEqual(out.length, lines.length);
  return out;
}

const yson = (data) => new Promise((resolve, reject) => {
  YSON.stringifyAsync(data, (err, text) => (err ? reject(err) : resolve(text)));
});

// mesh.hash: String.hash over 32768-char slices, each seeded with the previous result.
function meshHash(text) {
  let h, s = text;
  do { h = String.hash(s.slice(0, 32768), h); s = s.slice(32768); } while (s);
  return h;
}

// Compares our `##` and sorted text with Gun's for each put.
async function compare(puts) {
  const texts = puts.map((p) => JSON.stringify(p));
  const hashes = oracle(texts.map((t) => 'hash ' + t));
  const sorted = oracle(texts.map((t) => 'sorted ' + t));
  const diffs = [];
  for (let i = 0; i < puts.length; i++) {
    const y = await yson(puts[i]);
    const want = meshHash(y);
    if (hashes[i] !== 'ok ' + want && diffs.length < 5) diffs.push(`## of ${texts[i].slice(0, 300)}\n  want ${want} got ${hashes[i]}`);
    if (sorted[i] !== 'ok ' + y && diffs.length < 5) diffs.push(`text of ${texts[i].slice(0, 300)}\n  want ${y.slice(0, 300)}\n  got  ${sorted[i].slice(0, 300)}`);
  }
  assert.deepStrictEqual(diffs, []);
}

function framesOf(file) {
  const out = [];
  for (const line of fs.readFileSync(path.join(FRAMES, file), 'utf8').split('\n')) {
    const m = line.match(/^(?:\d+(?:ms)? (?:c\d+ )?[A-Za-z0-9]+>[A-Za-z0-9]+|SEND) (.*)$/);
    if (!m) continue;
    let j;
    try { j = JSON.parse(m[1]); } catch (e) { continue; } // the captures hold a few cut lines
    out.push(...(Array.isArray(j) ? j : [j]));
  }
  return out;
}

test('every put in the captured traffic', async () => {
  const files = fs.readdirSync(FRAMES).filter((f) => f.endsWith('.txt'));
  const msgs = files.flatMap(framesOf);
  const puts = msgs.filter((m) => m.put).map((m) => m.put);
  assert.ok(puts.length >= 40, `${puts.length} puts`);
  await compare(puts);
  // and the relay's own `##` values agree with both
  const replies = msgs.filter((m) => m.put && typeof m['##'] === 'number');
  assert.ok(replies.length >= 25, `${replies.length} hashed replies`);
  const got = oracle(replies.map((m) => 'hash ' + JSON.stringify(m.put)));
  replies.forEach((m, i) => assert.strictEqual(got[i], 'ok ' + m['##'], JSON.stringify(m).slice(0, 200)));
});

// Graphs shaped like Gun's: souls to nodes with `_` meta and states, values of every kind
// Gun allows, keys and strings across Unicode (astral, lone surrogates, controls).
function graph(rnd) {
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  // keys never hold NUL: we refuse those at parse (docs/wire.md); values may
  const str = (n, key) => {
    let s = '';
    const len = Math.floor(rnd() * n);
    for (let i = 0; i < len; i++) {
      const r = rnd();
      if (r < 0.6) s += String.fromCharCode(0x20 + Math.floor(rnd() * 95));
      else if (r < 0.7) s += String.fromCharCode(Math.floor(rnd() * 0x20) || (key ? 1 : 0));
      else if (r < 0.8) s += String.fromCharCode(0x80 + Math.floor(rnd() * 0xd780));
      else if (r < 0.85) s += String.fromCharCode(0xe000 + Math.floor(rnd() * 0x1fff));
      else if (r < 0.93) s += String.fromCodePoint(0x10000 + Math.floor(rnd() * 0xfffff));
      else s += String.fromCharCode(0xd800 + Math.floor(rnd() * 0x800)); // lone surrogate
    }
    return s;
  };
  const KEYS = ['name', 'age', 'car', 'a', 'B', '0', '1', '10', '2', '4294967294', '4294967295', '01', '_x', '#', '>', '.', '😀', 'é', '\ue000', '\ud800'];
  const T = 1700000000000 + Math.floor(rnd() * 2e11);
  const state = () => pick([T, T + Math.floor(rnd() * 999) / 999, T + Math.floor(rnd() * 1e6), 1795355861810.001]);
  const g = {};
  const nSouls = 1 + Math.floor(rnd() * 4);
  for (let s = 0; s < nSouls; s++) {
    const soul = rnd() < 0.5 ? pick(['alice', 'bob', 'alice/car', '~@alice', 'list']) + s : str(12, true) || 's' + s;
    const node = { _: { '#': soul, '>': {} } };
    if (rnd() < 0.3) node._ = { '>': {}, '#': soul }; // browser-like clients put '>' first
    const nKeys = Math.floor(rnd() * (rnd() < 0.05 ? 400 : 12));
    for (let k = 0; k < nKeys; k++) {
      const key = rnd() < 0.5 ? pick(KEYS) : str(10, true) || 'k';
      if (key === '_') continue; // the meta itself
      const r = rnd();
      let v;
      if (r < 0.3) v = str(30);
      else if (r < 0.55) v = rnd() < 0.5 ? Math.floor(rnd() * 1e6) - 5e5 : (rnd() - 0.5) * 10 ** (rnd() * 60 - 30);
      else if (r < 0.65) v = rnd() < 0.5;
      else if (r < 0.75) v = null;
      else if (r < 0.9) v = { '#': str(15) || 'x' };
      else v = state();
      node[key] = v;
      node._['>'][key] = state();
    }
    g[soul] = node;
  }
  return g;
}

test(`${GRAPHS} generated graphs`, async () => {
  const rnd = mulberry32(SEED);
  const puts = [];
  for (let i = 0; i < GRAPHS; i++) puts.push(graph(rnd));
  // one past mesh.hash's 32768-char slice
  const big = { big: { _: { '#': 'big', '>': {} } } };
  for (let i = 0; i < 3000; i++) { big.big['k' + i] = 'v\ud800😀' + i; big.big._['>']['k' + i] = 1700000000000 + i / 999; }
  puts.push(big);
  assert.ok((await yson(big)).length > 65536);
  await compare(puts);
});
