'use strict';
// SEA users end to end: our C library (tests/interop/sea_user_peer.c, public gun.h API only)
// and real Gun.js clients create, log into and write into each other's accounts through our
// relay and through the Gun.js relay.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { BUILD, childEnv, startRelay, startGunRelay, gunClient, until } = require('./lib/harness');

require('gun/gun');
const SEA = require('gun/sea');

const T = 30000; // generous: PBKDF2 and two processes on a loaded box
const uniq = () => Math.random().toString(36).slice(2, 10);
const EVERIFY = -22;
const EAUTH = -26;
const EEXIST = -27;

const live = new Set();
process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });

// Drives build/sea_user_peer: cmd() resolves with the one JSON line each command prints.
class CUser {
  constructor(peerUrl) {
    this.lines = [];
    this.waiters = [];
    this.err = '';
    this.child = spawn(path.join(BUILD, 'sea_user_peer'), ['--peer', peerUrl, '--timeout', String(T)],
      { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() });
    live.add(this.child);
    let buf = '';
    this.child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.lines.push(JSON.parse(l));
        const w = this.waiters.shift();
        if (w) w(this.lines.shift());
      }
    });
    this.child.stderr.on('data', (d) => { this.err += d; });
    this.exited = new Promise((r) => this.child.on('exit', (code) => { live.delete(this.child); r(code); }));
    this.ready = this.next('ready');
  }
  next(what) {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`sea_user_peer: no answer to ${what}; stderr: ${this.err.slice(-2000)}`)), 3 * T);
      this.waiters.push((l) => { clearTimeout(t); resolve(l); });
    });
  }
  async cmd(...words) {
    this.child.stdin.write(words.join(' ') + '\n');
    return this.next(words[0]);
  }
  async ok(...words) {
    const r = await this.cmd(...words);
    assert.strictEqual(r.rc, 0, `${words.join(' ').slice(0, 200)} -> ${JSON.stringify(r)}`);
    return r;
  }
  async quit() {
    this.child.stdin.write('quit\n');
    const code = await this.exited;
    assert.strictEqual(code, 0, `sea_user_peer exit; stderr: ${this.err.slice(-2000)}`);
  }
}

// Gun.js's callback APIs as promises.
const jsCreate = (user, alias, pass) => new Promise((r) => user.create(alias, pass, r));
const jsAuth = (user, alias, pass) => new Promise((r) => user.auth(alias, pass, r));
const jsPut = (chain, v, opt) => new Promise((r) => chain.put(v, r, opt));
// once() until the value is there (data may still be on its way through the relay)
const jsOnce = (chain, pred, what) => until(() => new Promise((r) => chain.once((v) => r(pred(v) ? { v } : null), { wait: 300 })), T, what).then((x) => x.v);

async function cUntil(c, words, pred, what) {
  return until(async () => { const r = await c.cmd(...words); return pred(r) ? r : null; }, T, what);
}

// alice: a Gun.js user logged in on gun (her pair), bob: a new C user (his pub).
async function twoUsers(gun, c) {
  const alice = gun.user();
  const aliasA = 'a' + uniq(), passA = 'alice pass ' + uniq();
  assert.ok(!(await jsCreate(alice, aliasA, passA)).err);
  assert.ok(!(await jsAuth(alice, aliasA, passA)).err);
  const { pub: bob } = await c.ok('create', 'b' + uniq(), 'bob pass ' + uniq());
  return { pairA: alice._.sea, bob };
}

const relays = [['our relay', startRelay], ['the Gun.js relay', startGunRelay]];

for (const [name, start] of relays) {
  test(`a C user through ${name}: a Gun.js client logs in and reads its signed data`, { timeout: 6 * T }, async () => {
    const relay = await start();
    const c = new CUser(relay.url);
    const gun = gunClient(relay.url);
    try {
      await c.ready;
      const alias = 'c' + uniq(), pass = 'correct horse ' + uniq();
      const { pub } = await c.ok('create', alias, pass);
      assert.match(pub, /^[\w-]{43}\.[\w-]{43}$/);
      assert.strictEqual((await c.cmd('create', alias, pass)).rc, EEXIST, 'alias taken');
      assert.strictEqual((await c.cmd('create', 'x' + uniq(), 'short')).rc, -1, 'password too short');
      await c.ok('put', '~/says', '"hello from C"');
      await c.ok('put', '~/profile', '{"name":"Ada","langs":{"first":"C"}}');
      // the C side reads its own signed values as plain values
      assert.strictEqual((await c.ok('get', '~/says')).data, 'hello from C');
      assert.strictEqual((await c.ok('get', '~/profile/langs/first')).data, 'C');

      const user = gun.user();
      const ack = await jsAuth(user, alias, pass);
      assert.ok(!ack.err, `Gun.js user.auth: ${ack.err}`);
      assert.strictEqual(user.is.pub, pub);
      assert.strictEqual(user.is.alias, alias);
      assert.strictEqual(await jsOnce(user.get('says'), (v) => v !== undefined, 'says'), 'hello from C');
      assert.strictEqual(await jsOnce(user.get('profile').get('name'), (v) => v !== undefined, 'name'), 'Ada');
      assert.strictEqual(await jsOnce(user.get('profile').get('langs').get('first'), (v) => v !== undefined, 'first'), 'C');
      // the account record Gun.js reads back is the one user.create writes
      const rec = await jsOnce(gun.get('~' + pub), (v) => v && v.auth, 'record');
      assert.strictEqual(rec.pub, pub);
      assert.strictEqual(rec.alias, alias);
      assert.deepStrictEqual(Object.keys(JSON.parse(rec.auth)), ['ek', 's']);
      assert.strictEqual(JSON.parse(rec.auth).s.length, 64);

      // Gun.js, logged in as the C user, signs a write the C side then reads
      const put = await jsPut(user.get('reply'), 'hi from Gun.js');
      assert.ok(!put.err, put.err);
      const r = await cUntil(c, ['get', '~/reply'], (x) => x.rc === 0, 'C reads the reply');
      assert.strictEqual(r.data, 'hi from Gun.js');

      // C logs out and back in with the password; a wrong one is refused
      await c.ok('leave');
      assert.strictEqual((await c.cmd('is')).rc, -6);
      assert.strictEqual((await c.cmd('auth', alias, 'wrong password')).rc, EAUTH);
      assert.strictEqual((await c.cmd('auth', 'nobody' + uniq(), pass)).rc, EAUTH);
      assert.strictEqual((await c.ok('auth', alias, pass)).pub, pub);
      // without a login, a write into the user's graph is refused by the library itself
      await c.ok('leave');
      const refused = await c.cmd('put', '~' + pub + '/says', '"forged"');
      assert.strictEqual(refused.rc, EVERIFY);
      assert.strictEqual(refused.err_text, 'Unverified data.');
      await c.quit();
    } finally {
      c.child.kill('SIGKILL');
      relay.stop();
    }
  });

  test(`a Gun.js user through ${name}: the C library logs in, reads and writes signed data`, { timeout: 6 * T }, async () => {
    const relay = await start();
    const gun = gunClient(relay.url);
    const c = new CUser(relay.url);
    try {
      const alias = 'js' + uniq(), pass = 'battery staple ' + uniq();
      const user = gun.user();
      const made = await jsCreate(user, alias, pass);
      assert.ok(!made.err, made.err);
      const ack = await jsAuth(user, alias, pass);
      assert.ok(!ack.err, ack.err);
      assert.ok(!(await jsPut(user.get('says'), 'hello from Gun.js')).err);
      assert.ok(!(await jsPut(user.get('profile'), { name: 'Bea', n: 7 })).err);
      await c.ready;
      const auth = await cUntil(c, ['auth', alias, pass], (x) => x.rc !== EAUTH, 'C logs in');
      assert.strictEqual(auth.rc, 0);
      assert.strictEqual(auth.pub, made.pub);
      assert.strictEqual((await cUntil(c, ['get', '~/says'], (x) => x.rc === 0, 'says')).data, 'hello from Gun.js');
      assert.strictEqual((await cUntil(c, ['get', '~/profile/n'], (x) => x.rc === 0, 'n')).data, 7);
      // C writes as the Gun.js user; Gun.js and a second, anonymous Gun.js client read it
      await c.ok('put', '~/fromc', '{"text":"written by C","ok":true}');
      await c.ok('put', '~/says', '"changed by C"');
      assert.strictEqual(await jsOnce(user.get('fromc').get('text'), (v) => v !== undefined, 'fromc'), 'written by C');
      const other = gunClient(relay.url);
      assert.strictEqual(await jsOnce(other.get('~' + made.pub).get('says'), (v) => v === 'changed by C', 'says'), 'changed by C');
      await c.quit();
    } finally {
      c.child.kill('SIGKILL');
      relay.stop();
    }
  });
}

test('certificates: writes into another user\'s graph are accepted by both relays', { timeout: 8 * T }, async () => {
  const ours = await startRelay();
  const theirs = await startGunRelay();
  const cs = [];
  try {
    for (const relay of [ours, theirs]) {
      const gun = gunClient(relay.url);
      const c = new CUser(relay.url);
      cs.push(c);
      await c.ready;
      // alice is a Gun.js user, bob the C user
      const { pairA, bob } = await twoUsers(gun, c);

      // alice lets bob write `inbox`; bob (C) writes it with the certificate
      const cert = await SEA.certify(bob, 'inbox', pairA);
      const w = await c.cmd('certput', '~' + pairA.pub + '/inbox', cert, '"hi alice, from C"');
      assert.strictEqual(w.rc, 0, `${relay.kind}: certified write ${JSON.stringify(w)}`);
      assert.strictEqual(await jsOnce(gun.get('~' + pairA.pub).get('inbox'), (v) => v !== undefined, 'inbox'), 'hi alice, from C');
      // not covered by the certificate, or no certificate at all: refused before it leaves
      const no = await c.cmd('certput', '~' + pairA.pub + '/profile', cert, '"nope"');
      assert.deepStrictEqual([no.rc, no.err_text], [EVERIFY, 'Certificate verification fail.']);
      const bare = await c.cmd('put', '~' + pairA.pub + '/inbox', '"no cert"');
      assert.deepStrictEqual([bare.rc, bare.err_text], [EVERIFY, 'Unverified data.']);

      // the other way: bob (C) certifies alice (Gun.js), who writes into bob's graph
      const back = await c.ok('certify', pairA.pub, '"notes"');
      const p = await jsPut(gun.get('~' + bob).get('notes'), 'hi bob, from Gun.js', { opt: { cert: back.cert } });
      assert.ok(!p.err, `${relay.kind}: Gun.js certified write: ${p.err}`);
      const r = await cUntil(c, ['get', '~/notes'], (x) => x.rc === 0, 'C reads notes');
      assert.strictEqual(r.data, 'hi bob, from Gun.js');
      await c.quit();
    }
  } finally {
    for (const c of cs) c.child.kill('SIGKILL');
    ours.stop();
    theirs.stop();
  }
});

test('messages encrypted to another user (secret + encrypt) both ways', { timeout: 6 * T }, async () => {
  const relay = await startRelay();
  const gun = gunClient(relay.url);
  const c = new CUser(relay.url);
  try {
    await c.ready;
    const { pairA, bob } = await twoUsers(gun, c);
    // each side finds the other's epub in the graph, as an app does
    const bobEpub = await jsOnce(gun.get('~' + bob).get('epub'), (v) => v !== undefined, 'bob epub');
    const aliceEpub = (await cUntil(c, ['get', '~' + pairA.pub + '/epub'], (x) => x.rc === 0, 'alice epub')).data;
    assert.strictEqual(aliceEpub, pairA.epub);

    // C -> Gun.js, through bob's signed graph
    const text = 'meet at noon ✓ ' + uniq();
    const enc = await c.ok('encrypt', aliceEpub, text);
    assert.match(enc.data, /^SEA\{"ct":/);
    await c.ok('put', '~/msg', JSON.stringify(enc.data));
    const got = await jsOnce(gun.get('~' + bob).get('msg'), (v) => v !== undefined, 'msg');
    assert.strictEqual(await SEA.decrypt(got, await SEA.secret(bobEpub, pairA)), text);

    // Gun.js -> C
    const reply = 'see you ' + uniq();
    const back = await SEA.encrypt(reply, await SEA.secret(bobEpub, pairA));
    const dec = await c.ok('decrypt', aliceEpub, back);
    assert.strictEqual(dec.data, reply);
    // a third party's secret does not open it
    const eve = await SEA.pair();
    assert.strictEqual(await SEA.decrypt(got, await SEA.secret(bobEpub, eve)), undefined);
    await c.quit();
  } finally {
    c.child.kill('SIGKILL');
    relay.stop();
  }
});
