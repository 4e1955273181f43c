//! Times, days and initials as people read them.

use js_sys::Date;

fn date(ms: u64) -> Date {
    Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64))
}

/// `14:05`
pub(crate) fn clock(ms: u64) -> String {
    let d = date(ms);
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// A key for the local calendar day of `ms`.
pub(crate) fn day_key(ms: u64) -> (u32, u32, u32) {
    let d = date(ms);
    (d.get_full_year(), d.get_month(), d.get_date())
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// `Today`, `Yesterday`, `Monday`, or `3 March 2026`.
pub(crate) fn day_label(ms: u64, now: u64) -> String {
    const DAY: u64 = 86_400_000;
    if day_key(ms) == day_key(now) {
        return "Today".to_owned();
    }
    if day_key(ms) == day_key(now.saturating_sub(DAY)) {
        return "Yesterday".to_owned();
    }
    let d = date(ms);
    if now.saturating_sub(ms) < 6 * DAY {
        return WEEKDAYS[d.get_day() as usize % 7].to_owned();
    }
    format!(
        "{} {} {}",
        d.get_date(),
        MONTHS[d.get_month() as usize % 12],
        d.get_full_year()
    )
}

/// What the chat list shows as a time: the clock today, else a short date.
pub(crate) fn list_time(ms: u64, now: u64) -> String {
    if day_key(ms) == day_key(now) {
        return clock(ms);
    }
    let d = date(ms);
    if now.saturating_sub(ms) < 6 * 86_400_000 {
        return WEEKDAYS[d.get_day() as usize % 7][..3].to_owned();
    }
    format!("{}/{}/{}", d.get_date(), d.get_month() + 1, d.get_full_year() % 100)
}

/// `online`, `last seen 5 min ago`, ...
pub(crate) fn last_seen(seen_ms: u64, now: u64) -> String {
    let ago = now.saturating_sub(seen_ms) / 1000;
    if ago < 90 {
        "online".to_owned()
    } else if ago < 3600 {
        format!("last seen {} min ago", ago / 60)
    } else if ago < 86_400 {
        format!("last seen {} h ago", ago / 3600)
    } else {
        format!("last seen {}", day_label(seen_ms, now))
    }
}

/// Up to two initials of a name.
pub(crate) fn initials(name: &str) -> String {
    let mut out: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .collect();
    if out.is_empty() {
        out.push('?');
    }
    out.to_uppercase()
}

/// A stable colour (hue) for a name or id.
pub(crate) fn hue(seed: &str) -> u32 {
    seed.bytes()
        .fold(2166136261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16777619))
        % 360
}

/// A size for people: `812 B`, `24 KB`, `3.4 MB`.
pub(crate) fn size(bytes: u64) -> String {
    const KB: f64 = 1000.0;
    let value = bytes as f64;
    if value < KB {
        format!("{bytes} B")
    } else if value < KB * KB {
        format!("{:.0} KB", value / KB)
    } else if value < KB * KB * KB {
        format!("{:.1} MB", value / (KB * KB))
    } else {
        format!("{:.1} GB", value / (KB * KB * KB))
    }
}

/// A length for people: `0:07`, `12:34`.
pub(crate) fn duration(ms: u64) -> String {
    let seconds = ms.div_ceil(1000);
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// `bars` values from `levels`, the loudest of each span (fewer levels than
/// bars are stretched).
pub(crate) fn loudest_of_spans(levels: &[u8], bars: usize) -> Vec<u8> {
    if levels.is_empty() {
        return Vec::new();
    }
    (0..bars)
        .map(|i| {
            let start = (i * levels.len() / bars).min(levels.len() - 1);
            let end = ((i + 1) * levels.len() / bars).clamp(start + 1, levels.len());
            levels[start..end].iter().copied().max().unwrap_or(0)
        })
        .collect()
}
