//! One file per PDU body (spec §4): its fields in wire order, how to read
//! them from a body and how to write them back.
//!
//! Bodies do not see the header; `crate::packet` pairs a body with its
//! command id, status and sequence number. PDUs with no body (`unbind`,
//! `enquire_link`, `generic_nack`, `cancel_sm_resp`, …) are unit variants of
//! `crate::Pdu` and have no file here.

mod alert_notification;
mod bind;
mod cancel_sm;
mod data_sm;
mod deliver_sm;
mod outbind;
mod query_sm;
mod replace_sm;
mod submit_multi;
mod submit_sm;

pub use alert_notification::AlertNotification;
pub use bind::{Bind, BindResp};
pub use cancel_sm::CancelSm;
pub use data_sm::{DataSm, DataSmResp};
pub use deliver_sm::{DeliverSm, DeliverSmResp};
pub use outbind::Outbind;
pub use query_sm::{QuerySm, QuerySmResp};
pub use replace_sm::ReplaceSm;
pub use submit_multi::{Destination, SubmitMulti, SubmitMultiResp, UnsuccessSme};
pub use submit_sm::{SubmitSm, SubmitSmResp};
