//! Reading a stream whose OS may be unknown: both readers run until the text or a first
//! crash tells which OS wrote it; memory stays bounded (a detection window plus each
//! reader's bounded report), and reports come out as soon as they are complete.

use super::detect::detect_os;
use super::report::{CrashReport, Os};
use super::stream::{CrashReader, Dialect, Event};

/// The head of the stream kept to detect the OS (as [`detect_os`] reads it).
pub const DETECT_WINDOW: usize = 1 << 20;

/// A streaming reader for a given OS, or for "whichever OS this is".
pub struct AutoReader {
    dialects: Vec<&'static dyn Dialect>,
    readers: Vec<CrashReader>,
    head: Vec<u8>,
    committed: bool,
}

impl AutoReader {
    /// Reads with the one dialect given, or decides among several as it reads (their order
    /// breaks ties).
    pub fn new(dialects: Vec<&'static dyn Dialect>) -> Self {
        let readers: Vec<CrashReader> = dialects.iter().map(|d| CrashReader::new(*d)).collect();
        let committed = readers.len() == 1;
        AutoReader { dialects, readers, head: Vec::new(), committed }
    }

    /// The dialects it may still read as (one, once decided).
    pub fn candidates(&self) -> Vec<Os> {
        self.readers.iter().map(CrashReader::os).collect()
    }

    /// The OS read as, once decided.
    pub fn os(&self) -> Option<Os> {
        self.committed.then(|| self.readers[0].os())
    }

    /// Feeds bytes; returns the reports completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<CrashReport> {
        if !self.committed && self.head.len() < DETECT_WINDOW {
            let room = DETECT_WINDOW - self.head.len();
            self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
            if self.head.len() == DETECT_WINDOW
                && let Some(os) = detect_os(&self.head, &self.dialects)
            {
                self.commit(os);
            }
        }
        let events: Vec<Vec<Event>> = self.readers.iter_mut().map(|r| r.feed(bytes)).collect();
        self.choose(events)
    }

    /// The input has ended: finishes pending reports and settles the OS.
    pub fn finish(&mut self) -> Vec<CrashReport> {
        if !self.committed
            && let Some(os) = detect_os(&self.head, &self.dialects)
        {
            self.commit(os);
        }
        let events: Vec<Vec<Event>> = self.readers.iter_mut().map(CrashReader::flush).collect();
        self.choose(events)
    }

    fn commit(&mut self, os: Os) {
        self.readers.retain(|r| r.os() == os);
        self.committed = true;
        self.head = Vec::new();
    }

    /// Keeps the committed reader's reports; before commitment, the first reader to complete a
    /// report decides (unless what was read so far already names the OS).
    fn choose(&mut self, mut events: Vec<Vec<Event>>) -> Vec<CrashReport> {
        if !self.committed {
            let first = events.iter().position(|ev| ev.iter().any(|e| matches!(e, Event::CrashComplete(_))));
            let Some(first) = first else { return Vec::new() };
            let os = detect_os(&self.head, &self.dialects).unwrap_or_else(|| self.readers[first].os());
            let keep = self.readers.iter().position(|r| r.os() == os).unwrap_or(first);
            let chosen = events.swap_remove(keep);
            self.commit(os);
            return super::stream::completed(chosen);
        }
        super::stream::completed(events.swap_remove(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest_os::{illumos::IllumosDialect, linux::LinuxDialect};

    fn both() -> AutoReader {
        AutoReader::new(vec![&LinuxDialect, &IllumosDialect])
    }

    #[test]
    fn reports_come_out_before_the_input_ends() {
        let mut r = both();
        let got = r.feed(b"[   42.1] kernel BUG at mm/x.c:1!\n[   42.2] invalid opcode: 0000 [#1] SMP\n[   42.3] RIP: 0010:f+0x1/0x2\n[   42.4] Kernel panic - not syncing: Fatal exception\n[   42.5] Kernel Offset: disabled\n");
        assert_eq!(got.len(), 1, "the report is out before finish()");
        assert_eq!(r.os(), Some(LinuxDialect.os()));
        assert!(r.finish().is_empty());
    }

    #[test]
    fn an_endless_line_stays_bounded() {
        let mut r = both();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            assert!(r.feed(&zeros).is_empty());
        }
        assert!(r.head.len() <= DETECT_WINDOW);
    }
}
