//! Shared test harness for rocketlog: fixture discovery, crash and fault stores.

pub mod crash;
pub mod fault;
pub mod faulty_disk;
pub mod fixtures;
