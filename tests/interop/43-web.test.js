'use strict';
// gun relay --web DIR: static files on the WebSocket port. Content types, index.html
// fallback, redirects for directories, HEAD, CORS as Gun.js sends it (Access-Control-
// Allow-Origin: *), large files streamed whole; and every way out of DIR refused:
// dot segments plain and percent-encoded, encoded slashes and backslashes, NUL, symlinks
// pointing outside, dot-files, FIFOs, directory listings.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { startRelay, rawPeer, tmpdir, BUILD, childEnv } = require('./lib/harness');

const SECRET = 'TOP-SECRET-' + crypto.randomBytes(8).toString('hex');
const INDEX = '<!doctype html><title>app</title><p>the app</p>\n';

// A web folder inside a parent that also holds a secret file and folder, which no request
// may ever reach.
function makeSite() {
  const parent = tmpdir('gun-web-');
  fs.writeFileSync(path.join(parent, 'secret.txt'), SECRET);
  fs.mkdirSync(path.join(parent, 'private'));
  fs.writeFileSync(path.join(parent, 'private', 'key.txt'), SECRET);
  const web = path.join(parent, 'www');
  fs.mkdirSync(web);
  const w = (rel, data) => {
    fs.mkdirSync(path.dirname(path.join(web, rel)), { recursive: true });
    fs.writeFileSync(path.join(web, rel), data);
  };
  w('index.html', INDEX);
  w('app.js', 'console.log("app")\n');
  w('style.css', 'body{margin:0}\n');
  w('data.json', '{"a":1}\n');
  w('logo.svg', '<svg xmlns="http://www.w3.org/2000/svg"/>\n');
  w('pic.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  w('mod.wasm', Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  w('notes.unknownext', 'x');
  w('docs/index.html', '<p>docs</p>\n');
  w('docs/page.html', '<p>page</p>\n');
  w('assets/a.txt', 'asset a\n');
  w('assets/b.txt', 'asset b\n');
  w('.env', SECRET);
  w('.git/config', SECRET);
  w('.well-known/security.txt', 'Contact: mailto:x@example.com\n');
  w('%2e%2e', 'a file literally named %2e%2e\n');
  const big = crypto.randomBytes(3 * 1024 * 1024 + 12345);
  w('big.bin', big);
  fs.symlinkSync(path.join(parent, 'secret.txt'), path.join(web, 'leak.txt'));
  fs.symlinkSync(path.join(parent, 'private'), path.join(web, 'private-link'));
  fs.symlinkSync('/etc', path.join(web, 'etc'));
  fs.symlinkSync('app.js', path.join(web, 'alias.js'));
  const fifo = spawnSync('mkfifo', [path.join(web, 'pipe.txt')]);
  return { parent, web, big, fifo: fifo.status === 0 };
}

async function get(port, p, init) {
  const r = await fetch(`http://127.0.0.1:${port}${p}`, { redirect: 'manual', ...(init || {}) });
  const buf = Buffer.from(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, type: r.headers.get('content-type'), buf, body: buf.toString('latin1') };
}

// One raw request line, exactly as written (fetch and curl normalize paths first).
// Resolves with the status (0 when the relay closed without answering) and the whole text.
function raw(port, line) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const done = () => { const m = /^HTTP\/1\.[01] (\d{3})/.exec(out); resolve({ status: m ? Number(m[1]) : 0, text: out }); };
    s.setTimeout(10000, () => s.destroy());
    s.on('data', (d) => { out += d.toString('latin1'); });
    s.on('close', done);
    s.on('error', () => {});
    s.write(`${line}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

test('--web serves files with their types, index fallback, redirects, HEAD, CORS', { timeout: 60000 }, async () => {
  const site = makeSite();
  const relay = await startRelay(['--web', site.web]);
  try {
    const types = {
      '/': 'text/html; charset=utf-8',
      '/index.html': 'text/html; charset=utf-8',
      '/app.js': 'text/javascript; charset=utf-8',
      '/style.css': 'text/css; charset=utf-8',
      '/data.json': 'application/json',
      '/logo.svg': 'image/svg+xml',
      '/pic.png': 'image/png',
      '/mod.wasm': 'application/wasm',
      '/notes.unknownext': 'application/octet-stream',
      '/alias.js': 'text/javascript; charset=utf-8',
      '/.well-known/security.txt': 'text/plain; charset=utf-8',
    };
    for (const [p, type] of Object.entries(types)) {
      const r = await get(relay.port, p);
      assert.strictEqual(r.status, 200, p);
      assert.strictEqual(r.type, type, p);
      assert.strictEqual(r.headers.get('access-control-allow-origin'), '*', p);
      assert.strictEqual(r.headers.get('x-content-type-options'), 'nosniff', p);
    }
    assert.strictEqual((await get(relay.port, '/')).body, INDEX);
    assert.strictEqual((await get(relay.port, '/alias.js')).body, 'console.log("app")\n');
    assert.strictEqual((await get(relay.port, '/app.js?v=2&x')).body, 'console.log("app")\n', 'query ignored');
    assert.strictEqual((await get(relay.port, '/docs/')).body, '<p>docs</p>\n');
    assert.strictEqual((await get(relay.port, '/docs/page.html')).body, '<p>page</p>\n');
    // A literal "%2e%2e" file name is reached by encoding its percent signs: one decoding.
    assert.strictEqual((await get(relay.port, '/%252e%252e')).body, 'a file literally named %2e%2e\n');

    // A directory named without its slash redirects (relative links must resolve in it).
    const d = await get(relay.port, '/docs');
    assert.strictEqual(d.status, 301);
    assert.strictEqual(d.headers.get('location'), '/docs/');

    // Unknown paths are the app's routes: index.html.
    for (const p of ['/some/client/route', '/missing.js', '/docs/missing', '/assets/']) {
      const r = await get(relay.port, p);
      assert.strictEqual(r.status, 200, p);
      assert.strictEqual(r.body, INDEX, p);
      assert.strictEqual(r.type, 'text/html; charset=utf-8', p);
    }

    // HEAD: the length of the body, no body.
    const h = await get(relay.port, '/app.js', { method: 'HEAD' });
    assert.strictEqual(h.status, 200);
    assert.strictEqual(h.headers.get('content-length'), String('console.log("app")\n'.length));
    assert.strictEqual(h.buf.length, 0);

    // Only GET and HEAD.
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const r = await get(relay.port, '/app.js', { method, body: method === 'POST' || method === 'PUT' ? 'x' : undefined });
      assert.strictEqual(r.status, 405, method);
      assert.strictEqual(r.headers.get('allow'), 'GET, HEAD', method);
    }

    // A file bigger than any buffer arrives whole (streamed in chunks), twice at once.
    const [b1, b2] = await Promise.all([get(relay.port, '/big.bin'), get(relay.port, '/big.bin')]);
    for (const b of [b1, b2]) {
      assert.strictEqual(b.status, 200);
      assert.strictEqual(b.buf.length, site.big.length);
      assert.ok(b.buf.equals(site.big), 'big.bin intact');
    }

    // The endpoints and the WebSocket still answer beside the files.
    assert.strictEqual((await get(relay.port, '/health')).body, '{"ok":true}');
    const p = await rawPeer(relay.ws);
    p.send({ '#': 'w1', put: { webnode: { _: { '#': 'webnode', '>': { v: 1 } }, v: 1 } } });
    const ack = await p.reply('w1', 10000);
    assert.strictEqual(ack.err, undefined);
    p.close();
  } finally {
    await relay.stop();
  }
});

test('--web refuses traversal, encoded escapes, symlinks out, dot-files and listings', { timeout: 60000 }, async () => {
  const site = makeSite();
  const relay = await startRelay(['--web', site.web]);
  const leaked = [];
  const check = (what, r) => {
    if (r.text.includes(SECRET) || /root:x:0:0/.test(r.text)) leaked.push(what);
    // No listing: no answer names the folder's other files.
    assert.ok(!/a\.txt[\s\S]*b\.txt/.test(r.text), `${what}: looks like a listing`);
  };
  try {
    // Escapes in every spelling, sent byte for byte. lws collapses dot segments at the root
    // after decoding, so most of these ask for a path that does not exist in DIR and get the
    // app's index; none may reach the secret.
    const escapes = [
      '/../secret.txt', '/../../../../../../etc/passwd', '/docs/../../secret.txt',
      '/%2e%2e/secret.txt', '/%2E%2E/%2E%2E/etc/passwd', '/docs/%2e%2e/%2e%2e/secret.txt',
      '/..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/docs%2f..%2f..%2fsecret.txt',
      '/.%2e/secret.txt', '/%252e%252e/secret.txt', '/..%252fsecret.txt',
      '/..%5csecret.txt', '/docs/..%5c..%5csecret.txt', '/..\\secret.txt',
      '/%c0%ae%c0%ae/secret.txt', '/.../secret.txt', '//etc/passwd', '///../secret.txt',
      '../secret.txt', 'secret.txt', 'http://127.0.0.1/../secret.txt',
      '/private-link/key.txt', '/etc/passwd', '/etc/hostname',
    ];
    for (const p of escapes) {
      const r = await raw(relay.port, `GET ${p} HTTP/1.1`);
      check(p, r);
      assert.ok(r.status === 0 || r.status === 200 || (r.status >= 400 && r.status < 500), `${p}: status ${r.status}`);
      if (r.status === 200) assert.ok(r.text.endsWith(INDEX), `${p}: a 200 is only ever the app's index`);
    }
    // Exactly refused (never the index): a symlink out, backslashes, NUL, dot-files, a FIFO.
    const refused = {
      '/leak.txt': 403, '/private-link/key.txt': 403, '/etc/passwd': 403,
      '/..%5csecret.txt': 400, '/docs\\page.html': 400, '/.env': 400, '/.git/config': 400,
      '/docs/%2e%2e%5c%2e%2e%5csecret.txt': 400,
    };
    if (site.fifo) refused['/pipe.txt'] = 403;
    for (const [p, status] of Object.entries(refused)) {
      const r = await raw(relay.port, `GET ${p} HTTP/1.1`);
      check(p, r);
      assert.strictEqual(r.status, status, `${p}: ${r.text.slice(0, 200)}`);
    }
    // NUL in the path: lws drops the request or we refuse it; never a file.
    for (const p of ['/leak.txt%00.html', '/index.html%00', '/a%00/../secret.txt']) {
      const r = await raw(relay.port, `GET ${p} HTTP/1.1`);
      check(p, r);
      assert.ok(r.status === 0 || r.status === 400 || r.status === 403, `${p}: status ${r.status}`);
    }
    // Directories never list: with an index it is served, without one the app's index.
    for (const p of ['/assets/', '/assets', '/docs/', '/.well-known/']) {
      const r = await raw(relay.port, `GET ${p} HTTP/1.1`);
      check(p, r);
      assert.ok(!r.text.includes('a.txt') && !r.text.includes('b.txt'), `${p} lists`);
    }
    assert.deepStrictEqual(leaked, [], 'requests that leaked the secret');
    // The relay is still fine after all that.
    assert.strictEqual((await get(relay.port, '/health')).status, 200);
  } finally {
    await relay.stop();
  }
});

test('without --web plain paths are 404; a --web that is not a directory is a usage error', { timeout: 30000 }, async () => {
  const relay = await startRelay();
  try {
    assert.strictEqual((await get(relay.port, '/')).status, 404);
    assert.strictEqual((await get(relay.port, '/index.html')).status, 404);
    const r = await get(relay.port, '/stats', { method: 'POST', body: 'x' });
    assert.strictEqual(r.status, 405);
  } finally {
    await relay.stop();
  }
  const dir = tmpdir('gun-web-bad-');
  const file = path.join(dir, 'file.txt');
  fs.writeFileSync(file, 'x');
  for (const bad of [path.join(dir, 'missing'), file]) {
    const r = spawnSync(path.join(BUILD, 'gun'), ['relay', '--port', '0', '--store', 'memory', '--web', bad],
      { encoding: 'utf8', timeout: 20000, env: childEnv() });
    assert.strictEqual(r.status, 2, r.stderr);
    assert.match(r.stderr, /is not a directory/);
  }
});
