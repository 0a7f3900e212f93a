//! Who may do what: a user's [`Role`], the [`Scope`]s of an API key, and the
//! [`Need`] of a request; plus [`Username`], valid by construction.

use std::fmt;

/// A user's role in their account, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Everything, including managing other owners.
    Owner,
    /// Everything in the account except changing owners.
    Admin,
    /// Reads, sends, and keeps contacts, groups, templates and campaigns.
    Sender,
    /// Reads only.
    Viewer,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role '{0}'; one of owner, admin, sender, viewer")]
pub struct UnknownRole(pub String);

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Sender, Role::Viewer];

    pub fn parse(s: &str) -> Result<Self, UnknownRole> {
        match s.trim() {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "sender" => Ok(Self::Sender),
            "viewer" => Ok(Self::Viewer),
            other => Err(UnknownRole(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Sender => "sender",
            Self::Viewer => "viewer",
        }
    }

    /// Whether this role may do what a request needs.
    pub fn allows(self, need: Need) -> bool {
        match self {
            Self::Owner | Self::Admin => true,
            Self::Sender => need != Need::Manage,
            Self::Viewer => need == Need::Read,
        }
    }

    /// Owners and admins manage users; only owners make or change owners.
    pub fn manages_users(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// Whether this role sees every recipient regardless of permissions.
    pub fn unrestricted(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request needs, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reading anything of the account.
    Read,
    /// Sending: messages, campaigns, replies, notifications.
    Send,
    /// Keeping the address book and content: contacts, groups, imports,
    /// templates, opt-outs.
    Write,
    /// Account settings, numbers and keywords, users, keys, audit, billing.
    Manage,
}

/// A scope an API key is limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Read,
    Send,
    Manage,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown scope '{0}'; one of read, send, manage")]
pub struct UnknownScope(pub String);

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Send, Scope::Manage];

    pub fn parse(s: &str) -> Result<Self, UnknownScope> {
        match s.trim() {
            "read" => Ok(Self::Read),
            "send" => Ok(Self::Send),
            "manage" => Ok(Self::Manage),
            other => Err(UnknownScope(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Send => "send",
            Self::Manage => "manage",
        }
    }

    /// The scope a request's need takes: `manage` covers writes too.
    pub fn for_need(need: Need) -> Self {
        match need {
            Need::Read => Self::Read,
            Need::Send => Self::Send,
            Need::Write | Need::Manage => Self::Manage,
        }
    }

    /// Stored form: a sorted, comma-separated list.
    pub fn join(scopes: &[Scope]) -> String {
        let mut s = scopes.to_vec();
        s.sort();
        s.dedup();
        s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    }

    /// The stored form read back; unknown words (never written) are skipped.
    pub fn split(stored: &str) -> Vec<Scope> {
        stored.split(',').filter_map(|s| Scope::parse(s).ok()).collect()
    }
}

/// Longest username accepted.
pub const MAX_USERNAME_LEN: usize = 64;

/// A username: 1 to 64 characters of letters, digits and `. _ - @`,
/// kept in lower case so `Anna` and `anna` are one user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsernameError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_USERNAME_LEN} characters")]
    TooLong,
    #[error("may hold only letters, digits and . _ - @ (found '{0}')")]
    BadCharacter(char),
}

impl Username {
    pub fn parse(s: &str) -> Result<Self, UsernameError> {
        let s = s.trim().to_lowercase();
        if s.is_empty() {
            return Err(UsernameError::Empty);
        }
        if s.chars().count() > MAX_USERNAME_LEN {
            return Err(UsernameError::TooLong);
        }
        if let Some(c) = s.chars().find(|c| !(c.is_alphanumeric() || "._-@".contains(*c))) {
            return Err(UsernameError::BadCharacter(c));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Shortest password accepted for a user.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Longest password accepted (argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD_LEN: usize = 256;

/// Checks a new password's length; the reason if it is refused.
pub fn check_new_password(p: &str) -> Result<(), String> {
    let n = p.chars().count();
    if n < MIN_PASSWORD_LEN {
        Err(format!("must be at least {MIN_PASSWORD_LEN} characters"))
    } else if n > MAX_PASSWORD_LEN {
        Err(format!("must be at most {MAX_PASSWORD_LEN} characters"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roles_allow_what_their_names_say() {
        assert!(Role::Viewer.allows(Need::Read));
        assert!(!Role::Viewer.allows(Need::Send));
        assert!(Role::Sender.allows(Need::Send) && Role::Sender.allows(Need::Write));
        assert!(!Role::Sender.allows(Need::Manage));
        assert!(Role::Admin.allows(Need::Manage) && Role::Owner.allows(Need::Manage));
        assert!(Role::Admin.manages_users() && !Role::Sender.manages_users());
    }

    #[test]
    fn unknown_roles_and_scopes_are_refused() {
        for bad in ["", "root", "Owner"] {
            assert!(Role::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Scope::parse("write"), Err(UnknownScope("write".into())));
        assert_eq!(Scope::join(&[Scope::Manage, Scope::Read, Scope::Read]), "read,manage");
        assert_eq!(Scope::split("read,manage"), [Scope::Read, Scope::Manage]);
    }

    #[test]
    fn usernames_are_refused_when_empty_long_or_odd() {
        assert_eq!(Username::parse("  "), Err(UsernameError::Empty));
        assert_eq!(Username::parse(&"a".repeat(65)), Err(UsernameError::TooLong));
        assert_eq!(Username::parse("anna smith"), Err(UsernameError::BadCharacter(' ')));
        assert_eq!(Username::parse("a'b"), Err(UsernameError::BadCharacter('\'')));
        assert_eq!(Username::parse(" Anna.K@x ").unwrap().as_str(), "anna.k@x");
    }

    #[test]
    fn passwords_must_be_long_enough() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password(&"x".repeat(257)).is_err());
        assert!(check_new_password("long enough pass").is_ok());
    }

    proptest! {
        #[test]
        fn usernames_of_allowed_characters_parse(s in "[a-z0-9._@-]{1,64}") {
            let name = Username::parse(&s).unwrap();
            prop_assert_eq!(name.as_str(), s.as_str());
        }
    }
}
