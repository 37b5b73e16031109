//! `/private/answers.json` for an unattended coal setup: the headnode's networks, the NIC MACs
//! the rig's machine has, and the passwords, so setup never stops at a prompt.

use std::path::Path;

use super::questions::{QUESTIONS, When, invalid, yes_no};

/// coal's admin NIC MAC (from its answers template); the rig's machine uses it too.
pub const ADMIN_MAC: &str = "00:50:56:34:60:4c";
/// coal's external NIC MAC.
pub const EXTERNAL_MAC: &str = "00:50:56:3d:a7:95";
/// The headnode's address on the admin network (where its sshd listens).
pub const ADMIN_IP: &str = "10.99.99.7";
/// The headnode's address on the external network.
pub const EXTERNAL_IP: &str = "10.88.88.200";
/// The external network's gateway (QEMU's user-network host address on that NIC).
pub const EXTERNAL_GATEWAY: &str = "10.88.88.2";
/// The admin network's host address (QEMU's user-network host address on that NIC).
pub const ADMIN_HOST: &str = "10.99.99.254";
/// The last address of the admin DHCP range: below [`ADMIN_HOST`] (setup's default would be
/// the broadcast minus one, QEMU's host address; coal's template sets the same `.253`).
pub const DHCP_RANGE_END: &str = "10.99.99.253";
/// QEMU's built-in DNS forwarder on the external network: outside setup's default external
/// provisionable range (the gap between the gateway `.2` and the headnode's `.200`, so
/// `.3`-`.199`, where adminui lands first) and off the headnode's own address.
pub const EXTERNAL_DNS: &str = "10.88.88.253";

/// The answers file, in the order of sdc-headnode's `answers.json.tmpl.external`. Field
/// names are the keys coal's setup reads; `"<default>"` takes the default setup computes.
/// [`crate::guest_os::illumos::coal::questions::QUESTIONS`] lists what setup asks for each.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Answers {
    /// Where setup talks: any value lets it run on the console without waiting for Enter.
    pub config_console: String,
    /// Skip the introduction screens.
    pub skip_instructions: bool,
    /// One-line section headers instead of clearing the screen.
    pub simple_headers: bool,
    /// Skip "is this correct?".
    pub skip_final_confirm: bool,
    /// Skip the offer to edit the config.
    pub skip_edit_config: bool,
    /// No DNS check (the rig's network has no way out).
    pub skip_dns_check: bool,
    /// No NTP check (likewise).
    pub skip_ntp_check: bool,
    /// The company.
    pub datacenter_company_name: String,
    /// Region name.
    pub region_name: String,
    /// Datacenter name.
    pub datacenter_name: String,
    /// Where the datacenter is.
    pub datacenter_location: String,
    /// The admin NIC, by MAC (two-digit lower-case octets: setup compares strings).
    pub admin_nic: String,
    /// The headnode's admin address.
    pub admin_ip: String,
    /// The first address for admin zones.
    pub admin_provisionable_start: String,
    /// The admin netmask.
    pub admin_netmask: String,
    /// The admin gateway (the template's; not asked by the 2017 script).
    pub admin_gateway: String,
    /// Whether to set up the external network now.
    pub setup_external_network: bool,
    /// The external NIC, by MAC.
    pub external_nic: String,
    /// The headnode's external address.
    pub external_ip: String,
    /// The external VLAN.
    pub external_vlan_id: String,
    /// The first provisionable external address.
    pub external_provisionable_start: String,
    /// The last provisionable external address.
    pub external_provisionable_end: String,
    /// The external netmask.
    pub external_netmask: String,
    /// The external gateway.
    pub external_gateway: String,
    /// The headnode's default route.
    pub headnode_default_gateway: String,
    /// The first resolver.
    pub dns_resolver1: String,
    /// The second resolver.
    pub dns_resolver2: String,
    /// The headnode's domain.
    pub dns_domain: String,
    /// The DNS search domain.
    pub dns_search: String,
    /// The admin network's last DHCP address.
    pub dhcp_range_end: String,
    /// NTP servers.
    pub ntp_host: String,
    /// root's password.
    pub root_password: String,
    /// The Triton admin password (setup's strength rule applies).
    pub admin_password: String,
    /// The API password (the template's).
    pub api_password: String,
    /// Where admin mail goes.
    pub mail_to: String,
    /// Where support mail comes from.
    pub mail_from: String,
    /// Telemetry.
    pub phonehome_automatic: bool,
    /// Install pkgsrc in the global zone (the template's).
    pub install_pkgsrc: bool,
    /// The update channel.
    pub update_channel: String,
}

impl Answers {
    /// coal's usual answers with the given NIC MACs and a password for root, admin and the API.
    /// MACs are written as setup compares them (two-digit lower-case octets).
    pub fn coal(admin_mac: &str, external_mac: &str, password: &str) -> Answers {
        let d = || "<default>".to_string();
        Answers {
            config_console: "serial".into(),
            skip_instructions: true,
            simple_headers: true,
            skip_final_confirm: true,
            skip_edit_config: true,
            skip_dns_check: true,
            skip_ntp_check: true,
            datacenter_company_name: "rig".into(),
            region_name: "coal".into(),
            datacenter_name: "coal".into(),
            datacenter_location: "QEMU".into(),
            admin_nic: canonical_mac(admin_mac),
            admin_ip: ADMIN_IP.into(),
            admin_provisionable_start: d(),
            admin_netmask: "255.255.255.0".into(),
            admin_gateway: ADMIN_IP.into(),
            setup_external_network: true,
            external_nic: canonical_mac(external_mac),
            external_ip: EXTERNAL_IP.into(),
            external_vlan_id: d(),
            external_provisionable_start: d(),
            external_provisionable_end: d(),
            external_netmask: "255.255.255.0".into(),
            external_gateway: EXTERNAL_GATEWAY.into(),
            headnode_default_gateway: EXTERNAL_GATEWAY.into(),
            dns_resolver1: EXTERNAL_DNS.into(),
            dns_resolver2: EXTERNAL_DNS.into(),
            dns_domain: "coal.rig.test".into(),
            dns_search: "coal.rig.test".into(),
            dhcp_range_end: DHCP_RANGE_END.into(),
            ntp_host: d(),
            root_password: password.into(),
            admin_password: password.into(),
            api_password: password.into(),
            mail_to: d(),
            mail_from: d(),
            phonehome_automatic: false,
            install_pkgsrc: true,
            update_channel: "release".into(),
        }
    }

    /// The file's text, checked against setup's questions: pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<String, AnswersError> {
        let mut s = serde_json::to_string_pretty(self).expect("answers serialize");
        s.push('\n');
        check(Path::new("/private/answers.json"), &s)?;
        Ok(s)
    }
}

/// A MAC as setup prints the machine's: six two-digit lower-case octets (`0:50:56:34:60:4C`
/// becomes `00:50:56:34:60:4c`); anything else is kept as given (and fails the check).
pub fn canonical_mac(mac: &str) -> String {
    match parse_mac(mac) {
        Some(m) => m.iter().map(|o| format!("{o:02x}")).collect::<Vec<_>>().join(":"),
        None => mac.to_string(),
    }
}

/// Checks an answers file against every question setup would ask: a missing key or a value
/// that fails the script's check would stop setup at a console prompt.
pub fn check(file: &Path, json: &str) -> Result<(), AnswersError> {
    let file_s = file.display().to_string();
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| AnswersError::Unreadable { file: file_s.clone(), why: e.to_string() })?;
    let text = |key: &str| {
        v.get(key).map(|x| match x {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let external = text("setup_external_network").and_then(|s| yes_no(&s)).unwrap_or(true);
    for q in QUESTIONS {
        if q.when == When::ExternalNetwork && !external {
            continue;
        }
        let Some(value) = text(q.key) else {
            return Err(AnswersError::Missing { file: file_s, key: q.key, prompt: q.prompt });
        };
        if let Some(why) = invalid(q, &value) {
            return Err(AnswersError::Invalid { file: file_s, key: q.key, prompt: q.prompt, why });
        }
    }
    Ok(())
}

/// An answers file setup would stop at: a NIC MAC that is not the machine's ("which NIC?"),
/// a missing key, or a value that fails setup's check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswersError {
    /// A NIC's MAC differs.
    #[error(
        "{file}: {role} is {found}, but the machine's {role} MAC is {expected}; coal setup would stop at an interactive NIC prompt"
    )]
    MacMismatch {
        /// The answers file.
        file: String,
        /// `admin_nic` or `external_nic`.
        role: &'static str,
        /// The machine's MAC.
        expected: String,
        /// The file's MAC.
        found: String,
    },
    /// A key setup asks about is missing.
    #[error("{file}: no {key}: coal setup would stop at the console question '{prompt}'")]
    Missing {
        /// The answers file.
        file: String,
        /// The key.
        key: &'static str,
        /// Setup's question.
        prompt: &'static str,
    },
    /// A value fails setup's check.
    #[error("{file}: {key}: {why}; coal setup would stop at the console question '{prompt}'")]
    Invalid {
        /// The answers file.
        file: String,
        /// The key.
        key: &'static str,
        /// Setup's question.
        prompt: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The file is not an answers file.
    #[error("{file}: not a coal answers file ({why}); expected JSON with admin_nic and external_nic MACs")]
    Unreadable {
        /// The answers file.
        file: String,
        /// The parser's complaint.
        why: String,
    },
}

/// A MAC as six octets, so `0:50:56:34:60:4C` equals `00:50:56:34:60:4c`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut m = [0u8; 6];
    for (o, p) in m.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(m)
}

fn same_mac(a: &str, b: &str) -> bool {
    matches!((parse_mac(a), parse_mac(b)), (Some(x), Some(y)) if x == y)
}

/// Checks an answers file's text against the machine's admin and external MACs.
pub fn check_macs(file: &Path, json: &str, admin_mac: &str, external_mac: &str) -> Result<(), AnswersError> {
    let file_s = file.display().to_string();
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| AnswersError::Unreadable { file: file_s.clone(), why: e.to_string() })?;
    for (role, expected) in [("admin_nic", admin_mac), ("external_nic", external_mac)] {
        let found = v
            .get(role)
            .and_then(|x| x.as_str())
            .ok_or_else(|| AnswersError::Unreadable { file: file_s.clone(), why: format!("no {role}") })?;
        if !same_mac(found, expected) {
            return Err(AnswersError::MacMismatch {
                file: file_s,
                role,
                expected: expected.into(),
                found: found.into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_compare_as_octets() {
        assert!(same_mac("0:50:56:34:60:4C", ADMIN_MAC));
        assert!(!same_mac(ADMIN_MAC, EXTERNAL_MAC));
        assert_eq!(parse_mac("00:50:56:34:60"), None);
        assert_eq!(parse_mac("00:50:56:34:60:4g"), None);
    }

    #[test]
    fn own_answers_pass_and_a_swap_is_named() {
        let p = Path::new("/img/private/answers.json");
        let a = Answers::coal(ADMIN_MAC, EXTERNAL_MAC, "pw-1234").to_json().unwrap();
        check_macs(p, &a, ADMIN_MAC, EXTERNAL_MAC).unwrap();
        let e = check_macs(p, &a, EXTERNAL_MAC, ADMIN_MAC).unwrap_err().to_string();
        assert!(e.contains("/img/private/answers.json") && e.contains("admin_nic is 00:50:56:34:60:4c"), "{e}");
        assert!(e.contains("MAC is 00:50:56:3d:a7:95"), "{e}");
        let e = check_macs(p, "{}", ADMIN_MAC, EXTERNAL_MAC).unwrap_err().to_string();
        assert!(e.contains("no admin_nic"), "{e}");
    }

    #[test]
    fn the_rigs_file_answers_every_question() {
        let a = Answers::coal("0:50:56:34:60:4C", EXTERNAL_MAC, "rig-coal-1");
        assert_eq!(a.admin_nic, ADMIN_MAC, "written as setup compares it");
        let json = a.to_json().unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        for q in QUESTIONS {
            assert!(v.get(q.key).is_some(), "{} is not answered", q.key);
        }
        let e = Answers::coal(ADMIN_MAC, EXTERNAL_MAC, "password").to_json().unwrap_err().to_string();
        assert!(e.contains("admin_password: the password must be at least 7 characters long"), "{e}");
        let p = Path::new("a.json");
        let missing = json.replace("  \"datacenter_company_name\": \"rig\",\n", "");
        assert_eq!(
            check(p, &missing).unwrap_err().to_string(),
            "a.json: no datacenter_company_name: coal setup would stop at the console question 'Enter a company name'"
        );
        // Without an external network its questions are not asked.
        let admin_only = json.replace("\"setup_external_network\": true", "\"setup_external_network\": false");
        check(p, &admin_only.replace("  \"external_ip\": \"10.88.88.200\",\n", "")).unwrap();
    }

    #[test]
    fn no_address_collisions() {
        // QEMU's DNS is neither the first adminui address nor inside the default external range
        // (.3-.199 between the gateway .2 and the headnode's .200); the DHCP range ends below
        // QEMU's admin host address.
        let last = |ip: &str| ip.rsplit('.').next().unwrap().parse::<u8>().unwrap();
        let dns = last(EXTERNAL_DNS);
        assert!(!(last(EXTERNAL_GATEWAY) + 1..last(EXTERNAL_IP)).contains(&dns) && dns != last(EXTERNAL_IP));
        assert!(last(DHCP_RANGE_END) < last(ADMIN_HOST));
    }
}
