//! `infra-server`: see `infra-server --help` and the crate docs of `infra_server`.

use std::process::ExitCode;

fn main() -> ExitCode {
    infra_server::cli::main()
}
