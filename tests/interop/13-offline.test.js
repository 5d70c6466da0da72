'use strict';
// Offline-first: a Gun.js client writes while the relay is down; once the relay is back (same
// port), the write reaches another client.
const test = require('node:test');
const assert = require('node:assert');
const { startRelay, gunClient, sleep, until } = require('./lib/harness');

const once = (chain) => new Promise((resolve) => chain.once((v) => resolve(v)));

test('a write made while the relay is down reaches another client after it is back', { timeout: 60000 }, async () => {
  let relay = await startRelay();
  const port = relay.port;
  const a = gunClient(relay.url);
  await new Promise((resolve) => a.get('off').put({ before: 1 }, resolve));
  await relay.stop();
  await sleep(300);
  a.get('off').get('during').put('written offline');
  await sleep(300);
  relay = await startRelay(['--port', String(port)]);
  try {
    // Gun.js retries every ~2 s
    await sleep(3000);
    const b = gunClient(relay.url);
    let got;
    await until(async () => (got = await once(b.get('off').get('during'))) === 'written offline', 15000, 'offline write synced');
    assert.strictEqual(got, 'written offline');
  } finally {
    await relay.stop();
  }
});
