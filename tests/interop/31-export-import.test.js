'use strict';
// Moving data in and out: `gun rad-import` of a real Gun.js radata/ folder, `gun export` /
// `gun import` round trips, and rejection of invalid input (exit code 4).
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const { startRelay, startGunRelay, rawPeer, gunClient, tmpdir, BUILD, childEnv } = require('./lib/harness');

const GUN = path.join(BUILD, 'gun');
const run = (args, input) => spawnSync(GUN, args, { input, env: childEnv(), maxBuffer: 1 << 28 });

// Raw GET of whole nodes: soul -> {values, states}. A relay may answer one GET with several
// replies (Gun.js: memory chunks of 8-9 keys plus a disk reply), so every reply that comes
// within the window is merged.
async function readNodes(url, souls) {
  const p = await rawPeer(url);
  const out = {};
  for (let k = 0; k < souls.length; k += 40) {
    const chunk = souls.slice(k, k + 40);
    for (const s of chunk) p.send({ '#': 'g-' + s, get: { '#': s } });
    await new Promise((r) => setTimeout(r, 700));
    for (const s of chunk) {
      let vals = null;
      let states = null;
      for (const rep of p.msgs.filter((m) => m['@'] === 'g-' + s && m.put && m.put[s])) {
        const node = rep.put[s];
        vals = vals || {};
        states = states || {};
        for (const key of Object.keys(node)) if (key !== '_') vals[key] = node[key];
        Object.assign(states, node._['>']);
      }
      out[s] = vals ? { vals, states } : null;
    }
  }
  p.close();
  return out;
}

// Gun.js clients keep sockets and timers alive: close their wires so the file can exit.
function closeClient(g) {
  const peers = (g && g._ && g._.opt && g._.opt.peers) || {};
  for (const k of Object.keys(peers)) {
    const p = peers[k];
    p.url = null; // stop Gun.js from reconnecting
    try { p.wire && p.wire.close(); } catch (e) { /* already closed */ }
  }
}

// What the Gun.js relay wrote, read with Gun.js's own RAD reader (lib/radisk + lib/rfs) from
// the stopped relay's folder, key by key. That, not the relay's GET replies, is the truth to
// compare with: reading a Gun.js relay back under load is unreliable (memory chunks and disk
// replies race), and the point is what RAD has on disk.
function readRadFolder(dir, expected) {
  const Radisk = require('gun/lib/radisk');
  const opt = { file: dir, log: () => {} };
  opt.store = require('gun/lib/rfs')(opt);
  const rad = Radisk(opt);
  const esc = String.fromCharCode(27);
  const jobs = [];
  for (const soul of Object.keys(expected)) {
    for (const key of Object.keys(expected[soul]).filter((k) => k !== '_')) {
      jobs.push(new Promise((res, rej) => rad(soul + esc + key, (err, data) => {
        if (err) return rej(new Error(`Gun.js RAD read of ${soul}.${key}: ${err}`));
        res([soul, key, data]);
      })));
    }
  }
  return Promise.all(jobs).then((rows) => {
    const out = {};
    for (const [soul, key, data] of rows) {
      if (!data || data['>'] === undefined) continue;
      const n = out[soul] || (out[soul] = { vals: {}, states: {} });
      n.vals[key] = data[':'];
      n.states[key] = data['>'];
    }
    return out;
  });
}

// Raw puts carry states chosen here (fractions, to check that states survive bit for bit);
// one put comes from a Gun.js client, with the client's own states.
function itemNodes(i) {
  const base = 1700000000000 + i * 1000;
  const node = (soul, vals, st) => ({ _: { '#': soul, '>': Object.fromEntries(Object.keys(vals).map((k, j) => [k, st + j + 0.25])) }, ...vals });
  return {
    [`item/${i}`]: node(`item/${i}`, {
      n: i, f: i / 7, neg: -i, s: `text ${i} ✓ 日本`, 'ключ': 'значение', 'emoji😀': '🎉',
      t: i % 2 === 0, nil: null, nested: { '#': `item/${i}/nested` },
    }, base),
    [`item/${i}/nested`]: node(`item/${i}/nested`, { depth: 1, deeper: { '#': `item/${i}/nested/deeper` } }, base + 100),
    [`item/${i}/nested/deeper`]: node(`item/${i}/nested/deeper`, { depth: 2, i }, base + 200),
  };
}

test('rad-import of a Gun.js radata folder serves the same values and states', { timeout: 120000 }, async () => {
  const gj = await startGunRelay();
  const expected = {};
  const unacked = [];
  try {
    const p = await rawPeer(gj.url);
    for (let i = 0; i < 40; i++) {
      const put = itemNodes(i);
      Object.assign(expected, JSON.parse(JSON.stringify(put))); // as sent: -0 is 0 in JSON
      p.send({ '#': `w${i}`, put });
      // Gun.js's relay now and then never acks a put (and does not ack a re-sent identical
      // one), so a missing ack is noted, not waited for: the disk is checked below.
      const ack = await p.reply(`w${i}`, 3000).catch(() => null);
      if (!ack) unacked.push(i);
      else assert.ok(!ack.err, `Gun.js relay refused item ${i}: ${ack.err}`);
    }
    p.close();
    const client = gunClient(gj.url);
    try {
      const acked = new Promise((res) => client.get('links').put({ first: { '#': 'item/0' }, last: { '#': 'item/39' }, when: 'now' }, res));
      await Promise.race([acked, new Promise((r) => setTimeout(r, 5000))]);
      expected.links = JSON.parse(JSON.stringify(client._.graph.links));
      assert.ok(expected.links._['>'].last > 0);
    } finally {
      closeClient(client);
    }
    // Past RAD's 250 ms write batching, so that everything sent is on disk.
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    await gj.stop();
  }
  if (unacked.length) console.log(`# Gun.js relay did not ack items ${unacked}`);
  const radDir = path.join(gj.dir, 'radata');
  const before = await readRadFolder(radDir, expected);
  const souls = Object.keys(before);
  // Every put Gun.js acked is on its disk, so the comparison below is not vacuous. Puts it did
  // not ack may be missing: with these souls Gun.js 0.2020.1241 drops items 10-13 (never acked,
  // never written; docs/compat.md).
  for (let i = 0; i < 40; i++) {
    if (unacked.includes(i)) continue;
    for (const s of Object.keys(itemNodes(i))) assert.ok(before[s], `Gun.js acked item ${i} but its RAD folder lacks ${s}`);
  }
  assert.ok(before.links, 'Gun.js\'s RAD folder lacks the links node');
  for (const s of souls) {
    const { _: meta, ...vals } = expected[s];
    if (Object.keys(before[s].vals).length !== Object.keys(vals).length) continue; // a Gun.js partial write
    assert.deepStrictEqual(before[s].vals, vals, `Gun.js wrote other values for ${s}`);
    assert.deepStrictEqual(before[s].states, meta['>'], `Gun.js wrote other states for ${s}`);
  }

  const dir = tmpdir('gun-radimport-');
  const r = run(['rad-import', radDir, '--data', dir]);
  assert.strictEqual(r.status, 0, r.stderr.toString());
  assert.match(r.stderr.toString(), /0 bad records/);

  const ours = await startRelay(['--store', 'lmdb', '--data', dir]);
  try {
    const after = await readNodes(ours.url, souls);
    for (const s of souls) {
      assert.ok(after[s], `node ${s} missing after rad-import`);
      assert.deepStrictEqual(after[s].vals, before[s].vals, `values of ${s}`);
      assert.deepStrictEqual(after[s].states, before[s].states, `states of ${s}`);
    }
    // And a Gun.js client reads through links.
    const c2 = gunClient(ours.url);
    try {
      const v = await new Promise((res) => c2.get('links').get('last').get('nested').get('deeper').get('i').once(res));
      assert.strictEqual(v, 39);
      const u = await new Promise((res) => c2.get('item/7').get('emoji😀').once(res));
      assert.strictEqual(u, '🎉');
    } finally {
      closeClient(c2);
    }
  } finally {
    await ours.stop();
  }
});

test('export -> import -> export is identical', { timeout: 60000 }, async () => {
  const dir = tmpdir('gun-export-');
  const relay = await startRelay(['--store', 'lmdb', '--data', dir]);
  const p = await rawPeer(relay.url);
  for (let i = 0; i < 50; i++) {
    const soul = `n${i}`;
    p.send({ '#': 'p' + i, put: { [soul]: { _: { '#': soul, '>': { a: 1700000000000 + i, 'é"\\\u0001': 1.5, l: 2, z: 3 } }, a: i, 'é"\\\u0001': 'x\ny', l: { '#': 'n0' }, z: null } } });
    await p.reply('p' + i, 10000);
  }
  p.close();
  await relay.stop();

  const e1 = run(['export', '--data', dir]);
  assert.strictEqual(e1.status, 0, e1.stderr.toString());
  assert.match(e1.stderr.toString(), /50 souls, 200 keys/);
  const graph = JSON.parse(e1.stdout.toString());
  assert.strictEqual(graph.n7.a, 7);
  assert.strictEqual(graph.n7._['>'].a, 1700000000007);

  const dir2 = tmpdir('gun-import-');
  const im = run(['import', '--data', dir2], e1.stdout);
  assert.strictEqual(im.status, 0, im.stderr.toString());
  assert.match(im.stderr.toString(), /50 nodes, 200 keys accepted/);
  const e2 = run(['export', '--data', dir2]);
  assert.strictEqual(e2.status, 0);
  assert.strictEqual(e2.stdout.toString(), e1.stdout.toString());
  // Importing again changes nothing (HAM: same states are ignored).
  const again = run(['import', '--data', dir2], e1.stdout);
  assert.strictEqual(again.status, 0);
  assert.match(again.stderr.toString(), /0 keys accepted, 200 ignored/);
  // The file store reads the same format.
  const dir3 = tmpdir('gun-import-file-');
  assert.strictEqual(run(['import', '--store', 'file', '--data', dir3], e1.stdout).status, 0);
  assert.strictEqual(run(['export', '--store', 'file', '--data', dir3]).stdout.toString(), e1.stdout.toString());
});

test('invalid input: exit 4, a clear message, valid data intact', { timeout: 60000 }, async () => {
  const dir = tmpdir('gun-import-bad-');
  const good = { ok: { _: { '#': 'ok', '>': { a: 1 } }, a: 'kept' } };
  assert.strictEqual(run(['import', '--data', dir], JSON.stringify(good)).status, 0);

  const notJson = run(['import', '--data', dir], '{"x": {"_": {"#": "x"');
  assert.strictEqual(notJson.status, 4);
  assert.match(notJson.stderr.toString(), /invalid JSON at byte \d+/);
  const notObj = run(['import', '--data', dir], '[1,2]');
  assert.strictEqual(notObj.status, 4);
  assert.match(notObj.stderr.toString(), /not a JSON object/);

  const mixed = '{"bad1":{"_":{"#":"other",">":{"a":1}},"a":1},' +
    '"bad2":{"_":{"#":"bad2",">":{}},"a":1},' +
    '"bad3":{"_":{"#":"bad3",">":{"a":1}},"a":[1]},' +
    '"good":{"_":{"#":"good",">":{"b":2}},"b":"yes"},' +
    '"ok":{"_":{"#":"ok",">":{"a":0}},"a":"older, ignored"}}';
  const m = run(['import', '--data', dir], mixed);
  assert.strictEqual(m.status, 4);
  const err = m.stderr.toString();
  assert.match(err, /node 'bad1'.*soul not same/);
  assert.match(err, /node 'bad2'.*no state/);
  assert.match(err, /node 'bad3'.*bad/);
  assert.match(err, /2 nodes, 1 keys accepted, 1 ignored .* 3 nodes rejected/);

  const ex = run(['export', '--data', dir]);
  assert.strictEqual(ex.status, 0);
  assert.deepStrictEqual(JSON.parse(ex.stdout.toString()), {
    good: { _: { '#': 'good', '>': { b: 2 } }, b: 'yes' },
    ok: { _: { '#': 'ok', '>': { a: 1 } }, a: 'kept' },
  });
  assert.strictEqual(run(['import']).status, 2);
  assert.strictEqual(run(['rad-import', '--data', dir]).status, 2);
  // A damaged RAD file is reported, the rest imported, exit 4.
  const rd = tmpdir('gun-rad-bad-');
  fs.writeFileSync(path.join(rd, '!'), '{"r\\u001bk":{"":{":":"v",">":5}}}');
  fs.writeFileSync(path.join(rd, 'x'), '{"broken');
  const ri = run(['rad-import', rd, '--data', tmpdir('gun-rad-bad-out-')]);
  assert.strictEqual(ri.status, 4);
  assert.match(ri.stderr.toString(), /skipped file 'x'/);
  assert.match(ri.stderr.toString(), /1 keys accepted/);
});

// Whatever a failed test left behind (Gun.js timers), the file's process must end.
test.after(() => { setTimeout(() => process.exit(process.exitCode || 0), 200).unref(); });
