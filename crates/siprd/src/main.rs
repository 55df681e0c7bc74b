//! The `siprd` command.

use siprd::cli::{self, Cli};
use siprd::server;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = match cli::parse(std::env::args().skip(1)) {
        Ok(Cli::Run(opts)) if opts.check_only => server::check(&opts),
        Ok(Cli::Run(opts)) => server::run(opts),
        Ok(Cli::Version) => {
            println!("siprd {} (Kamailio-compatible SIP server)", env!("CARGO_PKG_VERSION"));
            0
        }
        Ok(Cli::Help) => {
            print!("{}", cli::help_text());
            0
        }
        Ok(Cli::Ctl(opts)) => siprd::ctl::run(&opts),
        Err(e) => {
            eprintln!("{e}");
            2
        }
    };
    std::process::exit(code);
}
