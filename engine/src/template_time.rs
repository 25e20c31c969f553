//! The `now` template function: the current UTC time, moved by an offset
//! and written in a strftime format, for providers that expect a date in a
//! header or token parameter, such as an expiry date a week ahead.
//!
//! `{{ now(FORMAT) }}` writes the request time when the variables carry
//! one ([`with_request_time`]), so that every template of one outgoing
//! request writes the same instant, and the time of rendering otherwise.
//! FORMAT is a chrono
//! strftime string (`%Y-%m-%d`, `%Y-%m-%dT%H:%M:%S`, `%a, %d %b %Y %H:%M:%S
//! %z`) or `unix` for whole seconds since the Unix epoch. The keyword
//! arguments `days`, `hours`, `minutes` and `seconds` (integers, negative
//! for the past) move the time first, as in `{{ now('%Y-%m-%d', days=7) }}`.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, TimeDelta, Utc};
use minijinja::value::Kwargs;
use minijinja::{Error, ErrorKind, State};
use serde_json::Value;

/// The format name of Unix seconds.
const UNIX_FORMAT: &str = "unix";

/// The keyword arguments of an offset and the seconds in one of each unit.
const OFFSET_UNITS: [(&str, i64); 4] = [
    ("days", 86_400),
    ("hours", 3_600),
    ("minutes", 60),
    ("seconds", 1),
];

/// The variable that carries the request time. No template can name it,
/// because it is not an identifier, and no config key or credential field
/// can take it.
pub(crate) const REQUEST_TIME_VARIABLE: &str = "@request_time";

/// Returns `vars` with the request time set to `now`, for the templates of
/// one outgoing request: each `now()` among them then writes `now` moved by
/// its own offset, so a date header and a signature over that date agree.
pub(crate) fn with_request_time(vars: &Value, now: DateTime<Utc>) -> Value {
    let mut vars = vars.clone();
    if let Value::Object(object) = &mut vars {
        let text = now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        object.insert(REQUEST_TIME_VARIABLE.to_owned(), Value::String(text));
    }
    vars
}

/// Implements `now(format, days=, hours=, minutes=, seconds=)` with the
/// request time of the rendering variables, or the system clock when they
/// carry none.
pub(crate) fn now_function(state: &State, format: &str, offset: Kwargs) -> Result<String, Error> {
    let offset = offset_from(&offset)?;
    let now = match state.lookup(REQUEST_TIME_VARIABLE) {
        Some(value) => value
            .as_str()
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map(|time| time.with_timezone(&Utc))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    "now(): the request time is not an RFC 3339 time",
                )
            })?,
        None => Utc::now(),
    };
    format_time(now, format, offset)
        .map_err(|message| Error::new(ErrorKind::InvalidOperation, message))
}

/// Reads the offset keyword arguments and rejects any other argument.
fn offset_from(kwargs: &Kwargs) -> Result<TimeDelta, Error> {
    let out_of_range = || {
        Error::new(
            ErrorKind::InvalidOperation,
            "now(): the offset is out of range",
        )
    };
    let mut seconds: i64 = 0;
    for (name, unit) in OFFSET_UNITS {
        let Some(count) = kwargs.get::<Option<i64>>(name)? else {
            continue;
        };
        let part = count.checked_mul(unit).ok_or_else(out_of_range)?;
        seconds = seconds.checked_add(part).ok_or_else(out_of_range)?;
    }
    kwargs.assert_all_used()?;
    TimeDelta::try_seconds(seconds).ok_or_else(out_of_range)
}

/// Writes `now + offset` in `format`: a strftime string or `unix`.
pub(crate) fn format_time(
    now: DateTime<Utc>,
    format: &str,
    offset: TimeDelta,
) -> Result<String, String> {
    let time = now
        .checked_add_signed(offset)
        .ok_or_else(|| "now(): the offset is out of range".to_owned())?;
    if format == UNIX_FORMAT {
        return Ok(time.timestamp().to_string());
    }
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!(
            "now(): `{format}` is not a valid strftime format; use specifiers such as `%Y-%m-%d`, or `unix`"
        ));
    }
    Ok(time.format(format).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_offsets() {
        let now: DateTime<Utc> = "2026-01-30T23:59:58Z".parse().unwrap();
        let cases = [
            ("%Y-%m-%d", TimeDelta::days(7), "2026-02-06"),
            (
                "%Y-%m-%dT%H:%M:%S",
                TimeDelta::zero(),
                "2026-01-30T23:59:58",
            ),
            ("%Y%m%dT%H%M%SZ", TimeDelta::seconds(2), "20260131T000000Z"),
            (
                "%a, %d %b %Y %H:%M:%S %z",
                TimeDelta::zero(),
                "Fri, 30 Jan 2026 23:59:58 +0000",
            ),
            ("unix", TimeDelta::minutes(1), "1769817658"),
            ("unix", TimeDelta::days(-1), "1769731198"),
        ];
        for (format, offset, expected) in cases {
            assert_eq!(
                format_time(now, format, offset).unwrap(),
                expected,
                "{format} {offset}"
            );
        }
    }

    #[test]
    fn invalid_format_rejected() {
        let error = format_time(Utc::now(), "%Y-%Q", TimeDelta::zero()).unwrap_err();

        assert!(
            error.contains("`%Y-%Q` is not a valid strftime format"),
            "{error}"
        );
    }

    #[test]
    fn request_time_shared_by_calls() {
        let mut environment = minijinja::Environment::new();
        environment.add_function("now", now_function);
        let now: DateTime<Utc> = "2026-01-30T23:59:59.999Z".parse().unwrap();
        let vars = with_request_time(&serde_json::json!({}), now);
        let template = "{{ now('%H:%M:%S') }}|{{ now('unix') }}|{{ now('unix', minutes=1) }}";

        let rendered = environment.render_str(template, &vars).unwrap();

        assert_eq!(rendered, "23:59:59|1769817599|1769817659");
    }

    #[test]
    fn template_function_renders() {
        let mut environment = minijinja::Environment::new();
        environment.add_function("now", now_function);
        let render = |template: &str| environment.render_str(template, ());

        let before = Utc::now();
        let ahead = render("{{ now('unix', days=7, hours=-1) }}").unwrap();
        let after = Utc::now();
        let ahead: i64 = ahead.parse().unwrap();
        let shift = 7 * 86_400 - 3_600;
        assert!(ahead >= before.timestamp() + shift, "{ahead}");
        assert!(ahead <= after.timestamp() + shift, "{ahead}");

        let unknown = render("{{ now('unix', weeks=1) }}").unwrap_err();
        assert!(unknown.to_string().contains("weeks"), "{unknown}");
        let overflow = render("{{ now('unix', days=9223372036854775807) }}").unwrap_err();
        assert!(overflow.to_string().contains("out of range"), "{overflow}");
    }
}
