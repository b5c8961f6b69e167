//! `ahws-baseline`: bare tokio-tungstenite servers (echo, fan-out) for `ahws bench`.
//! See [`ahws::bench::baseline`].

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let args = ahws::bench::baseline::BaselineArgs::parse();
    ahws::bench::baseline::main(args)
}
