//! The XML Schema value forms the Atom API uses: `xs:duration` as .NET writes a `TimeSpan`
//! (`XmlConvert.ToString(TimeSpan)`: `PT1M`, `P14D`, `P10675199DT2H48M5.4775807S`), booleans and
//! UTC times.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

/// `TimeSpan.MaxValue` (`i64::MAX` ticks of 100 ns): what Service Bus shows for "no limit"
/// (`DefaultMessageTimeToLive`, `AutoDeleteOnIdle`).
pub const TIMESPAN_MAX: Duration = Duration::new(922_337_203_685, 477_580_700);

/// A duration as .NET writes a `TimeSpan`: zero parts left out, seconds with up to seven
/// fractional digits; never longer than [`TIMESPAN_MAX`].
pub fn duration(d: Duration) -> String {
    let d = d.min(TIMESPAN_MAX);
    let secs = d.as_secs();
    let (days, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let ticks = d.subsec_nanos() / 100;
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if h > 0 || m > 0 || s > 0 || ticks > 0 || days == 0 {
        out.push('T');
        if h > 0 {
            out.push_str(&format!("{h}H"));
        }
        if m > 0 {
            out.push_str(&format!("{m}M"));
        }
        if ticks > 0 {
            let fraction = format!("{ticks:07}");
            out.push_str(&format!("{s}.{}S", fraction.trim_end_matches('0')));
        } else if s > 0 || (days == 0 && h == 0 && m == 0) {
            out.push_str(&format!("{s}S"));
        }
    }
    out
}

/// Parse an `xs:duration` of days, hours, minutes and (fractional) seconds, as the SDKs write
/// them (`PT30S`, `P14D`, `PT1M30.5S`, `P10675199DT2H48M5.4775807S`). Years, months and weeks
/// (whose length depends on a date) are refused.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut total = Duration::ZERO;
    let mut any = false;
    if !date.is_empty() {
        let days: u64 = date.strip_suffix('D')?.parse().ok()?;
        total = total.checked_add(Duration::from_secs(days.checked_mul(86_400)?))?;
        any = true;
    }
    let mut time = time.unwrap_or("");
    for (unit, secs) in [('H', 3600u64), ('M', 60)] {
        if let Some((n, after)) = time.split_once(unit) {
            let n: u64 = n.parse().ok()?;
            total = total.checked_add(Duration::from_secs(n.checked_mul(secs)?))?;
            time = after;
            any = true;
        }
    }
    if let Some(s) = time.strip_suffix('S') {
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        let whole: u64 = whole.parse().ok()?;
        let nanos = if fraction.is_empty() {
            0
        } else {
            if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            format!("{fraction:0<9}").parse::<u32>().ok()?
        };
        total = total.checked_add(Duration::new(whole, nanos))?;
        any = true;
    } else if !time.is_empty() {
        return None;
    }
    any.then_some(total)
}

/// `true` / `false` as `xs:boolean` (`1` / `0` too).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// A UTC time as Service Bus writes it (`2021-09-28T19:01:58.997Z`).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_in_the_form_dotnet_writes() {
        for (text, d) in [
            ("PT1M", Duration::from_secs(60)),
            ("P14D", Duration::from_secs(14 * 86_400)),
            ("PT10M", Duration::from_secs(600)),
            ("PT0S", Duration::ZERO),
            ("P1DT2H3M4.5S", Duration::new(86_400 + 7_384, 500_000_000)),
            ("P10675199DT2H48M5.4775807S", TIMESPAN_MAX),
        ] {
            assert_eq!(parse_duration(text), Some(d), "{text}");
            assert_eq!(duration(d), text);
        }
        assert_eq!(parse_duration("PT90S"), Some(Duration::from_secs(90)));
        for bad in ["", "P", "PT", "1M", "P1Y", "P1W", "PT1X", "PTS", "PT1.S2"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
