//! `ahws-baseline`: bare tokio-tungstenite servers (echo, fan-out) for `ahws bench`.
//! See [`actionhero_ws_tokio::bench::baseline`].

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let args = actionhero_ws_tokio::bench::baseline::BaselineArgs::parse();
    actionhero_ws_tokio::bench::baseline::main(args)
}
