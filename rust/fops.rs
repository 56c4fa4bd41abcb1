// SPDX-License-Identifier: GPL-2.0

//! The `/dev/aiopoll` character device: its `struct miscdevice` and `struct file_operations`.
//!
//! The kernel's `MiscDevice` abstraction cannot provide `poll` (which makes a context usable
//! from epoll) nor custom `vm_ops` for the completion ring, so this file builds the operations
//! table by hand, as Rust Binder does. It is one of the two places in the module that touch
//! `kernel::bindings` (the other is `rust/sys/`): every trampoline here turns raw pointers
//! into safe types and calls the safe methods of [`Context`].

use crate::{
    context::Context,
    sys::Vma, //
};
use kernel::{
    bindings,
    error::to_result,
    fs::File,
    module::this_module,
    prelude::*,
    seq_file::SeqFile,
    str::CStrExt,
    sync::Arc,
    types::{
        ForeignOwnable,
        Opaque, //
    }, //
};

/// Makes a static C structure that is never written after initialisation `Sync`.
#[repr(transparent)]
struct ReadOnly<T>(T);

// SAFETY: The wrapped value is only ever read (the kernel reads the operations table), so
// sharing it between threads is sound.
unsafe impl<T> Sync for ReadOnly<T> {}

/// The operations of every file opened through `/dev/aiopoll`.
///
/// `owner` pins the module while a file is open, so `rmmod` fails with `EBUSY` until every
/// context has been released.
static FOPS: ReadOnly<bindings::file_operations> = ReadOnly(bindings::file_operations {
    owner: this_module::<crate::LocalModule>().as_ptr(),
    open: Some(aiopoll_open),
    release: Some(aiopoll_release),
    unlocked_ioctl: Some(aiopoll_ioctl),
    poll: Some(aiopoll_poll),
    mmap: Some(aiopoll_mmap),
    // 32-bit callers: the same ioctls (every structure has fixed-size fields), with the
    // argument pointer converted by `compat_ptr_ioctl`; `SUBMIT` reads 4-byte iocb pointers
    // for them (`in_compat_syscall()`). `None` without `CONFIG_COMPAT`.
    compat_ioctl: bindings::compat_ptr_ioctl,
    show_fdinfo: Some(aiopoll_show_fdinfo),
    ..pin_init::zeroed()
});

/// A registered `/dev/aiopoll` misc device.
///
/// # Invariants
///
/// `misc` holds a `struct miscdevice` that was registered with `misc_register()` and stays
/// registered until [`Drop`] calls `misc_deregister()`, exactly once.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration {
    #[pin]
    misc: Opaque<bindings::miscdevice>,
}

// SAFETY: `misc_deregister` may be called from any thread.
unsafe impl Send for Registration {}
// SAFETY: `Registration` has no `&self` methods that touch the device.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers the misc device `name` with permissions `mode`, at the fixed `minor` when it
    /// is free (opening a device node of that minor then loads the module: see the aliases in
    /// `aiopoll.rs`), else at a dynamic minor.
    pub(crate) fn register(
        name: &'static CStr,
        minor: c_int,
        mode: u16,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            misc <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut ret = Err(EBUSY);
                for m in [minor, bindings::MISC_DYNAMIC_MINOR as c_int] {
                    let mut misc: bindings::miscdevice = pin_init::zeroed();
                    misc.minor = m;
                    misc.name = name.as_char_ptr();
                    misc.fops = &FOPS.0;
                    misc.mode = mode;
                    // SAFETY: The initialiser may write to `slot`; a failed `misc_register()`
                    // left nothing that refers to it.
                    unsafe { slot.write(misc) };
                    // SAFETY: `slot` holds an initialised `miscdevice` whose memory is pinned
                    // and outlives the registration, because `Drop` deregisters before it is
                    // freed.
                    // INVARIANT: On success the device is registered.
                    ret = to_result(unsafe { bindings::misc_register(slot) });
                    if ret != Err(EBUSY) || m == bindings::MISC_DYNAMIC_MINOR as c_int {
                        break;
                    }
                    pr_warn!("misc minor {m} is taken: a dynamic one instead (no autoloading)\n");
                }
                ret
            }),
        })
    }

    /// The misc minor the device got.
    pub(crate) fn minor(&self) -> c_int {
        // SAFETY: By the type invariant the device is registered: `misc_register()` wrote the
        // minor and nothing writes it until `misc_deregister()`.
        unsafe { (*self.misc.get()).minor }
    }
}

#[pinned_drop]
impl PinnedDrop for Registration {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant the device is registered, and this is the only place
        // that deregisters it.
        unsafe { bindings::misc_deregister(self.misc.get()) };
    }
}

/// # Safety
///
/// Called by the VFS with a valid `file` that is being opened through the misc device.
unsafe extern "C" fn aiopoll_open(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: The VFS passes a valid file that outlives this call.
    let f = unsafe { File::from_raw_file(file) };
    match Context::open(f) {
        Ok(ctx) => {
            // SAFETY: `misc_open` stored the `miscdevice` pointer in `private_data`; from now on
            // the field is ours. `release` takes the reference back.
            unsafe { (*file).private_data = ctx.into_foreign() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS once, on the last close of a file that [`aiopoll_open`] opened.
unsafe extern "C" fn aiopoll_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `aiopoll_open` stored an `Arc<Context>` in `private_data`, and release is called
    // once, so this takes back the reference it handed out.
    let ctx = unsafe { Arc::<Context>::from_foreign((*file).private_data) };
    ctx.release();
    0
}

/// The context of `file` if it is an aiopoll context file (one of ours), else `None`.
pub(crate) fn context_of(file: &File) -> Option<Arc<Context>> {
    let raw = file.as_ptr();
    // SAFETY: `file` is a valid file (the caller holds a reference); `f_op` is set at open
    // and never changes.
    let ops = unsafe { (*raw).f_op };
    if !core::ptr::eq(ops, &FOPS.0) {
        return None;
    }
    // SAFETY: The file is one of ours, so `private_data` holds the `Arc<Context>` of
    // `aiopoll_open` until release, which cannot run while the caller holds a reference.
    let ctx = unsafe { Arc::<Context>::borrow((*raw).private_data) };
    Some(ctx.into())
}

/// # Safety
///
/// Called by the VFS with a valid file opened by [`aiopoll_open`].
unsafe extern "C" fn aiopoll_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: `private_data` holds the `Arc<Context>` of `aiopoll_open` until release, and the
    // VFS does not call ioctl concurrently with release.
    let ctx = unsafe { Arc::<Context>::borrow((*file).private_data) };
    match ctx.ioctl(cmd, arg) {
        Ok(ret) => ret as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// # Safety
///
/// Called by procfs with a valid seq_file and a valid file opened by [`aiopoll_open`].
unsafe extern "C" fn aiopoll_show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
    // SAFETY: As in `aiopoll_ioctl`: procfs holds a file reference, so release has not run.
    let ctx = unsafe { Arc::<Context>::borrow((*file).private_data) };
    // SAFETY: procfs passes a valid seq_file for the duration of the call.
    let m = unsafe { SeqFile::from_raw(m) };
    ctx.show_fdinfo(m);
}

/// # Safety
///
/// Called by the VFS with a valid file opened by [`aiopoll_open`] and a valid (or NULL)
/// poll table.
unsafe extern "C" fn aiopoll_poll(
    file: *mut bindings::file,
    table: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: As in `aiopoll_ioctl`: the caller holds a file reference, so release has not run.
    let ctx = unsafe { Arc::<Context>::borrow((*file).private_data) };
    // SAFETY: `file` and `table` are valid; the wait queue lives as long as the context, which
    // outlives every poll registration (they are removed before the file is released).
    unsafe { bindings::poll_wait(file, ctx.poll_queue().as_ptr(), table) };
    if ctx.poll_readable() {
        bindings::POLLIN | bindings::POLLRDNORM
    } else {
        0
    }
}

/// The `vm_operations_struct` of ring mappings; `vm_private_data` is the [`Context`].
static RING_VM_OPS: ReadOnly<bindings::vm_operations_struct> =
    ReadOnly(bindings::vm_operations_struct {
        open: Some(ring_vm_open),
        close: Some(ring_vm_close),
        may_split: Some(ring_vm_may_split),
        mremap: Some(ring_vm_mremap),
        ..pin_init::zeroed()
    });

/// # Safety
///
/// Called by the VFS with a valid file opened by [`aiopoll_open`] and a VMA being set up, with
/// the `mmap_lock` held for writing.
unsafe extern "C" fn aiopoll_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: As in `aiopoll_ioctl`.
    let ctx = unsafe { Arc::<Context>::borrow((*file).private_data) };
    // SAFETY: The VMA is valid, with the `mmap_lock` held, for the whole call.
    let vma = unsafe { Vma::from_raw(vma) };
    match ctx.mmap(&vma) {
        Ok(()) => {
            let data = core::ptr::from_ref::<Context>(&ctx).cast_mut().cast();
            // SAFETY: The VMA holds a reference to the file, and the file one to the context,
            // so `data` outlives the VMA and every copy of it.
            unsafe { vma.setup(&RING_VM_OPS.0, data) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// The context of a ring VMA.
///
/// # Safety
///
/// `vma` must be a valid ring VMA set up by [`aiopoll_mmap`].
unsafe fn ring_context<'a>(vma: &Vma) -> &'a Context {
    // SAFETY: `aiopoll_mmap` stored a pointer to the context, which the VMA keeps alive
    // through its file reference.
    unsafe { &*vma.private_data().cast::<Context>() }
}

/// # Safety
///
/// Called by the mm with a valid ring VMA (a new copy of one), `mmap_lock` held.
unsafe extern "C" fn ring_vm_open(vma: *mut bindings::vm_area_struct) {
    // SAFETY: Guaranteed by the caller.
    let vma = unsafe { Vma::from_raw(vma) };
    // SAFETY: A copy of a ring VMA carries the original's private data.
    unsafe { ring_context(&vma) }.vma_opened(&vma);
}

/// # Safety
///
/// Called by the mm with a valid ring VMA that is going away, `mmap_lock` held.
unsafe extern "C" fn ring_vm_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: Guaranteed by the caller.
    let vma = unsafe { Vma::from_raw(vma) };
    // SAFETY: `vma` is a ring VMA.
    unsafe { ring_context(&vma) }.vma_closed();
}

/// # Safety
///
/// Called by the mm with a valid ring VMA, `mmap_lock` held.
unsafe extern "C" fn ring_vm_may_split(
    _vma: *mut bindings::vm_area_struct,
    _addr: c_ulong,
) -> c_int {
    // The ring is mapped whole or not at all.
    EINVAL.to_errno()
}

/// # Safety
///
/// Called by the mm with the new, valid ring VMA after `mremap` moved it, `mmap_lock` held.
unsafe extern "C" fn ring_vm_mremap(vma: *mut bindings::vm_area_struct) -> c_int {
    // SAFETY: Guaranteed by the caller.
    let vma = unsafe { Vma::from_raw(vma) };
    // SAFETY: `vma` is a ring VMA.
    unsafe { ring_context(&vma) }.vma_moved(&vma);
    0
}
