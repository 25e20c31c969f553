// Starts oauth2-mock-server on 127.0.0.1 for Latchkey's tests of token
// endpoint quirks. The mock validates nothing: any code, any refresh token
// and any client get a token. Replies are rewritten per client and grant type.
//
// Usage: node mock_oauth.mjs (no arguments).
//
// Once listening it prints one JSON line to stdout: {"issuer", "port"}.
// Every other output goes to stderr. It exits when stdin reaches EOF, so it
// dies with the test process that started it.
//
// Test-only routes:
// - POST /__reply with a JSON rule {client_id, grant_type, omit?, merge?,
//   status?, body?, raw?} rewrites every later token reply to that client for
//   that grant type, until the next rule for the same pair replaces it. The
//   `beforeResponse` hook applies it: `omit` deletes fields from the reply,
//   `merge` sets fields, `body` replaces the whole reply and `status` sets the
//   HTTP status. `raw` ({status, content_type, body}) sends that body
//   instead of JSON, which the hook cannot do. A rule with none of these
//   fields restores the mock's own reply.
// - GET /__requests?client_id=C: the token requests of client C in arrival
//   order, each {grant_type, form, body, reply_status, reply}, where `body`
//   is the request body as received.

import { randomUUID } from 'node:crypto';
import http from 'node:http';

import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const issuer = new OAuth2Issuer();
await issuer.keys.generate('RS256');
const service = new OAuth2Service(issuer);

/** Rules by `<client_id> <grant_type>`. */
const rules = new Map();
/** Token requests by client id. */
const requests = new Map();

function ruleKey(clientId, grantType) {
  return `${clientId} ${grantType}`;
}

// Returns the client id of a token request: from an `Authorization: Basic`
// header (RFC 6749 section 2.3.1) or else from the form.
function clientIdOf(headers, form) {
  const authorization = headers.authorization ?? '';
  if (authorization.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const encodedId = colon === -1 ? decoded : decoded.slice(0, colon);
    return decodeURIComponent(encodedId.replace(/\+/g, ' '));
  }
  return form.client_id ?? '(none)';
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

// Without a unique claim, two tokens signed within one second for the same
// client are identical, because the mock's claims have second resolution
// and RS256 signatures are deterministic.
service.on('beforeTokenSigning', (token) => {
  token.payload.jti = randomUUID();
});

service.on('beforeResponse', (response, req) => {
  const record = req.latchkeyRecord;
  const rule = rules.get(ruleKey(record.client_id, record.grant_type));
  if (rule) {
    if (rule.body !== undefined) {
      response.body = structuredClone(rule.body);
    }
    for (const field of rule.omit ?? []) {
      delete response.body[field];
    }
    Object.assign(response.body, rule.merge ?? {});
    if (rule.status !== undefined) {
      response.statusCode = rule.status;
    }
  }
  record.reply_status = response.statusCode;
  record.reply = structuredClone(response.body);
});

async function handleControl(req, res, url) {
  if (req.method === 'POST' && url.pathname === '/__reply') {
    const rule = JSON.parse(await readBody(req));
    if (typeof rule.client_id !== 'string' || typeof rule.grant_type !== 'string') {
      sendJson(res, 400, { error: 'a rule needs the strings client_id and grant_type' });
      return;
    }
    rules.set(ruleKey(rule.client_id, rule.grant_type), rule);
    sendJson(res, 200, { ok: true });
    return;
  }
  if (req.method === 'GET' && url.pathname === '/__requests') {
    sendJson(res, 200, requests.get(url.searchParams.get('client_id')) ?? []);
    return;
  }
  sendJson(res, 404, { error: `no test route ${req.method} ${url.pathname}` });
}

// Reads and records a token request, then sends the reply of a `raw` rule
// itself or hands the request to the mock. The mock's body parser skips a request
// whose body was already read and uses `req.body` instead.
async function handleToken(req, res) {
  const body = await readBody(req);
  const form = Object.fromEntries(new URLSearchParams(body));
  req.body = form;
  const clientId = clientIdOf(req.headers, form);
  const record = { grant_type: form.grant_type ?? '(none)', client_id: clientId, form, body };
  if (!requests.has(clientId)) {
    requests.set(clientId, []);
  }
  requests.get(clientId).push(record);
  req.latchkeyRecord = record;

  const rule = rules.get(ruleKey(clientId, record.grant_type));
  if (rule?.raw) {
    record.reply_status = rule.raw.status;
    record.reply = rule.raw.body;
    res.writeHead(rule.raw.status, { 'Content-Type': rule.raw.content_type });
    res.end(rule.raw.body);
    return;
  }
  service.requestHandler(req, res);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const handled = url.pathname.startsWith('/__')
    ? handleControl(req, res, url)
    : req.method === 'POST' && url.pathname === '/token'
      ? handleToken(req, res)
      : Promise.resolve(service.requestHandler(req, res));
  handled.catch((error) => {
    console.error(error);
    if (!res.headersSent) {
      sendJson(res, 500, { error: String(error) });
    }
  });
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
// The mock would otherwise advertise `localhost`; tests use 127.0.0.1 only.
issuer.url = `http://127.0.0.1:${port}`;

process.stdout.write(`${JSON.stringify({ issuer: issuer.url, port })}\n`);

process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
