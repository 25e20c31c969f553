//! The OpenAPI document of Latchkey's own HTTP API, as the router in
//! `server/src/routes/mod.rs` serves it. The codegen test
//! `openapi_latchkey_api` compares the two, so a route added there without
//! a path here fails it.

use serde_json::{json, Value};

use super::{error_schema, OPENAPI_VERSION};

const SECRET_KEY: &str = "secretKey";
const SESSION_TOKEN: &str = "connectSessionToken";
const PAGE_SESSION_TOKEN: &str = "connectPageSessionToken";

/// Methods the proxy route documents: every method OpenAPI 3.1 has a field
/// for except TRACE, which the proxy rejects with 405 because an upstream
/// that echoes the request would send the injected credential back.
const PROXY_METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

pub(crate) fn document(catalog_version: &str) -> Value {
    json!({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Latchkey HTTP API",
            "version": catalog_version,
            "description": "Latchkey's HTTP API: providers, integrations, connect sessions, connections, the proxy, and the browser routes of the connect flow. The routes an application calls take the secret key as a bearer token. The browser routes take the connect session token in the query string, and the OAuth callback is authorized by its `state`. Every JSON error has the shape `{\"error\":{\"code\",\"message\"}}`; the browser routes answer errors with an HTML page unless the request accepts only JSON.",
            "x-latchkey-catalog-version": catalog_version,
        },
        "servers": [{
            "url": "{latchkeyUrl}",
            "description": "A Latchkey server.",
            "variables": {
                "latchkeyUrl": {
                    "default": "http://127.0.0.1:3003",
                    "description": "Base URL of the server, without a trailing slash. The default is the address `latchkey serve` listens on without `--listen`.",
                },
            },
        }],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                SECRET_KEY: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Latchkey's secret key: `LATCHKEY_SECRET_KEY` or the data directory's `secret_key` file.",
                },
                SESSION_TOKEN: {
                    "type": "apiKey",
                    "in": "query",
                    "name": "connect_session_token",
                    "description": "The `token` of a connect session from `POST /connect/sessions`. It lets the end user's browser connect the integrations the session allows, once each.",
                },
                PAGE_SESSION_TOKEN: {
                    "type": "apiKey",
                    "in": "query",
                    "name": "session_token",
                    "description": "The connect session token as the session's `connect_link` carries it.",
                },
            },
            "schemas": schemas(),
            "responses": {
                "Unauthorized": error_response("Missing, malformed or invalid secret key: `missing_secret_key`, `invalid_secret_key`."),
                "InvalidBody": error_response("The body is not valid JSON or breaks a field rule: `invalid_body`."),
                "UnknownIntegration": error_response("No integration has this `unique_key`: `unknown_integration`."),
                "UnknownConnection": error_response("No connection has this id in this integration: `unknown_connection` (or `unknown_integration`)."),
                "PayloadTooLarge": error_response("The body is larger than 2 MiB (32 MiB for the proxy): `payload_too_large`."),
                "StoreError": error_response("The store failed: `store_error`."),
                "BrowserError": {
                    "description": "An error of a browser route: an HTML page for the end user, or the JSON error when the request accepts only `application/json`. Codes include `invalid_connect_session_token` (401), `integration_not_allowed` (403), `unknown_integration` (404), `connect_session_used` (409), `invalid_credentials`, `invalid_connection_config` and `invalid_body` (400).",
                    "content": {
                        "text/html": { "schema": { "type": "string" } },
                        "application/json": { "schema": { "$ref": "#/components/schemas/Error" } },
                    },
                },
            },
            "parameters": {
                "UniqueKey": {
                    "name": "unique_key",
                    "in": "path",
                    "required": true,
                    "description": "The integration's unique key.",
                    "schema": { "$ref": "#/components/schemas/UniqueKey" },
                },
                "ConnectionId": {
                    "name": "connection_id",
                    "in": "path",
                    "required": true,
                    "description": "The connection's id within its integration.",
                    "schema": { "type": "string" },
                },
                "ProviderConfigKeyQuery": {
                    "name": "provider_config_key",
                    "in": "query",
                    "required": true,
                    "description": "The `unique_key` of the connection's integration. A request without it is a 400 `invalid_query_params`.",
                    "schema": { "type": "string", "minLength": 1 },
                },
            },
        },
    })
}

fn paths() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert("/health".to_owned(), json!({ "get": health() }));
    paths.insert("/providers".to_owned(), json!({ "get": list_providers() }));
    paths.insert(
        "/providers/{name}".to_owned(),
        json!({ "get": get_provider() }),
    );
    paths.insert(
        "/integrations".to_owned(),
        json!({ "get": list_integrations(), "post": create_integration() }),
    );
    paths.insert(
        "/integrations/{unique_key}".to_owned(),
        json!({
            "parameters": [{ "$ref": "#/components/parameters/UniqueKey" }],
            "get": get_integration(),
            "patch": update_integration(),
            "delete": delete_integration(),
        }),
    );
    paths.insert(
        "/connect/sessions".to_owned(),
        json!({ "post": create_session() }),
    );
    paths.insert(
        "/connections".to_owned(),
        json!({ "get": list_connections(), "post": create_connection() }),
    );
    paths.insert(
        "/connections/{connection_id}".to_owned(),
        json!({
            "parameters": [
                { "$ref": "#/components/parameters/ConnectionId" },
                { "$ref": "#/components/parameters/ProviderConfigKeyQuery" },
            ],
            "get": get_connection(),
            "delete": delete_connection(),
        }),
    );
    paths.insert("/proxy/".to_owned(), proxy(false));
    paths.insert("/proxy/{path}".to_owned(), proxy(true));
    paths.insert("/connect".to_owned(), json!({ "get": connect_page() }));
    paths.insert(
        "/connect/{unique_key}/{mode}".to_owned(),
        json!({ "post": enter_credentials() }),
    );
    paths.insert(
        "/oauth/connect/{unique_key}".to_owned(),
        json!({ "get": oauth_connect() }),
    );
    paths.insert(
        "/oauth/callback".to_owned(),
        json!({ "get": oauth_callback() }),
    );
    Value::Object(paths)
}

fn secret_key() -> Value {
    json!([{ SECRET_KEY: [] }])
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// Describes an error response of Latchkey itself, which carries its code
/// in the `X-Latchkey-Error` header too.
fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "headers": {
            "X-Latchkey-Error": {
                "description": "The error code of the body. Only Latchkey's own error responses carry this header: the proxy removes it from the provider's responses.",
                "schema": { "type": "string" },
            },
        },
        "content": json_content(schema_ref("Error")),
    })
}

/// Wraps `schema` in the `{"data": ...}` object most responses have.
fn data_of(schema: Value) -> Value {
    json!({
        "type": "object",
        "required": ["data"],
        "properties": { "data": schema },
    })
}

fn success_schema() -> Value {
    json!({
        "type": "object",
        "required": ["success"],
        "properties": { "success": { "const": true } },
    })
}

fn health() -> Value {
    json!({
        "operationId": "health",
        "summary": "Check that the server is up",
        "security": [],
        "responses": {
            "200": {
                "description": "The server is up.",
                "content": json_content(json!({
                    "type": "object",
                    "required": ["status"],
                    "properties": { "status": { "const": "ok" } },
                })),
            },
        },
    })
}

fn list_providers() -> Value {
    json!({
        "operationId": "listProviders",
        "summary": "List every provider of the catalog, sorted by name",
        "security": secret_key(),
        "responses": {
            "200": {
                "description": "The providers.",
                "content": json_content(data_of(json!({ "type": "array", "items": schema_ref("Provider") }))),
            },
            "401": response_ref("Unauthorized"),
        },
    })
}

fn get_provider() -> Value {
    json!({
        "operationId": "getProvider",
        "summary": "Get one provider definition",
        "security": secret_key(),
        "parameters": [{
            "name": "name",
            "in": "path",
            "required": true,
            "description": "The provider's name, such as `github`.",
            "schema": { "type": "string" },
        }],
        "responses": {
            "200": {
                "description": "The provider.",
                "content": json_content(data_of(schema_ref("Provider"))),
            },
            "401": response_ref("Unauthorized"),
            "404": error_response("No provider has this name: `unknown_provider`."),
        },
    })
}

fn list_integrations() -> Value {
    json!({
        "operationId": "listIntegrations",
        "summary": "List the integrations",
        "security": secret_key(),
        "responses": {
            "200": {
                "description": "The integrations, without their client credentials.",
                "content": json_content(data_of(json!({ "type": "array", "items": schema_ref("Integration") }))),
            },
            "401": response_ref("Unauthorized"),
            "500": response_ref("StoreError"),
        },
    })
}

fn create_integration() -> Value {
    json!({
        "operationId": "createIntegration",
        "summary": "Create an integration of a provider",
        "security": secret_key(),
        "requestBody": {
            "required": true,
            "content": json_content(schema_ref("CreateIntegration")),
        },
        "responses": {
            "200": {
                "description": "The new integration.",
                "content": json_content(data_of(schema_ref("Integration"))),
            },
            "400": error_response("Invalid body or client credentials that do not fit the provider's auth mode: `invalid_body`, `invalid_credentials`."),
            "401": response_ref("Unauthorized"),
            "404": error_response("Unknown provider: `unknown_provider`."),
            "409": error_response("An integration with this `unique_key` exists: `duplicate_integration`."),
            "413": response_ref("PayloadTooLarge"),
        },
    })
}

fn get_integration() -> Value {
    json!({
        "operationId": "getIntegration",
        "summary": "Get an integration",
        "security": secret_key(),
        "parameters": [{
            "name": "include",
            "in": "query",
            "required": false,
            "description": "`credentials` adds the client credentials, secret included. The parameter may repeat or hold a comma-separated list; other values are ignored.",
            "schema": { "type": "string" },
        }],
        "responses": {
            "200": {
                "description": "The integration.",
                "content": json_content(data_of(schema_ref("Integration"))),
            },
            "401": response_ref("Unauthorized"),
            "404": response_ref("UnknownIntegration"),
        },
    })
}

fn update_integration() -> Value {
    json!({
        "operationId": "updateIntegration",
        "summary": "Rename an integration or replace its display name or client credentials",
        "security": secret_key(),
        "requestBody": {
            "required": true,
            "content": json_content(schema_ref("UpdateIntegration")),
        },
        "responses": {
            "200": {
                "description": "The updated integration.",
                "content": json_content(data_of(schema_ref("Integration"))),
            },
            "400": error_response("Invalid body or client credentials: `invalid_body`, `invalid_credentials`."),
            "401": response_ref("Unauthorized"),
            "404": response_ref("UnknownIntegration"),
            "409": error_response("The new `unique_key` is taken: `duplicate_integration`."),
        },
    })
}

fn delete_integration() -> Value {
    json!({
        "operationId": "deleteIntegration",
        "summary": "Delete an integration and its connections",
        "security": secret_key(),
        "responses": {
            "200": { "description": "Deleted.", "content": json_content(success_schema()) },
            "401": response_ref("Unauthorized"),
            "404": response_ref("UnknownIntegration"),
        },
    })
}

fn create_session() -> Value {
    json!({
        "operationId": "createConnectSession",
        "summary": "Create a connect session for an end user",
        "security": secret_key(),
        "requestBody": {
            "required": true,
            "content": json_content(json!({
                "type": "object",
                "required": ["end_user"],
                "properties": {
                    "end_user": schema_ref("EndUser"),
                    "allowed_integrations": {
                        "type": "array",
                        "items": { "type": "string" },
                        "description": "Integration keys the session may connect; every integration when absent. Each must exist.",
                    },
                },
            })),
        },
        "responses": {
            "201": {
                "description": "The session. Send the end user to `connect_link`.",
                "content": json_content(data_of(json!({
                    "type": "object",
                    "required": ["token", "connect_link", "expires_at"],
                    "properties": {
                        "token": { "type": "string", "description": "The connect session token, starting with `lk_cs_`." },
                        "connect_link": { "type": "string", "format": "uri" },
                        "expires_at": { "type": "string", "format": "date-time" },
                    },
                }))),
            },
            "400": response_ref("InvalidBody"),
            "401": response_ref("Unauthorized"),
            "404": error_response("An entry of `allowed_integrations` does not exist: `unknown_integration`."),
        },
    })
}

fn list_connections() -> Value {
    let filter = |name: &str, description: &str| {
        json!({
            "name": name,
            "in": "query",
            "required": false,
            "description": description,
            "schema": { "type": "string" },
        })
    };
    json!({
        "operationId": "listConnections",
        "summary": "List connections, without credentials",
        "security": secret_key(),
        "parameters": [
            filter("endUserId", "Only connections of this end user id."),
            filter("connectionId", "Only connections with this connection id."),
            filter("integrationId", "Only connections of this integration key."),
        ],
        "responses": {
            "200": {
                "description": "The matching connections.",
                "content": json_content(json!({
                    "type": "object",
                    "required": ["connections"],
                    "properties": {
                        "connections": { "type": "array", "items": schema_ref("ConnectionSummary") },
                    },
                })),
            },
            "401": response_ref("Unauthorized"),
        },
    })
}

fn create_connection() -> Value {
    json!({
        "operationId": "createConnection",
        "summary": "Import a connection with a credential the application already holds",
        "security": secret_key(),
        "requestBody": {
            "required": true,
            "content": json_content(schema_ref("ImportConnection")),
        },
        "responses": {
            "201": {
                "description": "The stored connection, credentials included.",
                "content": json_content(schema_ref("Connection")),
            },
            "400": error_response("Invalid body, credentials or connection config: `invalid_body`, `invalid_credentials`, `invalid_connection_config`."),
            "401": response_ref("Unauthorized"),
            "404": response_ref("UnknownIntegration"),
            "409": error_response("The integration already has this connection id: `duplicate_connection`."),
            "502": error_response("A step that calls the provider (client-credentials grant, token request, post-connection step) failed."),
        },
    })
}

fn get_connection() -> Value {
    json!({
        "operationId": "getConnection",
        "summary": "Get a connection with its credential, refreshed first when it is about to expire",
        "security": secret_key(),
        "parameters": [{
            "name": "force_refresh",
            "in": "query",
            "required": false,
            "description": "`true` or `1` refreshes the credential even when it is not about to expire.",
            "schema": { "type": "string", "enum": ["true", "false", "1", "0", ""] },
        }],
        "responses": {
            "200": {
                "description": "The connection, credentials included.",
                "content": json_content(schema_ref("Connection")),
            },
            "400": error_response("Missing `provider_config_key` or an invalid `force_refresh`: `invalid_query_params`."),
            "401": response_ref("Unauthorized"),
            "404": response_ref("UnknownConnection"),
            "424": error_response("The provider rejected the refresh (`refresh_failed`), and the connection records the error, or the integration of an OAuth 2.0 connection has no client credentials to refresh with (`missing_client_credentials`)."),
            "502": error_response("The refresh request failed on the way (`refresh_temporarily_failed`); retry after the seconds in `Retry-After`."),
        },
    })
}

fn delete_connection() -> Value {
    json!({
        "operationId": "deleteConnection",
        "summary": "Delete a connection",
        "security": secret_key(),
        "responses": {
            "200": { "description": "Deleted.", "content": json_content(success_schema()) },
            "400": error_response("Missing `provider_config_key`: `invalid_query_params`."),
            "401": response_ref("Unauthorized"),
            "404": response_ref("UnknownConnection"),
        },
    })
}

/// Describes the proxy route: `/proxy/{path}` when `with_path`, else
/// `/proxy/`, which forwards to the provider's base URL itself.
fn proxy(with_path: bool) -> Value {
    let header = |name: &str, required: bool, description: &str| {
        json!({
            "name": name,
            "in": "header",
            "required": required,
            "description": description,
            "schema": { "type": "string" },
        })
    };
    let mut parameters = Vec::new();
    if with_path {
        parameters.push(json!({
            "name": "path",
            "in": "path",
            "required": true,
            "description": "Path under the provider's base URL; it may contain `/`. A dot segment, also percent-encoded, is a 400 `invalid_proxy_path`.",
            "schema": { "type": "string" },
        }));
    }
    parameters.extend([
        header("Provider-Config-Key", true, "The `unique_key` of the connection's integration."),
        header("Connection-Id", true, "The connection whose credential Latchkey attaches."),
        header("Base-Url-Override", false, "A base URL on the provider's own scheme, host and port to use instead of its base URL; another origin is a 400 `forbidden_base_url_override`."),
    ]);
    let mut item = json!({ "parameters": parameters });
    let suffix = if with_path { "" } else { "BaseUrl" };
    for method in PROXY_METHODS {
        let mut operation = json!({
            "operationId": format!("proxy{}{}{suffix}", method[..1].to_ascii_uppercase(), &method[1..]),
            "summary": "Forward a request to the provider with the connection's credential attached",
            "description": "Only the method, the query string, the body, `Content-Type` and the `Nango-Proxy-<Name>` headers (as `<Name>`) go upstream. The response is the provider's, passed through. Each provider's own OpenAPI document describes its side.",
            "security": secret_key(),
            "responses": {
                "default": { "description": "The provider's response, passed through unchanged." },
                "400": error_response("A missing header, an invalid path or base URL override: `missing_header`, `invalid_proxy_path`, `forbidden_base_url_override`."),
                "401": response_ref("Unauthorized"),
                "404": response_ref("UnknownConnection"),
                "413": response_ref("PayloadTooLarge"),
                "424": error_response("The credential needed a refresh and the provider rejected it (`refresh_failed`), and the connection records the error, or the integration of an OAuth 2.0 connection has no client credentials to refresh with (`missing_client_credentials`)."),
                "500": error_response("A template of the definition failed to render (`template_error`), or the store failed (`store_error`)."),
                "502": error_response("The provider could not be reached (`upstream_unreachable`), a refresh failed on the way (`refresh_temporarily_failed`, with `Retry-After`), or signing or attaching the credential failed (`engine_error`)."),
            },
        });
        if matches!(*method, "put" | "post" | "patch") {
            operation["requestBody"] = json!({
                "required": false,
                "content": { "*/*": { "schema": {} } },
            });
        }
        item[*method] = operation;
    }
    item
}

fn connect_page() -> Value {
    json!({
        "operationId": "connectPage",
        "summary": "The connect page: one form per integration the session allows",
        "security": [{ PAGE_SESSION_TOKEN: [] }],
        "responses": {
            "200": {
                "description": "The HTML page.",
                "content": { "text/html": { "schema": { "type": "string" } } },
            },
            "401": response_ref("BrowserError"),
        },
    })
}

fn enter_credentials() -> Value {
    json!({
        "operationId": "enterCredentials",
        "summary": "Store the credential the end user entered on the connect page",
        "description": "The mode must fit the integration's auth mode; another mode is a 400 `invalid_credentials` that names the right route, and a mode outside the list is the JSON 404 of an unknown route. A form body gets HTML pages back, a JSON body JSON; another `Content-Type` is a 400 `invalid_body`.",
        "security": [{ SESSION_TOKEN: [] }],
        "parameters": [
            { "$ref": "#/components/parameters/UniqueKey" },
            {
                "name": "mode",
                "in": "path",
                "required": true,
                "schema": {
                    "type": "string",
                    "enum": ["api-key", "basic", "signature", "aws-sigv4", "tba", "two-step", "session", "jwt"],
                },
            },
        ],
        "requestBody": {
            "required": true,
            "content": {
                "application/json": { "schema": schema_ref("EnteredCredentials") },
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "description": "The fields of `EnteredCredentials` by name (`api_key=...`), the fields of a `two_step`, `session` or `jwt` definition as `credentials[NAME]=...`, and the connection config as `params[KEY]=...`.",
                        "additionalProperties": { "type": "string" },
                    },
                },
            },
        },
        "responses": {
            "201": {
                "description": "The connection was stored (JSON request).",
                "content": json_content(json!({
                    "type": "object",
                    "required": ["connectionId", "providerConfigKey"],
                    "properties": {
                        "connectionId": { "type": "string" },
                        "providerConfigKey": { "type": "string" },
                    },
                })),
            },
            "200": {
                "description": "The connection was stored (form request): a page that reports it and closes the popup.",
                "content": { "text/html": { "schema": { "type": "string" } } },
            },
            "400": response_ref("BrowserError"),
            "401": response_ref("BrowserError"),
            "403": response_ref("BrowserError"),
            "404": response_ref("BrowserError"),
            "409": response_ref("BrowserError"),
            "413": response_ref("PayloadTooLarge"),
        },
    })
}

fn oauth_connect() -> Value {
    json!({
        "operationId": "oauthConnect",
        "summary": "Start the OAuth flow of an integration in the end user's browser",
        "description": "Serves the OAuth 2.0, MCP OAuth and OAuth 1.0a modes. A connection-config value given both in `params` and as `params[KEY]` takes the pair's value.",
        "security": [{ SESSION_TOKEN: [] }],
        "parameters": [
            { "$ref": "#/components/parameters/UniqueKey" },
            {
                "name": "params",
                "in": "query",
                "required": false,
                "description": "The connection config as a JSON object, such as `{\"subdomain\":\"acme\"}`. The connect page's form sends `params[KEY]=VALUE` pairs instead, which OpenAPI cannot name beside this parameter; a pair overrides the JSON value of its key.",
                "schema": { "type": "string" },
            },
        ],
        "responses": {
            "302": {
                "description": "Redirect to the provider's authorization page.",
                "headers": { "Location": { "schema": { "type": "string", "format": "uri" } } },
            },
            "400": response_ref("BrowserError"),
            "401": response_ref("BrowserError"),
            "403": response_ref("BrowserError"),
            "404": response_ref("BrowserError"),
            "409": response_ref("BrowserError"),
        },
    })
}

fn oauth_callback() -> Value {
    let query = |name: &str, description: &str| {
        json!({
            "name": name,
            "in": "query",
            "required": false,
            "description": description,
            "schema": { "type": "string" },
        })
    };
    json!({
        "operationId": "oauthCallback",
        "summary": "The provider's redirect back to Latchkey",
        "description": "The redirect URI registered with providers is `<public URL>/oauth/callback`. The request is authorized by its single-use `state` instead of a token. Query parameters other than these may fill connection-config values the provider defines.",
        "security": [],
        "parameters": [
            query("state", "The OAuth state Latchkey sent with the authorization request (OAuth 2.0)."),
            query("code", "The authorization code (OAuth 2.0); some providers name it otherwise."),
            query("error", "The provider's error code when the end user or the provider declined."),
            query("error_description", "The provider's description of `error`."),
            query("oauth_token", "The request token (OAuth 1.0a)."),
            query("oauth_verifier", "The verifier (OAuth 1.0a)."),
        ],
        "responses": {
            "200": {
                "description": "The connection was stored: a page that reports it and closes the popup.",
                "content": { "text/html": { "schema": { "type": "string" } } },
            },
            "4XX": {
                "description": "An HTML page that explains the failure: unknown, used or expired state (`invalid_state`), the provider's `error`, or a rejected code.",
                "content": { "text/html": { "schema": { "type": "string" } } },
            },
            "5XX": {
                "description": "An HTML page that explains the failure of the code exchange or the store.",
                "content": { "text/html": { "schema": { "type": "string" } } },
            },
        },
    })
}

fn schemas() -> Value {
    json!({
        "Error": error_schema(),
        "UniqueKey": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "pattern": "^[A-Za-z0-9_.@:+-]+$",
            "description": "1 to 64 ASCII letters, digits and `_.@:+-`, not only dots.",
        },
        "EndUser": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": { "type": "string", "minLength": 1, "maxLength": 255 },
                "email": { "type": "string", "minLength": 1, "maxLength": 255 },
                "display_name": { "type": "string", "minLength": 1, "maxLength": 255 },
            },
            "description": "The end user a connection belongs to. Each text is 1 to 255 characters without control characters.",
        },
        "Provider": {
            "type": "object",
            "required": ["name", "display_name", "auth", "proxy"],
            "properties": {
                "name": { "type": "string" },
                "display_name": { "type": "string" },
                "categories": { "type": "array", "items": { "type": "string" } },
                "docs_url": { "type": "string" },
                "auth": {
                    "type": "object",
                    "required": ["mode"],
                    "properties": { "mode": { "$ref": "#/components/schemas/AuthMode" } },
                },
                "connection_config": { "type": "object" },
                "proxy": {
                    "type": "object",
                    "required": ["base_url"],
                    "properties": { "base_url": { "type": "string" } },
                },
                "post_connection": { "type": "array" },
            },
            "description": "A provider definition as the catalog file gives it; `docs/provider-format.md` describes every field.",
        },
        "AuthMode": {
            "type": "string",
            "enum": [
                "oauth2", "oauth2_client_credentials", "api_key", "basic", "two_step", "session",
                "none", "signature", "aws_sigv4", "jwt", "mcp_oauth2", "oauth1", "tba",
            ],
        },
        "AppCredentialsInput": {
            "type": "object",
            "required": ["type", "client_id", "client_secret"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": ["OAUTH2", "OAUTH2_CC", "MCP_OAUTH2", "OAUTH1", "TBA"],
                    "description": "Must fit the provider's auth mode; the other modes take no client credentials.",
                },
                "client_id": { "type": "string", "minLength": 1 },
                "client_secret": { "type": "string" },
                "scopes": {
                    "oneOf": [
                        { "type": "string", "description": "Comma-separated scopes." },
                        { "type": "array", "items": { "type": "string" } },
                    ],
                },
            },
        },
        "CreateIntegration": {
            "type": "object",
            "required": ["unique_key", "provider"],
            "properties": {
                "unique_key": schema_ref("UniqueKey"),
                "provider": { "type": "string", "description": "A provider name from `GET /providers`." },
                "display_name": { "type": "string", "minLength": 1, "maxLength": 255 },
                "credentials": schema_ref("AppCredentialsInput"),
                "integration_config": schema_ref("IntegrationConfig"),
            },
        },
        "UpdateIntegration": {
            "type": "object",
            "properties": {
                "unique_key": schema_ref("UniqueKey"),
                "display_name": { "type": "string", "minLength": 1, "maxLength": 255 },
                "credentials": schema_ref("AppCredentialsInput"),
                "integration_config": schema_ref("IntegrationConfig"),
            },
        },
        "IntegrationConfig": {
            "type": "object",
            "description": "Values of the provider's fields marked `integration_default` (connection-config fields, and the credential fields of `two_step`, `session` and `jwt`), by key, each checked with its field's rules. A connection without its own value for a key takes the integration's. PATCH replaces the whole set. Replies show secret values only with `include=credentials`.",
            "additionalProperties": { "type": ["string", "number", "boolean"] },
        },
        "Integration": {
            "type": "object",
            "required": ["unique_key", "provider", "display_name", "created_at", "updated_at"],
            "properties": {
                "unique_key": { "type": "string" },
                "provider": { "type": "string" },
                "display_name": {
                    "type": ["string", "null"],
                    "description": "The integration's display name, or the provider's.",
                },
                "created_at": { "type": "string", "format": "date-time" },
                "updated_at": { "type": "string", "format": "date-time" },
                "integration_config": schema_ref("IntegrationConfig"),
                "credentials": {
                    "description": "Only with `include=credentials`; `null` when the integration has none.",
                    "oneOf": [
                        { "type": "null" },
                        {
                            "type": "object",
                            "required": ["type", "client_id", "client_secret", "scopes"],
                            "properties": {
                                "type": { "type": "string" },
                                "client_id": { "type": "string" },
                                "client_secret": { "type": "string" },
                                "scopes": { "type": "string", "description": "Comma-separated scopes." },
                            },
                        },
                    ],
                },
            },
        },
        "ImportConnection": {
            "type": "object",
            "required": ["provider_config_key"],
            "properties": {
                "provider_config_key": { "type": "string", "description": "The integration's `unique_key`." },
                "connection_id": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": "^[A-Za-z0-9_.@:+-]+$",
                    "description": "A new UUID when absent.",
                },
                "end_user": schema_ref("EndUser"),
                "connection_config": schema_ref("ConnectionConfig"),
                "metadata": { "type": "object" },
                "credentials": schema_ref("ImportCredentials"),
            },
        },
        "ConnectionConfig": {
            "type": "object",
            "description": "Values of the provider's `connection_config` keys: strings, numbers or booleans as each field's type says. Undeclared keys are rejected.",
            "additionalProperties": { "type": ["string", "number", "boolean"] },
        },
        "ImportCredentials": {
            "type": "object",
            "required": ["type"],
            "description": "The credential in Nango's shape, selected by `type`; required except for a provider of the `none` mode. `OAUTH2` takes `access_token`, `refresh_token`, `expires_at` (RFC 3339), `expires_in` (seconds) and `raw`; `OAUTH2_CC` takes `client_id` and `client_secret` (the integration's when absent) and, for a provider with `require_client_certificate`, the PEM `client_certificate` and `client_private_key`; `API_KEY` takes `api_key`; `BASIC` and `SIGNATURE` take `username` and `password`; `AWS_SIGV4` takes `access_key_id`, `secret_access_key` and `session_token`, or only `role_arn` for a provider with `assume_role`; `OAUTH1` takes `oauth_token` and `oauth_token_secret`; `TBA` takes `token_id` and `token_secret`; `TWO_STEP`, `BILL` and `JWT` take the definition's credential fields as top-level keys.",
            "properties": {
                "type": {
                    "type": "string",
                    "enum": ["OAUTH2", "OAUTH2_CC", "API_KEY", "BASIC", "TWO_STEP", "BILL", "NONE", "SIGNATURE", "AWS_SIGV4", "JWT", "OAUTH1", "TBA"],
                },
            },
            "additionalProperties": true,
        },
        "Credentials": {
            "type": "object",
            "required": ["type"],
            "description": "The stored credential in Nango's wire shape, selected by `type`. Secrets are included.",
            "properties": {
                "type": {
                    "type": "string",
                    "enum": ["OAUTH2", "OAUTH2_CC", "API_KEY", "BASIC", "TWO_STEP", "BILL", "NONE", "SIGNATURE", "AWS_SIGV4", "JWT", "MCP_OAUTH2", "OAUTH1", "TBA"],
                },
            },
            "additionalProperties": true,
        },
        "ConnectionError": {
            "type": "object",
            "required": ["type", "code", "message", "occurred_at"],
            "properties": {
                "type": { "type": "string", "description": "Kind of failure, `refresh` for a failed token refresh." },
                "code": { "type": "string" },
                "message": { "type": "string" },
                "occurred_at": { "type": "string", "format": "date-time" },
            },
        },
        "Connection": {
            "type": "object",
            "required": [
                "id", "connection_id", "provider_config_key", "provider", "created_at",
                "updated_at", "metadata", "connection_config", "errors", "end_user", "credentials",
            ],
            "properties": {
                "id": { "type": "integer", "minimum": 0 },
                "connection_id": { "type": "string" },
                "provider_config_key": { "type": "string" },
                "provider": { "type": "string" },
                "created_at": { "type": "string", "format": "date-time" },
                "updated_at": { "type": "string", "format": "date-time" },
                "metadata": { "type": "object" },
                "connection_config": schema_ref("ConnectionConfig"),
                "errors": { "type": "array", "items": schema_ref("ConnectionError") },
                "end_user": { "oneOf": [{ "type": "null" }, schema_ref("EndUser")] },
                "credentials": schema_ref("Credentials"),
            },
        },
        "ConnectionSummary": {
            "type": "object",
            "required": ["id", "connection_id", "provider", "provider_config_key", "created", "metadata", "errors", "end_user"],
            "properties": {
                "id": { "type": "integer", "minimum": 0 },
                "connection_id": { "type": "string" },
                "provider": { "type": "string" },
                "provider_config_key": { "type": "string" },
                "created": { "type": "string", "format": "date-time" },
                "metadata": { "type": "object" },
                "errors": { "type": "array", "items": schema_ref("ConnectionError") },
                "end_user": { "oneOf": [{ "type": "null" }, schema_ref("EndUser")] },
            },
        },
        "EnteredCredentials": {
            "type": "object",
            "description": "The credential fields of the route's mode, all required and non-empty: `api_key` (api-key); `username` and `password` (basic, signature); `access_key_id`, `secret_access_key` and `session_token` (aws-sigv4), or only `role_arn` (aws-sigv4 with `assume_role`); `token_id` and `token_secret` (tba). The two-step, session and jwt modes take the definition's fields in `credentials` instead.",
            "properties": {
                "api_key": { "type": "string" },
                "username": { "type": "string" },
                "password": { "type": "string" },
                "access_key_id": { "type": "string" },
                "secret_access_key": { "type": "string" },
                "session_token": { "type": "string" },
                "role_arn": { "type": "string" },
                "token_id": { "type": "string" },
                "token_secret": { "type": "string" },
                "credentials": {
                    "type": "object",
                    "additionalProperties": { "type": "string" },
                },
                "connection_config": schema_ref("ConnectionConfig"),
            },
        },
    })
}
