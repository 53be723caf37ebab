//! The storage engines: append, roll, truncate, expiry, recovery and flush
//! planning for both formats, over a [`crate::store::PageStore`].

pub mod commitlog;
pub mod dispatch;
pub mod dledger;
pub mod expiry;
pub mod fanout;
pub mod flush;
pub mod recovery;
pub mod segments;
