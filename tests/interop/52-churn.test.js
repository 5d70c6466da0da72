'use strict';
// Peer churn: 200 clients connect, subscribe and disconnect in a loop for 60 s
// (CHURN_SECONDS) while a writer writes. The relay must not crash, every write it
// acknowledged must be readable, and its open descriptors and resident memory must come
// back near where they were after a warm-up round, once the clients are gone.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const WebSocket = require('ws');
const { startRelay, rawPeer, sleep, until, rssKiB } = require('./lib/harness');

const T0 = 1700000000000;
const SECONDS = Number(process.env.CHURN_SECONDS || 60);
const CLIENTS = 200;

const fds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;

async function stats(relay) {
  return (await fetch(`http://127.0.0.1:${relay.port}/stats`)).json();
}

// One client's life: connect, subscribe to the writer's soul (and sometimes write a little
// of its own), stay a random while, vanish (half close politely, half just drop the TCP
// connection). Resolves when the connection is gone.
function life(relay, n, counts) {
  return new Promise((resolve) => {
    const ws = new WebSocket(relay.ws);
    const stay = 100 + Math.floor(Math.random() * 900);
    let t;
    ws.on('open', () => {
      counts.opened++;
      ws.send(JSON.stringify({ '#': 'cg' + n, get: { '#': 'churn' } }));
      // a few writes too, to a fixed set of souls so that the data does not grow
      if (n % 7 === 0) ws.send(JSON.stringify({ '#': 'cp' + n, put: { ['c' + (n % 50)]: { _: { '#': 'c' + (n % 50), '>': { v: T0 + n } }, v: n } } }));
      t = setTimeout(() => (n % 2 ? ws.close() : ws.terminate()), stay);
    });
    ws.on('message', () => { counts.frames++; });
    ws.on('error', () => { counts.errors++; });
    ws.on('close', () => { clearTimeout(t); resolve(); });
  });
}

async function churn(relay, ms, counts) {
  const end = Date.now() + ms;
  let n = 0;
  const slot = async () => { while (Date.now() < end) await life(relay, n++, counts); };
  await Promise.all(Array.from({ length: CLIENTS }, slot));
}

test(`peer churn: ${CLIENTS} clients coming and going for ${SECONDS} s while a writer writes`, { timeout: (SECONDS + 120) * 1000 }, async () => {
  const relay = await startRelay(['--log-level', 'warn']);
  const pid = relay.child.pid;
  try {
    // The writer overwrites a node of KEYS keys, so every joining client's GET answer has
    // the same size all along and the warm-up sees the same load as the run.
    const KEYS = 600;
    const w = await rawPeer(relay.ws);
    for (let from = 0; from < KEYS; from += 50) {
      const node = { _: { '#': 'churn', '>': {} } };
      for (let k = from; k < from + 50; k++) { node._['>']['k' + k] = T0; node['k' + k] = 'v'; }
      w.send({ '#': 'pre' + from, put: { churn: node } });
      assert.strictEqual((await w.reply('pre' + from, 10000)).ok, true);
    }
    const last = new Map(); // key -> last acknowledged value
    let acks = 0;
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const id = 'w' + i, key = 'k' + (i % KEYS);
        w.send({ '#': id, put: { churn: { _: { '#': 'churn', '>': { [key]: T0 + 1 + i } }, [key]: 'v' + i } } });
        const ack = await w.reply(id, 30000);
        if (ack.ok === true) { last.set(key, 'v' + i); acks++; }
        w.msgs.length = 0;
        await sleep(50);
      }
    })();

    // Warm-up: a short round so pools and the allocator reach their working size.
    const warm = { opened: 0, frames: 0, errors: 0 };
    await churn(relay, 10000, warm);
    await until(async () => (await stats(relay)).connections === 1, 20000, 'warm-up clients gone');
    await sleep(500);
    const fd0 = fds(pid);
    const rss0 = rssKiB(pid);
    const acks0 = acks;

    const counts = { opened: 0, frames: 0, errors: 0 };
    await churn(relay, SECONDS * 1000, counts);
    writing = false;
    await writer;
    assert.strictEqual(relay.child.exitCode, null, 'relay still running');
    assert.ok(counts.opened > CLIENTS * 10, `connections made: ${counts.opened}`);
    assert.ok(acks - acks0 >= SECONDS, `writes acknowledged during the churn: ${acks - acks0}`);

    // Every acknowledged write is there: each key holds the last value acknowledged for it.
    const r = await rawPeer(relay.ws);
    r.send({ '#': 'rall', get: { '#': 'churn' } });
    const got = {};
    const wrong = () => [...last].filter(([k, v]) => got[k] !== v);
    await until(() => {
      for (const m of r.msgs.splice(0)) if (m['@'] === 'rall' && m.put) Object.assign(got, m.put.churn);
      return wrong().length === 0;
    }, 20000, () => `acked writes readable (wrong: ${JSON.stringify(wrong().slice(0, 5))})`);
    r.close();
    w.close();

    await until(async () => (await stats(relay)).connections === 0, 20000, 'every client gone');
    await sleep(1000);
    const fd1 = fds(pid);
    const rss1 = rssKiB(pid);
    const s = await stats(relay);
    console.log(`churn: ${counts.opened} connections, ${acks} writes acknowledged; fds ${fd0} -> ${fd1}; RSS ${rss0} -> ${rss1} KiB; ` +
      `peers dropped slow ${s.peers_dropped_slow_total}, rate ${s.peers_dropped_rate_total}`);
    assert.ok(fd1 <= fd0 + 2, `descriptors: ${fd0} before, ${fd1} after`);
    // ~20,000 connections came and went: even 1 KiB kept per connection would show here.
    assert.ok(rss1 - rss0 < 8 * 1024, `RSS grew by ${rss1 - rss0} KiB (${rss0} -> ${rss1})`);
  } finally {
    await relay.stop();
  }
});
