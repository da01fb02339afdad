//! `GET /heal/events`' query string parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = hale::heal::decision::Filter::from_query(&text) {
        assert!(!e.is_empty());
    }
});
