//! The pace of one SMPP connector: a token bucket shared by all its sessions
//! (at most `throughput` submit_sm per second over the whole connector; on a
//! cluster, this node's share of it, by the sessions it holds) and
//! the pause the SMSC asks for when it answers `ESME_RTHROTTLED` or
//! `ESME_RMSGQFUL`.
//!
//! This module only decides *when* the next submit_sm may go. It does not
//! count windows (each session does) and does not decide which answers mean
//! "slow down" (the session does).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::{Instant, sleep};

/// Seconds of traffic the bucket holds when full: the largest burst above
/// the configured rate. Small, so that any one-second span sees at most
/// `throughput × (1 + THROTTLE_BURST_SECS)` submissions (rounded up to one
/// token for rates below 20/s).
pub const THROTTLE_BURST_SECS: f64 = 0.05;

/// First pause after the SMSC says it is throttling us or its queue is full.
pub const SLOW_DOWN_MIN: Duration = Duration::from_millis(200);

/// Longest pause; consecutive refusals double the pause up to this.
pub const SLOW_DOWN_MAX: Duration = Duration::from_secs(10);

/// A token bucket with a pause switch; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Throttle {
    /// The connector's tokens per second; `None`: no limit.
    full_rate: Option<f64>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// This node's tokens per second (its share of `full_rate`).
    rate: Option<f64>,
    capacity: f64,
    tokens: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
    /// The pause the next refusal causes; zero after an accepted submit.
    next_pause: Duration,
}

impl Throttle {
    /// `per_second` submissions per second; 0: unlimited.
    pub fn new(per_second: u32) -> Self {
        let rate = (per_second > 0).then_some(f64::from(per_second));
        let capacity = capacity_of(rate);
        Self {
            full_rate: rate,
            state: Mutex::new(State {
                rate,
                capacity,
                tokens: capacity,
                refilled_at: Instant::now(),
                paused_until: None,
                next_pause: Duration::ZERO,
            }),
        }
    }

    /// Waits until one submission may go and takes its token. Cancel-safe:
    /// the token is taken only when the future completes.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                match s.paused_until {
                    Some(until) if until > now => until - now,
                    _ => match s.rate {
                        None => return,
                        Some(rate) => {
                            let elapsed = now.saturating_duration_since(s.refilled_at).as_secs_f64();
                            s.tokens = (s.tokens + elapsed * rate).min(s.capacity);
                            s.refilled_at = now;
                            if s.tokens >= 1.0 {
                                s.tokens -= 1.0;
                                return;
                            }
                            Duration::from_secs_f64((1.0 - s.tokens) / rate)
                        }
                    },
                }
            };
            sleep(wait).await;
        }
    }

    /// This node holds `held` of the connector's `total` sessions (the others
    /// are held by other nodes): it may send that share of the throughput.
    pub fn set_share(&self, held: usize, total: usize) {
        let Some(full) = self.full_rate else { return };
        let rate = full * held.max(1) as f64 / total.max(1) as f64;
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.rate = Some(rate);
        s.capacity = capacity_of(Some(rate));
        s.tokens = s.tokens.min(s.capacity);
    }

    /// The SMSC asked us to slow down: no session of the connector sends
    /// for a while (doubling with each refusal in a row). Returns the pause.
    pub fn slow_down(&self) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let pause = if s.next_pause.is_zero() { SLOW_DOWN_MIN } else { s.next_pause };
        s.next_pause = (pause * 2).min(SLOW_DOWN_MAX);
        let until = Instant::now() + pause;
        s.paused_until = Some(s.paused_until.map_or(until, |u| u.max(until)));
        pause
    }

    /// A submission was accepted: the next refusal starts from the shortest pause.
    pub fn recovered(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.next_pause = Duration::ZERO;
    }
}

/// The bucket's size for a rate: [`THROTTLE_BURST_SECS`] of it, at least one token.
fn capacity_of(rate: Option<f64>) -> f64 {
    rate.map_or(1.0, |r| (r * THROTTLE_BURST_SECS).max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_unlimited_throttle_never_waits() {
        let t = Throttle::new(0);
        let start = Instant::now();
        for _ in 0..10_000 {
            t.acquire().await;
        }
        assert_eq!(Instant::now(), start);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_of_one_hundred_lets_about_one_hundred_through_per_second() {
        let t = Throttle::new(100);
        let start = Instant::now();
        let mut in_first_second = 0;
        for _ in 0..300 {
            t.acquire().await;
            if Instant::now() - start < Duration::from_secs(1) {
                in_first_second += 1;
            }
        }
        // The burst (5 tokens) plus 100 per second.
        assert!((100..=105).contains(&in_first_second), "{in_first_second}");
        let elapsed = Instant::now() - start;
        assert!(elapsed >= Duration::from_millis(2_940), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn slowing_down_pauses_everyone_and_doubles_until_a_success() {
        let t = Throttle::new(0);
        assert_eq!(t.slow_down(), SLOW_DOWN_MIN);
        let start = Instant::now();
        t.acquire().await;
        assert_eq!(Instant::now() - start, SLOW_DOWN_MIN);
        assert_eq!(t.slow_down(), SLOW_DOWN_MIN * 2);
        assert_eq!(t.slow_down(), SLOW_DOWN_MIN * 4);
        t.recovered();
        assert_eq!(t.slow_down(), SLOW_DOWN_MIN);
        for _ in 0..20 {
            t.slow_down();
        }
        assert_eq!(t.slow_down(), SLOW_DOWN_MAX);
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_holding_half_the_sessions_sends_half_the_throughput() {
        let t = Throttle::new(100);
        t.set_share(1, 2);
        let start = Instant::now();
        for _ in 0..150 {
            t.acquire().await;
        }
        let elapsed = Instant::now() - start;
        assert!(elapsed >= Duration::from_millis(2_900), "50/s: {elapsed:?}");
        t.set_share(2, 2);
        let start = Instant::now();
        for _ in 0..100 {
            t.acquire().await;
        }
        assert!(Instant::now() - start <= Duration::from_millis(1_010), "back to 100/s");
    }
}
