//! One module per command family; each command is one action function,
//! documented with its Part 3 section.

pub mod asym;
pub mod attestation;
pub mod audit;
pub mod capability;
pub mod clock;
pub mod context;
pub mod credential;
pub mod da;
pub mod duplication;
pub mod hierarchy;
pub mod misc;
pub mod nv;
pub mod object;
pub mod pcr;
pub mod policy;
pub mod random;
pub mod selftest;
pub mod sequence;
pub mod session;
pub mod signature;
pub mod startup;
pub mod symmetric;
