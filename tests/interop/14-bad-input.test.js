'use strict';
// Bad input over the socket: the relay answers with a DAM error where Gun.js would, keeps
// serving other peers, and its memory stays bounded.
const test = require('node:test');
const assert = require('node:assert');
const net = require('node:net');
const { startRelay, rawPeer, sleep, rssKiB } = require('./lib/harness');

const T0 = 1700000000000;

// A healthy peer can still write and read.
async function stillServes(relay, tag) {
  const p = await rawPeer(relay.ws);
  const id = 'ok' + tag;
  p.send({ '#': id, put: { ['alive' + tag]: { _: { '#': 'alive' + tag, '>': { v: T0 } }, v: tag } } });
  const ack = await p.reply(id, 5000);
  assert.strictEqual(ack.ok, true, `relay still acks after ${tag}`);
  p.send({ '#': 'g' + id, get: { '#': 'alive' + tag } });
  const r = await p.wait((m) => m['@'] === 'g' + id && m.put, 5000, 'get after ' + tag);
  assert.strictEqual(r.put['alive' + tag].v, tag);
  p.close();
}

test('bad input gets DAM errors and the relay keeps serving', { timeout: 120000 }, async () => {
  const relay = await startRelay();
  try {
    const rss0 = rssKiB(relay.child.pid);
    const bad = await rawPeer(relay.ws);

    bad.send('{not json');
    const e1 = await bad.wait((m) => m.dam === '!', 3000, 'parse error');
    assert.strictEqual(e1.err, 'DAM JSON parse error.');

    // nested 100,000 deep: refused before the parser recurses
    bad.msgs.length = 0;
    bad.send('['.repeat(100000) + ']'.repeat(100000));
    const e2 = await bad.wait((m) => m.dam === '!', 3000, 'depth error');
    assert.ok(typeof e2.err === 'string');

    // a frame over the cap (default 8 MiB)
    bad.msgs.length = 0;
    bad.send('{"#":"big","put":"' + 'x'.repeat(9 * 1024 * 1024) + '"}');
    const e3 = await bad.wait((m) => m.dam === '!', 5000, 'too big');
    assert.strictEqual(e3.err, 'Message too big!');

    // wrong types in every field: no reply that breaks the peer, no crash
    const wrong = [
      { '#': 5 }, { '#': 'w1', put: 'x' }, { '#': 'w2', get: 5 }, { '#': 'w3', '@': {} }, { '#': 'w4', dam: 3 },
      { '#': 'w5', put: { a: 5 } }, { '#': 'w6', put: { a: { _: 5 } } }, { '#': 'w7', put: { a: { _: { '#': 'b', '>': {} } } } },
      { '#': 'w8', put: { a: { _: { '#': 'a', '>': { x: 'NaN' } }, x: 1 } } },
      { '#': 'w9', put: { a: { _: { '#': 'a', '>': { x: T0 } }, x: [1, 2] } } },
      { '#': 'w10', put: { a: { _: { '#': 'a', '>': { x: T0 } }, x: { y: 1 } } } },
      { '#': 'w11', get: { '#': 5 } }, { '#': 'w12', get: { '#': { '*': 5 } } }, { '#': 'w13', get: { '#': 'a', '.': 5 } },
      { '#': 'w14', get: { '#': 'a', '.': { '*': 5, '>': [], '<': {} } } }, { '#': 'w15', get: { '#': '' } },
      { '#': 'w16', '##': 'x', '@': 'w1' }, { '#': 'w17', '><': 5, get: { '#': 'a' } }, { '#': 'w18', ok: 'x', put: null },
      [], [1, 2, 'x', null], 'null', '"str"', '123', '\u0000', '{"#":"w19","put":{"a":{"_":{"#":"a",">":{"\\u0000":1}},"\\u0000":1}}}',
    ];
    for (const w of wrong) bad.send(typeof w === 'string' ? w : JSON.stringify(w));
    await stillServes(relay, 'types');

    // 10,000 garbage frames in a burst
    for (let i = 0; i < 10000; i++) bad.send(i % 3 ? '{"#":' + i : '[' + 'x'.repeat(i % 100));
    await stillServes(relay, 'burst');

    // invalid UTF-8 in a text frame: the WebSocket layer closes that connection (1007)
    const u = await rawPeer(relay.ws);
    // a masked text frame (mask key 0) whose payload C3 28 is not UTF-8
    u.ws._socket.write(Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28]));
    await sleep(200);
    await stillServes(relay, 'utf8');

    // a connection dropped in the middle of a frame
    await new Promise((resolve) => {
      const s = net.connect(relay.port, '127.0.0.1', () => {
        s.write('GET /gun HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
        setTimeout(() => {
          // masked text frame header announcing 1000 bytes, then only 10 of them
          const hdr = Buffer.from([0x81, 0xfe, 0x03, 0xe8, 1, 2, 3, 4]);
          s.write(Buffer.concat([hdr, Buffer.alloc(10, 0x41)]));
          setTimeout(() => { s.destroy(); resolve(); }, 50);
        }, 100);
      });
      s.on('error', resolve);
    });
    await stillServes(relay, 'midframe');

    bad.close();
    u.close();
    await sleep(300);
    const rss1 = rssKiB(relay.child.pid);
    // The 9 MiB frame was refused without being kept; allow for allocator slack.
    assert.ok(rss1 - rss0 < 48 * 1024, `RSS grew by ${rss1 - rss0} KiB`);
    assert.ok(relay.child.exitCode === null, 'relay still running');
  } finally {
    await relay.stop();
  }
});
