'use strict';
// The relay's SEA firewall verifies off the loop: a flood of signed puts from one peer does
// not hold up another peer, each peer's messages keep their order (a get sent after a put
// sees it; acks come in send order), and refusals still carry Gun.js's text.
const test = require('node:test');
const assert = require('node:assert');
const { startRelay, rawPeer } = require('./lib/harness');

require('gun/gun');
const SEA = require('gun/sea');

async function signedValue(soul, key, val, state, pair) {
  const s = await SEA.sign({ '#': soul, '.': key, ':': val, '>': state }, pair, null, { raw: 1 });
  return JSON.stringify({ ':': val, '~': s.s });
}

const node = (soul, key, val, state) => ({ [soul]: { _: { '#': soul, '>': { [key]: state } }, [key]: val } });

test('signed puts are verified off the loop, in order per peer', { timeout: 120000 }, async () => {
  const alice = await SEA.pair();
  const A = '~' + alice.pub, now = Date.now() - 1000;
  const N = 8000;
  // one signed value, sent N times under fresh ids: every copy costs the relay a verify
  const v = await signedValue(A, 'says', 'hello', now, alice);
  const relay = await startRelay();
  const a = await rawPeer(relay.ws), b = await rawPeer(relay.ws);
  try {
    const flood = [];
    for (let i = 0; i < N; i++) flood.push({ '#': 'f' + i, put: node(A, 'says', v, now) });
    // then, in the same frame, a newer value and a get of it: the get must see it
    const v2 = await signedValue(A, 'says', 'newer', now + 1, alice);
    flood.push({ '#': 'fput', put: node(A, 'says', v2, now + 1) });
    flood.push({ '#': 'fget', get: { '#': A, '.': 'says' } });
    flood.push({ '#': 'fbad', put: node(A, 'evil', 'unsigned', now) });
    const t0 = Date.now();
    a.send(flood);
    // b asks while a's frame is surely being worked on; a loop that verified inline would
    // answer b only once all of a's puts were checked
    await new Promise((r) => setTimeout(r, 50));
    const t1 = Date.now();
    b.send({ '#': 'b1', get: { '#': 'nothing-here' } });
    await b.reply('b1', 60000).catch(() => b.wait((m) => m['@'] === 'b1', 60000));
    const bRtt = Date.now() - t1;
    await a.reply('fput', 120000);
    const all = Date.now() - t0;
    if (process.env.GUN_TEST_VERBOSE) console.log(JSON.stringify({ bRtt, all }));
    assert.ok(bRtt * 3 < all, `b waited ${bRtt} ms while a's ${N} puts took ${all} ms`);

    const got = await a.wait((m) => m['@'] === 'fget' && m.put, 60000, 'get after the flood');
    assert.strictEqual(got.put[A].says, v2, 'the get saw the put sent before it');
    const bad = await a.reply('fbad', 60000);
    assert.strictEqual(bad.err, 'Unverified data.');
    // every accepted put acknowledged, in the order sent (a get's answer and a refusal do
    // not wait for the store, so they are not part of this order)
    await a.wait(() => a.msgs.filter((m) => typeof m['@'] === 'string' && /^f\d+$/.test(m['@'])).length === N, 60000, 'all acks');
    await a.reply('fput', 60000);
    const order = a.msgs.filter((m) => typeof m['@'] === 'string' && /^f(\d+|put)$/.test(m['@'])).map((m) => m['@']);
    const want = [...Array(N).keys()].map((i) => 'f' + i).concat(['fput']);
    assert.deepStrictEqual(order, want);
    assert.ok(a.msgs.filter((m) => /^f\d+$/.test(m['@'] || '')).every((m) => m.ok && !m.err), 'flood accepted');
  } finally {
    a.close();
    b.close();
    relay.stop();
  }
});
