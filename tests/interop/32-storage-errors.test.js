'use strict';
// Storage errors: a full store refuses writes with an err ack (never a false ok), keeps what
// it had, keeps serving reads; an unusable data directory is a clear error at start.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { startRelay, rawPeer, tmpdir, BUILD, childEnv } = require('./lib/harness');

const T0 = 1700000000000;

test('a full store answers err, loses nothing acknowledged, and keeps serving', { timeout: 60000 }, async () => {
  const dir = tmpdir('gun-full-');
  const cap = String(2 * 1024 * 1024);
  let relay = await startRelay(['--store', 'lmdb', '--data', dir, '--max-data', cap]);
  const okIds = [];
  const errs = [];
  try {
    const p = await rawPeer(relay.ws);
    const big = 'z'.repeat(20000);
    for (let i = 0; i < 400 && errs.length < 5; i++) {
      const id = 'f' + i;
      p.send({ '#': id, put: { ['full' + i]: { _: { '#': 'full' + i, '>': { v: T0 + i } }, v: big + i } } });
      const a = await p.reply(id, 10000);
      if (a.ok === true) okIds.push(i);
      else errs.push(a.err);
    }
    assert.ok(okIds.length > 10, `some writes fit (${okIds.length})`);
    assert.ok(errs.length >= 1, 'the cap was reached');
    for (const e of errs) assert.match(e, /storage/i);
    const health = await fetch(`http://127.0.0.1:${relay.port}/health`);
    assert.strictEqual(health.status, 503, 'unhealthy while commits fail');
    // reads still work
    p.send({ '#': 'r0', get: { '#': 'full0' } });
    const r0 = await p.wait((m) => m['@'] === 'r0' && m.put, 5000, 'read while full');
    assert.strictEqual(r0.put.full0.v, big + 0);
    p.close();
  } finally {
    await relay.stop();
  }
  // after a restart every acknowledged write is there
  relay = await startRelay(['--store', 'lmdb', '--data', dir, '--max-data', cap]);
  try {
    const q = await rawPeer(relay.ws);
    for (const i of okIds) {
      q.send({ '#': 'c' + i, get: { '#': 'full' + i, '.': 'v' } });
      const r = await q.wait((m) => m['@'] === 'c' + i, 5000, 'read back ' + i);
      assert.ok(r.put && r.put['full' + i].v === 'z'.repeat(20000) + i, `acknowledged write ${i} is there`);
    }
    q.close();
  } finally {
    await relay.stop();
  }
});

test('an unusable data directory is a clear error at start', { timeout: 30000 }, () => {
  const dir = tmpdir('gun-perm-');
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  for (const data of [path.join(file, 'sub'), file]) {
    const r = spawnSync(path.join(BUILD, 'gun'), ['relay', '--port', '0', '--store', 'lmdb', '--data', data],
      { encoding: 'utf8', timeout: 10000, env: childEnv() });
    assert.notStrictEqual(r.status, 0, 'refuses to start');
    assert.ok(r.stderr.includes(data), `names the path: ${r.stderr}`);
    assert.match(r.stderr, /not a directory|exists|permission|cannot/i);
  }
});
