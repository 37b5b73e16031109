//! illumos patterns (stub).
