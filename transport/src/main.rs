//! The `vtpm` command: a drop-in for `swtpm socket`, and an mssim-protocol server.
fn main() {
    std::process::exit(vtpm_transport::run(std::env::args_os().skip(1).collect()));
}
