//! Native functions registered over the packages' own (the engine's global
//! namespace is searched before its packages), where rhai 1.27's versions
//! break the sandbox's guarantees.
//!
//! # Functions whose result can outgrow the limits
//!
//! Rhai checks a native function's result against the size limits only
//! after the function returned, so a function whose result can be much
//! larger than its arguments allocates first and fails later: one `replace`
//! of a 1-character pattern by a 512 KiB string in a 2 KiB string allocated
//! 2 GiB in 13 s (dev build), past the deadline and the memory budget, which
//! are checked between operations and so never saw it. Going through what
//! the engine's packages (core, logic, math, array, map, string) offer:
//!
//! - Replaced, with versions that compute the size of the result first and
//!   fail with Rhai's own "exceeds its limit" error: string `replace` (all
//!   four forms: the growth is the number of matches times the difference
//!   in length), string `pad` (Rhai checks the length in characters, not
//!   bytes, so up to 4× over, building it one character at a time, and
//!   loops forever on an empty padding string), `to_upper`, `to_lower`,
//!   `make_upper`, `make_lower` (a character can map to 3× its bytes),
//!   `split` and `split_rev` in every form, the whitespace `split()` and
//!   `to_chars` (a 1 MiB string makes a million pieces: 73 MiB before the
//!   check), and array `pad` (Rhai checks it first, but its arithmetic
//!   overflows: `a.pad(1 << 58, item)` with a 63-element `item` passes in a
//!   release build and aborts the process on allocation).
//! - Left to Rhai's check after the call, as their result is at most the sum
//!   of their arguments, each already within the limits: `+`, `+=` and
//!   `append` on strings, arrays, maps and BLOBs (concatenation, `mixin`,
//!   `fill_with`, `concat`), `push`, `insert`, `splice`, `to_blob`; and at
//!   most a few times one argument: `to_string`, `to_debug`, `print`,
//!   `debug`, string interpolation and `to_json` (escapes, up to 6 bytes per
//!   byte), `parse_json`, `keys`, `values`, `map` and `zip` on arrays.
//! - Only shrinking their argument or returning scalars: `sub_string`,
//!   `crop`, `trim`, `truncate`, `chop`, `remove`, `extract`, `drain`,
//!   `retain`, `split(index)`, `index_of`, `len` and the like, numeric and
//!   logic functions.
//! - The BLOB package is not registered (only `to_blob` and its
//!   concatenations, above, make BLOBs).
//!
//! # `sleep`
//!
//! The core package's `sleep(seconds)` blocks the thread in native code, out
//! of the deadline's reach (`sleep(0.2)` in a 50 ms call returned normally
//! after 200 ms): it is replaced by an error.
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

use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, FnPtr, INT, ImmutableString, NativeCallContext, Position};

use super::{RhaiLimits, unlimited_if_zero};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

const NO_SLEEP: &str = "sleep is not available to scripts: a call has a deadline";

/// Register the replacements on `engine`, for `limits`.
pub(super) fn register(engine: &mut Engine, limits: &RhaiLimits) {
    register_strings(engine, unlimited_if_zero(limits.max_string_size));
    register_arrays(engine, unlimited_if_zero(limits.max_array_size), limits);
    engine
        .register_fn("sleep", |_: INT| -> Result<()> { Err(NO_SLEEP.into()) })
        .register_fn("sleep", |_: FLOAT| -> Result<()> { Err(NO_SLEEP.into()) })
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

/// Rhai's error for a string over `max_string_size`.
fn string_too_long() -> Box<EvalAltResult> {
    EvalAltResult::ErrorDataTooLarge("Length of string".to_owned(), Position::NONE).into()
}

/// Rhai's error for an array over `max_array_size`.
fn array_too_large() -> Box<EvalAltResult> {
    EvalAltResult::ErrorDataTooLarge("Size of array/BLOB".to_owned(), Position::NONE).into()
}

/// Rhai's error for a map over `max_map_size`.
fn map_too_large() -> Box<EvalAltResult> {
    EvalAltResult::ErrorDataTooLarge("Size of object map".to_owned(), Position::NONE).into()
}

/// String functions; `max` is the longest string in bytes.
fn register_strings(engine: &mut Engine, max: usize) {
    engine
        .register_fn("replace", move |s: &mut ImmutableString, find: &str, by: &str| replace(s, find, by, max))
        .register_fn("replace", move |s: &mut ImmutableString, find: &str, by: char| {
            replace(s, find, by.encode_utf8(&mut [0; 4]), max)
        })
        .register_fn("replace", move |s: &mut ImmutableString, find: char, by: &str| {
            replace(s, find.encode_utf8(&mut [0; 4]), by, max)
        })
        .register_fn("replace", move |s: &mut ImmutableString, find: char, by: char| {
            replace(s, find.encode_utf8(&mut [0; 4]), by.encode_utf8(&mut [0; 4]), max)
        })
        .register_fn("pad", move |s: &mut ImmutableString, len: INT, by: char| {
            pad(s, len, by.encode_utf8(&mut [0; 4]), max)
        })
        .register_fn("pad", move |s: &mut ImmutableString, len: INT, by: &str| pad(s, len, by, max))
        .register_fn("to_upper", move |s: ImmutableString| change_case(s, Case::Upper, max))
        .register_fn("to_lower", move |s: ImmutableString| change_case(s, Case::Lower, max))
        .register_fn("make_upper", move |s: &mut ImmutableString| -> Result<()> {
            *s = change_case(s.clone(), Case::Upper, max)?;
            Ok(())
        })
        .register_fn("make_lower", move |s: &mut ImmutableString| -> Result<()> {
            *s = change_case(s.clone(), Case::Lower, max)?;
            Ok(())
        });
}

/// `string.replace(find, by)`, failing before it allocates when the result
/// would be longer than `max` bytes.
fn replace(string: &mut ImmutableString, find: &str, by: &str, max: usize) -> Result<()> {
    if string.is_empty() {
        return Ok(());
    }
    if let Some(growth) = by.len().checked_sub(find.len()).filter(|&growth| growth > 0) {
        // Count no further than the first match past the limit.
        let room = max.saturating_sub(string.len()) / growth;
        if string.matches(find).take(room.saturating_add(1)).count() > room {
            return Err(string_too_long());
        }
    }
    *string = string.replace(find, by).into();
    Ok(())
}

/// `string.pad(len, padding)`: append `padding` (its first characters, the
/// last time) until the string has `len` characters, failing before it
/// allocates when that would be more than `max` bytes.
fn pad(string: &mut ImmutableString, len: INT, padding: &str, max: usize) -> Result<()> {
    let Ok(len) = usize::try_from(len) else { return Ok(()) };
    let chars = string.chars().count();
    if len <= chars {
        return Ok(());
    }
    if padding.is_empty() {
        return Err("pad: the padding is an empty string".into());
    }
    let (missing, per_padding) = (len - chars, padding.chars().count());
    let (whole, rest) = (missing / per_padding, missing % per_padding);
    let tail = padding.chars().take(rest).map(char::len_utf8).sum::<usize>();
    let bytes = whole.checked_mul(padding.len()).and_then(|b| b.checked_add(string.len() + tail));
    let Some(bytes) = bytes.filter(|&bytes| bytes <= max) else { return Err(string_too_long()) };
    let mut padded = String::with_capacity(bytes);
    padded.push_str(string);
    for _ in 0..whole {
        padded.push_str(padding);
    }
    padded.extend(padding.chars().take(rest));
    *string = padded.into();
    Ok(())
}

#[derive(Clone, Copy)]
enum Case {
    Upper,
    Lower,
}

impl Case {
    /// Whether `c` is in this case already.
    fn holds(self, c: char) -> bool {
        match self {
            Case::Upper => c.is_uppercase(),
            Case::Lower => c.is_lowercase(),
        }
    }

    /// The bytes of `c` in this case.
    fn bytes(self, c: char) -> usize {
        match self {
            Case::Upper => c.to_uppercase().map(char::len_utf8).sum(),
            Case::Lower => c.to_lowercase().map(char::len_utf8).sum(),
        }
    }
}

/// `string.to_upper()` or `to_lower()`, failing before it allocates when the
/// result would be longer than `max` bytes.
fn change_case(string: ImmutableString, case: Case, max: usize) -> Result<ImmutableString> {
    if string.chars().all(|c| case.holds(c)) {
        return Ok(string);
    }
    // A character grows at most 3× (ΐ to Ϊ́); measure only when that could
    // pass the limit.
    if string.len() > max / 3 && string.chars().map(|c| case.bytes(c)).sum::<usize>() > max {
        return Err(string_too_long());
    }
    Ok(match case {
        Case::Upper => string.to_uppercase(),
        Case::Lower => string.to_lowercase(),
    }
    .into())
}

/// Array functions, and string functions that make arrays; `max` is the
/// most elements in an array.
fn register_arrays(engine: &mut Engine, max: usize, limits: &RhaiLimits) {
    let sizes = (max, unlimited_if_zero(limits.max_map_size), unlimited_if_zero(limits.max_string_size));
    engine
        .register_fn("split", move |s: ImmutableString, by: &str| split(&s, by, INT::MAX, Direction::Forward, max))
        .register_fn("split", move |s: ImmutableString, by: char| {
            split(&s, by.encode_utf8(&mut [0; 4]), INT::MAX, Direction::Forward, max)
        })
        .register_fn("split", move |s: ImmutableString, by: &str, n: INT| split(&s, by, n, Direction::Forward, max))
        .register_fn("split", move |s: ImmutableString, by: char, n: INT| {
            split(&s, by.encode_utf8(&mut [0; 4]), n, Direction::Forward, max)
        })
        .register_fn("split_rev", move |s: ImmutableString, by: &str| split(&s, by, INT::MAX, Direction::Back, max))
        .register_fn("split_rev", move |s: ImmutableString, by: char| {
            split(&s, by.encode_utf8(&mut [0; 4]), INT::MAX, Direction::Back, max)
        })
        .register_fn("split_rev", move |s: ImmutableString, by: &str, n: INT| split(&s, by, n, Direction::Back, max))
        .register_fn("split_rev", move |s: ImmutableString, by: char, n: INT| {
            split(&s, by.encode_utf8(&mut [0; 4]), n, Direction::Back, max)
        })
        .register_fn("split", move |s: ImmutableString| {
            if s.is_empty() {
                return Ok(vec![s.into()]);
            }
            collect(s.split_whitespace(), max)
        })
        .register_fn("to_chars", move |s: &str| {
            if max < s.len() && s.chars().nth(max).is_some() {
                return Err(array_too_large());
            }
            Ok(s.chars().map(Dynamic::from).collect::<Array>())
        })
        .register_fn("pad", move |array: &mut Array, len: INT, item: Dynamic| pad_array(array, len, item, sizes));
}

#[derive(Clone, Copy)]
enum Direction {
    Forward,
    Back,
}

/// `string.split(by, segments)` or `split_rev`, as in Rhai (no delimiter
/// found or fewer than 2 segments: the string alone), failing before it
/// allocates when there would be more than `max` pieces.
fn split(string: &ImmutableString, by: &str, segments: INT, direction: Direction, max: usize) -> Result<Array> {
    if segments <= 1 || string.is_empty() || (!by.is_empty() && !string.contains(by)) {
        return Ok(vec![string.clone().into()]);
    }
    let segments = usize::try_from(segments).unwrap_or(usize::MAX);
    match direction {
        Direction::Forward => collect(string.splitn(segments, by), max),
        Direction::Back => collect(string.rsplitn(segments, by), max),
    }
}

/// The pieces as an array, unless there are more than `max`.
fn collect<'a>(pieces: impl Iterator<Item = &'a str> + Clone, max: usize) -> Result<Array> {
    if pieces.clone().nth(max).is_some() {
        return Err(array_too_large());
    }
    Ok(pieces.map(Into::into).collect())
}

/// `array.pad(len, item)`: Rhai's, with its size check done without
/// overflowing. `max` is (array elements, map entries, string bytes).
fn pad_array(array: &mut Array, len: INT, item: Dynamic, max: (usize, usize, usize)) -> Result<()> {
    let Ok(len) = usize::try_from(len) else { return Ok(()) };
    if len <= array.len() {
        return Ok(());
    }
    // Every element counts at least 1: nothing to measure.
    if len > max.0 {
        return Err(array_too_large());
    }
    let copies = len - array.len();
    let (arrays, maps, strings) = array_sizes(array);
    let (item_arrays, item_maps, item_strings) = data_sizes(&item);
    let over = |has: usize, each: usize, max: usize| {
        each.checked_mul(copies).and_then(|n| n.checked_add(has)).is_none_or(|n| n > max)
    };
    if over(arrays, item_arrays + 1, max.0) {
        return Err(array_too_large());
    }
    if over(maps, item_maps, max.1) {
        return Err(map_too_large());
    }
    if over(strings, item_strings, max.2) {
        return Err(string_too_long());
    }
    array.resize(len, item);
    Ok(())
}

/// What `value` counts against the size limits: (array elements, map
/// entries, string bytes), nested ones included, as Rhai counts them (give or
/// take one per BLOB; Rhai checks the result again).
fn data_sizes(value: &Dynamic) -> (usize, usize, usize) {
    if let Ok(array) = value.as_array_ref() {
        return array_sizes(&array);
    }
    if let Ok(blob) = value.as_blob_ref() {
        return (blob.len(), 0, 0);
    }
    if let Ok(map) = value.as_map_ref() {
        return map.values().map(data_sizes).fold((0, 0, 0), |sum, (a, m, s)| add(sum, (a, m + 1, s)));
    }
    if let Ok(string) = value.as_immutable_string_ref() {
        return (0, 0, string.len());
    }
    (0, 0, 0)
}

fn array_sizes(array: &Array) -> (usize, usize, usize) {
    array.iter().map(data_sizes).fold((0, 0, 0), |sum, (a, m, s)| add(sum, (a + 1, m, s)))
}

fn add(x: (usize, usize, usize), y: (usize, usize, usize)) -> (usize, usize, usize) {
    (x.0.saturating_add(y.0), x.1.saturating_add(y.1), x.2.saturating_add(y.2))
}
