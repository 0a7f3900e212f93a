//! Routing: which connector takes an outbound message.
//!
//! Routes match the destination's E.164 prefix; the longest matching prefix
//! wins, then the lowest `priority`; when that connector is down the next
//! candidate takes over (failover), the first connector last unless it is a
//! simulator. With no matching route, the first connector takes the message.
//! Routing is pure: it reads link state through a closure and owns no I/O.

use crate::config::RouteConfig;

#[derive(Debug, Clone)]
pub struct Router {
    /// Longest prefix first.
    routes: Vec<RouteConfig>,
    default: Option<String>,
    /// Whether the default also takes a routed message whose routes'
    /// connectors are all down.
    default_fails_over: bool,
}

impl Router {
    pub fn new(routes: &[RouteConfig], connector_names: &[String]) -> Self {
        let mut routes = routes.to_vec();
        routes.sort_by_key(|r| (std::cmp::Reverse(r.prefix.len()), r.priority));
        Self { routes, default: connector_names.first().cloned(), default_fails_over: true }
    }

    /// Whether the default connector is the last resort of routed messages
    /// too (true unless said otherwise); it always takes unrouted ones.
    pub fn default_fails_over(mut self, yes: bool) -> Self {
        self.default_fails_over = yes;
        self
    }

    /// The connectors that may take a message to `to`, best first.
    pub fn candidates<'a>(&'a self, to: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let matching =
            self.routes.iter().filter(move |r| to.starts_with(&r.prefix)).map(|r| r.connector.as_str());
        let routed = self.routes.iter().any(|r| to.starts_with(&r.prefix));
        let default = self.default.as_deref().filter(|_| !routed || self.default_fails_over);
        let mut seen = Vec::new();
        matching.chain(default).filter(move |c| {
            if seen.contains(c) {
                false
            } else {
                seen.push(*c);
                true
            }
        })
    }

    /// The best connector that is up; if none is up, the best one (the
    /// message then waits in its outbox until the link comes back).
    pub fn pick<'a>(&'a self, to: &'a str, is_up: impl Fn(&str) -> bool) -> Option<&'a str> {
        self.candidates(to).find(|c| is_up(c)).or_else(|| self.candidates(to).next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let routes = vec![
            RouteConfig { prefix: "+48".into(), connector: "pl".into(), priority: 0 },
            RouteConfig { prefix: "+4860".into(), connector: "pl-mobile".into(), priority: 0 },
            RouteConfig { prefix: "+359".into(), connector: "bg-backup".into(), priority: 2 },
            RouteConfig { prefix: "+359".into(), connector: "bg".into(), priority: 1 },
        ];
        Router::new(
            &routes,
            &["sim".into(), "pl".into(), "pl-mobile".into(), "bg".into(), "bg-backup".into()],
        )
    }

    #[test]
    fn the_longest_prefix_wins() {
        let r = router();
        assert_eq!(r.pick("+48600100200", |_| true), Some("pl-mobile"));
        assert_eq!(r.pick("+48221234567", |_| true), Some("pl"));
        assert_eq!(r.pick("+359881234567", |_| true), Some("bg"));
    }

    #[test]
    fn among_equal_prefixes_the_lowest_priority_is_tried_first() {
        let r = router();
        assert_eq!(r.pick("+359881234567", |_| true), Some("bg"));
        assert_eq!(r.pick("+359881234567", |c| c != "bg"), Some("bg-backup"));
    }

    #[test]
    fn unrouted_numbers_go_to_the_first_connector() {
        assert_eq!(router().pick("+12025550123", |_| true), Some("sim"));
    }

    #[test]
    fn a_down_connector_fails_over_to_the_next_match() {
        let r = router();
        assert_eq!(r.pick("+48600100200", |c| c != "pl-mobile"), Some("pl"));
        assert_eq!(r.pick("+48600100200", |c| c == "sim"), Some("sim"));
        assert_eq!(r.pick("+48600100200", |_| false), Some("pl-mobile"));
    }

    #[test]
    fn a_default_that_does_not_fail_over_takes_only_unrouted_numbers() {
        let r = router().default_fails_over(false);
        assert_eq!(r.pick("+48600100200", |c| c == "sim"), Some("pl-mobile"), "waits for its own link");
        assert_eq!(r.candidates("+48600100200").collect::<Vec<_>>(), ["pl-mobile", "pl"]);
        assert_eq!(r.pick("+12025550123", |_| true), Some("sim"));
    }
}
