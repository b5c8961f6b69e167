//! Time and randomness helpers: the clock anchor and the seeded RNG.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Turns monotonic `Instant`s into epoch milliseconds from one anchor pair, and clamps
/// time so it never goes backwards (docs/architecture.md#time).
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    anchor: Instant,
    anchor_unix_ms: u64,
    last_now: Instant,
}

impl Clock {
    pub(crate) fn new(now: Instant, unix_now: SystemTime) -> Self {
        let anchor_unix_ms = unix_now
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self {
            anchor: now,
            anchor_unix_ms,
            last_now: now,
        }
    }

    /// Records `now` and returns `max(now, last_now)`.
    pub(crate) fn advance(&mut self, now: Instant) -> Instant {
        if now > self.last_now {
            self.last_now = now;
        }
        self.last_now
    }

    /// The latest `now` recorded (for commands that take no time).
    pub(crate) fn last_now(&self) -> Instant {
        self.last_now
    }

    /// Wall-clock epoch milliseconds at `now`.
    pub(crate) fn epoch_ms(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.anchor);
        self.anchor_unix_ms
            .saturating_add(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }
}

/// `now + d`, saturating far in the future instead of panicking on overflow.
pub(crate) fn add(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365 * 100)))
        .unwrap_or(now)
}

/// The seeded deterministic RNG of a state machine (ChaCha8, so output is stable across
/// crate versions).
#[derive(Clone, Debug)]
pub(crate) struct Rng(ChaCha8Rng);

impl Rng {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        Self(ChaCha8Rng::from_seed(seed))
    }

    /// A random uuid v4 string (lowercase, hyphenated).
    pub(crate) fn uuid_v4(&mut self) -> String {
        let mut b = [0u8; 16];
        self.0.fill_bytes(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(36);
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            s.push(HEX[(byte >> 4) as usize] as char);
            s.push(HEX[(byte & 0xf) as usize] as char);
        }
        s
    }

    /// A 21-character nanoid (alphabet `A-Za-z0-9_-`), like Primus's spark ids.
    pub(crate) fn nanoid(&mut self) -> String {
        const ALPHABET: &[u8; 64] =
            b"useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict";
        let mut b = [0u8; 21];
        self.0.fill_bytes(&mut b);
        b.iter()
            .map(|x| ALPHABET[(x & 63) as usize] as char)
            .collect()
    }

    /// A float in `[0, 1)`.
    pub(crate) fn unit_f64(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// 16 random bytes (a WebSocket key).
    pub(crate) fn bytes16(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.0.fill_bytes(&mut b);
        b
    }
}

/// Formats epoch milliseconds as an ISO-8601 UTC string with milliseconds, as
/// JavaScript's `Date.prototype.toISOString` does.
pub fn iso8601_ms(epoch_ms: u64) -> String {
    let c = Civil::from_ms(epoch_ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.ms
    )
}

/// Formats epoch milliseconds as JavaScript's `Date.prototype.toUTCString` does, which
/// is also the HTTP date format (RFC 9110 IMF-fixdate): `Wed, 25 Nov 2026 13:40:39 GMT`.
pub fn http_date(epoch_ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = Civil::from_ms(epoch_ms);
    let weekday = DAYS[(c.days % 7) as usize];
    let month = MONTHS[(c.month - 1).clamp(0, 11) as usize];
    format!(
        "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
        c.day, c.year, c.hour, c.minute, c.second
    )
}

/// Parses an HTTP date (IMF-fixdate, the only form browsers send back) into epoch
/// milliseconds; `None` for anything else.
pub fn parse_http_date(s: &str) -> Option<u64> {
    // "Wed, 25 Nov 2026 13:40:39 GMT"
    let rest = s.trim().split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: i64 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let hms = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let mut hms = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days-from-civil (Howard Hinnant's algorithm).
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    u64::try_from(secs).ok()?.checked_mul(1000)
}

/// A UTC calendar date and time.
struct Civil {
    days: i64,
    year: i64,
    month: i64,
    day: i64,
    hour: u64,
    minute: u64,
    second: u64,
    ms: u64,
}

impl Civil {
    fn from_ms(epoch_ms: u64) -> Self {
        let secs = epoch_ms / 1000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Civil-from-days (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Self {
            days,
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: rem / 3600,
            minute: (rem % 3600) / 60,
            second: rem % 60,
            ms: epoch_ms % 1000,
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests take one real Instant as their virtual epoch
mod tests {
    use super::*;

    #[test]
    fn uuid_is_v4_and_deterministic() {
        let a = Rng::new([7; 32]).uuid_v4();
        let b = Rng::new([7; 32]).uuid_v4();
        assert_eq!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_795_610_084_938), "2026-11-25T12:34:44.938Z");
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // Observed in a real Actionhero Set-Cookie.
        assert_eq!(
            http_date(1_795_614_039_000),
            "Wed, 25 Nov 2026 13:40:39 GMT"
        );
        assert_eq!(
            parse_http_date("Wed, 25 Nov 2026 13:40:39 GMT"),
            Some(1_795_614_039_000)
        );
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT"),
            Some(1_709_251_199_000)
        );
        for ms in [0, 951_782_400_000, 1_709_251_199_000, 4_102_444_800_000] {
            assert_eq!(parse_http_date(&http_date(ms)), Some(ms));
        }
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date("Wed, 25 Nov 2026 13:40:39 CET"), None);
        assert_eq!(parse_http_date("Wed, 25 Nov 2026 13:40 GMT"), None);
    }

    #[test]
    fn clock_never_goes_back() {
        let t0 = Instant::now(); // virtual epoch
        let mut c = Clock::new(t0, UNIX_EPOCH + Duration::from_millis(1000));
        let t1 = t0 + Duration::from_millis(5);
        assert_eq!(c.advance(t1), t1);
        assert_eq!(c.advance(t0), t1);
        assert_eq!(c.epoch_ms(t1), 1005);
    }
}
