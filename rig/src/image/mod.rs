//! Guest images: building and caching the embedded default Linux guest.
