//! Filters for Brazilian formats, registered on every template
//! environment:
//!
//! | filter | input | output |
//! |---|---|---|
//! | `data_extenso` | a date (`2019-05-28`) or an RFC 3339 instant | `28 de maio de 2019` |
//! | `data_hora` | an RFC 3339 instant | `28/05/2019 14:30` (`DD/MM/AAAA HH:MM`, 24 h) |
//! | `cnpj` | 14 characters, with or without punctuation | `00.000.000/0000-00` |
//!
//! An instant is shown in the environment's time zone
//! ([`super::TemplateOptions::time_zone`], `America/Sao_Paulo` unless
//! configured) or in the IANA zone given as the filter's argument:
//! `{{ ticket.created_at | data_hora("America/Manaus") }}`. `data_extenso`
//! of an instant is the calendar day in that zone, so 01:00 UTC on the 29th
//! is still "28 de maio" in São Paulo.
//!
//! The formatted dates and CNPJs are marked safe (digits, punctuation and
//! month names), so HTML templates show `28/05/2019`, not `28&#x2f;05…`.
//!
//! A value the filter cannot read is an error (the template fails, and
//! `carteiro check` says where), except for `cnpj`, whose input comes from
//! customers: a value that is not 14 characters long is shown as it was
//! given, trimmed, rather than stopping the mail.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use minijinja::value::Value;
use minijinja::{Error, ErrorKind};

/// The month names, January first.
const MONTHS: [&str; 12] = [
    "janeiro",
    "fevereiro",
    "março",
    "abril",
    "maio",
    "junho",
    "julho",
    "agosto",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
];

/// What a date-like template value holds.
enum When {
    Day(NaiveDate),
    Instant(DateTime<Utc>),
}

fn read_when(value: &Value, filter: &str) -> Result<When, Error> {
    let Some(text) = value.as_str() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{filter} expects a date (\"2019-05-28\") or an instant (RFC 3339); got {value}"),
        ));
    };
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(When::Instant(instant.with_timezone(&Utc)));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(When::Day(day));
    }
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!("{filter} expects a date (\"2019-05-28\") or an instant (RFC 3339); got {text:?}"),
    ))
}

fn zone(name: Option<&str>, default: Tz, filter: &str) -> Result<Tz, Error> {
    match name {
        None => Ok(default),
        Some(name) => name.parse::<Tz>().map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("{filter}: {name:?} is not an IANA time zone, e.g. \"America/Sao_Paulo\""),
            )
        }),
    }
}

/// `28 de maio de 2019`.
pub fn date_long(day: NaiveDate) -> String {
    use chrono::Datelike;
    let month = MONTHS
        .get(usize::try_from(day.month0()).unwrap_or(0))
        .copied()
        .unwrap_or("?");
    format!("{} de {month} de {}", day.day(), day.year())
}

/// The `data_extenso` filter, with `default` as the zone when none is given.
pub fn data_extenso(value: &Value, zone_name: Option<&str>, default: Tz) -> Result<Value, Error> {
    let day = match read_when(value, "data_extenso")? {
        When::Day(day) => day,
        When::Instant(instant) => {
            let tz = zone(zone_name, default, "data_extenso")?;
            instant.with_timezone(&tz).date_naive()
        }
    };
    Ok(Value::from_safe_string(date_long(day)))
}

/// The `data_hora` filter: `28/05/2019 14:30` in the zone.
pub fn data_hora(value: &Value, zone_name: Option<&str>, default: Tz) -> Result<Value, Error> {
    match read_when(value, "data_hora")? {
        When::Instant(instant) => {
            let tz = zone(zone_name, default, "data_hora")?;
            Ok(Value::from_safe_string(
                instant.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string(),
            ))
        }
        When::Day(_) => Err(Error::new(
            ErrorKind::InvalidOperation,
            "data_hora expects an instant with a time (RFC 3339); for a date alone use data_extenso",
        )),
    }
}

/// The `cnpj` filter: `00.000.000/0000-00`. Accepts the numeric CNPJ and
/// the alphanumeric one in use since July 2026 (12 letters or digits, then
/// 2 check digits), with or without punctuation; anything else is returned
/// trimmed, unchanged (and then not marked safe: it is customer text).
pub fn cnpj(value: &Value) -> Value {
    let text = match value.as_str() {
        Some(text) => text.to_owned(),
        None => value.to_string(),
    };
    let chars: Vec<char> = text
        .chars()
        .filter(|c| !matches!(c, '.' | '/' | '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = chars.len() == 14
        && chars[..12].iter().all(char::is_ascii_alphanumeric)
        && chars[12..].iter().all(char::is_ascii_digit);
    if !valid {
        return Value::from(text.trim());
    }
    let part = |range: std::ops::Range<usize>| chars[range].iter().collect::<String>();
    Value::from_safe_string(format!(
        "{}.{}.{}/{}-{}",
        part(0..2),
        part(2..5),
        part(5..8),
        part(8..12),
        part(12..14)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SP: Tz = chrono_tz::America::Sao_Paulo;

    #[test]
    fn long_dates_are_in_portuguese() {
        let v = Value::from("2019-05-28");
        assert_eq!(
            data_extenso(&v, None, SP).ok().map(|v| v.to_string()).as_deref(),
            Some("28 de maio de 2019")
        );
        let march = Value::from("2024-03-01");
        assert_eq!(
            data_extenso(&march, None, SP)
                .ok()
                .map(|v| v.to_string())
                .as_deref(),
            Some("1 de março de 2024")
        );
        // 01:00 UTC on the 29th is still the 28th in São Paulo (UTC-3).
        let late = Value::from("2019-05-29T01:00:00Z");
        assert_eq!(
            data_extenso(&late, None, SP)
                .ok()
                .map(|v| v.to_string())
                .as_deref(),
            Some("28 de maio de 2019")
        );
        assert_eq!(
            data_extenso(&late, Some("UTC"), SP)
                .ok()
                .map(|v| v.to_string())
                .as_deref(),
            Some("29 de maio de 2019")
        );
    }

    #[test]
    fn datetimes_are_shown_in_the_zone() {
        let v = Value::from("2019-05-28T17:30:00Z");
        assert_eq!(
            data_hora(&v, None, SP).ok().as_ref().and_then(Value::as_str),
            Some("28/05/2019 14:30")
        );
        assert_eq!(
            data_hora(&v, Some("America/Manaus"), SP)
                .ok()
                .map(|v| v.to_string())
                .as_deref(),
            Some("28/05/2019 13:30")
        );
        let err = data_hora(&v, Some("Brasil/Recife"), SP)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("\"Brasil/Recife\" is not an IANA time zone")),
            "{err:?}"
        );
        let err = data_hora(&Value::from("ontem"), None, SP)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("got \"ontem\"")),
            "{err:?}"
        );
    }

    #[test]
    fn cnpjs_are_punctuated() {
        assert_eq!(
            cnpj(&Value::from("11222333000181")).as_str(),
            Some("11.222.333/0001-81")
        );
        assert_eq!(
            cnpj(&Value::from(" 11.222.333/0001-81 ")).as_str(),
            Some("11.222.333/0001-81")
        );
        assert_eq!(
            cnpj(&Value::from("12abc34501de35")).as_str(),
            Some("12.ABC.345/01DE-35")
        );
        assert_eq!(cnpj(&Value::from(" 123 ")).as_str(), Some("123"));
        assert_eq!(
            cnpj(&Value::from(11_222_333_000_181_u64)).as_str(),
            Some("11.222.333/0001-81")
        );
    }
}
