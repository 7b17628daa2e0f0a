//! A refresh token family: the first refresh token issued from one authorization and every
//! successor it was rotated into. The family decides rotation (seed 003: rotate when 70% of
//! the TTL has passed, or always for public clients), sliding expiry (not for SPAs), and
//! reuse: a rotated-out token presented again revokes the whole family (RFC 9700 §4.14.2),
//! unless it comes back within the application's grace window, when it is a concurrent
//! refresh from another tab and gets the same successor.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::session::is_sha256_hex;

/// Rotation stops after a year of rotating (seed 003).
const MAX_ROTATING_SECS: i64 = 365 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartFamily {
    pub client_id: String,
    pub user_id: String,
    pub scope: Vec<String>,
    pub token_digest: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub auth_time: i64,
    pub access_token_id: String,
    /// When that access token expires; absent in families started before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expires_at: Option<i64>,
    /// The resource indicators (RFC 8707) of the grant; a refresh may ask for any of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

/// The application's refresh-token settings, as they stand when the token is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationPolicy {
    /// Public clients (SPA, native) and types without the switch always rotate.
    pub always_rotate: bool,
    pub rotate_enabled: bool,
    pub ttl_secs: i64,
    /// Non-SPA applications slide the expiry to now + TTL on each use.
    pub extend_on_use: bool,
    pub grace_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RefreshTokenCommand {
    Start(StartFamily),
    Use {
        presented_digest: String,
        client_id: String,
        now: i64,
        policy: RotationPolicy,
        /// Digest of the successor the api would hand out if this use rotates.
        successor_digest: String,
        access_token_id: String,
        /// When that access token would expire, if the api knows (it does unless the
        /// refresh is refused anyway).
        access_token_expires_at: Option<i64>,
    },
    /// RFC 7009 by the holder.
    Revoke {
        client_id: String,
    },
    /// Something issued from the same authorization was replayed (a reused code).
    RevokeForReuse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RefreshTokenEvent {
    RefreshTokenIssued(StartFamily),
    RefreshTokenUsed {
        access_token_id: String,
        expires_at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_token_expires_at: Option<i64>,
    },
    RefreshTokenRotated {
        from_digest: String,
        to_digest: String,
        rotated_at: i64,
        expires_at: i64,
        access_token_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_token_expires_at: Option<i64>,
    },
    /// A concurrent refresh within the grace window: the same successor again.
    RefreshTokenRotationReplayed {
        presented_digest: String,
        access_token_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_token_expires_at: Option<i64>,
    },
    RefreshTokenReuseDetected {
        presented_digest: String,
        revoke_access_token_ids: Vec<String>,
    },
    RefreshTokenFamilyRevoked {
        revoke_access_token_ids: Vec<String>,
    },
}

impl DomainEvent for RefreshTokenEvent {
    fn event_type(&self) -> String {
        match self {
            Self::RefreshTokenIssued(_) => "RefreshTokenIssued",
            Self::RefreshTokenUsed { .. } => "RefreshTokenUsed",
            Self::RefreshTokenRotated { .. } => "RefreshTokenRotated",
            Self::RefreshTokenRotationReplayed { .. } => "RefreshTokenRotationReplayed",
            Self::RefreshTokenReuseDetected { .. } => "RefreshTokenReuseDetected",
            Self::RefreshTokenFamilyRevoked { .. } => "TokenRevoked",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshTokenError {
    #[error("the refresh token family already exists")]
    AlreadyStarted,
    #[error("token digests must be lowercase hex SHA-256")]
    InvalidDigest,
    #[error("the refresh token is not valid")]
    NotFound,
    #[error("the refresh token was issued to another client")]
    WrongClient,
    #[error("the refresh token has expired")]
    Expired,
    #[error("the refresh token was revoked")]
    Revoked,
}

/// The longest an access token lives (`ACCESS_TOKEN_TTL_SECS`): one that expired this long
/// before another was issued was dead when that one was issued.
const MAX_ACCESS_TOKEN_SECS: i64 = *crate::access_control::ACCESS_TOKEN_TTL_SECS.end() as i64;

/// The family's state stays the same size however long it rotates: a refresh clones it and
/// a revocation lists its access tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefreshTokenFamily {
    start: Option<StartFamily>,
    head: String,
    expires_at: i64,
    /// When the head was issued (start or last rotation).
    head_issued_at: i64,
    /// The head's predecessor and when it was rotated out: the only retired token that may
    /// come back as a concurrent refresh. Older ones are reuse; the caller found the family
    /// by the presented digest in the index of every digest the family issued.
    previous: Option<(String, i64)>,
    /// The access tokens issued from the family that may still be alive, with their expiry
    /// (`None` when issued before expiries were recorded, kept for good).
    access_tokens: Vec<(String, Option<i64>)>,
    revoked: bool,
}

impl RefreshTokenFamily {
    pub fn grant(&self) -> Option<&StartFamily> {
        self.start.as_ref()
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked
    }

    /// Whether `digest` is the family's current, live token: presenting it is a use, not a
    /// reuse.
    pub fn is_head(&self, digest: &str) -> bool {
        !self.revoked && self.start.is_some() && self.head == digest
    }

    /// The access tokens to revoke with the family: those it tracks, less any expired at
    /// `now` when the command knows the time.
    fn revoke_ids(&self, now: Option<i64>) -> Vec<String> {
        self.access_tokens
            .iter()
            .filter(|(_, expires_at)| match (expires_at, now) {
                (Some(e), Some(now)) => *e > now,
                _ => true,
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Records an access token issued from the family, forgetting those that had surely
    /// expired before it was issued.
    fn issued(&mut self, id: String, expires_at: Option<i64>) {
        if let Some(newest) = expires_at {
            self.access_tokens
                .retain(|(_, e)| e.is_none_or(|e| e > newest - MAX_ACCESS_TOKEN_SECS));
        }
        self.access_tokens.push((id, expires_at));
    }
}

impl Aggregate for RefreshTokenFamily {
    const TYPE: &'static str = "refresh_token_family";
    type Command = RefreshTokenCommand;
    type Event = RefreshTokenEvent;
    type Error = RefreshTokenError;
    type Services = ();

    async fn handle(
        &mut self,
        command: RefreshTokenCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), RefreshTokenError> {
        match command {
            RefreshTokenCommand::Start(start) => {
                if self.start.is_some() {
                    return Err(RefreshTokenError::AlreadyStarted);
                }
                // Revoked for a replayed code before it could start: stays revoked.
                if self.revoked {
                    return Err(RefreshTokenError::Revoked);
                }
                if !is_sha256_hex(&start.token_digest) {
                    return Err(RefreshTokenError::InvalidDigest);
                }
                sink.write(RefreshTokenEvent::RefreshTokenIssued(start), self)
                    .await;
            }
            RefreshTokenCommand::Use {
                presented_digest,
                client_id,
                now,
                policy,
                successor_digest,
                access_token_id,
                access_token_expires_at,
            } => {
                let Some(start) = &self.start else {
                    return Err(RefreshTokenError::NotFound);
                };
                if self.revoked {
                    return Err(RefreshTokenError::Revoked);
                }
                if start.client_id != client_id {
                    return Err(RefreshTokenError::WrongClient);
                }
                if !is_sha256_hex(&successor_digest) {
                    return Err(RefreshTokenError::InvalidDigest);
                }
                if presented_digest != self.head {
                    // Only the head's immediate predecessor can be a concurrent refresh, and
                    // only while the window lasts; the successor it would get is the head.
                    let concurrent = self.previous.as_ref().is_some_and(|(digest, at)| {
                        *digest == presented_digest
                            && now - at < policy.grace_secs
                            && successor_digest == self.head
                    });
                    let event = if concurrent {
                        RefreshTokenEvent::RefreshTokenRotationReplayed {
                            presented_digest,
                            access_token_id,
                            access_token_expires_at,
                        }
                    } else {
                        RefreshTokenEvent::RefreshTokenReuseDetected {
                            presented_digest,
                            revoke_access_token_ids: self.revoke_ids(Some(now)),
                        }
                    };
                    sink.write(event, self).await;
                    return Ok(());
                }
                if now >= self.expires_at {
                    return Err(RefreshTokenError::Expired);
                }
                let expires_at = if policy.extend_on_use {
                    now + policy.ttl_secs
                } else {
                    self.expires_at
                };
                let seventy_percent = now - self.head_issued_at >= policy.ttl_secs * 7 / 10;
                let still_rotating = now - start.issued_at < MAX_ROTATING_SECS;
                let rotate = policy.always_rotate
                    || (policy.rotate_enabled && still_rotating && seventy_percent);
                let event = if rotate {
                    RefreshTokenEvent::RefreshTokenRotated {
                        from_digest: presented_digest,
                        to_digest: successor_digest,
                        rotated_at: now,
                        expires_at,
                        access_token_id,
                        access_token_expires_at,
                    }
                } else {
                    RefreshTokenEvent::RefreshTokenUsed {
                        access_token_id,
                        expires_at,
                        access_token_expires_at,
                    }
                };
                sink.write(event, self).await;
            }
            RefreshTokenCommand::Revoke { client_id } => {
                let Some(start) = &self.start else {
                    return Err(RefreshTokenError::NotFound);
                };
                if start.client_id != client_id {
                    return Err(RefreshTokenError::WrongClient);
                }
                if !self.revoked {
                    let event = RefreshTokenEvent::RefreshTokenFamilyRevoked {
                        revoke_access_token_ids: self.revoke_ids(None),
                    };
                    sink.write(event, self).await;
                }
            }
            RefreshTokenCommand::RevokeForReuse => {
                // Also before the family has started (the code's first redemption may still be
                // issuing it): the start is then refused.
                if !self.revoked {
                    let event = RefreshTokenEvent::RefreshTokenFamilyRevoked {
                        revoke_access_token_ids: self.revoke_ids(None),
                    };
                    sink.write(event, self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: RefreshTokenEvent) {
        match event {
            RefreshTokenEvent::RefreshTokenIssued(start) => {
                self.head = start.token_digest.clone();
                self.expires_at = start.expires_at;
                self.head_issued_at = start.issued_at;
                self.issued(start.access_token_id.clone(), start.access_token_expires_at);
                self.start = Some(start);
            }
            RefreshTokenEvent::RefreshTokenUsed {
                access_token_id,
                expires_at,
                access_token_expires_at,
            } => {
                self.issued(access_token_id, access_token_expires_at);
                self.expires_at = expires_at;
            }
            RefreshTokenEvent::RefreshTokenRotated {
                from_digest,
                to_digest,
                rotated_at,
                expires_at,
                access_token_id,
                access_token_expires_at,
            } => {
                self.previous = Some((from_digest, rotated_at));
                self.head = to_digest;
                self.head_issued_at = rotated_at;
                self.expires_at = expires_at;
                self.issued(access_token_id, access_token_expires_at);
            }
            RefreshTokenEvent::RefreshTokenRotationReplayed {
                access_token_id,
                access_token_expires_at,
                ..
            } => self.issued(access_token_id, access_token_expires_at),
            RefreshTokenEvent::RefreshTokenReuseDetected { .. }
            | RefreshTokenEvent::RefreshTokenFamilyRevoked { .. } => self.revoked = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use RefreshTokenError as E;
    use RefreshTokenEvent as Ev;

    const DAY: i64 = 24 * 3600;

    fn d(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn start() -> StartFamily {
        StartFamily {
            client_id: "web".into(),
            user_id: "u".into(),
            scope: vec!["openid".into(), "offline_access".into()],
            token_digest: d('a'),
            issued_at: 0,
            expires_at: 14 * DAY,
            auth_time: 0,
            access_token_id: "at0".into(),
            access_token_expires_at: None,
            resources: vec![],
        }
    }

    fn policy(always_rotate: bool, extend_on_use: bool, grace_secs: i64) -> RotationPolicy {
        RotationPolicy {
            always_rotate,
            rotate_enabled: true,
            ttl_secs: 14 * DAY,
            extend_on_use,
            grace_secs,
        }
    }

    fn use_(presented: char, now: i64, p: RotationPolicy, successor: char) -> RefreshTokenCommand {
        RefreshTokenCommand::Use {
            presented_digest: d(presented),
            client_id: "web".into(),
            now,
            policy: p,
            successor_digest: d(successor),
            access_token_id: "at1".into(),
            access_token_expires_at: None,
        }
    }

    fn rotated(from: char, to: char, at: i64, expires_at: i64) -> Ev {
        Ev::RefreshTokenRotated {
            from_digest: d(from),
            to_digest: d(to),
            rotated_at: at,
            expires_at,
            access_token_id: "at1".into(),
            access_token_expires_at: None,
        }
    }

    fn given(events: Vec<Ev>) -> cqrs_es::test::AggregateTestExecutor<RefreshTokenFamily> {
        TestFramework::<RefreshTokenFamily>::with(()).given(events)
    }

    #[test]
    fn a_family_starts_once_with_a_digest() {
        given(vec![])
            .when(RefreshTokenCommand::Start(start()))
            .then_expect_events(vec![Ev::RefreshTokenIssued(start())]);
        given(vec![Ev::RefreshTokenIssued(start())])
            .when(RefreshTokenCommand::Start(start()))
            .then_expect_error(E::AlreadyStarted);
        given(vec![])
            .when(RefreshTokenCommand::Start(StartFamily {
                token_digest: "rt-in-clear".into(),
                ..start()
            }))
            .then_expect_error(E::InvalidDigest);
    }

    #[test]
    fn confidential_clients_rotate_after_seventy_percent_of_the_ttl_and_slide_expiry() {
        // Day 1: too early to rotate; the expiry slides to now + TTL.
        given(vec![Ev::RefreshTokenIssued(start())])
            .when(use_('a', DAY, policy(false, true, 0), 'b'))
            .then_expect_events(vec![Ev::RefreshTokenUsed {
                access_token_id: "at1".into(),
                expires_at: 15 * DAY,
                access_token_expires_at: None,
            }]);
        // Day 10 (over 70% of 14 days): rotate.
        given(vec![Ev::RefreshTokenIssued(start())])
            .when(use_('a', 10 * DAY, policy(false, true, 0), 'b'))
            .then_expect_events(vec![rotated('a', 'b', 10 * DAY, 24 * DAY)]);
        // Rotation switched off: never.
        let off = RotationPolicy {
            rotate_enabled: false,
            ..policy(false, true, 0)
        };
        given(vec![Ev::RefreshTokenIssued(start())])
            .when(use_('a', 10 * DAY, off, 'b'))
            .then_expect_events(vec![Ev::RefreshTokenUsed {
                access_token_id: "at1".into(),
                expires_at: 24 * DAY,
                access_token_expires_at: None,
            }]);
    }

    #[test]
    fn public_clients_always_rotate_and_spas_do_not_slide() {
        given(vec![Ev::RefreshTokenIssued(start())])
            .when(use_('a', DAY, policy(true, false, 0), 'b'))
            .then_expect_events(vec![rotated('a', 'b', DAY, 14 * DAY)]);
    }

    #[test]
    fn expired_wrong_client_unstarted_and_revoked_are_refused() {
        given(vec![Ev::RefreshTokenIssued(start())])
            .when(use_('a', 14 * DAY, policy(true, false, 0), 'b'))
            .then_expect_error(E::Expired);
        given(vec![])
            .when(use_('a', DAY, policy(true, false, 0), 'b'))
            .then_expect_error(E::NotFound);
        given(vec![Ev::RefreshTokenIssued(start())])
            .when(RefreshTokenCommand::Use {
                presented_digest: d('a'),
                client_id: "other".into(),
                now: DAY,
                policy: policy(true, false, 0),
                successor_digest: d('b'),
                access_token_id: "at1".into(),
                access_token_expires_at: None,
            })
            .then_expect_error(E::WrongClient);
        given(vec![
            Ev::RefreshTokenIssued(start()),
            Ev::RefreshTokenFamilyRevoked {
                revoke_access_token_ids: vec![],
            },
        ])
        .when(use_('a', DAY, policy(true, false, 0), 'b'))
        .then_expect_error(E::Revoked);
    }

    #[test]
    fn rotated_refresh_token_reuse_revokes_the_family() {
        given(vec![
            Ev::RefreshTokenIssued(start()),
            rotated('a', 'b', DAY, 14 * DAY),
        ])
        .when(use_('a', DAY + 5, policy(true, false, 0), 'b'))
        .then_expect_events(vec![Ev::RefreshTokenReuseDetected {
            presented_digest: d('a'),
            revoke_access_token_ids: vec!["at0".into(), "at1".into()],
        }]);
    }

    #[test]
    fn a_concurrent_refresh_within_the_grace_window_gets_the_same_successor() {
        given(vec![
            Ev::RefreshTokenIssued(start()),
            rotated('a', 'b', DAY, 14 * DAY),
        ])
        .when(use_('a', DAY + 5, policy(true, false, 10), 'b'))
        .then_expect_events(vec![Ev::RefreshTokenRotationReplayed {
            presented_digest: d('a'),
            access_token_id: "at1".into(),
            access_token_expires_at: None,
        }]);
        // Past the window it is reuse.
        given(vec![
            Ev::RefreshTokenIssued(start()),
            rotated('a', 'b', DAY, 14 * DAY),
        ])
        .when(use_('a', DAY + 11, policy(true, false, 10), 'b'))
        .then_expect_events(vec![Ev::RefreshTokenReuseDetected {
            presented_digest: d('a'),
            revoke_access_token_ids: vec!["at0".into(), "at1".into()],
        }]);
        // An older token than the head's predecessor is reuse even inside the window.
        given(vec![
            Ev::RefreshTokenIssued(start()),
            rotated('a', 'b', DAY, 14 * DAY),
            rotated('b', 'c', DAY + 1, 14 * DAY),
        ])
        .when(use_('a', DAY + 2, policy(true, false, 10), 'b'))
        .then_expect_events(vec![Ev::RefreshTokenReuseDetected {
            presented_digest: d('a'),
            revoke_access_token_ids: vec!["at0".into(), "at1".into(), "at1".into()],
        }]);
    }

    #[test]
    fn with_no_grace_window_even_an_instant_replay_is_reuse() {
        given(vec![
            Ev::RefreshTokenIssued(start()),
            rotated('a', 'b', DAY, 14 * DAY),
        ])
        .when(use_('a', DAY, policy(true, false, 0), 'b'))
        .then_expect_events(vec![Ev::RefreshTokenReuseDetected {
            presented_digest: d('a'),
            revoke_access_token_ids: vec!["at0".into(), "at1".into()],
        }]);
    }

    #[test]
    fn a_family_revoked_before_it_starts_never_starts() {
        given(vec![])
            .when(RefreshTokenCommand::RevokeForReuse)
            .then_expect_events(vec![Ev::RefreshTokenFamilyRevoked {
                revoke_access_token_ids: vec![],
            }]);
        given(vec![Ev::RefreshTokenFamilyRevoked {
            revoke_access_token_ids: vec![],
        }])
        .when(RefreshTokenCommand::Start(start()))
        .then_expect_error(E::Revoked);
    }

    #[test]
    fn the_holder_revokes_and_another_client_cannot() {
        given(vec![Ev::RefreshTokenIssued(start())])
            .when(RefreshTokenCommand::Revoke {
                client_id: "web".into(),
            })
            .then_expect_events(vec![Ev::RefreshTokenFamilyRevoked {
                revoke_access_token_ids: vec!["at0".into()],
            }]);
        given(vec![Ev::RefreshTokenIssued(start())])
            .when(RefreshTokenCommand::Revoke {
                client_id: "other".into(),
            })
            .then_expect_error(E::WrongClient);
    }

    /// A family refreshed every hour for a year: its state keeps the head's predecessor and
    /// the access tokens that may be alive, not 8,760 of each; a reuse revokes only those
    /// still alive.
    #[test]
    fn a_long_lived_family_stays_small() {
        const HOUR: i64 = 3600;
        let digest = |i: i64| format!("{i:064x}");
        let mut events = vec![
            Ev::RefreshTokenIssued(StartFamily {
                access_token_expires_at: Some(HOUR),
                ..start()
            }),
            Ev::RefreshTokenRotated {
                from_digest: d('a'),
                to_digest: digest(1),
                rotated_at: HOUR,
                expires_at: 14 * DAY,
                access_token_id: "at-1".into(),
                access_token_expires_at: Some(2 * HOUR),
            },
        ];
        let last = 365 * 24;
        for i in 2..=last {
            events.push(Ev::RefreshTokenRotated {
                from_digest: digest(i - 1),
                to_digest: digest(i),
                rotated_at: i * HOUR,
                expires_at: i * HOUR + 14 * DAY,
                access_token_id: format!("at-{i}"),
                access_token_expires_at: Some(i * HOUR + HOUR),
            });
        }
        let mut family = RefreshTokenFamily::default();
        for event in events.clone() {
            family.apply(event);
        }
        assert_eq!(family.previous, Some((digest(last - 1), last * HOUR)));
        // Tokens that expired over a day (the longest access-token life) before the newest
        // was issued are forgotten.
        assert!(
            family.access_tokens.len() <= 26,
            "{}",
            family.access_tokens.len()
        );
        // The predecessor within the grace window is a concurrent refresh, as before.
        let now = last * HOUR + 5;
        let use_at = |presented: String, successor: String| RefreshTokenCommand::Use {
            presented_digest: presented,
            client_id: "web".into(),
            now,
            policy: policy(true, false, 10),
            successor_digest: successor,
            access_token_id: "at-x".into(),
            access_token_expires_at: Some(now + HOUR),
        };
        given(events.clone())
            .when(use_at(digest(last - 1), digest(last)))
            .then_expect_events(vec![Ev::RefreshTokenRotationReplayed {
                presented_digest: digest(last - 1),
                access_token_id: "at-x".into(),
                access_token_expires_at: Some(now + HOUR),
            }]);
        // An older token is reuse, and only the tokens still alive at `now` are revoked.
        given(events)
            .when(use_at(digest(7), digest(8)))
            .then_expect_events(vec![Ev::RefreshTokenReuseDetected {
                presented_digest: digest(7),
                revoke_access_token_ids: vec![format!("at-{last}")],
            }]);
    }

    #[test]
    fn only_the_live_head_is_the_head() {
        let mut family = RefreshTokenFamily::default();
        assert!(!family.is_head(&d('a')), "no family yet");
        family.apply(Ev::RefreshTokenIssued(start()));
        assert!(family.is_head(&d('a')));
        assert!(!family.is_head(&d('b')));
        family.apply(Ev::RefreshTokenFamilyRevoked {
            revoke_access_token_ids: vec![],
        });
        assert!(
            !family.is_head(&d('a')),
            "a revoked family has no live token"
        );
    }
}
