//! The engine: its state, power-cycle events and failure mode.

use alloc::vec::Vec;
use vtpm_crypto::{CtrDrbg, Digest, HashAlg, Hasher};

use crate::consts::PCR_COUNT;
use crate::pcr::{self, Bank};
use crate::platform::Platform;
use crate::rc::Rc;
use crate::selftest::SelfTests;
use crate::state::{DecodeError, FieldWriter, Permanent, Saved, StateImage, parse_fields, u32_of};

// Volatile-only field tags of a [`Engine::save_volatile`] snapshot (the
// [`Saved`] tags stay below 100). Never reuse a tag for a different meaning.
/// Repeated: a loaded transient object (`Object::marshal_state`).
const V_OBJECT: u16 = 100;
/// Repeated: a loaded sequence object (`SequenceObject::marshal`).
const V_SEQUENCE: u16 = 101;
/// Repeated: a loaded session (`Session::marshal`).
const V_SESSION: u16 = 102;
const V_EXCLUSIVE_AUDIT: u16 = 103;
const V_ORDERLY_STARTUP: u16 = 104;
const V_PCR_RECONFIGURED: u16 = 105;

/// Why stored engine state was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateError {
    Permanent(DecodeError),
    Saved(DecodeError),
    Volatile(DecodeError),
}

/// What GetTestResult reports after the TPM entered failure mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureInfo {
    /// A vtpm-specific failure code (the TPM_RC of the fault that caused it).
    pub code: u32,
}

/// Where a DRTM / H-CRTM sequence (_TPM_Hash_Start..End) stands.
pub(crate) struct HashSequence {
    pub hashers: Vec<Hasher>,
}

/// The TPM 2.0 engine.
pub struct Engine {
    pub(crate) perm: Permanent,
    /// Saved by Shutdown(STATE); consumed by the next Startup.
    pub(crate) saved: Option<Saved>,
    // --- volatile: rebuilt at _TPM_Init ---
    pub(crate) started: bool,
    /// TPMA_STARTUP_CLEAR.orderly: the last Startup followed an orderly Shutdown.
    pub(crate) orderly_startup: bool,
    pub(crate) banks: Vec<Bank>,
    /// Allocation in force since the last TPM Reset (bank order as HashAlg::ALL).
    pub(crate) active_allocation: [u32; 4],
    pub(crate) pcr_update_counter: u32,
    pub(crate) drbg: Option<CtrDrbg>,
    /// Host time at _TPM_Init (or at the last rate change), for
    /// TPMS_TIME_INFO.time.
    pub(crate) init_ms: u64,
    /// TPM time at `init_ms`: zero after _TPM_Init.
    pub(crate) time_base_ms: u64,
    /// Host time at which `perm.clock_ms` was taken.
    pub(crate) clock_anchor_ms: u64,
    /// `clock_anchor_ms` is meaningful (the engine has been initialized).
    pub(crate) clock_running: bool,
    /// Host ms per CLOCK_NOMINAL Clock ms (TPM2_ClockRateAdjust); back to
    /// nominal at _TPM_Init.
    pub(crate) clock_rate: u32,
    /// PCR_Allocate ran since _TPM_Init: Shutdown(STATE) is refused.
    pub(crate) pcr_reconfigured: bool,
    pub(crate) hash_sequence: Option<HashSequence>,
    /// Set by a DRTM sequence before Startup: PCR 0 then starts from the H-CRTM value.
    pub(crate) hcrtm_digests: Option<Vec<Digest>>,
    pub(crate) selftests: SelfTests,
    /// Loaded authorization sessions.
    pub(crate) sessions: Vec<crate::session::Session>,
    /// The exclusive audit session (Part 1, "auditExclusive"): the audit session
    /// that audited every command since its digest was started or reset.
    pub(crate) exclusive_audit: Option<u32>,
    /// Saved (context-saved, not loaded) sessions: handle and context sequence.
    pub(crate) saved_sessions: Vec<(u32, u64)>,
    /// Loaded transient objects (at most MAX_LOADED_OBJECTS).
    pub(crate) objects: Vec<crate::object::Object>,
    /// Loaded sequence objects; they share the transient slots with `objects`.
    pub(crate) sequences: Vec<crate::sequence::SequenceObject>,
    /// State-clear data: hierarchy enables, platformAuth and platformPolicy.
    pub(crate) gc: crate::hierarchy::StateClear,
    /// State-reset data: the null hierarchy's seed and proof.
    pub(crate) gr: crate::hierarchy::StateReset,
    /// Dictionary-attack timers.
    pub(crate) da_timers: crate::da::DaTimers,
    pub(crate) failure: Option<FailureInfo>,
    /// Permanent or saved state changed and must be committed before answering.
    pub(crate) nv_dirty: bool,
}

impl Engine {
    /// A freshly manufactured TPM (all banks allocated, counters zero).
    pub fn manufacture() -> Engine {
        Engine::with_state(Permanent::default(), None)
    }

    /// An engine from stored state; the TPM still needs [`Engine::init`].
    pub fn from_state(state: &StateImage) -> Result<Engine, StateError> {
        let perm = Permanent::decode(&state.permanent).map_err(StateError::Permanent)?;
        let saved = match &state.saved {
            Some(bytes) => Some(Saved::decode(bytes).map_err(StateError::Saved)?),
            None => None,
        };
        Ok(Engine::with_state(perm, saved))
    }

    fn with_state(perm: Permanent, saved: Option<Saved>) -> Engine {
        let active_allocation = perm.pcr_allocation;
        Engine {
            perm,
            saved,
            started: false,
            orderly_startup: false,
            banks: HashAlg::ALL.iter().map(|a| Bank::new(*a)).collect(),
            active_allocation,
            pcr_update_counter: 0,
            drbg: None,
            init_ms: 0,
            time_base_ms: 0,
            clock_anchor_ms: 0,
            clock_running: false,
            clock_rate: crate::families::clock::CLOCK_NOMINAL,
            pcr_reconfigured: false,
            hash_sequence: None,
            hcrtm_digests: None,
            selftests: SelfTests::new(),
            sessions: Vec::new(),
            objects: Vec::new(),
            sequences: Vec::new(),
            saved_sessions: Vec::new(),
            exclusive_audit: None,
            gc: crate::hierarchy::StateClear::default(),
            gr: crate::hierarchy::StateReset::default(),
            da_timers: crate::da::DaTimers::default(),
            failure: None,
            nv_dirty: false,
        }
    }

    /// _TPM_Init: the TPM is reset and waits for TPM2_Startup. The DRBG is
    /// instantiated from fresh platform entropy; without entropy the TPM fails.
    pub fn init(&mut self, platform: &mut dyn Platform) {
        let now = platform.monotonic_ms();
        // Clock never goes back: a power cycle of a running engine keeps the
        // time it had counted (only what was last written to NV is in `perm`).
        if self.clock_running {
            self.perm.clock_ms = self.clock_now(now);
        }
        self.clock_running = true;
        self.clock_rate = crate::families::clock::CLOCK_NOMINAL;
        self.pcr_reconfigured = false;
        self.started = false;
        self.init_ms = now;
        self.time_base_ms = 0;
        self.clock_anchor_ms = now;
        self.hash_sequence = None;
        self.hcrtm_digests = None;
        self.failure = None;
        self.selftests = SelfTests::new();
        self.sessions.clear();
        self.exclusive_audit = None;
        self.objects.clear();
        self.sequences.clear();
        self.drbg = None;
        let mut entropy = zeroize::Zeroizing::new([0u8; 48]);
        if !platform.entropy(&mut entropy[..]) {
            self.enter_failure_mode(Rc::FAILURE.0);
            return;
        }
        let nonce = now.to_be_bytes();
        let (seed, nonce_part) = entropy.split_at(32);
        match CtrDrbg::instantiate(seed, &[nonce_part, &nonce[..]].concat(), b"vtpm DRBG") {
            Ok(drbg) => self.drbg = Some(drbg),
            Err(_) => self.enter_failure_mode(Rc::FAILURE.0),
        }
        // A TPM without seeds is provisioned on its first power-on.
        if self.drbg.is_some() && self.provision_hierarchies(platform).is_err() {
            self.enter_failure_mode(Rc::FAILURE.0);
        }
    }

    /// Enters failure mode: from now until the next _TPM_Init only GetTestResult
    /// and GetCapability are answered (Part 1, section 12.x "Failure mode").
    pub fn enter_failure_mode(&mut self, code: u32) {
        self.failure = Some(FailureInfo { code });
    }

    pub fn failure(&self) -> Option<FailureInfo> {
        self.failure
    }

    /// True once TPM2_Startup succeeded in this power cycle.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Reports (and clears) whether the permanent state changed since last asked.
    pub fn take_nv_dirty(&mut self) -> bool {
        core::mem::take(&mut self.nv_dirty)
    }

    /// The state to persist. Clock is brought up to date first.
    pub fn save_state(&self, platform: &dyn Platform) -> StateImage {
        let mut perm = self.perm.clone();
        perm.clock_ms = self.clock_now(platform.monotonic_ms());
        StateImage {
            permanent: perm.encode(),
            saved: self.saved.as_ref().map(Saved::encode),
        }
    }

    /// Clock (ms) now: the NV value plus the time elapsed since it was taken,
    /// at the rate TPM2_ClockRateAdjust set.
    pub(crate) fn clock_now(&self, now_ms: u64) -> u64 {
        self.perm
            .clock_ms
            .saturating_add(self.at_clock_rate(now_ms.saturating_sub(self.clock_anchor_ms)))
    }

    /// `host_ms` of host time in TPM ms at the rate TPM2_ClockRateAdjust set
    /// (Time and Clock both advance at it).
    pub(crate) fn at_clock_rate(&self, host_ms: u64) -> u64 {
        let scaled = u128::from(host_ms) * u128::from(crate::families::clock::CLOCK_NOMINAL)
            / u128::from(self.clock_rate.max(1));
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }

    /// Snapshot of the volatile state for suspend and migration: the started
    /// flag, all PCRs, state-clear and state-reset data (null seed, context and
    /// commit counters), orderly NV data, and what is loaded: transient objects,
    /// sequence objects, sessions (nonces, policy state, audit digest), the
    /// context-saved session list and the exclusive audit session.
    ///
    /// Layout: one octet (started), then tagged fields as in [`crate::state`]:
    /// the [`Saved`] fields, and the volatile-only ones (tags from 100).
    /// A reader skips tags it does not know, so later versions add fields.
    pub fn save_volatile(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut snap = self.snapshot_pcrs(|_| true);
        snap.clear = Some(self.gc.clone());
        snap.reset = Some(self.gr.clone());
        snap.saved_sessions = self.saved_sessions.clone();
        // Orderly NV indices live in RAM: a resumed suspend keeps them.
        snap.nv_orderly = self
            .perm
            .nv
            .iter()
            .filter(|i| i.public.has(crate::nv::attr::ORDERLY))
            .map(|i| (i.public.index, i.public.attributes, i.data.clone()))
            .collect();
        let mut bytes = zeroize::Zeroizing::new(alloc::vec![u8::from(self.started)]);
        bytes.extend_from_slice(&snap.encode());
        let mut w = FieldWriter(Vec::new());
        for object in &self.objects {
            w.field(V_OBJECT, &object.marshal_state());
        }
        for seq in &self.sequences {
            w.field(V_SEQUENCE, &seq.marshal());
        }
        for session in &self.sessions {
            w.field(V_SESSION, &session.marshal());
        }
        if let Some(h) = self.exclusive_audit {
            w.field(V_EXCLUSIVE_AUDIT, &h.to_be_bytes());
        }
        w.field(V_ORDERLY_STARTUP, &[u8::from(self.orderly_startup)]);
        w.field(V_PCR_RECONFIGURED, &[u8::from(self.pcr_reconfigured)]);
        bytes.extend_from_slice(&w.0);
        // The field buffer held secrets too.
        zeroize::Zeroize::zeroize(&mut w.0);
        bytes
    }

    /// Restores a snapshot made by [`Engine::save_volatile`] right after _TPM_Init.
    /// The snapshot is checked completely before anything is applied.
    pub fn restore_volatile(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let bad = |tag| StateError::Volatile(DecodeError::BadField(tag));
        let (flag, rest) = bytes
            .split_first()
            .ok_or(StateError::Volatile(DecodeError::Truncated))?;
        let started = match flag {
            0 => false,
            1 => true,
            _ => return Err(bad(0)),
        };
        let snap = Saved::decode(rest).map_err(StateError::Volatile)?;
        let mut objects = Vec::new();
        let mut sequences = Vec::new();
        let mut sessions = Vec::new();
        let mut exclusive_audit = None;
        let mut orderly_startup = self.orderly_startup;
        let mut pcr_reconfigured = false;
        for (tag, v) in parse_fields(rest).map_err(StateError::Volatile)? {
            match tag {
                V_OBJECT => {
                    objects.push(crate::object::Object::parse_state(v).map_err(|_| bad(tag))?)
                }
                V_SEQUENCE => {
                    sequences.push(crate::sequence::SequenceObject::parse(v).map_err(|_| bad(tag))?)
                }
                V_SESSION => {
                    sessions.push(crate::session::Session::parse(v).ok_or_else(|| bad(tag))?)
                }
                V_EXCLUSIVE_AUDIT => {
                    exclusive_audit = Some(u32_of(tag, v).map_err(StateError::Volatile)?)
                }
                V_ORDERLY_STARTUP => orderly_startup = v == [1],
                V_PCR_RECONFIGURED => pcr_reconfigured = v == [1],
                _ => {}
            }
        }
        if objects.len() + sequences.len() > crate::object::MAX_LOADED_OBJECTS
            || sessions.len() > crate::session::MAX_LOADED_SESSIONS
        {
            return Err(bad(V_OBJECT));
        }
        self.apply_snapshot(&snap);
        if let Some(c) = snap.clear {
            self.gc = c;
        }
        if let Some(r) = snap.reset {
            self.gr = r;
        }
        self.saved_sessions = snap.saved_sessions;
        for (h, attributes, data) in snap.nv_orderly {
            if let Some(index) = self.nv_index_mut(h)
                && index.public.has(crate::nv::attr::ORDERLY)
                && data.len() == index.data.len()
            {
                // Only the state bits come from the snapshot.
                let state = crate::nv::attr::WRITTEN
                    | crate::nv::attr::WRITELOCKED
                    | crate::nv::attr::READLOCKED;
                index.public.attributes = (index.public.attributes & !state) | (attributes & state);
                index.data = data;
            }
        }
        self.objects = objects;
        self.sequences = sequences;
        self.sessions = sessions;
        self.exclusive_audit = exclusive_audit;
        self.orderly_startup = orderly_startup;
        self.pcr_reconfigured = pcr_reconfigured;
        self.started = started;
        Ok(())
    }

    /// The values of the PCRs selected by `which`, bank by bank.
    pub(crate) fn snapshot_pcrs(&self, which: impl Fn(usize) -> bool) -> Saved {
        let mut pcrs = Vec::new();
        for bank in &self.banks {
            for (n, v) in bank.values.iter().enumerate() {
                if which(n) {
                    pcrs.push((bank.alg, n as u8, *v));
                }
            }
        }
        Saved {
            pcr_update_counter: self.pcr_update_counter,
            active_allocation: self.active_allocation,
            pcrs,
            clear: None,
            reset: None,
            nv_orderly: Vec::new(),
            saved_sessions: Vec::new(),
        }
    }

    pub(crate) fn apply_snapshot(&mut self, snap: &Saved) {
        self.pcr_update_counter = snap.pcr_update_counter;
        self.active_allocation = snap.active_allocation;
        for (alg, n, v) in &snap.pcrs {
            if let Some(bank) = self.banks.iter_mut().find(|b| b.alg == *alg)
                && let Some(slot) = bank.values.get_mut(usize::from(*n))
            {
                *slot = *v;
            }
        }
    }

    /// Is PCR `n` of bank `alg` allocated now?
    pub(crate) fn pcr_allocated(&self, alg: HashAlg, n: usize) -> bool {
        n < PCR_COUNT
            && self
                .active_allocation
                .get(pcr::bank_index(alg))
                .is_some_and(|bits| bits & (1 << n) != 0)
    }

    /// PC Client established flag.
    pub fn tpm_established(&self) -> bool {
        self.perm.tpm_established
    }

    pub fn reset_established(&mut self) {
        if self.perm.tpm_established {
            self.perm.tpm_established = false;
            self.nv_dirty = true;
        }
    }

    /// _TPM_Hash_Start: a DRTM (or, before Startup, H-CRTM) sequence begins.
    pub fn hash_start(&mut self, _platform: &mut dyn Platform) {
        self.hash_sequence = Some(HashSequence {
            hashers: HashAlg::ALL.iter().map(|a| Hasher::new(*a)).collect(),
        });
    }

    /// _TPM_Hash_Data.
    pub fn hash_data(&mut self, data: &[u8]) {
        if let Some(seq) = &mut self.hash_sequence {
            for h in &mut seq.hashers {
                h.update(data);
            }
        }
    }

    /// _TPM_Hash_End: after Startup, PCR 17-22 are reset to zero and the measurement
    /// is extended into PCR 17; before Startup (H-CRTM) it is extended into PCR 0
    /// at Startup. Either way the established flag is set.
    pub fn hash_end(&mut self) {
        let Some(seq) = self.hash_sequence.take() else {
            return;
        };
        let digests: Vec<Digest> = seq.hashers.into_iter().map(Hasher::finalize).collect();
        self.perm.tpm_established = true;
        self.nv_dirty = true;
        if !self.started {
            self.hcrtm_digests = Some(digests);
            return;
        }
        for n in 17..=22 {
            self.zero_pcr(n);
        }
        for d in digests {
            if self.pcr_allocated(d.alg(), 17)
                && let Some(bank) = self.banks.iter_mut().find(|b| b.alg == d.alg())
            {
                bank.extend(17, d.as_bytes());
            }
        }
    }

    /// Bytes from the DRBG, reseeding from the platform when it asks for it.
    pub(crate) fn random(&mut self, platform: &mut dyn Platform, out: &mut [u8]) -> Result<(), Rc> {
        let Some(drbg) = self.drbg.as_mut() else {
            return Err(Rc::FAILURE);
        };
        match drbg.generate(out, &[]) {
            Ok(()) => Ok(()),
            Err(vtpm_crypto::DrbgError::ReseedRequired) => {
                let mut entropy = zeroize::Zeroizing::new([0u8; 32]);
                if !platform.entropy(&mut entropy[..]) {
                    return Err(Rc::FAILURE);
                }
                drbg.reseed(&entropy[..], &[]).map_err(|_| Rc::FAILURE)?;
                drbg.generate(out, &[]).map_err(|_| Rc::FAILURE)
            }
            Err(_) => Err(Rc::FAILURE),
        }
    }
}
