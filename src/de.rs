//! Parsing helpers shared by the flags and the config file, in a leaf module so that neither
//! `cli` nor `config` nor any config section depends on another for them: Prometheus' duration
//! grammar, and serde `deserialize_with` functions that range-check numbers and durations so a
//! bad value is an error naming its field and line, never an overflow at run time.

use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

/// The longest duration hale accepts: Prometheus' own limit (Go's `time.Duration`, a signed
/// 64-bit count of nanoseconds, about 292 years), so every duration fits wherever hale adds it
/// to a clock.
pub const MAX_DURATION: Duration = Duration::from_nanos(i64::MAX as u64);

/// A duration that is not in Prometheus' grammar, or does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration {0:?} (use Prometheus' units ms, s, m, h, d, w, y, largest first: e.g. 500ms, 1m30s, 30d)")]
    Syntax(String),
    #[error("duration {0:?} is out of range (at most about 292y)")]
    Range(String),
}

/// Prometheus' duration units, largest first, in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a Prometheus duration (`model.ParseDuration`): one or more `<integer><unit>` parts with
/// units `y` (365d), `w`, `d`, `h`, `m`, `s`, `ms`, each at most once and largest first
/// (`1h30m`, not `30m1h`), or a bare `0`.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::Syntax(s.to_string());
    let range = || DurationError::Range(s.to_string());
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(syntax());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    // Index into UNITS of the next unit allowed: each unit once, in order.
    let mut next = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(syntax)?;
        if digits == 0 {
            return Err(syntax());
        }
        let (number, after_number) = rest.split_at(digits);
        let n: u64 = number.parse().map_err(|_| range())?;
        rest = after_number;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (unit, after) = rest.split_at(unit_len);
        let at = UNITS
            .iter()
            .skip(next)
            .position(|(u, _)| *u == unit)
            .ok_or_else(syntax)?;
        let (_, millis) = UNITS.get(next + at).copied().ok_or_else(syntax)?;
        next += at + 1;
        total = n
            .checked_mul(millis)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(range)?;
        rest = after;
    }
    if total > MAX_DURATION.as_millis() as u64 {
        return Err(range());
    }
    Ok(Duration::from_millis(total))
}

/// Deserializes a Prometheus duration string (`500ms`, `15s`, `1m30s`, `30d`).
pub fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

/// Deserializes a duration that must be longer than zero (an interval or a timeout).
pub fn positive_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = duration(d)?;
    if v.is_zero() {
        return Err(serde::de::Error::custom("must be longer than 0s"));
    }
    Ok(v)
}

/// Deserializes an optional regular expression, rejecting one that does not compile.
pub fn opt_regex<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Regex>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| Regex::new(&s).map_err(|e| serde::de::Error::custom(format!("bad regex: {e}"))))
        .transpose()
}

/// Deserializes a count in `MIN..=MAX` (a queue size, a number of workers or connections), so
/// a value that would overflow a semaphore or a buffer is refused where it is written.
pub fn count<'de, D, T, const MIN: u64, const MAX: u64>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    let v = u64::deserialize(d)?;
    if !(MIN..=MAX).contains(&v) {
        return Err(serde::de::Error::custom(format!(
            "{v} is out of range: use {MIN} to {MAX}"
        )));
    }
    T::try_from(v).map_err(|_| serde::de::Error::custom(format!("{v} is too large")))
}

/// Deserializes a threshold in percent: a finite number from 0. A level above 100 is never
/// reached, which is how a check's warn or fail level is turned off.
pub fn percent<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !v.is_finite() || v < 0.0 {
        return Err(serde::de::Error::custom(format!(
            "{v} is not a percentage (a number from 0; above 100 turns the level off)"
        )));
    }
    Ok(v)
}

/// A clap value parser for a count flag in `min..=max`.
pub fn count_flag(min: usize, max: usize) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |s: &str| {
        let v: usize = s
            .parse()
            .map_err(|_| format!("{s:?} is not a whole number"))?;
        if !(min..=max).contains(&v) {
            return Err(format!("{v} is out of range: use {min} to {max}"));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_duration_grammar() {
        let ok =
            |s: &str, ms: u64| assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        ok("0", 0);
        ok("0s", 0);
        ok("4s", 4_000);
        ok("500ms", 500);
        ok("1m30s", 90_000);
        ok("30d", 30 * 86_400_000);
        ok("2w", 14 * 86_400_000);
        ok("1y", 365 * 86_400_000);
        ok(
            "1y2w3d4h5m6s7ms",
            ((((365 + 14 + 3) * 24 + 4) * 60 + 5) * 60 + 6) * 1000 + 7,
        );
        for bad in [
            "", "4", "s", "4x", "30m1h", "1s1s", "-1s", "1.5s", " 1s", "1S", "1sms",
        ] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::Syntax(_))),
                "{bad:?}: {:?}",
                parse_duration(bad)
            );
        }
    }

    /// Issue 13.5: `18446744073709551615s1s` overflowed and aborted hale;
    /// `3381903080180084463m` wrapped to 4 s.
    #[test]
    fn overflowing_durations_are_out_of_range() {
        for huge in [
            "18446744073709551615s1s",
            "3381903080180084463m",
            "99999999999999999999999s",
            "293y",
            "9223372036854775808ms",
        ] {
            assert!(
                matches!(parse_duration(huge), Err(DurationError::Range(_))),
                "{huge:?}: {:?}",
                parse_duration(huge)
            );
        }
        assert_eq!(
            parse_duration("292y"),
            Ok(Duration::from_secs(292 * 365 * 86_400))
        );
    }
}
