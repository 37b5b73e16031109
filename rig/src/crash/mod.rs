//! Crash readers: turn console text into crash reports with stable titles.
