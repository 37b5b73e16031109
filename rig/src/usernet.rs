//! Reads the host port QEMU's user-mode network picked for a forward (`hostfwd=...:0-:22`),
//! from HMP `info usernet`. Letting the kernel pick the port means parallel guests never
//! collide and no port is ever "taken".

/// Finds the host port forwarded to `guest_port`, from `info usernet` text.
pub fn forwarded_port(info_usernet: &str, guest_port: u16) -> Option<u16> {
    info_usernet.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // TCP[HOST_FORWARD]  FD  SrcAddr  SrcPort  DstAddr  DstPort  RecvQ  SendQ
        if f.len() >= 6 && f[0].starts_with("TCP[HOST_FORWARD]") && f[5].parse() == Ok(guest_port) {
            f[3].parse().ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_ssh_forward() {
        let t = "Hub -1 (net0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n  \
                 TCP[HOST_FORWARD]   3       127.0.0.1 32839       10.0.2.15    22     0     0\r\n  \
                 TCP[HOST_FORWARD]   4       127.0.0.1 40000       10.0.2.15    80     0     0\r\n";
        assert_eq!(forwarded_port(t, 22), Some(32839));
        assert_eq!(forwarded_port(t, 80), Some(40000));
        assert_eq!(forwarded_port(t, 443), None);
        assert_eq!(forwarded_port("", 22), None);
    }
}
