//! The questions coal's setup asks, as a table: each `/private/answers.json` key that
//! sdc-headnode's `scripts/prompt-config.sh` reads, the prompt it prints when the key is absent
//! or its value fails the script's check, and that check. From the 2017 version of the script
//! (TritonDataCenter/sdc-headnode `scripts/prompt-config.sh`, the newest one readable) and the
//! newest `answers.json.tmpl.external`; see `images/coal/README.md`. Pure: the rig checks its
//! own file against it before writing, and reads a setup question off the console with it.

use regex::Regex;
use std::sync::LazyLock;

/// The check prompt-config applies to a key's value (its helper, by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// `promptval`: any non-empty value.
    Text,
    /// `promptopt`: any value, empty included; only an absent key prompts.
    Optional,
    /// `promptnet`: `n.n.n.n` with each field 0..255, or `none`.
    Net,
    /// `promptdnslabel`: letters, digits, `-`; starts alphanumeric, no trailing `-`, not all
    /// digits, at most 63 characters.
    DnsLabel,
    /// `promptemail`: a lower-case local part, `@`, host labels.
    Email,
    /// `prompttruefalse`: exactly `true` or `false`.
    TrueFalse,
    /// `Add external network now?`: y/yes/true or n/no/false.
    YesNo,
    /// `promptnic`: a MAC compared as a string with the machine's, which the script writes as
    /// six two-digit lower-case hex octets.
    Mac,
    /// `promptpw ... chk`: at least 7 characters with a letter and a digit.
    StrongPassword,
    /// `promptpw ... nochk`: any non-empty value.
    Password,
    /// A switch that must be `true`, or the script stops to ask (or waits for Enter).
    MustBeTrue,
}

/// When prompt-config asks a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// Only when `setup_external_network` said yes.
    ExternalNetwork,
}

/// One question of coal's setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    /// The answers key.
    pub key: &'static str,
    /// How the prompt starts on the console (prompt-config adds ` [default]: ` or `: `).
    pub prompt: &'static str,
    /// The value's check.
    pub check: Check,
    /// The script computes a default, so the value `<default>` takes it; without one
    /// `<default>` is taken literally.
    pub has_default: bool,
    /// When it is asked.
    pub when: When,
    /// Read in the script (`true`), or only in the newest template, whose script was not
    /// readable (assumed asked).
    pub confirmed: bool,
}

const fn q(key: &'static str, prompt: &'static str, check: Check, has_default: bool, when: When) -> Question {
    Question { key, prompt, check, has_default, when, confirmed: true }
}

use Check::*;
use When::*;

/// The questions, in the order prompt-config asks them. `ntp_host` stands for `ntp_hosts`
/// too (the script reads either). `skip_ntp_check` is no question (absent skips the check).
pub const QUESTIONS: &[Question] = &[
    q("config_console", "Press [enter] to continue", Text, false, Always),
    q("skip_instructions", "Press [enter] to continue", MustBeTrue, false, Always),
    q("datacenter_company_name", "Enter a company name", Text, false, Always),
    q("region_name", "Enter a region for this datacenter", DnsLabel, false, Always),
    q("datacenter_name", "Enter a name for this datacenter", DnsLabel, false, Always),
    q("datacenter_location", "Enter the City and State for this datacenter", Text, false, Always),
    q("admin_nic", "Enter the number of the NIC for the 'admin' interface", Mac, false, Always),
    q("admin_ip", "(admin) headnode IP address", Net, false, Always),
    q("admin_netmask", "(admin) headnode netmask", Net, true, Always),
    q("admin_provisionable_start", "(admin) Zone's starting IP address", Net, true, Always),
    q("setup_external_network", "Add external network now?", YesNo, true, Always),
    q("external_nic", "Enter the number of the NIC for the 'external' interface", Mac, false, ExternalNetwork),
    q("external_ip", "(external) headnode IP address", Net, false, ExternalNetwork),
    q("external_netmask", "(external) headnode netmask", Net, true, ExternalNetwork),
    q("external_gateway", "(external) gateway IP address", Net, false, ExternalNetwork),
    q("external_vlan_id", "(external) VLAN ID", Optional, true, ExternalNetwork),
    q("external_provisionable_start", "Starting provisionable IP address", Net, true, ExternalNetwork),
    q("external_provisionable_end", "Ending provisionable IP address", Net, true, ExternalNetwork),
    q("headnode_default_gateway", "Enter the default gateway IP", Net, true, Always),
    q("dns_resolver1", "Enter the Primary DNS server IP", Text, true, Always),
    q("dns_resolver2", "Enter the Secondary DNS server IP", Text, true, Always),
    q("dns_domain", "Enter the headnode domain name", Text, false, Always),
    q("dns_search", "Default DNS search domain", Text, false, Always),
    q("ntp_host", "Enter NTP server IP address(es) or hostname(s)", Text, true, Always),
    q("root_password", "Enter root password", Password, false, Always),
    q("admin_password", "Enter admin password", StrongPassword, false, Always),
    q("mail_to", "Administrator email goes to", Email, true, Always),
    q("mail_from", "Support email should appear from", Email, true, Always),
    q("phonehome_automatic", "Enable telemetry", TrueFalse, true, Always),
    // Assumed: the key (`true`/`yes` installs pkgsrc) is smartos-live's standalone installer's
    // (docs `answers.json` page); the issue reports the headnode asks it since 2023 when an
    // external NIC exists, which no readable prompt-config.sh shows. Prompt wording assumed;
    // an unknown prompt is caught by `setup_fail::prompt_waiting` anyway.
    Question { confirmed: false, ..q("install_pkgsrc", "Install pkgsrc", TrueFalse, true, ExternalNetwork) },
    Question { confirmed: false, ..q("update_channel", "Enter the update channel", Text, true, Always) },
    q("skip_final_confirm", "Is this correct?", MustBeTrue, false, Always),
    q("skip_edit_config", "Would you like to edit the final configuration file?", MustBeTrue, false, Always),
];

/// Prompts that belong to no single key but still wait for input.
const OTHER_PROMPTS: &[&str] = &["Confirm password", "Enter the number of the NIC"];

/// The password rule of `promptpw ... chk`, as the script words it.
pub const PASSWORD_RULE: &str = "at least 7 characters long and include 1 letter and 1 number";

/// Why a value fails its question's check (`None`: it passes).
pub fn invalid(q: &Question, value: &str) -> Option<String> {
    static NET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$").unwrap());
    static LABEL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$").unwrap());
    static EMAIL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[a-z0-9._%+-]+@[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*$").unwrap());
    static MAC: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$").unwrap());
    if value == "<default>" {
        return (!q.has_default).then(|| "`<default>` has no default to take here (taken literally)".into());
    }
    let ok = match q.check {
        Optional => true,
        Text | Password => !value.is_empty(),
        Net => value == "none" || (NET.is_match(value) && value.split('.').all(|f| f.parse::<u8>().is_ok())),
        DnsLabel => LABEL.is_match(value) && !value.chars().all(|c| c.is_ascii_digit()),
        Email => EMAIL.is_match(value),
        MustBeTrue => value == "true",
        TrueFalse => value == "true" || value == "false",
        YesNo => yes_no(value).is_some(),
        Mac => MAC.is_match(value),
        StrongPassword => {
            return (value.chars().count() < 7
                || !value.chars().any(|c| c.is_ascii_alphabetic())
                || !value.chars().any(|c| c.is_ascii_digit()))
            .then(|| format!("the password must be {PASSWORD_RULE}"));
        }
    };
    (!ok).then(|| {
        match q.check {
            Net => "not an address n.n.n.n (or `none`)",
            DnsLabel => "not a DNS label (a-zA-Z0-9-, max 63 characters)",
            Email => "not an email address",
            TrueFalse => "not `true` or `false`",
            YesNo => "not y/yes/true or n/no/false",
            Mac => "not a MAC as six two-digit lower-case hex octets (the script compares it as a string)",
            MustBeTrue => "not `true`: setup would stop to ask",
            _ => "empty",
        }
        .to_string()
    })
}

/// `Add external network now?`'s answer: `Some(true)` for yes.
pub fn yes_no(value: &str) -> Option<bool> {
    match value {
        "y" | "Y" | "yes" | "true" | "Y/n" => Some(true),
        "n" | "N" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// A setup question waiting on the console: the unfinished last line (`partial`) starts with a
/// known prompt and waits for input (ends in `:`, or is `Press [enter] to continue`). Returns
/// the question as printed.
pub fn on_console(partial: &str) -> Option<String> {
    let text = partial.rsplit('\r').find(|s| !s.trim().is_empty())?.trim();
    let known = QUESTIONS.iter().map(|q| q.prompt).chain(OTHER_PROMPTS.iter().copied()).any(|p| text.starts_with(p));
    let waits = text.ends_with(':') || text.ends_with("to continue");
    (known && waits).then(|| text.to_string())
}

/// The question of `key`, if setup has one.
pub fn question(key: &str) -> Option<&'static Question> {
    QUESTIONS.iter().find(|q| q.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_as_the_script_does() {
        let pw = question("admin_password").unwrap();
        assert_eq!(invalid(pw, "rig-coal-1"), None);
        for weak in ["abcdefgh", "1234567", "ab1"] {
            assert!(invalid(pw, weak).unwrap().contains("at least 7 characters"), "{weak}");
        }
        assert_eq!(invalid(question("root_password").unwrap(), "x"), None, "root's password is not checked");
        let nic = question("admin_nic").unwrap();
        assert_eq!(invalid(nic, "00:50:56:34:60:4c"), None);
        assert!(invalid(nic, "0:50:56:34:60:4c").is_some() && invalid(nic, "00:50:56:34:60:4C").is_some());
        let net = question("admin_ip").unwrap();
        assert!(invalid(net, "10.99.99.256").is_some() && invalid(net, "<default>").is_some());
        assert_eq!(invalid(question("admin_netmask").unwrap(), "<default>"), None);
        assert!(invalid(question("datacenter_name").unwrap(), "123").is_some());
        assert!(invalid(question("datacenter_name").unwrap(), "coal-").is_some());
        assert_eq!(invalid(question("mail_to").unwrap(), "root@localhost"), None);
        assert!(invalid(question("mail_to").unwrap(), "Root@localhost").is_some());
        assert_eq!(invalid(question("external_vlan_id").unwrap(), ""), None);
        assert!(invalid(question("skip_final_confirm").unwrap(), "false").is_some());
        assert_eq!(yes_no("Y/n"), Some(true));
    }

    #[test]
    fn questions_on_the_console() {
        assert_eq!(on_console("Enter a company name: ").as_deref(), Some("Enter a company name:"));
        assert_eq!(
            on_console("\rEnter the City and State for this datacenter: ").as_deref(),
            Some("Enter the City and State for this datacenter:")
        );
        assert_eq!(
            on_console("Add external network now? [Y/n]: ").as_deref(),
            Some("Add external network now? [Y/n]:")
        );
        assert_eq!(
            on_console("  Ending provisionable IP address [10.88.88.199]: ").as_deref(),
            Some("Ending provisionable IP address [10.88.88.199]:")
        );
        assert!(on_console("Enter the number of the NIC for the 'admin' interface: ").is_some());
        assert!(on_console("Press [enter] to continue").is_some());
        assert_eq!(on_console("headnode console login: "), None);
        assert_eq!(on_console("creating zone sapi... "), None);
        assert_eq!(on_console("Enter a company name"), None, "still arriving");
        assert_eq!(on_console("Install pkgsrc? [y/N]:").as_deref(), Some("Install pkgsrc? [y/N]:"));
        assert_eq!(question("install_pkgsrc").map(|q| q.when), Some(ExternalNetwork));
    }
}
