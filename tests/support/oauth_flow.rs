//! The end user's side of the OAuth flow, driven with reqwest: Latchkey's
//! `/oauth/connect`, oidc-provider's development login and consent pages,
//! and Latchkey's `/oauth/callback`.

use reqwest::StatusCode;
use url::Url;

use super::latchkey::{no_redirect_client, Api, Reply};

/// Calls `GET /oauth/connect/{key}` without following the redirect.
pub async fn start_connect(base_url: &str, key: &str, session_token: Option<&str>) -> Reply {
    let mut url = Url::parse(&format!("{base_url}/oauth/connect/{key}")).unwrap();
    if let Some(token) = session_token {
        url.query_pairs_mut()
            .append_pair("connect_session_token", token);
    }
    // JSON errors, as an API client asks for them; a browser gets HTML.
    let response = no_redirect_client()
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .expect("GET /oauth/connect");
    Reply::read(response).await
}

/// Returns the authorization URL that `/oauth/connect` redirected to,
/// failing the test unless the reply is a redirect.
pub fn authorization_url(reply: &Reply) -> Url {
    assert_eq!(
        reply.status,
        StatusCode::FOUND,
        "/oauth/connect did not redirect: {}",
        reply.text
    );
    let location = reply.header("location").expect("Location header");
    Url::parse(&location).unwrap_or_else(|e| panic!("Location {location:?} is not a URL: {e}"))
}

pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Builds a browser stand-in: a cookie store, and redirects followed only within
/// the authorization server, so the redirect to the client stops here.
fn browser(authorization_url: &Url) -> reqwest::Client {
    let origin = authorization_url.origin();
    reqwest::Client::builder()
        .cookie_store(true)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.url().origin() == origin && attempt.previous().len() < 10 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .build()
        .unwrap()
}

/// Returns the redirect target of a response that left the authorization
/// server, failing the test with the page otherwise.
async fn redirect_target(response: reqwest::Response) -> Result<Url, (StatusCode, String)> {
    let status = response.status();
    let base = response.url().clone();
    if status.is_redirection() {
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("redirect without Location")
            .to_owned();
        return Ok(base.join(&location).unwrap());
    }
    let text = response.text().await.unwrap_or_default();
    Err((status, text))
}

/// Signs in at oidc-provider's development login page as `login`, grants
/// consent, and returns the URL oidc-provider redirects the browser to (the
/// client's redirect URI with `code`, `state` and `iss`, or with `error`).
pub async fn authorize(authorization_url: &Url, login: &str) -> Url {
    let browser = browser(authorization_url);
    let mut response = browser
        .get(authorization_url.clone())
        .send()
        .await
        .expect("GET the authorization URL");
    // Login, then consent: each page's form posts back to its own URL.
    for _ in 0..3 {
        let page_url = response.url().clone();
        let page = match redirect_target(response).await {
            Ok(target) => return target,
            Err((status, page)) => {
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "oidc-provider page {page_url} failed: {page}"
                );
                page
            }
        };
        let form: Vec<(&str, &str)> = if page.contains("name=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "any")]
        } else if page.contains("name=\"prompt\" value=\"consent\"") {
            vec![("prompt", "consent")]
        } else {
            panic!("unexpected oidc-provider page at {page_url}: {page}");
        };
        response = browser
            .post(page_url)
            .form(&form)
            .send()
            .await
            .expect("POST an interaction form");
    }
    panic!("oidc-provider did not redirect to the client after login and consent");
}

/// Opens the login page and aborts there, as an end user who declines.
/// Returns the redirect to the client, which carries `error=access_denied`.
pub async fn abort(authorization_url: &Url) -> Url {
    let browser = browser(authorization_url);
    let response = browser
        .get(authorization_url.clone())
        .send()
        .await
        .expect("GET the authorization URL");
    assert_eq!(response.status(), StatusCode::OK, "no login page");
    let interaction = response.url().clone();
    assert!(
        interaction.path().starts_with("/interaction/"),
        "expected the login page, got {interaction}"
    );
    let abort_url = Url::parse(&format!(
        "{}/abort",
        interaction.as_str().trim_end_matches('/')
    ))
    .unwrap();
    let response = browser
        .get(abort_url)
        .send()
        .await
        .expect("GET the abort URL");
    match redirect_target(response).await {
        Ok(target) => target,
        Err((status, page)) => panic!("abort did not redirect ({status}): {page}"),
    }
}

/// Delivers the authorization server's redirect to Latchkey's callback.
pub async fn callback(callback_url: &Url) -> Reply {
    let response = no_redirect_client()
        .get(callback_url.clone())
        .send()
        .await
        .expect("GET /oauth/callback");
    Reply::read(response).await
}

/// Returns the `data-connection-id` attribute of a callback page.
pub fn connection_id_from_page(html: &str) -> Option<String> {
    let marker = "data-connection-id=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// Runs the whole flow for `end_user_id` and returns the new connection id,
/// failing the test when any step fails.
pub async fn connect_account(api: &Api, key: &str, end_user_id: &str, login: &str) -> String {
    let token = api.connect_session(end_user_id, None).await;
    let reply = start_connect(&api.base_url, key, Some(&token)).await;
    let authorization_url = authorization_url(&reply);
    let callback_url = authorize(&authorization_url, login).await;
    let page = callback(&callback_url).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "callback for {key} failed: {}",
        page.text
    );
    connection_id_from_page(&page.text)
        .unwrap_or_else(|| panic!("no data-connection-id in the callback page: {}", page.text))
}
