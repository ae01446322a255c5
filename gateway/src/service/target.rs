//! Where a tenant's resources go once the pipeline has shaped them.
//!
//! A [`Target`] is asked, before the store commits, what a write does to
//! the resource's account, and answers with the [`TargetChange`] the store
//! records in the shadow's own transaction. Two kinds exist:
//!
//! - [`Embedded`]: the accounts live in the store; the change is applied
//!   inside the commit, so a failed commit leaves nothing behind.
//! - an [`Upstream`](crate::upstream::Upstream) (see `remote`), speaking
//!   SCIM or driving a connector plugin: it is called first, and the store
//!   records what it answered (the mirror and the link).
//!
//! [`target_of`] is the one place that picks; the write path never asks
//! which kind it has. A target is called at most once per write: the
//! resource's turn (see `locks`) is held from the read to the commit.

use std::future::{Future, ready};
use std::pin::Pin;

use serde_json::Value;

use super::Result;
use crate::flow::Plan;
use crate::store::{ResourceKind, Store, StoredResource, TargetChange};
use crate::tenant::Tenant;

/// What a target's call resolves to; boxed so that targets are objects.
pub(super) type TargetFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// What a target may consult: the tenant's policies and the store's links.
#[derive(Clone, Copy)]
pub(super) struct TargetCx<'a> {
    pub tenant: &'a Tenant,
    pub store: &'a Store,
}

pub(super) trait Target: Sync {
    /// A create of `shadow`: what the store records beside it. `plan` is
    /// `None` when the tenant has no pipeline.
    fn create<'a>(
        &'a self,
        cx: TargetCx<'a>,
        kind: ResourceKind,
        shadow: &'a Value,
        plan: Option<&'a Plan>,
    ) -> TargetFuture<'a, TargetChange>;

    /// A PUT or PATCH of `current` with the newly prepared `plan`.
    fn update<'a>(
        &'a self,
        cx: TargetCx<'a>,
        current: &'a StoredResource,
        plan: Option<&'a Plan>,
    ) -> TargetFuture<'a, TargetChange>;

    /// An IdP delete of `kind` `id`, before the store forgets it. The
    /// target reads what it needs itself and honours `If-Match`.
    fn delete<'a>(
        &'a self,
        cx: TargetCx<'a>,
        kind: ResourceKind,
        id: &'a str,
        if_match: Option<&'a str>,
    ) -> TargetFuture<'a, ()>;

    /// A read by id: the resource as the target holds it now.
    fn read<'a>(&'a self, cx: TargetCx<'a>, stored: StoredResource) -> TargetFuture<'a, StoredResource>;

    /// Take back the account `created` made for a create whose commit failed.
    fn undo_create<'a>(&'a self, cx: TargetCx<'a>, kind: ResourceKind, created: &'a str) -> TargetFuture<'a, ()>;
}

/// The target of `tenant`'s resources.
pub(super) fn target_of(tenant: &Tenant) -> &dyn Target {
    match &tenant.upstream {
        Some(upstream) => &**upstream,
        None => &Embedded,
    }
}

/// Accounts in the store, written in the shadow's transaction.
pub(super) struct Embedded;

impl Target for Embedded {
    fn create<'a>(
        &'a self,
        cx: TargetCx<'a>,
        _kind: ResourceKind,
        _shadow: &'a Value,
        plan: Option<&'a Plan>,
    ) -> TargetFuture<'a, TargetChange> {
        Box::pin(ready(Ok(embedded_change(cx.tenant, plan))))
    }

    fn update<'a>(
        &'a self,
        cx: TargetCx<'a>,
        _current: &'a StoredResource,
        plan: Option<&'a Plan>,
    ) -> TargetFuture<'a, TargetChange> {
        Box::pin(ready(Ok(embedded_change(cx.tenant, plan))))
    }

    /// The store applies the delete policy to the account in its own transaction.
    fn delete<'a>(
        &'a self,
        _cx: TargetCx<'a>,
        _kind: ResourceKind,
        _id: &'a str,
        _if_match: Option<&'a str>,
    ) -> TargetFuture<'a, ()> {
        Box::pin(ready(Ok(())))
    }

    fn read<'a>(&'a self, _cx: TargetCx<'a>, stored: StoredResource) -> TargetFuture<'a, StoredResource> {
        Box::pin(ready(Ok(stored)))
    }

    /// Nothing to undo: the account was part of the failed transaction.
    fn undo_create<'a>(&'a self, _cx: TargetCx<'a>, _kind: ResourceKind, _created: &'a str) -> TargetFuture<'a, ()> {
        Box::pin(ready(Ok(())))
    }
}

/// The store's side of a plan under the tenant's policies.
fn embedded_change(tenant: &Tenant, plan: Option<&Plan>) -> TargetChange {
    match plan {
        None => TargetChange::None,
        Some(Plan { target: Some(doc), keys, .. }) => {
            TargetChange::Upsert { doc: doc.clone(), keys: keys.clone(), on_match: tenant.policy.on_match }
        }
        Some(Plan { target: None, .. }) => TargetChange::Out { on_exit: tenant.policy.on_scope_exit },
    }
}
