'use strict';
// A real browser against the relay: `gun relay --web DIR` serves a page that loads Gun.js
// (copied from the npm package into DIR at test time) and connects back to the relay's
// /gun. Two headless Chromium pages, each in its own browser context (no shared storage,
// so data can only travel through the relay), write in one and read in the other, both
// ways and live; everything is asserted through the DevTools protocol and a screenshot of
// each page goes to BUILD/test-output/. Chromium comes from Debian (scripts/bootstrap
// installs it); without it the test is skipped with that reason.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn, spawnSync } = require('node:child_process');
const WebSocket = require('ws');
const { startRelay, tmpdir, until, BUILD, ROOT, childEnv } = require('./lib/harness');

const CHROMIUM = ['chromium', 'chromium-browser', 'google-chrome']
  .map((c) => spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).stdout.trim())
  .find(Boolean);
const OUT = path.join(BUILD, 'test-output');

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>libgun browser test</title>
<style>body{font:16px sans-serif;margin:2em} #log{white-space:pre;border:1px solid #888;padding:1em}</style>
<script src="/gun.js"></script></head>
<body><h1>libgun relay + Gun.js</h1><p id="who"></p><div id="log"></div>
<script>
  // Gun.js as a browser app uses it: peers at this origin's /gun, no local storage, so
  // every value this page sees came over the WebSocket.
  window.gun = Gun({ peers: [location.origin + '/gun'], localStorage: false });
  window.seen = [];
  const log = (line) => { document.getElementById('log').textContent += line + '\\n'; };
  window.write = (key, value) => new Promise((resolve) => {
    gun.get('browser-test').get(key).put(value, (ack) => { log('put ' + key + ' = ' + value + (ack.err ? ' ERR ' + ack.err : ' acked')); resolve(ack.err || 'ok'); });
  });
  window.watch = (key) => { gun.get('browser-test').get(key).on((v) => { window.seen.push([key, v]); log('saw ' + key + ' = ' + v); }); return 'watching'; };
  window.wait = (key, value, ms) => new Promise((resolve) => {
    const t0 = Date.now();
    (function poll() {
      if (window.seen.some(([k, v]) => k === key && v === value)) return resolve('seen');
      if (Date.now() - t0 > ms) return resolve('timeout; seen ' + JSON.stringify(window.seen));
      setTimeout(poll, 25);
    })();
  });
</script></body></html>
`;

// Minimal DevTools protocol client over the browser's WebSocket (flat sessions).
class Cdp {
  constructor(url) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 << 20 });
    this.id = 0;
    this.pending = new Map();
    this.ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      const p = m.id && this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new Error(`${p.method}: ${JSON.stringify(m.error)}`));
      else p.resolve(m.result);
    });
  }
  open() { return new Promise((resolve, reject) => { this.ws.once('open', resolve); this.ws.once('error', reject); }); }
  send(method, params, sessionId) {
    const id = ++this.id;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.ws.send(JSON.stringify({ id, method, params: params || {}, ...(sessionId ? { sessionId } : {}) }));
    });
  }
  close() { try { this.ws.close(); } catch (e) { /* already closed */ } }
}

// Starts headless Chromium on a free DevTools port; resolves {child, url, dataDir}.
function startChromium() {
  const dataDir = tmpdir('gun-chromium-');
  const child = spawn(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
    '--disable-dev-shm-usage', '--no-default-browser-check', `--user-data-dir=${dataDir}`,
    '--remote-debugging-port=0', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'], env: childEnv(), detached: true });
  let err = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`chromium: no DevTools URL within 60 s: ${err.slice(-2000)}`)), 60000);
    child.stderr.on('data', (d) => {
      err += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) { clearTimeout(t); resolve({ child, url: m[1], dataDir, stderr: () => err }); }
    });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`chromium exited (${code}): ${err.slice(-2000)}`)); });
  });
}

async function stopChromium(c, cdp) {
  if (cdp) {
    await Promise.race([cdp.send('Browser.close').catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
    cdp.close();
  }
  if (c.child.exitCode === null && c.child.signalCode === null) {
    const gone = new Promise((r) => c.child.once('exit', r));
    try { process.kill(-c.child.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
    await gone;
  }
  fs.rmSync(c.dataDir, { recursive: true, force: true });
}

test('two Chromium pages share data through the relay serving the page (--web)', {
  timeout: 180000,
  skip: CHROMIUM ? false : 'chromium is not installed (scripts/bootstrap installs it: apt-get install chromium)',
}, async () => {
  const web = tmpdir('gun-browser-web-');
  fs.copyFileSync(path.join(ROOT, 'node_modules/gun/gun.js'), path.join(web, 'gun.js'));
  fs.writeFileSync(path.join(web, 'index.html'), PAGE);
  const relay = await startRelay(['--web', web]);
  let chromium, cdp;
  try {
    chromium = await startChromium();
    cdp = new Cdp(chromium.url);
    await cdp.open();

    // Each page in its own browser context: separate storage, separate connections.
    const pages = [];
    for (const name of ['A', 'B']) {
      const { browserContextId } = await cdp.send('Target.createBrowserContext');
      const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank', browserContextId });
      const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true });
      await cdp.send('Page.enable', {}, sessionId);
      await cdp.send('Runtime.enable', {}, sessionId);
      const page = {
        name,
        eval: async (expression) => {
          const r = await cdp.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, sessionId);
          if (r.exceptionDetails) throw new Error(`page ${name}: ${expression}: ${JSON.stringify(r.exceptionDetails).slice(0, 1000)}`);
          return r.result.value;
        },
        shot: async (file) => {
          const { data } = await cdp.send('Page.captureScreenshot', { format: 'png' }, sessionId);
          fs.mkdirSync(OUT, { recursive: true });
          fs.writeFileSync(file, Buffer.from(data, 'base64'));
          return file;
        },
      };
      await cdp.send('Page.navigate', { url: `http://127.0.0.1:${relay.port}/` }, sessionId);
      await until(async () => (await page.eval('document.readyState')) === 'complete' &&
        (await page.eval('typeof window.Gun === "function" && typeof window.write === "function"')), 60000,
        `page ${name} loaded Gun.js from the relay`);
      await page.eval(`document.getElementById('who').textContent = 'page ${name}'`);
      pages.push(page);
    }
    const [A, B] = pages;
    await until(async () => (await (await fetch(`http://127.0.0.1:${relay.port}/stats`)).json()).connections >= 2, 60000,
      'both pages connected to the relay');

    const nonce = crypto.randomBytes(6).toString('hex');
    // A writes, B (which never saw the value) reads it from the relay.
    assert.strictEqual(await A.eval(`write('first', 'from A ${nonce}')`), 'ok');
    await B.eval(`watch('first')`);
    assert.strictEqual(await B.eval(`wait('first', 'from A ${nonce}', 30000)`), 'seen');
    // Live: B subscribes, then A changes the value; and the other way round.
    await B.eval(`watch('live')`);
    await A.eval(`watch('live')`);
    assert.strictEqual(await A.eval(`write('live', 'A live ${nonce}')`), 'ok');
    assert.strictEqual(await B.eval(`wait('live', 'A live ${nonce}', 30000)`), 'seen');
    assert.strictEqual(await B.eval(`write('live', 'B live ${nonce}')`), 'ok');
    assert.strictEqual(await A.eval(`wait('live', 'B live ${nonce}', 30000)`), 'seen');

    // The relay holds what the pages wrote (asked over a third connection, by the CLI).
    const r = spawnSync(path.join(BUILD, 'gun'), ['get', relay.url, 'browser-test.live'], { encoding: 'utf8', timeout: 30000, env: childEnv() });
    assert.strictEqual(r.status, 0, r.stderr);
    assert.strictEqual(JSON.parse(r.stdout), `B live ${nonce}`);
    const st = await (await fetch(`http://127.0.0.1:${relay.port}/stats`)).json();
    assert.ok(st.puts_total >= 3, `puts_total ${st.puts_total}`);
    assert.ok(st.pushes_total >= 2, `pushes_total ${st.pushes_total}`);

    assert.match(await B.eval(`document.getElementById('log').textContent`), new RegExp(`saw live = A live ${nonce}`));
    for (const p of pages) {
      const file = await p.shot(path.join(OUT, `44-browser-page${p.name}.png`));
      const png = fs.readFileSync(file);
      assert.ok(png.length > 1000 && png.subarray(1, 4).toString() === 'PNG', `${file} is a PNG`);
    }
  } finally {
    if (chromium) await stopChromium(chromium, cdp);
    await relay.stop();
    fs.rmSync(web, { recursive: true, force: true });
  }
});
