//! Every key of the schema is documented in `docs/config.md`: a key added
//! to a table without a word in the reference fails here.

use crate::config::file::keys;
use crate::config::vip_file::keys as vip_keys;

const REFERENCE: &str = include_str!("../../../docs/config.md");

#[test]
fn every_config_key_is_in_the_reference() {
    let tables: [(&str, &[&str]); 10] = [
        ("[global]", keys::GLOBAL),
        ("[[listener]]", keys::LISTENER),
        ("[listener.tls]", keys::LISTENER_TLS),
        ("certificates", keys::CERT),
        ("[[listener.sni]]", keys::SNI),
        ("[[listener.route]]", keys::ROUTE),
        ("[[pool]]", keys::POOL),
        ("[pool.tls]", keys::POOL_TLS),
        ("[engine]", vip_keys::ENGINE),
        ("[[vip]]", vip_keys::VIP),
    ];
    let missing: Vec<String> = tables
        .iter()
        .flat_map(|(table, list)| list.iter().map(move |k| (table, k)))
        .filter(|(_, k)| {
            // A row or a mention (`key`), or a sub-table (`[[listener.route]]`).
            !REFERENCE.contains(&format!("`{k}`")) && !REFERENCE.contains(&format!(".{k}]"))
        })
        .map(|(table, k)| format!("{table} {k}"))
        .collect();
    assert!(
        missing.is_empty(),
        "keys docs/config.md does not mention: {missing:?}"
    );
}
