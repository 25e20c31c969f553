//! Conversion of the `additional_steps` of a TWO_STEP entry, or of one
//! that signs a JWT, into `steps`.
//!
//! Nango numbers the replies of the chain: `${step1.KEY}` is a value of the
//! reply to `token_url`, `${step2.KEY}` one of the reply to the first
//! additional step, and so on. Latchkey's `steps` use the same numbers as
//! the variables `step1`, `step2`.

use std::sync::LazyLock;

use regex::Regex;
use serde_yaml::{Mapping, Value};

use super::nango_two_step::body_format;
use super::{insert_map, string, Builder};
use crate::import::Reason;

/// Keys of one item of `additional_steps` that the conversion reads.
const STEP_KEYS: &[&str] = &[
    "token_url",
    "token_request_method",
    "body_format",
    "token_params",
    "token_headers",
];

/// A Nango reference to an earlier reply: `${step2.token_endpoint}`.
static STEP_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$\{step([1-9][0-9]*)\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")
        .expect("valid regex")
});

impl Builder<'_> {
    /// Converts `additional_steps` into the `steps` of `auth`.
    pub(super) fn additional_steps(&mut self, auth: &mut Mapping) -> Result<(), Reason> {
        let Some(items) = self.entry.get("additional_steps") else {
            return Ok(());
        };
        let items = items
            .as_sequence()
            .ok_or_else(|| Reason::malformed("`additional_steps` is not a list"))?;
        let mut steps = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let step = item.as_mapping().ok_or_else(|| {
                Reason::malformed(&format!("`additional_steps.{index}` is not a mapping"))
            })?;
            steps.push(Value::Mapping(self.additional_step(index, step)?));
        }
        if !steps.is_empty() {
            auth.insert("steps".into(), Value::Sequence(steps));
        }
        Ok(())
    }

    /// Converts item `index` of `additional_steps`, which is request
    /// `index + 2` of the chain and may read the replies `step1` to
    /// `step<index + 1>`.
    fn additional_step(&mut self, index: usize, step: &Mapping) -> Result<Mapping, Reason> {
        let base = format!("additional_steps.{index}");
        for key in step.keys() {
            let key = key.as_str().unwrap_or_default();
            if !STEP_KEYS.contains(&key) {
                return Err(Reason::no_equivalent(&format!("{base}.{key}")));
            }
        }
        let earlier = index + 1;
        let format = body_format(step)?;
        let mut request = Mapping::new();

        let url = string(step, "token_url")
            .ok_or_else(|| Reason::malformed(&format!("`{base}.token_url` is missing")))?;
        let url_field = format!("{base}.token_url");
        let url = self.step_template(&url_field, url.trim(), earlier, true)?;
        request.insert("url".into(), url.into());

        match string(step, "token_request_method") {
            None | Some("POST") => {}
            Some("GET") => {
                request.insert("method".into(), "GET".into());
            }
            Some(other) => {
                return Err(Reason::malformed(&format!(
                    "`{base}.token_request_method` is `{other}`, not GET or POST"
                )))
            }
        }
        if format == "json" {
            request.insert("body_format".into(), "json".into());
        }

        let mut params = Mapping::new();
        for (name, value) in step
            .get("token_params")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
        {
            let name = name
                .as_str()
                .ok_or_else(|| Reason::malformed("a parameter name is not a string"))?;
            let field = format!("{base}.token_params.{name}");
            let value = match value {
                Value::String(text) => self.step_template(&field, text, earlier, false)?.into(),
                other => self.field_value(&field, other, format)?,
            };
            params.insert(name.into(), value);
        }
        insert_map(&mut request, "params", params);

        let mut headers = Mapping::new();
        for (name, value) in step
            .get("token_headers")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(value)) = (name.as_str(), value.as_str()) else {
                return Err(Reason::malformed(&format!(
                    "`{base}.token_headers` is not a map of strings"
                )));
            };
            let field = format!("{base}.token_headers.{name}");
            let value = self.step_template(&field, value, earlier, false)?;
            headers.insert(name.into(), value.into());
        }
        insert_map(&mut request, "headers", headers);
        Ok(request)
    }

    /// Translates a template of an additional step. Each `${stepN.PATH}` is
    /// swapped for a marker, the rest is translated as a token request
    /// template, and each marker becomes `{{ stepN.PATH }}`. `earlier` is
    /// the highest reply number the step may read.
    fn step_template(
        &mut self,
        field: &str,
        nango: &str,
        earlier: usize,
        is_url: bool,
    ) -> Result<String, Reason> {
        let mut references = Vec::new();
        let mut marked = String::new();
        let mut last = 0;
        for captures in STEP_REFERENCE.captures_iter(nango) {
            let whole = captures.get(0).expect("group 0 is the match");
            let number: usize = captures[1].parse().unwrap_or(usize::MAX);
            if number > earlier {
                return Err(Reason::template(
                    field,
                    &format!(
                        "`step{number}` is not a reply that comes before this request, which can read `step1` to `step{earlier}`"
                    ),
                ));
            }
            marked.push_str(&nango[last..whole.start()]);
            marked.push_str(&marker(references.len()));
            references.push(format!("{{{{ step{number}.{} }}}}", &captures[2]));
            last = whole.end();
        }
        marked.push_str(&nango[last..]);
        if marked.contains("${step") {
            return Err(Reason::template(
                field,
                "a `${step...}` reference is not of the form `${stepN.key}`",
            ));
        }

        // The templates of a `jwt` chain read entered values as
        // `credentials.<key>`, like the assertion's templates.
        let mut text = if self.mode == "jwt" && is_url {
            self.url(field, &marked)?
        } else if self.mode == "jwt" {
            self.jwt_template(field, &marked)?
        } else if is_url {
            let mut request = Mapping::new();
            self.insert_field_url(&mut request, field, &marked)?;
            if request.len() != 1 {
                return Err(Reason::fallback(field));
            }
            string(&request, "url").unwrap_or_default().to_owned()
        } else {
            self.field_template(field, &marked)?.text
        };
        for (index, reference) in references.iter().enumerate() {
            text = text.replace(&marker(index), reference);
        }
        Ok(text)
    }
}

/// Returns a literal that stands for reference `index` while the rest of a template
/// is translated. It has no character that a translation changes.
fn marker(index: usize) -> String {
    format!("LatchkeyStepReference{index}Marker")
}

#[cfg(test)]
mod tests {
    use crate::import::import_nango;
    use crate::load::parse_provider;
    use crate::two_step::TokenRequestMethod;
    use crate::Auth;

    const FIXTURE: &str = r#"
chained:
    display_name: Chained
    auth_mode: TWO_STEP
    token_url: https://chained.test/info
    token_request_method: GET
    additional_steps:
        - token_url: ${step1.ServiceUrl}/.well-known/openid-configuration
          token_request_method: GET
        - token_url: ${step2.token_endpoint}
          body_format: json
          token_params:
              user: ${credentials.username}
              subject: ${step1.access_token}
              lifetime: 3600
          token_headers:
              authorization: Bearer ${step1.access_token}
    token_response:
        token: access_token
    proxy:
        base_url: https://chained.test/api
    credentials:
        username:
            type: string
            title: Username
ahead:
    display_name: Ahead
    auth_mode: TWO_STEP
    token_url: https://ahead.test/info
    additional_steps:
        - token_url: ${step2.token_endpoint}
    token_response:
        token: access_token
    proxy:
        base_url: https://ahead.test
    credentials:
        username:
            type: string
            title: Username
extra-key:
    display_name: Extra Key
    auth_mode: TWO_STEP
    token_url: https://extra.test/info
    additional_steps:
        - token_url: https://extra.test/token
          token_response:
              token: token
    token_response:
        token: access_token
    proxy:
        base_url: https://extra.test
    credentials:
        username:
            type: string
            title: Username
"#;

    #[test]
    fn additional_steps_convert() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("providers.yaml");
        std::fs::write(&input, FIXTURE).unwrap();

        let report = import_nango(&input, &dir.path().join("out")).unwrap();

        let text = std::fs::read_to_string(dir.path().join("out/chained.yaml")).unwrap();
        let provider = parse_provider("chained.yaml", &text).unwrap();
        let Auth::TwoStep(settings) = provider.auth else {
            panic!("chained is not two_step");
        };
        let [discovery, token] = settings.steps.as_slice() else {
            panic!("expected two steps: {:?}", settings.steps);
        };
        assert_eq!(
            discovery.url,
            "{{ step1.ServiceUrl }}/.well-known/openid-configuration"
        );
        assert_eq!(discovery.method, TokenRequestMethod::Get);
        assert_eq!(token.url, "{{ step2.token_endpoint }}");
        assert_eq!(token.params["user"], "{{ username }}");
        assert_eq!(token.params["subject"], "{{ step1.access_token }}");
        assert_eq!(token.params["lifetime"], 3600);
        assert_eq!(
            token.headers["authorization"],
            "Bearer {{ step1.access_token }}"
        );

        let reasons: Vec<(&str, &str)> = report
            .not_converted
            .iter()
            .map(|entry| (entry.name.as_str(), entry.reason.message.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("ahead", "additional_steps.0.token_url: `step2` is not a reply that comes before this request, which can read `step1` to `step1`"),
                ("extra-key", "Nango field `additional_steps.0.token_response` has no Latchkey equivalent"),
            ]
        );
    }

    /// A JWT bearer grant followed by a GET that trades the access token
    /// for the API's own token, in the shape of Workday Adaptive Planning.
    const JWT_CHAIN_FIXTURE: &str = r#"
jwt-chain:
    display_name: JWT Chain
    auth_mode: TWO_STEP
    body_format: form
    token_url: https://${connectionConfig.host}/oauth2/${connectionConfig.tenant}/token
    token_params:
        grant_type: urn:ietf:params:oauth:grant-type:jwt-bearer
        assertion: ${credentials.assertion}
    token_headers:
        content-type: application/x-www-form-urlencoded
    assertion:
        type: jwt
        key: ${credentials.privateKey}
        lifetimeInSeconds: 300
        header:
            alg: RS256
            typ: JWT
        payload:
            iss: ${credentials.clientId}
            sub: ${credentials.user}
            aud: wd
    additional_steps:
        - token_request_method: GET
          token_url: https://${connectionConfig.host}/api/${connectionConfig.tenant}/apiToken
          token_params:
              client: ${credentials.clientId}
          token_headers:
              authorization: Bearer ${step1.access_token}
    token_response:
        token: apiToken
    proxy:
        base_url: https://api.chain.test
    connection_config:
        host: { type: string, title: Host, format: hostname }
        tenant: { type: string, title: Tenant, pattern: "^[a-z]+$" }
    credentials:
        clientId: { type: string, title: Client ID }
        user: { type: string, title: User }
        assertion: { type: string, title: '', automated: true }
        privateKey: { type: string, title: Private Key, secret: true }
jwt-chain-no-url:
    display_name: JWT Chain Without URL
    auth_mode: JWT
    token:
        signing_key: ${credentials.privateKey}
        expires_in_ms: 60000
        header:
            alg: RS256
    additional_steps:
        - token_url: https://api.chain.test/token
    proxy:
        base_url: https://api.chain.test
    credentials:
        privateKey: { type: string, title: Private Key, secret: true }
"#;

    #[test]
    fn jwt_additional_steps_convert() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("providers.yaml");
        std::fs::write(&input, JWT_CHAIN_FIXTURE).unwrap();

        let report = import_nango(&input, &dir.path().join("out")).unwrap();

        let text = std::fs::read_to_string(dir.path().join("out/jwt-chain.yaml")).unwrap();
        let provider = parse_provider("jwt-chain.yaml", &text).unwrap();
        let Auth::Jwt(jwt) = provider.auth else {
            panic!("jwt-chain is not jwt");
        };
        assert_eq!(
            jwt.token_url.as_deref(),
            Some("https://{{ host }}/oauth2/{{ tenant }}/token")
        );
        assert_eq!(jwt.token_response.access_token, "apiToken");
        let [step] = jwt.steps.as_slice() else {
            panic!("expected one step: {:?}", jwt.steps);
        };
        assert_eq!(step.url, "https://{{ host }}/api/{{ tenant }}/apiToken");
        assert_eq!(step.method, TokenRequestMethod::Get);
        assert_eq!(step.params["client"], "{{ credentials.clientId }}");
        assert_eq!(
            step.headers["authorization"],
            "Bearer {{ step1.access_token }}"
        );

        let reasons: Vec<(&str, &str)> = report
            .not_converted
            .iter()
            .map(|entry| (entry.name.as_str(), entry.reason.message.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [(
                "jwt-chain-no-url",
                "`additional_steps` follow a token request, but `token_url` is missing"
            )]
        );
    }
}
