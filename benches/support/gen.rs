//! A realistic compose file of any size, for benchmarks: every service has a fixed
//! `container_name`, a `${VAR:-n}` host port, two networks (one shared by all, one per group
//! of 50), labels and a named volume; one in ten is Traefik-public; the shared
//! network has a fixed `name:` and subnet. About 250 bytes per service, so 1,000 services
//! make a ~250 KB file. Deterministic: the same `n` gives the same bytes. Shared by
//! `benches/rewrite.rs` and `examples/gen_compose.rs` (`scripts/bench.sh`).

use std::fmt::Write;

/// Services per network group: a 1,000-service file has 20 group networks, a 5,000-service
/// one 100 (the built-in policy's `limits.max_networks` is 200).
const GROUP: usize = 50;

pub fn compose(services: usize) -> String {
    let mut s = String::with_capacity(services * 300 + 256);
    let groups = services.div_ceil(GROUP).max(1);
    s.push_str("name: bench\nservices:\n");
    for i in 0..services {
        let g = i / GROUP;
        let _ = write!(
            s,
            "  svc-{i:04}:
    image: example/app:1.4
    container_name: bench-svc-{i:04}
    ports:
      - \"${{SVC_{i:04}_PORT:-{port}}}:8080\"
    networks: [edge, group-{g:03}]
    labels:
      com.example.team: team-{team}
",
            port = 20000 + i,
            team = i % 7,
        );
        if i % 10 == 0 {
            let _ = write!(
                s,
                "      traefik.enable: \"true\"
      traefik.http.routers.svc-{i:04}.rule: Host(`svc-{i:04}.example.com`)
"
            );
        }
        let _ = write!(
            s,
            "    volumes:
      - data-{i:04}:/data
"
        );
    }
    s.push_str("networks:\n  edge:\n    name: bench-edge\n    ipam:\n      config:\n        - subnet: 172.30.0.0/16\n");
    for g in 0..groups {
        let _ = writeln!(s, "  group-{g:03}:\n    driver: bridge");
    }
    s.push_str("volumes:\n");
    for i in 0..services {
        let _ = writeln!(s, "  data-{i:04}: {{}}");
    }
    s
}
