//! vtpm: the device users link.
//!
//! A [`Device`] owns an engine and a platform. It models the TPM's power and
//! locality, keeps the state image durable (manufacturing a fresh TPM on first use,
//! committing after every command that changed NV, before the response is
//! released), and offers the out-of-band signals of a TPM interface
//! (_TPM_Init, _TPM_Hash_Start/Data/End, the established flag).
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

use alloc::vec::Vec;
use core::fmt;

use vtpm_commands::{Engine, Rc, StateImage};
use vtpm_nvram::image::{Image, ImageError, section};

pub use vtpm_commands::Platform as EnginePlatform;

/// Host services of a device: the engine's (entropy, clock, cancel) plus NV storage
/// of the state image.
pub trait Platform: EnginePlatform {
    /// The stored state image, or `None` for a TPM that was never manufactured.
    fn load_state(&mut self) -> Result<Option<Vec<u8>>, PlatformError>;
    /// Durably stores the state image; returns only once it is durable.
    fn commit_state(&mut self, image: &[u8]) -> Result<(), PlatformError>;
}

/// A failure reported by the host's storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformError(pub alloc::string::String);

/// Why a device could not be opened or its state not be kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The stored image is not usable (corrupt, tampered, from a newer vtpm).
    Image(ImageError),
    /// The image envelope is fine but the engine state inside is not.
    State(vtpm_commands::StateError),
    /// The host's storage failed.
    Platform(PlatformError),
    /// The request is not allowed in this state (e.g. a locality out of range).
    NotAllowed,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::Image(e) => write!(f, "state image refused: {e}"),
            DeviceError::State(e) => write!(f, "state image content refused: {e:?}"),
            DeviceError::Platform(e) => write!(f, "state storage failed: {}", e.0),
            DeviceError::NotAllowed => f.write_str("not allowed in this state"),
        }
    }
}

/// The TPM response a device sends while powered off (TPM_RC_FAILURE, like swtpm).
const POWERED_OFF_RESPONSE: [u8; 10] = [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01];

pub struct Device<P: Platform> {
    engine: Engine,
    platform: P,
    powered: bool,
    /// Volatile state kept by STORE_VOLATILE, restored at the next power-on.
    volatile: Option<Vec<u8>>,
}

impl<P: Platform> Device<P> {
    /// Opens the TPM stored by `platform`, or manufactures a new one (and stores it)
    /// when there is none. A stored image that cannot be read is an error: it is
    /// never silently replaced.
    pub fn open(mut platform: P) -> Result<Self, DeviceError> {
        let (engine, volatile) = match platform.load_state().map_err(DeviceError::Platform)? {
            Some(bytes) => decode_image(&bytes)?,
            None => (Engine::manufacture(), None),
        };
        let mut device = Device {
            engine,
            platform,
            powered: false,
            volatile,
        };
        device.commit()?;
        Ok(device)
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Power on, or a reset of a running TPM: _TPM_Init. The TPM then waits for
    /// TPM2_Startup, unless volatile state stored by [`Device::store_volatile`]
    /// is restored (a resumed suspend). `delete_volatile` discards that state first.
    pub fn power_on(&mut self, delete_volatile: bool) -> Result<(), DeviceError> {
        let volatile = self.volatile.take();
        self.engine.init(&mut self.platform);
        if let (Some(v), false) = (volatile, delete_volatile) {
            self.engine
                .restore_volatile(&v)
                .map_err(DeviceError::State)?;
        }
        self.powered = true;
        self.commit()
    }

    /// Power loss. Nothing is saved beyond what is already durable.
    pub fn power_off(&mut self) {
        self.powered = false;
    }

    /// Executes one command at `locality` and returns the response. NV changes are
    /// durable before this returns; if they cannot be made durable the engine
    /// enters failure mode and the response says TPM_RC_FAILURE.
    pub fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        if !self.powered {
            return POWERED_OFF_RESPONSE.to_vec();
        }
        let response = self.engine.execute(&mut self.platform, locality, command);
        if self.engine.take_nv_dirty() && self.commit().is_err() {
            self.engine.enter_failure_mode(Rc::NV_UNAVAILABLE.0);
            return vtpm_commands::error_response(Rc::FAILURE);
        }
        response
    }

    /// _TPM_Hash_Start at locality 4 (a DRTM or H-CRTM sequence begins).
    pub fn hash_start(&mut self) {
        if self.powered {
            self.engine.hash_start(&mut self.platform);
        }
    }

    /// _TPM_Hash_Data.
    pub fn hash_data(&mut self, data: &[u8]) {
        if self.powered {
            self.engine.hash_data(data);
        }
    }

    /// _TPM_Hash_End: the measurement is extended into PCR 17 (or 0 before Startup).
    pub fn hash_end(&mut self) -> Result<(), DeviceError> {
        if self.powered {
            self.engine.hash_end();
            if self.engine.take_nv_dirty() {
                self.commit()?;
            }
        }
        Ok(())
    }

    /// The PC Client TPM established flag.
    pub fn tpm_established(&self) -> bool {
        self.engine.tpm_established()
    }

    /// Clears the established flag; allowed from localities 3 and 4 only.
    pub fn reset_established(&mut self, locality: u8) -> Result<(), DeviceError> {
        if !(3..=4).contains(&locality) {
            return Err(DeviceError::NotAllowed);
        }
        self.engine.reset_established();
        self.commit()
    }

    /// Stores the volatile state so that the next power-on resumes it.
    pub fn store_volatile(&mut self) -> Result<(), DeviceError> {
        self.volatile = Some(self.engine.save_volatile().to_vec());
        self.commit()
    }

    /// One part of the TPM's state as a self-contained state image (the envelope of
    /// [`vtpm_nvram::image`] holding just that part), for migration (swtpm's
    /// GET_STATEBLOB). Asking for the volatile part of a running TPM stores it
    /// first, as swtpm does.
    pub fn export_blob(&mut self, kind: BlobKind) -> Result<Vec<u8>, DeviceError> {
        let state = self.engine.save_state(&self.platform);
        let mut image = Image::new();
        match kind {
            BlobKind::Permanent => image.set_section(section::PERMANENT, state.permanent),
            BlobKind::Savestate => {
                // Everything a resume needs: Shutdown(STATE)'s data and the volatile
                // state of a suspended TPM (STORE_VOLATILE), if there is one.
                if let Some(saved) = state.saved {
                    image.set_section(section::SAVED, saved);
                }
                if let Some(v) = &self.volatile {
                    image.set_section(section::VOLATILE, v.clone());
                }
            }
            BlobKind::Volatile => {
                let v = if self.powered {
                    Some(self.engine.save_volatile().to_vec())
                } else {
                    self.volatile.clone()
                };
                // As swtpm: the stored volatile state is gone once it was read out.
                if self.volatile.take().is_some() {
                    self.commit()?;
                }
                if let Some(v) = v {
                    image.set_section(section::VOLATILE, v);
                }
            }
        }
        Ok(image.encode())
    }

    /// Loads one part of a TPM's state made by [`Device::export_blob`] (swtpm's
    /// SET_STATEBLOB); the TPM must be powered off. The permanent part replaces the
    /// TPM (its saved and volatile state go with it: they belonged to the old one),
    /// so it comes first; the savestate and volatile parts are taken up at the next
    /// Startup(STATE) and power-on. An unusable blob is refused and nothing changes.
    pub fn import_blob(&mut self, kind: BlobKind, blob: &[u8]) -> Result<(), DeviceError> {
        if self.powered {
            return Err(DeviceError::NotAllowed);
        }
        let image = Image::decode(blob).map_err(DeviceError::Image)?;
        check_feature_level(&image)?;
        match kind {
            BlobKind::Permanent => {
                let permanent = image
                    .section(section::PERMANENT)
                    .ok_or(DeviceError::Image(ImageError::Malformed))?;
                self.engine = Engine::from_state(&StateImage {
                    permanent: permanent.to_vec(),
                    saved: None,
                })
                .map_err(DeviceError::State)?;
                self.volatile = None;
            }
            BlobKind::Savestate => {
                let volatile = image.section(section::VOLATILE).map(<[u8]>::to_vec);
                if let Some(v) = &volatile {
                    Engine::manufacture()
                        .restore_volatile(v)
                        .map_err(DeviceError::State)?;
                }
                let state = self.engine.save_state(&self.platform);
                self.engine = Engine::from_state(&StateImage {
                    permanent: state.permanent,
                    saved: image.section(section::SAVED).map(<[u8]>::to_vec),
                })
                .map_err(DeviceError::State)?;
                if volatile.is_some() {
                    self.volatile = volatile;
                }
            }
            BlobKind::Volatile => {
                let volatile = image.section(section::VOLATILE).map(<[u8]>::to_vec);
                if let Some(v) = &volatile {
                    // Checked now, not at the next power-on.
                    Engine::manufacture()
                        .restore_volatile(v)
                        .map_err(DeviceError::State)?;
                }
                self.volatile = volatile;
            }
        }
        self.commit()
    }

    /// Puts the engine into failure mode (a platform's test hook).
    pub fn force_failure(&mut self) {
        self.engine.enter_failure_mode(Rc::FAILURE.0);
    }

    /// The complete state image as it is stored.
    pub fn state_image(&mut self) -> Vec<u8> {
        let state = self.engine.save_state(&self.platform);
        let mut image = Image::new();
        image.set_section(section::PERMANENT, state.permanent);
        if let Some(saved) = state.saved {
            image.set_section(section::SAVED, saved);
        }
        if let Some(v) = &self.volatile {
            image.set_section(section::VOLATILE, v.clone());
        }
        image.encode()
    }

    /// Replaces this TPM with the one in `image` (as [`Device::state_image`] made it,
    /// e.g. on a migration's source): the device is powered off, the image's volatile
    /// state (if any) resumes at the next power-on, and the image is committed. An
    /// unusable image is refused and the current TPM is left as it was.
    pub fn restore(&mut self, image: &[u8]) -> Result<(), DeviceError> {
        let (engine, volatile) = decode_image(image)?;
        self.engine = engine;
        self.volatile = volatile;
        self.powered = false;
        self.commit()
    }

    /// Writes the state image through the platform.
    pub fn commit(&mut self) -> Result<(), DeviceError> {
        let bytes = self.state_image();
        self.platform
            .commit_state(&bytes)
            .map_err(DeviceError::Platform)
    }
}

/// The parts of a TPM's state that migrate separately (swtpm's blob types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobKind {
    /// Seeds, hierarchies, NV indices, persistent objects, clock, counters.
    Permanent,
    /// Loaded objects, sessions, PCRs of a suspended TPM.
    Volatile,
    /// What Shutdown(STATE) saved for the next Startup(STATE).
    Savestate,
}

/// Refuses an image made with a newer profile than this engine implements.
fn check_feature_level(image: &Image) -> Result<(), DeviceError> {
    if image.feature_level > vtpm_nvram::image::FEATURE_LEVEL {
        return Err(DeviceError::Image(ImageError::UnsupportedFeatureLevel(
            image.feature_level,
        )));
    }
    Ok(())
}

/// An engine and its stored volatile state from a state image.
fn decode_image(bytes: &[u8]) -> Result<(Engine, Option<Vec<u8>>), DeviceError> {
    let image = Image::decode(bytes).map_err(DeviceError::Image)?;
    check_feature_level(&image)?;
    let state = StateImage {
        permanent: image
            .section(section::PERMANENT)
            .unwrap_or_default()
            .to_vec(),
        saved: image.section(section::SAVED).map(<[u8]>::to_vec),
    };
    let engine = Engine::from_state(&state).map_err(DeviceError::State)?;
    Ok((engine, image.section(section::VOLATILE).map(<[u8]>::to_vec)))
}
