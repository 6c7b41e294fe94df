//! What the test harnesses of `tools/` share: the load controls.

pub mod controls;
