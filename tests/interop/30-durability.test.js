'use strict';
// Durability: a writer streams puts (5,000 and more, over 50 nodes) and records every ack; the relay is killed with SIGKILL
// at a random moment; after a restart on the same directory every acknowledged put reads
// back with its value and state. Five kills at different moments, for each persistent
// store. Zero lost is the only pass.
const test = require('node:test');
const assert = require('node:assert');
const { startRelay, rawPeer, tmpdir, sleep } = require('./lib/harness');

const T0 = 1700000000000;
// LMDB is the relay's default: five kills, and at least one run streams 5,000 puts. The
// file store rewrites a whole node file (fsync + rename) per commit, ~30-70 durable batches/s
// (docs/storage.md), so its runs stream fewer puts in the same time.
const PLAN = {
  lmdb: { runs: 5, minPuts: 5000, killAtSent: [5000, 15000] },
  file: { runs: 5, minPuts: 300, killMs: [300, 1500] },
};
const MAX_PUTS = 20000;

// The kill comes after killAfterMs, or once killAtSent puts are out plus a random 0-30 ms
// (so it lands anywhere in a commit, not just after an ack).
async function crashRun(store, dir, run, killAfterMs, killAtSent) {
  let relay = await startRelay(['--store', store, '--data', dir]);
  const w = await rawPeer(relay.ws);
  const acked = new Set();
  const sent = [];
  let dead = false;
  w.ws.on('message', () => {
    for (const m of w.msgs.splice(0)) {
      if (m['@'] && m.ok === true) acked.add(m['@']);
    }
  });
  w.closed.then(() => { dead = true; });
  let sentEnough;
  const enough = new Promise((r) => { sentEnough = r; });
  const killer = (killAtSent ? enough.then(() => sleep(Math.floor(Math.random() * 30))) : sleep(killAfterMs))
    .then(() => relay.stop('SIGKILL'));
  // Stream puts with a window of outstanding ones until the relay dies, and at least
  // as many as it can while it lives.
  let i = 0;
  while (!dead && i < MAX_PUTS) {
    while (!dead && i - acked.size < 256 && i < MAX_PUTS) {
      const soul = `crash${run}/${i % 50}`;
      const key = `k${i}`;
      const v = `value ${i} ` + 'x'.repeat(i % 50);
      const st = T0 + run * 1e6 + i + (i % 7) / 999;
      const id = `r${run}p${i}`;
      sent.push({ id, soul, key, v, st });
      if (killAtSent && i + 1 === killAtSent) sentEnough();
      try { w.send({ '#': id, put: { [soul]: { _: { '#': soul, '>': { [key]: st } }, [key]: v } } }); } catch (e) { dead = true; }
      i++;
    }
    await sleep(1);
  }
  await killer;
  assert.ok(sent.length >= 1, 'sent something');

  relay = await startRelay(['--store', store, '--data', dir]);
  const r = await rawPeer(relay.ws);
  const byId = new Map(sent.map((s) => [s.id, s]));
  const want = [...acked].map((id) => byId.get(id));
  const lost = [];
  for (let k = 0; k < want.length; k += 500) {
    const chunk = want.slice(k, k + 500);
    for (const s of chunk) r.send({ '#': 'g' + s.id, get: { '#': s.soul, '.': s.key } });
    for (const s of chunk) {
      const rep = await r.wait((m) => m['@'] === 'g' + s.id, 10000, 'read back ' + s.id);
      const node = rep.put && rep.put[s.soul];
      if (!node || node[s.key] !== s.v || node._['>'][s.key] !== s.st) lost.push({ s, got: rep.put });
    }
  }
  r.close();
  await relay.stop();
  return { sent: sent.length, acked: acked.size, lost };
}

for (const store of ['lmdb', 'file']) {
  test(`SIGKILL at random moments loses no acknowledged write (${store})`, { timeout: 300000 }, async (t) => {
    const dir = tmpdir(`gun-crash-${store}-`);
    let totalAcked = 0;
    let maxSent = 0;
    let minSent = Infinity;
    const plan = PLAN[store];
    for (let run = 0; run < plan.runs; run++) {
      const pick = (r) => r[0] + Math.floor(Math.random() * (r[1] - r[0]));
      const killAfter = plan.killMs ? pick(plan.killMs) : 0;
      const killAt = plan.killAtSent ? pick(plan.killAtSent) : 0;
      const res = await crashRun(store, dir, run, killAfter, killAt);
      totalAcked += res.acked;
      maxSent = Math.max(maxSent, res.sent);
      minSent = Math.min(minSent, res.sent);
      assert.deepStrictEqual(res.lost.slice(0, 3), [], `run ${run} (kill ${killAt ? 'after ' + killAt + ' puts' : 'after ' + killAfter + ' ms'}): ${res.lost.length} of ${res.acked} acked puts lost`);
      t.diagnostic(`${store} run ${run}: kill ${killAt ? 'after ' + killAt + ' puts' : 'after ' + killAfter + ' ms'}, ${res.sent} sent, ${res.acked} acked, 0 lost`);
    }
    assert.ok(totalAcked > 0, 'some puts were acknowledged');
    assert.ok(plan.killAtSent ? minSent >= plan.minPuts : maxSent >= plan.minPuts, `a run streamed at least ${plan.minPuts} puts (max ${maxSent})`);
  });
}
