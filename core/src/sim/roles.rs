//! Meshtastic roles in a simulated mesh: the best-connected nodes become routers.

use super::SimNode;
use super::config::SimConfig;
use crate::mesh::Strategy;

/// Indices of the `count` nodes with the most links at or above `sensitivity` (dBm),
/// lower index first among equals.
pub(super) fn best_connected(nodes: &[SimNode], sensitivity: f64, count: usize) -> Vec<usize> {
    let mut order: Vec<(usize, usize)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let degree = n
                .links
                .iter()
                .filter(|(_, p)| f64::from(*p) >= sensitivity)
                .count();
            (i, degree)
        })
        .collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    order.into_iter().take(count).map(|(i, _)| i).collect()
}

/// Give `cfg.routers` best-connected nodes `cfg.router_role` (managed only); the indices.
pub(super) fn assign(cfg: &SimConfig, nodes: &mut [SimNode], sensitivity: f64) -> Vec<usize> {
    if cfg.strategy != Strategy::Managed || cfg.routers == 0 {
        return Vec::new();
    }
    let chosen = best_connected(nodes, sensitivity, cfg.routers);
    for &i in &chosen {
        nodes[i].node.set_role(cfg.router_role);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use crate::mesh::{Role, Strategy};
    use crate::sim::{SimConfig, SimError, Simulator};

    fn cfg(strategy: Strategy, routers: usize, router_role: Role) -> SimConfig {
        SimConfig {
            nodes: 20,
            area_m: 5_000.0,
            messages: 5,
            seed: 3,
            strategy,
            crypto: false,
            routers,
            router_role,
            ..SimConfig::default()
        }
    }

    #[test]
    fn the_best_connected_nodes_become_routers_under_managed_only() {
        let r = Simulator::new(cfg(Strategy::Managed, 3, Role::Router))
            .unwrap()
            .run();
        assert_eq!(r.variant, "managed+routers");
        assert_eq!(r.routers.len(), 3);
        let degree = |i: usize| r.per_node[i].neighbours;
        let weakest_router = r.routers.iter().map(|&i| degree(i)).min().unwrap();
        for i in (0..20).filter(|i| !r.routers.contains(i)) {
            assert!(degree(i) <= weakest_router, "node {i} is better connected");
        }
        let late = Simulator::new(cfg(Strategy::Managed, 3, Role::RouterLate))
            .unwrap()
            .run();
        assert_eq!(late.variant, "managed+router_late");
        assert_eq!(late.routers, r.routers);
        let plain = Simulator::new(cfg(Strategy::Airswarm, 3, Role::Router))
            .unwrap()
            .run();
        assert_eq!(plain.variant, "airswarm");
        assert!(plain.routers.is_empty());
    }

    #[test]
    fn routers_must_be_routers_and_no_more_than_the_nodes() {
        assert!(matches!(
            cfg(Strategy::Managed, 21, Role::Router).validate(),
            Err(SimError::OverLimit {
                what: "routers",
                ..
            })
        ));
        assert_eq!(
            cfg(Strategy::Managed, 2, Role::ClientMute).validate(),
            Err(SimError::BadRouterRole(Role::ClientMute))
        );
    }
}
