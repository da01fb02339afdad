//! Every /proc, /sys and mount-table file hale reads, with any content: the first byte picks
//! a file of the fixture tree, the rest replaces it, and one whole scrape of every host
//! collector runs and is encoded in both formats. A file that makes no sense is a failed
//! collector (`hale_scrape_collector_success 0`), never a panic.
#![no_main]

use std::sync::OnceLock;

const FILES: &[&str] = &[
    "proc/stat",
    "proc/meminfo",
    "proc/diskstats",
    "proc/net/dev",
    "proc/loadavg",
    "proc/vmstat",
    "proc/uptime",
    "proc/sys/fs/file-nr",
    "proc/1/mounts",
    "proc/4242/stat",
    "proc/4242/status",
    "proc/4242/limits",
    "proc/4242/cmdline",
    "sys/devices/system/clocksource/clocksource0/available_clocksource",
    "sys/devices/system/clocksource/clocksource0/current_clocksource",
    "proc/sys/kernel/random/entropy_avail",
    "proc/sys/kernel/random/poolsize",
    "proc/pressure/cpu",
    "proc/pressure/io",
    "proc/pressure/memory",
    "proc/sys/net/netfilter/nf_conntrack_count",
    "proc/sys/net/netfilter/nf_conntrack_max",
    "proc/net/stat/nf_conntrack",
    "rootfs/usr/lib/os-release",
    "proc/net/sockstat",
    "proc/net/sockstat6",
    "proc/net/netstat",
    "proc/net/snmp",
    "proc/net/snmp6",
    "proc/net/softnet_stat",
    "sys/class/net/eth0/statistics/rx_nohandler",
    "proc/cpuinfo",
    "udev/data/b259:0",
    "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count",
    "textfile/backup.prom",
    "proc/mdstat",
    "sys/class/net/eth0/speed",
    "sys/class/net/eth0/flags",
    "proc/net/arp",
    "proc/net/udp",
    "proc/schedstat",
    "proc/net/rpc/nfs",
    "proc/net/rpc/nfsd",
    "sys/fs/xfs/sda1/stats/stats",
    "proc/spl/kstat/zfs/arcstats",
    "proc/spl/kstat/zfs/pool1/io",
    "proc/spl/kstat/zfs/pool1/objset-1",
    "proc/net/ip_vs",
    "proc/net/ip_vs_stats",
    "sys/fs/bcache/deaddd54-c735-46d5-868e-f331c5fd7c74/bdev0/writeback_rate_debug",
    "sys/fs/bcache/deaddd54-c735-46d5-868e-f331c5fd7c74/bdev0/dirty_data",
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static STATE: OnceLock<std::sync::Arc<hale::server::AppState>> = OnceLock::new();
    let Some((&pick, content)) = data.split_first() else {
        return;
    };
    let tree = hale_fuzz::fixtures();
    let state = STATE.get_or_init(|| {
        let config_path = tree.join("config.yml");
        let config = hale::config::Config::load(&config_path).expect("fixture config");
        let args = hale_fuzz::args(&[
            "--no-collector.health",
            "--no-collector.heal",
            // The optional readers too.
            "--collector.cpu.info",
            "--collector.cpu.info.flags-include=.",
            "--collector.stat.softirq",
            &format!(
                "--collector.textfile.directory={}",
                tree.join("textfile").display()
            ),
        ]);
        let (cli, matches) = hale::cli::try_parse_from(&args).expect("flags");
        let options = hale::cli::Options::from_cli(&cli, &matches, &config).expect("options");
        let web = std::sync::Arc::new(hale::web::security::Web::open());
        // Only the scraper is used: the health model's tasks are not run.
        hale::app::build(&options, &config, web).expect("app").state
    });
    let scraper = &state.scraper;
    let file = tree.join(FILES[usize::from(pick) % FILES.len()]);
    let original = std::fs::read(&file).expect("fixture file");
    std::fs::write(&file, content).expect("write fixture");
    let collected = hale_fuzz::runtime().block_on(scraper.scrape(None));
    for format in [
        hale::exposition::Format::OpenMetrics,
        hale::exposition::Format::Text004,
    ] {
        let _ = hale::exposition::encode(&collected, format);
    }
    std::fs::write(&file, original).expect("restore fixture");
});
