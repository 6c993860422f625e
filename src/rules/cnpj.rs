//! `cnpj_valid`: whether a text is a CNPJ with correct check digits.

/// Whether `text` holds a CNPJ (14 digits, punctuation allowed: "11.222.333/0001-81")
/// whose two check digits are right. All-equal digits ("00.000.000/0000-00") pass the
/// arithmetic but are not issued, so they are refused.
pub fn is_valid(text: &str) -> bool {
    let mut digits = Vec::with_capacity(14);
    for c in text.trim().chars() {
        match c {
            '0'..='9' => digits.push(u32::from(c as u8 - b'0')),
            '.' | '/' | '-' | ' ' => {}
            _ => return false,
        }
    }
    if digits.len() != 14 || digits.iter().all(|d| *d == digits[0]) {
        return false;
    }
    let check = |len: usize| {
        let weights: Vec<u32> = if len == 12 {
            vec![5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
        } else {
            vec![6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
        };
        let sum: u32 = digits[..len].iter().zip(&weights).map(|(d, w)| d * w).sum();
        let rest = sum % 11;
        if rest < 2 { 0 } else { 11 - rest }
    };
    check(12) == digits[12] && check(13) == digits[13]
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn real_cnpjs_pass_with_or_without_punctuation() {
        // Banco do Brasil and Petrobras, as published in their reports.
        assert!(is_valid("00.000.000/0001-91"));
        assert!(is_valid("33000167000101"));
        assert!(is_valid("11.222.333/0001-81"));
    }

    #[test]
    fn a_wrong_check_digit_or_shape_fails() {
        assert!(!is_valid("11.222.333/0001-82"), "second digit off");
        assert!(!is_valid("11.222.333/0001-91"), "first digit off");
        assert!(!is_valid("11.222.333/0001"), "too short");
        assert!(!is_valid("11.222.333/0001-811"), "too long");
        assert!(!is_valid("11.222.333/0001-8a"), "a letter");
        assert!(!is_valid("00.000.000/0000-00"), "all zeros");
        assert!(!is_valid(""));
    }
}
