// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers around the kernel APIs that `kernel::` does not cover, and around the C shim
//! (`rust/shim.c`).
//!
//! Together with `rust/fops.rs`, this is the only file that uses `kernel::bindings` or the shim;
//! the rest of the module is safe Rust.

use crate::uapi::IoEvent;
use core::{
    marker::PhantomData,
    ptr::NonNull,
    sync::atomic::{
        AtomicPtr,
        Ordering, //
    },
};
use kernel::{
    bindings,
    cred::Credential,
    error::{
        from_err_ptr,
        to_result, //
    },
    fs::File,
    interrupt::LocalInterruptDisabled,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{
            ordering::{
                Acquire,
                Full,
                Relaxed,
                Release, //
            },
            Atomic, //
        },
        barrier::smp_mb,
        Arc,
        ArcBorrow,
        Completion,
        LockClassKey,
        Refcount, //
    },
    types::Opaque,
    uaccess::UserPtr,
    workqueue::Queue,
};

// Some bindgen structs reached through these pointers are empty placeholders (for example
// `mm_mm_cid` with this configuration), which rustc flags although only pointers cross the
// boundary. `allow` rather than `expect`: whether it fires depends on the kernel config.
#[allow(improper_ctypes)]
mod shim {
    use kernel::{
        bindings::{
            cred,
            file,
            iov_iter,
            iovec,
            kiocb,
            lock_class_key,
            vm_area_struct,
            vm_operations_struct,
            wait_queue_head,
            workqueue_struct, //
        },
        ffi::{
            c_char,
            c_int,
            c_long,
            c_uint,
            c_ulong,
            c_void, //
        },
    };

    extern "C" {
        pub(super) fn aiopoll_num_possible_cpus() -> c_uint;
        pub(super) fn aiopoll_put_user_u32(uaddr: u64, val: u32) -> c_int;
        pub(super) fn aiopoll_in_compat_syscall() -> bool;
        pub(super) fn aiopoll_file_readable(file: *mut file) -> bool;
        pub(super) fn aiopoll_file_writable(file: *mut file) -> bool;
        pub(super) fn aiopoll_file_has_read_iter(file: *mut file) -> bool;
        pub(super) fn aiopoll_file_has_write_iter(file: *mut file) -> bool;
        pub(super) fn aiopoll_file_has_fsync(file: *mut file) -> bool;
        pub(super) fn aiopoll_kiocb_init(
            kiocb: *mut kiocb,
            file: *mut file,
            pos: i64,
            complete: unsafe extern "C" fn(*mut kiocb, c_long),
        );
        pub(super) fn aiopoll_kiocb_prep(
            kiocb: *mut kiocb,
            rw_flags: c_int,
            write: bool,
            has_ioprio: bool,
            ioprio: c_int,
            hipri: bool,
        ) -> c_int;
        pub(super) fn aiopoll_kiocb_iopoll(kiocb: *mut kiocb) -> c_int;
        pub(super) fn aiopoll_cond_resched();
        pub(super) fn aiopoll_import(
            write: bool,
            buf: u64,
            len: u64,
            vectored: bool,
            scratch: *mut iovec,
            iovec: *mut *mut iovec,
            iter: *mut iov_iter,
        ) -> c_int;
        pub(super) fn aiopoll_rw_verify(
            kiocb: *mut kiocb,
            iter: *mut iov_iter,
            write: bool,
        ) -> c_int;
        pub(super) fn aiopoll_rw_issue(
            kiocb: *mut kiocb,
            iter: *mut iov_iter,
            write: bool,
        ) -> isize;
        pub(super) fn aiopoll_rw_end(kiocb: *mut kiocb);
        pub(super) fn aiopoll_fsync_as(
            file: *mut file,
            creds: *const cred,
            datasync: bool,
        ) -> c_int;
        pub(super) fn aiopoll_vma_is_shared(vma: *mut vm_area_struct) -> bool;
        pub(super) fn aiopoll_vma_is_exec(vma: *mut vm_area_struct) -> bool;
        pub(super) fn aiopoll_vma_start(vma: *mut vm_area_struct) -> c_ulong;
        pub(super) fn aiopoll_vma_len(vma: *mut vm_area_struct) -> c_ulong;
        pub(super) fn aiopoll_vma_pgoff(vma: *mut vm_area_struct) -> c_ulong;
        pub(super) fn aiopoll_vma_setup(
            vma: *mut vm_area_struct,
            ops: *const vm_operations_struct,
            private_data: *mut c_void,
        );
        pub(super) fn aiopoll_vma_private(vma: *mut vm_area_struct) -> *mut c_void;
        pub(super) fn aiopoll_get_timeout(uts: u64, nsecs: *mut i64) -> c_int;
        pub(super) fn aiopoll_alloc_workqueue() -> *mut workqueue_struct;
        pub(super) fn aiopoll_owner_watch_start(
            w: *mut super::RawOwnerWatch,
            wq: *mut workqueue_struct,
            func: unsafe extern "C" fn(*mut c_void),
            data: *mut c_void,
        );
        pub(super) fn aiopoll_owner_watch_stop(w: *mut super::RawOwnerWatch);
        pub(super) fn aiopoll_set_user_sigmask(umask: u64, sigsetsize: u64) -> c_int;
        pub(super) fn aiopoll_restore_saved_sigmask_unless(interrupted: bool);
        pub(super) fn aiopoll_ring_alloc(
            size: c_ulong,
            base: *mut *mut c_void,
        ) -> *mut super::RawRingMem;
        pub(super) fn aiopoll_ring_free(mem: *mut super::RawRingMem);
        pub(super) fn aiopoll_ring_map(
            vma: *mut vm_area_struct,
            mem: *mut super::RawRingMem,
        ) -> c_int;
        pub(super) fn aiopoll_waitqueue_init(
            wq: *mut wait_queue_head,
            name: *const c_char,
            key: *mut lock_class_key,
        );
        pub(super) fn aiopoll_wake_all(wq: *mut wait_queue_head);
        pub(super) fn aiopoll_in_own_wakeup() -> bool;
        pub(super) fn aiopoll_irqs_disabled() -> bool;
        pub(super) fn aiopoll_wake_section_enter();
        pub(super) fn aiopoll_wake_section_exit();
        pub(super) fn aiopoll_pollq_init(
            q: *mut super::RawPollQueue,
            name: *const c_char,
            key: *mut lock_class_key,
        );
        pub(super) fn aiopoll_pollq_fini(q: *mut super::RawPollQueue);
        pub(super) fn aiopoll_wake_after_post(
            wait: *mut wait_queue_head,
            q: *mut super::RawPollQueue,
            wq: *mut workqueue_struct,
        );
        pub(super) fn aiopoll_pwait_init(pw: *mut super::RawPWait, owner: *mut c_void);
        pub(super) fn aiopoll_poll_arm(
            file: *mut file,
            events: c_uint,
            first: *mut super::RawPWait,
            second: *mut *mut super::RawPWait,
            queued: *mut c_int,
            error: *mut c_int,
        ) -> c_uint;
        pub(super) fn aiopoll_pwait_free(pw: *mut super::RawPWait);
        pub(super) fn aiopoll_poll_mask(file: *mut file, events: c_uint) -> c_uint;
        pub(super) fn aiopoll_pwait_lock(
            pw: *mut super::RawPWait,
            flags: *mut c_ulong,
        ) -> *mut wait_queue_head;
        pub(super) fn aiopoll_pwait_unlock(head: *mut wait_queue_head, flags: c_ulong);
        pub(super) fn aiopoll_pwait_del_locked(pw: *mut super::RawPWait);
        pub(super) fn aiopoll_pwait_pollfree_locked(pw: *mut super::RawPWait);
        pub(super) fn aiopoll_wait_event(
            wq: *mut wait_queue_head,
            interruptible: bool,
            timeout: c_long,
            cond: unsafe extern "C" fn(*mut c_void) -> bool,
            arg: *mut c_void,
        ) -> c_long;
    }
}

/// The number of possible CPUs (`num_possible_cpus()`).
pub(crate) fn num_possible_cpus() -> u32 {
    // SAFETY: No preconditions.
    unsafe { shim::aiopoll_num_possible_cpus() }
}

/// Writes `val` at user address `uaddr` as `put_user()` does (`EFAULT` for an address that
/// is not writable user memory); cheaper than a four-byte `copy_to_user()`.
pub(crate) fn put_user_u32(uaddr: u64, val: u32) -> Result {
    // SAFETY: `put_user()` checks the address itself and handles faults.
    to_result(unsafe { shim::aiopoll_put_user_u32(uaddr, val) })
}

/// Whether the current system call comes from a 32-bit task (`in_compat_syscall()`), whose
/// pointers in arrays are 4 bytes wide.
pub(crate) fn in_compat_syscall() -> bool {
    // SAFETY: No preconditions.
    unsafe { shim::aiopoll_in_compat_syscall() }
}

/// Reads a relative `struct __kernel_timespec` from user address `uts`, in nanoseconds.
pub(crate) fn get_timeout(uts: u64) -> Result<i64> {
    let mut nsecs = 0i64;
    // SAFETY: `nsecs` is a valid place to write; the shim checks the user address itself.
    to_result(unsafe { shim::aiopoll_get_timeout(uts, &mut nsecs) })?;
    Ok(nsecs)
}

/// The signal mask a system call installed for its wait, as `io_pgetevents()` and `pselect()`
/// do: [`SigmaskSwap::install`] swaps it in, [`SigmaskSwap::finish`] (or dropping the guard,
/// on any early return) puts the caller's back, unless a signal is pending, in which case the
/// return to user space delivers it under the temporary mask with the original one saved in
/// the handler's frame.
///
/// # Invariants
///
/// `installed` is true exactly when `install` swapped the current task's mask and nothing has
/// restored it yet.
pub(crate) struct SigmaskSwap {
    installed: bool,
    /// The mask belongs to the task that installed it: the guard must not leave the thread.
    _not_send: PhantomData<*mut ()>,
}

impl SigmaskSwap {
    /// Installs the `sigset_t` at user address `umask` (of `sigsetsize` bytes) as the current
    /// task's blocked mask; `umask == 0` installs nothing. `EINVAL` for a wrong size, `EFAULT`
    /// for a bad address (the mask is then unchanged).
    pub(crate) fn install(umask: u64, sigsetsize: u64) -> Result<Self> {
        // SAFETY: The shim reads the user address with `copy_from_user` and acts on `current`;
        // on error it has changed nothing.
        to_result(unsafe { shim::aiopoll_set_user_sigmask(umask, sigsetsize) })?;
        // INVARIANT: on success, a non-zero `umask` was installed.
        Ok(Self {
            installed: umask != 0,
            _not_send: PhantomData,
        })
    }

    /// Ends the swap; returns whether a signal is pending (the wait was interrupted).
    pub(crate) fn finish(mut self) -> bool {
        self.restore()
    }

    fn restore(&mut self) -> bool {
        let interrupted = kernel::current!().signal_pending();
        if self.installed {
            // INVARIANT: restored (or left for the signal delivery to restore) here, once.
            self.installed = false;
            // SAFETY: Acts on `current`, whose mask `install` swapped (the guard is not `Send`).
            unsafe { shim::aiopoll_restore_saved_sigmask_unless(interrupted) };
        }
        interrupted
    }
}

impl Drop for SigmaskSwap {
    fn drop(&mut self) {
        self.restore();
    }
}

/// What fs/aio checks of a file before reading or writing it.
pub(crate) trait FileExt {
    /// Whether the file was opened for reading (`FMODE_READ`).
    fn readable(&self) -> bool;
    /// Whether the file was opened for writing (`FMODE_WRITE`).
    fn writable(&self) -> bool;
    /// Whether the file has `->read_iter`.
    fn has_read_iter(&self) -> bool;
    /// Whether the file has `->write_iter`.
    fn has_write_iter(&self) -> bool;
    /// Whether the file has `->fsync`.
    fn has_fsync(&self) -> bool;
}

impl FileExt for File {
    fn readable(&self) -> bool {
        // SAFETY: `self` is a valid file.
        unsafe { shim::aiopoll_file_readable(self.as_ptr()) }
    }
    fn writable(&self) -> bool {
        // SAFETY: `self` is a valid file.
        unsafe { shim::aiopoll_file_writable(self.as_ptr()) }
    }
    fn has_read_iter(&self) -> bool {
        // SAFETY: `self` is a valid file.
        unsafe { shim::aiopoll_file_has_read_iter(self.as_ptr()) }
    }
    fn has_write_iter(&self) -> bool {
        // SAFETY: `self` is a valid file.
        unsafe { shim::aiopoll_file_has_write_iter(self.as_ptr()) }
    }
    fn has_fsync(&self) -> bool {
        // SAFETY: `self` is a valid file.
        unsafe { shim::aiopoll_file_has_fsync(self.as_ptr()) }
    }
}

/// Credentials of the current task, for work done on its behalf (`prepare_creds()`).
pub(crate) fn current_creds() -> Result<ARef<Credential>> {
    // SAFETY: No preconditions; it returns a new reference or NULL.
    let creds = NonNull::new(unsafe { bindings::prepare_creds() }).ok_or(ENOMEM)?;
    // SAFETY: `prepare_creds` returned a valid `cred` whose one reference we now own, and
    // `Credential` is a transparent wrapper of `struct cred`.
    Ok(unsafe { ARef::from_raw(creds.cast::<Credential>()) })
}

/// `vfs_fsync(file, datasync)` with `creds` in force, as fs/aio's `aio_fsync_work()`.
pub(crate) fn fsync_as(file: &File, creds: &Credential, datasync: bool) -> i64 {
    // SAFETY: Both pointers are valid for the duration of the call.
    i64::from(unsafe {
        shim::aiopoll_fsync_as(
            file.as_ptr(),
            core::ptr::from_ref::<Credential>(creds).cast(),
            datasync,
        )
    })
}

/// A reference to an eventfd, signalled once per completion with `IOCB_FLAG_RESFD`.
///
/// # Invariants
///
/// `self.0` is a valid `eventfd_ctx` on which this object owns one reference.
pub(crate) struct EventFd(NonNull<bindings::eventfd_ctx>);

// SAFETY: An eventfd reference may be used and dropped from any thread.
unsafe impl Send for EventFd {}
// SAFETY: `eventfd_signal_mask` may be called concurrently.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// Takes a reference to the eventfd behind file descriptor `fd` (`EBADF`, `EINVAL`).
    pub(crate) fn from_fd(fd: u32) -> Result<Self> {
        // SAFETY: No preconditions; it returns a new reference or an error pointer.
        let ctx = from_err_ptr(unsafe { bindings::eventfd_ctx_fdget(fd as c_int) })?;
        // INVARIANT: `eventfd_ctx_fdget` returned a valid context with a new reference.
        Ok(Self(NonNull::new(ctx).ok_or(EBADF)?))
    }

    /// Adds one to the eventfd's counter. Callable from any context except a wait-queue
    /// callback of another eventfd (the caller defers from those).
    pub(crate) fn signal(&self) {
        // SAFETY: By the type invariant `self.0` is valid.
        unsafe { bindings::eventfd_signal_mask(self.0.as_ptr(), 0) };
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own a reference, given back here once.
        unsafe { bindings::eventfd_ctx_put(self.0.as_ptr()) };
    }
}

/// The module's own workqueue, destroyed (after running everything queued) when dropped, so
/// that no work function of the module runs after it is unloaded.
///
/// # Invariants
///
/// `self.0` is a workqueue allocated by this object, destroyed only by its `Drop`.
pub(crate) struct Workqueue(NonNull<bindings::workqueue_struct>);

// SAFETY: A workqueue may be used and destroyed from any thread.
unsafe impl Send for Workqueue {}
// SAFETY: Queueing work is thread safe.
unsafe impl Sync for Workqueue {}

/// The module's workqueue, published for request code while the module is loaded.
static WORKQUEUE: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(core::ptr::null_mut());

impl Workqueue {
    /// Allocates the workqueue and publishes it as [`workqueue()`].
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: No preconditions.
        let wq = NonNull::new(unsafe { shim::aiopoll_alloc_workqueue() }).ok_or(ENOMEM)?;
        // Release: the workqueue's initialisation happens before any user sees the pointer.
        WORKQUEUE.store(wq.as_ptr(), Ordering::Release);
        Ok(Self(wq))
    }
}

impl Drop for Workqueue {
    fn drop(&mut self) {
        WORKQUEUE.store(core::ptr::null_mut(), Ordering::Release);
        // SAFETY: By the type invariant the workqueue is ours; destroying it first runs every
        // queued item.
        unsafe { bindings::destroy_workqueue(self.0.as_ptr()) };
    }
}

/// The module's workqueue. Requests exist only while a context file is open, which pins the
/// module, so they always find it.
pub(crate) fn workqueue() -> Result<&'static Queue> {
    // Acquire: pairs with the release store in `Workqueue::new`.
    let wq = WORKQUEUE.load(Ordering::Acquire);
    if wq.is_null() {
        return Err(ENODEV);
    }
    // SAFETY: The workqueue stays valid until the module's `Workqueue` is dropped at unload,
    // after every context (and so every request) is gone.
    Ok(unsafe { Queue::from_raw(wq) })
}

/// The C `struct aiopoll_ring_mem` (`rust/shim.c`), only ever handled by pointer.
#[repr(C)]
pub(crate) struct RawRingMem {
    _opaque: [u8; 0],
}

/// The memory of a completion ring: zeroed pages charged to the memory cgroup of the task
/// that set the context up, mapped contiguously in the kernel and shared with user space by
/// `mmap`.
///
/// The kernel reads and writes it with volatile accesses only, because user space may write to
/// any byte of it at any time (it owns `head`); nothing read from it is trusted without a
/// bounds check.
///
/// # Invariants
///
/// `mem` was returned by `aiopoll_ring_alloc(size)`, which also returned `base`: `size` bytes
/// of zeroed, page-aligned memory mapped in the kernel, owned by this object until its drop.
pub(crate) struct RingMem {
    mem: NonNull<RawRingMem>,
    base: NonNull<u8>,
    size: usize,
}

// SAFETY: The memory is only accessed through volatile reads and writes, whose coordination is
// the caller's business (documented on `Ring`). It is freed by `Drop`, which needs process
// context: the owner (a context) is only ever dropped by its file's release.
unsafe impl Send for RingMem {}
// SAFETY: As above.
unsafe impl Sync for RingMem {}

impl RingMem {
    /// Allocates `size` zeroed bytes (a non-zero multiple of the page size), charged to the
    /// current task's memory cgroup.
    pub(crate) fn new(size: usize) -> Result<Self> {
        let mut base: *mut c_void = core::ptr::null_mut();
        // SAFETY: `base` is a valid place to write; the shim checks `size`.
        let mem = unsafe { shim::aiopoll_ring_alloc(size as c_ulong, &mut base) };
        let mem = NonNull::new(mem).ok_or(ENOMEM)?;
        // INVARIANT: `aiopoll_ring_alloc` returned the memory and its kernel address.
        Ok(Self {
            mem,
            base: NonNull::new(base.cast::<u8>()).ok_or(ENOMEM)?,
            size,
        })
    }

    /// The size of the memory, in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    fn u32_ptr(&self, offset: usize) -> *mut u32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.size);
        // The pointer stays inside the allocation by the assertion above.
        self.base.as_ptr().wrapping_add(offset).cast::<u32>()
    }

    /// Reads the `u32` at byte `offset` (READ_ONCE).
    pub(crate) fn read_u32(&self, offset: usize) -> u32 {
        // SAFETY: `u32_ptr` returns an aligned pointer inside the live allocation.
        unsafe { self.u32_ptr(offset).read_volatile() }
    }

    /// Writes the `u32` at byte `offset` (WRITE_ONCE).
    pub(crate) fn write_u32(&self, offset: usize, value: u32) {
        // SAFETY: As in `read_u32`.
        unsafe { self.u32_ptr(offset).write_volatile(value) }
    }

    /// Writes `event` at byte `offset`.
    pub(crate) fn write_event(&self, offset: usize, event: &IoEvent) {
        assert!(offset % 8 == 0 && offset + core::mem::size_of::<IoEvent>() <= self.size);
        let ptr = self.base.as_ptr().wrapping_add(offset).cast::<IoEvent>();
        // SAFETY: `ptr` is aligned and inside the live allocation (checked above).
        unsafe { ptr.write_volatile(*event) }
    }

    /// Orders the event writes before it against the index write after it (`smp_wmb()`), so a
    /// reader that sees the new tail also sees the events.
    pub(crate) fn write_barrier(&self) {
        smp_mb(kernel::sync::barrier::Write);
    }

    /// Copies `len` bytes at byte `offset` to user address `dst`.
    pub(crate) fn copy_to_user(&self, offset: usize, len: usize, dst: UserPtr) -> Result {
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(EINVAL);
        }
        // SAFETY: The source range is inside the live allocation (checked above); the
        // destination is a user address, which `copy_to_user` checks and faults on safely.
        // User space may write the source concurrently; it only gets its own bytes back.
        let left = unsafe {
            bindings::copy_to_user(
                dst.as_mut_ptr(),
                self.base.as_ptr().wrapping_add(offset).cast(),
                len as c_ulong,
            )
        };
        if left != 0 {
            return Err(EFAULT);
        }
        Ok(())
    }

    /// Maps the whole memory into `vma` (`remap_vmalloc_range`).
    pub(crate) fn map(&self, vma: &Vma) -> Result {
        if vma.len() != self.size {
            return Err(EINVAL);
        }
        // SAFETY: `vma` is a VMA being set up by `->mmap` (type invariant of `Vma`), and the
        // memory (flagged `VM_USERMAP`) stays allocated while mapped: the VMA holds a
        // reference to the file that owns the ring.
        to_result(unsafe { shim::aiopoll_ring_map(vma.0, self.mem.as_ptr()) })
    }
}

impl Drop for RingMem {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the memory is ours and freed once, here, in process
        // context (see `Send` above).
        unsafe { shim::aiopoll_ring_free(self.mem.as_ptr()) };
    }
}

/// A VMA handed to a `->mmap`, `->open`, `->close` or `->mremap` callback.
///
/// # Invariants
///
/// `self.0` is a valid VMA for the duration of the callback that created this object, with
/// the `mmap_lock` held as the callback requires.
pub(crate) struct Vma(*mut bindings::vm_area_struct);

impl Vma {
    /// Wraps a VMA given to a callback.
    ///
    /// # Safety
    ///
    /// `vma` must be valid, with the `mmap_lock` held, for as long as the returned object lives.
    pub(crate) unsafe fn from_raw(vma: *mut bindings::vm_area_struct) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self(vma)
    }

    /// The start address.
    pub(crate) fn start(&self) -> usize {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_start(self.0) as usize }
    }

    /// The length in bytes.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_len(self.0) as usize }
    }

    /// Whether the mapping is `MAP_SHARED`.
    pub(crate) fn is_shared(&self) -> bool {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_is_shared(self.0) }
    }

    /// Whether the mapping is executable (`PROT_EXEC`).
    pub(crate) fn is_exec(&self) -> bool {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_is_exec(self.0) }
    }

    /// The page offset into the file.
    pub(crate) fn pgoff(&self) -> usize {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_pgoff(self.0) as usize }
    }

    /// Installs `ops` and `data` and makes the mapping fixed-size, not inherited and not
    /// executable.
    ///
    /// # Safety
    ///
    /// `data` must stay valid for as long as the VMA (and its copies) can call `ops`.
    pub(crate) unsafe fn setup(
        &self,
        ops: &'static bindings::vm_operations_struct,
        data: *mut c_void,
    ) {
        // SAFETY: By the type invariant the VMA is valid and being set up by `->mmap`.
        unsafe { shim::aiopoll_vma_setup(self.0, ops, data) }
    }

    /// The `vm_private_data` installed by [`Vma::setup`].
    pub(crate) fn private_data(&self) -> *mut c_void {
        // SAFETY: By the type invariant the VMA is valid.
        unsafe { shim::aiopoll_vma_private(self.0) }
    }
}

/// What a read or write request is, as fs/aio's `IOCB_CMD_P{READ,WRITE}[V]`.
#[derive(Clone, Copy)]
pub(crate) struct RwArgs {
    pub(crate) write: bool,
    pub(crate) vectored: bool,
    pub(crate) buf: u64,
    pub(crate) nbytes: u64,
    pub(crate) offset: i64,
    pub(crate) rw_flags: i32,
    pub(crate) ioprio: Option<i16>,
    /// Polled I/O (`RWF_HIPRI`): completes only when someone calls [`RwIo::iopoll`].
    pub(crate) hipri: bool,
}

/// A `struct kiocb` and the owner its completion goes to (`ki_complete` finds the owner
/// here, since the kiocb is the first field).
#[repr(C)]
struct RawRwIo {
    kiocb: bindings::kiocb,
    /// Null until the I/O is issued, then the owner's reference leaked for the completion
    /// (stored with release, so it also says "issued": see [`RwIo`]).
    owner: Atomic<*mut c_void>,
}

/// A `struct kiocb` embedded in a request, for reads and writes issued to another file.
///
/// # Invariants
///
/// Once `owner` is set (release; the I/O is *issued*), the kiocb is initialised, prepared and
/// checked, its file is the request's (alive as long as the owner), and it stays so until the
/// owner is dropped. While the I/O is in flight, `owner` is a reference to the owner leaked
/// from an `Arc`, which `rw_complete` takes back. `owner` is set by [`rw_submit`] right before
/// the I/O is issued, once: from then on pollers may use the kiocb ([`RwIo::iopoll`]); the
/// release store and the pollers' acquire loads order the kiocb's initialisation before their
/// use of it. (No separate flag: the request stays as small as a poll-sized object.)
pub(crate) struct RwIo {
    io: Opaque<RawRwIo>,
}

// SAFETY: Before it is issued, only the submitter touches the kiocb (the owner is not reachable by
// pollers or completions yet). Afterwards the kiocb belongs to the VFS and the driver, which
// write it through C (inside `Opaque`), and the only Rust-side use is `iopoll`, which the
// block layer allows from several tasks at once (see `aiopoll_kiocb_iopoll()`).
unsafe impl Send for RwIo {}
// SAFETY: As above.
unsafe impl Sync for RwIo {}

impl RwIo {
    /// An unused kiocb.
    pub(crate) fn new() -> Self {
        // INVARIANT: not issued (a zeroed `owner` is null).
        Self {
            io: Opaque::zeroed(),
        }
    }

    /// The `owner` field.
    fn owner(&self) -> &Atomic<*mut c_void> {
        // SAFETY: `io` is valid memory for as long as `self`; `owner` is only ever accessed
        // atomically, through this reference.
        unsafe { &(*self.io.get()).owner }
    }

    /// Whether the I/O has been issued (pollers may use the kiocb).
    pub(crate) fn is_issued(&self) -> bool {
        !self.owner().load(Acquire).is_null()
    }

    /// Polls the device for this polled (`hipri`) I/O and others on the same queue; their
    /// completions may run inside. Returns false without polling when the I/O has not been
    /// issued yet (its kiocb is still being prepared), and whether something completed
    /// otherwise. Harmless after the I/O completed: the kiocb then names no bio.
    pub(crate) fn iopoll(&self) -> bool {
        if !self.is_issued() {
            return false;
        }
        // SAFETY: By the type invariant the kiocb is issued, prepared and its file alive; the
        // caller holds a reference to the owner, so the kiocb stays valid during the call.
        unsafe { shim::aiopoll_kiocb_iopoll(self.kiocb()) > 0 }
    }

    /// The kiocb.
    fn kiocb(&self) -> *mut bindings::kiocb {
        // SAFETY: `io` is valid memory; this only computes the address of a field.
        unsafe { &raw mut (*self.io.get()).kiocb }
    }
}

/// Gives the CPU away if another task needs it (`cond_resched()`).
pub(crate) fn cond_resched() {
    // SAFETY: Called from process context without spinlocks held.
    unsafe { shim::aiopoll_cond_resched() }
}

/// An object, kept in an [`Arc`], that embeds an [`RwIo`] and wants to know when its I/O ends.
///
/// # Safety
///
/// [`RwOwner::rw_io`] must return an [`RwIo`] that lives inside `self` (so it is valid for as
/// long as `self`), the same one on every call.
pub(crate) unsafe trait RwOwner: Sized + Send + Sync {
    /// The embedded [`RwIo`], if the object has one.
    fn rw_io(&self) -> Option<&RwIo>;
    /// Called for polled (`hipri`) I/O once the kiocb is fully prepared and checked, right
    /// before it is issued (so before [`RwOwner::rw_done`] can run); an error cancels the
    /// submission. This is where the owner makes itself findable by pollers: not earlier,
    /// since a poller would then use a kiocb that is still being initialised.
    fn rw_polled_issuing(this: &Arc<Self>) -> Result;
    /// Called once when the read or write ends, with its result (bytes or a negative errno),
    /// possibly in interrupt context.
    fn rw_done(this: Arc<Self>, res: i64);
}

/// The `ki_complete` of aiopoll's kiocbs: takes back the reference [`rw_submit`] gave the
/// kiocb, and reports the result.
///
/// # Safety
///
/// `kiocb` must be the kiocb of an [`RwIo`] inside a `T` submitted by [`rw_submit`], completed
/// once.
unsafe extern "C" fn rw_complete<T: RwOwner>(kiocb: *mut bindings::kiocb, res: c_long) {
    // Module exit waits for this section (`synchronize_rcu()`), so the module's code stays
    // in place until the completion is done with it.
    let _rcu = kernel::sync::rcu::read_lock();
    // SAFETY: The kiocb is valid until the owner is dropped, which cannot happen before we take
    // back its reference below.
    unsafe { shim::aiopoll_rw_end(kiocb) };
    // SAFETY: The kiocb is the first field of a `RawRwIo` (type invariant of `RwIo`), whose
    // `owner` `rw_submit` set to a reference leaked from the `Arc<T>` for this call (before
    // issuing the I/O that ends here, so no ordering is needed to see it).
    let owner = unsafe { (*kiocb.cast::<RawRwIo>()).owner.load(Relaxed) };
    // SAFETY: As above: the leaked reference, taken back once.
    let owner = unsafe { Arc::from_raw(owner.cast::<T>().cast_const()) };
    T::rw_done(owner, res as i64);
}

/// Submits a read or write of `file` through `owner`'s kiocb, as fs/aio's `aio_read()` and
/// `aio_write()` do. Each owner is submitted at most once.
///
/// An error is a submission error (nothing was issued, [`RwOwner::rw_done`] is not called);
/// otherwise the I/O was issued and `rw_done` is called exactly once, maybe before this returns.
pub(crate) fn rw_submit<T: RwOwner>(owner: &Arc<T>, file: &File, args: &RwArgs) -> Result {
    use crate::sys::FileExt;

    // By the `RwOwner` contract the `RwIo` lives inside the `T`, as long as `owner`.
    let io = owner.rw_io().ok_or(EINVAL)?;
    if io.is_issued() {
        return Err(EBUSY);
    }
    let kiocb = io.kiocb();
    // SAFETY: `kiocb` is ours and not in use; `file` is valid and kept alive by the owner.
    unsafe { shim::aiopoll_kiocb_init(kiocb, file.as_ptr(), args.offset, rw_complete::<T>) };
    // SAFETY: `kiocb` was initialised above.
    to_result(unsafe {
        shim::aiopoll_kiocb_prep(
            kiocb,
            args.rw_flags,
            args.write,
            args.ioprio.is_some(),
            c_int::from(args.ioprio.unwrap_or(0)),
            args.hipri,
        )
    })?;
    if args.write {
        if !file.writable() {
            return Err(EBADF);
        }
        if !file.has_write_iter() {
            return Err(EINVAL);
        }
    } else {
        if !file.readable() {
            return Err(EBADF);
        }
        if !file.has_read_iter() {
            return Err(EINVAL);
        }
    }
    let iter = Opaque::<bindings::iov_iter>::uninit();
    let mut iovec: *mut bindings::iovec = core::ptr::null_mut();
    // Scratch space for a one-segment vector (import_iovec() copies the segment into it), alive
    // until the I/O below was issued.
    let mut scratch = bindings::iovec {
        iov_base: core::ptr::null_mut(),
        iov_len: 0,
    };
    // SAFETY: `iter`, `scratch` and `iovec` are valid places to write, and `scratch` outlives
    // every use of the iterator (this function); user addresses are checked inside.
    to_result(unsafe {
        shim::aiopoll_import(
            args.write,
            args.buf,
            args.nbytes,
            args.vectored,
            &mut scratch,
            &mut iovec,
            iter.get(),
        )
    })?;
    // From here on the imported iovec array (if any) must be freed.
    // SAFETY: `kiocb` and `iter` were initialised above.
    let verify = to_result(unsafe { shim::aiopoll_rw_verify(kiocb, iter.get(), args.write) })
        .and_then(|()| {
            if args.hipri {
                T::rw_polled_issuing(owner)
            } else {
                Ok(())
            }
        });
    if verify.is_ok() {
        // The completion's reference: given back by `rw_complete`.
        let leaked = Arc::into_raw(owner.clone()).cast::<c_void>().cast_mut();
        // INVARIANT: `owner` holds the reference leaked for the completion, and the kiocb is
        // prepared and checked: pollers may use it from here on.
        io.owner().store(leaked, Release);
        // SAFETY: `kiocb` and `iter` are initialised and checked; the iovec array stays alive
        // until the call returns, which is as long as `->read_iter`/`->write_iter` use it.
        let ret = unsafe { shim::aiopoll_rw_issue(kiocb, iter.get(), args.write) };
        let eiocbqueued = -(bindings::EIOCBQUEUED as isize);
        if ret != eiocbqueued {
            // Completed (or failed) synchronously: complete it as `aio_rw_done()` does, mapping
            // the restart errnos to EINTR.
            let restart = [
                bindings::ERESTARTSYS,
                bindings::ERESTARTNOINTR,
                bindings::ERESTARTNOHAND,
                bindings::ERESTART_RESTARTBLOCK,
            ];
            let ret = if restart.iter().any(|&e| ret == -(e as isize)) {
                -(bindings::EINTR as isize)
            } else {
                ret
            };
            // SAFETY: The I/O is over and the kiocb's reference was leaked above for this call.
            unsafe { rw_complete::<T>(kiocb, ret as c_long) };
        }
    }
    // SAFETY: `iovec` is NULL or the array `import_iovec` allocated for us.
    unsafe { bindings::kfree(iovec.cast()) };
    verify
}

/// How a wait on a [`WaitQueue`] ended.
pub(crate) enum WaitEnd {
    /// The condition became true.
    Done,
    /// The timeout expired first.
    TimedOut,
    /// A signal is pending.
    Interrupted,
}

/// A wait queue: wakes threads that wait for a condition.
///
/// Entries are added only by waits through this type, which remove their own before
/// returning, so the queue never needs `wake_up_pollfree()` and may be freed with its owner.
/// Its entries wake sleeping tasks and nothing else, so it may be woken anywhere, inside
/// another wake-up included.
#[repr(transparent)]
#[pin_data]
pub(crate) struct WaitQueue {
    #[pin]
    head: Opaque<bindings::wait_queue_head>,
}

// SAFETY: A wait queue head is designed to be used from any thread; it has its own lock.
unsafe impl Send for WaitQueue {}
// SAFETY: As above.
unsafe impl Sync for WaitQueue {}

/// Calls the `FnMut() -> bool` closure at `arg`.
///
/// # Safety
///
/// `arg` must point to an `F` that is valid and not otherwise accessed during the call.
unsafe extern "C" fn call_cond<F: FnMut() -> bool>(arg: *mut c_void) -> bool {
    // SAFETY: Guaranteed by the caller.
    let cond = unsafe { &mut *arg.cast::<F>() };
    cond()
}

impl WaitQueue {
    /// Creates a wait queue; `name` and `key` name its lock for lockdep.
    pub(crate) fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `__init_waitqueue_head` initialises the pinned slot it is given.
            head <- Opaque::ffi_init(move |slot| unsafe {
                shim::aiopoll_waitqueue_init(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }

    /// Wakes every waiter (`wake_up_all()`); callable from any context.
    pub(crate) fn wake_all(&self) {
        // SAFETY: The head was initialised by `new`.
        unsafe { shim::aiopoll_wake_all(self.head.get()) }
    }

    fn wait<F: FnMut() -> bool>(
        &self,
        interruptible: bool,
        timeout: c_long,
        mut cond: F,
    ) -> c_long {
        let arg = core::ptr::from_mut(&mut cond).cast::<c_void>();
        // SAFETY: The head was initialised by `new`; `arg` points to `cond`, which outlives the
        // call and is only used through `call_cond` during it. `wait_event()` evaluates `cond`
        // after setting the task's sleeping state, so `cond` must not sleep (taking a
        // spinlock is fine, on PREEMPT_RT too, whose sleeping spinlocks keep that state).
        unsafe {
            shim::aiopoll_wait_event(self.head.get(), interruptible, timeout, call_cond::<F>, arg)
        }
    }

    /// Sleeps until `cond` returns true, a signal arrives, or `timeout` (in jiffies; `None`:
    /// no limit) expires. `cond` must not sleep.
    pub(crate) fn wait_interruptible(
        &self,
        timeout: Option<u64>,
        cond: impl FnMut() -> bool,
    ) -> WaitEnd {
        let max = kernel::task::MAX_SCHEDULE_TIMEOUT as u64;
        let timeout = timeout.map_or(max, |t| t.min(max - 1)) as c_long;
        match self.wait(true, timeout, cond) {
            0 => WaitEnd::TimedOut,
            ret if ret < 0 => WaitEnd::Interrupted,
            _ => WaitEnd::Done,
        }
    }
}

/// The C `struct aiopoll_pollq` (`rust/shim.h`): a wait queue and the work item that wakes it
/// from outside a wake-up.
#[repr(C)]
pub(crate) struct RawPollQueue {
    head: bindings::wait_queue_head,
    work: bindings::work_struct,
}

/// The queue that pollers of a file wait on (`poll_wait()`: poll, select, epoll, and poll
/// requests of other contexts), woken through [`wake_after_post`].
///
/// Its entries' callbacks may take any lock (epoll's, for one), so it is never woken inside
/// another wake-up; there the wake-up is deferred to a work item on the module's workqueue
/// (`rust/shim.c` explains the deadlock this avoids). Entries are added by `poll_wait()` on
/// the owning file: poll, select and epoll remove theirs before the file's `release`, and poll
/// requests hold a reference to the file, so the queue never needs `wake_up_pollfree()`.
///
/// # Invariants
///
/// `q` was initialised by `aiopoll_pollq_init()`; its work item is cancelled (and waited for)
/// on drop, before the memory goes.
#[pin_data(PinnedDrop)]
pub(crate) struct PollQueue {
    #[pin]
    q: Opaque<RawPollQueue>,
}

// SAFETY: The wait queue has its own lock and the work item is queued and cancelled with the
// workqueue API, which may be used from any thread.
unsafe impl Send for PollQueue {}
// SAFETY: As above.
unsafe impl Sync for PollQueue {}

impl PollQueue {
    /// Creates the queue; `name` and `key` name its lock for lockdep.
    pub(crate) fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `aiopoll_pollq_init` initialises the pinned slot it is given.
            // INVARIANT: initialised here.
            q <- Opaque::ffi_init(move |slot| unsafe {
                shim::aiopoll_pollq_init(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }

    /// The C wait queue head, for `poll_wait()`.
    pub(crate) fn as_ptr(&self) -> *mut bindings::wait_queue_head {
        // SAFETY: `q` is valid memory; this only computes the address of a field.
        unsafe { &raw mut (*self.q.get()).head }
    }
}

/// After an event was posted: wakes the sleepers on `wait` (as [`WaitQueue::wake_all`]) and the
/// pollers on `pollers`, those that are there, behind one full barrier. The pollers are woken
/// at once, or from the queue's work item when the caller runs inside a wake-up (an inline
/// poll completion). Callable from any context.
pub(crate) fn wake_after_post(wait: &WaitQueue, pollers: &PollQueue) {
    let wq = WORKQUEUE.load(Ordering::Acquire);
    if wq.is_null() {
        // No context (so no queue) exists without the module's workqueue.
        return;
    }
    // SAFETY: Both queues were initialised by their `new` (type invariants); `wq` is the
    // module's workqueue, valid until after the last context (which owns the queues) is gone.
    unsafe { shim::aiopoll_wake_after_post(wait.head.get(), pollers.q.get(), wq) }
}

#[pinned_drop]
impl PinnedDrop for PollQueue {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant `q` is initialised; after this no work item refers to
        // it.
        unsafe { shim::aiopoll_pollq_fini(self.q.get()) }
    }
}

/// The C `struct aiopoll_owner_watch` (`rust/shim.h`).
#[repr(C)]
pub(crate) struct RawOwnerWatch {
    wait: bindings::wait_queue_entry,
    pid: *mut bindings::pid,
    wq: *mut bindings::workqueue_struct,
    work: bindings::work_struct,
    func: Option<unsafe extern "C" fn(*mut c_void)>,
    data: *mut c_void,
}

/// What an [`OwnerWatch`] calls when the watched process has exited.
pub(crate) trait OwnerExit: Sync {
    /// The process that created the object has exited (all its threads). Called once at most,
    /// from the module's workqueue.
    fn owner_exited(&self);
}

/// Watches the process (thread group) that called [`OwnerWatch::start`] and calls
/// [`OwnerExit::owner_exited`] once it has exited, as fs/aio kills a process's contexts when
/// its memory map goes away (`rust/shim.c` explains how).
///
/// # Invariants
///
/// `w` is zeroed (not watching) or was set up by `aiopoll_owner_watch_start()`; it is stopped
/// (`aiopoll_owner_watch_stop()`, which waits for a running callback) on drop at the latest.
#[pin_data(PinnedDrop)]
pub(crate) struct OwnerWatch {
    #[pin]
    w: Opaque<RawOwnerWatch>,
}

// SAFETY: The watch is started, stopped and woken through the wait-queue and workqueue APIs,
// which may be used from any thread.
unsafe impl Send for OwnerWatch {}
// SAFETY: As above; `start` and `stop` take `&self` but are serialised by their callers (see
// their docs).
unsafe impl Sync for OwnerWatch {}

/// The callback of an [`OwnerWatch`] for an owner of type `T`.
///
/// # Safety
///
/// `data` must point to a `T` that is alive for the whole call.
unsafe extern "C" fn owner_exited<T: OwnerExit>(data: *mut c_void) {
    // SAFETY: Guaranteed by the caller.
    let owner = unsafe { &*data.cast::<T>() };
    owner.owner_exited();
}

impl OwnerWatch {
    /// A watch that watches nothing yet.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // INVARIANT: zeroed: not watching.
            w <- Opaque::ffi_init(|slot: *mut RawOwnerWatch| {
                // SAFETY: `slot` is valid for writes of a `RawOwnerWatch`.
                unsafe { slot.write_bytes(0, 1) }
            }),
        })
    }

    /// Starts watching the current task's process for `owner`. Called once, before anything
    /// else can reach the watch.
    ///
    /// # Safety
    ///
    /// `owner` must stay alive until [`OwnerWatch::stop`] has returned (or the watch is
    /// dropped), and `start` must not be called concurrently with `stop`.
    pub(crate) unsafe fn start<T: OwnerExit>(&self, owner: &T) -> Result {
        let wq = WORKQUEUE.load(Ordering::Acquire);
        if wq.is_null() {
            return Err(ENODEV);
        }
        // SAFETY: `w` is ours and not watching; `wq` is the module's workqueue, which outlives
        // every object (contexts are all gone before the module is unloaded); `owner` outlives
        // the watch (the caller's contract), which is all the callback needs.
        unsafe {
            shim::aiopoll_owner_watch_start(
                self.w.get(),
                wq,
                owner_exited::<T>,
                core::ptr::from_ref(owner).cast_mut().cast(),
            )
        };
        Ok(())
    }

    /// Stops the watch: afterwards the callback is not running and will not run. Idempotent;
    /// not to be called from the callback itself, nor concurrently with `start`.
    pub(crate) fn stop(&self) {
        // SAFETY: By the type invariant `w` is zeroed or started; the shim handles both.
        unsafe { shim::aiopoll_owner_watch_stop(self.w.get()) }
    }
}

#[pinned_drop]
impl PinnedDrop for OwnerWatch {
    fn drop(self: Pin<&mut Self>) {
        self.stop();
    }
}

/// An `Option<Arc<T>>` that is filled and emptied with one atomic operation each, from any
/// context and without a lock: whoever [`take`](ArcSlot::take)s the `Arc` owns it, exactly
/// once.
///
/// # Invariants
///
/// `ptr` is null, or comes from [`Arc::into_raw`] and owns that reference.
pub(crate) struct ArcSlot<T> {
    ptr: Atomic<*const T>,
}

// SAFETY: The slot only holds an `Arc<T>`, which may be sent and shared when `T` is `Send` and
// `Sync`; filling and emptying it are atomic.
unsafe impl<T: Send + Sync> Send for ArcSlot<T> {}
// SAFETY: As above.
unsafe impl<T: Send + Sync> Sync for ArcSlot<T> {}

impl<T> ArcSlot<T> {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        // INVARIANT: null.
        Self {
            ptr: Atomic::new(core::ptr::null()),
        }
    }

    /// Fills the slot; hands `arc` back if it is full.
    pub(crate) fn set(&self, arc: Arc<T>) -> core::result::Result<(), Arc<T>> {
        let raw = Arc::into_raw(arc);
        // Fully ordered: what the caller did before is visible to whoever takes the `Arc`.
        match self.ptr.cmpxchg(core::ptr::null(), raw, Full) {
            // INVARIANT: `raw` comes from `Arc::into_raw`, and the slot now owns it.
            Ok(_) => Ok(()),
            // SAFETY: `raw` comes from `Arc::into_raw` above and was not stored.
            Err(_) => Err(unsafe { Arc::from_raw(raw) }),
        }
    }

    /// Empties the slot, returning what it held.
    pub(crate) fn take(&self) -> Option<Arc<T>> {
        // Fully ordered: pairs with `set`, and orders the taker's later accesses after it.
        let raw = self.ptr.xchg(core::ptr::null(), Full);
        // SAFETY: By the type invariant a non-null `raw` comes from `Arc::into_raw` and owned
        // its reference, which the exchange moved to us (INVARIANT: the slot is now null).
        (!raw.is_null()).then(|| unsafe { Arc::from_raw(raw) })
    }

    /// Whether the slot holds an `Arc` (a hint: it may be taken at once).
    pub(crate) fn is_set(&self) -> bool {
        !self.ptr.load(Acquire).is_null()
    }
}

impl<T> Drop for ArcSlot<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// Counts [`TrackedRef`]s to the object that owns it, and lets the owner wait until there are
/// none. This is what lets requests point at their context without keeping it alive: the
/// context's release waits for its requests instead, so the context is always freed by its
/// file, in process context.
///
/// The count is an atomic with a bias of one, dropped by the first [`Tracker::wait_idle`]
/// (as a `percpu_ref`'s kill): taking and dropping a reference is one atomic operation, with
/// no lock. Whoever brings the count to zero signals `idle`, a completion: `complete_all()`
/// releases the completion's lock as its last access, and the waiter cannot return (and
/// free the owner) before it has taken that lock itself, so the last reference never
/// touches freed memory.
///
/// # Invariants
///
/// `count` is the number of live `TrackedRef`s, plus one until `killed` is set.
#[pin_data]
pub(crate) struct Tracker {
    count: Refcount,
    /// Set by the first `wait_idle`, which drops the bias.
    killed: Atomic<bool>,
    /// Completed when `count` reaches zero.
    #[pin]
    idle: Completion,
}

impl Tracker {
    /// A tracker with no references.
    pub(crate) fn new() -> impl PinInit<Self> {
        // INVARIANT: no references, and the bias.
        pin_init!(Self {
            count: Refcount::new(1),
            killed: Atomic::new(false),
            idle <- Completion::new(),
        })
    }

    /// Sleeps until no reference is left. No reference may be taken once it was called.
    pub(crate) fn wait_idle(&self) {
        // Relaxed: the flag only makes the bias go once; `count` orders the rest.
        if !self.killed.xchg(true, Relaxed) && self.count.dec_and_test() {
            self.idle.complete_all();
        }
        self.idle.wait_for_completion();
    }
}

/// An object that owns a [`Tracker`] and can be pointed at by [`TrackedRef`]s.
///
/// # Safety
///
/// Dropping the object must first wait until [`Tracked::tracker`] has no reference left
/// ([`Tracker::wait_idle`]), before anything else of the object is dropped or freed.
pub(crate) unsafe trait Tracked: Send + Sync {
    /// The object's tracker.
    fn tracker(&self) -> &Tracker;
}

/// A counted reference to a `T` that lives in an [`Arc`], which does not keep the `T` alive:
/// the `T` waits for it instead (see [`Tracked`]).
///
/// # Invariants
///
/// `ptr` points to a `T` inside an `Arc` (so it never moves) whose tracker counts this
/// reference; by the `Tracked` contract the `T` is not dropped while the count is non-zero.
pub(crate) struct TrackedRef<T: Tracked> {
    ptr: NonNull<T>,
}

// SAFETY: A `TrackedRef<T>` only gives out `&T`, and `T: Sync`; dropping it from another
// thread only touches the tracker's lock.
unsafe impl<T: Tracked> Send for TrackedRef<T> {}
// SAFETY: As above.
unsafe impl<T: Tracked> Sync for TrackedRef<T> {}

impl<T: Tracked> TrackedRef<T> {
    /// Counts a new reference to `obj`.
    pub(crate) fn new(obj: ArcBorrow<'_, T>) -> Self {
        // Callers hold the owner's file (an ioctl), so its release, which kills the tracker,
        // cannot have started.
        obj.tracker().count.inc();
        // INVARIANT: `obj` lives in an `Arc` and its tracker now counts this reference.
        Self {
            ptr: NonNull::from(&*obj),
        }
    }
}

impl<T: Tracked> core::ops::Deref for TrackedRef<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: By the type invariant the `T` is alive while this reference exists.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Tracked> Drop for TrackedRef<T> {
    fn drop(&mut self) {
        let tracker = (**self).tracker();
        // `dec_and_test()` has release ordering, and acquire ordering when it reaches zero:
        // this reference's uses of the owner happen before the waiter's return.
        if tracker.count.dec_and_test() {
            // The last access to the owner (see `Tracker`).
            tracker.idle.complete_all();
        }
    }
}

/// Calls `f` with the proof that interrupts are disabled on this CPU, when they are, else with
/// `None`. Wake-up callbacks run under their queue's lock, which nearly every waker takes with
/// `spin_lock_irqsave()` (not on PREEMPT_RT): there the `SpinLockIrq`s of the callback can be
/// taken with `lock_with()`, without disabling interrupts again.
pub(crate) fn with_irqs_off<R>(f: impl FnOnce(Option<&LocalInterruptDisabled>) -> R) -> R {
    // SAFETY: No preconditions.
    if unsafe { shim::aiopoll_irqs_disabled() } {
        // SAFETY: Interrupts are disabled now, and stay so while `f` runs: the only sections
        // it can enter (aiopoll's locks and wake-ups) restore the interrupt state they found.
        let irq = unsafe { LocalInterruptDisabled::assume_disabled() };
        f(Some(irq))
    } else {
        f(None)
    }
}

/// Whether the caller runs inside a wake-up of one of aiopoll's own wait queues or an inline
/// completion ([`InlineCompletion`]), on this CPU.
pub(crate) fn in_own_wakeup() -> bool {
    // SAFETY: No preconditions: `this_cpu_read()` is safe anywhere. The answer is meaningful
    // because the callers are wake-up callbacks, which run under their queue's spinlock and so
    // cannot migrate (on PREEMPT_RT either), and a section of this task's own is only ever
    // entered and left on one CPU.
    unsafe { shim::aiopoll_in_own_wakeup() }
}

/// Marks this CPU as inside an aiopoll wake-up while a poll request completes inline, in
/// its waker's context: the context's pollers are then woken from a work item
/// ([`wake_after_post`]) and other contexts' poll wake-ups defer ([`in_own_wakeup`]).
///
/// # Invariants
///
/// Created by `aiopoll_wake_section_enter()` (which pinned the task to this CPU), undone once
/// on drop, on the same CPU.
pub(crate) struct InlineCompletion(PhantomData<*mut ()>);

impl InlineCompletion {
    /// Enters the inline section until the guard is dropped.
    pub(crate) fn enter() -> Self {
        // SAFETY: No preconditions; balanced by `drop`.
        unsafe { shim::aiopoll_wake_section_enter() };
        // INVARIANT: entered just above.
        Self(PhantomData)
    }
}

impl Drop for InlineCompletion {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the section was entered on this CPU (the guard is not
        // `Send` and the task cannot migrate), and is left once.
        unsafe { shim::aiopoll_wake_section_exit() };
    }
}

/// The C `struct aiopoll_pwait` (`rust/shim.h`): a wait-queue entry and the queue it is on.
#[repr(C)]
pub(crate) struct RawPWait {
    wait: bindings::wait_queue_entry,
    head: *mut bindings::wait_queue_head,
}

/// A wait-queue entry of a poll request, embedded in the request.
#[repr(transparent)]
pub(crate) struct PollWait(Opaque<RawPWait>);

// SAFETY: The entry is only touched under its queue's lock or by the one owner of the request
// before it is queued; it carries no thread-bound state.
unsafe impl Send for PollWait {}
// SAFETY: As above.
unsafe impl Sync for PollWait {}

/// The lock of the queue a [`PollWait`] is on, held with interrupts off and the RCU read lock;
/// see [`PollWait::lock`].
///
/// # Invariants
///
/// `aiopoll_pwait_lock()` locked `head` (the queue `pw` is on, with `pw` still on it) and the
/// RCU read lock, saving the interrupt state in `flags`; both are released once, by `drop`.
pub(crate) struct PollWaitGuard<'a> {
    pw: &'a PollWait,
    head: NonNull<bindings::wait_queue_head>,
    flags: c_ulong,
    /// Interrupts are disabled on this CPU: the guard must not leave the thread.
    _not_send: PhantomData<*mut ()>,
}

impl PollWaitGuard<'_> {
    /// Takes the entry off its queue.
    pub(crate) fn remove(&self) {
        // SAFETY: The queue's lock is held (type invariant of the guard).
        unsafe { shim::aiopoll_pwait_del_locked(self.pw.0.get()) }
    }
}

impl Drop for PollWaitGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, `aiopoll_pwait_lock` locked this queue and the RCU read
        // lock for us, with `flags`.
        unsafe { shim::aiopoll_pwait_unlock(self.head.as_ptr(), self.flags) }
    }
}

/// The entry being woken, for the duration of its wake-up callback, whose caller holds the
/// entry's queue lock.
///
/// # Invariants
///
/// `pw` is an entry on the queue being woken, whose lock is held for the whole lifetime `'a`
/// (the callback's), on this thread.
pub(crate) struct WokenEntry<'a> {
    pw: *mut RawPWait,
    _callback: PhantomData<&'a mut RawPWait>,
}

impl WokenEntry<'_> {
    /// Takes the entry off its queue.
    pub(crate) fn remove(&self) {
        // SAFETY: The wake-up's caller holds the queue's lock (type invariant).
        unsafe { shim::aiopoll_pwait_del_locked(self.pw) }
    }

    /// POLLFREE: takes the entry off its queue for good (the queue is about to be freed) and
    /// publishes that with a release store. This must be the wake-up's last access to the
    /// request that owns the entry, which may be completed and freed on another CPU right
    /// after (see `aiopoll_pwait_pollfree_locked()`): it consumes the entry, and the caller
    /// must touch nothing of the request afterwards.
    pub(crate) fn remove_pollfree(self) {
        // SAFETY: The wake-up's caller holds the queue's lock (type invariant).
        unsafe { shim::aiopoll_pwait_pollfree_locked(self.pw) }
    }
}

impl PollWait {
    /// An entry on no queue.
    pub(crate) fn new() -> Self {
        Self(Opaque::zeroed())
    }

    /// Prepares the entry for `owner` before it is queued.
    fn init(&self, owner: *const crate::request::Request) {
        // SAFETY: The entry is not on any queue yet; `owner` is only stored.
        unsafe { shim::aiopoll_pwait_init(self.0.get(), owner.cast_mut().cast()) }
    }

    /// Locks the queue the entry is on, if it still is on one (fs/aio's
    /// `poll_iocb_lock_wq()`), with interrupts disabled until the guard is dropped.
    pub(crate) fn lock(&self) -> Option<PollWaitGuard<'_>> {
        let mut flags: c_ulong = 0;
        // SAFETY: The entry was initialised (or is zeroed, with no queue); the shim reads its
        // queue under RCU and takes the queue's lock with interrupts saved in `flags`.
        let head = NonNull::new(unsafe { shim::aiopoll_pwait_lock(self.0.get(), &mut flags) })?;
        // INVARIANT: `aiopoll_pwait_lock` returned the locked queue.
        Some(PollWaitGuard {
            pw: self,
            head,
            flags,
            _not_send: PhantomData,
        })
    }
}

/// The wait-queue entries of a poll request: the first embedded, the second allocated (by the
/// shim's queue callback) only for a file with two queues.
///
/// # Invariants
///
/// `second` is null or points to an entry allocated by `aiopoll_poll_queue_proc()` for this
/// object, freed only on drop; it is set only when a second entry was queued (after the first).
pub(crate) struct PollWaits {
    first: PollWait,
    second: Atomic<*mut RawPWait>,
}

impl PollWaits {
    /// Entries on no queue.
    pub(crate) fn new() -> Self {
        // INVARIANT: nothing allocated, nothing queued.
        Self {
            first: PollWait::new(),
            second: Atomic::new(core::ptr::null_mut()),
        }
    }

    /// Whether the arming queued a second entry (read after it handed the request over): a
    /// request on one queue only can be completed under that queue's lock alone.
    pub(crate) fn has_second(&self) -> bool {
        !self.second.load(Relaxed).is_null()
    }

    /// The entries that may have been queued (some may never have been, or have left their
    /// queue since: [`PollWait::lock`] finds no queue for those).
    pub(crate) fn queued(&self) -> impl Iterator<Item = &PollWait> {
        let second = self.second.load(Relaxed);
        // SAFETY: By the type invariant a non-null `second` is an entry of ours that lives
        // until we are dropped; `PollWait` is a transparent wrapper of `RawPWait`.
        let second = (!second.is_null()).then(|| unsafe { &*second.cast::<PollWait>() });
        Iterator::chain(core::iter::once(&self.first), second)
    }
}

impl Drop for PollWaits {
    fn drop(&mut self) {
        let second = self.second.load(Relaxed);
        if !second.is_null() {
            // SAFETY: By the type invariant the entry was allocated by the shim for us; the
            // owner is being dropped, so the entry is on no queue any more (see `poll_arm`).
            unsafe { shim::aiopoll_pwait_free(second) };
        }
    }
}

/// Queues the entries of `req` on the wait queues `file`'s `->poll` names, and returns the
/// ready mask, how many entries were queued (0 to 2), and the error that stopped the arming:
/// `EINVAL` for more than two queues, `ENOMEM`. From here on the queued entries may be woken,
/// which calls [`crate::request::Request::poll_wake`] with `req`.
///
/// # Safety
///
/// `pw` must live inside `*req`, and be armed at most once; `*req` must stay alive (the caller
/// keeps a reference for this) until every queued entry has been taken off its queue again
/// (under its queue's lock, or by POLLFREE).
pub(crate) unsafe fn poll_arm(
    req: &Arc<crate::request::Request>,
    file: &File,
    events: u32,
    pw: &PollWaits,
) -> (u32, u32, Result) {
    let owner = Arc::as_ptr(req);
    pw.first.init(owner);
    let mut queued: c_int = 0;
    let mut error: c_int = 0;
    // SAFETY: The first entry is initialised and lives in `req`, which the caller keeps alive
    // while the entries are queued; `second` is ours to fill; `file` is valid.
    let mask = unsafe {
        shim::aiopoll_poll_arm(
            file.as_ptr(),
            events,
            pw.first.0.get(),
            pw.second.as_ptr(),
            &mut queued,
            &mut error,
        )
    };
    // INVARIANT: the shim stored `second` only for a second entry it queued.
    (mask, queued.clamp(0, 2) as u32, to_result(error))
}

/// The ready mask of `file` for `events`, without queueing anything.
pub(crate) fn poll_mask(file: &File, events: u32) -> u32 {
    // SAFETY: `file` is valid.
    unsafe { shim::aiopoll_poll_mask(file.as_ptr(), events) }
}

/// `mangle_poll()` and `demangle_poll()` of `<linux/poll.h>`: `$v` with each kernel `EPOLL*`
/// bit (the values of `<uapi/linux/eventpoll.h>`, the same on every architecture;
/// `rust/shim.c` checks them) moved to the architecture's user `POLL*` bit, or back. Written
/// out term by term, as in C, so that every shift folds to a constant.
macro_rules! map_poll_bits {
    ($v:expr, $dir:ident) => {{
        let v: u32 = $v;
        map_poll_bits!(@ $dir, v, 0x1, bindings::POLLIN)
            | map_poll_bits!(@ $dir, v, 0x4, bindings::POLLOUT)
            | map_poll_bits!(@ $dir, v, 0x2, bindings::POLLPRI)
            | map_poll_bits!(@ $dir, v, 0x8, bindings::POLLERR)
            | map_poll_bits!(@ $dir, v, 0x20, bindings::POLLNVAL)
            | map_poll_bits!(@ $dir, v, 0x40, bindings::POLLRDNORM)
            | map_poll_bits!(@ $dir, v, 0x80, bindings::POLLRDBAND)
            | map_poll_bits!(@ $dir, v, 0x100, bindings::POLLWRNORM)
            | map_poll_bits!(@ $dir, v, 0x200, bindings::POLLWRBAND)
            | map_poll_bits!(@ $dir, v, 0x10, bindings::POLLHUP)
            | map_poll_bits!(@ $dir, v, 0x2000, bindings::POLLRDHUP)
            | map_poll_bits!(@ $dir, v, 0x400, bindings::POLLMSG)
    }};
    (@ to_user, $v:ident, $epoll:expr, $poll:expr) => {
        map_bit::<{ $epoll }, { $poll }>($v)
    };
    (@ to_kernel, $v:ident, $epoll:expr, $poll:expr) => {
        map_bit::<{ $poll }, { $epoll }>($v)
    };
}

/// `__MAP()` of `<linux/poll.h>`: bit `FROM` of `v` moved to bit `TO` (both single bits).
#[inline(always)]
const fn map_bit<const FROM: u32, const TO: u32>(v: u32) -> u32 {
    if FROM < TO {
        (v & FROM) * (TO / FROM)
    } else {
        (v & FROM) / (FROM / TO)
    }
}

/// `demangle_poll()`: user `POLL*` bits to the kernel's `EPOLL*` mask.
pub(crate) fn demangle_poll(val: u16) -> u32 {
    map_poll_bits!(u32::from(val), to_kernel)
}

/// `mangle_poll()`: the kernel's mask to user `POLL*` bits (16 bits, as in the kernel).
pub(crate) fn mangle_poll(mask: u32) -> u16 {
    map_poll_bits!(mask & 0xffff, to_user) as u16
}

/// The wake-up function of every poll entry (called from `rust/shim.c` with the queue's lock
/// held, often with interrupts off).
///
/// # Safety
///
/// `owner` must be the request that queued `pw`, and `pw` one of its entries, on the queue
/// being woken.
#[no_mangle]
unsafe extern "C" fn aiopoll_poll_wake_rs(
    owner: *mut c_void,
    pw: *mut RawPWait,
    mask: c_uint,
) -> c_int {
    // SAFETY: A queued entry's request lives in an `Arc` and is kept alive until every entry
    // was taken off its queue (the contract of `poll_arm`), which needs this queue's lock, held
    // by our caller for the whole call.
    let req = unsafe { ArcBorrow::from_raw(owner.cast::<crate::request::Request>()) };
    // INVARIANT: `pw` is on the queue being woken, whose lock our caller holds during the call,
    // which is the entry's lifetime.
    let entry = WokenEntry {
        pw,
        _callback: PhantomData,
    };
    c_int::from(crate::request::Request::poll_wake(req, entry, mask))
}
