//! What an Alertmanager peer answers in fleet mode (`heal.pull`): `/api/v2/status` and
//! `/api/v2/alerts` bodies, merged as the poller merges them, and matchers as the config
//! gives them.
#![no_main]

use hale::heal::pull::{api, matcher::Matcher, merge};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = api::decode_status(data);
    if let Ok(alerts) = api::decode_alerts(data) {
        let selectors = [Matcher::equal("hale_host", "h1")];
        let answers = [
            merge::Answer {
                peer: 0,
                alerts: &alerts,
            },
            merge::Answer {
                peer: 1,
                alerts: &alerts,
            },
        ];
        let merged = merge::merge(&answers, &selectors);
        let mut episodes = merge::Episodes::new(2);
        let firing = episodes.update(&merged, 1.0e9).firing;
        assert!(firing.len() <= alerts.len());
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(m) = Matcher::parse(&text) {
        // What hale sends Alertmanager parses back to the same matcher.
        let again = Matcher::parse(&m.to_string()).expect("a printed matcher parses");
        assert_eq!(again.to_string(), m.to_string());
    }
});
