//! How far apart a platform added with `--platform` and the coal image's own platform are.
//! A 2018 DEBUG platform under a current coal's service zones and agents is a combination
//! nobody ran: sdc-headnode checks no minimum platform itself, but image manifests carry
//! `requirements.min_platform` and the headnode scripts expect helpers of their own era
//! (`images/coal/README.md`). Pure: the stamps are `YYYYMMDDThhmmssZ`.

/// Months from one platform stamp to another (positive when `to` is newer).
fn months_between(from: &str, to: &str) -> Option<i64> {
    let ym = |s: &str| -> Option<i64> {
        let y: i64 = s.get(0..4)?.parse().ok()?;
        let m: i64 = s.get(4..6)?.parse().ok()?;
        Some(y * 12 + m)
    };
    Some(ym(to)? - ym(from)?)
}

/// At least this many months apart is worth a warning.
pub const WARN_MONTHS: i64 = 12;

/// A warning when the booted platform and the newest of the image's own platforms are a year
/// or more apart, saying what to expect; `None` when they are close or unknown.
pub fn platform_age_warning(booted: &str, image_platforms: &[String]) -> Option<String> {
    let own = image_platforms.iter().filter(|p| p.as_str() != booted).max()?;
    let months = months_between(booted, own)?;
    if months.abs() < WARN_MONTHS {
        return None;
    }
    let (years, older) = (months.abs() / 12, if months > 0 { "older" } else { "newer" });
    let years = if years == 1 { "1 year".to_string() } else { format!("{years} years") };
    Some(format!(
        "the platform {booted} is about {years} {older} than this coal image's own platform {own}: its service \
         zones, agents and setup scripts were built for {own}'s era, and nobody ran them on {booted}. Expect setup \
         to fail or services to misbehave for reasons unrelated to the case (an image whose min_platform is newer, \
         a setup helper the old platform lacks); a setup failure here says nothing about the kernel under test. \
         A coal release from the platform's own time avoids this."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_when_years_apart() {
        let own = vec!["20240606T000000Z".to_string()];
        let w = platform_age_warning("20181206T011455Z", &own).unwrap();
        assert!(
            w.starts_with("the platform 20181206T011455Z is about 5 years older than this coal image's own"),
            "{w}"
        );
        assert!(w.contains("Expect setup to fail"), "{w}");
        assert_eq!(platform_age_warning("20240101T000000Z", &own), None);
        assert!(platform_age_warning("20260101T000000Z", &own).unwrap().contains("about 1 year newer"));
        assert_eq!(platform_age_warning("20181206T011455Z", &[]), None, "nothing to compare with");
        assert_eq!(platform_age_warning("20181206T011455Z", &["20181206T011455Z".into()]), None);
    }
}
