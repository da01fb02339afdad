//! The `--web.config.file` loader (exporter-toolkit's format).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = hale::web::config::WebConfigFile::parse(&text) {
        assert!(!e.is_empty());
    }
});
