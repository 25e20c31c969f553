// Drives a Latchkey server with Nango's official Node client
// (@nangohq/node 0.71.10) and prints one JSON object with what each call
// returned, for tests/nango_client.rs to check.
//
// Usage: node nango_client.mjs '{"host", "secretKey", "provider",
// "integrationKey", "connectionId", "apiKey", "endUserId"}'

import { Nango } from '@nangohq/node';

const input = JSON.parse(process.argv[2] ?? '{}');
const nango = new Nango({ secretKey: input.secretKey, host: input.host });

// Returns the status and body of a failed call instead of throwing, so that
// the test gets the result of every step.
async function attempt(call) {
  try {
    const value = await call();
    return { ok: true, value };
  } catch (error) {
    if (error.response) {
      return { ok: false, status: error.response.status, body: error.response.data };
    }
    return { ok: false, status: null, body: String(error) };
  }
}

// Keeps only what a test can compare: status, data, and lower-cased headers.
function proxyReply(response) {
  return { status: response.status, data: response.data, headers: response.headers };
}

const results = {};

results.createIntegration = await attempt(() =>
  nango.createIntegration({
    provider: input.provider,
    unique_key: input.integrationKey,
    display_name: 'Created by the Nango client',
  }),
);
results.listIntegrations = await attempt(() => nango.listIntegrations());
results.getIntegration = await attempt(() =>
  nango.getIntegration({ uniqueKey: input.integrationKey }),
);
results.updateIntegration = await attempt(() =>
  nango.updateIntegration(
    { uniqueKey: input.integrationKey },
    { display_name: 'Renamed by the Nango client' },
  ),
);
results.createConnectSession = await attempt(() =>
  nango.createConnectSession({
    end_user: { id: input.endUserId, email: 'end-user@example.com' },
    allowed_integrations: [input.integrationKey],
  }),
);

// @nangohq/node has no call that imports credentials, so this one step goes
// over plain HTTP, with the same headers the client sends.
const imported = await fetch(`${input.host}/connections`, {
  method: 'POST',
  headers: { Authorization: `Bearer ${input.secretKey}`, 'Content-Type': 'application/json' },
  body: JSON.stringify({
    provider_config_key: input.integrationKey,
    connection_id: input.connectionId,
    end_user: { id: input.endUserId },
    credentials: { type: 'API_KEY', apiKey: input.apiKey },
  }),
});
results.importConnection = { status: imported.status, body: await imported.json() };

results.getConnection = await attempt(() =>
  nango.getConnection(input.integrationKey, input.connectionId),
);
results.listConnections = await attempt(() => nango.listConnections());
results.listConnectionsOfUser = await attempt(() =>
  nango.listConnections({ userId: input.endUserId }),
);
results.proxyPost = await attempt(async () =>
  proxyReply(
    await nango.proxy({
      method: 'POST',
      endpoint: '/anything/nango',
      providerConfigKey: input.integrationKey,
      connectionId: input.connectionId,
      data: { hello: 'world', n: [1, 2] },
      headers: { 'X-Custom': 'from-nango' },
    }),
  ),
);
results.proxyGet = await attempt(async () =>
  proxyReply(
    await nango.get({
      endpoint: '/anything/nango',
      params: { page: '2' },
      providerConfigKey: input.integrationKey,
      connectionId: input.connectionId,
    }),
  ),
);
results.getUnknownConnection = await attempt(() =>
  nango.getConnection(input.integrationKey, 'no-such-connection'),
);
results.deleteConnection = await attempt(async () => {
  const response = await nango.deleteConnection(input.integrationKey, input.connectionId);
  return { status: response.status, data: response.data };
});
results.getDeletedConnection = await attempt(() =>
  nango.getConnection(input.integrationKey, input.connectionId),
);
results.deleteIntegration = await attempt(async () => {
  const response = await nango.deleteIntegration(input.integrationKey);
  return { status: response.status, data: response.data };
});
results.getDeletedIntegration = await attempt(() =>
  nango.getIntegration({ uniqueKey: input.integrationKey }),
);

process.stdout.write(`${JSON.stringify(results)}\n`);
