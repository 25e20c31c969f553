//! The provider catalog: typed provider definitions loaded from YAML files.
//!
//! A provider file goes through four steps: YAML parsing (serde_yaml, with
//! yaml-rust2 recording source positions), validation against the JSON
//! Schema in `schema/provider.schema.json`, deserialization into
//! [`Provider`], and semantic checks that the schema cannot express. Every
//! failure becomes a [`Diagnostic`] that names the file, line, column and
//! field, rendered like a rustc error.
//!
//! The built-in catalog (`catalog/providers/*.yaml`) is embedded at build
//! time; [`Catalog::with_dirs`] layers directories on top of it.

mod admin_consent;
mod alias;
mod app;
mod assume_role;
mod catalog;
mod checks;
// `build.rs` converts the built-in files with this module, and the crate
// compiles it only to test it.
#[cfg(test)]
mod convert;
mod diagnostic;
mod document;
mod import;
mod integration_defaults;
mod json_body;
mod jwt;
mod load;
mod mcp;
mod model;
mod oauth1;
mod password_grant;
mod patterns;
mod positions;
mod post_connection;
mod reserved_headers;
mod saml;
mod schema;
mod signing;
mod suggest;
mod two_step;
mod url_forms;
mod xml_body;

pub use admin_consent::{AdminConsent, ADMIN_CONSENT_PARAM};
pub use app::{App, AppToken, INSTALLATION_ID_KEY};
pub use assume_role::{
    AssumeRole, ACCESS_KEY_ID_KEY, DEFAULT_REGION_KEY, DEFAULT_STS_URL, SECRET_ACCESS_KEY_KEY,
    STS_MODE_KEY,
};
pub use catalog::{validate_paths, Catalog, CatalogError, ValidationReport};
pub use diagnostic::{escape_controls, Code, Diagnostic, Severity};
pub use import::{import_nango, ConvertedEntry, ImportError, ImportReport, Reason, SkippedEntry};
pub use jwt::{HmacKeyEncoding, Jwt, JwtAlgorithm, JwtGrant, SigningKeyFormat};
pub use load::parse_provider;
pub use model::*;
pub use password_grant::PasswordGrant;
pub use post_connection::{
    PostConnectionMethod, PostConnectionStep, ResponseSelection, WHOLE_RESPONSE_PATH,
};
pub use reserved_headers::{
    reserved_header, reserved_headers_pattern, RESERVED_HEADERS, RESERVED_HEADER_REASON,
};
pub use saml::{AssertionType, SamlAssertion, ASSERTION_VARIABLE};
pub use schema::PROVIDER_SCHEMA;
pub use suggest::closest_match;
pub use two_step::{
    step_number, step_variable, NoAuth, TokenRequest, TokenRequestMethod, TwoStep,
    RESERVED_TWO_STEP_NAMES,
};
pub use url_forms::INTERNAL_HOST_SUFFIXES;
pub use xml_body::{is_xml_name, XML_ATTRIBUTE_PREFIX};
