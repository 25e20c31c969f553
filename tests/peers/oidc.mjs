// Starts panva's oidc-provider on 127.0.0.1 for Latchkey's end-to-end tests.
//
// Usage: node oidc.mjs '<config JSON>' (or the same JSON in OIDC_CONFIG).
// The config is {"clients": [{client_id, client_secret,
// token_endpoint_auth_method, redirect_uris?, grant_types?,
// access_token_ttl?}], "access_token_ttl"?, "registration"?,
// "resources"?}. TTLs are in seconds. `registration: true` turns on dynamic
// client registration (RFC 7591) at /reg. `resources` lists resource servers
// as [{resource, scope, access_token_ttl?}]: an authorization request naming
// one with `resource` (RFC 8707) gets a JWT access token for it, whose
// audience is the resource.
//
// Once listening it prints one JSON line to stdout: {"issuer", "port"}.
// Every other output goes to stderr. It exits when stdin reaches EOF, so it
// dies with the test process that started it.
//
// Test-only routes:
// - GET /__stats: token requests counted per client and grant type, and the
//   requests rejected for using the wrong client authentication method.
// - GET /__token?value=T: whether T is a live access token or client
//   credentials token, and for which client.

import http from 'node:http';

// oidc-provider writes its notices with console.info; keep stdout for the
// single JSON line the harness reads.
console.info = (...args) => console.error(...args);

const { default: Provider, errors } = await import('oidc-provider');

function readConfig() {
  const text = process.argv[2] ?? process.env.OIDC_CONFIG;
  if (!text) {
    throw new Error('missing config: pass the config JSON as the first argument or in OIDC_CONFIG');
  }
  const config = JSON.parse(text);
  const dynamic = config.registration === true;
  if (!Array.isArray(config.clients) || (config.clients.length === 0 && !dynamic)) {
    throw new Error('invalid config: `clients` must be a non-empty array unless `registration` is true');
  }
  return config;
}

const config = readConfig();
const defaultTtl = config.access_token_ttl ?? 3600;
const ttlByClient = new Map(
  config.clients.map((client) => [client.client_id, client.access_token_ttl ?? defaultTtl]),
);
const authMethodByClient = new Map(
  config.clients.map((client) => [client.client_id, client.token_endpoint_auth_method]),
);

const resourceServers = new Map(
  (config.resources ?? []).map((server) => [server.resource, server]),
);

// Describes the resource server that an RFC 8707 `resource` parameter names,
// or rejects an unknown one with `invalid_target`.
async function getResourceServerInfo(_ctx, resourceIndicator) {
  const server = resourceServers.get(resourceIndicator);
  if (!server) {
    throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
  }
  return {
    scope: server.scope,
    audience: server.resource,
    accessTokenTTL: server.access_token_ttl ?? defaultTtl,
    accessTokenFormat: 'jwt',
  };
}

const stats = { token_requests: {}, rejected_client_auth: {} };

function count(table, clientId, key) {
  const perClient = (table[clientId] ??= {});
  perClient[key] = (perClient[key] ?? 0) + 1;
}

async function readRawBody(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// Returns the client id and the client authentication method that a token
// request uses, as RFC 6749 section 2.3.1 defines them.
function clientAuthOf(headers, form) {
  const authorization = headers.authorization ?? '';
  if (authorization.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const encodedId = colon === -1 ? decoded : decoded.slice(0, colon);
    const clientId = decodeURIComponent(encodedId.replace(/\+/g, ' '));
    return { clientId, method: 'client_secret_basic' };
  }
  if (form.has('client_secret')) {
    return { clientId: form.get('client_id'), method: 'client_secret_post' };
  }
  return { clientId: form.get('client_id'), method: 'none' };
}

// Counts every token request and rejects a client that authenticates with a
// method other than its registered one. oidc-provider 9.13.3 itself accepts either
// secret method for any secret-based client.
async function tokenEndpointGuard(ctx, next) {
  if (ctx.method !== 'POST' || ctx.path !== '/token') {
    await next();
    return;
  }
  const raw = await readRawBody(ctx.req);
  // oidc-provider parses a body that an earlier middleware already read
  // from `req.body`.
  ctx.req.body = raw;
  const form = new URLSearchParams(raw);
  const grantType = form.get('grant_type') ?? '(none)';
  const { clientId, method } = clientAuthOf(ctx.headers, form);
  const key = clientId ?? '(none)';
  count(stats.token_requests, key, grantType);

  const registered = authMethodByClient.get(clientId);
  if (registered && method !== registered) {
    count(stats.rejected_client_auth, key, method);
    ctx.status = 401;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      error: 'invalid_client',
      error_description: `client ${clientId} must authenticate with ${registered}, not ${method}`,
    };
    return;
  }
  await next();
}

async function testRoutes(ctx, next) {
  if (ctx.method === 'GET' && ctx.path === '/__stats') {
    ctx.body = stats;
    return;
  }
  if (ctx.method === 'GET' && ctx.path === '/__token') {
    ctx.body = await describeToken(ctx.query.value ?? '');
    return;
  }
  await next();
}

let provider;

async function describeToken(value) {
  for (const kind of ['AccessToken', 'ClientCredentials']) {
    const token = await provider[kind].find(value);
    if (token && !token.isExpired) {
      return { active: true, kind, client_id: token.clientId, scope: token.scope ?? null };
    }
  }
  return { active: false, kind: null, client_id: null, scope: null };
}

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    token_endpoint_auth_method: client.token_endpoint_auth_method,
    redirect_uris: client.redirect_uris ?? [],
    grant_types: client.grant_types ?? ['authorization_code', 'refresh_token'],
    response_types: (client.grant_types ?? ['authorization_code']).includes('authorization_code')
      ? ['code']
      : [],
  })),
  clockTolerance: 0,
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    registration: { enabled: config.registration === true },
    resourceIndicators: {
      enabled: true,
      getResourceServerInfo,
      // A refresh that names no resource keeps the granted one.
      useGrantedResource: async () => true,
    },
  },
  pkce: { required: () => true },
  issueRefreshToken: async () => true,
  rotateRefreshToken: () => true,
  ttl: {
    AccessToken: (_ctx, _token, client) => ttlByClient.get(client.clientId) ?? defaultTtl,
    ClientCredentials: (_ctx, _token, client) => ttlByClient.get(client.clientId) ?? defaultTtl,
  },
  cookies: { keys: ['latchkey-test-cookie-key'] },
});
provider.use(testRoutes);
provider.use(tokenEndpointGuard);
server.on('request', provider.callback());

process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);

process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
