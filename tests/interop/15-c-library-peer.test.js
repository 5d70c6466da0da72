'use strict';
// Our C library as a Gun peer (tests/interop/c_peer.c, public gun.h API only): as a client of
// the Gun.js relay and of our relay (same scenario, outcomes compared), offline writes kept
// and re-sent when a relay comes up, an embedded relay (super_peer + port) serving Gun.js
// clients, the message_predicate, and examples/two_clients against both relays.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const net = require('node:net');
const { spawn } = require('node:child_process');
const { BUILD, childEnv, startRelay, startGunRelay, gunClient, sleep, until } = require('./lib/harness');

const uniq = () => Math.random().toString(36).slice(2, 10);
const strip = (v) => {
  if (!v || typeof v !== 'object') return v;
  const o = {};
  for (const k of Object.keys(v).sort()) if (k !== '_') o[k] = v[k];
  return o;
};
// Gun.js once(), or TIMEOUT when it never answers.
const TIMEOUT = Symbol('timeout');
const once = (chain, ms) => new Promise((resolve) => {
  const t = setTimeout(() => resolve(TIMEOUT), ms || 5000);
  chain.once((v) => { clearTimeout(t); resolve(v); });
});
const put = (chain, data) => new Promise((resolve) => chain.put(data, resolve));
const NESTED = { name: 'Bob', car: { color: 'blue', wheels: { count: 4 } } };

// Closes a Gun.js client for good: forgetting the peer first stops Gun.js's reconnect timer.
function closeGun(g) {
  const peers = g._.opt.peers;
  for (const k of Object.keys(peers)) {
    const p = peers[k];
    delete peers[k];
    try { p.wire && p.wire.close(); } catch (e) { /* already closed */ }
  }
}

// A port nobody listens on (taken from the OS, then released).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Every c_peer started, so a failed test cannot leave one running.
const children = new Set();
test.after(() => { for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL'); });

// Drives build/c_peer: cmd() returns the command's number n, which tags every line it causes.
class CPeer {
  constructor(args) {
    this.events = [];
    this.waiters = [];
    this.n = 0;
    this.err = '';
    this.garbage = [];
    this.child = spawn(path.join(BUILD, 'c_peer'), args, { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() });
    children.add(this.child);
    let buf = '';
    this.child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        // Only c_peer prints here: anything else means the library wrote to stdout.
        try { this.events.push(JSON.parse(line)); } catch (e) { this.garbage.push(line); }
      }
      this.waiters = this.waiters.filter((w) => !w.check());
    });
    this.child.stderr.on('data', (d) => { this.err += d; if (process.env.GUN_TEST_VERBOSE) process.stderr.write(d); });
    this.child.stdin.on('error', () => { /* it exited; quit() reports how */ });
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }
  cmd(line) { this.child.stdin.write(line + '\n'); return ++this.n; }
  wait(pred, ms, what) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          const e = this.events.find(pred);
          if (e) { clearTimeout(w.t); resolve(e); return true; }
          return false;
        },
      };
      if (w.check()) return;
      w.t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`c_peer: timeout waiting for ${what}; got ${JSON.stringify(this.events).slice(-2000)} ${this.err.slice(-1000)}`));
      }, ms || 5000);
      this.waiters.push(w);
    });
  }
  reply(ev, n, ms) { return this.wait((e) => e.ev === ev && e.n === n, ms, `${ev} for command ${n}`); }
  async ready() { return (await this.wait((e) => e.ev === 'ready', 15000, 'ready')).port; }
  // Runs a command and resolves with its (first) answer line.
  async ask(line, ev, ms) { return this.reply(ev, this.cmd(line), ms); }
  async quit() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return (this.status = this.child.exitCode);
    this.child.stdin.end('quit\n');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    const code = await this.exited;
    clearTimeout(t);
    this.status = code;
    return code;
  }
}

function assertClean(c) {
  assert.strictEqual(c.status, 0, `c_peer exit status; stderr: ${c.err.slice(-2000)}`);
  assert.deepStrictEqual(c.garbage, [], 'stdout carries only c_peer\'s JSON lines');
}

// The C library as a client of `relay`: both directions of sync, subscriptions, peer acks.
async function clientScenario(relay) {
  const out = {};
  const root = 'c' + uniq();
  const c = new CPeer(['--peer', relay.url, '--ack-timeout', '4000']);
  const g = gunClient(relay.url);
  try {
    await c.ready();
    const con = await c.ask('wait-connected 5000', 'connected', 6000);
    out.connected = { rc: con.rc, peers: con.peers };

    // C writes a nested object; the relay's ack reaches the C callback.
    const ack = await c.ask(`put ${root}bob ${JSON.stringify(NESTED)}`, 'ack', 6000);
    out.putAck = { err: ack.err, ok: ack.ok, soul: ack.soul };
    // A Gun.js client reads it down the chain.
    out.gunjsReads = {
      name: await once(g.get(root + 'bob').get('name')),
      color: await once(g.get(root + 'bob').get('car').get('color')),
      count: await once(g.get(root + 'bob').get('car').get('wheels').get('count')),
    };

    // A Gun.js client writes; C reads it with once (node and leaf).
    const gack = await put(g.get(root + 'alice'), { name: 'Alice', age: 30, pet: { kind: 'cat' } });
    out.gunjsAckErr = gack.err;
    // First read of that node by C goes down a link only the relay knows (alice -> alice/pet).
    out.cOnceViaLink = (await c.ask(`once ${root}alice/pet/kind`, 'once', 6000)).data;
    const node = await c.ask(`once ${root}alice`, 'once', 6000);
    out.cOnceNode = strip(node.data);
    out.cOnceNodeSoul = node.data && node.data._ && node.data._['#'];
    out.cOncePetLinksTo = out.cOnceNode && out.cOnceNode.pet && out.cOnceNode.pet['#'] === root + 'alice/pet';
    if (out.cOnceNode) delete out.cOnceNode.pet;
    out.cOnceLeaf = (await c.ask(`once ${root}alice/name`, 'once', 6000)).data;
    out.cOnceMissing = (await c.ask(`once ${root}nobody`, 'once', 6000)).data;

    // C subscribes; later Gun.js writes reach its on() callback.
    const onN = c.cmd(`on ${root}live/n`);
    const onNode = c.cmd(`on ${root}live`);
    await sleep(300);
    const seen = () => c.events.filter((e) => e.ev === 'on' && e.n === onN).map((e) => e.data);
    g.get(root + 'live').get('n').put(1);
    await until(() => seen().includes(1), 5000, 'C on() sees the first update');
    for (let i = 2; i <= 5; i++) { g.get(root + 'live').get('n').put(i); await sleep(40); }
    await until(() => seen()[seen().length - 1] === 5, 5000, 'C on() reaches 5');
    await sleep(200); // nothing older may arrive after the last value
    out.onFinal = seen()[seen().length - 1];
    out.onMonotone = seen().every((v, i, a) => i === 0 || v >= a[i - 1]);
    await until(() => c.events.some((e) => e.ev === 'on' && e.n === onNode && e.data && e.data.n === 5), 5000, 'node on() sees n = 5');
    out.onNodeKeys = strip(c.events.filter((e) => e.ev === 'on' && e.n === onNode).pop().data);

    // C maps over a set that a Gun.js client fills.
    const mapN = c.cmd(`on ${root}list/*`);
    await sleep(300);
    for (const t of ['one', 'two', 'three']) g.get(root + 'list').set({ title: t });
    const titles = () => [...new Set(c.events.filter((e) => e.ev === 'on' && e.n === mapN && e.data).map((e) => e.data.title))].sort();
    await until(() => titles().length === 3, 5000, 'C map().on() sees 3 set items');
    out.mapTitles = titles();
  } finally {
    closeGun(g);
    await c.quit();
    out.exit = c.status;
    out.garbage = c.garbage;
  }
  return out;
}

test('C library as a client of the Gun.js relay and of our relay', { timeout: 40000 }, async () => {
  const gunjs = await startGunRelay();
  const ours = await startRelay();
  try {
    const [rg, ro] = await Promise.all([clientScenario(gunjs), clientScenario(ours)]);
    for (const r of [rg, ro]) {
      assert.deepStrictEqual(r.connected, { rc: 0, peers: 1 });
      assert.strictEqual(r.putAck.err, 0, 'the put is acknowledged');
      assert.ok(r.putAck.ok === true || r.putAck.ok === 1, `the peer's ok: ${JSON.stringify(r.putAck.ok)}`);
      assert.match(r.putAck.soul, /bob$/);
      assert.deepStrictEqual(r.gunjsReads, { name: 'Bob', color: 'blue', count: 4 });
      assert.strictEqual(r.gunjsAckErr, undefined);
      assert.strictEqual(r.cOnceViaLink, 'cat');
      assert.deepStrictEqual(r.cOnceNode, { age: 30, name: 'Alice' });
      assert.strictEqual(r.cOncePetLinksTo, true, 'pet is a link to its path soul');
      assert.match(r.cOnceNodeSoul, /alice$/);
      assert.strictEqual(r.cOnceLeaf, 'Alice');
      assert.strictEqual(r.cOnceMissing, null);
      assert.strictEqual(r.onFinal, 5);
      assert.ok(r.onMonotone, 'updates arrive in order');
      assert.deepStrictEqual(r.onNodeKeys, { n: 5 });
      assert.deepStrictEqual(r.mapTitles, ['one', 'three', 'two']);
      assert.strictEqual(r.exit, 0, 'c_peer closes cleanly');
      assert.deepStrictEqual(r.garbage, []);
    }
    // Same observable outcomes through either relay (souls carry the random root).
    const norm = (r) => JSON.parse(JSON.stringify(r).replace(/"c[a-z0-9]{1,8}(bob|alice)"/g, '"$1"'));
    assert.deepStrictEqual(norm(ro), norm(rg));
  } finally {
    await ours.stop();
    await gunjs.stop();
  }
});

test('a put whose peer never answers reports GUN_ETIMEDOUT to its callback', { timeout: 15000 }, async () => {
  const port = await freePort();
  const c = new CPeer(['--peer', `http://127.0.0.1:${port}/gun`, '--ack-timeout', '600']);
  try {
    await c.ready();
    const t0 = Date.now();
    const ack = await c.ask('put lonely {"a":1}', 'ack', 5000);
    const took = Date.now() - t0;
    assert.strictEqual(ack.err, -3, `expected GUN_ETIMEDOUT, got ${JSON.stringify(ack)}`);
    assert.strictEqual(ack.err_text, 'Error: No ACK yet.', "Gun.js's words for a missing ack");
    assert.strictEqual(ack.ok, null);
    assert.ok(took >= 500, `the timeout fired after ${took} ms, not the 600 ms asked for`);
    // The write itself is kept locally.
    const got = await c.ask('get lonely/a 2000', 'get', 4000);
    assert.deepStrictEqual({ rc: got.rc, data: got.data }, { rc: 0, data: 1 });
  } finally {
    await c.quit();
  }
  assertClean(c);
});

// C writes with no relay up; the relay starts later on a port chosen beforehand.
async function offlineScenario(kind) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/gun`;
  const root = 'off' + uniq();
  const c = new CPeer(['--peer', url, '--ack-timeout', '20000']);
  let relay;
  let g;
  try {
    await c.ready();
    const con = await c.ask('wait-connected 300', 'connected', 3000);
    assert.deepStrictEqual({ rc: con.rc, peers: con.peers }, { rc: -3, peers: 0 }, 'no relay yet');
    const nPut = c.cmd(`put ${root} {"msg":"written offline","car":{"color":"red"}}`);
    const nSet = c.cmd(`set ${root}list {"title":"offline item"}`);
    // A subscription made while offline is sent once a relay is there.
    const nOn = c.cmd(`on ${root}news/v`);
    await sleep(400);
    assert.ok(!c.events.some((e) => e.ev === 'ack'), 'nobody acknowledged the writes while offline');
    relay = kind === 'ours' ? await startRelay(['--port', String(port)]) : await startGunRelay({ port });
    // The relay acknowledges the re-sent writes.
    const ackPut = await c.reply('ack', nPut, 10000);
    const ackSet = await c.reply('ack', nSet, 10000);
    assert.strictEqual(ackPut.err, 0);
    assert.strictEqual(ackSet.err, 0);
    g = gunClient(relay.url);
    assert.strictEqual(await once(g.get(root).get('msg')), 'written offline');
    assert.strictEqual(await once(g.get(root).get('car').get('color')), 'red');
    const items = [];
    g.get(root + 'list').map().once((v) => { if (v && v.title) items.push(v.title); });
    await until(() => items.length === 1, 5000, 'the set item made offline');
    assert.deepStrictEqual(items, ['offline item']);
    // The offline subscription now carries a Gun.js client's write to C.
    g.get(root + 'news').get('v').put('news after connect');
    const news = await c.wait((e) => e.ev === 'on' && e.n === nOn && e.data === 'news after connect', 5000, 'on() made offline');
    assert.strictEqual(news.key, 'v');
  } finally {
    if (g) closeGun(g);
    await c.quit();
    if (relay) await relay.stop();
  }
  assertClean(c);
}

test('writes made while no relay is up reach a Gun.js client once our relay starts', { timeout: 20000 }, () => offlineScenario('ours'));
test('writes made while no relay is up reach a Gun.js client once the Gun.js relay starts', { timeout: 20000 }, () => offlineScenario('gunjs'));

test('embedded relay: two Gun.js clients sync through a C super peer', { timeout: 20000 }, async () => {
  const c = new CPeer(['--super', '--host', '127.0.0.1', '--port', '0']);
  const root = 'emb' + uniq();
  let a;
  let b;
  try {
    const port = await c.ready();
    assert.ok(port > 0, `gun_port after port 0: ${port}`);
    const url = `http://127.0.0.1:${port}/gun`;
    a = gunClient(url);
    b = gunClient(url);
    // Nested write from a, acknowledged by the C peer, read down the chain by b.
    const ack = await put(a.get(root + 'bob'), NESTED);
    assert.strictEqual(ack.err, undefined);
    assert.ok(ack.ok, `ack from the C super peer: ${JSON.stringify(ack.ok)}`);
    assert.strictEqual(await once(b.get(root + 'bob').get('name')), 'Bob');
    assert.strictEqual(await once(b.get(root + 'bob').get('car').get('color')), 'blue');
    assert.strictEqual(await once(b.get(root + 'bob').get('car').get('wheels').get('count')), 4);
    // The C peer holds it in its own graph.
    assert.strictEqual((await c.ask(`once ${root}bob/car/wheels/count`, 'once')).data, 4);
    assert.strictEqual(Number((await c.ask('peers', 'peers')).count), 2);

    // b subscribes; a's later writes are pushed to it through the C peer.
    const seen = [];
    b.get(root + 'live').get('n').on((v) => seen.push(v));
    await sleep(300);
    for (let i = 1; i <= 5; i++) { a.get(root + 'live').get('n').put(i); await sleep(40); }
    await until(() => seen[seen.length - 1] === 5, 5000, 'b sees 5 through the C relay');

    // A write made by the C peer itself reaches b's subscription and a's read.
    b.get(root + 'fromc').get('hi').on((v) => seen.push('fromc:' + v));
    await sleep(300);
    const cack = await c.ask(`put ${root}fromc {"hi":"from C"}`, 'ack');
    assert.strictEqual(cack.err, 0);
    await until(() => seen.includes('fromc:from C'), 5000, 'b sees the C write');
    assert.strictEqual(await once(a.get(root + 'fromc').get('hi')), 'from C');
  } finally {
    if (a) closeGun(a);
    if (b) closeGun(b);
    await c.quit();
  }
  assertClean(c);
});

test('message_predicate: a dropped put never lands nor is forwarded', { timeout: 20000 }, async () => {
  // A short ack timeout: the C peer's own read below asks the clients, and a's answer
  // (which carries the marker) is dropped too, so that read ends by timing out.
  const c = new CPeer(['--super', '--host', '127.0.0.1', '--port', '0', '--drop', 'DROPME', '--ack-timeout', '1000']);
  const root = 'pred' + uniq();
  let a;
  let b;
  try {
    const port = await c.ready();
    const url = `http://127.0.0.1:${port}/gun`;
    a = gunClient(url);
    b = gunClient(url);
    const seen = [];
    b.get(root + 'secret').get('v').on((v) => seen.push('secret:' + v));
    b.get(root + 'keep').get('v').on((v) => seen.push('keep:' + v));
    await sleep(300);
    let secretAcked = false;
    a.get(root + 'secret').put({ v: 'DROPME payload' }, () => { secretAcked = true; });
    const ack = await put(a.get(root + 'keep'), { v: 'fine' });
    assert.strictEqual(ack.err, undefined);
    // The control write passes the predicate and is pushed to b...
    await until(() => seen.includes('keep:fine'), 5000, 'the unmarked write reaches b');
    // ...the marked one was seen by the predicate and dropped.
    const drop = await c.wait((e) => e.ev === 'drop' && JSON.stringify(e.msg).includes('DROPME payload'), 3000, 'predicate drop');
    assert.ok(drop.msg.put && drop.msg.put[root + 'secret'], 'the dropped message is the put');
    await sleep(300);
    assert.deepStrictEqual(seen.filter((s) => s.startsWith('secret:')), [], 'not forwarded to the subscriber');
    assert.strictEqual(secretAcked, false, 'not acknowledged');
    assert.strictEqual((await c.ask(`once ${root}secret`, 'once')).data, null, 'not in the C graph');
    assert.strictEqual((await c.ask(`once ${root}keep/v`, 'once')).data, 'fine');
    assert.ok((await c.ask('dropped', 'dropped')).count >= 1);
  } finally {
    if (a) closeGun(a);
    if (b) closeGun(b);
    await c.quit();
  }
  assertClean(c);
});

// examples/two_clients: exits by itself, status 0 only when every message went through.
function runTwoClients(url) {
  return new Promise((resolve) => {
    const child = spawn(path.join(BUILD, 'two_clients'), [url], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal, out, err }); });
  });
}

function checkTwoClients(r, what) {
  const msg = `${what}:\n${r.out}\n${r.err}`;
  assert.strictEqual(r.code, 0, msg);
  assert.match(r.out, /\[Client 1\] Connected peers: 1/, msg);
  assert.match(r.out, /\[Client 2\] Connected peers: 1/, msg);
  assert.match(r.out, /\[Client 2\] Received data: source=client1, message=Hello from Client 1!/, msg);
  assert.match(r.out, /\[Client 1\] Received data: source=client2, message=Hello back from Client 2!/, msg);
  const counts = [...r.out.matchAll(/\[Client 2\] Received message #\d+ \(count: (\d+)/g)].map((m) => Number(m[1]));
  assert.deepStrictEqual([...new Set(counts)], [1, 2, 3, 4, 5], msg);
  assert.match(r.out, /Received 5 of 5 messages/, msg);
  assert.doesNotMatch(r.out, /write failed/, msg);
  assert.match(r.out, /SUCCESS/, msg);
}

test('examples/two_clients syncs through our relay and through the Gun.js relay', { timeout: 30000 }, async () => {
  const gunjs = await startGunRelay();
  const ours = await startRelay();
  try {
    const [rg, ro] = await Promise.all([runTwoClients(gunjs.url), runTwoClients(ours.url)]);
    checkTwoClients(ro, 'our relay');
    checkTwoClients(rg, 'Gun.js relay');
  } finally {
    await ours.stop();
    await gunjs.stop();
  }
});

test('examples/two_clients fails when there is no relay', { timeout: 20000 }, async () => {
  const port = await freePort();
  const r = await runTwoClients(`http://127.0.0.1:${port}/gun`);
  assert.strictEqual(r.code, 1, r.out + r.err);
  assert.match(r.err, /no connection to the relay/);
});
