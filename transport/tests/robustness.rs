//! Malformed input on the data socket: the server answers (or drops the connection) and keeps serving.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

const TPM_RC_COMMAND_SIZE: u32 = 0x142;
const TPM_RC_COMMAND_CODE: u32 = 0x143;

fn header(tag: u16, size: u32, cc: u32) -> Vec<u8> {
    let mut v = tag.to_be_bytes().to_vec();
    v.extend_from_slice(&size.to_be_bytes());
    v.extend_from_slice(&cc.to_be_bytes());
    v
}

/// The answer must be nothing (connection dropped) or well-formed error responses (a server may
/// treat bytes after a rejected oversized command as further commands); returns the first rc.
fn error_rc(mut resp: &[u8], what: &str) -> Option<u32> {
    let mut first = None;
    while !resp.is_empty() {
        assert!(resp.len() >= 10, "{what}: short answer {}", hex(resp));
        let size = be_u32(&resp[2..6]).unwrap() as usize;
        assert!(
            (10..=resp.len()).contains(&size),
            "{what}: size field vs bytes: {}",
            hex(resp)
        );
        let tag = u16::from_be_bytes([resp[0], resp[1]]);
        assert!(tag == 0x8001 || tag == 0x00C4, "{what}: tag {tag:#x}");
        let rc = response_code(resp).unwrap();
        assert_ne!(rc, 0, "{what}: malformed command succeeded: {}", hex(resp));
        first = first.or(Some(rc));
        resp = &resp[size..];
    }
    first
}

/// (name, bytes sent, accepted outcomes)
type Case = (&'static str, Vec<u8>, &'static [Option<u32>]);

fn malformed_commands(peer: Peer) {
    let s = started(&peer);
    let getrandom = command(0x8001, 0x17B, &8u16.to_be_bytes());
    // (name, bytes, accepted outcomes: Some(rc) = that error response, None = connection
    // dropped without an answer; an empty list accepts any well-formed error or a drop)
    let mut big = header(0x8001, 5000, 0x17B);
    big.resize(5000, 0);
    let mut size_4097 = header(0x8001, 4097, 0x17B);
    size_4097.resize(4097, 0);
    let cases: Vec<Case> = vec![
        ("truncated header", getrandom[..5].to_vec(), &[]),
        (
            "size > data, then close",
            [header(0x8001, 100, 0x17B), vec![0, 8]].concat(),
            // The client closed mid-command: swtpm still answers 0x142; dropping is fine too.
            &[Some(TPM_RC_COMMAND_SIZE), None],
        ),
        (
            "size < 10",
            [header(0x8001, 6, 0x17B), vec![0, 8]].concat(),
            &[Some(TPM_RC_COMMAND_SIZE)],
        ),
        ("size 5000 > 4096", big, &[Some(TPM_RC_COMMAND_SIZE)]),
        (
            "size 4097, all sent",
            size_4097,
            &[Some(TPM_RC_COMMAND_SIZE)],
        ),
        (
            "garbage text",
            b"hello world, this is no TPM command".to_vec(),
            &[],
        ),
        ("TPM 1.2 tag", header(0x00C1, 10, 0x99), &[]),
        (
            "unknown command code",
            command(0x8001, 0x2000_0000, &[]),
            &[Some(TPM_RC_COMMAND_CODE)],
        ),
        ("one byte", vec![0x80], &[]),
    ];
    for (name, bytes, want) in cases {
        let resp = send_and_drain(s.port, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rc = error_rc(&resp, name);
        if !want.is_empty() {
            assert!(
                want.contains(&rc),
                "{}: {name}: got {rc:x?}, want one of {want:x?}: {}",
                peer.name(),
                hex(&resp)
            );
        }
        if name == "TPM 1.2 tag" {
            // OVMF's TPM 1.2 probe needs a well-formed error reply, not silence.
            let rc = rc.unwrap_or_else(|| panic!("{}: no reply to a TPM 1.2 command", peer.name()));
            // TPM_RC_BAD_TAG (spec) or TPM_RC_VALUE (libtpms/swtpm answers 0x84).
            assert!(
                rc == 0x1E || rc == 0x84,
                "{}: TPM 1.2 tag rc {rc:#x}",
                peer.name()
            );
        }
        assert_serving(&s, name);
    }
    // Two commands back to back on one connection: both answered in order.
    let mut c = connect(s.port).unwrap();
    use std::io::Write;
    c.write_all(&getrandom).unwrap();
    assert_eq!(response_code(&read_response(&mut c).unwrap()), Some(0));
    c.write_all(&command(0x8001, 0x181, &[])).unwrap();
    assert_eq!(
        read_response(&mut c).unwrap().len(),
        35,
        "ReadClock on a reused connection"
    );
}

fn random_garbage_200(peer: Peer) {
    let mut s = started(&peer);
    // xorshift: reproducible, no extra dependency.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..200 {
        let len = 1 + (next() % 300) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 && len >= 10 {
            // Half of them look like TPM2 commands with a consistent size.
            bytes[..2].copy_from_slice(&0x8001u16.to_be_bytes());
            bytes[2..6].copy_from_slice(&(len as u32).to_be_bytes());
        }
        let resp = send_and_drain(s.port, &bytes).unwrap_or_else(|e| panic!("case {i}: {e}"));
        if !resp.is_empty() {
            assert!(resp.len() >= 10, "case {i}: {}", hex(&resp));
        }
    }
    assert!(
        s.try_wait().unwrap().is_none(),
        "{} died on random input: {}",
        peer.name(),
        s.output()
    );
    assert_serving(&s, "200 random inputs");
    must(&s, "tpm2_pcrread", &["sha256:0"]);
}

both!(malformed_commands, random_garbage_200);
