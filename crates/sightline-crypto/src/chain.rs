//! The audit trail's hash chain: each record's hash is SHA-256(previous
//! hash ‖ canonical record). Verification names the first broken link, so an
//! edited, deleted, inserted or reordered record is found and located.
//! Cutting records off the end leaves a valid shorter chain: that is what
//! the chain head written outside the database (CloudWatch Logs) is for.

use sha2::{Digest, Sha256};

/// The previous hash of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored link: its canonical record and the hashes stored beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub sequence: i64,
    pub canonical: String,
    pub previous_hash: String,
    pub hash: String,
}

/// `hash = SHA-256(previous_hash ‖ canonical)`, hex.
pub fn link_hash(previous_hash: &str, canonical: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(previous_hash.as_bytes());
    digest.update(canonical.as_bytes());
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokenLink {
    #[error("record {sequence}: its content does not match its hash (edited)")]
    Edited { sequence: i64 },
    #[error("record {sequence}: its previous hash is not the hash of the record before it (a record was deleted, inserted or moved)")]
    Unlinked { sequence: i64 },
    #[error(
        "record {sequence}: expected sequence {expected} (a record was deleted, inserted or moved)"
    )]
    Sequence { sequence: i64, expected: i64 },
}

/// Check a chain from its first record, in sequence order.
pub fn verify(links: &[Link]) -> Result<(), BrokenLink> {
    let mut previous = GENESIS.to_owned();
    let first = links.first().map(|l| l.sequence).unwrap_or(1);
    for (expected_sequence, link) in (first..).zip(links) {
        if link.sequence != expected_sequence {
            return Err(BrokenLink::Sequence {
                sequence: link.sequence,
                expected: expected_sequence,
            });
        }
        if link.previous_hash != previous {
            return Err(BrokenLink::Unlinked {
                sequence: link.sequence,
            });
        }
        if link_hash(&link.previous_hash, &link.canonical) != link.hash {
            return Err(BrokenLink::Edited {
                sequence: link.sequence,
            });
        }
        previous.clone_from(&link.hash);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(records: &[&str]) -> Vec<Link> {
        let mut previous = GENESIS.to_owned();
        records
            .iter()
            .enumerate()
            .map(|(i, canonical)| {
                let hash = link_hash(&previous, canonical);
                let link = Link {
                    sequence: i as i64 + 1,
                    canonical: (*canonical).to_owned(),
                    previous_hash: previous.clone(),
                    hash: hash.clone(),
                };
                previous = hash;
                link
            })
            .collect()
    }

    const RECORDS: [&str; 4] = [
        r#"{"action":"sign_in","actor":"alice"}"#,
        r#"{"action":"role_change","actor":"alice","target":"bob"}"#,
        r#"{"action":"approve","actor":"bob","target":"finding-1"}"#,
        r#"{"action":"export","actor":"alice"}"#,
    ];

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(&RECORDS)), Ok(()));
    }

    #[test]
    fn each_kind_of_tampering_is_found_at_its_record() {
        let mut edited = chain(&RECORDS);
        edited[1].canonical = edited[1].canonical.replace("bob", "mallory");
        assert_eq!(verify(&edited), Err(BrokenLink::Edited { sequence: 2 }));

        let mut deleted = chain(&RECORDS);
        deleted.remove(2);
        assert_eq!(
            verify(&deleted),
            Err(BrokenLink::Sequence {
                sequence: 4,
                expected: 3
            })
        );

        // A deletion whose gap was renumbered is still caught by the link.
        let mut renumbered = deleted.clone();
        renumbered[2].sequence = 3;
        assert_eq!(
            verify(&renumbered),
            Err(BrokenLink::Unlinked { sequence: 3 })
        );

        let mut inserted = chain(&RECORDS);
        let forged = Link {
            sequence: 3,
            canonical: "{}".into(),
            previous_hash: inserted[1].hash.clone(),
            hash: link_hash(&inserted[1].hash, "{}"),
        };
        inserted.insert(2, forged);
        for (i, link) in inserted.iter_mut().enumerate() {
            link.sequence = i as i64 + 1;
        }
        assert_eq!(verify(&inserted), Err(BrokenLink::Unlinked { sequence: 4 }));

        let mut reordered = chain(&RECORDS);
        reordered.swap(1, 2);
        reordered[1].sequence = 2;
        reordered[2].sequence = 3;
        assert_eq!(
            verify(&reordered),
            Err(BrokenLink::Unlinked { sequence: 2 })
        );
    }
}
