'use strict';
// gun relay as an operator runs it: options from flags and from the environment (flags
// win), --max-connections and --max-frame enforced, --log-level / --log-json / --log-file
// with SIGHUP reopening the file, bad values refused with exit 2, and SIGTERM / SIGINT
// stopping within the bound with every acknowledged write on disk and the peers closed.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const WebSocket = require('ws');
const { startRelay, rawPeer, tmpdir, until, BUILD, childEnv } = require('./lib/harness');

const GUN = path.join(BUILD, 'gun');
const T0 = 1700000000000;

async function stats(relay) {
  return (await fetch(`http://127.0.0.1:${relay.port}/stats`)).json();
}

// Resolves 'open' or 'refused' for one WebSocket attempt.
function tryConnect(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => resolve({ state: 'open', ws }));
    ws.on('error', () => resolve({ state: 'refused' }));
    ws.on('unexpected-response', () => resolve({ state: 'refused' }));
  });
}

function putMsg(id, soul, v) {
  return { '#': id, put: { [soul]: { _: { '#': soul, '>': { v: T0 } }, v } } };
}

test('--max-connections and --max-frame from the environment, flags win', { timeout: 60000 }, async () => {
  const relay = await startRelay([], { GUN_MAX_CONNECTIONS: '2', GUN_MAX_FRAME: '2K' });
  const open = [];
  try {
    for (let i = 0; i < 2; i++) open.push(await rawPeer(relay.ws));
    const third = await tryConnect(relay.ws);
    assert.strictEqual(third.state, 'refused', 'a third connection is refused');
    await until(async () => (await stats(relay)).connections_refused_max_total === 1, 10000, 'refusal counted');

    // 2 KiB frame cap: a 4 KiB message is dropped and counted, a small one still works.
    const s0 = await stats(relay);
    open[0].send(putMsg('big', 'bigsoul', 'x'.repeat(4096)));
    await until(async () => (await stats(relay)).frames_rejected_too_big_total === s0.frames_rejected_too_big_total + 1,
      10000, 'oversize frame counted');
    open[0].send(putMsg('small', 'smallsoul', 'ok'));
    const ack = await open[0].reply('small', 10000);
    assert.strictEqual(ack.err, undefined);
  } finally {
    open.forEach((p) => p.close());
    await relay.stop();
  }

  const relay2 = await startRelay(['--max-connections', '3', '--max-frame', '64K'], { GUN_MAX_CONNECTIONS: '1', GUN_MAX_FRAME: '1K' });
  const peers = [];
  try {
    for (let i = 0; i < 3; i++) peers.push(await rawPeer(relay2.ws));
    peers[0].send(putMsg('mid', 'midsoul', 'y'.repeat(8000)));
    const ack = await peers[0].reply('mid', 10000);
    assert.strictEqual(ack.err, undefined, 'an 8 kB message fits the 64K flag, not the 1K variable');
    assert.strictEqual((await stats(relay2)).connections, 3);
  } finally {
    peers.forEach((p) => p.close());
    await relay2.stop();
  }
});

test('bad option values are usage errors naming the option', { timeout: 60000 }, () => {
  const cases = [
    [['--log-level', 'loud'], {}, /--log-level/],
    [['--max-frame', '10'], {}, /--max-frame/],
    [['--max-frame', '2X'], {}, /--max-frame/],
    [['--max-connections', '-1'], {}, /--max-connections/],
    [['--port', '70000'], {}, /--port/],
    [['--store', 'redis'], {}, /--store/],
    [[], { GUN_MAX_FRAME: 'abc' }, /GUN_MAX_FRAME/],
    [[], { GUN_LOG_JSON: 'maybe' }, /GUN_LOG_JSON/],
    [[], { GUN_LOG_LEVEL: 'verbose' }, /GUN_LOG_LEVEL/],
    [['--log-level'], {}, /needs a value/],
    [['--frobnicate'], {}, /unknown option/],
    [['--tls-cert', '/nonexistent.pem'], {}, /go together/],
  ];
  for (const [args, env, re] of cases) {
    const r = spawnSync(GUN, ['relay', '--port', '0', '--store', 'memory', ...args],
      { encoding: 'utf8', timeout: 20000, env: childEnv(env) });
    assert.strictEqual(r.status, 2, `${args.join(' ')} ${JSON.stringify(env)}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  // A log file that cannot be opened is refused before the relay starts.
  const r = spawnSync(GUN, ['relay', '--port', '0', '--store', 'memory'],
    { encoding: 'utf8', timeout: 20000, env: childEnv({ GUN_LOG_FILE: '/nonexistent-dir/gun.log' }) });
  assert.strictEqual(r.status, 2, r.stderr);
  assert.match(r.stderr, /cannot open log file \/nonexistent-dir\/gun\.log/);
});

test('--log-json writes one JSON object per line; --log-level filters, the flag over the variable', { timeout: 60000 }, async () => {
  const relay = await startRelay(['--log-json', '--log-level', 'debug']);
  const p = await rawPeer(relay.ws);
  p.send('{not json');
  await p.wait((m) => m.dam === '!', 10000, 'DAM error');
  p.close();
  await until(() => /disconnected/.test(relay.stderr()), 10000, 'disconnect logged');
  assert.strictEqual(await relay.stop(), 0);
  const lines = relay.stderr().split('\n').filter(Boolean);
  assert.ok(lines.length >= 4, relay.stderr());
  for (const line of lines) {
    const o = JSON.parse(line); // throws on anything that is not one object per line
    assert.deepStrictEqual(Object.keys(o), ['time', 'level', 'msg'], line);
    assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(['error', 'warn', 'info', 'debug'].includes(o.level), line);
  }
  const msgs = lines.map((l) => JSON.parse(l).msg);
  assert.ok(msgs.some((m) => /^relay: listening on port \d+/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /connected/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /^relay: SIGTERM, stopping$/.test(m)), msgs.join('\n'));

  // error only: the info lines are gone, and the variable is overridden by the flag.
  const quiet = await startRelay(['--log-level', 'error'], { GUN_LOG_LEVEL: 'debug' });
  const q = await rawPeer(quiet.ws);
  q.send(putMsg('q1', 'qsoul', 1));
  await q.reply('q1', 10000);
  q.close();
  await quiet.stop();
  assert.strictEqual(quiet.stderr(), '', 'nothing below error');
  // And the variable alone works.
  const viaEnv = await startRelay([], { GUN_LOG_LEVEL: 'warn', GUN_LOG_JSON: '1' });
  await viaEnv.stop();
  assert.ok(!/"level":"info"/.test(viaEnv.stderr()), viaEnv.stderr());
});

test('--log-file: the log goes to the file, SIGHUP reopens it after a rotation', { timeout: 60000 }, async () => {
  const dir = tmpdir('gun-log-');
  const file = path.join(dir, 'relay.log');
  const relay = await startRelay(['--log-file', file]);
  try {
    await until(() => fs.existsSync(file) && /listening on port/.test(fs.readFileSync(file, 'utf8')), 10000, 'log file written');
    // logrotate: move the file away, then SIGHUP.
    fs.renameSync(file, file + '.1');
    const p1 = await rawPeer(relay.ws);
    await until(() => /connected/.test(fs.readFileSync(file + '.1', 'utf8')), 10000, 'still writing to the moved file');
    relay.child.kill('SIGHUP');
    await until(() => fs.existsSync(file) && /log file reopened/.test(fs.readFileSync(file, 'utf8')), 10000, 'reopened');
    p1.close();
    await until(() => /disconnected/.test(fs.readFileSync(file, 'utf8')), 10000, 'new lines go to the new file');
    assert.ok(!/disconnected/.test(fs.readFileSync(file + '.1', 'utf8')), 'the rotated file gets nothing new');
  } finally {
    assert.strictEqual(await relay.stop(), 0);
  }
  assert.match(fs.readFileSync(file, 'utf8'), /relay: stopped/);
  assert.strictEqual(relay.stderr(), '', 'nothing on stderr while logging to a file');
});

// Every acknowledged put is in the store after the stop.
function exported(dir) {
  const r = spawnSync(GUN, ['export', '--data', dir], { encoding: 'utf8', timeout: 60000, env: childEnv(), maxBuffer: 64 << 20 });
  assert.strictEqual(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

for (const sig of ['SIGTERM', 'SIGINT']) {
  test(`${sig}: commits what was acknowledged, closes peers, exits 0 within the bound`, { timeout: 90000 }, async () => {
    const dir = tmpdir('gun-stop-');
    const relay = await startRelay(['--store', 'lmdb', '--data', dir]);
    const p = await rawPeer(relay.ws);
    for (let i = 0; i < 200; i++) p.send(putMsg('a' + i, 'stop' + i, i));
    await p.reply('a199', 30000);
    // A second wave still in flight when the signal lands.
    for (let i = 200; i < 600; i++) p.send(putMsg('a' + i, 'stop' + i, i));
    await p.reply('a250', 30000);
    const t0 = Date.now();
    const code = await relay.stop(sig);
    const took = Date.now() - t0;
    assert.strictEqual(code, 0, relay.stderr());
    assert.ok(took < 12000, `stopped in ${took} ms (bound: 10 s)`);
    assert.strictEqual(await p.closed !== undefined, true, 'the peer saw the connection close');
    assert.match(relay.stderr(), new RegExp(`relay: ${sig}, stopping`));
    assert.match(relay.stderr(), /relay: stopped/);

    const acked = p.msgs.filter((m) => typeof m['@'] === 'string' && /^a\d+$/.test(m['@']) && !m.err).map((m) => Number(m['@'].slice(1)));
    assert.ok(acked.length >= 251, `acks seen: ${acked.length}`);
    const graph = exported(dir);
    const missing = acked.filter((i) => !graph['stop' + i] || graph['stop' + i].v !== i);
    assert.deepStrictEqual(missing, [], 'acknowledged writes missing after the stop');
  });
}
