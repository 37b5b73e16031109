//! QMP events as the rig keeps them: any event QEMU sends, known to qapi's schema or not.

use serde_json::Value;

/// One QMP event. Kept generic so an event newer than qapi's schema never breaks the stream;
/// decode the data of a known one with [`QmpEvent::decode`].
#[derive(Debug, Clone, PartialEq)]
pub struct QmpEvent {
    /// The event name (`RESET`, `GUEST_PANICKED`, ...).
    pub name: String,
    /// The event's `data` (JSON null when it has none).
    pub data: Value,
    /// QEMU's timestamp, seconds since the epoch.
    pub timestamp: f64,
}

impl QmpEvent {
    /// Parses a QMP message if it is an event.
    pub fn from_message(msg: &Value) -> Option<QmpEvent> {
        let name = msg.get("event")?.as_str()?.to_string();
        let ts = msg.get("timestamp");
        let secs = ts.and_then(|t| t.get("seconds")).and_then(Value::as_f64).unwrap_or(0.0);
        let micros = ts.and_then(|t| t.get("microseconds")).and_then(Value::as_f64).unwrap_or(0.0);
        Some(QmpEvent { name, data: msg.get("data").cloned().unwrap_or(Value::Null), timestamp: secs + micros / 1e6 })
    }

    /// Decodes the data into qapi's typed event (e.g. `qapi::qmp::GUEST_PANICKED`).
    pub fn decode<E: qapi::Event + serde::de::DeserializeOwned>(&self) -> Option<E> {
        (self.name == E::NAME).then(|| serde_json::from_value(self.data.clone()).ok()).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_known_and_unknown_events() {
        let m = json!({"timestamp": {"seconds": 10, "microseconds": 500000}, "event": "RESET", "data": {"guest": true, "reason": "guest-reset"}});
        let e = QmpEvent::from_message(&m).unwrap();
        assert_eq!(e.name, "RESET");
        assert_eq!(e.timestamp, 10.5);
        let r: qapi::qmp::RESET = e.decode().unwrap();
        assert!(r.guest);

        // An event from a newer QEMU that qapi's schema lacks still parses.
        let m = json!({"timestamp": {"seconds": 1, "microseconds": 0}, "event": "HV_BALLOON_STATUS_REPORT", "data": {"x": 1}});
        let e = QmpEvent::from_message(&m).unwrap();
        assert_eq!(e.name, "HV_BALLOON_STATUS_REPORT");
        assert!(e.decode::<qapi::qmp::RESET>().is_none());

        assert!(QmpEvent::from_message(&json!({"return": {}})).is_none());
    }

    #[test]
    fn guest_panicked_decodes() {
        let m = json!({"timestamp": {"seconds": 1, "microseconds": 0}, "event": "GUEST_PANICKED", "data": {"action": "pause"}});
        let p: qapi::qmp::GUEST_PANICKED = QmpEvent::from_message(&m).unwrap().decode().unwrap();
        assert!(matches!(p.action, qapi::qmp::GuestPanicAction::pause));
    }
}
