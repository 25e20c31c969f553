//! The `admin_consent` setting of the `oauth2` mode: Microsoft's admin
//! consent flow, where an administrator grants an application access to a
//! whole tenant and the application then obtains its own tokens with the
//! client-credentials grant.
//!
//! The authorization URL (Microsoft's `/{tenant}/adminconsent`) carries
//! only `client_id`, `state` and `redirect_uri`. The callback carries the
//! consenting tenant's id and `admin_consent=True` in place of a code.
//! The token comes from the client-credentials grant at `token_url`, with
//! the scopes in its `scope` parameter, and is renewed the same way,
//! because the grant issues no refresh token.

use serde::{Deserialize, Serialize};

use crate::checks::Problem;
use crate::diagnostic::Code;
use crate::model::OAuth2;

/// Settings of an `oauth2` definition whose authorization URL is an
/// admin-consent page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConsent {
    /// Callback query parameter that carries the consenting tenant's id.
    #[serde(default = "default_tenant_param")]
    pub tenant_param: String,
    /// Connection-config key of the tenant that the authorization URL
    /// names. The callback's tenant must equal its value, compared without
    /// regard to ASCII case, because tenant ids are GUIDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_config_key: Option<String>,
}

/// The callback query parameter whose value `True` reports that the
/// administrator granted consent.
pub const ADMIN_CONSENT_PARAM: &str = "admin_consent";

fn default_tenant_param() -> String {
    "tenant".to_owned()
}

/// Reports fields of an `admin_consent` definition that the flow does not
/// use, because the flow sends no code exchange and no refresh grant, and
/// a `tenant_config_key` that `connection_config` does not declare.
pub(crate) fn check_admin_consent(
    oauth2: &OAuth2,
    connection_config: &std::collections::BTreeMap<String, crate::model::ConfigField>,
    problems: &mut Vec<Problem>,
) {
    let Some(consent) = &oauth2.admin_consent else {
        return;
    };
    let unused = [
        ("refresh_url", oauth2.refresh_url.is_some()),
        ("refresh_params", !oauth2.refresh_params.is_empty()),
        ("refresh_scopes", !oauth2.refresh_scopes.is_empty()),
        ("callback_code_param", oauth2.callback_code_param.is_some()),
        ("response_type", oauth2.response_type.is_some()),
        ("refreshable", !oauth2.refreshable),
        (
            "authorization_param_names",
            !oauth2.authorization_param_names.is_empty(),
        ),
    ];
    for (key, is_set) in unused {
        if is_set {
            problems.push(Problem::new(
                Code::InvalidKey,
                format!("/auth/{key}"),
                format!(
                    "`{key}` has no effect with `admin_consent`, whose token comes from the \
                     client-credentials grant and is renewed with it"
                ),
                Some(format!("remove `{key}`")),
            ));
        }
    }
    // The callback's own parameters: the flow reads each of them for
    // another purpose, so none can carry the tenant.
    let reserved = [
        "state",
        "code",
        "error",
        "error_description",
        ADMIN_CONSENT_PARAM,
    ];
    if reserved.contains(&consent.tenant_param.as_str()) {
        problems.push(Problem::new(
            Code::InvalidValue,
            "/auth/admin_consent/tenant_param".to_owned(),
            format!(
                "`tenant_param` is `{}`, a callback parameter that the flow reads for \
                 another purpose, so the tenant check could never pass",
                consent.tenant_param
            ),
            Some(
                "name the callback parameter that carries the tenant's id, such as `tenant`"
                    .to_owned(),
            ),
        ));
    }
    if let Some(key) = &consent.tenant_config_key {
        if !connection_config.contains_key(key) {
            problems.push(Problem::new(
                Code::UndeclaredVariable,
                "/auth/admin_consent/tenant_config_key".to_owned(),
                format!(
                    "`tenant_config_key` names `{key}`, which `connection_config` does not declare"
                ),
                Some(format!(
                    "declare `{key}` under `connection_config`, or remove `tenant_config_key`"
                )),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    fn provider(auth_extra: &str, consent: &str) -> String {
        format!(
            "name: consent
display_name: Consent
auth:
  mode: oauth2
  authorization_url: https://login.example.com/{{{{ tenantId }}}}/adminconsent
  token_url: https://login.example.com/{{{{ tenantId }}}}/token
{auth_extra}  admin_consent: {consent}
connection_config:
  tenantId: {{title: Tenant ID, pattern: '[0-9a-f-]+'}}
proxy:
  base_url: https://graph.example.com
"
        )
    }

    #[test]
    fn admin_consent_accepted() {
        let source = provider("", "{tenant_config_key: tenantId}");

        let provider = crate::parse_provider("consent.yaml", &source)
            .unwrap_or_else(|diagnostics| panic!("{diagnostics:?}"));

        let crate::Auth::Oauth2(oauth2) = provider.auth else {
            panic!("not oauth2");
        };
        let consent = oauth2.admin_consent.expect("admin_consent");
        assert_eq!(consent.tenant_param, "tenant");
        assert_eq!(consent.tenant_config_key.as_deref(), Some("tenantId"));
    }

    #[test]
    fn admin_consent_problems_located() {
        // (case, further auth lines, admin_consent, expected message, expected path)
        let cases = [
            (
                "refresh_url",
                "  refresh_url: https://login.example.com/refresh\n",
                "{}",
                "`refresh_url` has no effect with `admin_consent`",
                "auth.refresh_url",
            ),
            (
                "refreshable false",
                "  refreshable: false\n",
                "{}",
                "`refreshable` has no effect",
                "auth.refreshable",
            ),
            (
                "callback_code_param",
                "  callback_code_param: code2\n",
                "{}",
                "`callback_code_param` has no effect",
                "auth.callback_code_param",
            ),
            (
                "tenant in the state parameter",
                "",
                "{tenant_param: state}",
                "`tenant_param` is `state`",
                "auth.admin_consent.tenant_param",
            ),
            (
                "undeclared tenant key",
                "",
                "{tenant_config_key: tenant}",
                "`tenant_config_key` names `tenant`",
                "auth.admin_consent.tenant_config_key",
            ),
        ];
        for (case, auth_extra, consent, message, path) in cases {
            let source = provider(auth_extra, consent);

            let diagnostics = crate::parse_provider("consent.yaml", &source).expect_err(case);

            assert_eq!(diagnostics.len(), 1, "{case}: {diagnostics:?}");
            assert!(
                diagnostics[0].message.contains(message),
                "{case}: {}",
                diagnostics[0].message
            );
            assert_eq!(diagnostics[0].path.as_deref(), Some(path), "{case}");
        }
    }
}
