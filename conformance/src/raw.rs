//! Raw TPM command building and response reading, for the benchmarks and the
//! harness binaries (no session logic: callers bring their authorization areas).

/// TPM_ST_NO_SESSIONS / TPM_ST_SESSIONS.
pub const ST_NO_SESSIONS: u16 = 0x8001;
pub const ST_SESSIONS: u16 = 0x8002;
/// TPM_RS_PW.
pub const RS_PW: u32 = 0x4000_0009;
/// TPMA_SESSION.continueSession.
pub const ATTR_CONTINUE: u8 = 0x01;

/// A TPM2B: u16 size, then the bytes.
pub fn b2(data: &[u8]) -> Vec<u8> {
    let mut v = u16::try_from(data.len())
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    v.extend_from_slice(data);
    v
}

/// Big-endian u16 values, concatenated.
pub fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// TPMS_AUTH_COMMAND of the empty password (continueSession SET).
pub fn pw_session() -> Vec<u8> {
    let mut a = RS_PW.to_be_bytes().to_vec();
    a.extend_from_slice(&[0, 0, ATTR_CONTINUE, 0, 0]);
    a
}

/// A TPM_ST_NO_SESSIONS command without handles.
pub fn plain(cc: u32, params: &[u8]) -> Vec<u8> {
    crate::command(ST_NO_SESSIONS, cc, params)
}

/// A TPM_ST_SESSIONS command: handles, authorization area (`sessions`, without
/// its size), parameters.
pub fn auth_cmd(cc: u32, handles: &[u32], sessions: &[u8], params: &[u8]) -> Vec<u8> {
    let mut body: Vec<u8> = handles.iter().flat_map(|h| h.to_be_bytes()).collect();
    body.extend_from_slice(&u32::try_from(sessions.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(sessions);
    body.extend_from_slice(params);
    crate::command(ST_SESSIONS, cc, &body)
}

/// A TPM_ST_NO_SESSIONS command with handles.
pub fn no_auth_cmd(cc: u32, handles: &[u32], params: &[u8]) -> Vec<u8> {
    let mut body: Vec<u8> = handles.iter().flat_map(|h| h.to_be_bytes()).collect();
    body.extend_from_slice(params);
    crate::command(ST_NO_SESSIONS, cc, &body)
}

/// A response ended before the field being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Short;

impl std::fmt::Display for Short {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("response too short")
    }
}

impl std::error::Error for Short {}

/// A big-endian reader over response bytes; `.0` is what is left.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let (a, b) = self.0.split_at_checked(n).ok_or(Short)?;
        self.0 = b;
        Ok(a)
    }
    pub fn u16(&mut self) -> Result<u16, Short> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().map_err(|_| Short)?,
        ))
    }
    pub fn u32(&mut self) -> Result<u32, Short> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().map_err(|_| Short)?,
        ))
    }
    /// A TPM2B's contents.
    pub fn b2(&mut self) -> Result<&'a [u8], Short> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

/// The response handle (0 when `has_handle` is false) and the parameter area
/// of a success response.
pub fn split_response(r: &[u8], has_handle: bool) -> Result<(u32, &[u8]), Short> {
    let mut rd = Reader(r);
    let tag = rd.u16()?;
    rd.take(8)?;
    let handle = if has_handle { rd.u32()? } else { 0 };
    let params = if tag == ST_SESSIONS {
        let n = rd.u32()? as usize;
        rd.take(n)?
    } else {
        rd.0
    };
    Ok((handle, params))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_reads() {
        let c = auth_cmd(0x153, &[0x8000_0000], &pw_session(), &b2(b"x"));
        assert_eq!(c.len(), 10 + 4 + 4 + 9 + 3);
        let resp = [
            0x80, 0x02, 0, 0, 0, 21, 0, 0, 0, 0, 0x80, 0, 0, 1, 0, 0, 0, 3, 0, 1, 7,
        ];
        let (h, p) = split_response(&resp, true).unwrap();
        assert_eq!((h, p), (0x8000_0001, &[0u8, 1, 7][..]));
        assert_eq!(Reader(p).b2().unwrap(), &[7]);
        assert_eq!(Reader(&[0, 5, 1]).b2(), Err(Short));
    }
}
