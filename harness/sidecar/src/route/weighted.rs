//! Envoy's `weighted_clusters`: one cluster per request, chosen by weight.
//!
//! Envoy takes a random value, reduces it modulo the total weight, and walks
//! the clusters in order: the first whose cumulative weight exceeds the value
//! wins (`RouteEntryImplBase::pickWeightedCluster`). A weight of 0 therefore
//! never gets a request. The random value comes from the sidecar's seeded
//! stream, so a seed fixes every choice.

/// One entry of `weighted_clusters.clusters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterWeight {
    /// Cluster name.
    pub name: String,
    /// Relative weight (Istio: the destination's `weight`).
    pub weight: u32,
}

/// The cluster `random` selects, or `None` when the weights sum to 0.
pub fn pick_weighted(clusters: &[ClusterWeight], random: u64) -> Option<&str> {
    let total: u64 = clusters.iter().map(|c| u64::from(c.weight)).sum();
    if total == 0 {
        return None;
    }
    let selected = random % total;
    let mut end = 0u64;
    clusters.iter().find_map(|c| {
        end += u64::from(c.weight);
        (selected < end).then_some(c.name.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(name: &str, weight: u32) -> ClusterWeight {
        ClusterWeight {
            name: name.to_string(),
            weight,
        }
    }

    #[test]
    fn the_random_value_walks_cumulative_weights_in_order() {
        let c = [w("a", 25), w("b", 75)];
        assert_eq!(pick_weighted(&c, 0), Some("a"));
        assert_eq!(pick_weighted(&c, 24), Some("a"));
        assert_eq!(pick_weighted(&c, 25), Some("b"));
        assert_eq!(pick_weighted(&c, 99), Some("b"));
        assert_eq!(pick_weighted(&c, 100), Some("a"), "modulo the total");
    }

    #[test]
    fn weights_that_sum_to_zero_pick_nothing() {
        assert_eq!(pick_weighted(&[w("a", 0), w("b", 0)], 7), None);
        assert_eq!(pick_weighted(&[], 7), None);
    }

    proptest! {
        #[test]
        fn a_zero_weight_cluster_is_never_picked(
            weights in proptest::collection::vec(0u32..5, 1..6), random: u64,
        ) {
            let mut c: Vec<ClusterWeight> =
                weights.iter().enumerate().map(|(i, x)| w(&format!("c{i}"), *x)).collect();
            c.push(w("zero", 0));
            if let Some(name) = pick_weighted(&c, random) {
                prop_assert_ne!(name, "zero");
                let picked = c.iter().find(|x| x.name == name).unwrap();
                prop_assert!(picked.weight > 0);
            }
        }
    }
}
