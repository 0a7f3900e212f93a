//! The command line of users, for the operator at the server's console:
//!
//! ```text
//! kurier user list [--account A]
//! kurier user create USERNAME --role ROLE [--name NAME] [--account A]
//! kurier user reset-password USERNAME
//! kurier user unlock USERNAME [--enable]
//! ```
//!
//! The way back in when nobody can sign in (the last owner forgot the
//! password, or is locked out): it acts on the configuration's database
//! directly, with the same checks as the users API, and each change is
//! written to the account's audit log (`via` = `cli`). A new password is
//! taken from `KURIER_USER_PASSWORD` when set (for automation), else
//! generated; either way it is printed once.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::credentials;
use crate::domain::{Role, Username, check_new_password};
use crate::storage::{
    AuditEntry, NewUser, SignInUser, Store, UserChange, display_name, format_micros, now_micros,
};
use crate::transfer::cli::open;

/// The environment variable a new password is read from.
pub const PASSWORD_ENV: &str = "KURIER_USER_PASSWORD";

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// The account's users: username, role, state.
    List(AccountArgs),
    /// Create a user; the password is printed once.
    Create(CreateArgs),
    /// Set a new password (printed once); ends a lockout and the user's sessions.
    ResetPassword(NameArgs),
    /// End a lockout after failed sign-ins (and, with --enable, re-enable a disabled user).
    Unlock(UnlockArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// TOML configuration file (for the database).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct AccountArgs {
    #[arg(long, default_value = "default")]
    pub account: String,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    pub username: String,
    /// owner, admin, sender or viewer.
    #[arg(long)]
    pub role: String,
    /// The name shown in the web UI.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub account: AccountArgs,
}

#[derive(Args, Debug, Clone)]
pub struct NameArgs {
    pub username: String,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Args, Debug, Clone)]
pub struct UnlockArgs {
    pub username: String,
    /// Also re-enable the user if disabled.
    #[arg(long)]
    pub enable: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub async fn run_user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::List(a) => {
            let (store, account_id) = open(&Config::load(a.config.config.as_deref())?, &a.account).await?;
            let now = now_micros();
            println!("{:<32} {:<8} state", "username", "role");
            for u in store.list_users(&account_id).await? {
                let state = match u.locked_until {
                    _ if u.disabled => "disabled".to_owned(),
                    Some(until) if until > now => format!("locked until {}", format_micros(until)),
                    _ => "active".to_owned(),
                };
                println!("{:<32} {:<8} {state}", u.username, u.role.as_str());
            }
            Ok(())
        }
        UserCommand::Create(a) => {
            let username = Username::parse(&a.username).map_err(|e| anyhow::anyhow!("the username {e}"))?;
            let role = Role::parse(&a.role)?;
            let name =
                display_name(a.name.as_deref().unwrap_or("")).map_err(|e| anyhow::anyhow!("the name {e}"))?;
            let (password, generated) = new_password()?;
            let config = Config::load(a.account.config.config.as_deref())?;
            let (store, account_id) = open(&config, &a.account.account).await?;
            let hash = super::hash_password(password.clone()).await?;
            let new = NewUser { username: &username, display_name: &name, role, password_hash: &hash };
            let Ok(user) = store.create_user(&account_id, new).await? else {
                bail!("the username '{}' is taken", username.as_str());
            };
            audit(&store, &account_id, &user.id, user.username.as_str(), "kurier user create").await?;
            println!("created {} ({}) in account '{}'", user.username, role.as_str(), a.account.account);
            print_password(&password, generated);
            Ok(())
        }
        UserCommand::ResetPassword(a) => {
            let (password, generated) = new_password()?;
            let store = open_store(&a.config).await?;
            let user = find(&store, &a.username).await?;
            let hash = super::hash_password(password.clone()).await?;
            store.set_password(&user.account_id, &user.id, &hash).await?;
            audit(&store, &user.account_id, &user.id, &a.username, "kurier user reset-password").await?;
            println!("the password of {} is reset; their sessions are ended", a.username);
            print_password(&password, generated);
            Ok(())
        }
        UserCommand::Unlock(a) => {
            let store = open_store(&a.config).await?;
            let user = find(&store, &a.username).await?;
            store.unlock_user(&user.id).await?;
            if a.enable && user.disabled {
                let change = UserChange { disabled: Some(false), ..UserChange::default() };
                // Enabling never takes an owner away.
                let _ = store.update_user(&user.account_id, &user.id, change).await?;
            }
            let action = if a.enable { "kurier user unlock --enable" } else { "kurier user unlock" };
            audit(&store, &user.account_id, &user.id, &a.username, action).await?;
            match (user.disabled, a.enable) {
                (true, false) => println!("{} is unlocked, but still disabled (add --enable)", a.username),
                (true, true) => println!("{} is unlocked and enabled", a.username),
                _ => println!("{} is unlocked", a.username),
            }
            Ok(())
        }
    }
}

async fn open_store(config: &ConfigArg) -> anyhow::Result<Store> {
    let config = Config::load(config.config.as_deref())?;
    let d = &config.database;
    Store::open(&d.url, d.max_connections, &d.sqlite_synchronous).await
}

/// The user of a username (unique on the platform), whatever their account.
async fn find(store: &Store, username: &str) -> anyhow::Result<SignInUser> {
    let missing = || format!("there is no user '{}'", username.trim());
    let name = Username::parse(username).map_err(|_| anyhow::anyhow!(missing()))?;
    store.user_for_sign_in(name.as_str()).await?.with_context(missing)
}

/// The password to set: `KURIER_USER_PASSWORD` if set (checked like the
/// API checks one), else a generated one. True when generated.
fn new_password() -> anyhow::Result<(String, bool)> {
    match std::env::var(PASSWORD_ENV) {
        Ok(p) if !p.is_empty() => {
            check_new_password(&p).map_err(|m| anyhow::anyhow!("{PASSWORD_ENV} {m}"))?;
            Ok((p, false))
        }
        _ => Ok((credentials::new_password(), true)),
    }
}

fn print_password(password: &str, generated: bool) {
    if generated {
        println!("password: {password}");
        println!("(shown this once; the user can change it after signing in)");
    } else {
        println!("password: as given in {PASSWORD_ENV}");
    }
}

async fn audit(
    store: &Store,
    account_id: &str,
    user_id: &str,
    username: &str,
    action: &str,
) -> anyhow::Result<()> {
    store
        .record_audit(&AuditEntry {
            account_id: account_id.to_owned(),
            user_id: None,
            username: String::new(),
            api_key_id: None,
            via: "cli",
            action: action.to_owned(),
            target: format!("/api/v1/users/{user_id} ({username})"),
            status: 200,
            ip: String::new(),
        })
        .await
        .context("writing the audit log")
}
