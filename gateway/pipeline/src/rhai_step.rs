//! Rhai script steps.
//!
//! A script implements hooks as plain functions; which ones exist is read
//! from the compiled AST once, so an absent hook costs nothing:
//!
//! | function | returns |
//! | --- | --- |
//! | `fn scope(user, ctx)` | `true` (in scope), `false`, or a string: out of scope with that reason |
//! | `fn transform_in(user, ctx)` | the new document (a map) |
//! | `fn transform_out(user, ctx)` | the new document (a map) |
//! | `fn match_keys(user, ctx)` | an array of `#{attribute: "...", value: "..."}` (empty values are skipped) |
//! | `fn on_event(event, user, ctx)` | anything (ignored); `event` is `"created"`, `"updated"`, `"deactivated"`, `"reactivated"` or `"deleted"` |
//!
//! `user` is the SCIM document (User or Group) as a Rhai map; `ctx` is
//! `#{tenant, idp_profile, operation, resource_type, resource_id, config}`,
//! `operation` being `"create"`, `"replace"`, `"patch"`, `"delete"`, `"get"`
//! or `"list"`, `resource_id` `()` when there is none yet, and `config` the
//! step's settings from the tenant file (an empty map when there are none).
//!
//! Host functions:
//!
//! - `reject(message)`: refuse the document on purpose; the call ends with
//!   [`StepError::Rejected`] and the IdP gets 400 with the message.
//! - `log(level, message)` with level `"error"`, `"warn"`, `"info"`,
//!   `"debug"` or `"trace"`; `print(x)` logs at info and `debug(x)` at debug.
//!   Lines are collected per call and handed to whoever wraps the calls in
//!   [`capture_logs`] on the same thread (at most [`MAX_LOG_LINES`] lines of
//!   at most [`MAX_LOG_LINE_BYTES`] bytes per call; the rest is counted).
//!
//! # The sandbox
//!
//! The engine is [`Engine::new_raw`] plus the core, logic, math, array, map
//! and string packages: no clock, no `sleep`, no file or network access, no
//! `eval`, and no module resolver (`import` is a compile error). Variables
//! must be declared (`strict_variables`). Top-level statements run before every hook
//! call (keep them to constants); the AST is compiled once per
//! [`RhaiStep::compile`] and shared ([`Arc<AST>`]).
//!
//! Compiling is bounded too, as a reload compiles every tenant's scripts on
//! one thread: a source longer than `max_script_bytes` is refused before it
//! is parsed, and the parser stops at the first function past
//! `max_functions` (closures count). Rhai's compile time grows with the
//! square of the number of functions: 20 000 functions with a closure each
//! took 18 s in a dev build, and are now refused in under 10 ms; 1 000
//! compile in about as long.
//!
//! # Limits, and what bounds memory
//!
//! [`RhaiLimits`] sets Rhai's operation count, call depth, expression depth
//! (checked at compile time), string, array and map sizes, plus a wall-clock
//! deadline per call, checked from [`Engine::on_progress`] every
//! [`DEADLINE_CHECK_EVERY`] operations against a thread-local deadline set
//! for the duration of the call (the engine is shared between threads, the
//! deadline is not); the same callback counts the operations. Errors map to
//! [`StepError::ResourceLimit`] (operations, call depth, sizes, memory) or
//! [`StepError::Timeout`] (deadline).
//!
//! Script errors ([`StepError::Failed`]) carry `script:line:column` in
//! `location`; limit errors name the script but rarely a position, because
//! Rhai moves the position of its limit errors to the outermost script call
//! site, which for a hook called from Rust is none.
//!
//! A call the progress callback stopped fails, whatever the script returns:
//! the stop is recorded for the call and repeated at every later operation,
//! because some native functions swallow the errors of the script functions
//! they call (Rhai's `sort`, `order` and `dedup` with a comparator took a
//! stopped comparison for an answer, and the script went on to return the
//! document). Those are replaced by versions that pass any error on at once
//! (`natives`), so that `reject` or `throw` in a comparator fail the call
//! too.
//!
//! No native function builds a result past the size limits. Rhai checks a
//! native function's result only after the call, and the deadline and the
//! memory budget are checked between operations, so one call such as
//! `t.replace("a", s)` (a 512 KiB `s`, a 2 KiB `t`) allocated 2 GiB in 13 s.
//! Every function of the registered packages whose result can be more than
//! a few times its arguments (`replace`, `pad`, `to_upper`, `to_lower`,
//! `split`, `to_chars`, array `pad`...) is replaced by a version that
//! computes the result's size first and fails, with the same
//! [`StepError::ResourceLimit`], before allocating it; the others make at
//! most the sum of their arguments, or a few times one of them, before
//! Rhai's check (`natives` lists them all). These checks need no
//! [`MeteredAlloc`]. The same attack now fails in about a millisecond,
//! allocating nothing beyond its own arguments.
//!
//! Rhai's size limits are checked when a value is built or passed to a
//! function, and they count everything nested in a container, but they are
//! *not* checked when a map grows through an index assignment: `m[k] = v` in
//! a loop grows a map past `max_map_size` unchecked (rhai 1.27; the tests
//! here try it). What bounds memory then:
//!
//! 1. **The deadline.** Every call ends within `deadline_ms`, plus at most
//!    [`DEADLINE_CHECK_EVERY`] operations, plus whatever the last native
//!    function takes (bounded by the size limits, see above), and a script
//!    can only allocate so fast. With small values (`m[k] = i`) a 50 ms call
//!    stays under 1 MiB (measured: 664 KiB), and the operation limit alone
//!    (1 000 000, a few per insertion) caps such a map too (measured without
//!    a deadline: a 13 MB process peak).
//! 2. **The memory budget** (`max_memory`, default 32 MiB), enforced when the
//!    process's global allocator is [`MeteredAlloc`], which counts each
//!    thread's live bytes; the progress callback stops the script at the
//!    first operation after the bytes allocated during the call exceed the
//!    budget. This is what bounds the bad case: inserting a *new* large string
//!    per iteration (`m[k] = s + i`) adds up to `max_string_size` per few
//!    operations, so the operation limit alone would allow terabytes and the
//!    deadline alone whatever the machine allocates in 50 ms (measured: 40 MiB
//!    in a dev build; an optimised build allocates faster). With the
//!    allocator the overshoot past the budget is what one operation allocates
//!    (one string of at most `max_string_size`, or one copy of a value that
//!    was itself within the budget): the test's peak was 32.3 MiB. Without
//!    it, the deadline is the only bound, so the gateway binary should
//!    install it:
//!    `#[global_allocator] static ALLOC: pipeline::MeteredAlloc = pipeline::MeteredAlloc;`
//! 3. **A post-call check** of the returned value: nesting depth (at most
//!    [`MAX_RESULT_DEPTH`], checked before anything recursive touches it) and
//!    Rhai's size limits, so an oversized map never leaves the script.
//!
//! Nesting depth is bounded the same way: every level of `a = [a]` costs a
//! size check over all the levels below it (quadratic), so within the
//! deadline a script builds only a shallow structure (the tests' 50 ms runs
//! peak under 400 KiB), which Rhai's recursive size checks and drops handle
//! easily.
//!
//! Rhai also recurses on the native stack, up to `max_call_depth` script
//! calls each nesting expressions up to `max_function_expr_depth`: about
//! 2 MiB for the worst scripts found (dev build), as much as a tokio blocking
//! thread has. So each call runs with at least [`SCRIPT_STACK_MIN`] of
//! stack, on a fresh stack when the thread has less left (a stack overflow
//! would abort the whole gateway, not just fail the request).
//!
//! Size limits count totals: a Group with tens of thousands of members may
//! exceed `max_map_size` as soon as the script modifies it; raise the limits
//! for such tenants or keep groups out of scripts.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rhai::packages::{
    BasicArrayPackage, BasicMapPackage, BasicMathPackage, CorePackage, LogicPackage, MoreStringPackage, Package,
};
use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, Module, ParseErrorType, Position, Scope, Shared};
use serde::Deserialize;
use serde_json::Value;

pub use crate::alloc::MeteredAlloc;
use crate::log_capture::with_capture;
pub use crate::log_capture::{LogLevel, LogLine, capture_logs, emit_log};
use crate::step::{Event, HookContext, Hooks, MatchKey, ScopeDecision, Step, StepError};

mod natives;

/// The progress callback reads the clock every this many operations.
pub const DEADLINE_CHECK_EVERY: u64 = 16;

/// The deepest nesting of arrays and maps a hook may return.
pub const MAX_RESULT_DEPTH: usize = 64;

/// The stack every hook call is guaranteed: when the calling thread has less
/// left, the call runs on a fresh stack of [`SCRIPT_STACK_BYTES`] (`stacker`:
/// an `mmap` per call, ~25 µs in a dev build; threads with 8 MiB stacks, such
/// as the main thread or tokio's with `thread_stack_size(8 << 20)`, run in
/// place). Rhai recurses on the native stack; at the default call depth (64)
/// and function expression depth (32) the worst scripts found need about
/// 2 MiB in a dev build, which overflows the 2 MiB threads of tokio's
/// blocking pool and would abort the process.
pub const SCRIPT_STACK_MIN: usize = 6 << 20;

/// The size of the fresh stack a hook call gets when the thread has less
/// than [`SCRIPT_STACK_MIN`] left.
pub const SCRIPT_STACK_BYTES: usize = 8 << 20;

/// Log lines kept per hook call.
pub const MAX_LOG_LINES: usize = 100;

/// Longest log line kept (longer ones are cut at a char boundary).
pub const MAX_LOG_LINE_BYTES: usize = 2048;

/// Resource limits of one script (all per hook call). Deserialisable from the
/// tenant file; missing fields take the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RhaiLimits {
    /// Rhai operations (roughly: expressions evaluated). 0 = unlimited.
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_depth: usize,
    /// Expression nesting at the top level (compile time). 0 = unlimited.
    pub max_expr_depth: usize,
    /// Expression nesting inside functions (compile time). 0 = unlimited.
    pub max_function_expr_depth: usize,
    /// Bytes of string in one value (a container counts all its strings). 0 = unlimited.
    pub max_string_size: usize,
    /// Elements in one array, nested ones included. 0 = unlimited.
    pub max_array_size: usize,
    /// Entries in one map, nested ones included. 0 = unlimited.
    pub max_map_size: usize,
    /// Wall-clock time per call. 0 = none (then only the operation limit
    /// stops a loop: do not set both to 0).
    pub deadline_ms: u64,
    /// Bytes allocated during one call and still live; enforced only when the
    /// global allocator is [`MeteredAlloc`]. 0 = unlimited.
    pub max_memory: usize,
    /// Bytes of script source, checked before compiling: compiling holds the
    /// reload, and its time grows faster than the source. 0 = unlimited.
    pub max_script_bytes: usize,
    /// Functions a script may define, closures included. Compile time grows
    /// with the square of their number, so Rhai's parser stops at the first
    /// one past the limit. 0 = unlimited.
    pub max_functions: usize,
}

impl Default for RhaiLimits {
    fn default() -> Self {
        RhaiLimits {
            max_operations: 1_000_000,
            max_call_depth: 64,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 10_000,
            deadline_ms: 50,
            max_memory: 32 << 20,
            max_script_bytes: 256 << 10,
            max_functions: 1_000,
        }
    }
}

/// A script that does not compile (or whose hooks have the wrong shape).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", self.location())]
pub struct RhaiCompileError {
    pub script: String,
    pub message: String,
    /// 1-based, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl RhaiCompileError {
    /// `script:line:column`, or as much of it as is known.
    pub fn location(&self) -> String {
        match (self.line, self.column) {
            (Some(line), Some(column)) => format!("{}:{line}:{column}", self.script),
            (Some(line), None) => format!("{}:{line}", self.script),
            _ => self.script.clone(),
        }
    }
}

impl From<RhaiCompileError> for StepError {
    fn from(e: RhaiCompileError) -> StepError {
        let location = Some(e.location());
        StepError::Failed { step: e.script, message: e.message, location }
    }
}

thread_local! {
    /// Lines of the hook call running on this thread, and how many were dropped.
    static CALL_LOGS: RefCell<(Vec<(LogLevel, String)>, usize)> = const { RefCell::new((Vec::new(), 0)) };
    /// When the hook call running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Live bytes at the start of the call, and the budget.
    static MEMORY: Cell<Option<(isize, isize)>> = const { Cell::new(None) };
    /// Why the progress callback stopped the hook call running on this
    /// thread, if it did.
    static STOPPED: Cell<Option<Stop>> = const { Cell::new(None) };
}

fn push_log(level: LogLevel, message: &str) {
    CALL_LOGS.with(|logs| {
        let (lines, dropped) = &mut *logs.borrow_mut();
        if lines.len() >= MAX_LOG_LINES {
            *dropped += 1;
            return;
        }
        if message.len() <= MAX_LOG_LINE_BYTES {
            lines.push((level, message.to_owned()));
            return;
        }
        let mut cut = MAX_LOG_LINE_BYTES;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        lines.push((level, format!("{}…", &message[..cut])));
    });
}

/// Why the progress callback stopped a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Deadline,
    Memory,
    Operations,
}

/// The value `reject(message)` throws.
#[derive(Debug, Clone)]
struct Rejection(String);

/// The progress callback: stops the script past `max_operations` (0: no
/// limit), the memory budget or the deadline. A stop is recorded in
/// [`STOPPED`] and repeated at every later operation, because some native
/// functions swallow the error (Rhai's `sort` and `dedup` treat a failed
/// comparison as an answer; see [`natives`]): the call then fails with it
/// whatever the script returns.
fn progress(operations: u64, max_operations: u64) -> Option<Dynamic> {
    let stop = STOPPED.get().or_else(|| {
        if max_operations > 0 && operations > max_operations {
            return Some(Stop::Operations);
        }
        if let Some((start, budget)) = MEMORY.get()
            && MeteredAlloc::thread_live_bytes().saturating_sub(start) > budget
        {
            return Some(Stop::Memory);
        }
        if operations.is_multiple_of(DEADLINE_CHECK_EVERY)
            && let Some(deadline) = DEADLINE.get()
            && Instant::now() >= deadline
        {
            return Some(Stop::Deadline);
        }
        None
    })?;
    STOPPED.set(Some(stop));
    Some(Dynamic::from(stop))
}

/// The packages every engine gets, built once.
fn packages() -> &'static [Shared<Module>] {
    static PACKAGES: OnceLock<Vec<Shared<Module>>> = OnceLock::new();
    PACKAGES.get_or_init(|| {
        vec![
            CorePackage::new().as_shared_module(),
            LogicPackage::new().as_shared_module(),
            BasicMathPackage::new().as_shared_module(),
            BasicArrayPackage::new().as_shared_module(),
            BasicMapPackage::new().as_shared_module(),
            MoreStringPackage::new().as_shared_module(),
        ]
    })
}

fn build_engine(limits: &RhaiLimits) -> Engine {
    let mut engine = Engine::new_raw();
    for package in packages() {
        engine.register_global_module(package.clone());
    }
    engine
        // Counted by the progress callback instead, which records the stop.
        .set_max_operations(0)
        .set_max_call_levels(limits.max_call_depth)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_functions(unlimited_if_zero(limits.max_functions))
        .set_max_modules(0)
        .set_strict_variables(true);
    engine.disable_symbol("eval");
    engine.disable_symbol("import");
    let max_operations = limits.max_operations;
    engine.on_progress(move |operations| progress(operations, max_operations));
    engine.on_print(|text| push_log(LogLevel::Info, text));
    engine.on_debug(|text, _, _| push_log(LogLevel::Debug, text));
    engine.register_fn("reject", |message: Dynamic| -> Result<(), Box<EvalAltResult>> {
        Err(EvalAltResult::ErrorRuntime(Dynamic::from(Rejection(message.to_string())), Position::NONE).into())
    });
    engine.register_fn("log", |level: &str, message: Dynamic| -> Result<(), Box<EvalAltResult>> {
        let Some(level) = LogLevel::parse(level) else {
            return Err(format!("log: unknown level {level:?} (use error, warn, info, debug or trace)").into());
        };
        push_log(level, &message.to_string());
        Ok(())
    });
    natives::register(&mut engine, limits);
    engine
}

/// Rhai's setters take `usize::MAX` for "no limit" where [`RhaiLimits`] takes 0.
fn unlimited_if_zero(limit: usize) -> usize {
    if limit == 0 { usize::MAX } else { limit }
}

/// A compiled Rhai script step. Cloning is cheap (the engine and the AST are
/// shared).
#[derive(Clone)]
pub struct RhaiStep {
    name: String,
    engine: Arc<Engine>,
    ast: Arc<AST>,
    hooks: Hooks,
    limits: RhaiLimits,
    config: Dynamic,
}

impl fmt::Debug for RhaiStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RhaiStep").field("name", &self.name).field("hooks", &self.hooks).finish_non_exhaustive()
    }
}

/// The hook functions: name and number of parameters.
const HOOKS: [(&str, usize); 5] =
    [("scope", 2), ("transform_in", 2), ("transform_out", 2), ("match_keys", 2), ("on_event", 3)];

impl RhaiStep {
    /// Compile `source` once. `name` names the script in errors and logs
    /// (use the file name); `config` becomes `ctx.config` (JSON `null`: an
    /// empty map).
    pub fn compile(
        name: impl Into<String>,
        source: &str,
        limits: RhaiLimits,
        config: Value,
    ) -> Result<RhaiStep, RhaiCompileError> {
        let name = name.into();
        let fail = |message: String, position: Position| RhaiCompileError {
            script: name.clone(),
            message,
            line: position.line(),
            column: position.position(),
        };
        if limits.max_script_bytes > 0 && source.len() > limits.max_script_bytes {
            let message = format!(
                "the script has {} bytes, more than max_script_bytes ({})",
                source.len(),
                limits.max_script_bytes
            );
            return Err(fail(message, Position::NONE));
        }
        let engine = build_engine(&limits);
        let mut ast = engine.compile(source).map_err(|e| {
            let message = match e.err_type() {
                ParseErrorType::TooManyFunctions => format!(
                    "the script defines more than max_functions ({}) functions (closures count)",
                    limits.max_functions
                ),
                other => other.to_string(),
            };
            fail(message, e.position())
        })?;
        ast.set_source(name.as_str());

        let mut hooks = Hooks::default();
        for function in ast.iter_functions() {
            let Some(&(hook, arity)) = HOOKS.iter().find(|(hook, _)| *hook == function.name) else { continue };
            if function.params.len() != arity {
                // An overload with the right arity is fine; judge after the loop.
                continue;
            }
            match hook {
                "scope" => hooks.scope = true,
                "transform_in" => hooks.transform_in = true,
                "transform_out" => hooks.transform_out = true,
                "match_keys" => hooks.match_keys = true,
                _ => hooks.on_event = true,
            }
        }
        for function in ast.iter_functions() {
            if let Some(&(hook, arity)) = HOOKS.iter().find(|(hook, _)| *hook == function.name)
                && function.params.len() != arity
                && !has_hook(&hooks, hook)
            {
                let params = if arity == 3 { "(event, user, ctx)" } else { "(user, ctx)" };
                return Err(fail(
                    format!("fn {hook} must take {arity} parameters {params}, not {}", function.params.len()),
                    Position::NONE,
                ));
            }
        }

        let config = match config {
            Value::Null => Dynamic::from_map(rhai::Map::new()),
            config => rhai::serde::to_dynamic(&config)
                .map_err(|mut e| fail(format!("config: {}", e.clear_position()), Position::NONE))?,
        };
        Ok(RhaiStep { name, engine: Arc::new(engine), ast: Arc::new(ast), hooks, limits, config })
    }

    pub fn limits(&self) -> &RhaiLimits {
        &self.limits
    }

    /// Run `f` with this step and return its result together with the log
    /// lines written meanwhile: `capture_logs(|| f(self))`.
    pub fn call_with_logs<T>(&self, f: impl FnOnce(&Self) -> T) -> (T, Vec<LogLine>) {
        capture_logs(|| f(self))
    }

    fn ctx_map(&self, ctx: &HookContext) -> Dynamic {
        let mut map = rhai::Map::new();
        map.insert("tenant".into(), Dynamic::from(ctx.tenant.clone()));
        map.insert("idp_profile".into(), Dynamic::from(ctx.idp_profile.clone()));
        map.insert("operation".into(), serialized_name(&ctx.operation));
        map.insert("resource_type".into(), Dynamic::from(ctx.resource_type.clone()));
        map.insert("resource_id".into(), ctx.resource_id.clone().map_or(Dynamic::UNIT, Dynamic::from));
        map.insert("config".into(), self.config.clone());
        Dynamic::from_map(map)
    }

    fn doc(&self, hook: &str, doc: &Value) -> Result<Dynamic, StepError> {
        rhai::serde::to_dynamic(doc).map_err(|e| self.failed(format!("{hook}: cannot pass the document: {e}"), None))
    }

    /// Call `hook` with `args`, under the limits; the value is checked
    /// against the size limits and [`MAX_RESULT_DEPTH`].
    fn call(&self, hook: &str, args: Vec<Dynamic>) -> Result<Dynamic, StepError> {
        let guard = CallGuard::enter(&self.limits);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            stacker::maybe_grow(SCRIPT_STACK_MIN, SCRIPT_STACK_BYTES, || {
                let mut scope = Scope::new();
                let value = self.engine.call_fn_with_options::<Dynamic>(
                    CallFnOptions::new(),
                    &mut scope,
                    &self.ast,
                    hook,
                    args,
                );
                // Stopped, even if a native function swallowed the error and
                // the script went on: fail with the stop.
                if let Some(stop) = STOPPED.get() {
                    return Err(self.stopped(hook, stop, ""));
                }
                match value {
                    Ok(value) => self.check_result(hook, value),
                    Err(e) => Err(self.map_error(hook, *e)),
                }
            })
        }));
        let logs = guard.finish();
        // Every line goes to the process log; a capture also gets it for the
        // provisioning log.
        for (level, message) in &logs.0 {
            let (step, message) = (self.name.as_str(), message.as_str());
            match level {
                LogLevel::Error => tracing::error!(target: "scimgate::plugin", step, "{message}"),
                LogLevel::Warn => tracing::warn!(target: "scimgate::plugin", step, "{message}"),
                LogLevel::Info => tracing::info!(target: "scimgate::plugin", step, "{message}"),
                LogLevel::Debug => tracing::debug!(target: "scimgate::plugin", step, "{message}"),
                LogLevel::Trace => tracing::trace!(target: "scimgate::plugin", step, "{message}"),
            }
        }
        with_capture(|sink| {
            let (lines, dropped) = logs;
            sink.extend(lines.into_iter().map(|(level, message)| LogLine { step: self.name.clone(), level, message }));
            if dropped > 0 {
                sink.push(LogLine {
                    step: self.name.clone(),
                    level: LogLevel::Warn,
                    message: format!("{dropped} more log line(s) dropped"),
                });
            }
        });
        outcome.unwrap_or_else(|_| Err(self.failed(format!("{hook}: the script engine panicked"), None)))
    }

    fn check_result(&self, hook: &str, value: Dynamic) -> Result<Dynamic, StepError> {
        if !depth_within(&value, MAX_RESULT_DEPTH) {
            return Err(self.limit(format!("{hook} returned a value nested deeper than {MAX_RESULT_DEPTH} levels")));
        }
        self.engine
            .ensure_data_size_within_limits(&value)
            .map_err(|mut e| self.limit(format!("{hook} returned too much data: {}", e.clear_position())))?;
        Ok(value)
    }

    fn failed(&self, message: String, location: Option<String>) -> StepError {
        StepError::Failed { step: self.name.clone(), message, location }
    }

    fn limit(&self, message: String) -> StepError {
        StepError::ResourceLimit { step: self.name.clone(), message }
    }

    fn location(&self, position: Position) -> Option<String> {
        match (position.line(), position.position()) {
            (Some(line), Some(column)) => Some(format!("{}:{line}:{column}", self.name)),
            (Some(line), None) => Some(format!("{}:{line}", self.name)),
            _ => None,
        }
    }

    fn map_error(&self, hook: &str, error: EvalAltResult) -> StepError {
        // The innermost error says what went wrong; the innermost known
        // position says where.
        let mut error = error;
        let mut position = Position::NONE;
        let root = loop {
            match error {
                EvalAltResult::ErrorInFunctionCall(_, _, inner, pos) | EvalAltResult::ErrorInModule(_, inner, pos) => {
                    if !pos.is_none() {
                        position = pos;
                    }
                    error = *inner;
                }
                mut other => {
                    let pos = other.take_position();
                    if !pos.is_none() {
                        position = pos;
                    }
                    break other;
                }
            }
        };
        let location = self.location(position);
        let at = location.as_deref().map(|l| format!(" at {l}")).unwrap_or_default();
        match root {
            EvalAltResult::ErrorRuntime(value, _) if value.is::<Rejection>() => {
                StepError::Rejected { step: self.name.clone(), message: value.cast::<Rejection>().0 }
            }
            EvalAltResult::ErrorTerminated(token, _) if token.is::<Stop>() => {
                self.stopped(hook, token.cast::<Stop>(), &at)
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                self.limit(format!("{hook} nested calls deeper than {} levels{at}", self.limits.max_call_depth))
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => self.limit(format!("{hook}: {what} exceeds its limit{at}")),
            e @ (EvalAltResult::ErrorTooManyVariables(_) | EvalAltResult::ErrorTooManyModules(_)) => {
                self.limit(format!("{hook}: {e}{at}"))
            }
            EvalAltResult::ErrorRuntime(value, _) => self.failed(format!("{hook}: script error: {value}"), location),
            other => self.failed(format!("{hook}: {other}"), location),
        }
    }

    /// The error of a call the progress callback stopped; `at` is `" at
    /// location"` or empty.
    fn stopped(&self, hook: &str, stop: Stop, at: &str) -> StepError {
        match stop {
            Stop::Deadline => StepError::Timeout { step: self.name.clone(), limit_ms: self.limits.deadline_ms },
            Stop::Memory => {
                self.limit(format!("{hook} allocated more than {} of memory{at}", bytes(self.limits.max_memory)))
            }
            Stop::Operations => {
                self.limit(format!("{hook} ran more than {} operations{at}", self.limits.max_operations))
            }
        }
    }

    fn doc_result(&self, hook: &str, value: Dynamic) -> Result<Value, StepError> {
        if !value.is_map() {
            let hint = if value.is_unit() { " (does the function end with the document, without a `;`?)" } else { "" };
            return Err(
                self.failed(format!("{hook} must return the document as a map, got {}{hint}", value.type_name()), None)
            );
        }
        rhai::serde::from_dynamic::<Value>(&value)
            .map_err(|e| self.failed(format!("{hook} returned a map that is not JSON: {e}"), None))
    }
}

/// `32 MiB`, or `1000 bytes`.
fn bytes(n: usize) -> String {
    if n > 0 && n.is_multiple_of(1 << 20) { format!("{} MiB", n >> 20) } else { format!("{n} bytes") }
}

/// A unit enum variant as its serde (kebab-case) name.
fn serialized_name(value: &impl serde::Serialize) -> Dynamic {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => Dynamic::from(s),
        _ => Dynamic::UNIT,
    }
}

fn has_hook(hooks: &Hooks, hook: &str) -> bool {
    match hook {
        "scope" => hooks.scope,
        "transform_in" => hooks.transform_in,
        "transform_out" => hooks.transform_out,
        "match_keys" => hooks.match_keys,
        _ => hooks.on_event,
    }
}

/// Whether `value` nests arrays and maps at most `levels` deep, looking no
/// deeper than that (so it never recurses further).
fn depth_within(value: &Dynamic, levels: usize) -> bool {
    if let Ok(array) = value.as_array_ref() {
        return levels > 0 && array.iter().all(|v| depth_within(v, levels - 1));
    }
    if let Ok(map) = value.as_map_ref() {
        return levels > 0 && map.values().all(|v| depth_within(v, levels - 1));
    }
    true
}

/// A scalar as match-key text; `None` for nothing or empty.
fn key_text(value: &Dynamic) -> Result<Option<String>, ()> {
    if value.is_unit() {
        return Ok(None);
    }
    if value.is_string() || value.is_int() || value.is_float() || value.is_bool() || value.is_char() {
        let text = value.to_string();
        return Ok((!text.trim().is_empty()).then_some(text));
    }
    Err(())
}

/// Per-call thread-local state: deadline, memory baseline, stop, log buffer.
/// Restores what it replaced when finished (or dropped by a panic).
struct CallGuard {
    deadline: Option<Instant>,
    memory: Option<(isize, isize)>,
    stopped: Option<Stop>,
    logs: (Vec<(LogLevel, String)>, usize),
}

impl CallGuard {
    fn enter(limits: &RhaiLimits) -> CallGuard {
        let deadline = (limits.deadline_ms > 0)
            .then(|| Instant::now().checked_add(Duration::from_millis(limits.deadline_ms)))
            .flatten();
        let memory = (limits.max_memory > 0 && MeteredAlloc::is_installed())
            .then(|| (MeteredAlloc::thread_live_bytes(), isize::try_from(limits.max_memory).unwrap_or(isize::MAX)));
        CallGuard {
            deadline: DEADLINE.replace(deadline),
            memory: MEMORY.replace(memory),
            stopped: STOPPED.replace(None),
            logs: CALL_LOGS.with(|logs| std::mem::take(&mut *logs.borrow_mut())),
        }
    }

    /// End the call: restore the outer state, return this call's log lines.
    fn finish(mut self) -> (Vec<(LogLevel, String)>, usize) {
        let outer = std::mem::take(&mut self.logs);
        CALL_LOGS.with(|logs| std::mem::replace(&mut *logs.borrow_mut(), outer))
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        DEADLINE.set(self.deadline);
        MEMORY.set(self.memory);
        STOPPED.set(self.stopped);
        if !self.logs.0.is_empty() || self.logs.1 > 0 {
            let outer = std::mem::take(&mut self.logs);
            CALL_LOGS.with(|logs| *logs.borrow_mut() = outer);
        }
    }
}

impl Step for RhaiStep {
    fn name(&self) -> &str {
        &self.name
    }

    fn hooks(&self) -> Hooks {
        self.hooks
    }

    fn scope(&self, doc: &Value, ctx: &HookContext) -> Result<ScopeDecision, StepError> {
        if !self.hooks.scope {
            return Ok(ScopeDecision::In);
        }
        let value = self.call("scope", vec![self.doc("scope", doc)?, self.ctx_map(ctx)])?;
        if let Ok(in_scope) = value.as_bool() {
            return Ok(if in_scope {
                ScopeDecision::In
            } else {
                ScopeDecision::Out { reason: format!("{}: scope returned false", self.name) }
            });
        }
        if value.is_string() {
            let reason = value.to_string();
            let reason = if reason.trim().is_empty() { format!("{}: out of scope", self.name) } else { reason };
            return Ok(ScopeDecision::Out { reason });
        }
        Err(self.failed(format!("scope must return true, false or a reason string, got {}", value.type_name()), None))
    }

    fn transform_in(&self, doc: Value, ctx: &HookContext) -> Result<Value, StepError> {
        if !self.hooks.transform_in {
            return Ok(doc);
        }
        let value = self.call("transform_in", vec![self.doc("transform_in", &doc)?, self.ctx_map(ctx)])?;
        self.doc_result("transform_in", value)
    }

    fn transform_out(&self, doc: Value, ctx: &HookContext) -> Result<Value, StepError> {
        if !self.hooks.transform_out {
            return Ok(doc);
        }
        let value = self.call("transform_out", vec![self.doc("transform_out", &doc)?, self.ctx_map(ctx)])?;
        self.doc_result("transform_out", value)
    }

    fn match_keys(&self, doc: &Value, ctx: &HookContext) -> Result<Vec<MatchKey>, StepError> {
        if !self.hooks.match_keys {
            return Ok(Vec::new());
        }
        let value = self.call("match_keys", vec![self.doc("match_keys", doc)?, self.ctx_map(ctx)])?;
        if value.is_unit() {
            return Ok(Vec::new());
        }
        let malformed = |what: String| {
            self.failed(format!("match_keys must return an array of #{{attribute, value}} maps; {what}"), None)
        };
        let Ok(items) = value.as_array_ref() else {
            return Err(malformed(format!("got {}", value.type_name())));
        };
        let mut keys = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Ok(map) = item.as_map_ref() else {
                return Err(malformed(format!("item {i} is {}", item.type_name())));
            };
            let attribute = match map.get("attribute") {
                Some(a) if a.is_string() && !a.to_string().trim().is_empty() => a.to_string(),
                _ => return Err(malformed(format!("item {i} has no attribute string"))),
            };
            match key_text(map.get("value").unwrap_or(&Dynamic::UNIT)) {
                Ok(Some(value)) => keys.push(MatchKey { attribute, value }),
                Ok(None) => {}
                Err(()) => return Err(malformed(format!("the value of item {i} is not a string, number or boolean"))),
            }
        }
        Ok(keys)
    }

    fn on_event(&self, event: Event, doc: &Value, ctx: &HookContext) -> Result<(), StepError> {
        if !self.hooks.on_event {
            return Ok(());
        }
        let event = serialized_name(&event);
        self.call("on_event", vec![event, self.doc("on_event", doc)?, self.ctx_map(ctx)]).map(|_| ())
    }
}

#[cfg(test)]
mod tests;
