//! Durations as they are written: .NET timespans (`host.json`), ISO 8601 (Terraform, the Service
//! Bus API), or a number with a unit (an operator's flags).

use std::time::Duration;

/// Parse a .NET timespan `[d.]hh:mm:ss[.fff]`.
pub fn parse_timespan(text: &str) -> Option<Duration> {
    let (days, rest) = match text.split_once('.') {
        Some((d, r)) if r.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, text),
    };
    let mut parts = rest.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (h, m, s): (u64, u64, f64) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
    if m >= 60 || !(0.0..60.0).contains(&s) {
        return None;
    }
    Some(Duration::from_secs(days * 86_400 + h * 3_600 + m * 60) + Duration::from_secs_f64(s))
}

/// Parse a duration as an operator writes it: ISO 8601 as in Terraform and the Service Bus API
/// (`PT1M`, `P14D`, `PT0.5S`, `P1DT12H`), a .NET timespan as in `host.json` (`00:01:00`,
/// `14.00:00:00`), or a number with an optional unit (`60`, `60s`, `500ms`, `5m`, `2h`, `14d`;
/// no unit means seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "`{text}` is not a duration: use ISO 8601 (PT1M, P14D), a timespan (00:01:00) or seconds (60, 60s, 5m)"
        )
    };
    if let Some(iso) = t.strip_prefix(['P', 'p']) {
        return parse_iso8601(iso).ok_or_else(bad);
    }
    if t.contains(':') {
        return parse_timespan(t).ok_or_else(bad);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1_000.0,
        "m" => n * 60.0,
        "h" => n * 3_600.0,
        "d" => n * 86_400.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// The part of an ISO 8601 duration after `P`: `[nD][T[nH][nM][nS]]` (weeks as `nW`).
fn parse_iso8601(text: &str) -> Option<Duration> {
    let (date, time) = match text.split_once(['T', 't']) {
        Some((d, t)) if !t.is_empty() => (d, t),
        Some(_) => return None,
        None => (text, ""),
    };
    if date.is_empty() && time.is_empty() {
        return None;
    }
    let mut seconds = 0.0;
    for (part, units) in [
        (date, &[('W', 604_800.0), ('D', 86_400.0)][..]),
        (time, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut rest = part;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let end = rest.find(|c: char| c.is_ascii_alphabetic())?;
            let n: f64 = rest[..end].parse().ok()?;
            let unit = rest[end..].chars().next()?.to_ascii_uppercase();
            let idx = units[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
            seconds += n * units[idx].1;
            next_unit = idx + 1;
            rest = &rest[end + 1..];
        }
    }
    Duration::try_from_secs_f64(seconds).ok()
}
