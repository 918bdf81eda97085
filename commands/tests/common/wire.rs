//! Raw wire helpers: TPM2B and list builders, a response reader, command framing with
//! password or caller-built sessions, and the response split every raw test needs.

use super::{RS_PW, Tpm, cmd, rc};

/// A TPM2B: u16 size, then the bytes.
pub fn b2(data: &[u8]) -> Vec<u8> {
    let mut v = u16::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

/// Big-endian u16 values, concatenated (algorithm lists, schemes, key sizes).
pub fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// A reader over response bytes; panics (failing the test) when they run short.
pub struct Rd<'a>(pub &'a [u8]);

impl<'a> Rd<'a> {
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    pub fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    pub fn b2(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.take(n)
    }
    /// A TPM2B_ECC_POINT: (x, y), nothing left over inside it.
    pub fn point(&mut self) -> (Vec<u8>, Vec<u8>) {
        let inner = self.b2();
        let mut r = Rd(inner);
        let p = (r.b2().to_vec(), r.b2().to_vec());
        assert!(r.0.is_empty());
        p
    }
}

/// TPMS_AUTH_COMMAND of a password session with `password` (continueSession SET).
pub fn pw(password: &[u8]) -> Vec<u8> {
    let mut a = RS_PW.to_be_bytes().to_vec();
    a.extend_from_slice(&[0, 0, 0x01]);
    a.extend_from_slice(&b2(password));
    a
}

/// A TPM_ST_SESSIONS command: handles, the authorization area of `sessions`, parameters.
pub fn sessions_cmd(cc: u32, handles: &[u32], sessions: &[Vec<u8>], params: &[u8]) -> Vec<u8> {
    let mut body: Vec<u8> = handles.iter().flat_map(|h| h.to_be_bytes()).collect();
    let area = sessions.concat();
    body.extend_from_slice(&u32::try_from(area.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&area);
    body.extend_from_slice(params);
    cmd(0x8002, cc, &body)
}

/// A command with `auths` empty-password sessions.
pub fn auth_cmd(cc: u32, handles: &[u32], auths: usize, params: &[u8]) -> Vec<u8> {
    sessions_cmd(cc, handles, &vec![pw(&[]); auths], params)
}

/// A TPM_ST_NO_SESSIONS command with handles.
pub fn no_auth(cc: u32, handles: &[u32], params: &[u8]) -> Vec<u8> {
    let mut body: Vec<u8> = handles.iter().flat_map(|h| h.to_be_bytes()).collect();
    body.extend_from_slice(params);
    cmd(0x8001, cc, &body)
}

/// Runs `command`; on success the response handle (when `handle`) and the parameters
/// (without parameterSize and the sessions), else the response code.
pub fn run(t: &mut Tpm, command: &[u8], handle: bool) -> Result<(u32, Vec<u8>), u32> {
    let r = t.run(command);
    match rc(&r) {
        0 => {
            let mut rest = &r[10..];
            let mut h = 0;
            if handle {
                h = u32::from_be_bytes(rest[..4].try_into().unwrap());
                rest = &rest[4..];
            }
            if r[..2] == [0x80, 0x02] {
                let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
                rest = &rest[4..4 + n];
            }
            Ok((h, rest.to_vec()))
        }
        e => Err(e),
    }
}
