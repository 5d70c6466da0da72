'use strict';
// Shared helpers for the interop tests: start our relay and the Gun.js relay on free ports,
// raw WebSocket clients that speak Gun frames, and Gun.js clients (browser-like core).
const { spawn } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const WebSocket = require('ws');

const ROOT = path.resolve(__dirname, '../../..');
const BUILD = process.env.GUN_BUILD || path.join(ROOT, 'build');

// Children must not inherit node --test's context (they would report to the runner).
function childEnv(extra) {
  const env = { ...process.env, ...(extra || {}) };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix || 'gun-test-'));
}

// Waits for a line matching re on a child's stdout; resolves with the match.
function waitLine(child, re, ms, what) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`${what}: no '${re}' within ${ms} ms; got: ${buf}`)), ms);
    const on = (d) => {
      buf += d;
      const m = buf.match(re);
      if (m) { clearTimeout(t); child.stdout.off('data', on); resolve(m); }
    };
    child.stdout.on('data', on);
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`${what} exited (${code}) before ready: ${buf}`)); });
  });
}

function stopChild(child, sig) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code, signal) => resolve(code === null ? signal : code));
    child.kill(sig || 'SIGTERM');
  });
}

// Our relay: build/gun relay on port 0. extra: more CLI args. Resolves {port, url, child, stop, stderr()}.
async function startRelay(extra, env) {
  const args = ['relay', '--host', '127.0.0.1', '--port', '0', '--store', 'memory', ...(extra || [])];
  const child = spawn(path.join(BUILD, 'gun'), args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(env) });
  let err = '';
  child.stderr.on('data', (d) => { err += d; if (process.env.GUN_TEST_VERBOSE) process.stderr.write(d); });
  const m = await waitLine(child, /listening on wss?:\/\/[^:]+:(\d+)\/gun/, 10000, "gun relay");
  const port = Number(m[1]);
  return { kind: 'ours', port, url: `http://127.0.0.1:${port}/gun`, ws: `ws://127.0.0.1:${port}/gun`, child,
    stderr: () => err, stop: (sig) => stopChild(child, sig) };
}

// The Gun.js relay, as examples/http.js runs it, on a free port, with its own radata folder.
async function startGunRelay(opts) {
  const dir = (opts && opts.dir) || tmpdir('gunjs-relay-');
  const child = spawn(process.execPath, [path.join(__dirname, 'gunjs-relay.js')], {
    stdio: ['ignore', 'pipe', 'pipe'], cwd: dir,
    env: childEnv({ GUNJS_PEERS: (opts && opts.peers || []).join(','), GUNJS_RADISK: opts && opts.radisk === false ? 'false' : 'true', GUNJS_PORT: String(opts && opts.port || 0) }) });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const m = await waitLine(child, /listening on (\d+)/, 15000, 'Gun.js relay');
  const port = Number(m[1]);
  return { kind: 'gunjs', port, url: `http://127.0.0.1:${port}/gun`, ws: `ws://127.0.0.1:${port}/gun`, child, dir,
    stderr: () => err, stop: (sig) => stopChild(child, sig) };
}

// A raw Gun peer over WebSocket: collects every message (batches flattened).
class RawPeer {
  constructor(url) {
    this.url = url;
    this.msgs = [];
    this.frames = [];
    this.waiters = [];
  }
  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(this.url.replace(/^http/, 'ws'));
      this.ws.on('open', () => resolve(this));
      this.ws.on('error', reject);
      this.ws.on('message', (data) => {
        const raw = data.toString();
        this.frames.push(raw);
        let parsed;
        try { parsed = JSON.parse(raw); } catch (e) { return; }
        const list = Array.isArray(parsed) ? parsed : [parsed];
        for (const m of list) { this.msgs.push(m); }
        this.waiters = this.waiters.filter((w) => !w.check());
      });
      this.closed = new Promise((r) => this.ws.on('close', (code) => r(code)));
    });
  }
  send(obj) { this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }
  // Resolves with the first message (seen or future) matching pred.
  wait(pred, ms, what) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          const m = this.msgs.find(pred);
          if (m) { clearTimeout(w.t); resolve(m); return true; }
          return false;
        },
      };
      if (w.check()) return;
      w.t = setTimeout(() => { this.waiters = this.waiters.filter((x) => x !== w); reject(new Error(`timeout waiting for ${what || pred}; got ${JSON.stringify(this.msgs).slice(0, 2000)}`)); }, ms || 5000);
      this.waiters.push(w);
    });
  }
  reply(id, ms) { return this.wait((m) => m['@'] === id, ms, `reply to ${id}`); }
  close() { try { this.ws.terminate(); } catch (e) { /* already gone */ } }
}

async function rawPeer(url) { return new RawPeer(url).open(); }

// A browser-like Gun.js client (gun/gun core, no storage) connected to url.
function gunClient(urls, extra) {
  const Gun = require('gun/gun');
  return Gun({ peers: [].concat(urls), WebSocket, localStorage: false, radisk: false, axe: false, ...(extra || {}) });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolves when f() is truthy (polling), or rejects after ms.
async function until(f, ms, what) {
  const end = Date.now() + (ms || 5000);
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timeout: ${what || f}`);
    await sleep(20);
  }
}

function rssKiB(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
}

module.exports = { childEnv, ROOT, BUILD, tmpdir, startRelay, startGunRelay, rawPeer, RawPeer, gunClient, sleep, until, rssKiB, stopChild };
