//! `/private/answers.json` for an unattended coal setup: the headnode's networks, the NIC MACs
//! the rig's machine has, and the passwords, so setup never stops at a prompt.

use std::path::Path;

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
/// QEMU's built-in DNS forwarder on the external network.
pub const EXTERNAL_DNS: &str = "10.88.88.3";

/// The answers file. Field names are the keys coal's setup reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Answers {
    /// Where setup talks: `serial` (the rig reads the serial consoles).
    pub config_console: String,
    /// Skip the introduction screens.
    pub skip_instructions: bool,
    /// Skip "is this right?".
    pub skip_final_confirm: bool,
    /// Skip the offer to edit the config.
    pub skip_edit_config: bool,
    /// No DNS check (the rig's network has no way out).
    pub skip_dns_check: bool,
    /// No NTP check (likewise).
    pub skip_ntp_check: bool,
    /// Datacenter name.
    pub datacenter_name: String,
    /// Region name.
    pub region_name: String,
    /// The admin NIC, by MAC.
    pub admin_nic: String,
    /// The headnode's admin address.
    pub admin_ip: String,
    /// The admin netmask.
    pub admin_netmask: String,
    /// The external NIC, by MAC.
    pub external_nic: String,
    /// The headnode's external address.
    pub external_ip: String,
    /// The external netmask.
    pub external_netmask: String,
    /// The external gateway.
    pub external_gateway: String,
    /// The headnode's default route.
    pub headnode_default_gateway: String,
    /// The first resolver.
    pub dns_resolver1: String,
    /// root's password.
    pub root_password: String,
    /// The Triton admin password.
    pub admin_password: String,
}

impl Answers {
    /// coal's usual answers with the given NIC MACs and a password for both root and admin.
    pub fn coal(admin_mac: &str, external_mac: &str, password: &str) -> Answers {
        Answers {
            config_console: "serial".into(),
            skip_instructions: true,
            skip_final_confirm: true,
            skip_edit_config: true,
            skip_dns_check: true,
            skip_ntp_check: true,
            datacenter_name: "coal".into(),
            region_name: "coal".into(),
            admin_nic: admin_mac.into(),
            admin_ip: ADMIN_IP.into(),
            admin_netmask: "255.255.255.0".into(),
            external_nic: external_mac.into(),
            external_ip: EXTERNAL_IP.into(),
            external_netmask: "255.255.255.0".into(),
            external_gateway: EXTERNAL_GATEWAY.into(),
            headnode_default_gateway: EXTERNAL_GATEWAY.into(),
            dns_resolver1: EXTERNAL_DNS.into(),
            root_password: password.into(),
            admin_password: password.into(),
        }
    }

    /// The file's text: pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("answers serialize");
        s.push('\n');
        s
    }
}

/// An answers file whose NIC MACs are not the machine's: setup would stop at "which NIC?".
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
    /// The file is not an answers file.
    #[error("{file}: not a coal answers file ({why}); expected JSON with admin_nic and external_nic MACs")]
    Unreadable {
        /// The answers file.
        file: String,
        /// The parser's complaint.
        why: String,
    },
}

/// A MAC as six octets, so `0:50:56:34:60:4C` (illumos' spelling) equals `00:50:56:34:60:4c`.
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
        let a = Answers::coal(ADMIN_MAC, EXTERNAL_MAC, "pw").to_json();
        check_macs(p, &a, ADMIN_MAC, EXTERNAL_MAC).unwrap();
        let e = check_macs(p, &a, EXTERNAL_MAC, ADMIN_MAC).unwrap_err().to_string();
        assert!(e.contains("/img/private/answers.json") && e.contains("admin_nic is 00:50:56:34:60:4c"), "{e}");
        assert!(e.contains("MAC is 00:50:56:3d:a7:95"), "{e}");
        let e = check_macs(p, "{}", ADMIN_MAC, EXTERNAL_MAC).unwrap_err().to_string();
        assert!(e.contains("no admin_nic"), "{e}");
    }
}
