'use strict';
// The gun command against a relay on port 0: put then get, watch, exit codes, keygen,
// stats, local --data round trips, --help texts.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { startRelay, tmpdir, BUILD, childEnv, until } = require('./lib/harness');

const GUN = path.join(BUILD, 'gun');
const run = (args, opts) => spawnSync(GUN, args, { encoding: 'utf8', timeout: 20000, env: childEnv(), ...(opts || {}) });

test('put, get, watch, stats against a relay; exit codes', { timeout: 60000 }, async () => {
  const relay = await startRelay();
  try {
    let r = run(['put', relay.url, 'cli.user', '{"name":"Ann","tags":{"a":1}}']);
    assert.strictEqual(r.status, 0, r.stderr);
    r = run(['get', relay.url, 'cli.user.name']);
    assert.strictEqual(r.status, 0, r.stderr);
    assert.strictEqual(r.stdout.trim(), '"Ann"');
    r = run(['get', relay.url, 'cli.user.tags.a']);
    assert.strictEqual(r.stdout.trim(), '1');
    r = run(['get', relay.url, 'cli.user']);
    const node = JSON.parse(r.stdout);
    assert.strictEqual(node.name, 'Ann');
    assert.deepStrictEqual(node.tags, { '#': 'cli/user/tags' });
    // a soul with a dot, quoted
    assert.strictEqual(run(['put', relay.url, 'a\\.b.k', '"dotted"']).status, 0);
    assert.strictEqual(run(['get', relay.url, 'a\\.b.k']).stdout.trim(), '"dotted"');
    // not found, usage, network
    r = run(['get', relay.url, 'nobody.here', '--timeout', '1500']);
    assert.strictEqual(r.status, 1);
    assert.strictEqual(run(['get']).status, 2);
    assert.strictEqual(run(['put', relay.url, 'x.y']).status, 2);
    assert.strictEqual(run(['frobnicate']).status, 2);
    r = run(['get', 'http://127.0.0.1:1/gun', 'x.y', '--timeout', '800']);
    assert.strictEqual(r.status, 3, r.stderr);

    // watch sees the current value and a later change
    const w = spawn(GUN, ['watch', relay.url, 'cli.user.name'], { env: childEnv() });
    let out = '';
    w.stdout.on('data', (d) => { out += d; });
    await until(() => out.includes('"Ann"'), 10000, 'watch prints the value');
    assert.strictEqual(run(['put', relay.url, 'cli.user.name', '"Bea"']).status, 0);
    await until(() => out.includes('"Bea"'), 10000, 'watch prints the change');
    w.kill('SIGINT');
    const code = await new Promise((resolve) => w.on('exit', (c) => resolve(c)));
    assert.strictEqual(code, 0);

    // a second relay on a port in use says so and exits 3
    r = run(['relay', '--host', '127.0.0.1', '--port', String(relay.port), '--store', 'memory']);
    assert.strictEqual(r.status, 3);
    assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: Address already in use/);

    r = run(['stats', relay.url]);
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /"puts_total": [1-9]/);
  } finally {
    await relay.stop();
  }
});

test('local --data round trip, keygen, help texts', { timeout: 30000 }, () => {
  const dir = tmpdir('gun-cli-');
  assert.strictEqual(run(['put', '--data', dir, 'local.doc', '{"v":42}']).status, 0);
  const r = run(['get', '--data', dir, 'local.doc.v']);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout.trim(), '42');
  const k = JSON.parse(run(['keygen']).stdout);
  for (const f of ['pub', 'priv', 'epub', 'epriv']) assert.strictEqual(typeof k[f], 'string');
  assert.strictEqual(k.pub.length, 87);
  for (const cmd of ['relay', 'put', 'get', 'watch', 'keygen', 'stats']) {
    const h = run([cmd, '--help']);
    assert.strictEqual(h.status, 0, cmd);
    assert.match(h.stdout, /usage: gun /, cmd);
  }
  assert.match(run(['--version']).stdout, /^gun \d+\.\d+\.\d+/);
  assert.match(run(['help']).stdout, /commands:/);
});
