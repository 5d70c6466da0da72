'use strict';
// Every gun subcommand: its --help, its exit codes (0 ok, 1 not found/timeout, 2 usage,
// 3 network, 4 rejected), and what 41-cli does not cover: a put refused by the relay,
// PATH quoting checked against what Gun.js sees, watch following writes of a Gun.js client,
// export/import through the command line, stats moving with the CLI's own traffic.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { startRelay, tmpdir, BUILD, childEnv, until, gunClient } = require('./lib/harness');

const GUN = path.join(BUILD, 'gun');
const run = (args, opts) => spawnSync(GUN, args, { encoding: 'utf8', timeout: 30000, env: childEnv(), ...(opts || {}) });
const DEAD = 'http://127.0.0.1:1/gun'; // nothing listens on port 1

test('help lists every command and each one documents its usage and exit codes', { timeout: 60000 }, () => {
  const h = run(['help']);
  assert.strictEqual(h.status, 0);
  const cmds = [...h.stdout.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1]).filter((c) => c !== 'help' && c !== 'version');
  assert.deepStrictEqual(cmds.sort(), ['export', 'get', 'import', 'keygen', 'put', 'rad-import', 'relay', 'stats', 'watch']);
  for (const cmd of cmds) {
    const a = run([cmd, '--help']);
    assert.strictEqual(a.status, 0, `${cmd} --help: ${a.stderr}`);
    assert.match(a.stdout, new RegExp(`^usage: gun ${cmd}`), cmd);
    assert.match(a.stdout, /exit codes?:/i, `${cmd} --help names its exit codes`);
    assert.strictEqual(a.stderr, '', cmd);
    assert.strictEqual(run([cmd, '-h']).stdout, a.stdout, `${cmd} -h`);
    assert.strictEqual(run(['help', cmd]).stdout, a.stdout, `help ${cmd}`);
  }
  assert.strictEqual(run(['help', 'nope']).status, 2);
  assert.strictEqual(run([]).status, 2);
  const v = run(['--version']).stdout;
  assert.match(v, /^gun \d+\.\d+\.\d+\n$/);
  assert.strictEqual(run(['version']).stdout, v);
  assert.strictEqual(run(['-V']).stdout, v);
});

test('usage errors exit 2 for every subcommand', { timeout: 60000 }, () => {
  const dir = tmpdir('gun-cli-usage-');
  const cases = [
    ['put'], ['put', DEAD], ['put', DEAD, 'a.b'], ['put', DEAD, 'a.b', '1', 'extra'],
    ['put', DEAD, 'a.b', '1', '--bogus'], ['put', DEAD, '--data', dir, 'a.b', '1'],
    ['put', '--data', dir, 'a.b', '{not json'], ['put', '--data', dir, 'a..b', '1'],
    ['get'], ['get', DEAD], ['get', DEAD, 'a', '--timeout', 'soon'], ['get', '--data', dir, 'a', '--store', 'redis'],
    ['watch'], ['watch', '--data', dir, 'a'], ['watch', DEAD],
    ['keygen', 'extra'], ['stats'], ['stats', 'a', 'b'], ['stats', 'https://127.0.0.1:1/gun'],
    ['export'], ['export', '--store'], ['import'], ['import', '--bogus'],
    ['rad-import'], ['rad-import', dir], ['relay', '--bogus'],
  ];
  for (const args of cases) {
    const r = run(args);
    assert.strictEqual(r.status, 2, `${args.join(' ')} -> ${r.status}: ${r.stderr}`);
    assert.ok(r.stderr.length > 0, `${args.join(' ')} says why on stderr`);
    assert.strictEqual(r.stdout, '', `${args.join(' ')} prints nothing on stdout`);
  }
});

test('network errors exit 3, a missing value 1', { timeout: 60000 }, () => {
  for (const args of [['put', DEAD, 'a.b', '1'], ['get', DEAD, 'a.b'], ['watch', DEAD, 'a.b'], ['stats', DEAD]]) {
    const r = run([...args, ...(args[0] === 'stats' ? [] : ['--timeout', '800'])]);
    assert.strictEqual(r.status, 3, `${args.join(' ')}: ${r.stderr}`);
  }
  const dir = tmpdir('gun-cli-nf-');
  assert.strictEqual(run(['put', '--data', dir, 'here.x', '1']).status, 0);
  assert.strictEqual(run(['get', '--data', dir, 'here.y']).status, 1);
  assert.strictEqual(run(['get', '--data', dir, 'nowhere']).status, 1);
});

test('against a relay: a refused put exits 4, quoting, watch, stats, export/import', { timeout: 120000 }, async () => {
  const relay = await startRelay();
  const gun = gunClient(relay.url);
  let w;
  try {
    // The SEA firewall refuses a plain write to a user's alias soul: rejected, exit 4.
    let r = run(['put', relay.url, '~@mallory', '{"x":1}']);
    assert.strictEqual(r.status, 4, r.stderr);
    assert.ok(r.stderr.length > 0);

    // PATH quoting: '\.' is a dot inside a soul or key, '\\' a backslash.
    r = run(['put', relay.url, 'we\\.ird.k\\\\ey.sub', '"deep"']);
    assert.strictEqual(r.status, 0, r.stderr);
    const seen = await new Promise((resolve) => gun.get('we.ird').get('k\\ey').get('sub').once((v) => resolve(v)));
    assert.strictEqual(seen, 'deep', 'Gun.js finds the value at soul "we.ird", key "k\\ey"');
    assert.strictEqual(run(['get', relay.url, 'we\\.ird.k\\\\ey.sub']).stdout, '"deep"\n');

    // watch: the current value, then each write of a Gun.js client, one JSON line each.
    gun.get('watched').put({ n: 0 });
    await until(() => run(['get', relay.url, 'watched.n']).stdout === '0\n', 20000, 'first value stored');
    w = spawn(GUN, ['watch', relay.url, 'watched.n'], { env: childEnv() });
    let out = '';
    w.stdout.on('data', (d) => { out += d; });
    await until(() => out.split('\n').includes('0'), 20000, 'watch prints the current value');
    for (let i = 1; i <= 3; i++) {
      gun.get('watched').put({ n: i });
      await until(() => out.split('\n').includes(String(i)), 20000, `watch prints ${i}`);
    }
    for (const line of out.split('\n').filter(Boolean)) JSON.parse(line);
    w.kill('SIGTERM');
    assert.strictEqual(await new Promise((res) => w.on('exit', (c) => res(c))), 0);
    w = null;

    // stats move with the CLI's own writes.
    const count = () => Number(/"puts_total": (\d+)/.exec(run(['stats', relay.url]).stdout)[1]);
    const before = count();
    for (let i = 0; i < 3; i++) assert.strictEqual(run(['put', relay.url, `counted.k${i}`, String(i)]).status, 0);
    assert.ok(count() >= before + 3, 'puts_total counts the three puts');
    const st = run(['stats', relay.url]);
    assert.strictEqual(st.status, 0);
    const parsed = JSON.parse(st.stdout);
    assert.strictEqual(typeof parsed.version, 'string');
    assert.ok(st.stdout.split('\n').length > 20, 'one counter per line');
  } finally {
    if (w) w.kill('SIGKILL');
    await relay.stop();
  }

  // export from one data directory, import into another, read back.
  const a = tmpdir('gun-cli-exp-a-');
  const b = tmpdir('gun-cli-exp-b-');
  assert.strictEqual(run(['put', '--data', a, 'doc', '{"title":"hello","n":7}']).status, 0);
  assert.strictEqual(run(['put', '--data', a, 'doc.tags', '{"x":true}']).status, 0);
  const exp = run(['export', '--data', a]);
  assert.strictEqual(exp.status, 0, exp.stderr);
  const graph = JSON.parse(exp.stdout);
  assert.strictEqual(graph.doc.title, 'hello');
  const imp = run(['import', '--data', b], { input: exp.stdout });
  assert.strictEqual(imp.status, 0, imp.stderr);
  assert.strictEqual(run(['get', '--data', b, 'doc.title']).stdout, '"hello"\n');
  assert.strictEqual(run(['get', '--data', b, 'doc.tags.x']).stdout, 'true\n');
  assert.strictEqual(run(['import', '--data', b], { input: '{"bad":{"_":{"#":"other"}}}' }).status, 4);
});
