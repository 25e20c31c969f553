//! Conversion of an OAUTH2 entry whose callback carries `tenant` in place
//! of a code (`authorization_code_param_in_callback: tenant`, Microsoft's
//! admin consent flow) into `admin_consent`.

use serde_yaml::{Mapping, Value};

use super::{mapping, string, Builder};
use crate::import::Reason;

/// The callback parameter of Microsoft's admin consent redirect that
/// carries the consenting tenant's id.
const TENANT_PARAM: &str = "tenant";

/// The fields that `admin_consent` leaves unused, because no code is
/// exchanged and no refresh token is sent.
const UNUSED_FIELDS: &[&str] = &["refresh_params", "refresh_scopes", "refreshable"];

impl Builder<'_> {
    /// Converts the admin consent callback of the entry into
    /// `admin_consent`. The tenant must equal the one connection-config
    /// key that the authorization URL reads, when it reads exactly one.
    /// Without `default_scopes`, the client-credentials grant requests
    /// `{proxy.base_url}/.default`, the Microsoft identity platform's scope
    /// for every permission granted to the application on that resource.
    pub(super) fn admin_consent(&mut self, auth: &mut Mapping, param: &str) -> Result<(), Reason> {
        if param != TENANT_PARAM {
            return Err(Reason::new(
                "callback parameter that carries no authorization code",
                format!("`authorization_code_param_in_callback` is `{param}`, which carries no authorization code to exchange and is not the `tenant` of an admin consent"),
            ));
        }
        let mut consent = Mapping::new();
        consent.insert("tenant_param".into(), param.into());
        let url = auth
            .get("authorization_url")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let keys = template_variables(url);
        if let [key] = keys.as_slice() {
            consent.insert("tenant_config_key".into(), key.as_str().into());
        }
        if !auth.contains_key("default_scopes") {
            let base_url = mapping(self.entry, "proxy")
                .and_then(|proxy| string(proxy, "base_url"))
                .filter(|url| url.starts_with("https://") && !url.contains("${"))
                .ok_or_else(|| {
                    Reason::malformed(
                        "the admin consent entry has no `default_scopes` and no fixed `proxy.base_url` to derive the client-credentials scope from",
                    )
                })?;
            let scope = format!("{}/.default", base_url.trim_end_matches('/'));
            auth.insert("default_scopes".into(), vec![Value::from(scope)].into());
        }
        for key in UNUSED_FIELDS {
            auth.remove(*key);
        }
        auth.insert("admin_consent".into(), Value::Mapping(consent));
        Ok(())
    }
}

/// Returns the distinct variable names of `{{ name }}` expressions in a
/// translated template, in order.
fn template_variables(template: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for piece in template.split("{{").skip(1) {
        let Some((inside, _)) = piece.split_once("}}") else {
            continue;
        };
        let name = inside.trim().to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use crate::import::import_nango;
    use crate::load::parse_provider;
    use crate::Auth;

    const FIXTURE: &str = r#"
consent:
    display_name: Consent
    auth_mode: OAUTH2
    authorization_url: https://login.example.com/${connectionConfig.tenantId}/adminconsent
    token_url: https://login.example.com/${connectionConfig.tenantId}/oauth2/v2.0/token
    authorization_code_param_in_callback: tenant
    proxy:
        base_url: https://graph.example.com/
    connection_config:
        tenantId:
            type: string
            title: Tenant ID
            format: uuid
consent-scoped:
    display_name: Consent Scoped
    auth_mode: OAUTH2
    authorization_url: https://login.example.com/organizations/adminconsent
    token_url: https://login.example.com/organizations/oauth2/v2.0/token
    authorization_code_param_in_callback: tenant
    default_scopes:
        - https://api.example.com/.default
    proxy:
        base_url: https://api.example.com
other-param:
    display_name: Other Param
    auth_mode: OAUTH2
    authorization_url: https://login.example.com/authorize
    token_url: https://login.example.com/token
    authorization_code_param_in_callback: account
    proxy:
        base_url: https://api.example.com
"#;

    #[test]
    fn tenant_callback_becomes_admin_consent() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("providers.yaml");
        std::fs::write(&input, FIXTURE).unwrap();
        let report = import_nango(&input, &dir.path().join("out")).unwrap();
        let read = |name: &str| {
            let text =
                std::fs::read_to_string(dir.path().join(format!("out/{name}.yaml"))).unwrap();
            let Auth::Oauth2(oauth2) = parse_provider(&format!("{name}.yaml"), &text).unwrap().auth
            else {
                panic!("{name} is not oauth2");
            };
            oauth2
        };

        let consent = read("consent");
        let settings = consent.admin_consent.as_ref().expect("admin_consent");
        assert_eq!(settings.tenant_param, "tenant");
        assert_eq!(settings.tenant_config_key.as_deref(), Some("tenantId"));
        assert_eq!(
            consent.default_scopes,
            ["https://graph.example.com/.default"]
        );
        assert!(consent.refresh_params.is_empty());

        let scoped = read("consent-scoped");
        let settings = scoped.admin_consent.as_ref().expect("admin_consent");
        assert_eq!(settings.tenant_config_key, None);
        assert_eq!(scoped.default_scopes, ["https://api.example.com/.default"]);

        assert_eq!(report.not_converted.len(), 1);
        let skipped = &report.not_converted[0];
        assert_eq!(skipped.name, "other-param");
        assert!(
            skipped.reason.message.contains("`account`"),
            "{}",
            skipped.reason.message
        );
    }
}
