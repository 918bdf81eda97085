//! Arbitrary bytes as stored state: the nvram image parser, the engine's permanent
//! and saved parts (`Engine::from_state`), and a device opened from the image.
//! Nothing may panic, and whatever is accepted must round-trip (decode -> encode ->
//! decode gives the same value, and the same bytes) and must run: an engine built
//! from an accepted state is powered on, started and asked a few commands.
//!
//! The first input byte picks the mode:
//! - `0`: the bytes are a whole image (its digest rarely matches: the header checks);
//! - `1`: the bytes are an image body; the harness appends the correct SHA-256, so
//!   the section table and everything inside it are reached;
//! - `2`: `u16 length | permanent | saved` (no saved part when the length's top bit
//!   is set) straight into `Engine::from_state`;
//! - `3`: like `1`, opened as a `vtpm::Device` (volatile section included).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpm::{Device, PlatformError};
use vtpm_commands::{Engine, Platform, StateImage};
use vtpm_crypto::HashAlg;
use vtpm_nvram::image::Image;

/// Time stands still, so the clock saved twice is the same.
struct FuzzPlatform {
    counter: u8,
    stored: Option<Vec<u8>>,
}

impl Platform for FuzzPlatform {
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

impl vtpm::Platform for FuzzPlatform {
    fn load_state(&mut self) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(self.stored.clone())
    }
    fn commit_state(&mut self, image: &[u8]) -> Result<(), PlatformError> {
        self.stored = Some(image.to_vec());
        Ok(())
    }
}

fn check_response(r: &[u8]) {
    assert!(r.len() >= 10, "short response");
    assert_eq!(
        u32::from_be_bytes([r[2], r[3], r[4], r[5]]) as usize,
        r.len(),
        "size field"
    );
}

fn command(tag: u16, cc: u32, body: &[u8]) -> Vec<u8> {
    let mut v = tag.to_be_bytes().to_vec();
    v.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&cc.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// Commands an engine from a loaded state answers: Startup (CLEAR or STATE), the
/// persistent handles and each one's public area, PCRs, Clock, and a primary key
/// from the stored seeds (ECC P-256, fast).
fn exercise(mut run: impl FnMut(&[u8]) -> Vec<u8>, startup_state: bool) {
    let su: u16 = u16::from(startup_state);
    let r = run(&command(0x8001, 0x144, &su.to_be_bytes()));
    check_response(&r);
    // GetCapability(TPM_CAP_HANDLES, persistent).
    let mut p = 1u32.to_be_bytes().to_vec();
    p.extend_from_slice(&0x8100_0000u32.to_be_bytes());
    p.extend_from_slice(&8u32.to_be_bytes());
    let r = run(&command(0x8001, 0x17A, &p));
    check_response(&r);
    // moreData(1) capability(4) count(4) handles.
    let handles: Vec<u32> = r
        .get(19..)
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .take(8)
        .collect();
    for h in handles {
        check_response(&run(&command(0x8001, 0x173, &h.to_be_bytes())));
    }
    // PCR_Read of PCR 0 in SHA-256, ReadClock, GetCapability(TPM_PROPERTIES).
    check_response(&run(&command(
        0x8001,
        0x17E,
        &[0, 0, 0, 1, 0, 0x0B, 3, 1, 0, 0],
    )));
    check_response(&run(&command(0x8001, 0x181, &[])));
    check_response(&run(&command(
        0x8001,
        0x17A,
        &[0, 0, 0, 6, 0, 0, 2, 0, 0, 0, 0, 64],
    )));
    // CreatePrimary(owner, ECC P-256 storage key) with an empty password session.
    let mut body = 0x4000_0001u32.to_be_bytes().to_vec();
    body.extend_from_slice(&[0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 1, 0, 0]);
    body.extend_from_slice(&[0, 4, 0, 0, 0, 0]); // inSensitive
    let template: [u8; 26] = [
        0, 0x23, 0, 0x0B, 0, 0x03, 0x04, 0x72, 0, 0, 0, 0x06, 0, 0x80, 0, 0x43, 0, 0x10, 0, 0x03,
        0, 0x10, 0, 0, 0, 0,
    ];
    body.extend_from_slice(&(template.len() as u16).to_be_bytes());
    body.extend_from_slice(&template);
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // outsideInfo, creationPCR
    check_response(&run(&command(0x8002, 0x131, &body)));
}

fn image_round_trip(bytes: &[u8]) -> Option<Image> {
    let image = Image::decode(bytes).ok()?;
    let encoded = image.encode();
    assert_eq!(encoded, bytes, "an accepted image encodes to its own bytes");
    assert_eq!(
        Image::decode(&encoded).as_ref(),
        Ok(&image),
        "image round trip"
    );
    Some(image)
}

fn with_digest(body: &[u8]) -> Vec<u8> {
    let mut v = body.to_vec();
    v.extend_from_slice(HashAlg::Sha256.digest(&[body]).as_bytes());
    v
}

fn engine_round_trip(state: &StateImage, startup_state: bool) {
    let Ok(mut engine) = Engine::from_state(state) else {
        return;
    };
    let mut platform = FuzzPlatform {
        counter: 0,
        stored: None,
    };
    let saved = engine.save_state(&platform);
    let again = match Engine::from_state(&saved) {
        Ok(e) => e,
        Err(e) => panic!("re-encoded accepted state refused: {e:?}"),
    };
    assert_eq!(again.save_state(&platform), saved, "state round trip");
    engine.init(&mut platform);
    exercise(|c| engine.execute(&mut platform, 0, c), startup_state);
    // What the engine now saves must load again.
    let after = engine.save_state(&platform);
    if let Err(e) = Engine::from_state(&after) {
        panic!("state saved after running refused: {e:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode & 3 {
        0 => {
            image_round_trip(rest);
        }
        1 => {
            image_round_trip(&with_digest(rest));
        }
        2 => {
            let (len, rest) = match rest.split_first_chunk::<2>() {
                Some((l, r)) => (u16::from_be_bytes(*l), r),
                None => (0, rest),
            };
            let n = usize::from(len & 0x7FFF).min(rest.len());
            let (permanent, saved) = rest.split_at(n);
            let state = StateImage {
                permanent: permanent.to_vec(),
                saved: (len & 0x8000 == 0).then(|| saved.to_vec()),
            };
            engine_round_trip(&state, mode & 4 != 0);
        }
        _ => {
            let bytes = with_digest(rest);
            if image_round_trip(&bytes).is_none() {
                return;
            }
            let platform = FuzzPlatform {
                counter: 0,
                stored: Some(bytes),
            };
            let Ok(mut device) = Device::open(platform) else {
                return;
            };
            // Opening commits a canonical image: it must read back and open again.
            let stored = device.platform().stored.clone().unwrap_or_default();
            assert!(
                image_round_trip(&stored).is_some(),
                "committed image refused"
            );
            if device.power_on(mode & 8 != 0).is_err() {
                return;
            }
            exercise(|c| device.execute(0, c), mode & 4 != 0);
            let stored = device.platform().stored.clone().unwrap_or_default();
            let reopened = Device::open(FuzzPlatform {
                counter: 0,
                stored: Some(stored),
            });
            assert!(
                reopened.is_ok(),
                "a committed image does not open: {:?}",
                reopened.err()
            );
        }
    }
});
