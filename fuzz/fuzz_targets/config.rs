//! The config file loader (`hale check-config` and serve share it): any text is a config or
//! an error that names what is wrong, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = hale::config::Config::parse(&text, std::path::Path::new("fuzz.yml")) {
        assert!(!e.to_string().is_empty());
    }
});
