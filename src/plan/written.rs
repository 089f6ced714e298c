//! The compose file as written, read once for every stage: its services and the networks
//! it declares (rule 3). Network keys with netfence's reserved prefix are refused, so the
//! networks netfence adds can never be mistaken for the user's.

use crate::yaml::Mapping;
use indexmap::IndexMap;

use crate::compose::{self, DEFAULT_NETWORK};
use crate::error::Result;
use crate::unfence::INJECTED_PREFIX;
use crate::yaml::scalar_string;

use super::ctx::Ctx;

pub(super) struct Written<'a> {
    pub services: IndexMap<String, &'a Mapping>,
    /// Top-level `networks:`, each declaration as a mapping (empty when written as null).
    pub networks: IndexMap<String, Mapping>,
    /// The keys a service or the policy may name: the declared ones and Compose's
    /// implicit `default`.
    pub network_keys: Vec<String>,
}

pub(super) fn read<'a>(ctx: &Ctx<'a>) -> Result<Written<'a>> {
    let doc = ctx.inputs.doc;
    let services: IndexMap<String, &Mapping> = compose::services_ref(doc).into_iter().collect();
    let networks: IndexMap<String, Mapping> = compose::section(doc, "networks")
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    Some((
                        scalar_string(k)?,
                        crate::yaml::untag(v)
                            .as_mapping()
                            .cloned()
                            .unwrap_or_default(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(k) = networks.keys().find(|k| k.starts_with(INJECTED_PREFIX)) {
        return Err(ctx.compose_err(format!(
            "network key `{k}` uses the prefix `{INJECTED_PREFIX}`, which netfence reserves for the networks it adds: rename it"
        )));
    }
    let mut network_keys: Vec<String> = networks.keys().cloned().collect();
    if !network_keys.iter().any(|k| k == DEFAULT_NETWORK) {
        network_keys.push(DEFAULT_NETWORK.to_owned());
    }
    Ok(Written {
        services,
        networks,
        network_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;

    #[test]
    fn a_network_key_with_the_reserved_prefix_is_refused() {
        let w = World::new("services: {web: {}}\nnetworks: {netfence-proxy: {}}", "");
        let e = w.run(|ctx| read(ctx).err()).unwrap().to_string();
        assert!(e.contains("`netfence-proxy`"), "{e}");
        assert!(e.contains("reserves"), "{e}");
    }

    #[test]
    fn the_implicit_default_is_a_valid_key_once() {
        let w = World::new("services: {web: {}}\nnetworks: {back: ~}", "");
        let keys = w.run(|ctx| read(ctx).unwrap().network_keys);
        assert_eq!(keys, ["back", "default"]);

        let w = World::new("services: {web: {}}\nnetworks: {default: {}, back: {}}", "");
        let keys = w.run(|ctx| read(ctx).unwrap().network_keys);
        assert_eq!(keys, ["default", "back"]);
    }
}
