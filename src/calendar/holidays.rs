//! Brazilian national holidays, computed for any year, and the extra
//! holidays and partial days a calendar adds from its configuration.
//!
//! The national list follows federal law: the fixed dates of Lei 662/1949
//! and its amendments (Tiradentes, Nossa Senhora Aparecida by Lei
//! 6.802/1980, Finados, Proclamação da República), 20 November only from
//! 2024 (Lei 14.759/2023), and Sexta-feira Santa. Carnaval, Quarta-feira de
//! Cinzas and Corpus Christi are *pontos facultativos* (optional points) in
//! the federal government's yearly ordinance; carteiro treats them as
//! configurable, on by default. The movable days follow Easter, computed
//! with the Gregorian computus (Meeus/Jones/Butcher).

use chrono::{Datelike, NaiveDate};

/// Easter Sunday of `year` in the Gregorian calendar; `None` before 1583
/// (the computus is Gregorian) or where chrono has no such date.
pub fn easter(year: i32) -> Option<NaiveDate> {
    if year < 1583 {
        return None;
    }
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// A national holiday or optional point, with its Portuguese name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum National {
    /// 1 January.
    ConfraternizacaoUniversal,
    /// Monday and Tuesday before Ash Wednesday (optional point).
    Carnaval,
    /// Ash Wednesday (optional point, normally until the afternoon).
    QuartaFeiraDeCinzas,
    /// Friday before Easter.
    SextaFeiraSanta,
    /// 21 April.
    Tiradentes,
    /// 1 May.
    DiaDoTrabalhador,
    /// Thursday 60 days after Easter (optional point).
    CorpusChristi,
    /// 7 September.
    Independencia,
    /// 12 October.
    NossaSenhoraAparecida,
    /// 2 November.
    Finados,
    /// 15 November.
    ProclamacaoDaRepublica,
    /// 20 November, national from 2024.
    ConscienciaNegra,
    /// 25 December.
    Natal,
}

impl National {
    /// The name in Portuguese, as admins and customers read it.
    pub fn name(self) -> &'static str {
        match self {
            National::ConfraternizacaoUniversal => "Confraternização Universal",
            National::Carnaval => "Carnaval",
            National::QuartaFeiraDeCinzas => "Quarta-feira de Cinzas",
            National::SextaFeiraSanta => "Sexta-feira Santa",
            National::Tiradentes => "Tiradentes",
            National::DiaDoTrabalhador => "Dia do Trabalhador",
            National::CorpusChristi => "Corpus Christi",
            National::Independencia => "Independência do Brasil",
            National::NossaSenhoraAparecida => "Nossa Senhora Aparecida",
            National::Finados => "Finados",
            National::ProclamacaoDaRepublica => "Proclamação da República",
            National::ConscienciaNegra => "Dia Nacional de Zumbi e da Consciência Negra",
            National::Natal => "Natal",
        }
    }

    /// Whether it is one of the optional points (pontos facultativos),
    /// which a calendar may or may not observe.
    pub fn is_optional(self) -> bool {
        matches!(
            self,
            National::Carnaval | National::QuartaFeiraDeCinzas | National::CorpusChristi
        )
    }
}

/// The first year 20 November is a national holiday (Lei 14.759/2023).
pub const CONSCIENCIA_NEGRA_SINCE: i32 = 2024;

/// The national holiday or optional point on `date`, if any, whatever the
/// calendar makes of it. Cheap enough for the hot path: a match on the
/// fixed dates and, from February to June only, one Easter computation.
pub fn national(date: NaiveDate) -> Option<National> {
    let fixed = match (date.month(), date.day()) {
        (1, 1) => Some(National::ConfraternizacaoUniversal),
        (4, 21) => Some(National::Tiradentes),
        (5, 1) => Some(National::DiaDoTrabalhador),
        (9, 7) => Some(National::Independencia),
        (10, 12) => Some(National::NossaSenhoraAparecida),
        (11, 2) => Some(National::Finados),
        (11, 15) => Some(National::ProclamacaoDaRepublica),
        (11, 20) if date.year() >= CONSCIENCIA_NEGRA_SINCE => Some(National::ConscienciaNegra),
        (12, 25) => Some(National::Natal),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    // Carnaval is never before 2 February, Corpus Christi never after
    // 24 June.
    if !(2..=6).contains(&date.month()) {
        return None;
    }
    let easter = easter(date.year())?;
    match (date - easter).num_days() {
        -48 | -47 => Some(National::Carnaval),
        -46 => Some(National::QuartaFeiraDeCinzas),
        -2 => Some(National::SextaFeiraSanta),
        60 => Some(National::CorpusChristi),
        _ => None,
    }
}

/// Every national holiday and optional point of `year`, in date order.
pub fn national_days(year: i32) -> Vec<(NaiveDate, National)> {
    let Some(first) = NaiveDate::from_ymd_opt(year, 1, 1) else {
        return Vec::new();
    };
    first
        .iter_days()
        .take_while(|d| d.year() == year)
        .filter_map(|d| national(d).map(|n| (d, n)))
        .collect()
}

/// A date a configured holiday or partial day falls on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateRule {
    /// One date: `2026-01-25`.
    On(NaiveDate),
    /// The same day every year: `01-25`. 29 February only in leap years.
    Yearly { month: u32, day: u32 },
}

impl DateRule {
    /// Parses `YYYY-MM-DD` or `MM-DD`.
    pub fn parse(text: &str) -> Option<DateRule> {
        match text.len() {
            10 => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(DateRule::On),
            5 => {
                let (month, day) = text.split_once('-')?;
                if month.len() != 2 || day.len() != 2 {
                    return None;
                }
                let month: u32 = month.parse().ok()?;
                let day: u32 = day.parse().ok()?;
                // 2000 is a leap year, so 02-29 is accepted.
                NaiveDate::from_ymd_opt(2000, month, day)?;
                Some(DateRule::Yearly { month, day })
            }
            _ => None,
        }
    }

    /// Whether `date` matches.
    pub fn matches(&self, date: NaiveDate) -> bool {
        match *self {
            DateRule::On(on) => on == date,
            DateRule::Yearly { month, day } => date.month() == month && date.day() == day,
        }
    }

    /// The date it falls on in `year`, if any.
    pub fn in_year(&self, year: i32) -> Option<NaiveDate> {
        match *self {
            DateRule::On(on) => (on.year() == year).then_some(on),
            DateRule::Yearly { month, day } => NaiveDate::from_ymd_opt(year, month, day),
        }
    }
}

impl std::fmt::Display for DateRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DateRule::On(date) => write!(f, "{}", date.format("%Y-%m-%d")),
            DateRule::Yearly { month, day } => write!(f, "{month:02}-{day:02}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn easter_matches_known_dates_including_the_extremes() {
        // Known Easter Sundays; 1818 and 2285 are the earliest possible
        // (22 March), 1943 and 2038 the latest (25 April).
        for (y, m, d) in [
            (1818, 3, 22),
            (1943, 4, 25),
            (2000, 4, 23),
            (2008, 3, 23),
            (2011, 4, 24),
            (2018, 4, 1),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2038, 4, 25),
            (2285, 3, 22),
        ] {
            assert_eq!(easter(y), Some(date(y, m, d)), "{y}");
        }
        assert_eq!(easter(1500), None);
    }

    #[test]
    fn the_movable_days_follow_easter_2026() {
        // Easter 2026 is 5 April.
        assert_eq!(national(date(2026, 2, 16)), Some(National::Carnaval));
        assert_eq!(national(date(2026, 2, 17)), Some(National::Carnaval));
        assert_eq!(national(date(2026, 2, 18)), Some(National::QuartaFeiraDeCinzas));
        assert_eq!(national(date(2026, 4, 3)), Some(National::SextaFeiraSanta));
        assert_eq!(national(date(2026, 6, 4)), Some(National::CorpusChristi));
        assert_eq!(national(date(2026, 2, 19)), None);
        assert_eq!(
            national(date(2026, 4, 5)),
            None,
            "Easter Sunday itself is no holiday here"
        );
    }

    #[test]
    fn consciencia_negra_is_national_only_from_2024() {
        assert_eq!(national(date(2023, 11, 20)), None);
        assert_eq!(national(date(2024, 11, 20)), Some(National::ConscienciaNegra));
        assert_eq!(national(date(2030, 11, 20)), Some(National::ConscienciaNegra));
    }

    #[test]
    fn a_year_lists_its_days_in_order() {
        let names: Vec<String> = national_days(2026)
            .into_iter()
            .map(|(d, n)| format!("{d} {}", n.name()))
            .collect();
        assert_eq!(
            names,
            [
                "2026-01-01 Confraternização Universal",
                "2026-02-16 Carnaval",
                "2026-02-17 Carnaval",
                "2026-02-18 Quarta-feira de Cinzas",
                "2026-04-03 Sexta-feira Santa",
                "2026-04-21 Tiradentes",
                "2026-05-01 Dia do Trabalhador",
                "2026-06-04 Corpus Christi",
                "2026-09-07 Independência do Brasil",
                "2026-10-12 Nossa Senhora Aparecida",
                "2026-11-02 Finados",
                "2026-11-15 Proclamação da República",
                "2026-11-20 Dia Nacional de Zumbi e da Consciência Negra",
                "2026-12-25 Natal",
            ]
        );
    }

    #[test]
    fn date_rules_parse_dated_and_yearly_forms() {
        assert_eq!(
            DateRule::parse("2026-01-25"),
            Some(DateRule::On(date(2026, 1, 25)))
        );
        assert_eq!(
            DateRule::parse("07-09"),
            Some(DateRule::Yearly { month: 7, day: 9 })
        );
        assert_eq!(
            DateRule::parse("02-29"),
            Some(DateRule::Yearly { month: 2, day: 29 })
        );
        for bad in ["2026-02-30", "13-01", "7-9", "07/09", "", "2026-1-25", "aa-bb"] {
            assert_eq!(DateRule::parse(bad), None, "{bad}");
        }
        let leap = DateRule::Yearly { month: 2, day: 29 };
        assert_eq!(leap.in_year(2027), None);
        assert_eq!(leap.in_year(2028), Some(date(2028, 2, 29)));
        assert!(DateRule::Yearly { month: 1, day: 25 }.matches(date(2031, 1, 25)));
        assert_eq!(DateRule::Yearly { month: 7, day: 9 }.to_string(), "07-09");
    }
}
