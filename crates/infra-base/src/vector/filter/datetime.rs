//! Datetimes as Qdrant filters them: microseconds since the Unix epoch, UTC.
//!
//! A range's bounds are RFC 3339 (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.5+02:00`);
//! payload values are read with Qdrant's wider grammar (also without a time zone, which
//! means UTC, without seconds, or a date alone). Years 0000-9999, as RFC 3339 allows.

/// Microseconds since 1970-01-01T00:00:00Z of an RFC 3339 datetime; `None` when `text`
/// is not one (a time zone and seconds are required).
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    parse(text, true)
}

/// Microseconds since the epoch of a payload string, with the formats Qdrant reads
/// (RFC 3339, a time zone without a colon, none at all meaning UTC, no seconds, a date).
pub(crate) fn parse_payload(text: &str) -> Option<i64> {
    parse(text, false)
}

/// The RFC 3339 form (UTC, `Z`, fractional seconds only when there are any) of
/// `micros` since the epoch; `None` outside years 0000-9999.
pub(crate) fn format_rfc3339(micros: i64) -> Option<String> {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (h, m, s) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    Some(out)
}

/// A small cursor over ASCII digits and separators.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<i64> {
        let slice = self.bytes.get(self.at..self.at + n)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at += n;
        Some(
            slice
                .iter()
                .fold(0, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    }

    fn eat(&mut self, options: &[u8]) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        options.contains(&b).then(|| {
            self.at += 1;
            b
        })
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

fn parse(text: &str, strict: bool) -> Option<i64> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let year = c.digits(4)?;
    c.eat(b"-")?;
    let month = c.digits(2)?;
    c.eat(b"-")?;
    let day = c.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let date_micros = days_from_civil(year, month, day) * 86_400_000_000;
    if c.done() {
        return (!strict).then_some(date_micros);
    }
    c.eat(b"Tt ")?;
    let hour = c.digits(2)?;
    c.eat(b":")?;
    let minute = c.digits(2)?;
    let mut second = 0;
    let mut fraction = 0;
    if c.eat(b":").is_some() {
        second = c.digits(2)?;
        if c.eat(b".").is_some() {
            let start = c.at;
            let mut scale = 100_000;
            while let Some(d) = c.digits(1) {
                fraction += d * scale;
                scale /= 10;
            }
            if c.at == start {
                return None;
            }
        }
    } else if strict {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset_minutes = if c.done() {
        if strict {
            return None;
        }
        0
    } else if c.eat(b"Zz").is_some() {
        0
    } else {
        let sign = if c.eat(b"+-")? == b'-' { -1 } else { 1 };
        let oh = c.digits(2)?;
        let colon = c.eat(b":").is_some();
        if strict && !colon {
            return None;
        }
        let om = c.digits(2)?;
        if oh > 23 || om > 59 {
            return None;
        }
        sign * (oh * 60 + om)
    };
    if !c.done() {
        return None;
    }
    let local = date_micros + ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction;
    Some(local - offset_minutes * 60_000_000)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_needs_seconds_and_a_zone() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(parse_rfc3339("1970-01-01t02:00:00+02:00"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59-00:00"), Some(-1_000_000));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00Z"),
            Some(1_709_208_000_000_000)
        );
        for bad in [
            "",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00+0200",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00Zjunk",
            "tomorrow",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn payloads_accept_qdrants_wider_grammar() {
        let noon = parse_rfc3339("2024-05-01T12:00:00Z");
        assert_eq!(parse_payload("2024-05-01T12:00:00"), noon);
        assert_eq!(parse_payload("2024-05-01 12:00"), noon);
        assert_eq!(parse_payload("2024-05-01T14:00:00+0200"), noon);
        assert_eq!(
            parse_payload("2024-05-01"),
            parse_rfc3339("2024-05-01T00:00:00Z")
        );
        assert_eq!(parse_payload("2024-05-01T12"), None);
    }

    #[test]
    fn formatting_round_trips() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59.123456Z",
            "1901-06-15T08:30:00.5Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
        ] {
            let micros = parse_rfc3339(text).unwrap();
            assert_eq!(format_rfc3339(micros).as_deref(), Some(text));
        }
        assert_eq!(format_rfc3339(i64::MAX), None);
    }
}
