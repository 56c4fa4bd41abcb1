// SPDX-License-Identifier: GPL-2.0

//! The functions of the C shim (`rust/shim.h`), for the wrappers of this module only.

use kernel::{
    bindings::{
        cred,
        file,
        iov_iter,
        iovec,
        kiocb,
        lock_class_key,
        sigset_t,
        vm_area_struct,
        vm_operations_struct,
        wait_queue_entry,
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

// Some bindgen structs reached through these pointers are empty placeholders (for example
// `mm_mm_cid` with this configuration), which rustc flags although only pointers cross the
// boundary. `allow` rather than `expect`: whether it fires depends on the kernel config.
#[allow(improper_ctypes)]
extern "C" {
    pub(super) fn aiopoll_num_possible_cpus() -> c_uint;
    pub(super) fn aiopoll_put_user_u32(uaddr: u64, val: u32) -> c_int;
    pub(super) fn aiopoll_put_user_u64(uaddr: u64, val: u64) -> c_int;
    pub(super) fn aiopoll_in_compat_syscall() -> bool;
    pub(super) fn aiopoll_file_has_fsync(file: *mut file) -> bool;
    pub(super) fn aiopoll_rw_prep(
        kiocb: *mut kiocb,
        file: *mut file,
        rw: *const super::RwArgs,
        complete: unsafe extern "C" fn(*mut kiocb, c_long),
        scratch: *mut iovec,
        iovec: *mut *mut iovec,
        iter: *mut iov_iter,
    ) -> c_int;
    pub(super) fn aiopoll_kiocb_iopoll(kiocb: *mut kiocb, spin: bool) -> c_int;
    pub(super) fn aiopoll_cond_resched();
    pub(super) fn aiopoll_rw_issue(kiocb: *mut kiocb, iter: *mut iov_iter, write: bool) -> isize;
    pub(super) fn aiopoll_rw_end(kiocb: *mut kiocb);
    pub(super) fn aiopoll_fsync_as(file: *mut file, creds: *const cred, datasync: bool) -> c_int;
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
        w: *mut super::owner::RawOwnerWatch,
        wq: *mut workqueue_struct,
        func: unsafe extern "C" fn(*mut c_void),
        data: *mut c_void,
    );
    pub(super) fn aiopoll_owner_watch_stop(w: *mut super::owner::RawOwnerWatch);
    pub(super) fn aiopoll_read_user_sigmask(
        umask: u64,
        sigsetsize: u64,
        kmask: *mut sigset_t,
    ) -> c_int;
    pub(super) fn aiopoll_install_sigmask(kmask: *mut sigset_t);
    pub(super) fn aiopoll_restore_saved_sigmask_unless(interrupted: bool);
    pub(super) fn aiopoll_ring_alloc(
        size: c_ulong,
        base: *mut *mut c_void,
    ) -> *mut super::ring::RawRingMem;
    pub(super) fn aiopoll_ring_free(mem: *mut super::ring::RawRingMem);
    pub(super) fn aiopoll_ring_map(
        vma: *mut vm_area_struct,
        mem: *mut super::ring::RawRingMem,
    ) -> c_int;
    pub(super) fn aiopoll_waitqueue_init(
        wq: *mut wait_queue_head,
        name: *const c_char,
        key: *mut lock_class_key,
    );
    pub(super) fn aiopoll_wake_all(wq: *mut wait_queue_head);
    pub(super) fn aiopoll_wake_section_exit();
    pub(super) fn aiopoll_inline_enter() -> c_int;
    pub(super) fn aiopoll_pollq_init(
        q: *mut super::wait::RawPollQueue,
        name: *const c_char,
        key: *mut lock_class_key,
    );
    pub(super) fn aiopoll_pollq_fini(q: *mut super::wait::RawPollQueue);
    pub(super) fn aiopoll_wake_after_post(
        wait: *mut wait_queue_head,
        q: *mut super::wait::RawPollQueue,
        wq: *mut workqueue_struct,
    );
    pub(super) fn aiopoll_pwait_init(
        pw: *mut super::poll::RawPWait,
        owner: *mut c_void,
        wake: unsafe extern "C" fn(*mut wait_queue_entry, c_uint, c_int, *mut c_void) -> c_int,
    );
    pub(super) fn aiopoll_poll_arm(
        file: *mut file,
        events: c_uint,
        first: *mut super::poll::RawPWait,
        second: *mut *mut super::poll::RawPWait,
        queued: *mut c_int,
        error: *mut c_int,
    ) -> c_uint;
    pub(super) fn aiopoll_pwait_free(pw: *mut super::poll::RawPWait);
    pub(super) fn aiopoll_poll_mask(file: *mut file, events: c_uint) -> c_uint;
    pub(super) fn aiopoll_pwait_lock(
        pw: *mut super::poll::RawPWait,
        flags: *mut c_ulong,
    ) -> *mut wait_queue_head;
    pub(super) fn aiopoll_pwait_unlock(head: *mut wait_queue_head, flags: c_ulong);
    pub(super) fn aiopoll_pwait_del_locked(pw: *mut super::poll::RawPWait);
    pub(super) fn aiopoll_pwait_pollfree_locked(pw: *mut super::poll::RawPWait);
    pub(super) fn aiopoll_wait_event(
        wq: *mut wait_queue_head,
        interruptible: bool,
        timeout: c_long,
        cond: unsafe extern "C" fn(*mut c_void) -> bool,
        arg: *mut c_void,
    ) -> c_long;
}
