//! OpenAPI 3.1 documents: one per provider and one for the Latchkey HTTP API.
