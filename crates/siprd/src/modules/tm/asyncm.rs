//! async: suspend the transaction and resume it later in an async worker
//! (`async_sleep`, `async_ms_sleep`, `async_route`, `async_ms_route`,
//! `async_task_route`). Built on tm's `t_suspend`/`t_continue`: the resumed
//! code runs as a failure route. Deadlines are kept exactly (one timer thread,
//! a binary heap and a condvar): a job never runs early and is never stranded.

use super::{continue_tx, suspend, Resume, TmState};
use crate::context::Ctx;
use crate::module::Module;
use crate::runtime::Runtime;
use parking_lot::{Condvar, Mutex};
use siprd_script::pv::PvSpec;
use siprd_script::registry::{
    func, Arg, ArgSrc, FixupCtx, FuncDef, ModParamDecl, ModParamType, ParamKind,
};
use siprd_script::{route_type, Registry, RouteId, Value};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

enum JobKind {
    /// Resume a suspended transaction.
    Resume {
        tm: Arc<TmState>,
        index: u32,
        label: u32,
        what: Resume,
    },
    /// `async_task_data`: run a route with `$async(data)`, no transaction.
    Data {
        route: crate::runtime::RouteRef,
        data: bytes::Bytes,
    },
}

struct Job {
    at: Instant,
    seq: u64,
    /// Handed to the core's task workers when due (the millisecond timer's
    /// jobs, as Kamailio's) instead of run by the async worker.
    task: bool,
    kind: JobKind,
}

/// The data of `async_task_data` (read by `$async(data)`).
pub struct AsyncData(pub bytes::Bytes);

impl PartialEq for Job {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Job {
    fn cmp(&self, o: &Self) -> Ordering {
        o.at.cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Job>,
    seq: u64,
    /// A worker sleeps until the earliest deadline; the others sleep until
    /// woken, so an idle pool costs one wake-up per batch, not one per worker.
    timing: bool,
}

pub struct AsyncState {
    workers: Mutex<usize>,
    /// modparam "workers" ≤ 0: Kamailio 5.6 starts, and the sleep/route
    /// functions (seconds and ms) fail ("no async mod timer workers").
    no_timer_workers: std::sync::atomic::AtomicBool,
    /// modparam "return": what the suspending functions return on success.
    ret: Mutex<i32>,
    /// modparam "ms_timer": 0 (default) disables async_ms_sleep/async_ms_route.
    ms_timer: Mutex<i32>,
    queue: Mutex<Queue>,
    cv: Condvar,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// The core's task worker groups: `default` (core `async_workers`) first,
    /// then every `async_workers_group`.
    groups: Mutex<Vec<Arc<Group>>>,
    /// Bad `async_workers_group` values, logged once logging runs (start).
    bad_groups: Mutex<Vec<String>>,
}

/// A group of task workers (`async_task_*`): a FIFO served by its threads.
struct Group {
    name: Arc<str>,
    workers: usize,
    queue: Mutex<std::collections::VecDeque<JobKind>>,
    cv: Condvar,
}

thread_local! {
    /// The task group this thread serves (`$async(gname)`).
    static GROUP: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
}

/// Parse `name=g1;workers=2;nonblock=0;usleep=0`.
fn parse_group(spec: &str) -> Result<(String, usize), String> {
    let (mut name, mut workers) = (None, None);
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("async_workers_group: `{part}` is not name=value"))?;
        match k.trim() {
            "name" => name = Some(v.trim().to_string()),
            "workers" => {
                workers = Some(
                    v.trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=crate::settings::MAX_THREADS).contains(n))
                        .ok_or_else(|| {
                            format!(
                                "async_workers_group: bad workers `{v}` (1 to {})",
                                crate::settings::MAX_THREADS
                            )
                        })?,
                )
            }
            // Kamailio's socket and polling options: threads block on a condvar
            // here; other keys are ignored too (Kamailio 5.6).
            _ => {}
        }
    }
    match (name, workers) {
        (Some(n), Some(w)) if !n.is_empty() => Ok((n, w)),
        _ => Err(format!(
            "async_workers_group `{spec}` needs a name and a number of workers"
        )),
    }
}

fn group_worker(g: Arc<Group>, rt: Arc<Runtime>) {
    GROUP.with(|c| *c.borrow_mut() = Some(g.name.clone()));
    loop {
        let job = {
            let mut q = g.queue.lock();
            // Stop flag read under the lock `stop` notifies under.
            while q.is_empty() && !rt.is_stopping() {
                g.cv.wait(&mut q);
            }
            if rt.is_stopping() {
                return;
            }
            q.pop_front()
        };
        if let Some(j) = job {
            run_job(&rt, j);
        }
    }
}

fn run_job(rt: &Arc<Runtime>, job: JobKind) {
    match job {
        JobKind::Resume {
            tm,
            index,
            label,
            what,
        } => {
            continue_tx(&tm, rt, index as i32, label as i32, what);
        }
        JobKind::Data { route, data } => {
            let ev = crate::runtime::EventHandle {
                name: Arc::from("async_task_data"),
                route,
            };
            rt.raise(&ev, Some(Box::new(AsyncData(data))));
        }
    }
}

pub struct Async {
    state: Arc<AsyncState>,
}

impl Default for Async {
    fn default() -> Self {
        Async {
            state: Arc::new(AsyncState {
                workers: Mutex::new(1),
                ret: Mutex::new(0),
                ms_timer: Mutex::new(0),
                queue: Mutex::new(Queue::default()),
                cv: Condvar::new(),
                threads: Mutex::new(Vec::new()),
                groups: Mutex::new(Vec::new()),
                bad_groups: Mutex::new(Vec::new()),
                no_timer_workers: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }
}

/// A time argument: a constant or a PV that must hold an integer.
enum Amount {
    Const(i32),
    Pv(Box<PvSpec<Ctx>>),
}

/// The fixed-up first argument: tm's state plus the route or the amount.
struct AsyncArg {
    tm: Arc<TmState>,
    route: Option<RouteSel>,
    amount: Option<Amount>,
}

fn tm_state(fx: &mut FixupCtx<'_, Ctx>, _src: &ArgSrc) -> Result<Arc<TmState>, String> {
    super::tm_api(fx)
}

fn amount_of(fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc) -> Result<Amount, String> {
    let t = src.text.trim();
    if t.starts_with('$') {
        let (spec, _) = siprd_script::pv::parse_pv(fx, t)?;
        return Ok(Amount::Pv(Box::new(spec)));
    }
    t.parse::<i32>()
        .map(Amount::Const)
        .map_err(|_| format!("`{t}` is not an integer"))
}

fn amount_value(ctx: &mut Ctx, a: &Amount) -> Option<i32> {
    match a {
        Amount::Const(n) => Some(*n),
        Amount::Pv(p) => match p.get(ctx) {
            Value::Int(n) => Some(n),
            _ => None,
        },
    }
}

fn amount_fixup() -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        let tm = tm_state(fx, src)?;
        let amount = amount_of(fx, src)?;
        Ok(Arg::Custom(Box::new(AsyncArg {
            tm,
            route: None,
            amount: Some(amount),
        })))
    }))
}

fn route_fixup() -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        let route = RouteSel::fixup(fx, src)?;
        let tm = tm_state(fx, src)?;
        Ok(Arg::Custom(Box::new(AsyncArg {
            tm,
            route: Some(route),
            amount: None,
        })))
    }))
}

fn amount_only_fixup() -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        let amount = amount_of(fx, src)?;
        Ok(Arg::Custom(Box::new(amount)))
    }))
}

/// `$async(data)`.
struct AsyncDataPv;

impl siprd_script::registry::PvImpl<Ctx> for AsyncDataPv {
    fn get(&self, ctx: &mut Ctx, _idx: siprd_script::registry::PvIndex) -> Value {
        match ctx.event_data::<AsyncData>() {
            Some(d) => Value::Str(d.0.clone()),
            None => Value::Null,
        }
    }
}

/// `$async(gname)`: the task group running the route (null elsewhere).
struct AsyncGnamePv;

impl siprd_script::registry::PvImpl<Ctx> for AsyncGnamePv {
    fn get(&self, _ctx: &mut Ctx, _idx: siprd_script::registry::PvIndex) -> Value {
        GROUP.with(|g| match &*g.borrow() {
            Some(n) => Value::Str(bytes::Bytes::copy_from_slice(n.as_bytes())),
            None => Value::Null,
        })
    }
}

fn task_arg(a: &Arg<Ctx>) -> Option<&TaskArg> {
    match a {
        Arg::Custom(b) => b.downcast_ref::<TaskArg>(),
        _ => None,
    }
}

impl AsyncState {
    fn push(&self, at: Instant, task: bool, kind: JobKind) {
        let mut q = self.queue.lock();
        q.seq += 1;
        let seq = q.seq;
        // A worker sleeps until the earliest deadline's window ends (the
        // others until woken): only a job due before that needs a wake-up.
        let earliest = q
            .heap
            .peek()
            .is_none_or(|top| at + window(task) < top.at + window(top.task));
        q.heap.push(Job {
            at,
            seq,
            task,
            kind,
        });
        drop(q);
        if earliest {
            self.cv.notify_all();
        }
    }

    /// Check a delay as Kamailio 5.6 does: seconds in 1..=99; milliseconds in
    /// 1..=29999 and only with `ms_timer` set. The duration and whether the
    /// resumption goes through the core task workers (the millisecond timer).
    pub fn delay(&self, name: &str, d: Delay) -> Option<(Duration, bool)> {
        match d {
            Delay::Secs(_) | Delay::Ms(_)
                if self
                    .no_timer_workers
                    .load(std::sync::atomic::Ordering::Relaxed) =>
            {
                tracing::error!("{name}: no async mod timer workers (modparam missing?)");
                None
            }
            Delay::Secs(n) if n <= 0 => {
                tracing::error!("{name}: negative or zero sleep time ({n})");
                None
            }
            Delay::Secs(n) if n >= 100 => {
                tracing::error!("{name}: max sleep time is 100 sec ({n})");
                None
            }
            Delay::Secs(n) => Some((Duration::from_secs(n as u64), false)),
            Delay::Ms(_) if *self.ms_timer.lock() <= 0 => {
                tracing::error!("{name}: async timer list not initialized - check modparams");
                None
            }
            Delay::Ms(n) if n <= 0 => {
                tracing::error!("{name}: negative or zero sleep time ({n})");
                None
            }
            Delay::Ms(n) if n >= 30000 => {
                tracing::error!("{name}: max sleep time is 30000 msec ({n})");
                None
            }
            Delay::Ms(n) => Some((Duration::from_millis(n as u64), true)),
        }
    }

    /// Suspend the transaction of `ctx` and queue its resumption after `delay`.
    /// 0 ends the script (the rest runs later), -1 on error.
    fn suspend_for(
        &self,
        tm: &Arc<TmState>,
        ctx: &mut Ctx,
        (delay, task): (Duration, bool),
        what: Resume,
    ) -> i32 {
        let tx = match suspend_current(tm, ctx) {
            Ok(tx) => tx,
            Err(code) => return code,
        };
        let kind = JobKind::Resume {
            tm: tm.clone(),
            index: tx.entry.index,
            label: tx.entry.label,
            what,
        };
        self.push(Instant::now() + delay, task, kind);
        *self.ret.lock()
    }

    fn group(&self, name: &[u8]) -> Option<Arc<Group>> {
        self.groups
            .lock()
            .iter()
            .find(|g| g.name.as_bytes() == name)
            .cloned()
    }

    /// Queue a task on a worker group (None: the default group).
    fn push_task(&self, group: Option<&[u8]>, job: JobKind) -> bool {
        let g = match group {
            Some(n) => self.group(n),
            None => self.groups.lock().first().cloned(),
        };
        if g.is_none() && group.is_none() {
            // Kamailio: the transaction stays suspended (fr_timer ends it).
            tracing::warn!("async task pushed, but no async workers - ignoring");
            return false;
        }
        let Some(g) = g else {
            tracing::warn!(
                "async: group [{}] not found - ignoring",
                String::from_utf8_lossy(group.unwrap_or(b"default"))
            );
            return false;
        };
        g.queue.lock().push_back(job);
        g.cv.notify_one();
        true
    }

    /// `async_task_route` / `async_task_group_route`: suspend, then resume in a
    /// task worker of the group. An unknown group leaves the transaction
    /// suspended (fr_timer ends it), as Kamailio.
    fn task_route(
        &self,
        tm: &Arc<TmState>,
        ctx: &mut Ctx,
        route: crate::runtime::RouteRef,
        group: Option<&[u8]>,
    ) -> i32 {
        let tx = match suspend_current(tm, ctx) {
            Ok(tx) => tx,
            Err(code) => return code,
        };
        ctx.flush();
        self.push_task(
            group,
            JobKind::Resume {
                tm: tm.clone(),
                index: tx.entry.index,
                label: tx.entry.label,
                what: Resume::Route(route),
            },
        );
        *self.ret.lock()
    }
}

/// A route name: resolved at load, or by name at run time when it holds variables.
enum RouteSel {
    Static(RouteId),
    Dynamic(siprd_script::pv::Format<Ctx>),
    /// A name no `route[...]` block has: Kamailio starts and the call fails
    /// (-1) at run time.
    Missing(Box<str>),
}

impl RouteSel {
    fn fixup(fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc) -> Result<RouteSel, String> {
        let name = src.text.trim();
        if name.contains('$') {
            return Ok(RouteSel::Dynamic(siprd_script::pv::parse_format(fx, name)?));
        }
        Ok(match fx.routes.route.get(name) {
            Some(id) => RouteSel::Static(*id),
            None => {
                fx.warnings.push(format!(
                    "route[{name}] is not defined: the call will fail (-1)"
                ));
                RouteSel::Missing(name.into())
            }
        })
    }

    fn get(&self, ctx: &mut Ctx) -> Option<RouteId> {
        match self {
            RouteSel::Static(id) => Some(*id),
            RouteSel::Missing(name) => {
                tracing::error!("async: route block not found: {name}");
                None
            }
            RouteSel::Dynamic(f) => {
                let name = f.eval(ctx);
                let name = String::from_utf8_lossy(&name);
                let id = ctx
                    .rt
                    .program
                    .route(siprd_script::ast::RouteKind::Route, &name);
                if id.is_none() {
                    tracing::error!("async: route[{name}] is not defined");
                }
                id
            }
        }
    }
}

/// The route argument of the task functions: needs the core task workers.
struct TaskArg {
    tm: Option<Arc<TmState>>,
    route: RouteSel,
}

fn task_fixup(st: Arc<AsyncState>, needs_tm: bool) -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(move |fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        if st.groups.lock().is_empty() {
            return Err(
                "async task framework was not initialized - set async_workers parameter in core"
                    .into(),
            );
        }
        let tm = if needs_tm {
            Some(tm_state(fx, src)?)
        } else {
            None
        };
        let route = RouteSel::fixup(fx, src)?;
        Ok(Arg::Custom(Box::new(TaskArg { tm, route })))
    }))
}

pub(crate) const API_FUNC: &str = "__async_api";

/// The async state for KEMI's `KSR.async.*`, resolved through [`API_FUNC`]'s
/// fix-up; None when async is not loaded.
pub fn async_api(fx: &mut FixupCtx<'_, Ctx>) -> Option<Arc<AsyncState>> {
    let fix = match fx
        .registry
        .functions
        .get(API_FUNC)?
        .first()?
        .params
        .first()?
    {
        ParamKind::Custom(f) => f.clone(),
        _ => return None,
    };
    let src = ArgSrc {
        text: String::new(),
        quoted: true,
        int: None,
    };
    match fix(fx, &src).ok()? {
        Arg::Custom(b) => b.downcast::<Arc<AsyncState>>().ok().map(|b| *b),
        _ => None,
    }
}

impl AsyncState {
    /// `KSR.async.route/ms_route/task_route`: suspend and resume into `route`
    /// (a KEMI function) after `delay` (checked by [`AsyncState::delay`]).
    /// 0 when suspended, -1 on error.
    pub fn suspend_into(
        &self,
        tm: &Arc<TmState>,
        ctx: &mut Ctx,
        delay: (Duration, bool),
        route: crate::runtime::RouteRef,
    ) -> i32 {
        self.suspend_for(tm, ctx, delay, Resume::Route(route))
    }

    /// KEMI `KSR.async.task_route/task_group_route`: `async_task_route`
    /// resuming in a function. -1 without task workers.
    pub fn task_into(
        &self,
        tm: &Arc<TmState>,
        ctx: &mut Ctx,
        route: crate::runtime::RouteRef,
        group: Option<&[u8]>,
    ) -> i32 {
        if self.groups.lock().is_empty() {
            tracing::error!("async: task workers are not enabled (core async_workers)");
            return -1;
        }
        self.task_route(tm, ctx, route, group)
    }

    /// KEMI `KSR.async.task_data/task_group_data`: run a function in a task
    /// worker with `$async(data)`. 1 when queued, and (as Kamailio's KEMI)
    /// when a named group does not exist (logged, nothing runs); -1 without
    /// task workers.
    pub fn data_into(
        &self,
        route: crate::runtime::RouteRef,
        group: Option<&[u8]>,
        data: bytes::Bytes,
    ) -> i32 {
        if self.push_task(group, JobKind::Data { route, data }) || group.is_some() {
            1
        } else {
            -1
        }
    }
}

/// A delay given to an async function.
#[derive(Clone, Copy, Debug)]
pub enum Delay {
    Secs(i64),
    Ms(i64),
}

impl AsyncState {}

/// How late a resumption may run so that one wake-up serves every job due
/// in the window (never early). The millisecond timer keeps tm's resolution;
/// second sleeps, whose Kamailio timer resumes them anywhere in the second
/// after the deadline, are batched wider.
const MS_WINDOW: Duration = Duration::from_millis(10);
const SECS_WINDOW: Duration = Duration::from_millis(50);

fn window(ms_timer: bool) -> Duration {
    if ms_timer {
        MS_WINDOW
    } else {
        SECS_WINDOW
    }
}

/// An async worker: takes due jobs and resumes their transactions.
fn worker(st: Arc<AsyncState>, rt: Arc<Runtime>) {
    while let Some(j) = next_job(&st, &rt) {
        if j.task {
            st.push_task(None, j.kind);
        } else {
            run_job(&rt, j.kind);
        }
    }
}

/// Wait for the next due job; None when shutdown starts. The stop flag is
/// read under the queue lock and `stop` notifies under it: no lost wake-up.
fn next_job(st: &AsyncState, rt: &Runtime) -> Option<Job> {
    let mut q = st.queue.lock();
    loop {
        if rt.is_stopping() {
            return None;
        }
        let now = Instant::now();
        let Some(top) = q.heap.peek() else {
            st.cv.wait(&mut q);
            continue;
        };
        if top.at <= now {
            let job = q.heap.pop();
            // More jobs due: an idle peer takes them in parallel. Jobs left
            // and nobody timing them: a peer takes over the timing while
            // this worker runs its job.
            let more_due = q.heap.peek().is_some_and(|t| t.at <= now);
            if more_due || (!q.timing && !q.heap.is_empty()) {
                st.cv.notify_one();
            }
            return job;
        }
        if q.timing {
            st.cv.wait(&mut q);
            continue;
        }
        let until = top.at + window(top.task);
        q.timing = true;
        st.cv.wait_until(&mut q, until);
        q.timing = false;
    }
}

impl Module for Async {
    fn name(&self) -> &'static str {
        "async"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        vec![
            ModParamDecl {
                name: "workers",
                ty: ModParamType::Int,
            },
            ModParamDecl {
                name: "ms_timer",
                ty: ModParamType::Int,
            },
            ModParamDecl {
                name: "return",
                ty: ModParamType::Int,
            },
        ]
    }

    fn set_param(&mut self, name: &str, v: &Value) -> Result<(), String> {
        match name {
            "workers" => match v.try_int() {
                Some(n) if n > crate::settings::MAX_THREADS as i32 => {
                    return Err(format!(
                        "{n} workers is too many (at most {})",
                        crate::settings::MAX_THREADS
                    ))
                }
                Some(n) => {
                    *self.state.workers.lock() = usize::try_from(n).unwrap_or(0);
                    self.state
                        .no_timer_workers
                        .store(n <= 0, std::sync::atomic::Ordering::Relaxed);
                }
                None => return Err("workers must be an integer".into()),
            },
            "return" => match v.try_int() {
                Some(n) => *self.state.ret.lock() = n,
                None => return Err("return must be an integer".into()),
            },
            // The resolution is fixed (MS_WINDOW); 0 leaves the ms functions off.
            "ms_timer" => match v.try_int() {
                Some(n) => *self.state.ms_timer.lock() = n,
                None => return Err("ms_timer must be an integer".into()),
            },
            _ => return Err(format!("module `async` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn init(&mut self, core: &crate::module::CoreSettings) -> Result<(), String> {
        let mut groups = Vec::new();
        let mut add = |name: String, workers: usize| -> Result<(), String> {
            if groups
                .iter()
                .any(|g: &Arc<Group>| &*g.name == name.as_str())
            {
                return Err(format!("async_workers_group: group `{name}` defined twice"));
            }
            groups.push(Arc::new(Group {
                name: Arc::from(name.as_str()),
                workers,
                queue: Mutex::new(Default::default()),
                cv: Condvar::new(),
            }));
            Ok(())
        };
        if core.async_workers > 0 {
            add("default".into(), core.async_workers)?;
        }
        for spec in &core.async_workers_group {
            // Kamailio 5.6 logs a bad group and starts without it (functions
            // naming it are then refused or find no group).
            match parse_group(spec) {
                Ok((name, workers)) => add(name, workers)?,
                Err(e) => self.state.bad_groups.lock().push(e),
            }
        }
        *self.state.groups.lock() = groups;
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        let routes = route_type::REQUEST | route_type::FAILURE;
        // KEMI (app_lua) reaches the async state through this hidden function
        let st = self.state.clone();
        reg.add_function(FuncDef {
            name: API_FUNC,
            module: "async",
            params: vec![ParamKind::Custom(Arc::new(
                move |_fx: &mut FixupCtx<'_, Ctx>, _s: &ArgSrc| {
                    Ok(Arg::Custom(Box::new(st.clone())))
                },
            ))],
            routes: 0,
            call: func(|_c: &mut Ctx, _a: &[Arg<Ctx>]| -1),
        });
        for (name, ms) in [("async_sleep", false), ("async_ms_sleep", true)] {
            let st = self.state.clone();
            reg.add_function(FuncDef {
                name,
                module: "async",
                params: vec![amount_fixup()],
                routes,
                call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Arg::Custom(b) = &a[0] else { return -1 };
                    let Some(arg) = b.downcast_ref::<AsyncArg>() else {
                        return -1;
                    };
                    if ctx.faked {
                        tracing::error!("{name}: invalid usage for faked message");
                        return -1;
                    }
                    if !ctx.exec.resumable {
                        tracing::error!(
                            "{name}: cannot be executed as last action in a route block"
                        );
                        return -1;
                    }
                    let Some(n) = arg.amount.as_ref().and_then(|x| amount_value(ctx, x)) else {
                        tracing::error!("{name}: the time must be an integer");
                        return -1;
                    };
                    let n = i64::from(n);
                    let Some(d) = st.delay(name, if ms { Delay::Ms(n) } else { Delay::Secs(n) })
                    else {
                        return -1;
                    };
                    let cursor = ctx.exec.cursor;
                    st.suspend_for(&arg.tm, ctx, d, Resume::Cursor(cursor))
                }),
            });
        }
        for (name, ms) in [("async_route", false), ("async_ms_route", true)] {
            let st = self.state.clone();
            reg.add_function(FuncDef {
                name,
                module: "async",
                params: vec![route_fixup(), amount_only_fixup()],
                routes,
                call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let (Arg::Custom(b), Arg::Custom(n)) = (&a[0], &a[1]) else {
                        return -1;
                    };
                    let (Some(arg), Some(amount)) =
                        (b.downcast_ref::<AsyncArg>(), n.downcast_ref::<Amount>())
                    else {
                        return -1;
                    };
                    let Some(route) = arg.route.as_ref().and_then(|r| r.get(ctx)) else {
                        return -1;
                    };
                    let Some(n) = amount_value(ctx, amount) else {
                        tracing::error!("{name}: the time must be an integer");
                        return -1;
                    };
                    let n = i64::from(n);
                    let Some(d) = st.delay(name, if ms { Delay::Ms(n) } else { Delay::Secs(n) })
                    else {
                        return -1;
                    };
                    st.suspend_for(&arg.tm, ctx, d, Resume::Route(route.into()))
                }),
            });
        }
        for (name, grouped) in [("async_task_data", false), ("async_task_group_data", true)] {
            let st = self.state.clone();
            let mut params = vec![task_fixup(self.state.clone(), false)];
            if grouped {
                params.push(ParamKind::StrOrPv);
            }
            params.push(ParamKind::StrOrPv);
            reg.add_function(FuncDef {
                name,
                module: "async",
                params,
                routes: route_type::ANY,
                call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(t) = task_arg(&a[0]) else { return -1 };
                    let Some(route) = t.route.get(ctx) else {
                        return -1;
                    };
                    let group = match grouped {
                        true => Some(crate::modules::args::str_arg(ctx, &a[1]).unwrap_or_default()),
                        false => None,
                    };
                    let data = a
                        .last()
                        .and_then(|x| crate::modules::args::str_arg(ctx, x))
                        .unwrap_or_default();
                    // As Kamailio: a group that does not exist is logged
                    // ("not found - ignoring") and the function is still true.
                    let _ = st.push_task(
                        group.as_deref(),
                        JobKind::Data {
                            route: route.into(),
                            data,
                        },
                    );
                    1
                }),
            });
        }
        for (name, grouped) in [
            ("async_task_route", false),
            ("async_task_group_route", true),
        ] {
            let st = self.state.clone();
            let mut params = vec![task_fixup(self.state.clone(), true)];
            if grouped {
                params.push(ParamKind::StrOrPv);
            }
            reg.add_function(FuncDef {
                name,
                module: "async",
                params,
                routes,
                call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(t) = task_arg(&a[0]) else { return -1 };
                    let Some(tm) = t.tm.clone() else { return -1 };
                    let Some(route) = t.route.get(ctx) else {
                        return -1;
                    };
                    let group = a
                        .get(1)
                        .map(|x| crate::modules::args::str_arg(ctx, x).unwrap_or_default());
                    st.task_route(&tm, ctx, route.into(), group.as_deref())
                }),
            });
        }
        reg.add_pv(siprd_script::registry::PvClassDef {
            name: "async",
            module: "async",
            parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                // names are exact: no blanks, as Kamailio
                match inner {
                    Some("data") => {
                        Ok(Box::new(AsyncDataPv) as Box<dyn siprd_script::registry::PvImpl<Ctx>>)
                    }
                    Some("gname") => {
                        Ok(Box::new(AsyncGnamePv) as Box<dyn siprd_script::registry::PvImpl<Ctx>>)
                    }
                    other => Err(format!(
                        "unknown $async field `{}` (data, gname)",
                        other.unwrap_or_default()
                    )),
                }
            }),
        });
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        for e in self.state.bad_groups.lock().drain(..) {
            tracing::error!("{e}: the group is ignored");
        }
        let n = *self.state.workers.lock();
        let mut threads = self.state.threads.lock();
        for i in 0..n {
            let (st, rt) = (self.state.clone(), rt.clone());
            let h = std::thread::Builder::new()
                .name(format!("async-{i}"))
                .spawn(move || worker(st, rt))
                .map_err(|e| format!("cannot start async worker: {e}"))?;
            threads.push(h);
        }
        for g in self.state.groups.lock().iter() {
            for i in 0..g.workers {
                let (g2, rt) = (g.clone(), rt.clone());
                let h = std::thread::Builder::new()
                    .name(format!("async-{}-{i}", g.name))
                    .spawn(move || group_worker(g2, rt))
                    .map_err(|e| format!("cannot start async task worker: {e}"))?;
                threads.push(h);
            }
        }
        Ok(())
    }

    fn stop(&self) {
        // Notified under each queue's lock: a worker that has not seen the
        // stop flag yet is already waiting and gets the wake-up.
        {
            let _q = self.state.queue.lock();
            self.state.cv.notify_all();
        }
        for g in self.state.groups.lock().iter() {
            let _q = g.queue.lock();
            g.cv.notify_all();
        }
        for h in self.state.threads.lock().drain(..) {
            let _ = h.join();
        }
    }
}

/// Suspend the transaction of `ctx` for an async function: Err carries the
/// script's return code (0 ends the script, -1 an error; a synthetic event
/// message cannot be suspended).
fn suspend_current(tm: &Arc<TmState>, ctx: &mut Ctx) -> Result<super::TxRef, i32> {
    if ctx.faked {
        tracing::error!("async: cannot suspend a synthetic (event) message");
        return Err(-1);
    }
    match suspend(tm, ctx) {
        1 => {}
        0 => return Err(0),
        _ => return Err(-1),
    }
    ctx.tm.tx.clone().ok_or(-1)
}
