//! Versioned JSON APIs; one folder per version, one file per resource.

pub mod v1;
