'use strict';
// Limits (issue 8): each one is crossed by one peer while another peer, connected the whole
// time, keeps writing and reading. Every case checks the error the offender sees, the
// counter in /stats (and /metrics), and the bystander.
const test = require('node:test');
const assert = require('node:assert');
const WebSocket = require('ws');
const { startRelay, rawPeer, RawPeer, gunClient, sleep, until } = require('./lib/harness');

const T0 = 1700000000000;
let seq = 0;

async function stats(relay) {
  const r = await fetch(`http://127.0.0.1:${relay.port}/stats`);
  return r.json();
}

async function metric(relay, name) {
  const text = await (await fetch(`http://127.0.0.1:${relay.port}/metrics`)).text();
  const m = new RegExp(`^gun_${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

// Waits until /stats shows counter >= want; returns the stats.
async function statReaches(relay, counter, want, ms) {
  let last;
  await until(async () => { last = await stats(relay); return last[counter] >= want; }, ms || 10000,
    () => `${counter} >= ${want} (last ${last && last[counter]})`);
  return last;
}

// The bystander writes a fresh value and reads it back over its own, long-lived connection.
async function bystanderWorks(p, what) {
  const n = ++seq;
  const soul = 'by' + n;
  p.send({ '#': 'bp' + n, put: { [soul]: { _: { '#': soul, '>': { v: T0 } }, v: what } } });
  const ack = await p.reply('bp' + n, 10000);
  assert.strictEqual(ack.ok, true, `bystander's put after ${what}: ${JSON.stringify(ack)}`);
  p.send({ '#': 'bg' + n, get: { '#': soul } });
  const r = await p.wait((m) => m['@'] === 'bg' + n && m.put, 10000, `bystander's get after ${what}`);
  assert.strictEqual(r.put[soul].v, what);
}

// A WebSocket to the relay from a given local address; resolves 'open' or the error.
function tryConnect(relay, localAddress) {
  return new Promise((resolve) => {
    const ws = new WebSocket(relay.ws, localAddress ? { localAddress } : {});
    ws.on('open', () => resolve({ ok: true, ws }));
    ws.on('error', (e) => resolve({ ok: false, err: String(e.message || e) }));
    ws.on('unexpected-response', (req, res) => resolve({ ok: false, err: 'HTTP ' + res.statusCode }));
  });
}

test('max frame size: a bigger frame gets "Message too big!", counted; the bystander is unaffected', { timeout: 60000 }, async () => {
  const relay = await startRelay(['--max-frame', '64K']);
  try {
    const by = await rawPeer(relay.ws);
    const bad = await rawPeer(relay.ws);
    bad.send('{"#":"big1","put":"' + 'x'.repeat(100 * 1024) + '"}');
    const e = await bad.wait((m) => m.dam === '!', 5000, 'too big');
    assert.strictEqual(e.err, 'Message too big!');
    // just under the cap is still taken
    const v = 'y'.repeat(60 * 1024);
    bad.send({ '#': 'fits', put: { fits: { _: { '#': 'fits', '>': { v: T0 } }, v } } });
    assert.strictEqual((await bad.reply('fits', 5000)).ok, true);
    const s = await stats(relay);
    assert.strictEqual(s.frames_rejected_too_big_total, 1);
    assert.strictEqual(await metric(relay, 'frames_rejected_too_big_total'), 1);
    await bystanderWorks(by, 'after a big frame');
    by.close(); bad.close();
  } finally {
    await relay.stop();
  }
});

test('max JSON depth: a deeper frame gets the DAM parse error, counted apart from bad JSON', { timeout: 60000 }, async () => {
  const relay = await startRelay(['--max-depth', '8']);
  try {
    const by = await rawPeer(relay.ws);
    const bad = await rawPeer(relay.ws);
    const deep = (d) => '{"#":"d' + d + '","x":' + '['.repeat(d) + ']'.repeat(d) + '}';
    bad.send(deep(20));
    const e = await bad.wait((m) => m.dam === '!', 5000, 'depth error');
    assert.strictEqual(e.err, 'DAM JSON parse error.');
    // depth 8 in all (the message object is level 1) passes
    bad.send({ '#': 'shallow', put: { sh: { _: { '#': 'sh', '>': { v: T0 } }, v: 1 } }, x: [[[[[[[]]]]]]] });
    assert.strictEqual((await bad.reply('shallow', 5000)).ok, true);
    const s = await stats(relay);
    assert.strictEqual(s.frames_rejected_depth_total, 1);
    assert.strictEqual(s.frames_rejected_json_total, 0);
    assert.strictEqual(await metric(relay, 'frames_rejected_depth_total'), 1);
    await bystanderWorks(by, 'after a deep frame');
    by.close(); bad.close();
  } finally {
    await relay.stop();
  }
});

test('keys per node and per put: the put is refused whole with an err ack and counted', { timeout: 60000 }, async () => {
  // one cap from a flag, the other from its environment variable
  const relay = await startRelay(['--max-node-keys', '10'], { GUN_MAX_PUT_KEYS: '15' });
  try {
    const by = await rawPeer(relay.ws);
    const bad = await rawPeer(relay.ws);
    const node = (soul, n, from) => {
      const o = { _: { '#': soul, '>': {} } };
      for (let i = 0; i < n; i++) { o._['>']['k' + (from + i)] = T0; o['k' + (from + i)] = i; }
      return o;
    };
    bad.send({ '#': 'nk1', put: { wide: node('wide', 11, 0) } });
    const a1 = await bad.reply('nk1', 5000);
    assert.strictEqual(a1.err, "Too many keys on 'wide' (11 > 10)!");
    bad.send({ '#': 'nk2', put: { p1: node('p1', 8, 0), p2: node('p2', 8, 0) } });
    const a2 = await bad.reply('nk2', 5000);
    assert.strictEqual(a2.err, 'Too many keys in one put (16 > 15)!');
    // nothing of either put was stored
    for (const soul of ['wide', 'p1', 'p2']) {
      bad.send({ '#': 'g' + soul, get: { '#': soul } });
      const r = await bad.reply('g' + soul, 5000);
      assert.strictEqual(r.put, undefined, `${soul} must not be stored`);
    }
    // at the caps it is accepted
    bad.send({ '#': 'nk3', put: { q1: node('q1', 10, 0), q2: node('q2', 5, 0) } });
    assert.strictEqual((await bad.reply('nk3', 5000)).ok, true);
    const s = await stats(relay);
    assert.strictEqual(s.puts_rejected_keys_total, 2);
    assert.strictEqual(await metric(relay, 'puts_rejected_keys_total'), 2);
    await bystanderWorks(by, 'after wide puts');
    by.close(); bad.close();
  } finally {
    await relay.stop();
  }
});

test('max connections: the next connection is refused and counted; open ones keep working', { timeout: 60000 }, async () => {
  const relay = await startRelay(['--max-connections', '3']);
  try {
    const by = await rawPeer(relay.ws);
    const a = await rawPeer(relay.ws);
    const b = await rawPeer(relay.ws);
    const r = await tryConnect(relay);
    assert.strictEqual(r.ok, false, 'a 4th connection is refused');
    const s = await statReaches(relay, 'connections_refused_max_total', 1);
    assert.strictEqual(s.connections, 3);
    await bystanderWorks(by, 'while full');
    // a slot that frees up can be taken again
    a.close();
    await until(async () => (await stats(relay)).connections === 2, 10000, 'closed connection counted');
    const again = await tryConnect(relay);
    assert.strictEqual(again.ok, true, again.err);
    again.ws.terminate();
    by.close(); b.close();
  } finally {
    await relay.stop();
  }
});

test('per-IP cap: a 4th connection from one address is refused, another address still connects', { timeout: 60000 }, async () => {
  const relay = await startRelay(['--max-connections-per-ip', '3']);
  try {
    // The bystander comes from 127.0.0.2 (any 127/8 address reaches a relay on 127.0.0.1).
    const by = new RawPeer(relay.ws);
    await new Promise((resolve, reject) => {
      by.ws = new WebSocket(relay.ws, { localAddress: '127.0.0.2' });
      by.ws.on('error', reject);
      by.ws.on('open', resolve);
      by.ws.on('message', (d) => {
        const parsed = JSON.parse(d.toString());
        for (const m of Array.isArray(parsed) ? parsed : [parsed]) by.msgs.push(m);
        by.waiters = by.waiters.filter((w) => !w.check());
      });
    });
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push(await rawPeer(relay.ws));
    const r = await tryConnect(relay);
    assert.strictEqual(r.ok, false, 'a 4th connection from 127.0.0.1 is refused');
    const s = await statReaches(relay, 'connections_refused_per_ip_total', 1);
    assert.strictEqual(s.connections_refused_max_total, 0);
    const other = await tryConnect(relay, '127.0.0.3');
    assert.strictEqual(other.ok, true, 'another address connects: ' + other.err);
    other.ws.terminate();
    await bystanderWorks(by, 'while one address is at its cap');
    // closing one frees a slot for that address
    mine[0].close();
    await until(async () => (await tryConnect(relay).then((x) => { if (x.ws) x.ws.terminate(); return x.ok; })), 10000, 'slot freed');
    by.close();
    for (const p of mine) p.close();
  } finally {
    await relay.stop();
  }
});

test('message rate: excess gets "Too many messages!", a peer that keeps on is disconnected', { timeout: 60000 }, async () => {
  const relay = await startRelay(['--msg-rate', '50', '--msg-burst', '100']);
  try {
    const by = await rawPeer(relay.ws);
    const bad = await rawPeer(relay.ws);
    const gets = (from, n) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ '#': 'r' + (from + i), get: { '#': 'nothing' } })));
    bad.send(gets(0, 150)); // 100 pass (the burst), 50 dropped
    const e = await bad.wait((m) => m.dam === '!', 5000, 'rate error');
    assert.strictEqual(e.err, 'Too many messages!');
    await bad.reply('r99', 5000); // the burst was served
    const s1 = await statReaches(relay, 'messages_dropped_rate_total', 45);
    assert.ok(s1.messages_dropped_rate_total <= 50, `dropped ${s1.messages_dropped_rate_total}`);
    assert.strictEqual(bad.msgs.filter((m) => m.dam === '!').length, 1, 'one error per flood');
    assert.strictEqual(s1.peers_dropped_rate_total, 0);
    await bystanderWorks(by, 'during a flood');
    // keeps going without slowing down: dropped
    bad.send(gets(1000, 150));
    const code = await Promise.race([bad.closed, sleep(10000).then(() => 'still open')]);
    assert.notStrictEqual(code, 'still open', 'the flooding peer is disconnected');
    const s2 = await statReaches(relay, 'peers_dropped_rate_total', 1);
    assert.strictEqual(s2.peers_dropped_rate_total, 1);
    assert.strictEqual(await metric(relay, 'peers_dropped_rate_total'), 1);
    await bystanderWorks(by, 'after the flooder was dropped');
    // a peer that stays under the rate is never limited
    const calm = await rawPeer(relay.ws);
    for (let i = 0; i < 20; i++) {
      calm.send({ '#': 'c' + i, get: { '#': 'nothing' } });
      await sleep(25);
    }
    await calm.reply('c19', 5000);
    assert.strictEqual((await stats(relay)).peers_dropped_rate_total, 1);
    by.close(); calm.close();
  } finally {
    await relay.stop();
  }
});

test('send queue: a subscriber that stops reading is dropped and counted; a reading one gets everything', { timeout: 120000 }, async () => {
  const relay = await startRelay(['--max-queue', '256K']);
  try {
    const by = await rawPeer(relay.ws);
    const slow = await rawPeer(relay.ws);
    const w = await rawPeer(relay.ws);
    for (const p of [by, slow]) {
      p.send({ '#': 'sub' + (p === by ? 'by' : 'slow'), get: { '#': 'firehose' } });
      await p.reply('sub' + (p === by ? 'by' : 'slow'), 5000);
    }
    slow.ws._socket.pause(); // stops reading: the kernel buffers fill, then the relay's queue
    const big = 'z'.repeat(64 * 1024);
    let i = 0;
    // Push until the relay gives up on the slow peer (the kernel takes several MB first).
    await until(async () => {
      for (let k = 0; k < 20; k++, i++) {
        w.send({ '#': 'f' + i, put: { firehose: { _: { '#': 'firehose', '>': { ['k' + (i % 50)]: T0 + i } }, ['k' + (i % 50)]: big + i } } });
      }
      await w.reply('f' + (i - 1), 20000);
      return (await stats(relay)).peers_dropped_slow_total >= 1;
    }, 90000, 'slow subscriber dropped');
    const s = await stats(relay);
    assert.strictEqual(s.peers_dropped_slow_total, 1, 'counted once');
    // the relay lets go of the connection although the peer still reads nothing (a close
    // through lws alone waited for its rest of a partly sent message to go out)
    await until(async () => (await stats(relay)).connections === 2, 10000, 'slow peer\'s connection closed while it still did not read');
    slow.ws._socket.resume();
    await Promise.race([slow.closed, sleep(10000).then(() => assert.fail('slow peer not closed'))]);
    // the reading subscriber got the last write
    const last = 'k' + ((i - 1) % 50);
    await by.wait((m) => m.put && m.put.firehose && m.put.firehose[last] === big + (i - 1), 20000, 'last push');
    await bystanderWorks(by, 'after the slow peer was dropped');
    assert.strictEqual((await stats(relay)).peers_dropped_slow_total, 1);
    by.close(); w.close();
  } finally {
    await relay.stop();
  }
});

// Asks p for soul and waits for the answer (data or not found): p is then subscribed to it.
async function subscribeTo(p, soul) {
  const id = 'sg' + (++seq);
  p.send({ '#': id, get: { '#': soul } });
  await p.reply(id, 10000);
}

// Writes soul.v over w and returns the ack; its value is unique to the call.
async function writeV(w, soul) {
  const n = ++seq;
  w.send({ '#': 'sw' + n, put: { [soul]: { _: { '#': soul, '>': { v: T0 + n } }, v: 'v' + n } } });
  assert.strictEqual((await w.reply('sw' + n, 10000)).ok, true);
  return 'v' + n;
}

const pushed = (p, soul, v) => p.msgs.some((m) => m.put && m.put[soul] && m.put[soul].v === v);

test('subscriptions per peer: past the cap the least recently asked ends; a GET renews it', { timeout: 60000 }, async () => {
  const relay = await startRelay(['--max-subs-per-peer', '4']);
  try {
    const by = await rawPeer(relay.ws);
    const p = await rawPeer(relay.ws);
    const w = await rawPeer(relay.ws);
    await subscribeTo(by, 'cap-by');
    for (const s of ['cap-a', 'cap-b', 'cap-c', 'cap-d']) await subscribeTo(p, s);
    await subscribeTo(p, 'cap-a');            // asked again: now the newest
    assert.strictEqual((await stats(relay)).subscriptions_evicted_total, 0);
    await subscribeTo(p, 'cap-e');            // fifth: cap-b, the least recently asked, ends
    const s = await statReaches(relay, 'subscriptions_evicted_total', 1);
    assert.strictEqual(s.subscriptions_evicted_total, 1);
    assert.strictEqual(s.subscriptions, 5, 'four of p, one of the bystander');
    assert.strictEqual(await metric(relay, 'subscriptions_evicted_total'), 1);
    const vb = await writeV(w, 'cap-b');
    const va = await writeV(w, 'cap-a');
    const ve = await writeV(w, 'cap-e');
    const vby = await writeV(w, 'cap-by');
    await p.wait((m) => m.put && m.put['cap-e'] && m.put['cap-e'].v === ve, 5000, 'push of cap-e');
    await p.wait((m) => m.put && m.put['cap-a'] && m.put['cap-a'].v === va, 5000, 'push of renewed cap-a');
    await by.wait((m) => m.put && m.put['cap-by'] && m.put['cap-by'].v === vby, 5000, 'bystander push');
    await sleep(300);
    assert.ok(!pushed(p, 'cap-b', vb), 'no push of the evicted cap-b');
    // asking for it again subscribes again (evicting the next oldest, cap-c)
    await subscribeTo(p, 'cap-b');
    const vb2 = await writeV(w, 'cap-b');
    await p.wait((m) => m.put && m.put['cap-b'] && m.put['cap-b'].v === vb2, 5000, 'push after re-GET');
    assert.strictEqual((await stats(relay)).subscriptions_evicted_total, 2);
    await bystanderWorks(by, 'after evictions');
    // a peer's subscriptions end with its connection
    p.close();
    await until(async () => (await stats(relay)).subscriptions <= 2, 10000, 'subscriptions of a closed peer released');
    by.close(); w.close();
  } finally {
    await relay.stop();
  }
});

test('subscriptions in all: past --max-subs the least recently asked of any peer ends', { timeout: 60000 }, async () => {
  const relay = await startRelay(['--max-subs', '3']);
  try {
    const a = await rawPeer(relay.ws);
    const b = await rawPeer(relay.ws);
    const w = await rawPeer(relay.ws);
    await subscribeTo(a, 'all-1');
    await subscribeTo(b, 'all-2');
    await subscribeTo(a, 'all-3');
    await subscribeTo(b, 'all-4');           // a's all-1 is the oldest of all
    const s = await statReaches(relay, 'subscriptions_evicted_total', 1);
    assert.strictEqual(s.subscriptions, 3);
    const v1 = await writeV(w, 'all-1');
    const v2 = await writeV(w, 'all-2');
    await b.wait((m) => m.put && m.put['all-2'] && m.put['all-2'].v === v2, 5000, 'push of all-2');
    await sleep(300);
    assert.ok(!pushed(a, 'all-1', v1), 'no push of the evicted all-1');
    // a writer's puts do not subscribe it (GETs do): still a's all-3 and b's all-2, all-4
    assert.strictEqual((await stats(relay)).subscriptions, 3);
    assert.strictEqual((await stats(relay)).subscriptions_evicted_total, 1);
    const v3 = await writeV(w, 'all-3');
    await a.wait((m) => m.put && m.put['all-3'] && m.put['all-3'].v === v3, 5000, 'push of all-3');
    a.close(); b.close(); w.close();
  } finally {
    await relay.stop();
  }
});

// Puts a node of n keys (values of `size` chars) in puts of 50 keys.
async function putBigNode(p, soul, n, size) {
  for (let from = 0; from < n; from += 50) {
    const node = { _: { '#': soul, '>': {} } };
    for (let i = from; i < Math.min(n, from + 50); i++) {
      const k = 'k' + String(i).padStart(4, '0');
      node._['>'][k] = T0;
      node[k] = String(i).padEnd(size, '.');
    }
    p.send({ '#': `${soul}-${from}`, put: { [soul]: node } });
    assert.strictEqual((await p.reply(`${soul}-${from}`, 10000)).ok, true);
  }
}

test('GET reply size: a big node comes in linked chunks that Gun.js reassembles', { timeout: 120000 }, async () => {
  const relay = await startRelay(['--max-get-reply', '4K']);
  try {
    const by = await rawPeer(relay.ws);
    const w = await rawPeer(relay.ws);
    await putBigNode(w, 'bignode', 500, 20);
    const r = await rawPeer(relay.ws);
    r.send({ '#': 'gbig', get: { '#': 'bignode' } });
    // Follow the "%" links from the first chunk to the last.
    const replies = () => r.msgs.filter((m) => m['@'] === 'gbig');
    await until(() => {
      const keys = new Set();
      for (const m of replies()) for (const k of Object.keys(m.put.bignode)) if (k !== '_') keys.add(k);
      return keys.size === 500;
    }, 20000, 'every key of the node');
    const byId = new Map(replies().map((m) => [m['#'], m]));
    const targets = new Set(replies().filter((m) => m['%']).map((m) => m['%']));
    const first = replies().filter((m) => !targets.has(m['#']));
    assert.strictEqual(first.length, 1, 'one chain start');
    let chain = 0;
    for (let m = first[0]; m; m = m['%'] ? byId.get(m['%']) : null) {
      chain++;
      assert.ok(typeof m['##'] === 'number', 'each chunk has its own ##');
      if (!m['%']) assert.strictEqual(chain, replies().length, 'the chain covers every reply');
    }
    assert.ok(chain > 5, `${chain} chunks`);
    for (const m of replies()) {
      const len = JSON.stringify(m).length;
      assert.ok(len <= 4096, `a chunk of ${len} bytes`);
    }
    const s = await stats(relay);
    assert.strictEqual(s.get_replies_chunked_total, 1);
    assert.strictEqual(s.get_reply_chunks_total, chain);
    assert.strictEqual(await metric(relay, 'get_reply_chunks_total'), chain);
    // a Gun.js client merges the chunks into the whole node
    const gun = gunClient(relay.url);
    const seen = {};
    gun.get('bignode').on((node) => { for (const k of Object.keys(node)) if (k !== '_') seen[k] = node[k]; });
    await until(() => Object.keys(seen).length === 500, 20000, 'Gun.js client has every key');
    assert.strictEqual(seen.k0499, '499'.padEnd(20, '.'));
    gun.get('bignode').off();
    await bystanderWorks(by, 'after a chunked reply');
    by.close(); w.close(); r.close();
  } finally {
    await relay.stop();
  }
});

test('GET of a node bigger than the send queue is paced, not dropped', { timeout: 120000 }, async () => {
  const relay = await startRelay(['--max-queue', '64K', '--max-get-reply', '16K']);
  try {
    const by = await rawPeer(relay.ws);
    const w = await rawPeer(relay.ws);
    await putBigNode(w, 'huge', 300, 4000); // about 1.2 MB, 19x the queue
    const r = await rawPeer(relay.ws);
    r.send({ '#': 'ghuge', get: { '#': 'huge' } });
    const keys = new Set();
    await until(() => {
      for (const m of r.msgs.splice(0)) if (m['@'] === 'ghuge') for (const k of Object.keys(m.put.huge)) if (k !== '_') keys.add(k);
      return keys.size === 300;
    }, 60000, () => `every key of the huge node (${keys.size})`);
    const s = await stats(relay);
    assert.strictEqual(s.peers_dropped_slow_total, 0, 'the asker was not dropped');
    assert.ok(s.get_reply_chunks_total >= 60, `${s.get_reply_chunks_total} chunks`);
    await bystanderWorks(by, 'after a paced reply');
    by.close(); w.close(); r.close();
  } finally {
    await relay.stop();
  }
});
