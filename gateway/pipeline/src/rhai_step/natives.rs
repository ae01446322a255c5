//! Native functions registered over the packages' own (the engine's global
//! namespace is searched before its packages), where rhai 1.27's versions
//! break the sandbox's guarantees.
//!
//! # Functions that call back into the script
//!
//! Of the package functions that call a script function (`map`, `filter`,
//! `reduce`, `some`, `all`, `find`, `index_of`, `drain`, `retain`, `zip`,
//! `for_each`, `sort`, `order`, `dedup` on arrays; `map`, `filter`, `drain`,
//! `retain` on maps), all pass the callback's error on except the sorting
//! and deduplicating ones, which treat it as "no answer" and go on: a
//! comparator stopped by the deadline, or calling `reject`, would let the
//! script return normally. Those are replaced by versions that end at the
//! first error and return it. (A stop by the progress callback fails the
//! call anyway, see `progress` in the parent module; this also makes it
//! fail *at once*, instead of after one failed comparison per pair.)

use std::cmp::Ordering;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, NativeCallContext};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Register the replacements on `engine`.
pub(super) fn register(engine: &mut Engine) {
    engine
        .register_fn("sort", sort_by)
        .register_fn("sort_by", sort_by)
        .register_fn("sort", |ctx: NativeCallContext, array: &mut Array, comparer: &str| {
            sort_by(ctx, array, FnPtr::new(comparer)?)
        })
        .register_fn("order", order_by)
        .register_fn("order_by", order_by)
        .register_fn("dedup", dedup_by)
        .register_fn("dedup", |ctx: NativeCallContext, array: &mut Array, comparer: &str| {
            dedup_by(ctx, array, FnPtr::new(comparer)?)
        });
}

/// `array.sort(comparer)`: Rhai's, but the comparer's first error ends it.
/// The comparer answers with a number (its sign) or a boolean (`true`: the
/// first goes first); anything else orders by type, as in Rhai.
fn sort_by(ctx: NativeCallContext, array: &mut Array, comparer: FnPtr) -> Result<()> {
    if array.len() <= 1 {
        return Ok(());
    }
    let mut error = None;
    // `sort_by` panics when the comparer is not a total order: an error, as in Rhai.
    let sorted = catch_unwind(AssertUnwindSafe(|| {
        array.sort_by(|x, y| {
            if error.is_some() {
                return Ordering::Equal;
            }
            match comparer.call_raw(&ctx, None, [x.clone(), y.clone()]) {
                Ok(answer) => ordering(&answer).unwrap_or_else(|| x.type_id().cmp(&y.type_id())),
                Err(e) => {
                    error = Some(e);
                    Ordering::Equal
                }
            }
        });
    }));
    match (error, sorted) {
        (Some(e), _) => Err(e),
        (None, Ok(())) => Ok(()),
        (None, Err(_)) => Err("error in comparer for sorting".into()),
    }
}

fn ordering(answer: &Dynamic) -> Option<Ordering> {
    if let Ok(n) = answer.as_int() {
        return Some(n.cmp(&0));
    }
    answer.as_bool().ok().map(|first| if first { Ordering::Less } else { Ordering::Greater })
}

/// `array.order(comparer)`: a sorted copy.
fn order_by(ctx: NativeCallContext, array: &mut Array, comparer: FnPtr) -> Result<Array> {
    let mut sorted = array.clone();
    sort_by(ctx, &mut sorted, comparer)?;
    Ok(sorted)
}

/// `array.dedup(comparer)`: Rhai's, but the comparer's first error ends it.
/// The comparer gets the earlier element first.
fn dedup_by(ctx: NativeCallContext, array: &mut Array, comparer: FnPtr) -> Result<()> {
    let mut error = None;
    array.dedup_by(|later, earlier| {
        if error.is_some() {
            return false;
        }
        match comparer.call_raw(&ctx, None, [earlier.clone(), later.clone()]) {
            Ok(answer) => answer.as_bool().unwrap_or(false),
            Err(e) => {
                error = Some(e);
                false
            }
        }
    });
    error.map_or(Ok(()), Err)
}
