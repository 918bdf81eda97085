//! Big-endian field access shared by the protocol parsers; never panics on short input.

/// The big-endian u32 at `offset`, or `None` when `buf` is too short.
pub fn be_u32(buf: &[u8], offset: usize) -> Option<u32> {
    let bytes = buf.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// The big-endian u64 at `offset`, or `None` when `buf` is too short.
pub fn be_u64(buf: &[u8], offset: usize) -> Option<u64> {
    let bytes = buf.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Concatenates big-endian u32 values (most replies are a few of them).
pub fn u32s(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// The TPM 2.0 error response {TPM_ST_NO_SESSIONS, 10, rc}.
pub fn tpm_error_response(rc: u32) -> Vec<u8> {
    let mut out = vec![0x80, 0x01, 0, 0, 0, 10];
    out.extend_from_slice(&rc.to_be_bytes());
    out
}

/// The TPM_SEND_COMMAND reply, shared by the swtpm data channel and mssim:
/// {u32 length, response, u32 0}.
pub fn frame_response(response: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(response.len() + 8);
    out.extend_from_slice(
        &u32::try_from(response.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(response);
    out.extend_from_slice(&[0; 4]);
    out
}

/// TPM_RC_COMMAND_SIZE: the command's size field is out of range.
pub const TPM_RC_COMMAND_SIZE: u32 = 0x142;

/// Command code of a TPM command (for logging), if the header is complete.
pub fn command_code(command: &[u8]) -> Option<u32> {
    be_u32(command, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_none() {
        assert_eq!(be_u32(&[1, 2, 3], 0), None);
        assert_eq!(be_u32(&[0, 0, 0, 5], 0), Some(5));
        assert_eq!(be_u32(&[0, 0, 0, 5], usize::MAX), None);
        assert_eq!(be_u64(&[0; 7], 0), None);
    }

    #[test]
    fn error_response_bytes() {
        assert_eq!(
            tpm_error_response(TPM_RC_COMMAND_SIZE),
            [0x80, 1, 0, 0, 0, 10, 0, 0, 1, 0x42]
        );
    }
}
