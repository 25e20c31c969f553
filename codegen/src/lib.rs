//! Generates, for every provider of a validated catalog, a module of a typed
//! Rust client crate (`rust`) and an OpenAPI 3.1 document (`openapi`).

mod error;
pub mod openapi;
pub mod rust;

pub use error::Error;
