//! Timestamps as the tables store them: RFC 3339 in UTC, which sorts as text.

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_millis(epoch_ms: u64) -> String {
    let seconds = epoch_ms / 1000;
    let days = (seconds / 86_400) as i64;
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        epoch_ms % 1000
    )
}

/// The instant of a `rfc3339_millis` timestamp, or `None` for any other text: exactly the
/// texts formatting produces parse (1970 to 9999) — no sign, no leap second, no 30th of
/// February.
pub fn parse_rfc3339_millis(text: &str) -> Option<u64> {
    // `d` stands for a digit; every other byte stands for itself. A digit check first,
    // because `u64::from_str` also takes a leading `+`.
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd.dddZ";
    let b = text.as_bytes();
    let shape_ok = b.len() == SHAPE.len()
        && b.iter().zip(SHAPE).all(|(&c, &s)| {
            if s == b'd' {
                c.is_ascii_digit()
            } else {
                c == s
            }
        });
    if !shape_ok {
        return None;
    }
    let number = |from: usize, to: usize| text.get(from..to)?.parse::<u64>().ok();
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second, millis) = (
        number(11, 13)?,
        number(14, 16)?,
        number(17, 19)?,
        number(20, 23)?,
    );
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // A date that does not exist (month 13, day 0, the 30th of February) is counted as
    // another day, which does not read back as this one.
    let date = (year as i64, month as u32, day as u32);
    let days = days_from_civil(date.0, date.1, date.2);
    if civil_from_days(days) != date {
        return None;
    }
    let seconds = u64::try_from(days).ok()? * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds * 1000 + millis)
}

/// Howard Hinnant's civil-to-days algorithm, the inverse of `civil_from_days`.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 9999-12-31T23:59:59.999Z, the last instant of four-digit years.
    const LAST_MS: u64 = 253_402_300_799_999;

    fn is_leap(year: i64) -> bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    fn days_in_month(year: i64, month: u32) -> u32 {
        match month {
            2 if is_leap(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            rfc3339_millis(1_796_083_199_999),
            "2026-11-30T23:59:59.999Z"
        );
        assert_eq!(rfc3339_millis(LAST_MS), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn every_day_of_the_proleptic_gregorian_calendar_is_counted_in_order() {
        // Day by day from 0001-01-01 to 9999-12-31 against the leap-year rule (every 4th
        // year, not every 100th, every 400th): the century years 1900, 2100 and 2400, the
        // last day of each 400-year era (2000-02-29, 2400-02-29) and the first of the next.
        let (mut year, mut month, mut day) = (1, 1, 1);
        let mut days = days_from_civil(1, 1, 1);
        assert_eq!(
            days, -719_162,
            "0001-01-01 is 719 162 days before 1970-01-01"
        );
        while year <= 9999 {
            assert_eq!(
                days_from_civil(year, month, day),
                days,
                "{year}-{month}-{day}"
            );
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            days += 1;
            day += 1;
            if day > days_in_month(year, month) {
                (month, day) = (month + 1, 1);
            }
            if month > 12 {
                (year, month) = (year + 1, 1);
            }
        }
    }

    #[test]
    fn timestamps_of_every_malformed_shape_are_refused() {
        let valid = "2026-11-30T23:59:59.999Z";
        assert_eq!(parse_rfc3339_millis(valid), Some(1_796_083_199_999));
        let mut malformed: Vec<String> = (0..valid.len()).map(|n| valid[..n].to_string()).collect();
        for extra in ["0", "Z", " ", "\n", "+00:00"] {
            malformed.push(format!("{valid}{extra}"));
            malformed.push(format!("{extra}{valid}"));
        }
        // Any byte replaced by anything but a digit where a digit was.
        for (i, original) in valid.bytes().enumerate() {
            for replacement in b"0-:T.Z+ xt" {
                if *replacement != original
                    && !(original.is_ascii_digit() && replacement.is_ascii_digit())
                {
                    let mut bytes = valid.as_bytes().to_vec();
                    bytes[i] = *replacement;
                    malformed.push(String::from_utf8(bytes).unwrap());
                }
            }
        }
        // Right separators, another length; other ways of writing the same instant.
        malformed.extend(
            [
                "2026-11-30T23:59:59.9999Z",
                "2026-11-30T23:59:59.99Z",
                "2026-11-30T23:59:59Z",
                "02026-11-30T23:59:59.999Z",
                "2026-11-30 23:59:59.999Z",
                "2026-11-30t23:59:59.999z",
                "2026-11-30T23:59:59.999+00:00",
                "+026-11-30T23:59:59.999Z",
                "2026-+1-30T23:59:59.999Z",
                "yesterday",
                "",
            ]
            .map(String::from),
        );
        for text in malformed {
            assert_eq!(parse_rfc3339_millis(&text), None, "{text:?}");
        }
    }

    #[test]
    fn each_field_out_of_its_range_is_refused() {
        for text in [
            "2026-00-01T00:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "2026-01-00T00:00:00.000Z",
            "2026-01-32T00:00:00.000Z",
            "2026-04-31T00:00:00.000Z",
            "2026-02-29T00:00:00.000Z",
            "2100-02-29T00:00:00.000Z",
            "2024-02-30T00:00:00.000Z",
            "2026-01-01T24:00:00.000Z",
            "2026-01-01T00:60:00.000Z",
            "2026-01-01T00:00:60.000Z",
            "1969-12-31T23:59:59.999Z",
            "0000-01-01T00:00:00.000Z",
        ] {
            assert_eq!(parse_rfc3339_millis(text), None, "{text}");
        }
        for text in [
            "1970-01-01T00:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
            "2000-02-29T00:00:00.000Z",
            "2400-02-29T12:00:00.000Z",
            "2026-12-31T23:59:59.999Z",
        ] {
            assert_eq!(
                parse_rfc3339_millis(text).map(rfc3339_millis).as_deref(),
                Some(text)
            );
        }
    }

    #[test]
    fn text_order_is_time_order() {
        let a = rfc3339_millis(1_700_000_000_000);
        let b = rfc3339_millis(1_700_000_000_001);
        assert!(a < b);
    }

    proptest! {
        #[test]
        fn rfc3339_round_trips_over_the_whole_supported_range(ms in 0..=LAST_MS) {
            let text = rfc3339_millis(ms);
            prop_assert_eq!(text.len(), 24);
            prop_assert_eq!(parse_rfc3339_millis(&text), Some(ms));
        }

        #[test]
        fn exactly_the_timestamps_of_existing_instants_parse(
            year in 1970i64..=9999, month in 1u32..=12, day in 1u32..=31,
            hour in 0u32..=23, minute in 0u32..=59, second in 0u32..=59, millis in 0u32..=999,
        ) {
            let text = format!(
                "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z"
            );
            let parsed = parse_rfc3339_millis(&text);
            if day <= days_in_month(year, month) {
                prop_assert_eq!(parsed.map(rfc3339_millis), Some(text));
            } else {
                prop_assert_eq!(parsed, None);
            }
        }
    }
}
