//! A profiling harness: N scrapes and encodings of hale's collectors on this host, in process,
//! without HTTP, so a profiler (`valgrind --tool=callgrind`) sees where a scrape's CPU goes.
//!
//!   cargo build --release --example scrape_loop
//!   valgrind --tool=callgrind target/release/examples/scrape_loop 200 -- --collector.disable-defaults --collector.cpu ...
//!
//! The arguments after `--` are hale's flags.

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let flags: Vec<String> = std::iter::once("hale".to_string())
        .chain(args.skip_while(|a| a != "--").skip(1))
        .chain([
            "--no-collector.docker".into(),
            "--no-collector.health".into(),
            "--no-collector.heal".into(),
        ])
        .collect();
    let (cli, matches) = hale::cli::try_parse_from(&flags).expect("flags");
    let config = hale::config::Config::default();
    let options = hale::cli::Options::from_cli(&cli, &matches, &config).expect("options");
    let web = std::sync::Arc::new(hale::web::security::Web::open());
    let state = hale::app::build(&options, &config, web).expect("app").state;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut bytes = 0;
    let start = std::time::Instant::now();
    for _ in 0..n {
        let collected = runtime.block_on(state.scraper.scrape(None));
        bytes += hale::exposition::encode(&collected, hale::exposition::Format::Text004).len();
    }
    eprintln!(
        "{n} scrapes, {} bytes each, {:?} each",
        bytes / n.max(1),
        start.elapsed() / n.max(1) as u32
    );
}
