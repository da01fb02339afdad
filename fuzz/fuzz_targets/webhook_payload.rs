//! The webhook payload decoder, and what the policy and the exec action make of every payload
//! it accepts: decisions under a rule set like the README's, and each executed alert's
//! environment. None of it may panic.
#![no_main]

use std::sync::OnceLock;

use hale::heal::payload::Notification;
use hale::heal::policy::{HealConfig, Offline};

const RULES: &str = "
cooldown: 5m
rules:
  - name: restart-web
    match: {alertname: ContainerUnhealthy}
    match_re: {severity: 'critical|warning'}
    action: restart
    allow: {names: ['web-*'], label: 'hale.heal=true'}
  - name: flush
    match_re: {alertname: '.+'}
    target_label: instance
    on: [firing, resolved]
    action: exec
    argv: [/bin/true]
";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static CONFIG: OnceLock<HealConfig> = OnceLock::new();
    let config = CONFIG.get_or_init(|| serde_saphyr::from_str(RULES).expect("rules"));
    let Ok(n) = Notification::decode(data) else {
        return;
    };
    let Ok(plans) = config.decide(&config.rules, &n, 1.0e9, &Offline, &Offline) else {
        return;
    };
    for p in plans {
        let alert = &n.alerts[p.alert];
        let _ = hale::heal::exec::environment(&p.rule, &p.target, alert);
        let _ = p.decision().to_json();
    }
});
