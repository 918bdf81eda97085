//! Reading command parameters and writing response parameters.
//!
//! Parameters are parsed with `tpm2-protocol`'s types; every read goes through
//! [`Params::read`], which counts parameters so that a codec failure becomes a
//! format-one TPM_RC carrying the right parameter number.

use alloc::vec::Vec;
use tpm2_protocol::TpmUnmarshal;

use crate::object::public::Reader;
use crate::rc::{self, Rc, ValueKind};

/// The parameter area of a command, consumed field by field.
pub struct Params<'a> {
    rest: &'a [u8],
    index: usize,
}

impl<'a> Params<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Params {
            rest: bytes,
            index: 0,
        }
    }

    /// The number of the parameter read last (1-based), for error positions.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The unread bytes, without consuming them (for hashing a parameter as sent).
    pub fn peek(&self) -> &'a [u8] {
        self.rest
    }

    /// Reads the next parameter; a bad value of it is reported with `kind`'s code.
    pub fn read_as<T: TpmUnmarshal>(&mut self, kind: ValueKind) -> Result<T, Rc> {
        self.index += 1;
        let (value, rest) =
            T::unmarshal(self.rest).map_err(|e| rc::from_codec(e, kind).param(self.index))?;
        self.rest = rest;
        Ok(value)
    }

    /// Reads the next parameter; a bad value is TPM_RC_VALUE.
    pub fn read<T: TpmUnmarshal>(&mut self) -> Result<T, Rc> {
        self.read_as(ValueKind::Value)
    }

    /// Reads a TPM2B whose size may not exceed `max`, returning its bytes.
    pub fn read_2b(&mut self, max: usize) -> Result<&'a [u8], Rc> {
        self.index += 1;
        let n = self.index;
        let (size, rest) = match self.rest {
            [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
            _ => return Err(Rc::INSUFFICIENT.param(n)),
        };
        if size > max {
            return Err(Rc::SIZE.param(n));
        }
        let (data, rest) = rest
            .split_at_checked(size)
            .ok_or(Rc::INSUFFICIENT.param(n))?;
        self.rest = rest;
        Ok(data)
    }

    /// A sized structure (a TPM2B around a structure) as the reference
    /// unmarshals it: the structure is parsed from everything after the size,
    /// then its length must equal the size (TPM_RC_SIZE). `None` for size 0.
    pub fn read_sized<T>(
        &mut self,
        parse: impl FnOnce(&mut Reader<'a>) -> Result<T, Rc>,
    ) -> Result<Option<T>, Rc> {
        self.index += 1;
        let n = self.index;
        let (size, rest) = match self.rest {
            [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
            _ => return Err(Rc::INSUFFICIENT.param(n)),
        };
        if size == 0 {
            self.rest = rest;
            return Ok(None);
        }
        let mut r = Reader::new(rest);
        let value = parse(&mut r).map_err(|rc| rc.param(n))?;
        if rest.len() - r.rest.len() != size {
            return Err(Rc::SIZE.param(n));
        }
        self.rest = r.rest;
        Ok(Some(value))
    }

    /// A structure parsed outside the codec, counted as one parameter.
    pub fn read_struct<T>(
        &mut self,
        parse: impl FnOnce(&mut Reader<'a>) -> Result<T, Rc>,
    ) -> Result<T, Rc> {
        self.index += 1;
        let n = self.index;
        let mut r = Reader::new(self.rest);
        let value = parse(&mut r).map_err(|rc| rc.param(n))?;
        self.rest = r.rest;
        Ok(value)
    }

    /// The unread bytes, consumed: for structures parsed outside the codec.
    /// Counts as one more parameter.
    pub fn rest(&mut self) -> &'a [u8] {
        self.index += 1;
        core::mem::take(&mut self.rest)
    }

    /// Ends parsing: bytes left over are TPM_RC_SIZE (Part 3, section 5.2).
    pub fn finish(&self) -> Result<(), Rc> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Rc::SIZE)
        }
    }
}

/// A growing big-endian output buffer for response parameters.
#[derive(Default)]
pub struct Out {
    buf: Vec<u8>,
}

impl Out {
    pub fn new() -> Self {
        Out { buf: Vec::new() }
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// A TPM2B: u16 size, then the bytes. Callers bound `v` by the type's maximum.
    pub fn tpm2b(&mut self, v: &[u8]) -> &mut Self {
        let len = u16::try_from(v.len()).unwrap_or(u16::MAX);
        self.u16(len);
        self.buf
            .extend_from_slice(v.get(..usize::from(len)).unwrap_or(v));
        self
    }
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads a big-endian u32 at `off`, if the bytes are there.
pub fn be_u32(bytes: &[u8], off: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Reads a big-endian u16 at `off`, if the bytes are there.
pub fn be_u16(bytes: &[u8], off: usize) -> Option<u16> {
    let b: [u8; 2] = bytes.get(off..off.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}
