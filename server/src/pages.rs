//! The small HTML pages of the end user's browser flow.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Serializes a value as a JavaScript literal that is safe inside a
/// `<script>` element: `<`, `>` and `&` are written as `\u` escapes.
fn script_literal(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn page(
    title: &str,
    body_attributes: &str,
    content: &str,
    message: Option<&serde_json::Value>,
) -> String {
    let script = match message {
        Some(message) => format!(
            "<script>\n\
             if (window.opener) {{ window.opener.postMessage({}, '*'); }}\n\
             setTimeout(function () {{ window.close(); }}, 300);\n\
             </script>\n",
            script_literal(message)
        ),
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n</head>\n<body{body_attributes}>\n{content}{script}</body>\n</html>\n",
        escape_html(title)
    )
}

/// The callback page after a connection was stored.
pub fn authorization_succeeded(provider_config_key: &str, connection_id: &str) -> Response {
    let message = json!({
        "eventType": "AUTHORIZATION_SUCEEDED",
        "data": { "providerConfigKey": provider_config_key, "connectionId": connection_id },
    });
    let attributes = format!(
        " data-connection-id=\"{}\" data-provider-config-key=\"{}\"",
        escape_html(connection_id),
        escape_html(provider_config_key)
    );
    let content = format!(
        "<h1>Account connected</h1>\n<p>integration: {}</p>\n<p>connection_id: {}</p>\n\
         <p>You can close this window.</p>\n",
        escape_html(provider_config_key),
        escape_html(connection_id)
    );
    let html = page("Account connected", &attributes, &content, Some(&message));
    (StatusCode::OK, Html(html)).into_response()
}

/// The callback page after a failure; `error_type` is a Latchkey error code
/// or the provider's own OAuth error code.
pub fn authorization_failed(
    status: StatusCode,
    error_type: &str,
    error_description: &str,
) -> Response {
    let message = json!({
        "eventType": "AUTHORIZATION_FAILED",
        "data": { "error_type": error_type, "error_desc": error_description },
    });
    let attributes = format!(" data-error-code=\"{}\"", escape_html(error_type));
    let content = format!(
        "<h1>Connection failed</h1>\n<p>error: {}</p>\n<p>description: {}</p>\n",
        escape_html(error_type),
        escape_html(error_description)
    );
    let html = page("Connection failed", &attributes, &content, Some(&message));
    (status, Html(html)).into_response()
}

/// One entry of the connect page: an integration and its authorization link.
pub struct ConnectLink {
    pub unique_key: String,
    pub display_name: String,
    pub href: String,
}

/// Renders the page behind a connect session's `connect_link`.
pub fn connect_page(links: &[ConnectLink]) -> Response {
    let mut content = String::from("<h1>Connect an account</h1>\n");
    if links.is_empty() {
        content.push_str("<p>This session allows no integration that uses OAuth.</p>\n");
    } else {
        content.push_str("<ul>\n");
        for link in links {
            content.push_str(&format!(
                "<li><a href=\"{}\" data-integration=\"{}\">{}</a></li>\n",
                escape_html(&link.href),
                escape_html(&link.unique_key),
                escape_html(&link.display_name)
            ));
        }
        content.push_str("</ul>\n");
    }
    let html = page("Connect an account", "", &content, None);
    (StatusCode::OK, Html(html)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn escape_html_escapes_markup() {
        assert_eq!(
            escape_html(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[tokio::test]
    async fn success_page_carries_connection_id() {
        let html = text(authorization_succeeded("github", "0f3c")).await;
        assert!(html.contains("data-connection-id=\"0f3c\""));
        assert!(html.contains("connection_id: 0f3c"));
        assert!(html.contains("\"eventType\":\"AUTHORIZATION_SUCEEDED\""));
        assert!(html.contains("\"providerConfigKey\":\"github\""));
    }

    #[tokio::test]
    async fn failure_page_cannot_close_script() {
        let response = authorization_failed(
            StatusCode::BAD_REQUEST,
            "access_denied",
            "</script><b>x</b>",
        );
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let html = text(response).await;
        assert!(!html.contains("</script><b>"));
        assert!(html.contains("&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;"));
        assert!(html.contains("\\u003c/script\\u003e"));
        assert!(html.contains("error: access_denied"));
    }
}
