//! vtpm-commands: the TPM 2.0 engine.
//!
//! One pipeline ([`pipeline`]) does what every command shares — header, handle area,
//! authorization area, the action, the response — and each command is one small
//! action function in the module of its family, listed once in the sorted command
//! table ([`table`]). The engine is pure: entropy, time and cancel come from the
//! host through [`Platform`]; persistence is the caller's business, through
//! [`Engine::save_state`] / [`Engine::load_state`].
#![no_std]
#![forbid(unsafe_code)]
// An engine crate answers every input with a result, never a panic: these lints are
// errors here whatever the workspace says (test modules allow what they need).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

extern crate alloc;

mod attest;
mod audit;
mod codec;
mod commit;
pub mod consts;
mod da;
mod engine;
mod families;
mod hierarchy;
mod nv;
mod object;
mod pcr;
mod pipeline;
pub mod platform;
mod pp;
pub mod rc;
mod secret;
mod selftest;
mod sequence;
mod session;
mod signature;
mod state;
mod table;
mod ticket;
mod x509;

pub use engine::{Engine, FailureInfo, StateError};
pub use families::credential::{credential_blob, credential_from_blob};
pub use nv::{NvIndex, NvPublic, NvType};
pub use object::create::primary_public_area;
pub use object::duplicate::{duplication_blob, duplication_seed, duplication_sensitive};
pub use object::protect::{private_blob, private_sensitive};
pub use pipeline::error_response;
pub use platform::Platform;
pub use rc::Rc;
pub use state::StateImage;
pub use table::command_name;
