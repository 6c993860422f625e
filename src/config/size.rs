//! Byte sizes in config values: `"25MiB"`, `"10MB"`, `"512KiB"`, or a bare
//! number of bytes (`26214400`, as a TOML integer or a string).
//!
//! Decimal units (`KB`, `MB`, `GB`) are powers of 1000 and binary units
//! (`KiB`, `MiB`, `GiB`) powers of 1024, as the SI and IEC define them;
//! units are case-insensitive and may follow a space.

/// A size that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a size such as \"25MiB\", \"10MB\" or a number of bytes (units B, KB, MB, GB, KiB, MiB, GiB); got {got:?}"
)]
pub struct SizeError {
    /// The text that was given.
    pub got: String,
}

/// Parses `<whole number>[ ]<unit>` or a whole number of bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let error = || SizeError { got: text.to_owned() };
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    if digits == 0 {
        return Err(error());
    }
    let number: u64 = trimmed[..digits].parse().map_err(|_| error())?;
    let unit = trimmed[digits..].strip_prefix(' ').unwrap_or(&trimmed[digits..]);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000 * 1000,
        "gb" => 1000 * 1000 * 1000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(error()),
    };
    number.checked_mul(multiplier).ok_or_else(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bytes_decimal_and_binary_units() {
        assert_eq!(parse_size("26214400"), Ok(26_214_400));
        assert_eq!(parse_size("25MiB"), Ok(25 * 1024 * 1024));
        assert_eq!(parse_size("25 MiB"), Ok(25 * 1024 * 1024));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("10mb"), Ok(10_000_000));
        assert_eq!(parse_size("512KiB"), Ok(524_288));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("100B"), Ok(100));
    }

    #[test]
    fn rejects_fractions_signs_unknown_units_and_overflow() {
        for bad in [
            "",
            "MiB",
            "1.5MiB",
            "-1",
            "25 M",
            "25  MiB",
            "25TB",
            "25 mebibytes",
            "99999999999999999999",
            "18446744073709551615GiB",
        ] {
            let err = parse_size(bad).expect_err(bad);
            assert_eq!(
                err.to_string(),
                format!(
                    "expected a size such as \"25MiB\", \"10MB\" or a number of bytes (units B, KB, MB, GB, \
                     KiB, MiB, GiB); got {bad:?}"
                )
            );
        }
    }
}
