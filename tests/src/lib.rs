//! Shared test harness for rocketlog: fixture discovery, crash and fault stores.
