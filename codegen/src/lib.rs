//! Generates, for every provider of a validated catalog, a module of a typed
//! Rust client crate (`rust`) and an OpenAPI 3.1 document (`openapi`).

pub mod openapi;
pub mod rust;
