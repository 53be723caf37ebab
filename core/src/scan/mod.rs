//! Store readers: walk whole stores the way the Java reference's load and
//! recovery do, so that they end where Java ends.
