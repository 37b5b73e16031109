//! An append-only, bounded journal that tasks wait on: console lines and QMP events are
//! recorded here by their reader task, and callers wait for an entry matching a predicate
//! from a cursor, under a deadline.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::time::Instant;

/// A position in a journal: entries at or after it are "new".
pub type Cursor = u64;

/// Why a wait ended without a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// The deadline passed.
    Deadline,
    /// The writer closed the journal (the source is gone) and nothing matched.
    Closed,
}

struct State<T> {
    items: VecDeque<T>,
    /// Absolute index of `items[0]`.
    base: u64,
    closed: bool,
}

/// A cloneable handle on a shared journal.
pub struct Journal<T> {
    state: Arc<Mutex<State<T>>>,
    notify: Arc<Notify>,
    capacity: usize,
}

impl<T> Clone for Journal<T> {
    fn clone(&self) -> Self {
        Journal { state: self.state.clone(), notify: self.notify.clone(), capacity: self.capacity }
    }
}

impl<T: Clone> Journal<T> {
    /// A journal keeping at most `capacity` recent entries in memory.
    pub fn new(capacity: usize) -> Self {
        Journal {
            state: Arc::new(Mutex::new(State { items: VecDeque::new(), base: 0, closed: false })),
            notify: Arc::new(Notify::new()),
            capacity: capacity.max(1),
        }
    }

    /// Appends an entry and wakes the waiters.
    pub fn push(&self, item: T) {
        let mut s = self.state.lock().unwrap();
        s.items.push_back(item);
        if s.items.len() > self.capacity {
            s.items.pop_front();
            s.base += 1;
        }
        drop(s);
        self.notify.notify_waiters();
    }

    /// Marks the end of the source; waiters that find nothing return [`WaitEnd::Closed`].
    pub fn close(&self) {
        self.state.lock().unwrap().closed = true;
        self.notify.notify_waiters();
    }

    /// Wakes the waiters without adding an entry (the source changed state elsewhere, e.g. an
    /// unfinished console line grew).
    pub fn poke(&self) {
        self.notify.notify_waiters();
    }

    /// The notifier behind [`Journal::wait_for`], for callers that wait on more than entries.
    pub fn notifier(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// Whether the source has ended.
    pub fn is_closed(&self) -> bool {
        self.state.lock().unwrap().closed
    }

    /// The cursor just past the newest entry.
    pub fn cursor(&self) -> Cursor {
        let s = self.state.lock().unwrap();
        s.base + s.items.len() as u64
    }

    /// The last `n` entries still in memory.
    pub fn tail(&self, n: usize) -> Vec<T> {
        let s = self.state.lock().unwrap();
        s.items.iter().skip(s.items.len().saturating_sub(n)).cloned().collect()
    }

    /// Entries from `from` on that are still in memory.
    pub fn since(&self, from: Cursor) -> Vec<T> {
        let s = self.state.lock().unwrap();
        let skip = from.saturating_sub(s.base) as usize;
        s.items.iter().skip(skip).cloned().collect()
    }

    /// Entries from `from` on that are still in memory, and the cursor to read on from.
    pub fn read_from(&self, from: Cursor) -> (Vec<T>, Cursor) {
        let s = self.state.lock().unwrap();
        let skip = from.saturating_sub(s.base) as usize;
        (s.items.iter().skip(skip).cloned().collect(), s.base + s.items.len() as u64)
    }

    /// Finds the first entry at or after `from` for which `pred` returns `Some`, without waiting.
    pub fn find<R>(&self, from: Cursor, mut pred: impl FnMut(&T) -> Option<R>) -> Option<(Cursor, R)> {
        let s = self.state.lock().unwrap();
        let start = from.max(s.base);
        let skip = (start - s.base) as usize;
        s.items.iter().enumerate().skip(skip).find_map(|(i, t)| pred(t).map(|r| (s.base + i as u64, r)))
    }

    /// Waits for the first entry at or after `from` for which `pred` returns `Some`.
    /// Returns the entry's cursor and the predicate's value.
    pub async fn wait_for<R>(
        &self,
        from: Cursor,
        deadline: Instant,
        mut pred: impl FnMut(&T) -> Option<R>,
    ) -> Result<(Cursor, R), WaitEnd> {
        let mut from = from;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = self.find(from, &mut pred) {
                return Ok(found);
            }
            if self.is_closed() {
                return Err(WaitEnd::Closed);
            }
            // Entries already scanned need not be scanned again.
            from = from.max(self.cursor());
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.find(from, &mut pred).ok_or(WaitEnd::Deadline);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waits_for_a_later_entry() {
        let j: Journal<String> = Journal::new(10);
        j.push("boot".into());
        let from = j.cursor();
        let w = j.clone();
        let waiter = tokio::spawn(async move {
            w.wait_for(from, Instant::now() + Duration::from_secs(5), |l| l.contains("ready").then(|| l.clone())).await
        });
        j.push("noise".into());
        j.push("ready 42".into());
        assert_eq!(waiter.await.unwrap(), Ok((2, "ready 42".to_string())));
    }

    #[tokio::test]
    async fn old_entries_before_cursor_do_not_match() {
        let j: Journal<u32> = Journal::new(10);
        j.push(7);
        let r = j.wait_for(j.cursor(), Instant::now() + Duration::from_millis(30), |&x| (x == 7).then_some(x)).await;
        assert_eq!(r, Err(WaitEnd::Deadline));
    }

    #[tokio::test]
    async fn close_ends_the_wait() {
        let j: Journal<u32> = Journal::new(10);
        let w = j.clone();
        let h =
            tokio::spawn(async move { w.wait_for(0, Instant::now() + Duration::from_secs(5), |_| None::<()>).await });
        tokio::task::yield_now().await;
        j.close();
        assert_eq!(h.await.unwrap(), Err(WaitEnd::Closed));
    }

    #[test]
    fn capacity_drops_oldest_but_cursors_stay_absolute() {
        let j: Journal<u32> = Journal::new(3);
        for i in 0..5 {
            j.push(i);
        }
        assert_eq!(j.cursor(), 5);
        assert_eq!(j.tail(10), vec![2, 3, 4]);
        assert_eq!(j.since(3), vec![3, 4]);
        assert_eq!(j.find(0, |&x| Some(x)), Some((2, 2)));
    }
}
