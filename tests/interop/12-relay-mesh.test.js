'use strict';
// Relay to relay: a write on one relay reaches a reader on another, subscriptions carry later
// updates across, and a triangle of relays does not loop.
const test = require('node:test');
const assert = require('node:assert');
const { startRelay, gunClient, rawPeer, sleep, until } = require('./lib/harness');

const T0 = 1700000000000;
const once = (chain) => new Promise((resolve) => chain.once((v) => resolve(v)));

test('a client on relay 2 reads what a client on relay 1 wrote, and sees updates', { timeout: 60000 }, async () => {
  const r1 = await startRelay();
  const r2 = await startRelay(['--peers', r1.url]);
  try {
    const a = gunClient(r1.url);
    const b = gunClient(r2.url);
    await new Promise((resolve) => a.get('shared').put({ msg: 'hello' }, resolve));
    assert.strictEqual(await once(b.get('shared').get('msg')), 'hello');
    const seen = [];
    b.get('shared').get('msg').on((v) => seen.push(v));
    await sleep(300);
    a.get('shared').get('msg').put('update 1');
    await until(() => seen.includes('update 1'), 5000, 'update through two relays');
    a.get('shared').get('msg').put('update 2');
    await until(() => seen[seen.length - 1] === 'update 2', 5000, 'second update');
  } finally {
    await r2.stop();
    await r1.stop();
  }
});

test('a triangle of three relays does not loop', { timeout: 60000 }, async () => {
  const r1 = await startRelay();
  const r2 = await startRelay(['--peers', r1.url]);
  const r3 = await startRelay(['--peers', `${r1.url},${r2.url}`]);
  try {
    await sleep(1000); // let the dials settle
    const subs = [];
    for (const r of [r1, r2, r3]) {
      const p = await rawPeer(r.ws);
      p.send({ '#': 'sub' + r.port, get: { '#': 'tri' } });
      subs.push(p);
    }
    await sleep(500);
    const w = await rawPeer(r1.ws);
    w.send({ '#': 'tri1', put: { tri: { _: { '#': 'tri', '>': { v: T0 } }, v: 1 } } });
    await w.reply('tri1', 5000);
    // the change reaches the subscribers on every relay
    for (const p of subs) {
      await p.wait((m) => m.put && m.put.tri && m.put.tri.v === 1, 5000, 'change on ' + p.url);
    }
    await sleep(2500);
    // ...and then the mesh goes quiet: a loop would keep delivering copies
    const counts = subs.map((p) => p.msgs.filter((m) => m.put && m.put.tri).length);
    for (const c of counts) assert.ok(c >= 1 && c <= 4, `copies seen by a subscriber: ${counts}`);
    const before = subs.map((p) => p.msgs.length);
    await sleep(1500);
    assert.deepStrictEqual(subs.map((p) => p.msgs.length), before, 'no more frames after the change settled');
    for (const p of subs) p.close();
    w.close();
  } finally {
    await r3.stop();
    await r2.stop();
    await r1.stop();
  }
});

test('a relay told to peer with itself drops that connection and keeps serving', { timeout: 30000 }, async () => {
  const net = require('node:net');
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const r = await startRelay(['--port', String(port), '--peers', `http://127.0.0.1:${port}/gun`]);
  try {
    await until(() => /is ourselves/.test(r.stderr()), 5000, 'self-connection detected');
    await sleep(2500);
    // one detection, no reconnect loop
    const n = (r.stderr().match(/is ourselves/g) || []).length;
    assert.strictEqual(n, 1, r.stderr());
    const p = await rawPeer(r.ws);
    p.send({ '#': 'self1', put: { me: { _: { '#': 'me', '>': { x: T0 } }, x: 1 } } });
    assert.strictEqual((await p.reply('self1')).ok, true);
    p.close();
  } finally {
    await r.stop();
  }
});

test('PORT, PEERS and RAD=false are read from the environment as the Gun.js relay reads them', { timeout: 30000 }, async () => {
  const { spawn } = require('node:child_process');
  const path = require('node:path');
  const net = require('node:net');
  const { BUILD, childEnv } = require('./lib/harness');
  const r1 = await startRelay();
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const child = spawn(path.join(BUILD, 'gun'), ['relay', '--host', '127.0.0.1'],
    { env: childEnv({ PORT: String(port), PEERS: r1.url, RAD: 'false' }), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  try {
    await until(() => out.includes(`listening on ws://127.0.0.1:${port}/gun`), 5000, 'ready line with PORT');
    assert.ok(!/lmdb|radata/.test(err), 'RAD=false: no store directory used');
    const a = gunClient(r1.url);
    await new Promise((resolve) => a.get('envtest').put({ v: 'through PEERS' }, resolve));
    const b = gunClient(`http://127.0.0.1:${port}/gun`);
    const v = await new Promise((resolve) => b.get('envtest').get('v').once(resolve));
    assert.strictEqual(v, 'through PEERS');
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
    await r1.stop();
  }
});
