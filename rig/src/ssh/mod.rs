//! SSH to the guest through russh: connect under a deadline, exec, download.
