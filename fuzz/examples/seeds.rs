//! Writes the committed seed corpora of the `sequence`, `state_image`, `ctrl` and
//! `mssim` targets (`cargo run --release --example seeds` in fuzz/). The state
//! images come from a real engine and device; the operation lists follow the input
//! format of fuzz_targets/sequence.rs (keep the indexes below in sync with its
//! COMMANDS table, provisioning handles and blobs).
use std::fs;
use std::path::Path;

use vtpm::{Device, PlatformError};
use vtpm_commands::Platform;

struct SeedPlatform {
    counter: u8,
    stored: Option<Vec<u8>>,
}

impl Platform for SeedPlatform {
    fn entropy(&mut self, out: &mut [u8]) -> bool {
        for b in out.iter_mut() {
            self.counter = self.counter.wrapping_add(1);
            *b = self.counter;
        }
        true
    }
    fn monotonic_ms(&self) -> u64 {
        0
    }
}

impl vtpm::Platform for SeedPlatform {
    fn load_state(&mut self) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(self.stored.clone())
    }
    fn commit_state(&mut self, image: &[u8]) -> Result<(), PlatformError> {
        self.stored = Some(image.to_vec());
        Ok(())
    }
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn b2(data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

fn command(tag: u16, cc: u32, body: &[u8]) -> Vec<u8> {
    let mut v = tag.to_be_bytes().to_vec();
    v.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&cc.to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn pw_command(cc: u32, handles: &[u32], params: &[u8]) -> Vec<u8> {
    let mut body: Vec<u8> = handles.iter().flat_map(|h| h.to_be_bytes()).collect();
    body.extend_from_slice(&[0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 1, 0, 0]);
    body.extend_from_slice(params);
    command(0x8002, cc, &body)
}

const SRK_TEMPLATE: [u8; 26] = [
    0, 0x23, 0, 0x0B, 0, 0x03, 0x04, 0x72, 0, 0, 0, 0x06, 0, 0x80, 0, 0x43, 0, 0x10, 0, 0x03, 0,
    0x10, 0, 0, 0, 0,
];

/// A sealed-data template (keyedHash, userWithAuth, no policy).
const SEALED_TEMPLATE: [u8; 14] = [0, 0x08, 0, 0x0B, 0, 0, 0x04, 0x52, 0, 0, 0, 0x10, 0, 0];

fn create_primary_params() -> Vec<u8> {
    let mut p = b2(&[0, 0, 0, 0]);
    p.extend_from_slice(&b2(&SRK_TEMPLATE));
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    p
}

// ---------------------------------------------------------------------------
// state_image: images made by a device.

fn state_image_seeds() {
    let strip = |image: &[u8]| image[..image.len() - 32].to_vec();
    let with = |mode: u8, bytes: &[u8]| [&[mode][..], bytes].concat();
    let engine_parts = |mode: u8, image: &[u8]| {
        let img = vtpm_nvram::image::Image::decode(image).unwrap();
        let perm = img.section(1).unwrap_or_default();
        let mut v = vec![mode];
        match img.section(2) {
            Some(saved) => {
                v.extend_from_slice(&(perm.len() as u16).to_be_bytes());
                v.extend_from_slice(perm);
                v.extend_from_slice(saved);
            }
            None => {
                v.extend_from_slice(&(perm.len() as u16 | 0x8000).to_be_bytes());
                v.extend_from_slice(perm);
            }
        }
        v
    };
    let mut images = Vec::new();
    let new = || {
        Device::open(SeedPlatform {
            counter: 0,
            stored: None,
        })
        .unwrap()
    };

    // Freshly manufactured.
    let mut d = new();
    images.push(("fresh", d.state_image()));
    // Started, then Shutdown(STATE): a saved part.
    d.power_on(false).unwrap();
    d.execute(0, &command(0x8001, 0x144, &[0, 0]));
    d.execute(0, &command(0x8001, 0x145, &[0, 1]));
    images.push(("shutdown_state", d.state_image()));
    // A persistent primary (EvictControl), changed owner auth, DA parameters, and
    // stored volatile state.
    let mut d = new();
    d.power_on(false).unwrap();
    d.execute(0, &command(0x8001, 0x144, &[0, 0]));
    let r = d.execute(
        0,
        &pw_command(0x131, &[0x4000_0001], &create_primary_params()),
    );
    assert_eq!(r[6..10], [0, 0, 0, 0], "CreatePrimary");
    let r = d.execute(
        0,
        &pw_command(
            0x120,
            &[0x4000_0001, 0x8000_0000],
            &0x8100_0001u32.to_be_bytes(),
        ),
    );
    assert_eq!(r[6..10], [0, 0, 0, 0], "EvictControl");
    d.execute(
        0,
        &pw_command(
            0x13A,
            &[0x4000_000A],
            &[0, 0, 0, 3, 0, 0, 0, 10, 0, 0, 0, 20],
        ),
    );
    d.execute(0, &pw_command(0x129, &[0x4000_0001], &b2(b"owner")));
    d.execute(
        0,
        &pw_command(
            0x182,
            &[3],
            &[&[0, 0, 0, 1, 0, 0x0B][..], &[7; 32]].concat(),
        ),
    );
    images.push(("persistent", d.state_image()));
    d.store_volatile().unwrap();
    images.push(("volatile", d.state_image()));
    d.execute(0, &command(0x8001, 0x145, &[0, 1]));
    images.push(("persistent_saved", d.state_image()));

    for (name, image) in &images {
        write("state_image", &format!("whole_{name}"), &with(0, image));
        write(
            "state_image",
            &format!("body_{name}"),
            &with(1, &strip(image)),
        );
        write(
            "state_image",
            &format!("engine_{name}"),
            &engine_parts(2, image),
        );
        write(
            "state_image",
            &format!("engine_state_{name}"),
            &engine_parts(6, image),
        );
        write(
            "state_image",
            &format!("device_{name}"),
            &with(3, &strip(image)),
        );
        write(
            "state_image",
            &format!("device_state_{name}"),
            &with(7, &strip(image)),
        );
    }
    write(
        "state_image",
        "empty_body",
        &with(1, b"VTPMSTAT\0\x01\0\x01\0\0\0\0"),
    );
}

// ---------------------------------------------------------------------------
// sequence: operation lists (see fuzz_targets/sequence.rs).

// COMMANDS rows.
const EVICT_CONTROL: u8 = 0;
const HIERARCHY_CONTROL: u8 = 1;
const CLEAR: u8 = 4;
const HIERARCHY_CHANGE_AUTH: u8 = 6;
const PCR_ALLOCATE: u8 = 7;
const SET_PRIMARY_POLICY: u8 = 8;
const CREATE_PRIMARY: u8 = 9;
const DA_LOCK_RESET: u8 = 10;
const DA_PARAMETERS: u8 = 11;
const PCR_EVENT: u8 = 12;
const PCR_RESET: u8 = 13;
const SHUTDOWN: u8 = 17;
const OBJECT_CHANGE_AUTH: u8 = 19;
const CREATE: u8 = 20;
const LOAD: u8 = 21;
const UNSEAL: u8 = 22;
const CONTEXT_LOAD: u8 = 23;
const CONTEXT_SAVE: u8 = 24;
const FLUSH_CONTEXT: u8 = 25;
const POLICY_AUTH_VALUE: u8 = 27;
const POLICY_COMMAND_CODE: u8 = 28;
const READ_PUBLIC: u8 = 29;
const START_AUTH_SESSION: u8 = 30;
const GET_CAPABILITY: u8 = 31;
const GET_TEST_RESULT: u8 = 33;
const POLICY_RESTART: u8 = 35;
const PCR_EXTEND: u8 = 37;
const POLICY_GET_DIGEST: u8 = 38;
const TEST_PARMS: u8 = 39;
const CREATE_LOADED: u8 = 40;

// Live handles at the start.
const H_OWNER: u8 = 0;
const H_NULL: u8 = 1;
const H_PLATFORM: u8 = 3;
const H_LOCKOUT: u8 = 4;
const H_PCR16: u8 = 7;
const H_PERSISTENT: u8 = 9;
const H_PRIMARY: u8 = 11;
const H_SEALED: u8 = 12;
const H_HMAC: u8 = 13;
const H_POLICY: u8 = 14;
const H_SAVED_SESSION: u8 = 15;
/// The first handle an input creates.
const H_NEW: u8 = 16;

// Blobs.
const B_LOAD_SEALED: u8 = 0;
const B_CTX_SESSION: u8 = 1;
const B_CTX_PRIMARY: u8 = 2;
const B_CTX_SEALED: u8 = 3;
const B_CREATE_PRIMARY: u8 = 4;
const B_CREATE_SEALED: u8 = 5;
const B_START_HMAC: u8 = 6;
const B_UNSEAL_CC: u8 = 8;
/// The first blob an input creates.
const B_NEW: u8 = 9;

enum P<'a> {
    Blob(u8),
    Raw(&'a [u8]),
}

enum A<'a> {
    None,
    Pw,
    PwValue(&'a [u8]),
    Hmac,
    Policy,
    Both,
}

fn op(cmd: u8, handles: &[u8], auth: A<'_>, params: P<'_>) -> Vec<u8> {
    let mode = match auth {
        A::None => 0,
        A::Pw => 1,
        A::PwValue(_) => 2,
        A::Hmac => 3,
        A::Policy => 4,
        A::Both => 5,
    };
    let mut v = vec![0x00, cmd, mode];
    v.extend_from_slice(handles);
    match params {
        P::Blob(i) => v.push(i),
        P::Raw(bytes) => {
            v.push(0x80);
            v.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            v.extend_from_slice(bytes);
        }
    }
    match auth {
        A::PwValue(pw) => {
            v.push(pw.len() as u8);
            v.extend_from_slice(pw);
        }
        A::Hmac | A::Policy | A::Both => v.extend_from_slice(&[0x00, 0x11]),
        _ => {}
    }
    v
}

fn flush(pick: u8) -> Vec<u8> {
    vec![0x00, FLUSH_CONTEXT, 0, 0x80, 0, 0, pick]
}

fn sequence_seeds() {
    let digest_values = [&[0, 0, 0, 1, 0, 0x0B][..], &[0x42; 32]].concat();
    let create_loaded = [b2(&[0, 0, 0, 4, 1, 2, 3, 4]), b2(&SEALED_TEMPLATE)].concat();
    let seeds: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "unseal_pw",
            vec![op(UNSEAL, &[H_SEALED], A::Pw, P::Raw(&[]))],
        ),
        (
            "unseal_policy",
            vec![
                op(
                    POLICY_COMMAND_CODE,
                    &[H_POLICY],
                    A::None,
                    P::Blob(B_UNSEAL_CC),
                ),
                op(POLICY_GET_DIGEST, &[H_POLICY], A::None, P::Raw(&[])),
                op(UNSEAL, &[H_SEALED], A::Policy, P::Raw(&[])),
            ],
        ),
        (
            "create_load_unseal_hmac",
            vec![
                op(CREATE, &[H_PRIMARY], A::Hmac, P::Blob(B_CREATE_SEALED)),
                op(LOAD, &[H_PRIMARY], A::Hmac, P::Blob(B_NEW)),
                op(UNSEAL, &[H_NEW], A::Hmac, P::Raw(&[])),
                op(UNSEAL, &[H_NEW], A::Both, P::Raw(&[])),
            ],
        ),
        (
            "context_loads",
            vec![
                op(CONTEXT_LOAD, &[], A::None, P::Blob(B_CTX_SESSION)),
                op(CONTEXT_LOAD, &[], A::None, P::Blob(B_CTX_PRIMARY)),
                op(CONTEXT_LOAD, &[], A::None, P::Blob(B_CTX_SEALED)),
                op(LOAD, &[H_PRIMARY], A::Pw, P::Blob(B_LOAD_SEALED)),
                op(CONTEXT_SAVE, &[H_HMAC], A::None, P::Raw(&[])),
                op(CONTEXT_LOAD, &[], A::None, P::Blob(B_NEW)),
            ],
        ),
        (
            "restart_resume",
            vec![
                vec![0xDB], // Shutdown(STATE), round trip, Startup(CLEAR): TPM Restart
                op(CONTEXT_LOAD, &[], A::None, P::Blob(B_CTX_PRIMARY)),
                op(CONTEXT_LOAD, &[], A::None, P::Blob(B_CTX_SESSION)),
                vec![0xD7], // Shutdown(STATE), _TPM_Init, Startup(STATE): TPM Resume
                op(CONTEXT_LOAD, &[], A::None, P::Blob(B_CTX_SEALED)),
                vec![0xD1], // Shutdown(CLEAR), TPM Reset
                op(CONTEXT_LOAD, &[], A::None, P::Blob(B_CTX_PRIMARY)),
                vec![0xD0, 0xF9],
                op(
                    GET_CAPABILITY,
                    &[],
                    A::None,
                    P::Raw(&[0, 0, 0, 6, 0, 0, 2, 0, 0, 0, 0, 64]),
                ),
            ],
        ),
        (
            "evict_persist",
            vec![
                op(
                    EVICT_CONTROL,
                    &[H_OWNER, H_PRIMARY],
                    A::Pw,
                    P::Raw(&[0x81, 0, 0, 1]),
                ),
                vec![0xD8],
                op(READ_PUBLIC, &[H_PERSISTENT], A::None, P::Raw(&[])),
                op(CREATE, &[H_PERSISTENT], A::Pw, P::Blob(B_CREATE_SEALED)),
                op(
                    EVICT_CONTROL,
                    &[H_OWNER, H_PERSISTENT],
                    A::Pw,
                    P::Raw(&[0x81, 0, 0, 1]),
                ),
            ],
        ),
        (
            "hierarchy_auth",
            vec![
                op(
                    HIERARCHY_CHANGE_AUTH,
                    &[H_OWNER],
                    A::Pw,
                    P::Raw(&b2(&[0xAA, 0xBB])),
                ),
                op(
                    CREATE_PRIMARY,
                    &[H_OWNER],
                    A::PwValue(&[0xAA, 0xBB]),
                    P::Blob(B_CREATE_PRIMARY),
                ),
                op(CREATE_PRIMARY, &[H_NULL], A::Pw, P::Blob(B_CREATE_PRIMARY)),
                op(
                    SET_PRIMARY_POLICY,
                    &[H_OWNER],
                    A::PwValue(&[0xAA, 0xBB]),
                    P::Raw(&[0, 32, 1, 2, 0, 0x0B]),
                ),
                op(
                    HIERARCHY_CONTROL,
                    &[H_PLATFORM],
                    A::Pw,
                    P::Raw(&[0x40, 0, 0, 0x0B, 0]),
                ),
                op(CLEAR, &[H_LOCKOUT], A::Pw, P::Raw(&[])),
                vec![0xDD],
            ],
        ),
        (
            "da_lockout",
            vec![
                op(
                    DA_PARAMETERS,
                    &[H_LOCKOUT],
                    A::Pw,
                    P::Raw(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1]),
                ),
                op(DA_LOCK_RESET, &[H_LOCKOUT], A::PwValue(b"bad"), P::Raw(&[])),
                op(HIERARCHY_CHANGE_AUTH, &[H_OWNER], A::Pw, P::Raw(&b2(b"x"))),
                op(
                    CREATE_PRIMARY,
                    &[H_OWNER],
                    A::PwValue(b"y"),
                    P::Blob(B_CREATE_PRIMARY),
                ),
                op(
                    CREATE_PRIMARY,
                    &[H_OWNER],
                    A::PwValue(b"y"),
                    P::Blob(B_CREATE_PRIMARY),
                ),
                op(
                    CREATE_PRIMARY,
                    &[H_OWNER],
                    A::PwValue(b"y"),
                    P::Blob(B_CREATE_PRIMARY),
                ),
                vec![0xEA, 0x10],
                op(DA_LOCK_RESET, &[H_LOCKOUT], A::Pw, P::Raw(&[])),
                vec![0xD9],
            ],
        ),
        (
            "pcr_ops",
            vec![
                op(PCR_EXTEND, &[H_PCR16], A::Pw, P::Raw(&digest_values)),
                op(PCR_EVENT, &[H_PCR16], A::Hmac, P::Raw(&b2(b"event"))),
                op(PCR_RESET, &[H_PCR16], A::Pw, P::Raw(&[])),
                op(
                    PCR_ALLOCATE,
                    &[H_PLATFORM],
                    A::Pw,
                    P::Raw(&[0, 0, 0, 1, 0, 0x0B, 3, 0xFF, 0xFF, 0xFF]),
                ),
                vec![0xF0, 0xF1, 3, 1, 2, 3, 0xF2, 0xF3],
                vec![0xD3],
            ],
        ),
        (
            "flush_all",
            vec![
                flush(H_PRIMARY),
                flush(H_SEALED),
                flush(H_HMAC),
                flush(H_POLICY),
                flush(H_SAVED_SESSION),
            ],
        ),
        (
            "policy_session",
            vec![
                op(
                    START_AUTH_SESSION,
                    &[H_NULL, H_NULL],
                    A::None,
                    P::Blob(B_START_HMAC + 1),
                ),
                op(POLICY_AUTH_VALUE, &[H_POLICY], A::None, P::Raw(&[])),
                op(POLICY_GET_DIGEST, &[H_POLICY], A::None, P::Raw(&[])),
                op(POLICY_RESTART, &[H_POLICY], A::None, P::Raw(&[])),
                op(POLICY_COMMAND_CODE, &[H_NEW], A::None, P::Blob(B_UNSEAL_CC)),
                op(UNSEAL, &[H_SEALED], A::Pw, P::Raw(&[])),
            ],
        ),
        (
            "object_change_auth",
            vec![
                op(
                    OBJECT_CHANGE_AUTH,
                    &[H_SEALED, H_PRIMARY],
                    A::Pw,
                    P::Raw(&b2(b"AB")),
                ),
                op(CREATE_LOADED, &[H_PRIMARY], A::Pw, P::Raw(&create_loaded)),
                op(READ_PUBLIC, &[H_NEW], A::None, P::Raw(&[])),
                op(
                    TEST_PARMS,
                    &[],
                    A::None,
                    P::Raw(&[0, 0x23, 0, 0x10, 0, 0x10, 0, 3, 0, 0x10]),
                ),
            ],
        ),
        (
            "failure_mode",
            vec![
                vec![0xF8, 0, 0, 1, 1],
                op(GET_TEST_RESULT, &[], A::None, P::Raw(&[])),
                op(
                    GET_CAPABILITY,
                    &[],
                    A::None,
                    P::Raw(&[0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 0, 8]),
                ),
                op(SHUTDOWN, &[], A::None, P::Raw(&[0, 1])),
                vec![0xD4],
            ],
        ),
    ];
    for (name, ops) in seeds {
        write("sequence", name, &ops.concat());
    }
    // Each seed of the single-command target as a raw command.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/execute");
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let bytes = fs::read(entry.path()).unwrap();
        let cmd = bytes.get(1..).unwrap_or_default();
        let mut v = vec![0xC0];
        v.extend_from_slice(&(cmd.len() as u16).to_be_bytes());
        v.extend_from_slice(cmd);
        write(
            "sequence",
            &format!("raw_{}", entry.file_name().to_string_lossy()),
            &v,
        );
    }
}

// ---------------------------------------------------------------------------
// ctrl and mssim: protocol bytes.

fn ctrl_seeds() {
    let startup = command(0x8001, 0x144, &[0, 0]);
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("get_capability", vec![0, 0, 0, 1]),
        ("init", vec![0, 0, 0, 2, 0, 0, 0, 1]),
        ("shutdown", vec![0, 0, 0, 3]),
        ("get_established", vec![0, 0, 0, 4]),
        ("set_locality", vec![0, 0, 0, 5, 3]),
        ("hash_start", vec![0, 0, 0, 6]),
        ("hash_data", vec![0, 0, 0, 7, 0, 0, 0, 3, 0xAA, 0xBB, 0xCC]),
        ("hash_end", vec![0, 0, 0, 8]),
        ("cancel", vec![0, 0, 0, 9]),
        ("store_volatile", vec![0, 0, 0, 10]),
        ("reset_established", vec![0, 0, 0, 11, 3]),
        ("stop", vec![0, 0, 0, 14]),
        ("get_config", vec![0, 0, 0, 15]),
        ("set_datafd", vec![0, 0, 0, 16]),
        ("set_buffersize", vec![0, 0, 0, 17, 0, 0, 0x10, 0]),
        (
            "get_info",
            vec![0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        // The tail is a data-channel stream: a raw command, then a framed one.
        (
            "data_raw_framed",
            [
                &[0x02, 3, 5][..],
                &startup,
                &[0, 0, 0, 8, 3, 0, 0, 0, 12],
                &startup,
            ]
            .concat(),
        ),
        ("data_short", [&[0x81, 0xFF][..], &startup[..8]].concat()),
    ];
    for (name, bytes) in seeds {
        write("ctrl", name, &bytes);
    }
}

fn mssim_seeds() {
    let startup = command(0x8001, 0x144, &[0, 0]);
    let send = |loc: u8, cmd: &[u8]| {
        [
            &[0, 0, 0, 8, loc][..],
            &(cmd.len() as u32).to_be_bytes(),
            cmd,
        ]
        .concat()
    };
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("send", [&[0u8][..], &send(0, &startup)].concat()),
        (
            "send_chunked",
            [&[3u8, 1, 7, 0xFF][..], &send(3, &startup), &send(0, &[])].concat(),
        ),
        ("handshake", vec![0, 0, 0, 0, 15, 0, 0, 0, 1]),
        (
            "hash",
            vec![
                0, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 2, 0xAA, 0xBB, 0, 0, 0, 7,
            ],
        ),
        (
            "misc",
            vec![
                0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 21, 0, 0, 0, 99,
            ],
        ),
        ("too_large", vec![0, 0, 0, 0, 8, 0, 0, 0, 0x10, 1]),
    ];
    for (name, bytes) in seeds {
        write("mssim", name, &bytes);
    }
}

/// `vmgs`: `mode | { u16 LE offset | u8 len | bytes }*` over a 64 KiB image (see
/// fuzz_targets/vmgs.rs); the harness can build a valid store itself (mode bit 0), so
/// the seeds are the modes plus a few mutations, and the reference tool's empty file
/// (its non-zero bytes as records).
fn vmgs_seeds() {
    let rec = |offset: u16, bytes: &[u8]| {
        let mut v = offset.to_le_bytes().to_vec();
        v.push(bytes.len() as u8);
        v.extend_from_slice(bytes);
        v
    };
    for mode in 0u8..16 {
        write("vmgs", &format!("mode_{mode:02}"), &[mode]);
    }
    // Header fields flipped: sequence, file table offset, a key slot, the CRC.
    write(
        "vmgs",
        "plain_seq",
        &[[0b0101].as_slice(), &rec(0x10, &[9])].concat(),
    );
    write(
        "vmgs",
        "enc_ft",
        &[[0b1111].as_slice(), &rec(512 + 0x18, &[5])].concat(),
    );
    write(
        "vmgs",
        "enc_slot",
        &[[0b1111].as_slice(), &rec(512 + 0x40, &[0xff])].concat(),
    );
    write(
        "vmgs",
        "plain_crc",
        &[[0b0101].as_slice(), &rec(0x0C, &[0, 0])].concat(),
    );
    // A file table entry grown into its neighbour.
    write(
        "vmgs",
        "plain_alloc",
        &[[0b0101].as_slice(), &rec(4 * 4096 + 3 * 64 + 4, &[3])].concat(),
    );
    let empty = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../nvram/tests/vectors/vmgs/empty.vmgs"),
    )
    .expect("nvram/tests/vectors/vmgs/empty.vmgs");
    let mut seed = vec![0u8];
    for start in (0..16 * 4096).step_by(200) {
        let chunk = &empty[start..start + 200];
        if chunk.iter().any(|&b| b != 0) {
            seed.extend(rec(start as u16, chunk));
        }
    }
    write("vmgs", "reference_empty", &seed);
}

/// All corpora, or only those named on the command line (`-- vmgs`).
fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let seeds: [(&str, fn()); 5] = [
        ("vmgs", vmgs_seeds),
        ("state_image", state_image_seeds),
        ("sequence", sequence_seeds),
        ("ctrl", ctrl_seeds),
        ("mssim", mssim_seeds),
    ];
    for (name, make) in seeds {
        if only.is_empty() || only.iter().any(|o| o == name) {
            make();
        }
    }
}
