//! `rocketlog`: the native host of `rocketlog-core`.
