//! Domain types that are valid by construction: a value of these types has
//! already passed every check, so the rest of the code can trust it.
//!
//! Parsing from raw input happens once, at the edge (HTTP, SMPP, CLI); nothing
//! below the edge takes a raw `String` phone number, sender or status. This
//! module owns no I/O and knows nothing of storage or transport.

mod ids;
mod money;
mod network;
mod phone;
mod role;
mod sender;
mod status;
mod tag;
mod text;

pub use ids::{MessageId, canonical_id, new_id};
pub use money::{Currency, MAX_AMOUNT_MINOR, MoneyError, Prefix, PrefixError, period_of};
pub use network::{canonical_ip, in_networks, is_network, network_within};
pub use phone::{PhoneNumber, PhoneNumberError, Region, country_of, load_metadata};
pub use role::{
    MAX_PASSWORD_LEN, MAX_USERNAME_LEN, MIN_PASSWORD_LEN, Need, Role, Scope, UnknownRole, UnknownScope,
    Username, UsernameError, check_new_password,
};
pub use sender::{SenderId, SenderIdError};
pub use status::{Direction, MessageStatus, UnknownStatus};
pub use tag::{Tag, TagError};
pub use text::{Encoding, MessageText, MessageTextError, encoding_name};
