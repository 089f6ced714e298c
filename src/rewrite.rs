//! Applying a plan to the untyped compose tree. Only what the plan names is touched;
//! every other key, `x-` extension, tag and `${VAR}` text passes through in its order.

use crate::yaml::{Mapping, Value};

use crate::labels;
use crate::plan::{Attachment, NetworkPlan, Plan, Role, ServicePlan, Target};
use crate::yaml::{insert_at, key, scalar_string, untag_mut};

/// The fenced document. `doc` is the unfenced input the plan was made from.
/// In tenant mode the plan's closed document stands in for `doc`.
pub fn apply(plan: &Plan, doc: &Value) -> Value {
    apply_owned(plan, plan.closed.as_ref().unwrap_or(doc).clone())
}

/// [`apply`] on a document the caller no longer needs: no copy of the tree.
pub fn apply_owned(plan: &Plan, doc: Value) -> Value {
    let doc = match &plan.closed {
        Some(closed) => closed.clone(),
        None => doc,
    };
    apply_to(plan, doc)
}

fn apply_to(plan: &Plan, mut doc: Value) -> Value {
    let Value::Mapping(top) = &mut doc else {
        return doc;
    };
    if plan.no_project_name {
        if plan.target == Target::Swarm {
            top.shift_remove("name");
        }
    } else {
        insert_at(top, 0, key("name"), key(&plan.project_name));
    }
    apply_services(plan, top);
    if plan.networks.iter().any(|n| n.role != Role::External) {
        apply_networks(plan, top);
    }
    apply_volumes(plan, top);

    let record = plan.record().into_value();
    let ext = top
        .entry(key("x-netfence"))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if !ext.is_mapping() {
        *ext = Value::Mapping(Mapping::new());
    }
    if let Some(m) = ext.as_mapping_mut() {
        m.insert(key("fenced"), record);
    }
    doc
}

/// A slot to edit as a mapping: a null one (`web:` with nothing under it) becomes empty.
fn mapping_slot(slot: &mut Value) -> Option<&mut Mapping> {
    if slot.is_null() {
        *slot = Value::Mapping(Mapping::new());
    }
    untag_mut(slot).as_mapping_mut()
}

fn apply_services(plan: &Plan, top: &mut Mapping) {
    let Some(Value::Mapping(services)) = top.get_mut("services").map(untag_mut) else {
        return;
    };
    for sp in &plan.services {
        if let Some(svc) = services.get_mut(sp.name.as_str()).and_then(mapping_slot) {
            apply_service(plan, sp, svc);
        }
    }
}

fn apply_networks(plan: &Plan, top: &mut Mapping) {
    if !top.contains_key("networks") {
        // Before an `x-netfence:` key, where the record will be: the same place
        // whether or not the input already carried one.
        let at = top
            .keys()
            .position(|k| k.as_str() == Some("x-netfence"))
            .unwrap_or(top.len());
        insert_at(top, at, key("networks"), Value::Mapping(Mapping::new()));
    }
    let nets = top
        .entry(key("networks"))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    let Some(nets) = mapping_slot(nets) else {
        return;
    };
    for np in &plan.networks {
        match np.role {
            Role::External => {}
            Role::Managed => {
                let slot = nets
                    .entry(key(&np.key))
                    .or_insert_with(|| Value::Mapping(Mapping::new()));
                if let Some(m) = mapping_slot(slot) {
                    apply_network(plan, np, m);
                }
            }
            // A proxy network the file already declares (external) stays as written.
            _ if nets.contains_key(np.key.as_str()) => {}
            _ => {
                let mut m = Mapping::new();
                m.insert(key("name"), key(&np.name));
                m.insert(key("external"), Value::from(true));
                nets.insert(key(&np.key), Value::Mapping(m));
            }
        }
    }
}

fn apply_volumes(plan: &Plan, top: &mut Mapping) {
    let Some(Value::Mapping(vols)) = top.get_mut("volumes").map(untag_mut) else {
        return;
    };
    for vp in &plan.volumes {
        let Some(m) = vols.get_mut(vp.key.as_str()).and_then(mapping_slot) else {
            continue;
        };
        if vp.dropped_name.is_some() {
            m.shift_remove("name");
        }
        for (k, v) in &vp.labels {
            labels::set(m, "labels", k, v);
        }
    }
}

fn apply_service(plan: &Plan, sp: &ServicePlan, svc: &mut Mapping) {
    if sp.container_name.is_some() {
        svc.shift_remove("container_name");
    }
    if !sp.ports.is_empty() {
        if let Some(Value::Sequence(list)) = svc.get_mut("ports").map(untag_mut) {
            for p in list.iter_mut() {
                if let Some(c) = sp.ports.iter().find(|c| c.before == *p) {
                    *p = c.after.clone();
                }
            }
        }
    }
    for r in &sp.proxy_renames {
        labels::rename_in_service(svc, &r.from, &r.to, &r.value);
    }
    if let Some(image) = &sp.image {
        let at = svc.get_index_of("build").unwrap_or(svc.len());
        crate::yaml::insert_at(svc, at, key("image"), Value::from(image.as_str()));
    }
    if plan.target == Target::Swarm {
        move_proxy_labels_to_deploy(svc);
    }
    let proxy_labels_in = |l: Option<&Value>| {
        labels::entries(l)
            .iter()
            .any(|(k, _)| k.starts_with("traefik.") || k.starts_with("caddy"))
    };
    // Outside Swarm only a container's own labels reach the proxy: the network goes
    // where the file keeps its proxy labels, and beside any it keeps there.
    let deploy_only = !proxy_labels_in(svc.get("labels"))
        && proxy_labels_in(svc.get("deploy").and_then(|d| d.get("labels")));
    for (label, value) in &sp.proxy_labels {
        let in_deploy =
            plan.target == Target::Swarm || (!has_label(svc.get("labels"), label) && deploy_only);
        if in_deploy {
            let deploy = svc
                .entry(key("deploy"))
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            if deploy.is_null() {
                *deploy = Value::Mapping(Mapping::new());
            }
            if let Some(d) = untag_mut(deploy).as_mapping_mut() {
                labels::set(d, "labels", label, value);
                if label == crate::proxy_labels::TRAEFIK_SWARM_NETWORK {
                    // Traefik v3 refuses a service that carries both.
                    labels::remove_where(d, "labels", |k| {
                        k == crate::proxy_labels::TRAEFIK_DOCKER_NETWORK
                    });
                }
            }
        } else {
            labels::set(svc, "labels", label, value);
        }
    }
    // One value per proxy label wherever the service carries it: a stale one left in the
    // other place would route the proxy elsewhere once the file is deployed the other way.
    for (label, value) in &sp.proxy_labels {
        set_where_present(svc, label, value);
    }
    // netfence's own labels are netfence's to set: a file's in `deploy.labels` go.
    if let Some(d) = svc
        .get_mut("deploy")
        .map(untag_mut)
        .and_then(Value::as_mapping_mut)
    {
        labels::remove_where(d, "labels", |k| k.starts_with(labels::PREFIX));
    }
    // Policy labels go on services too, so a platform can find its own containers.
    for (k, v) in &plan.labels {
        labels::set(svc, "labels", k, v);
    }
    // Ownership labels last: unfencing removes them, so a second pass appends them at
    // the same place again and the output stays byte-identical.
    for (k, v) in &plan.ownership {
        labels::set(svc, "labels", k, v);
    }
    // After the labels: a `networks:` key netfence adds is removed again by unfencing,
    // so it must come after anything that stays, for a byte-identical second pass.
    if sp.rewrite_networks {
        let written = svc.get("networks").cloned();
        let value = networks_value(&sp.attachments, written.as_ref());
        match svc.get_mut("networks") {
            Some(slot) => *slot = value,
            None => {
                svc.insert(key("networks"), value);
            }
        }
    }
}

/// Traefik's and caddy's Swarm providers read the service's labels (`deploy.labels`),
/// not the container's: in Swarm output the proxy labels move there.
fn move_proxy_labels_to_deploy(svc: &mut Mapping) {
    let moving: Vec<(String, String)> = labels::entries(svc.get("labels"))
        .into_iter()
        .filter(|(k, _)| crate::proxy_labels::is_proxy_label(k))
        .collect();
    if moving.is_empty() {
        return;
    }
    labels::remove_where(svc, "labels", crate::proxy_labels::is_proxy_label);
    let deploy = svc
        .entry(key("deploy"))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if deploy.is_null() {
        *deploy = Value::Mapping(Mapping::new());
    }
    if let Some(d) = untag_mut(deploy).as_mapping_mut() {
        for (k, v) in moving {
            labels::set(d, "labels", &k, &v);
        }
    }
}

/// Sets `label` in the service's labels and in `deploy.labels`, each only where it is.
fn set_where_present(svc: &mut Mapping, label: &str, value: &str) {
    if has_label(svc.get("labels"), label) {
        labels::set(svc, "labels", label, value);
    }
    if let Some(d) = svc
        .get_mut("deploy")
        .map(untag_mut)
        .and_then(Value::as_mapping_mut)
    {
        if has_label(d.get("labels"), label) {
            labels::set(d, "labels", label, value);
        }
    }
}

fn has_label(l: Option<&Value>, name: &str) -> bool {
    labels::get(l, name).is_some()
}

/// The service's `networks:` value: list form kept when nothing needs a mapping.
fn networks_value(attachments: &[Attachment], written: Option<&Value>) -> Value {
    let written_map = written.map(crate::yaml::untag).and_then(Value::as_mapping);
    let needs_map = written_map.is_some()
        || attachments.iter().any(|a| {
            !a.aliases.is_empty()
                || a.ipv4_address.is_some()
                || a.ipv6_address.is_some()
                || a.gw_priority.is_some()
        });
    if !needs_map {
        return Value::Sequence(attachments.iter().map(|a| key(&a.network)).collect());
    }
    let mut out = Mapping::new();
    for a in attachments {
        let original = written_map
            .and_then(|m| m.get(a.network.as_str()))
            .map(crate::yaml::untag)
            .and_then(Value::as_mapping)
            .cloned();
        let untouched = original.is_none()
            && a.aliases.is_empty()
            && a.ipv4_address.is_none()
            && a.ipv6_address.is_none()
            && a.gw_priority.is_none();
        if untouched {
            let was_null =
                written_map.is_some_and(|m| m.get(a.network.as_str()).is_some_and(Value::is_null));
            out.insert(
                key(&a.network),
                if was_null {
                    Value::null()
                } else {
                    Value::Mapping(Mapping::new())
                },
            );
            continue;
        }
        let mut cfg = original.unwrap_or_default();
        if a.aliases.is_empty() {
            cfg.shift_remove("aliases");
        } else {
            cfg.insert(
                key("aliases"),
                Value::Sequence(a.aliases.iter().map(|s| key(s)).collect()),
            );
        }
        for (field, v) in [
            ("ipv4_address", &a.ipv4_address),
            ("ipv6_address", &a.ipv6_address),
        ] {
            match v {
                Some(addr) => {
                    cfg.insert(key(field), key(addr));
                }
                None => {
                    cfg.shift_remove(field);
                }
            }
        }
        match a.gw_priority {
            Some(p) => {
                cfg.insert(key("gw_priority"), Value::from(p));
            }
            None => {
                cfg.shift_remove("gw_priority");
            }
        }
        out.insert(key(&a.network), Value::Mapping(cfg));
    }
    Value::Mapping(out)
}

fn apply_network(plan: &Plan, np: &NetworkPlan, m: &mut Mapping) {
    if plan.managed_external {
        // `run` creates the network itself; Compose must only attach to it.
        m.clear();
        m.insert(key("name"), key(&np.name));
        m.insert(key("external"), Value::from(true));
        return;
    }
    insert_at(m, 0, key("name"), key(&np.name));
    if let Some(d) = &np.driver {
        m.insert(key("driver"), key(d));
    }
    let set_flag = |m: &mut Mapping, field: &str, on: bool| {
        if on {
            m.insert(key(field), Value::from(true));
        } else if m.get(field).is_some() {
            m.insert(key(field), Value::from(false));
        }
    };
    set_flag(m, "internal", np.internal);
    set_flag(m, "attachable", np.attachable);
    set_flag(m, "enable_ipv6", np.enable_ipv6);
    if !np.driver_opts.is_empty() {
        let opts = m
            .entry(key("driver_opts"))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if let Some(o) = untag_mut(opts).as_mapping_mut() {
            for (k, v) in &np.driver_opts {
                o.insert(key(k), key(v));
            }
        }
    }
    apply_ipam(plan, np, m);
    // Labels last, for the same byte-identical second pass as services.
    for (k, v) in &np.labels {
        labels::set(m, "labels", k, v);
    }
}

fn apply_ipam(plan: &Plan, np: &NetworkPlan, m: &mut Mapping) {
    let Some(ipam) = m
        .entry(key("ipam"))
        .or_insert_with(|| Value::Mapping(Mapping::new()))
        .as_mapping_mut()
    else {
        return;
    };
    let existing: Vec<Value> = ipam
        .get("config")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let is_v6 = |e: &Value| {
        e.get("subnet")
            .and_then(scalar_string)
            .and_then(|s| s.parse::<ipnet::IpNet>().ok())
            .is_some_and(|n| n.addr().is_ipv6())
    };
    let mut out = Vec::new();
    for (v6, target) in [(false, np.subnet), (true, np.subnet6)] {
        let entries: Vec<&Value> = existing.iter().filter(|e| is_v6(e) == v6).collect();
        let unchanged = match (
            target,
            entries
                .first()
                .and_then(|e| e.get("subnet"))
                .and_then(scalar_string),
        ) {
            (Some(t), Some(s)) => s == t.to_string(),
            (None, _) => plan.scope.is_env(),
            _ => false,
        };
        if unchanged {
            // Environments keep what they were given; so does a subnet that is already right.
            out.extend(entries.into_iter().cloned());
            continue;
        }
        match target {
            Some(net) => {
                // The first entry of the family is re-pointed; the rest described the
                // old, fixed layout.
                let mut e = entries
                    .first()
                    .and_then(|e| e.as_mapping())
                    .cloned()
                    .unwrap_or_default();
                e.insert(key("subnet"), key(&net.to_string()));
                e.shift_remove("ip_range");
                e.shift_remove("aux_addresses");
                match (v6, np.gateway) {
                    (false, Some(g)) => e.insert(key("gateway"), key(&g.to_string())),
                    _ => e.shift_remove("gateway"),
                };
                out.push(Value::Mapping(e));
            }
            None => {
                for e in entries {
                    let mut e = e.as_mapping().cloned().unwrap_or_default();
                    for f in ["subnet", "gateway", "ip_range", "aux_addresses"] {
                        e.shift_remove(f);
                    }
                    if !e.is_empty() {
                        out.push(Value::Mapping(e));
                    }
                }
            }
        }
    }
    if out.is_empty() {
        ipam.shift_remove("config");
    } else if out != existing {
        ipam.insert(key("config"), Value::Sequence(out));
    }
    if ipam.is_empty() {
        m.shift_remove("ipam");
    }
}
