//! Field types with their wire limits built in (spec §3.1 and §5.2).
//!
//! This module owns the value types PDU fields are made of: length-capped
//! C-Octet strings, the 254-octet short message, addresses with their TON and
//! NPI, the `esm_class`, `registered_delivery` and `data_coding` bit fields and
//! `message_state`. A value of these types is valid on the wire by
//! construction; unknown enumeration values decode into an `Other(u8)`
//! catch-all instead of failing. It does not read or write bytes (see `wire`).

mod address;
mod c_octet_string;
mod data_coding;
mod esm_class;
mod message_state;
mod registered_delivery;
mod short_message;

pub use address::{Address, Npi, Ton};
pub use c_octet_string::{COctetString, CStringError};
pub use data_coding::DataCoding;
pub use esm_class::EsmClass;
pub use message_state::MessageState;
pub use registered_delivery::RegisteredDelivery;
pub use short_message::{ShortMessage, ShortMessageTooLong};
