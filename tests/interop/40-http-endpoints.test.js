'use strict';
// The relay's HTTP endpoints on its WebSocket port: /health, /stats, /metrics, and the
// counters moving with traffic.
const test = require('node:test');
const assert = require('node:assert');
const { startRelay, rawPeer, tmpdir } = require('./lib/harness');

const T0 = 1700000000000;

async function get(relay, path) {
  const r = await fetch(`http://127.0.0.1:${relay.port}${path}`);
  return { status: r.status, type: r.headers.get('content-type'), cors: r.headers.get('access-control-allow-origin'), body: await r.text() };
}

function metric(text, name) {
  const m = new RegExp(`^gun_${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

test('health, stats and metrics reflect traffic', { timeout: 30000 }, async () => {
  const relay = await startRelay(['--store', 'lmdb', '--data', tmpdir('gun-http-')]);
  try {
    const h = await get(relay, '/health');
    assert.strictEqual(h.status, 200);
    assert.deepStrictEqual(JSON.parse(h.body), { ok: true });
    assert.strictEqual(h.cors, '*');

    const s0 = JSON.parse((await get(relay, '/stats')).body);
    assert.strictEqual(typeof s0.version, 'string');
    assert.ok(s0.rss_bytes > 0);
    const m0 = (await get(relay, '/metrics')).body;

    const p = await rawPeer(relay.ws);
    for (let i = 0; i < 20; i++) {
      p.send({ '#': 'h' + i, put: { ['hs' + i]: { _: { '#': 'hs' + i, '>': { v: T0 } }, v: i } } });
    }
    await p.reply('h19');
    p.send({ '#': 'g1', get: { '#': 'hs3' } });
    await p.reply('g1');
    p.send('{bad json');
    await p.wait((m) => m.dam === '!');

    const s1 = JSON.parse((await get(relay, '/stats')).body);
    assert.strictEqual(s1.connections, 1);
    assert.strictEqual(s1.puts_total - s0.puts_total, 20);
    assert.strictEqual(s1.put_keys_accepted_total - s0.put_keys_accepted_total, 20);
    assert.strictEqual(s1.gets_total - s0.gets_total, 1);
    assert.strictEqual(s1.frames_rejected_json_total - s0.frames_rejected_json_total, 1);
    assert.ok(s1.messages_in_total - s0.messages_in_total >= 21);
    assert.ok(s1.bytes_in_total > s0.bytes_in_total);
    assert.ok(s1.writes_durable_batches_total >= 1);
    // Acked means durable: the store's own count holds all 20 keys, and its pages grew.
    assert.strictEqual(s0.store_keys, 0);
    assert.strictEqual(s1.store_keys, 20);
    assert.ok(s1.store_bytes > 0 && s1.store_bytes >= s0.store_bytes, `store_bytes ${s0.store_bytes} -> ${s1.store_bytes}`);

    const m1 = (await get(relay, '/metrics'));
    assert.match(m1.type, /^text\/plain; version=0.0.4/);
    assert.match(m1.body, /# TYPE gun_puts_total counter/);
    assert.strictEqual(metric(m1.body, 'puts_total') - metric(m0, 'puts_total'), 20);
    assert.strictEqual(metric(m1.body, 'connections'), 1);
    assert.strictEqual(metric(m1.body, 'store_keys'), 20);

    assert.strictEqual((await get(relay, '/nope')).status, 404);
    p.close();
  } finally {
    await relay.stop();
  }
});
