'use strict';
// Differential test of our JSON writer (src/wire) against V8: generated values go through our
// parser and writer (tests/interop/json_oracle.c) and must come out byte for byte as
// JSON.stringify(JSON.parse(text)) writes them, and, in SORTED mode, as a key-sorting
// stringify (what node relays emit and `##` hashes). Numbers are also checked directly
// against Number.prototype.toString from their IEEE bits, with no parser involved.
//
// Inputs are written in forms V8 would not write (non-shortest numbers, keys in creation
// order with duplicates, arbitrary \u escapes), so an echoing writer cannot pass.
// JSON_SEED / JSON_SCALE change the run (scale 1: 150k numbers plus 15k trees holding about 190k values).
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../..');
const BUILD = process.env.GUN_BUILD || path.join(ROOT, 'build');
const ORACLE = path.join(BUILD, 'json_oracle');
const SEED = Number(process.env.JSON_SEED || 0x5eed1241);
const SCALE = Number(process.env.JSON_SCALE || 1);

function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// One oracle run; one answer line per command line.
function oracle(lines) {
  const r = spawnSync(ORACLE, [], { input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 30, timeout: 300000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`json_oracle exited ${r.status}: ${r.stderr}`);
  const out = r.stdout.split('\n');
  out.pop();
  assert.strictEqual(out.length, lines.length, 'one answer per command');
  return out;
}

// ---- numbers ----

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer); // little endian: u32[1] holds sign and exponent
const hex = (v) => { f64[0] = v; return u32[1].toString(16).padStart(8, '0') + u32[0].toString(16).padStart(8, '0'); };

function randomNumber(rnd) {
  for (;;) {
    const v = anyNumber(rnd);
    if (Number.isFinite(v)) return v; // JSON has no Infinity; the unit tests cover null
  }
}

function anyNumber(rnd) {
  const r = Math.floor(rnd() * 14);
  const u = () => (rnd() * 4294967296) >>> 0;
  switch (r) {
    case 0: case 1: { // any finite bit pattern
      for (;;) { u32[0] = u(); u32[1] = u(); if (Number.isFinite(f64[0])) return f64[0]; }
    }
    case 2: u32[0] = u(); u32[1] = u() & 0x800fffff; return f64[0]; // subnormal (or zero)
    case 3: return Math.floor(rnd() * 2000) - 1000;
    case 4: return Math.floor(rnd() * 2 ** 53) * (rnd() < 0.5 ? -1 : 1);
    case 5: return Math.floor(rnd() * 2 ** 53) * 2 ** Math.floor(rnd() * 40); // big integers
    case 6: { // Gun states: Gun.state() is t + n/999 within one millisecond
      const t = 1700000000000 + Math.floor(rnd() * 2e11);
      return t + Math.floor(rnd() * 999) / 999;
    }
    case 7: return Number((rnd() * 10 ** Math.floor(rnd() * 8)).toFixed(Math.floor(rnd() * 8)));
    case 8: return rnd();
    case 9: return (rnd() - 0.5) * 10 ** (rnd() * 640 - 330);
    case 10: { // around the layout switches 1e21 and 1e-7, and powers of ten
      const e = [21, -7, -6, 20, 0, 15, 16, 17, 22, -5][Math.floor(rnd() * 10)];
      const b = 10 ** e; f64[0] = b;
      const d = Math.floor(rnd() * 5) - 2;
      if (d < 0) { u32[0] = (u32[0] - 1) >>> 0; } else if (d > 0) { u32[0] = (u32[0] + d) >>> 0; }
      return f64[0];
    }
    case 11: return 2 ** (Math.floor(rnd() * 2098) - 1074); // powers of two: lopsided intervals
    case 12: return rnd() < 0.5 ? -0 : 0;
    default: return Math.fround(rnd() * 1000) / 7;
  }
}

// A JSON number text for v that V8 would not write, when the value allows it.
function numberText(v, rnd) {
  if (Object.is(v, -0)) return ['-0', '-0.0', '-0e5', '-0E-3'][Math.floor(rnd() * 4)];
  const r = Math.floor(rnd() * 6);
  let s;
  if (r === 0) s = String(v);
  else if (r === 1) s = v.toPrecision(17);
  else if (r === 2) s = v.toExponential(Math.floor(rnd() * 21));
  else if (r === 3) s = v.toPrecision(Math.floor(rnd() * 21) + 1);
  else if (r === 4) s = v.toExponential(20).replace('e', 'E');
  else s = String(v).replace(/e/, rnd() < 0.5 ? 'E' : 'e');
  return s;
}

// ---- strings ----

function codeUnits(rnd) {
  const n = Math.floor(rnd() ** 2 * 24);
  const units = [];
  for (let i = 0; i < n; i++) {
    const r = Math.floor(rnd() * 16);
    if (r < 5) units.push(0x20 + Math.floor(rnd() * 95));
    else if (r === 5) units.push(Math.floor(rnd() * 0x20)); // every control char
    else if (r === 6) units.push([0x22, 0x5c, 0x2f, 0x7f, 0x2028, 0x2029, 0xfeff, 0xffff, 0xfffe][Math.floor(rnd() * 9)]);
    else if (r === 7) units.push(0x80 + Math.floor(rnd() * 0x780)); // 2-byte UTF-8
    else if (r === 8) { const c = 0x800 + Math.floor(rnd() * (0xd800 - 0x800)); units.push(c); }
    else if (r === 9) units.push(0xe000 + Math.floor(rnd() * 0x2000)); // sorts after astral in UTF-16
    else if (r === 10 || r === 11) { // astral: a proper pair
      const off = Math.floor(rnd() * 0x100000); // code point - 0x10000
      units.push(0xd800 + (off >> 10), 0xdc00 + (off & 0x3ff));
    }
    else if (r === 12) units.push(0xd800 + Math.floor(rnd() * 0x400)); // lone high
    else if (r === 13) units.push(0xdc00 + Math.floor(rnd() * 0x400)); // lone low
    else if (r === 14) units.push(0xdc00 + Math.floor(rnd() * 0x400), 0xd800 + Math.floor(rnd() * 0x400)); // reversed
    else units.push(0xd83d, 0xde00); // U+1F600
  }
  return units;
}

const hex4 = (c, upper) => { const h = c.toString(16).padStart(4, '0'); return '\\u' + (upper ? h.toUpperCase() : h); };
const SHORT = { 0x22: '\\"', 0x5c: '\\\\', 0x2f: '\\/', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };

// A JSON string literal for the code units, escaping at random where JSON allows a choice.
function stringText(units, rnd) {
  let s = '"';
  for (let i = 0; i < units.length; i++) {
    const c = units[i];
    const high = c >= 0xd800 && c <= 0xdbff, low = c >= 0xdc00 && c <= 0xdfff;
    const pair = high && i + 1 < units.length && units[i + 1] >= 0xdc00 && units[i + 1] <= 0xdfff;
    if (pair) {
      if (rnd() < 0.5) s += String.fromCharCode(c, units[i + 1]);
      else s += hex4(c, rnd() < 0.5) + hex4(units[i + 1], rnd() < 0.5);
      i++;
    } else if (high || low || c < 0x20 || c === 0x22 || c === 0x5c || rnd() < 0.08) {
      s += (SHORT[c] && rnd() < 0.7) ? SHORT[c] : hex4(c, rnd() < 0.5);
    } else {
      s += String.fromCharCode(c);
    }
  }
  return s + '"';
}

// ---- trees ----

const KEYS = ['0', '1', '2', '7', '10', '42', '123', '4294967294', '4294967295', '4294967296', '01',
  '00', '-0', '-1', '1.0', '1e3', ' 1', '', '_', '#', '>', '.', '##', '@', 'a', 'b', 'B', 'put',
  'get', '__proto__', 'constructor', 'é', 'ｚ', '😀', '\ud800', '\udfff', 'a\u007fb'];

function keyText(rnd) {
  const r = rnd();
  if (r < 0.6) {
    const k = KEYS[Math.floor(rnd() * KEYS.length)];
    return stringText(Array.from({ length: k.length }, (_, i) => k.charCodeAt(i)), rnd);
  }
  if (r < 0.75) return stringText([...String((rnd() * 4294967296) >>> 0)].map((ch) => ch.charCodeAt(0)), rnd);
  // no NUL in keys: we refuse those by design (docs/wire.md), pinned in the last test
  return stringText(codeUnits(rnd).slice(0, 6).map((c) => c || 0x30), rnd);
}

let leaves = 0;
function valueText(rnd, depth) {
  const r = rnd();
  if (depth < 5 && r < 0.18) {
    const n = Math.floor(rnd() * 7);
    const items = [];
    for (let i = 0; i < n; i++) items.push(valueText(rnd, depth + 1));
    return '[' + items.join(rnd() < 0.2 ? ' , ' : ',') + ']';
  }
  if (depth < 5 && r < 0.4) {
    const n = Math.floor(rnd() * 9);
    const pairs = [];
    const used = [];
    for (let i = 0; i < n; i++) {
      // duplicates: JSON.parse keeps the first position and the last value
      const k = used.length && rnd() < 0.15 ? used[Math.floor(rnd() * used.length)] : keyText(rnd);
      used.push(k);
      pairs.push(k + (rnd() < 0.1 ? ' : ' : ':') + valueText(rnd, depth + 1));
    }
    return '{' + pairs.join(',') + '}';
  }
  leaves++;
  if (r < 0.7) return numberText(randomNumber(rnd), rnd);
  if (r < 0.93) return stringText(codeUnits(rnd), rnd);
  return ['true', 'false', 'null'][Math.floor(rnd() * 3)];
}

// Keys sorted by UTF-16 code units at every level (Array.prototype.sort's default order).
function sortedStringify(v) {
  if (Array.isArray(v)) return '[' + v.map(sortedStringify).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + sortedStringify(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

// Runs batches of texts through one oracle command; on a mismatch, re-asks item by item and
// reports the first few differences.
function checkBatches(cmd, texts, expect, batch) {
  const lines = [];
  const wants = [];
  for (let i = 0; i < texts.length; i += batch) {
    const chunk = texts.slice(i, i + batch);
    const text = '[' + chunk.join(',') + ']';
    lines.push(cmd + ' ' + text);
    wants.push(expect(JSON.parse(text)));
  }
  const got = oracle(lines);
  const bad = [];
  got.forEach((g, i) => { if (g !== 'ok ' + wants[i]) bad.push(i); });
  if (!bad.length) return;
  const items = texts.slice(bad[0] * batch, bad[0] * batch + batch);
  const one = oracle(items.map((t) => cmd + ' ' + t));
  const diffs = [];
  one.forEach((g, i) => {
    const want = 'ok ' + expect(JSON.parse(items[i]));
    if (g !== want && diffs.length < 5) diffs.push(`input ${items[i]}\n  want ${want}\n  got  ${g}`);
  });
  assert.fail(`${cmd}: ${bad.length} of ${lines.length} batches differ; first differences:\n${diffs.join('\n') || got[bad[0]].slice(0, 400)}`);
}

test('Number::toString from IEEE bits, no parser involved', () => {
  const rnd = mulberry32(SEED);
  const N = Math.round(150000 * SCALE);
  const vals = [];
  for (let i = 0; i < N; i++) vals.push(randomNumber(rnd));
  vals.push(0, -0, 5e-324, -5e-324, 1.7976931348623157e308, 0.1, 1e21, 1e-7, 1e-6, 123e20,
    123456789012345680000, 1700000000000.001, 2 ** 53, 2 ** 53 + 2, 9.999999999999999e20);
  const lines = [];
  const B = 5000;
  for (let i = 0; i < vals.length; i += B) lines.push('num ' + vals.slice(i, i + B).map(hex).join(' '));
  const got = oracle(lines);
  const diffs = [];
  let checked = 0;
  got.forEach((line, li) => {
    const toks = line.split(' ');
    assert.strictEqual(toks[0], 'ok');
    for (let j = 1; j < toks.length; j++) {
      const v = vals[li * B + j - 1];
      checked++;
      if (toks[j] !== String(v) && diffs.length < 10) diffs.push(`${hex(v)} want ${String(v)} got ${toks[j]}`);
    }
  });
  assert.strictEqual(checked, vals.length);
  assert.deepStrictEqual(diffs, []);
});

// Values are generated once and used by both writer modes.
let TEXTS = null;
function texts() {
  if (TEXTS) return TEXTS;
  const rnd = mulberry32(SEED ^ 0x9e3779b9);
  const N = Math.round(15000 * SCALE);
  TEXTS = [];
  for (let i = 0; i < N; i++) TEXTS.push(valueText(rnd, 0));
  // a few deep ones
  for (let d = 10; d <= 200; d += 10) TEXTS.push('['.repeat(d) + '{"b":1,"a":[' + numberText(0.1, rnd) + ']}' + ']'.repeat(d));
  return TEXTS;
}

test('JS mode equals JSON.stringify(JSON.parse(text))', () => {
  const t = texts();
  checkBatches('js', t, (v) => JSON.stringify(v), 1000);
  const total = t.length + leaves + 150000 * SCALE;
  assert.ok(total >= 100000 * SCALE, `generated ${total} values`);
});

test('SORTED mode equals a key-sorting stringify', () => {
  checkBatches('sorted', texts(), sortedStringify, 1000);
});

// Texts near valid ones (an ASCII character deleted, inserted or replaced): we accept exactly
// what JSON.parse accepts, except the documented gaps (numbers that overflow to Infinity, NUL
// in keys), and write what it would.
test('accepts what JSON.parse accepts, on mutated texts', () => {
  const rnd = mulberry32(SEED ^ 0x1234567);
  const base = texts().slice(0, Math.round(10000 * SCALE));
  const CH = '{}[],:"\\ 0123456789.eE+-tfnul\u00e9';
  const muts = [];
  for (const t of base) {
    let s = t;
    const k = 1 + Math.floor(rnd() * 2);
    for (let m = 0; m < k; m++) {
      const i = Math.floor(rnd() * (s.length + 1));
      // only touch ASCII positions so no surrogate pair is split
      if (i < s.length && s.charCodeAt(i) > 0x7f) continue;
      const c = CH[Math.floor(rnd() * CH.length)];
      const op = Math.floor(rnd() * 3);
      if (op === 0 && i < s.length) s = s.slice(0, i) + s.slice(i + 1);
      else if (op === 1) s = s.slice(0, i) + c + s.slice(i);
      else if (i < s.length) s = s.slice(0, i) + c + s.slice(i + 1);
    }
    muts.push(s);
  }
  const got = oracle(muts.map((s) => 'js ' + s));
  const diffs = [];
  let accepted = 0, rejected = 0;
  muts.forEach((s, i) => {
    let want;
    try { want = 'ok ' + JSON.stringify(JSON.parse(s)); } catch (e) { want = null; }
    const g = got[i];
    if (want === null) {
      rejected++;
      if (!g.startsWith('err -7 ') && diffs.length < 5) diffs.push(`JSON.parse rejects, we said ${g}: ${s}`);
    } else {
      accepted++;
      if (g === want) return;
      const gap = /\d[eE]\+?\d{3}/.test(s); // 1e400: JSON.parse says Infinity, we refuse
      if (!(gap && g.startsWith('err -7 ')) && diffs.length < 5) diffs.push(`input ${s}\n  want ${want}\n  got  ${g}`);
    }
  });
  assert.ok(accepted > 1000 && rejected > 1000, `mix: ${accepted} accepted, ${rejected} rejected`);
  assert.deepStrictEqual(diffs, []);
});

// The documented gaps, pinned so a change in either direction is noticed.
test('known differences from JSON.parse: NUL in keys, numbers beyond the double range', () => {
  const cases = ['{"a\\u0000b":1}', '1e400', '[-1e309]', '{"k":"\\ud800","a\\u0000":1}'];
  for (const c of cases) JSON.parse(c); // V8 accepts every one
  const got = oracle(cases.map((c) => 'js ' + c));
  got.forEach((g, i) => assert.match(g, /^err -7 json: /, cases[i]));
  assert.match(got[0], /NUL byte in object key/);
  assert.match(got[1], /overflow/);
  assert.match(got[3], /NUL byte in object key/); // the built-in parser's own reason
});
