//! Per-principal limits: a request rate (token bucket, `governor`) and a cap on requests in
//! flight. Each principal has its own bucket and cap, so one that exceeds its share is refused
//! (RESOURCE_EXHAUSTED) while the others go on.
//!
//! Buckets live as long as the principal's name and limits stay the same across reloads (a
//! reload does not refill a drained bucket); a principal whose limits change gets new ones.

use super::principals::{Principal, PrincipalLimits};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One principal's limiters.
struct Limiter {
    limits: PrincipalLimits,
    rate: Option<DefaultDirectRateLimiter>,
    in_flight: Option<Arc<Semaphore>>,
}

impl Limiter {
    fn new(limits: PrincipalLimits) -> Limiter {
        let rate = limits.requests_per_second.map(|rps| {
            let quota = Quota::per_second(rps).allow_burst(limits.burst.unwrap_or(rps));
            RateLimiter::direct(quota)
        });
        Limiter {
            limits,
            rate,
            in_flight: limits.max_concurrent.map(|n| Arc::new(Semaphore::new(n))),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Exceeded {
    Rate,
    Concurrency,
}

/// Held while a request runs: its place under the principal's concurrency cap.
pub struct Admitted(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

#[derive(Default)]
pub struct Limiters {
    by_principal: Mutex<HashMap<String, Arc<Limiter>>>,
}

impl Limiters {
    /// Admits one request of `p`, or says which limit it exceeds.
    pub fn admit(&self, p: &Principal) -> Result<Admitted, Exceeded> {
        if p.limits == PrincipalLimits::default() {
            return Ok(Admitted(None));
        }
        let limiter = {
            let mut map = match self.by_principal.lock() {
                Ok(m) => m,
                Err(poisoned) => poisoned.into_inner(),
            };
            match map.get(&p.name) {
                Some(l) if l.limits == p.limits => l.clone(),
                _ => {
                    let l = Arc::new(Limiter::new(p.limits));
                    map.insert(p.name.clone(), l.clone());
                    l
                }
            }
        };
        // The cap first: a request refused for concurrency does not spend a token.
        let permit = match &limiter.in_flight {
            Some(s) => Some(
                s.clone()
                    .try_acquire_owned()
                    .map_err(|_| Exceeded::Concurrency)?,
            ),
            None => None,
        };
        if let Some(rate) = &limiter.rate {
            rate.check().map_err(|_| Exceeded::Rate)?;
        }
        Ok(Admitted(permit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::scope::Scopes;
    use std::num::NonZeroU32;

    fn principal(name: &str, limits: PrincipalLimits) -> Principal {
        Principal {
            name: name.into(),
            scopes: Scopes::ALL,
            limits,
            namespaces: crate::security::principals::Namespaces::All,
        }
    }

    #[test]
    fn caps_concurrency_per_principal() {
        let l = Limiters::default();
        let capped = principal(
            "capped",
            PrincipalLimits {
                max_concurrent: Some(2),
                ..Default::default()
            },
        );
        let free = principal("free", PrincipalLimits::default());
        let a = l.admit(&capped).unwrap();
        let _b = l.admit(&capped).unwrap();
        assert_eq!(l.admit(&capped).err(), Some(Exceeded::Concurrency));
        for _ in 0..100 {
            assert!(l.admit(&free).is_ok());
        }
        drop(a);
        assert!(l.admit(&capped).is_ok());
    }

    #[test]
    fn limits_rate_per_principal() {
        let l = Limiters::default();
        let slow = principal(
            "slow",
            PrincipalLimits {
                requests_per_second: NonZeroU32::new(1),
                burst: NonZeroU32::new(3),
                ..Default::default()
            },
        );
        let admitted = (0..10).filter(|_| l.admit(&slow).is_ok()).count();
        // The burst, plus at most one more if a second passed during the loop.
        assert!((3..=4).contains(&admitted), "{admitted}");
        assert_eq!(l.admit(&slow).err(), Some(Exceeded::Rate));
    }
}
