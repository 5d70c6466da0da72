'use strict';
// Two Gun.js clients (browser-like core) sync through a relay; the same scenarios run against
// our relay and the Gun.js relay and the observable outcomes are compared.
const test = require('node:test');
const assert = require('node:assert');
const { startRelay, startGunRelay, gunClient, sleep, until } = require('./lib/harness');

const once = (chain, wait) => new Promise((resolve) => chain.once((v, k) => resolve(v), wait ? { wait } : undefined));
const strip = (v) => {
  if (!v || typeof v !== 'object') return v;
  const o = {};
  for (const k of Object.keys(v).sort()) if (k !== '_') o[k] = v[k];
  return o;
};
const uniq = () => Math.random().toString(36).slice(2, 10);

async function scenarios(relay) {
  const out = {};
  const a = gunClient(relay.url);
  const b = gunClient(relay.url);
  const root = 'r' + uniq();

  // 1. 3-level nested put, read back with once() down the chain by the other client
  await new Promise((resolve) => a.get(root + 'bob').put({ name: 'Bob', car: { color: 'blue', wheels: { count: 4 } } }, resolve));
  out.nested = {
    name: await once(b.get(root + 'bob').get('name')),
    color: await once(b.get(root + 'bob').get('car').get('color')),
    count: await once(b.get(root + 'bob').get('car').get('wheels').get('count')),
  };

  // 2. on() sees successive updates and ends at the final value
  const seen = [];
  b.get(root + 'counter').get('n').on((v) => { seen.push(v); });
  await sleep(300);
  for (let i = 1; i <= 100; i++) {
    a.get(root + 'counter').get('n').put(i);
    await sleep(5);
  }
  await until(() => seen[seen.length - 1] === 100, 10000, 'on() reaches 100');
  out.onFinal = seen[seen.length - 1];
  out.onMonotone = seen.every((v, i) => i === 0 || v >= seen[i - 1]);

  // 3. 100 set() items all seen by map().once() on the other client
  const list = a.get(root + 'list');
  for (let i = 0; i < 100; i++) list.set({ title: 'item' + i });
  const items = new Set();
  b.get(root + 'list').map().once((v) => { if (v && v.title) items.add(v.title); });
  await until(() => items.size === 100, 15000, 'map().once() sees 100 items');
  out.setCount = items.size;

  // 4. null deletes
  await new Promise((resolve) => a.get(root + 'del').put({ x: 1, y: 2 }, resolve));
  await new Promise((resolve) => a.get(root + 'del').get('x').put(null, resolve));
  await sleep(200);
  out.afterDelete = strip(await once(b.get(root + 'del')));

  // 5. data under a ~pub-looking soul passes through unchanged (no SEA loaded: raw frames
  //    would be checked by the relay's firewall; a plain key is written by a Gun client)
  a.get('~' + root + 'notapub').put({ hello: 'world' });
  await sleep(300);
  out.tildeSoul = strip(await once(b.get('~' + root + 'notapub')));

  for (const g of [a, b]) {
    const peers = g._.opt.peers;
    for (const k of Object.keys(peers)) { const p = peers[k]; try { p.wire && p.wire.close(); } catch (e) { /* */ } }
  }
  return out;
}

test('Gun.js clients through our relay behave as through the Gun.js relay', { timeout: 120000 }, async () => {
  const gunjs = await startGunRelay();
  const ours = await startRelay();
  try {
    const rg = await scenarios(gunjs);
    const ro = await scenarios(ours);
    assert.deepStrictEqual(ro.nested, { name: 'Bob', color: 'blue', count: 4 });
    assert.strictEqual(ro.onFinal, 100);
    assert.ok(ro.onMonotone);
    assert.strictEqual(ro.setCount, 100);
    assert.deepStrictEqual(ro.afterDelete, { x: null, y: 2 });
    assert.deepStrictEqual(ro.tildeSoul, { hello: 'world' });
    assert.deepStrictEqual(ro, rg);
  } finally {
    await ours.stop();
    await gunjs.stop();
  }
});
