//! Record codecs. Each decodes into views borrowing the input and encodes into
//! caller-owned buffers; none allocates in proportion to an untrusted field.

pub mod checkpoint;
pub mod consume_queue;
pub mod dledger;
pub mod index_file;
pub mod kv;
pub mod message;
pub mod properties;
