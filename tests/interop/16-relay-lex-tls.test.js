'use strict';
// Lex GETs (spec §3.5, with the `%` budget) and TLS (wss://) on our relay.
const test = require('node:test');
const assert = require('node:assert');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const WebSocket = require('ws');
const { startRelay, rawPeer, tmpdir, gunClient, sleep, until } = require('./lib/harness');

const T0 = 1700000000000;

test('lex queries: prefix, range, exact, reverse, with and without a % budget', { timeout: 30000 }, async () => {
  const relay = await startRelay();
  try {
    const a = await rawPeer(relay.ws);
    a.send({ '#': 'p', put: { alice: { _: { '#': 'alice', '>': { name: T0, age: T0, car: T0, bio: T0 } }, name: 'Alice', age: 30, car: { '#': 'alice/car' }, bio: 'x'.repeat(40) } } });
    await a.reply('p');
    const ask = async (id, get) => {
      a.send({ '#': id, get });
      const r = await a.reply(id);
      return r.put ? Object.keys(r.put.alice).filter((k) => k !== '_').sort() : null;
    };
    // no `%`: one item, as Gun.js's RAD serves it
    assert.deepStrictEqual(await ask('l1', { '#': 'alice', '.': { '*': 'a' } }), ['age']);
    assert.deepStrictEqual(await ask('l2', { '#': 'alice', '.': { '>': 'b', '<': 'd' } }), ['bio']);
    assert.deepStrictEqual(await ask('l3', { '#': 'alice', '.': { '=': 'name' } }), ['name']);
    // a budget: values count their length (9 for non-strings) until the sum reaches it
    // age 9 + bio 40 = 49 < 50, so car (9) is added and the count passes the budget
    assert.deepStrictEqual(await ask('l4', { '#': 'alice', '.': { '>': 'a' }, '%': 50 }), ['age', 'bio', 'car']);
    assert.deepStrictEqual(await ask('l4b', { '#': 'alice', '.': { '>': 'a' }, '%': 49 }), ['age', 'bio']);
    assert.deepStrictEqual(await ask('l5', { '#': 'alice', '.': { '>': 'a' }, '%': 100 }), ['age', 'bio', 'car', 'name']);
    // reverse walks from the top
    assert.deepStrictEqual(await ask('l6', { '#': 'alice', '.': { '>': 'a', '-': 1 } }), ['name']);
    // nothing in range: not found (an ack without put)
    assert.strictEqual(await ask('l7', { '#': 'alice', '.': { '*': 'zz' } }), null);
    a.close();
  } finally {
    await relay.stop();
  }
});

test('wss: the relay serves TLS with the given certificate and Gun.js clients sync over it', { timeout: 30000 }, async () => {
  const dir = tmpdir('gun-tls-');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  const relay = await startRelay(['--tls-cert', cert, '--tls-key', key]);
  try {
    // a raw wss peer gets the greeting
    const ws = new WebSocket(`wss://127.0.0.1:${relay.port}/gun`, { rejectUnauthorized: false });
    const hi = await new Promise((resolve, reject) => { ws.on('message', (d) => resolve(JSON.parse(d))); ws.on('error', reject); });
    assert.strictEqual(hi.dam, '?');
    ws.terminate();
    // plain ws:// on the TLS port is refused
    await assert.rejects(new Promise((resolve, reject) => {
      const p = new WebSocket(`ws://127.0.0.1:${relay.port}/gun`);
      p.on('open', () => { p.terminate(); resolve(); });
      p.on('error', reject);
      p.on('close', () => reject(new Error('closed')));
    }));
    // Gun.js clients over wss
    const TlsWS = class extends WebSocket { constructor(url) { super(url, { rejectUnauthorized: false }); } };
    const url = `https://127.0.0.1:${relay.port}/gun`;
    const c1 = gunClient(url, { WebSocket: TlsWS });
    const c2 = gunClient(url, { WebSocket: TlsWS });
    await new Promise((resolve) => c1.get('tls').put({ secure: 'yes' }, resolve));
    const got = await new Promise((resolve) => c2.get('tls').get('secure').once(resolve));
    assert.strictEqual(got, 'yes');
    // a plain relay dials the TLS one over wss:// and reads through it
    const r2 = await startRelay(['--peers', url, '--tls-insecure-peers']);
    try {
      // Its dial (TLS handshake included) must be up before it can read through: a GET that
      // comes first has no peer to go to, and Gun.js's once settles on undefined.
      await until(async () => (await (await fetch(`http://127.0.0.1:${r2.port}/stats`)).json()).connections >= 1, 15000, 'relay dialed the TLS relay');
      const c3 = gunClient(r2.url);
      const via = await new Promise((resolve) => c3.get('tls').get('secure').once(resolve));
      assert.strictEqual(via, 'yes');
    } finally {
      await r2.stop();
    }
  } finally {
    await relay.stop();
  }
});
