//! The self-service page's rules (its HTML is `http/ui/preferences.rs`): a
//! signed, expiring link (`/preferences/{token}`) where a subscriber,
//! without an account, chooses which notifications they get, on which
//! channels, extra addresses and the hours they may arrive. The token is
//! `base64url(account.contact.expiry)` and an HMAC-SHA256 of it under a key
//! derived from the account's webhook secret for these links alone (so no
//! signature made for another purpose is a valid link), and a link is
//! refused if its expiry is further away than [`MAX_LINK_LIFETIME_HOURS`]
//! (so whoever holds the secret cannot make one that never expires); the
//! submitted form is read into preference rows here.

use std::collections::HashMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::storage::{NotificationType, PreferenceRow};

type HmacSha256 = Hmac<Sha256>;

/// The longest a link may work, in hours (`valid_hours` at most).
pub const MAX_LINK_LIFETIME_HOURS: i64 = 720;
/// How much later than [`MAX_LINK_LIFETIME_HOURS`] from now a link's expiry
/// may be and still be accepted: the node that made it may have a clock
/// ahead of the node that checks it.
const CLOCK_SKEW_SECS: i64 = 300;
/// What the link key is derived for; a new version invalidates every link.
const KEY_PURPOSE: &[u8] = b"kurier-preferences-v1";

/// Signs a link for a subscriber, valid until `expires` (unix seconds).
pub fn sign(secret: &str, account_id: &str, contact_id: &str, expires: i64) -> String {
    let payload = format!("{account_id}.{contact_id}.{expires}");
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
    format!("{encoded}.{}", hex::encode(link_mac(secret, &payload).finalize().into_bytes()))
}

/// The MAC of `payload` under the links' key: HMAC(secret, purpose).
fn link_mac(secret: &str, payload: &str) -> HmacSha256 {
    let mut derive = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    derive.update(KEY_PURPOSE);
    let key = derive.finalize().into_bytes();
    let mut m = HmacSha256::new_from_slice(&key).expect("HMAC takes any key");
    m.update(payload.as_bytes());
    m
}

/// A token's account, contact and expiry, before its signature is checked.
pub fn read(token: &str) -> Option<(String, String, i64)> {
    let (encoded, _) = token.split_once('.')?;
    let payload =
        String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
    let mut parts = payload.splitn(3, '.');
    Some((parts.next()?.to_owned(), parts.next()?.to_owned(), parts.next()?.parse().ok()?))
}

/// Whether the token was signed with the links' key of `secret`, has not
/// expired by `now` (unix seconds), and does not claim to work for longer
/// than a link may.
pub fn verify(secret: &str, token: &str, now: i64) -> bool {
    let Some((_, sig)) = token.split_once('.') else { return false };
    let Some((account, contact, expires)) = read(token) else { return false };
    let payload = format!("{account}.{contact}.{expires}");
    let Ok(sig) = hex::decode(sig) else { return false };
    let latest = now.saturating_add(MAX_LINK_LIFETIME_HOURS * 3_600 + CLOCK_SKEW_SECS);
    link_mac(secret, &payload).verify_slice(&sig).is_ok() && now < expires && expires <= latest
}

/// Reads the submitted form into preference rows (one per event type).
pub fn read_form(
    contact_id: &str,
    types: &[NotificationType],
    form: &HashMap<String, String>,
    time_zone: Option<String>,
) -> Result<Vec<PreferenceRow>, String> {
    let field = |k: &str| form.get(k).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let minutes = |s: &str| -> Result<i64, String> {
        let t = chrono::NaiveTime::parse_from_str(s, "%H:%M")
            .map_err(|_| format!("'{s}' is not a time as HH:MM"))?;
        Ok(i64::from(chrono::Timelike::hour(&t) * 60 + chrono::Timelike::minute(&t)))
    };
    let window = match (field("window_start"), field("window_end")) {
        (Some(s), Some(e)) => {
            let w = (minutes(&s)?, minutes(&e)?);
            if w.0 == w.1 {
                return Err("the start and the end of the hours must differ".into());
            }
            Some(w)
        }
        (None, None) => None,
        _ => return Err("give both the start and the end of the hours, or neither".into()),
    };
    let extra_phones: Vec<String> = field("extra_phone").into_iter().collect();
    if let Some(p) = extra_phones.first()
        && crate::domain::PhoneNumber::parse(p, None).is_err()
    {
        return Err(format!("'{p}' is not a phone number with its country code (+48…)"));
    }
    let extra_emails: Vec<String> = field("extra_email").into_iter().collect();
    if let Some(e) = extra_emails.first()
        && crate::storage::Email::parse(e).is_err()
    {
        return Err(format!("'{e}' is not an e-mail address"));
    }
    let extra_phones: Vec<String> = extra_phones
        .iter()
        .filter_map(|p| crate::domain::PhoneNumber::parse(p, None).ok().map(|p| p.as_str().to_owned()))
        .collect();
    Ok(types
        .iter()
        .map(|t| PreferenceRow {
            contact_id: contact_id.to_owned(),
            type_key: t.key.clone(),
            channels: super::CHANNELS
                .iter()
                .filter(|c| form.get(&format!("{}__{c}", t.key)).is_some())
                .map(|c| (*c).to_owned())
                .collect(),
            extra_phones: extra_phones.clone(),
            extra_emails: extra_emails.clone(),
            window,
            time_zone: time_zone.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_signed_and_expire() {
        let t = sign("secret", "acc", "con", 2_000);
        assert_eq!(read(&t), Some(("acc".into(), "con".into(), 2_000)));
        assert!(verify("secret", &t, 1_999));
        assert!(!verify("secret", &t, 2_000), "expired");
        assert!(!verify("other", &t, 1_000), "another account's secret");
        let forged = format!(
            "{}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("acc.victim.2000"),
            t.split_once('.').unwrap().1
        );
        assert!(!verify("secret", &forged, 1_000), "another contact");
        assert!(!verify("secret", "garbage", 1_000));
    }

    #[test]
    fn a_link_further_from_expiry_than_a_link_may_last_is_refused() {
        let now = 1_000_000;
        let longest = now + MAX_LINK_LIFETIME_HOURS * 3_600;
        assert!(verify("secret", &sign("secret", "acc", "con", longest), now));
        assert!(verify("secret", &sign("secret", "acc", "con", longest + 60), now), "another node's clock");
        let forever = sign("secret", "acc", "con", i64::MAX);
        assert!(!verify("secret", &forever, now), "signed, but for ever");
        assert!(!verify("secret", &sign("secret", "acc", "con", now + 31 * 86_400), now));
        assert!(verify("secret", &forever, i64::MAX - 3_600), "only its distance counts");
    }

    #[test]
    fn links_are_signed_with_a_key_for_links_only() {
        // An HMAC under the webhook secret itself (what signs callbacks, and
        // what links were signed with before) is not a link's signature.
        let payload = "acc.con.2000";
        let mut m = HmacSha256::new_from_slice(b"secret").unwrap();
        m.update(payload.as_bytes());
        let plain = format!(
            "{}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload),
            hex::encode(m.finalize().into_bytes())
        );
        assert!(!verify("secret", &plain, 1_000));
        assert_ne!(plain, sign("secret", "acc", "con", 2_000));
    }
}
