//! Typed post-connection steps: requests the engine makes once a new
//! connection has its credential, before the connection is stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One request of a provider's `post_connection` list and the values read
/// from its JSON response.
///
/// The request carries the connection's credential as a proxied request
/// does (`auth.inject`, `proxy.headers`, `proxy.query`), then the step's own
/// `headers`, which replace an injected header of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostConnectionStep {
    #[serde(default, skip_serializing_if = "PostConnectionMethod::is_get")]
    pub method: PostConnectionMethod,
    /// Template of the request URL, rendered with the connection config.
    pub url: String,
    /// Header templates, rendered with the connection config and the
    /// credential variables (`access_token`, `api_key`, `username`,
    /// `password`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The part of the response that `connection_config` paths start from.
    #[serde(default, skip_serializing_if = "ResponseSelection::is_whole")]
    pub select: ResponseSelection,
    /// Connection-config keys mapped to dot-separated paths in the selected
    /// part of the response. Every path must be present, or the connection
    /// is not created.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connection_config: BTreeMap<String, String>,
    /// Metadata keys mapped to dot-separated paths in the whole response;
    /// the path `$` stands for the whole response.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// The HTTP method of a post-connection request, which sends no body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PostConnectionMethod {
    #[default]
    Get,
    Post,
}

impl PostConnectionMethod {
    fn is_get(&self) -> bool {
        *self == PostConnectionMethod::Get
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PostConnectionMethod::Get => "GET",
            PostConnectionMethod::Post => "POST",
        }
    }
}

/// The part of a post-connection response that `connection_config` paths
/// start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseSelection {
    /// The whole response.
    #[default]
    Whole,
    /// The first element of a response that is a JSON array, such as the
    /// first site of Atlassian's accessible resources. An empty array is an
    /// error.
    First,
}

impl ResponseSelection {
    fn is_whole(&self) -> bool {
        *self == ResponseSelection::Whole
    }
}

/// The metadata path that stands for the whole response.
pub const WHOLE_RESPONSE_PATH: &str = "$";
