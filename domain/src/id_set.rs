//! Commands that add ids to a set, or take them out, record only what
//! actually changes: a retried command then records nothing, and every
//! event in the log is news. Results are sorted and hold no duplicates.

use std::collections::BTreeSet;

/// The ids of `requested` that `held` does not have yet.
pub(crate) fn added(requested: Vec<String>, held: &BTreeSet<String>) -> Vec<String> {
    let requested: BTreeSet<String> = requested.into_iter().collect();
    requested
        .into_iter()
        .filter(|id| !held.contains(id))
        .collect()
}

/// The ids of `requested` that `held` has.
pub(crate) fn removed(requested: Vec<String>, held: &BTreeSet<String>) -> Vec<String> {
    let requested: BTreeSet<String> = requested.into_iter().collect();
    requested
        .into_iter()
        .filter(|id| held.contains(id))
        .collect()
}
