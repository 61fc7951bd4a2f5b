//! Boundary helpers: panic catching and checked access to C pointers.

use crate::airswarm_result::{self, *};
use std::cell::RefCell;
use std::ffi::CStr;
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
#[cfg(feature = "test-hooks")]
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by `airswarm_test_force_panic` (only in a library built with `test-hooks`).
#[cfg(feature = "test-hooks")]
pub(crate) static FORCE_PANIC: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The specific message of the last error on this thread ("" after a success).
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `message` as this thread's last error and returns `code`, for `map_err`.
pub(crate) fn fail(code: airswarm_result, message: impl Display) -> airswarm_result {
    LAST_ERROR.with(|e| *e.borrow_mut() = message.to_string());
    code
}

/// A copy of this thread's last error message.
pub(crate) fn last_error() -> String {
    LAST_ERROR.with(|e| e.borrow().clone())
}

fn clear_error() {
    LAST_ERROR.with(|e| e.borrow_mut().clear());
}

/// After an entry point's body: a success clears the message; an error the body did not
/// describe gets the code's generic text; `AIRSWARM_DONE` is not an error.
fn settle(r: Result<(), airswarm_result>) -> airswarm_result {
    match r {
        Ok(()) => AIRSWARM_OK,
        Err(AIRSWARM_DONE) => AIRSWARM_DONE,
        Err(code) => {
            if LAST_ERROR.with(|e| e.borrow().is_empty()) {
                fail(code, airswarm_result::message(code as u32));
            }
            code
        }
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("an internal error (panic) was caught in libairswarm; please report it: {what}")
}

/// What an entry point's body returns: `Ok` is `AIRSWARM_OK`, `Err(code)` any other code
/// (including `AIRSWARM_DONE`, so `?` works on pointer checks).
pub(crate) type Res = Result<(), airswarm_result>;

fn maybe_force_panic() {
    #[cfg(feature = "test-hooks")]
    if FORCE_PANIC.load(Ordering::SeqCst) {
        panic!("airswarm_test_force_panic is on");
    }
}

/// Runs an entry point's body, turning a panic into `AIRSWARM_ERR_PANIC` (unwinding across
/// `extern "C"` would abort the host process), and keeps this thread's last error message.
pub(crate) fn guard(f: impl FnOnce() -> Res) -> airswarm_result {
    clear_error();
    match catch_unwind(AssertUnwindSafe(|| {
        maybe_force_panic();
        f()
    })) {
        Ok(r) => settle(r),
        Err(p) => fail(AIRSWARM_ERR_PANIC, panic_text(&*p)),
    }
}

/// Reads a NUL-terminated field name.
///
/// # Safety
/// `name` must be NULL or point to a NUL-terminated string.
pub(crate) unsafe fn name_arg<'a>(
    name: *const std::ffi::c_char,
) -> Result<&'a str, airswarm_result> {
    if name.is_null() {
        return Err(fail(AIRSWARM_ERR_NULL, "the field name was NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let c = unsafe { CStr::from_ptr(name) };
    c.to_str()
        .map_err(|_| fail(AIRSWARM_ERR_INVALID_ARGUMENT, "the field name is not UTF-8"))
}

/// `v` as a `T`, or `code` with `message` (the field's own message, naming `v`).
pub(crate) fn fit<T: TryFrom<u64>>(
    v: u64,
    code: airswarm_result,
    message: impl Display,
) -> Result<T, airswarm_result> {
    T::try_from(v).map_err(|_| fail(code, message))
}

/// A C flag: 0 or 1.
pub(crate) fn flag(what: &str, v: u32) -> Result<bool, airswarm_result> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(fail(
            AIRSWARM_ERR_INVALID_ARGUMENT,
            format!("{what} must be 0 or 1, not {v}"),
        )),
    }
}

/// `guard` for functions that return nothing (`_free`).
pub(crate) fn guard_void(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        maybe_force_panic();
        f()
    }));
}

/// Borrows `len` bytes at `ptr`. NULL is allowed only when `len` is 0.
///
/// # Safety
/// `ptr` must be NULL or point to `len` readable bytes that stay valid and unaliased by
/// writes for `'a`.
pub(crate) unsafe fn slice<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], airswarm_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(AIRSWARM_ERR_NULL);
    }
    if len > isize::MAX as usize {
        return Err(fail(
            AIRSWARM_ERR_INVALID_ARGUMENT,
            format!("a length of {len} bytes is larger than any buffer can be"),
        ));
    }
    // SAFETY: non-NULL, length bounded by isize::MAX, validity guaranteed by the caller.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows `*ptr`, failing on NULL.
///
/// # Safety
/// `ptr` must be NULL or point to a valid, initialised `T` that nothing else accesses for `'a`.
pub(crate) unsafe fn mut_ref<'a, T>(ptr: *mut T) -> Result<&'a mut T, airswarm_result> {
    // SAFETY: NULL is checked by `as_mut`; validity and exclusivity are the caller's contract.
    unsafe { ptr.as_mut() }.ok_or(AIRSWARM_ERR_NULL)
}

/// Borrows `*ptr` read-only, failing on NULL.
///
/// # Safety
/// `ptr` must be NULL or point to a valid, initialised `T` not written during `'a`.
pub(crate) unsafe fn const_ref<'a, T>(ptr: *const T) -> Result<&'a T, airswarm_result> {
    // SAFETY: NULL is checked by `as_ref`; validity is the caller's contract.
    unsafe { ptr.as_ref() }.ok_or(AIRSWARM_ERR_NULL)
}

/// Writes `value` to `*ptr`, failing on NULL.
///
/// # Safety
/// `ptr` must be NULL or valid for a write of `T` (it need not be initialised).
pub(crate) unsafe fn put<T>(ptr: *mut T, value: T) -> Res {
    if ptr.is_null() {
        return Err(AIRSWARM_ERR_NULL);
    }
    // SAFETY: non-NULL and writable by the caller's contract; `write` does not read or drop
    // the old (possibly uninitialised) value.
    unsafe { ptr.write(value) };
    Ok(())
}

/// Checks an output buffer before anything is consumed: `out_len` must be non-NULL; if
/// `need` exceeds `cap`, stores `need` and reports `AIRSWARM_ERR_BUFFER_TOO_SMALL`; a NULL
/// `buf` with a non-zero need is `AIRSWARM_ERR_NULL`.
///
/// # Safety
/// `out_len` must be NULL or valid for writes.
pub(crate) unsafe fn check_buf(buf: *mut u8, cap: usize, need: usize, out_len: *mut usize) -> Res {
    if out_len.is_null() {
        return Err(AIRSWARM_ERR_NULL);
    }
    if need > cap {
        // SAFETY: checked non-NULL above; writable by the caller's contract.
        unsafe { out_len.write(need) };
        return Err(AIRSWARM_ERR_BUFFER_TOO_SMALL);
    }
    if buf.is_null() && need > 0 {
        return Err(AIRSWARM_ERR_NULL);
    }
    Ok(())
}

/// Copies `data` into `buf` (capacity `cap`) and sets `*out_len = data.len()`, or reports the
/// size needed.
///
/// # Safety
/// `buf` must be NULL or point to `cap` writable bytes; `out_len` must be NULL or valid.
pub(crate) unsafe fn write_bytes(
    data: &[u8],
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> Res {
    // SAFETY: forwarded caller contract.
    unsafe { check_buf(buf, cap, data.len(), out_len)? };
    if !data.is_empty() {
        // SAFETY: `buf` is non-NULL (checked when data is non-empty) and holds at least
        // `data.len()` bytes because `data.len() <= cap`; a Rust slice cannot overlap a
        // caller-owned output buffer we were handed for writing.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len()) };
    }
    // SAFETY: `out_len` was checked non-NULL by `check_buf`.
    unsafe { out_len.write(data.len()) };
    Ok(())
}

/// Copies `text` plus a NUL into `buf`; `*out_len` is the length without the NUL, or the
/// capacity needed (with the NUL) when `cap` is too small.
///
/// # Safety
/// `buf` must be NULL or point to `cap` writable bytes; `out_len` must be NULL or valid.
pub(crate) unsafe fn write_text(text: &str, buf: *mut u8, cap: usize, out_len: *mut usize) -> Res {
    let bytes = text.as_bytes();
    // SAFETY: forwarded caller contract.
    unsafe { check_buf(buf, cap, bytes.len() + 1, out_len)? };
    // SAFETY: `buf` is non-NULL and has room for `bytes.len() + 1` bytes (checked above).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len());
        buf.add(bytes.len()).write(0);
        out_len.write(bytes.len());
    }
    Ok(())
}

/// Checks the `struct_size` an output struct starts with (set by the caller to `sizeof`
/// its version of the struct) before anything is consumed.
///
/// # Safety
/// `out` must be NULL or point to a struct whose first field, a `size_t`, is initialised.
pub(crate) unsafe fn check_sized<T>(out: *const T, min: usize) -> Res {
    if out.is_null() {
        return Err(AIRSWARM_ERR_NULL);
    }
    // SAFETY: non-NULL; the first field is an initialised, aligned `usize` by contract.
    let have = unsafe { out.cast::<usize>().read() };
    if have < min {
        return Err(fail(
            AIRSWARM_ERR_INVALID_ARGUMENT,
            format!(
                "struct_size {have} is smaller than the first version of this struct \
                 ({min} bytes); set it to sizeof the struct"
            ),
        ));
    }
    Ok(())
}

/// Writes `value` into a caller's output struct that starts with `size_t struct_size`:
/// only the first `struct_size` bytes (the fields the caller's version of the struct has),
/// never past them, and `struct_size` becomes the number of bytes written. So a field
/// added at the end of the struct breaks no program compiled against an older header.
///
/// # Safety
/// As `check_sized`, and `out` must be valid for writes of its `struct_size` bytes.
pub(crate) unsafe fn put_sized<T: Copy>(out: *mut T, value: T, min: usize) -> Res {
    // SAFETY: forwarded caller contract.
    unsafe { check_sized(out, min)? };
    // SAFETY: checked non-NULL with an initialised first field above.
    let n = unsafe { out.cast::<usize>().read() }.min(std::mem::size_of::<T>());
    // SAFETY: `value` is a `T` (`n` ≤ its size); the caller's struct holds at least `n`
    // bytes (its `struct_size`); a local cannot overlap caller memory.
    unsafe {
        std::ptr::copy_nonoverlapping((&raw const value).cast::<u8>(), out.cast::<u8>(), n);
        out.cast::<usize>().write(n);
    }
    Ok(())
}

/// Takes back a handle made by `Box::into_raw` and drops it; NULL is a no-op.
///
/// # Safety
/// `ptr` must be NULL or a pointer from `Box::into_raw` of the same type, not freed before.
pub(crate) unsafe fn free_box<T>(ptr: *mut T) {
    guard_void(|| {
        if !ptr.is_null() {
            // SAFETY: the caller's contract: `ptr` came from `Box::into_raw` and is freed once.
            drop(unsafe { Box::from_raw(ptr) });
        }
    })
}
