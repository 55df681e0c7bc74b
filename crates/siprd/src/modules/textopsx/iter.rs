//! Header and body-line iterators (`hf_iterator_*`, `bl_iterator_*`) and
//! their variables, as observed on Kamailio 5.6.3:
//! - at most 4 iterator names of each kind per worker; a name keeps its
//!   slot once started (`*_end` resets the position, not the slot);
//! - `next` after `start` gives the first item; past the last it answers
//!   false and keeps answering false (and `prev` too) until a new `start`;
//! - `hf_iterator_prev` goes back to the header before the current one
//!   once (a second `prev` goes back to before the first header);
//! - `rm` / `append` / `insert` work on the current item (false before the
//!   first); they edit the message, the iterator walks the message as
//!   received;
//! - `hf_iterator_end` goes back to before the first header (`next` gives
//!   it again), `bl_iterator_end` to past the last line (`next` is false);
//! - `$hfitname` / `$hfitbody` / `$blitval` are null for an unknown name and
//!   when not on an item; a body line keeps its end of line, a last
//!   line without one reads with a trailing NUL byte (as Kamailio reads one
//!   byte past it), and text appended after that line is lost.

use crate::context::Ctx;
use bytes::Bytes;
use siprd_script::Value;
use std::cell::RefCell;
use std::ops::Range;

/// Iterators of each kind a worker can have.
pub const MAX_ITERATORS: usize = 4;

/// Which message an iterator's position belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Stamp(u32, usize);

fn stamp(ctx: &Ctx) -> Stamp {
    Stamp(ctx.msg_no, ctx.msg.buf().as_ptr() as usize)
}

#[derive(Default)]
struct HfIt {
    name: Vec<u8>,
    at: Stamp,
    cur: Option<usize>,
    prev: Option<usize>,
    end: bool,
}

#[derive(Default)]
struct BlIt {
    name: Vec<u8>,
    at: Stamp,
    cur: Option<Range<usize>>,
    end: bool,
}

thread_local! {
    static HF: RefCell<Vec<HfIt>> = const { RefCell::new(Vec::new()) };
    static BL: RefCell<Vec<BlIt>> = const { RefCell::new(Vec::new()) };
}

/// Positions left from another message read as "just started".
fn fresh_hf(it: &mut HfIt, s: Stamp) {
    if it.at != s {
        (it.cur, it.prev, it.end, it.at) = (None, None, false, s);
    }
}

fn fresh_bl(it: &mut BlIt, s: Stamp) {
    if it.at != s {
        (it.cur, it.end, it.at) = (None, false, s);
    }
}

fn with_hf<R>(name: &[u8], f: impl FnOnce(&mut HfIt) -> R) -> Option<R> {
    HF.with(|v| v.borrow_mut().iter_mut().find(|i| i.name == name).map(f))
}

fn with_bl<R>(name: &[u8], f: impl FnOnce(&mut BlIt) -> R) -> Option<R> {
    BL.with(|v| v.borrow_mut().iter_mut().find(|i| i.name == name).map(f))
}

fn unknown(what: &str, name: &[u8]) -> i32 {
    tracing::error!(
        "{what}: iterator not available [{}]",
        String::from_utf8_lossy(name)
    );
    -1
}

pub fn hf_start(ctx: &mut Ctx, name: &[u8]) -> i32 {
    let s = stamp(ctx);
    HF.with(|v| {
        let mut v = v.borrow_mut();
        let i = match v.iter().position(|i| i.name == name) {
            Some(i) => i,
            None if v.len() < MAX_ITERATORS => {
                v.push(HfIt {
                    name: name.to_vec(),
                    ..Default::default()
                });
                v.len() - 1
            }
            None => {
                tracing::error!(
                    "hf_iterator_start: no iterator available - max number is {MAX_ITERATORS}"
                );
                return -1;
            }
        };
        let it = &mut v[i];
        (it.cur, it.prev, it.end, it.at) = (None, None, false, s);
        1
    })
}

pub fn hf_end(ctx: &mut Ctx, name: &[u8]) -> i32 {
    let s = stamp(ctx);
    with_hf(name, |it| {
        (it.cur, it.prev, it.end, it.at) = (None, None, false, s);
        1
    })
    .unwrap_or_else(|| unknown("hf_iterator_end", name))
}

pub fn hf_next(ctx: &mut Ctx, name: &[u8]) -> i32 {
    let s = stamp(ctx);
    let n = ctx.msg.header_lines();
    with_hf(name, |it| {
        fresh_hf(it, s);
        if it.end {
            return -1;
        }
        let next = it.cur.map_or(0, |c| c + 1);
        if next < n {
            it.prev = it.cur;
            it.cur = Some(next);
            1
        } else {
            (it.cur, it.prev, it.end) = (None, None, true);
            -1
        }
    })
    .unwrap_or_else(|| unknown("hf_iterator_next", name))
}

pub fn hf_prev(ctx: &mut Ctx, name: &[u8]) -> i32 {
    let s = stamp(ctx);
    with_hf(name, |it| {
        fresh_hf(it, s);
        if it.end {
            return -1;
        }
        it.cur = it.prev.take();
        1
    })
    .unwrap_or_else(|| unknown("hf_iterator_prev", name))
}

/// The current header of iterator `name`: Err(()) for an unknown name.
fn hf_current(ctx: &Ctx, name: &[u8]) -> Result<Option<usize>, ()> {
    let s = stamp(ctx);
    with_hf(name, |it| {
        fresh_hf(it, s);
        it.cur
    })
    .ok_or(())
}

#[derive(Clone, Copy)]
pub enum Edit {
    Remove,
    Append,
    Insert,
}

pub fn hf_edit(ctx: &mut Ctx, name: &[u8], e: Edit, text: &[u8]) -> i32 {
    let what = match e {
        Edit::Remove => "hf_iterator_rm",
        Edit::Append => "hf_iterator_append",
        Edit::Insert => "hf_iterator_insert",
    };
    let Ok(cur) = hf_current(ctx, name) else {
        return unknown(what, name);
    };
    let Some(line) = cur.and_then(|i| ctx.msg.headers().nth(i)).map(|h| h.line) else {
        return -1;
    };
    match e {
        Edit::Remove => ctx.edits.delete(line),
        Edit::Append => ctx.edits.insert(line.end, text.to_vec()),
        Edit::Insert => ctx.edits.insert(line.start, text.to_vec()),
    }
    1
}

/// `$hfitname(name)` (`body` false) / `$hfitbody(name)`.
pub fn hf_value(ctx: &Ctx, name: &[u8], body: bool) -> Value {
    let Ok(cur) = hf_current(ctx, name) else {
        unknown("hf iterator variable", name);
        return Value::Null;
    };
    match cur.and_then(|i| ctx.msg.headers().nth(i)) {
        Some(h) if body => Value::Str(ctx.msg.slice(h.value_range)),
        Some(h) => Value::Str(Bytes::copy_from_slice(h.name)),
        None => Value::Null,
    }
}

pub fn bl_start(ctx: &mut Ctx, name: &[u8]) -> i32 {
    let s = stamp(ctx);
    BL.with(|v| {
        let mut v = v.borrow_mut();
        let i = match v.iter().position(|i| i.name == name) {
            Some(i) => i,
            None if v.len() < MAX_ITERATORS => {
                v.push(BlIt {
                    name: name.to_vec(),
                    ..Default::default()
                });
                v.len() - 1
            }
            None => {
                tracing::error!(
                    "bl_iterator_start: no iterator available - max number is {MAX_ITERATORS}"
                );
                return -1;
            }
        };
        let it = &mut v[i];
        (it.cur, it.end, it.at) = (None, false, s);
        1
    })
}

pub fn bl_end(ctx: &mut Ctx, name: &[u8]) -> i32 {
    let s = stamp(ctx);
    // unlike the header iterator, an ended body-line iterator stays at the
    // end until started again
    with_bl(name, |it| {
        (it.cur, it.end, it.at) = (None, true, s);
        1
    })
    .unwrap_or_else(|| unknown("bl_iterator_end", name))
}

fn body_bounds(ctx: &Ctx) -> Range<usize> {
    let br = ctx.msg.body_range();
    let end = br.end.min(ctx.msg.buf().len());
    br.start.min(end)..end
}

pub fn bl_next(ctx: &mut Ctx, name: &[u8]) -> i32 {
    let s = stamp(ctx);
    let body = body_bounds(ctx);
    let buf = ctx.msg.buf().clone();
    with_bl(name, |it| {
        fresh_bl(it, s);
        if it.end {
            return -1;
        }
        let from = it.cur.as_ref().map_or(body.start, |r| r.end);
        if from >= body.end {
            (it.cur, it.end) = (None, true);
            return -1;
        }
        let to = memchr::memchr(b'\n', buf.get(from..body.end).unwrap_or_default())
            .map_or(body.end, |i| from + i + 1);
        it.cur = Some(from..to);
        1
    })
    .unwrap_or_else(|| unknown("bl_iterator_next", name))
}

fn bl_current(ctx: &Ctx, name: &[u8]) -> Result<Option<Range<usize>>, ()> {
    let s = stamp(ctx);
    with_bl(name, |it| {
        fresh_bl(it, s);
        it.cur.clone()
    })
    .ok_or(())
}

pub fn bl_edit(ctx: &mut Ctx, name: &[u8], e: Edit, text: &[u8]) -> i32 {
    let what = match e {
        Edit::Remove => "bl_iterator_rm",
        Edit::Append => "bl_iterator_append",
        Edit::Insert => "bl_iterator_insert",
    };
    let Ok(cur) = bl_current(ctx, name) else {
        return unknown(what, name);
    };
    let Some(line) = cur else {
        return -1;
    };
    match e {
        Edit::Remove => ctx.edits.delete(line),
        // Kamailio's last line without an end of line runs one byte past
        // the message: text appended after it is lost
        Edit::Append
            if !ctx
                .msg
                .buf()
                .get(..line.end)
                .unwrap_or_default()
                .ends_with(b"\n") =>
        {
            return 1
        }
        Edit::Append => ctx.edits.insert(line.end, text.to_vec()),
        Edit::Insert => ctx.edits.insert(line.start, text.to_vec()),
    }
    ctx.edits.fix_content_length(&ctx.msg);
    1
}

/// `$blitval(name)`.
pub fn bl_value(ctx: &Ctx, name: &[u8]) -> Value {
    let Ok(cur) = bl_current(ctx, name) else {
        unknown("bl iterator variable", name);
        return Value::Null;
    };
    match cur {
        Some(r) => {
            let line = ctx.msg.slice(r);
            if line.ends_with(b"\n") {
                Value::Str(line)
            } else {
                let mut v = Vec::with_capacity(line.len() + 1);
                v.extend_from_slice(&line);
                v.push(0);
                Value::Str(Bytes::from(v))
            }
        }
        None => Value::Null,
    }
}
