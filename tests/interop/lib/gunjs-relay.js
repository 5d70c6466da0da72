'use strict';
// The Gun.js relay as examples/http.js runs it (require('gun') with its server features), on
// a free port, in the current directory (the test gives it a fresh one for radata/).
// Multicast is off: two relays on one host cannot share UDP 8765.
const http = require('node:http');
const Gun = require('gun');

const server = http.createServer(Gun.serve(process.cwd()));
const peers = (process.env.GUNJS_PEERS || '').split(',').filter(Boolean);
Gun({ web: server, peers, multicast: false, radisk: process.env.GUNJS_RADISK !== 'false', file: 'radata' });
server.listen(Number(process.env.GUNJS_PORT || 0), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
