//! Tamper evidence, the pure part: how an event's hash and a checkpoint's hash are computed.
//!
//! Each event's hash covers its canonical content and its stream predecessor's hash, so a
//! stream is a hash chain; appends to different streams never wait for each other. Signed
//! checkpoints over position ranges then bind the streams into one order (docs/decisions/
//! 0002-tamper-evidence.md explains the trade).

use sha2::{Digest, Sha256};

use crate::event::NewEvent;

/// The predecessor hash of a stream's first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// Every variable-length field is length-prefixed so that no two different events can
/// serialise to the same bytes (`"ab" + "c"` vs `"a" + "bc"`).
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

pub fn event_hash(previous: &[u8; 32], event: &NewEvent) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"sigil.event.v1");
    field(&mut h, event.aggregate_type.as_bytes());
    field(&mut h, event.aggregate_id.as_bytes());
    h.update(event.sequence.to_be_bytes());
    field(&mut h, event.event_type.as_bytes());
    field(&mut h, event.event_version.as_bytes());
    field(&mut h, event.payload.as_bytes());
    field(&mut h, event.metadata.as_bytes());
    h.update(event.occurred_at.to_be_bytes());
    h.update(previous);
    h.finalize().into()
}

/// A running digest over `(position, event hash)` pairs of a position range, in order:
/// it changes if any event in the range is added, removed, edited or moved.
#[derive(Clone)]
pub struct RangeDigest {
    hasher: Sha256,
    pub count: i64,
}

impl Default for RangeDigest {
    fn default() -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"sigil.range.v1");
        RangeDigest { hasher, count: 0 }
    }
}

impl RangeDigest {
    pub fn push(&mut self, position: i64, hash: &[u8; 32]) {
        self.hasher.update(position.to_be_bytes());
        self.hasher.update(hash);
        self.count += 1;
    }

    pub fn finish(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

/// The fields of a checkpoint that its hash (and so its signature) covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointBody {
    pub number: i64,
    pub after_position: i64,
    pub through_position: i64,
    pub event_count: i64,
    pub range_digest: [u8; 32],
    pub previous_hash: [u8; 32],
}

impl CheckpointBody {
    pub fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"sigil.checkpoint.v1");
        h.update(self.number.to_be_bytes());
        h.update(self.after_position.to_be_bytes());
        h.update(self.through_position.to_be_bytes());
        h.update(self.event_count.to_be_bytes());
        h.update(self.range_digest);
        h.update(self.previous_hash);
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewEvent {
        NewEvent {
            aggregate_type: "user".into(),
            aggregate_id: "u1".into(),
            sequence: 1,
            event_type: "UserRegistered".into(),
            event_version: "1.0".into(),
            payload: r#"{"a":1}"#.into(),
            metadata: "{}".into(),
            occurred_at: 1_700_000_000_000_000,
        }
    }

    #[test]
    fn every_field_and_the_predecessor_change_the_hash() {
        let base = event_hash(&GENESIS, &sample());
        type Change = Box<dyn Fn(&mut NewEvent)>;
        let variants: Vec<Change> = vec![
            Box::new(|e| e.aggregate_type = "users".into()),
            Box::new(|e| e.aggregate_id = "u2".into()),
            Box::new(|e| e.sequence = 2),
            Box::new(|e| e.event_type = "UserUpdated".into()),
            Box::new(|e| e.event_version = "1.1".into()),
            Box::new(|e| e.payload = r#"{"a":2}"#.into()),
            Box::new(|e| e.metadata = r#"{"actor":"x"}"#.into()),
            Box::new(|e| e.occurred_at += 1),
        ];
        for change in variants {
            let mut e = sample();
            change(&mut e);
            assert_ne!(event_hash(&GENESIS, &e), base);
        }
        assert_ne!(event_hash(&[1; 32], &sample()), base);
    }

    #[test]
    fn length_prefixes_keep_field_boundaries() {
        let mut a = sample();
        a.aggregate_type = "ab".into();
        a.aggregate_id = "c".into();
        let mut b = sample();
        b.aggregate_type = "a".into();
        b.aggregate_id = "bc".into();
        assert_ne!(event_hash(&GENESIS, &a), event_hash(&GENESIS, &b));
    }

    #[test]
    fn range_digest_depends_on_order_and_positions() {
        let mut one = RangeDigest::default();
        one.push(1, &[1; 32]);
        one.push(2, &[2; 32]);
        let mut swapped = RangeDigest::default();
        swapped.push(1, &[2; 32]);
        swapped.push(2, &[1; 32]);
        let mut moved = RangeDigest::default();
        moved.push(1, &[1; 32]);
        moved.push(3, &[2; 32]);
        let one = one.finish();
        assert_ne!(one, swapped.finish());
        assert_ne!(one, moved.finish());
    }
}
