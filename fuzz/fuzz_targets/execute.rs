//! Arbitrary bytes as one command to a fresh, started engine: every input must
//! get a well-formed response (size field = length, at least a header), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpm_commands::{Engine, Platform};

struct FuzzPlatform(u8);

impl Platform for FuzzPlatform {
    fn entropy(&mut self, out: &mut [u8]) -> bool {
        for b in out.iter_mut() {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
        true
    }
    fn monotonic_ms(&self) -> u64 {
        1
    }
}

const STARTUP_CLEAR: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 0];

fuzz_target!(|data: &[u8]| {
    let mut platform = FuzzPlatform(0);
    let mut engine = Engine::manufacture();
    engine.init(&mut platform);
    // The first byte picks the locality and whether the TPM is started first.
    let (sel, command) = data.split_first().map_or((0, data), |(s, rest)| (*s, rest));
    if sel & 0x80 != 0 {
        engine.execute(&mut platform, 0, &STARTUP_CLEAR);
    }
    let response = engine.execute(&mut platform, sel & 0x07, command);
    assert!(response.len() >= 10);
    assert_eq!(
        u32::from_be_bytes([response[2], response[3], response[4], response[5]]) as usize,
        response.len()
    );
});
