// A protected MCP resource on 127.0.0.1 for Latchkey's end-to-end tests. It
// serves protected-resource metadata (RFC 9728) and rejects unauthenticated
// requests with a 401 whose `WWW-Authenticate` names that metadata. It
// accepts a bearer token only when it is a JWT signed by the authorization
// server's keys, issued by it, unexpired and meant for this resource.
//
// Usage: node mcp_resource.mjs '<config JSON>' with {"issuer", "scope",
// "port"?}: the oidc-provider issuer whose tokens it accepts, the scope it
// advertises, and the port to listen on (a free one when absent), which the
// authorization server's resource list needs before this peer starts.
//
// Once listening it prints one JSON line to stdout: {"issuer", "port",
// "resource"}, where `issuer` is the configured one.
// It exits when stdin reaches EOF.
//
// Paths:
// - /mcp: the resource. With a valid token it returns the token's claims and
//   the request it received as JSON.
// - /wrong-issuer/mcp: its metadata names an authorization server at
//   /wrong-issuer-as whose metadata carries the real issuer, not its own URL.
// - /refusing/mcp: its authorization server (/refusing-as) rejects every
//   client registration with HTTP 400 and `invalid_redirect_uri`.
// - /wrong-resource/mcp: its metadata names another resource.
// - /no-metadata/mcp: a 401 without `resource_metadata`, and no metadata.

import http from 'node:http';

import { createRemoteJWKSet, jwtVerify } from 'jose';

const config = JSON.parse(process.argv[2] ?? '{}');
if (typeof config.issuer !== 'string' || typeof config.scope !== 'string') {
  throw new Error('invalid config: pass {"issuer": URL, "scope": SCOPE} as the first argument');
}

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port ?? 0, '127.0.0.1', resolve);
});
const { port } = server.address();
const origin = `http://127.0.0.1:${port}`;
const resource = `${origin}/mcp`;

const discovery = await fetch(`${config.issuer}/.well-known/openid-configuration`).then((r) => r.json());
const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function challenge(res, metadataPath, error) {
  const params = [];
  if (metadataPath) {
    params.push(`resource_metadata="${origin}${metadataPath}"`);
  }
  if (error) {
    params.push(`error="invalid_token", error_description="${error.replace(/"/g, "'")}"`);
  }
  const header = params.length ? `Bearer ${params.join(', ')}` : 'Bearer';
  send(res, 401, { error: 'invalid_token', error_description: error ?? 'no bearer token' }, {
    'www-authenticate': header,
  });
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// Resource metadata per path, keyed by the metadata's own path.
const resourceMetadata = {
  '/.well-known/oauth-protected-resource/mcp': {
    resource,
    authorization_servers: [config.issuer],
    scopes_supported: [config.scope],
    bearer_methods_supported: ['header'],
  },
  '/.well-known/oauth-protected-resource/wrong-issuer/mcp': {
    resource: `${origin}/wrong-issuer/mcp`,
    authorization_servers: [`${origin}/wrong-issuer-as`],
  },
  '/.well-known/oauth-protected-resource/refusing/mcp': {
    resource: `${origin}/refusing/mcp`,
    authorization_servers: [`${origin}/refusing-as`],
  },
  '/.well-known/oauth-protected-resource/wrong-resource/mcp': {
    resource: 'https://other.example/mcp',
    authorization_servers: [config.issuer],
  },
};

// Authorization server metadata that the bad-input paths point at.
const serverMetadata = {
  '/.well-known/oauth-authorization-server/wrong-issuer-as': {
    ...discovery,
    issuer: config.issuer,
  },
  '/.well-known/oauth-authorization-server/refusing-as': {
    ...discovery,
    issuer: `${origin}/refusing-as`,
    registration_endpoint: `${origin}/refusing-as/register`,
  },
};

const protectedPaths = {
  '/mcp': '/.well-known/oauth-protected-resource/mcp',
  '/wrong-issuer/mcp': '/.well-known/oauth-protected-resource/wrong-issuer/mcp',
  '/refusing/mcp': '/.well-known/oauth-protected-resource/refusing/mcp',
  '/wrong-resource/mcp': '/.well-known/oauth-protected-resource/wrong-resource/mcp',
  '/no-metadata/mcp': null,
};

server.on('request', async (req, res) => {
  const url = new URL(req.url, origin);
  const path = url.pathname;
  try {
    if (req.method === 'GET' && resourceMetadata[path]) {
      send(res, 200, resourceMetadata[path]);
      return;
    }
    if (req.method === 'GET' && serverMetadata[path]) {
      send(res, 200, serverMetadata[path]);
      return;
    }
    if (req.method === 'POST' && path === '/refusing-as/register') {
      send(res, 400, {
        error: 'invalid_redirect_uri',
        error_description: 'this server registers no clients',
      });
      return;
    }
    if (!(path in protectedPaths)) {
      send(res, 404, { error: 'not_found' });
      return;
    }
    const metadataPath = protectedPaths[path];
    const authorization = req.headers.authorization ?? '';
    if (!authorization.startsWith('Bearer ')) {
      challenge(res, metadataPath);
      return;
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(authorization.slice(7), jwks, {
        issuer: config.issuer,
        audience: `${origin}${path}`,
      }));
    } catch (error) {
      challenge(res, metadataPath, `${error.code ?? 'error'}: ${error.message}`);
      return;
    }
    const body = await readBody(req);
    send(res, 200, {
      authorized: true,
      claims: payload,
      method: req.method,
      path,
      query: Object.fromEntries(url.searchParams),
      body,
      headers: req.headers,
    });
  } catch (error) {
    console.error(error);
    send(res, 500, { error: 'server_error', error_description: String(error) });
  }
});

process.stdout.write(`${JSON.stringify({ issuer: config.issuer, port, resource })}\n`);

process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
