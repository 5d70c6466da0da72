'use strict';
// Raw Gun frames against our relay and the Gun.js relay, side by side: greeting, put/ack,
// get whole/key/missing, batches, duplicate ids, heartbeats, dam "?".
const test = require('node:test');
const assert = require('node:assert');
const { startRelay, startGunRelay, rawPeer, sleep } = require('./lib/harness');

const T0 = 1700000000000;
const alice = {
  alice: { _: { '#': 'alice', '>': { name: T0, age: T0, car: T0 } }, name: 'Alice', age: 30, car: { '#': 'alice/car' } },
  'alice/car': { _: { '#': 'alice/car', '>': { color: T0 + 0.5 } }, color: 'red' },
};

// Java String.hashCode over UTF-16 units of the sorted JSON, as Gun's `##`.
function sortedJSON(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(sortedJSON).join(',') + ']';
  return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + sortedJSON(v[k])).join(',') + '}';
}
function hash(s) { let c = 0; for (let i = 0; i < s.length; i++) { c = ((c << 5) - c) + s.charCodeAt(i); c |= 0; } return c; }

async function scenario(relay) {
  const out = {};
  const a = await rawPeer(relay.ws);
  const hi = await a.wait((m) => m.dam === '?', 3000, 'greeting');
  out.greeting = typeof hi['#'] === 'string' && typeof hi.pid === 'string' && !hi['@'];

  a.send({ '#': 'put1', put: alice });
  const ack = await a.reply('put1', 3000);
  out.putAck = ack.ok === true && !ack.err;

  a.send({ '#': 'get1', get: { '#': 'alice' } });
  const r1 = await a.wait((m) => m['@'] === 'get1' && m.put, 3000, 'get whole');
  out.getWhole = r1.put.alice;
  out.getWholeHashOk = r1['##'] === hash(sortedJSON(r1.put));

  a.send({ '#': 'get2', get: { '#': 'alice', '.': 'name' } });
  const r2 = await a.wait((m) => m['@'] === 'get2' && m.put, 3000, 'get key');
  out.getKey = r2.put;

  a.send({ '#': 'get3', get: { '#': 'nobody' } });
  const r3 = await a.reply('get3', 3000);
  out.missingSoul = !('put' in r3);
  a.send({ '#': 'get4', get: { '#': 'alice', '.': 'zzz' } });
  const r4 = await a.reply('get4', 3000);
  out.missingKey = !('put' in r4);

  // dam "?" from the client is answered with our pid, in reply
  a.send({ '#': 'hi1', dam: '?', pid: 'RAWCLIENT1' });
  const r5 = await a.reply('hi1', 3000);
  out.damReply = r5.dam === '?' && r5.pid === hi.pid;

  // a batch: a put and a get in one frame, then a heartbeat
  a.send([{ '#': 'b1', put: { bob: { _: { '#': 'bob', '>': { name: T0 } }, name: 'Bob' } } }, { '#': 'b2', get: { '#': 'bob' } }]);
  a.send('[]');
  const r6 = await a.reply('b1', 3000);
  const r7 = await a.wait((m) => m['@'] === 'b2' && m.put, 3000, 'batch get');
  out.batch = r6.ok === true && r7.put.bob.name === 'Bob';

  // a duplicate id is dropped: one ack only
  const dupPut = { '#': 'dup1', put: { carl: { _: { '#': 'carl', '>': { n: T0 } }, n: 1 } } };
  a.send(dupPut);
  a.send(dupPut);
  await a.reply('dup1', 3000);
  await sleep(600);
  out.dupAcks = a.msgs.filter((m) => m['@'] === 'dup1').length;

  // equal state, greater value wins and is pushed to the subscriber (we did get alice)
  a.send({ '#': 'eq2', put: { alice: { _: { '#': 'alice', '>': { name: T0 } }, name: 'Zed' } } });
  const push = await a.wait((m) => !m['@'] && m.put && m.put.alice && m.put.alice.name === 'Zed', 3000, 'push');
  out.push = { hasOk: !!push.ok, put: push.put };
  a.close();
  return out;
}

test('raw frames: our relay and the Gun.js relay agree', async (t) => {
  const gunjs = await startGunRelay();
  const ours = await startRelay();
  try {
    const [rg, ro] = [await scenario(gunjs), await scenario(ours)];
    for (const r of [rg, ro]) {
      assert.ok(r.greeting, 'greets with dam ?');
      assert.ok(r.putAck, 'acks the put');
      assert.deepStrictEqual(r.getWhole, alice.alice);
      assert.ok(r.getWholeHashOk, '## is the hash of the sorted put');
      assert.deepStrictEqual(r.getKey, { alice: { _: { '#': 'alice', '>': { name: T0 } }, name: 'Alice' } });
      assert.ok(r.missingSoul && r.missingKey, 'not found is an ack without put');
      assert.ok(r.damReply, 'dam ? answered with pid');
      assert.ok(r.batch, 'batch handled');
      assert.strictEqual(r.dupAcks, 1, 'duplicate id dropped');
      assert.ok(r.push.hasOk);
      assert.deepStrictEqual(r.push.put, { alice: { _: { '#': 'alice', '>': { name: T0 } }, name: 'Zed' } });
    }
    assert.deepStrictEqual(ro, rg);
  } finally {
    await ours.stop();
    await gunjs.stop();
  }
});

// Two updates of one key in one batch frame reach the relay in one loop turn (and, for ours,
// one group commit). A subscriber must get both pushes, in order: coalescing them into one
// push of the newer value skipped an update (bench fanout, docs/performance.md). The Gun.js
// relay runs the same frames for comparison.
test('two updates of one key in one frame: the subscriber sees both, in order', async () => {
  const seen = {};
  for (const relay of [await startGunRelay(), await startRelay()]) {
    try {
      const s = await rawPeer(relay.url);
      const w = await rawPeer(relay.url);
      const now = Date.now();
      w.send({ '#': 'seed', put: { rep: { _: { '#': 'rep', '>': { v: now - 3000 } }, v: 'seed' } } });
      await w.reply('seed', 5000);
      s.send({ '#': 'sub', get: { '#': 'rep' } });
      await s.reply('sub', 5000);
      w.send([
        { '#': 'a1', put: { rep: { _: { '#': 'rep', '>': { v: now - 2000 } }, v: 'first' } } },
        { '#': 'b1', put: { rep: { _: { '#': 'rep', '>': { v: now - 1000 } }, v: 'second' } } },
      ]);
      await w.reply('a1', 5000);
      await w.reply('b1', 5000);
      await s.wait((m) => m.put && m.put.rep && m.put.rep.v === 'second', 5000, 'push of second');
      await sleep(300);
      seen[relay.kind] = s.msgs.filter((m) => m.put && m.put.rep && !m['@']).map((m) => m.put.rep.v);
      s.close();
      w.close();
    } finally {
      await relay.stop();
    }
  }
  assert.deepStrictEqual(seen.ours, ['first', 'second']);
  // Gun.js pushes only the newer value here (docs/compat.md); a Gun.js client given both
  // applies HAM and ends on the same value, so pushing every update is safe to prefer.
  assert.strictEqual(seen.gunjs[seen.gunjs.length - 1], 'second');
});

// A subscriber that does not read for a while still gets every push, in order; pushes made in
// one loop turn (here: a writer's Gun batch of 30 puts) leave as Gun batch frames ("[a,b,...]",
// spec §3.10) rather than one frame each. The relay writes to a subscriber as soon as the
// kernel takes it, so how much waits in the relay's own queue (and is joined there) depends on
// the kernel's socket buffers (MBs on loopback); test_ws.c checks that joining directly.
test('a subscriber that falls behind gets every push, in order, in batch frames', async () => {
  const relay = await startRelay();
  try {
    const s = await rawPeer(relay.url);
    const w = await rawPeer(relay.url);
    const now = Date.now();
    w.send({ '#': 'seed', put: { slow: { _: { '#': 'slow', '>': { v: now - 10000 } }, v: -1 } } });
    await w.reply('seed', 5000);
    s.send({ '#': 'sub', get: { '#': 'slow' } });
    await s.reply('sub', 5000);
    s.ws._socket.pause(); // stop reading: the relay's queue for s fills
    const pad = 'x'.repeat(1000); // 300 kB of pushes: more than the socket buffers take
    for (let j = 0; j < 300; j += 30) {
      const batch = [];
      for (let i = j; i < j + 30; i++)
        batch.push({ '#': 'u' + i, put: { slow: { _: { '#': 'slow', '>': { v: now - 5000 + i, pad: now - 5000 + i } }, v: i, pad } } });
      w.send(JSON.stringify(batch));
    }
    await w.reply('u299', 10000);
    await sleep(200);
    s.ws._socket.resume();
    await s.wait((m) => m.put && m.put.slow && m.put.slow.v === 299, 10000, 'last push');
    const vals = s.msgs.filter((m) => m.put && m.put.slow && !m['@']).map((m) => m.put.slow.v);
    assert.deepStrictEqual(vals, Array.from({ length: 300 }, (_, i) => i), 'every push, in order');
    // 10 writer frames of 30 puts: at most a first push and a few pack-sized (9 kB) batches each
    assert.ok(s.frames.length <= 2 + 10 * 6, `${s.frames.length} frames`);
    s.close();
    w.close();
  } finally {
    await relay.stop();
  }
});
