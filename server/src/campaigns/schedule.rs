//! When campaign messages go out: recurrences (RFC 5545 RRULE in a time
//! zone) and quiet hours (a daily window, in each contact's own zone, when
//! nothing is sent).
//!
//! Both are valid by construction: a [`Recurrence`] fires at least once more
//! and never more often than [`MIN_RECURRENCE_GAP`]; [`QuietHours`] are a
//! non-empty window shorter than a day.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone as _, Timelike as _, Utc};
use chrono_tz::Tz;
use rrule::{RRule, RRuleSet, Unvalidated};

/// The shortest time allowed between two runs of a recurring campaign: a
/// rule that fires more often is a mistake ("every second"), not a campaign.
pub const MIN_RECURRENCE_GAP: Duration = Duration::hours(1);
/// Occurrences looked at when checking the gap.
const GAP_SAMPLE: u16 = 50;

/// A time zone name from the IANA database (`Europe/Warsaw`).
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    Tz::from_str(name.trim()).map_err(|_| {
        format!("'{}' is not a time zone name from the IANA database, e.g. Europe/Warsaw", name.trim())
    })
}

/// A recurring schedule: an RRULE evaluated in a time zone from a start.
#[derive(Clone)]
pub struct Recurrence {
    rule: String,
    zone: Tz,
    set: RRuleSet,
}

impl fmt::Debug for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recurrence({} in {})", self.rule, self.zone)
    }
}

impl Recurrence {
    /// `rule` is an RRULE value (`FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0`,
    /// with or without `RRULE:`); times of day it does not give come from
    /// `start`. Refused if it never fires after `now` or fires too often.
    pub fn new(rule: &str, zone: Tz, start: DateTime<Utc>, now: DateTime<Utc>) -> Result<Self, String> {
        let recurrence = Self::parse(rule, zone, start)?;
        let upcoming = recurrence.upcoming(now, GAP_SAMPLE);
        if upcoming.is_empty() {
            return Err("the rule never fires after now (check UNTIL, COUNT and the BY… parts)".into());
        }
        if let Some(gap) = upcoming.windows(2).map(|w| w[1] - w[0]).min()
            && gap < MIN_RECURRENCE_GAP
        {
            return Err(format!(
                "the rule fires every {} minutes; runs must be at least {} minutes apart",
                gap.num_minutes(),
                MIN_RECURRENCE_GAP.num_minutes()
            ));
        }
        Ok(recurrence)
    }

    /// A stored rule, checked when it was saved.
    pub fn parse(rule: &str, zone: Tz, start: DateTime<Utc>) -> Result<Self, String> {
        let rule = rule.trim();
        let body = rule.strip_prefix("RRULE:").unwrap_or(rule).trim();
        if body.is_empty() {
            return Err("the rule is empty; e.g. FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0".into());
        }
        if body.contains(['\n', '\r']) || body.to_ascii_uppercase().contains("DTSTART") {
            return Err("give only the RRULE; the start comes from starts_at and time_zone".into());
        }
        let parsed: RRule<Unvalidated> =
            body.parse().map_err(|e: rrule::RRuleError| format!("not a valid RRULE: {e}"))?;
        let start = start.with_timezone(&zone).with_second(0).and_then(|t| t.with_nanosecond(0));
        let start = start.ok_or("the start time cannot be used")?;
        let set = parsed
            .build(start.with_timezone(&rrule::Tz::Tz(zone)))
            .map_err(|e| format!("not a valid RRULE: {e}"))?;
        Ok(Self { rule: body.to_owned(), zone, set })
    }

    pub fn rule(&self) -> &str {
        &self.rule
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first occurrence strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.upcoming(after, 1).into_iter().next()
    }

    /// Up to `n` distinct occurrences strictly after `after`. A local time
    /// that a daylight-saving change skips is moved to the one after the
    /// gap (the rrule crate's choice): an hourly rule then gives 03:00
    /// twice in Warsaw on the spring change, which is one run, not two.
    pub fn upcoming(&self, after: DateTime<Utc>, n: u16) -> Vec<DateTime<Utc>> {
        let from = after.with_timezone(&rrule::Tz::Tz(self.zone));
        let mut dates: Vec<DateTime<Utc>> = self
            .set
            .clone()
            .after(from)
            .all(n.saturating_add(2))
            .dates
            .into_iter()
            .map(|d| d.with_timezone(&Utc))
            .filter(|d| *d > after)
            .collect();
        dates.dedup();
        dates.truncate(usize::from(n));
        dates
    }
}

/// A daily window when campaign messages wait: from `start` to `end`,
/// local time; `start` after `end` spans midnight (21:00–08:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start: NaiveTime,
    end: NaiveTime,
}

impl QuietHours {
    pub fn new(start: NaiveTime, end: NaiveTime) -> Result<Self, String> {
        if start == end {
            return Err("quiet hours need different start and end times".into());
        }
        Ok(Self { start, end })
    }

    /// From `HH:MM` strings.
    pub fn parse(start: &str, end: &str) -> Result<Self, String> {
        let time = |s: &str| {
            NaiveTime::parse_from_str(s.trim(), "%H:%M")
                .map_err(|_| format!("'{}' is not a time of day as HH:MM", s.trim()))
        };
        Self::new(time(start)?, time(end)?)
    }

    /// Minutes after midnight, as stored.
    pub fn from_minutes(start: i64, end: i64) -> Option<Self> {
        let t = |m: i64| NaiveTime::from_hms_opt(u32::try_from(m / 60).ok()?, u32::try_from(m % 60).ok()?, 0);
        Self::new(t(start)?, t(end)?).ok()
    }

    pub fn minutes(&self) -> (i64, i64) {
        let m = |t: NaiveTime| i64::from(t.hour() * 60 + t.minute());
        (m(self.start), m(self.end))
    }

    pub fn start(&self) -> NaiveTime {
        self.start
    }

    pub fn end(&self) -> NaiveTime {
        self.end
    }

    fn is_quiet(&self, t: NaiveTime) -> bool {
        if self.start < self.end { t >= self.start && t < self.end } else { t >= self.start || t < self.end }
    }

    /// The first moment at or after `at` outside the quiet window in `zone`.
    pub fn next_allowed(&self, at: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        let local = at.with_timezone(&zone);
        if !self.is_quiet(local.time()) {
            return at;
        }
        let mut day: NaiveDate = local.date_naive();
        if self.start > self.end && local.time() >= self.start {
            day = day.succ_opt().unwrap_or(day);
        }
        // A window ending inside a daylight-saving gap ends when the gap
        // does; one ending in the hour that the autumn change repeats ends
        // at its first pass, unless `at` is already in the second.
        let mut end = day.and_time(self.end);
        for _ in 0..4 {
            match zone.from_local_datetime(&end) {
                LocalResult::Single(t) => return t.with_timezone(&Utc).max(at),
                LocalResult::Ambiguous(first, second) => {
                    let first = first.with_timezone(&Utc);
                    return if first >= at { first } else { second.with_timezone(&Utc).max(at) };
                }
                LocalResult::None => end += Duration::minutes(30),
            }
        }
        at + Duration::hours(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_monday_at_nine_in_warsaw() {
        let now = utc("2026-11-24T08:00:00Z"); // a Tuesday
        let r =
            Recurrence::new("RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0", Tz::Europe__Warsaw, now, now)
                .unwrap();
        let next = r.upcoming(now, 2);
        // 09:00 in Warsaw is 08:00 UTC in winter.
        assert_eq!(next, vec![utc("2026-11-30T08:00:00Z"), utc("2026-12-07T08:00:00Z")]);
        assert_eq!(r.next_after(next[0]), Some(next[1]));
    }

    #[test]
    fn on_the_first_of_each_month_keeps_local_time_across_daylight_saving() {
        let start = utc("2027-02-15T09:30:00Z"); // 10:30 in Warsaw (CET)
        let r = Recurrence::new("FREQ=MONTHLY;BYMONTHDAY=1", Tz::Europe__Warsaw, start, start).unwrap();
        assert_eq!(
            r.upcoming(start, 2),
            vec![utc("2027-03-01T09:30:00Z"), utc("2027-04-01T08:30:00Z")] // CEST from 28 March
        );
    }

    #[test]
    fn rules_that_never_fire_or_fire_too_often_are_refused() {
        let now = utc("2026-11-24T08:00:00Z");
        let z = Tz::UTC;
        for (rule, want) in [
            ("FREQ=SECONDLY", "at least"),
            ("FREQ=MINUTELY;INTERVAL=5", "at least"),
            ("FREQ=HOURLY;BYMINUTE=0,30", "at least"),
            ("FREQ=DAILY;UNTIL=20200101T000000Z", "UNTIL"),
            ("FREQ=DAILY;COUNT=1", "never fires"),
            ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never fires"),
            ("FREQ=SOMETIMES", "not a valid RRULE"),
            ("", "empty"),
            ("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY", "only the RRULE"),
        ] {
            let start = if rule.contains("COUNT") { now - Duration::days(3) } else { now };
            let e = Recurrence::new(rule, z, start, now).unwrap_err();
            assert!(e.contains(want), "{rule}: {e}");
        }
        assert!(Recurrence::new("FREQ=HOURLY", z, now, now).is_ok());
    }

    #[test]
    fn quiet_hours_over_midnight_wait_for_the_morning_in_the_contacts_zone() {
        let q = QuietHours::parse("21:00", "08:00").unwrap();
        // 03:00 in Sofia (UTC+2 in winter) waits until 08:00 Sofia.
        assert_eq!(
            q.next_allowed(utc("2026-11-24T01:00:00Z"), Tz::Europe__Sofia),
            utc("2026-11-24T06:00:00Z")
        );
        // 22:00 in Warsaw waits until 08:00 the next day.
        assert_eq!(
            q.next_allowed(utc("2026-11-24T21:00:00Z"), Tz::Europe__Warsaw),
            utc("2026-11-25T07:00:00Z")
        );
        // Midday goes at once.
        let noon = utc("2026-11-24T11:00:00Z");
        assert_eq!(q.next_allowed(noon, Tz::Europe__Warsaw), noon);
        // A window within one day.
        let lunch = QuietHours::parse("12:00", "13:00").unwrap();
        assert_eq!(lunch.next_allowed(utc("2026-11-24T12:30:00Z"), Tz::UTC), utc("2026-11-24T13:00:00Z"));
        assert_eq!(lunch.next_allowed(noon, Tz::UTC), noon);
        assert!(QuietHours::parse("08:00", "08:00").is_err());
        assert!(QuietHours::parse("25:00", "08:00").is_err());
        assert_eq!(QuietHours::from_minutes(1260, 480), Some(q));
        assert_eq!(q.minutes(), (1260, 480));
    }

    #[test]
    fn an_hourly_rule_made_before_the_spring_change_fires_once_an_hour() {
        // Warsaw skips 02:00-03:00 on 28 March 2027 (01:00 UTC).
        let now = utc("2027-03-26T12:00:00Z");
        let r = Recurrence::new("FREQ=HOURLY", Tz::Europe__Warsaw, now, now).unwrap();
        let next = r.upcoming(now, 50);
        assert!(next.windows(2).all(|w| w[1] - w[0] == Duration::hours(1)), "{next:?}");
        assert!(next.contains(&utc("2027-03-28T01:00:00Z")), "03:00 CEST, once");
        assert!(Recurrence::new("FREQ=HOURLY;INTERVAL=2", Tz::Europe__Warsaw, now, now).is_ok());
    }

    #[test]
    fn quiet_hours_ending_in_the_repeated_autumn_hour_end_after_the_message() {
        // Warsaw repeats 02:00-03:00 on 31 October 2027: CEST 00:00-01:00
        // UTC, then CET 01:00-02:00 UTC.
        let q = QuietHours::parse("00:00", "02:30").unwrap();
        let warsaw = Tz::Europe__Warsaw;
        // 02:10 on the second pass waits for 02:30 on the second pass.
        assert_eq!(q.next_allowed(utc("2027-10-31T01:10:00Z"), warsaw), utc("2027-10-31T01:30:00Z"));
        // 02:10 on the first pass waits for the first 02:30.
        assert_eq!(q.next_allowed(utc("2027-10-31T00:10:00Z"), warsaw), utc("2027-10-31T00:30:00Z"));
        // 01:00 (CEST) waits for the first 02:30 too.
        assert_eq!(q.next_allowed(utc("2027-10-30T23:00:00Z"), warsaw), utc("2027-10-31T00:30:00Z"));
    }

    #[test]
    fn zones_are_checked() {
        assert!(parse_zone("Europe/Sofia").is_ok());
        assert!(parse_zone("Mars/Olympus").unwrap_err().contains("IANA"));
    }
}
