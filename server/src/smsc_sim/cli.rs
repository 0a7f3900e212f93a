//! `kurier smsc-sim`: the command-line face of the simulator. Parses the
//! flags into [`SimSettings`], starts the simulator and (with `--http`) its
//! control port, prints where they listen, and runs until the signal future
//! `main` passes in completes.
//!
//! Nothing here is needed by tests, which build `SimSettings` directly.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{
    Behaviour, DELIVER_WINDOW, IDLE_TIMEOUT, IdFormat, MAX_DELAY, MAX_DELIVER_WINDOW, MAX_PENDING_DELIVERIES,
    MoSplit, SimSettings, SmscSim, serve_control,
};

/// [`MAX_DELAY`] in milliseconds, the largest value of every `*-ms` flag.
const MAX_DELAY_MS: u64 = MAX_DELAY.as_secs() * 1000;

/// Flags of `kurier smsc-sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Where ESMEs connect (SMPP, or SMPP over TLS with --tls-cert/--tls-key).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2775")]
    pub listen: SocketAddr,
    /// Serve the HTTP control API (MO injection, stats, messages, faults) here.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// An account allowed to bind, as SYSTEM_ID:PASSWORD; repeat for more.
    /// Without any, every system_id and password is accepted.
    #[arg(long = "account", value_name = "SYSTEM_ID:PASSWORD", value_parser = parse_account,
          env = "KURIER_SMSC_SIM_ACCOUNTS", value_delimiter = ',')]
    pub accounts: Vec<(String, String)>,
    /// Milliseconds from the submit_sm_resp to the receipt (at most a day).
    #[arg(long, value_name = "MS", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(0..=MAX_DELAY_MS))]
    pub receipt_delay_ms: u64,
    /// Milliseconds every submit_sm_resp is held back (lets a client's window
    /// fill; at most a day).
    #[arg(long, value_name = "MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=MAX_DELAY_MS))]
    pub submit_delay_ms: u64,
    /// Milliseconds before an unanswered or refused deliver_sm is sent again
    /// (at most a day).
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(0..=MAX_DELAY_MS))]
    pub receipt_retry_ms: u64,
    /// Weight of the DELIVRD outcome.
    #[arg(long, value_name = "WEIGHT", default_value_t = 1)]
    pub delivered: u32,
    /// Weight of the UNDELIV outcome.
    #[arg(long, value_name = "WEIGHT", default_value_t = 0)]
    pub undelivered: u32,
    /// Weight of the EXPIRED outcome.
    #[arg(long, value_name = "WEIGHT", default_value_t = 0)]
    pub expired: u32,
    /// Weight of the REJECTD outcome.
    #[arg(long, value_name = "WEIGHT", default_value_t = 0)]
    pub rejected: u32,
    /// Seed of the outcome draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How message ids are written.
    #[arg(long, value_enum, default_value_t = IdFormat::Hex)]
    pub id_format: IdFormat,
    /// A named fault: happy, black-hole, no-response-on-submit,
    /// error-on-submit=STATUS, throttle-every=N, queue-full-every=N,
    /// unbind-on-submit, disconnect-after=N, garbage-after-bind,
    /// unknown-sequence, close-mid-pdu.
    #[arg(long, value_name = "NAME[=ARG]", default_value = "happy")]
    pub fault: Behaviour,
    /// PEM certificate chain: serve SMPP over TLS (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// GSM 7-bit text is packed (8 septets in 7 octets) instead of one septet per octet.
    #[arg(long)]
    pub gsm_packed: bool,
    /// How long MO texts are split: a UDH in the text, or SAR TLVs.
    #[arg(long, value_enum, default_value_t = MoSplit::Udh)]
    pub mo_split: MoSplit,
    /// deliver_sm (receipts, MO parts) a session may have unanswered at once.
    #[arg(long, value_name = "N", default_value_t = DELIVER_WINDOW as u16,
          value_parser = clap::value_parser!(u16).range(1..=MAX_DELIVER_WINDOW as i64))]
    pub deliver_window: u16,
    /// Receipts and MO parts waiting to be delivered at most (memory: about
    /// 2 KB each); receipts beyond it are dropped with a warning.
    #[arg(long, value_name = "N", default_value_t = MAX_PENDING_DELIVERIES as u64,
          value_parser = clap::value_parser!(u64).range(1..=20_000_000))]
    pub max_pending: u64,
    /// Milliseconds of silence after which a bound session gets an
    /// enquire_link; still silent as long again, it is closed (1 to a day).
    #[arg(long, value_name = "MS", default_value_t = IDLE_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_DELAY_MS))]
    pub idle_timeout_ms: u64,
}

fn parse_account(value: &str) -> Result<(String, String), String> {
    match value.split_once(':') {
        Some((id, password)) if !id.is_empty() && id.len() <= 15 && password.len() <= 8 => {
            Ok((id.to_owned(), password.to_owned()))
        }
        Some(_) => Err("system_id must be 1 to 15 characters and the password at most 8".into()),
        None => Err("write the account as SYSTEM_ID:PASSWORD".into()),
    }
}

impl SimArgs {
    pub fn settings(&self) -> SimSettings {
        SimSettings {
            accounts: self.accounts.clone(),
            receipt_delay: Duration::from_millis(self.receipt_delay_ms),
            submit_delay: Duration::from_millis(self.submit_delay_ms),
            receipt_retry: Duration::from_millis(self.receipt_retry_ms.max(1)),
            delivered: self.delivered,
            undelivered: self.undelivered,
            expired: self.expired,
            rejected: self.rejected,
            seed: self.seed,
            id_format: self.id_format,
            behaviour: self.fault,
            tls: self.tls_cert.clone().zip(self.tls_key.clone()),
            gsm_packed: self.gsm_packed,
            mo_split: self.mo_split,
            deliver_window: usize::from(self.deliver_window),
            max_pending: usize::try_from(self.max_pending).unwrap_or(MAX_PENDING_DELIVERIES),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
        }
    }
}

/// Runs `kurier smsc-sim` until `signal` completes, then unbinds everyone.
pub async fn run(args: SimArgs, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
    let settings = args.settings();
    let tls = settings.tls.is_some();
    let sim = SmscSim::start(args.listen, settings).await?;
    let scheme = if tls { "smpps" } else { "smpp" };
    println!("SMSC simulator: {scheme}://{} (fault: {})", sim.addr(), sim.behaviour());
    let control = match args.http {
        Some(addr) => {
            let control = serve_control(&sim, addr).await?;
            println!("Control API:    http://{}", control.addr());
            Some(control)
        }
        None => None,
    };
    signal.await;
    sim.stop().await;
    if let Some(control) = control {
        control.stopped().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_need_a_colon_and_fit_the_bind_fields() {
        assert_eq!(parse_account("kurier:secret"), Ok(("kurier".into(), "secret".into())));
        assert_eq!(parse_account("kurier:"), Ok(("kurier".into(), String::new())));
        for bad in ["kurier", ":pw", "a-very-long-system-id:pw", "id:123456789"] {
            assert!(parse_account(bad).is_err(), "{bad}");
        }
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn the_deliver_window_defaults_to_32_and_stays_within_its_bounds() {
        use clap::Parser as _;
        let window = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("smsc-sim").chain(args.iter().copied()))
                .map(|c| c.sim.settings().deliver_window)
        };
        assert_eq!(window(&[]).unwrap(), DELIVER_WINDOW);
        assert_eq!(window(&["--deliver-window", "200"]).unwrap(), 200);
        for bad in ["0", "10001", "many"] {
            let err = window(&["--deliver-window", bad]).unwrap_err().to_string();
            assert!(err.contains("--deliver-window"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_pending_deliveries_cap_defaults_to_250000_and_can_be_raised() {
        use clap::Parser as _;
        let cap = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("smsc-sim").chain(args.iter().copied()))
                .map(|c| c.sim.settings().max_pending)
        };
        assert_eq!(cap(&[]).unwrap(), MAX_PENDING_DELIVERIES);
        assert_eq!(cap(&["--max-pending", "1000000"]).unwrap(), 1_000_000);
        for bad in ["0", "20000001", "all"] {
            let err = cap(&["--max-pending", bad]).unwrap_err().to_string();
            assert!(err.contains("--max-pending"), "{bad}: {err}");
        }
    }

    #[test]
    fn delays_and_timeouts_longer_than_a_day_are_refused() {
        use clap::Parser as _;
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("smsc-sim").chain(args.iter().copied()))
                .map(|c| c.sim.settings())
        };
        let day = MAX_DELAY.as_millis().to_string();
        let settings = parse(&["--receipt-delay-ms", &day, "--submit-delay-ms", &day]).unwrap();
        assert_eq!((settings.receipt_delay, settings.submit_delay), (MAX_DELAY, MAX_DELAY));
        let too_long = (MAX_DELAY.as_millis() + 1).to_string();
        for flag in ["--receipt-delay-ms", "--submit-delay-ms", "--receipt-retry-ms", "--idle-timeout-ms"] {
            for bad in [too_long.as_str(), "18446744073709551615"] {
                let err = parse(&[flag, bad]).err().unwrap_or_else(|| panic!("{flag} {bad} accepted"));
                assert!(err.to_string().contains(flag), "{flag} {bad}: {err}");
            }
        }
    }
}
