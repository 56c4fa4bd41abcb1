// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of aiopoll; see shim.h. The read/write steps follow fs/aio.c (aio_prep_rw,
 * aio_setup_rw, aio_read, aio_write, aio_complete_rw) so that aiopoll behaves as fs/aio does
 * for the same iocb.
 */
#include <linux/cpumask.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/ioprio.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/time64.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "shim.h"

unsigned int aiopoll_num_possible_cpus(void)
{
	return num_possible_cpus();
}

bool aiopoll_file_readable(struct file *file)
{
	return file->f_mode & FMODE_READ;
}

bool aiopoll_file_writable(struct file *file)
{
	return file->f_mode & FMODE_WRITE;
}

bool aiopoll_file_has_read_iter(struct file *file)
{
	return file->f_op->read_iter;
}

bool aiopoll_file_has_write_iter(struct file *file)
{
	return file->f_op->write_iter;
}

bool aiopoll_file_has_fsync(struct file *file)
{
	return file->f_op->fsync;
}

void aiopoll_kiocb_init(struct kiocb *kiocb, struct file *file, loff_t pos,
			void (*complete)(struct kiocb *kiocb, long ret))
{
	/*
	 * As aio_prep_rw(), but without IOCB_AIO_RW: that flag tells drivers that the kiocb is
	 * embedded in fs/aio's struct aio_kiocb, which ours is not. IOCB_EVENTFD is fs/aio's
	 * own marker too; aiopoll signals its eventfd itself.
	 */
	memset(kiocb, 0, sizeof(*kiocb));
	kiocb->ki_filp = file;
	kiocb->ki_complete = complete;
	kiocb->private = NULL;
	kiocb->ki_pos = pos;
	kiocb->ki_flags = file->f_iocb_flags;
	kiocb->ki_ioprio = get_current_ioprio();
}

/* ioprio_check_cap() of block/ioprio.c, which is not exported. */
static int aiopoll_ioprio_check_cap(int ioprio)
{
	int class = IOPRIO_PRIO_CLASS(ioprio);
	int level = IOPRIO_PRIO_LEVEL(ioprio);

	switch (class) {
	case IOPRIO_CLASS_RT:
		if (!capable(CAP_SYS_ADMIN) && !capable(CAP_SYS_NICE))
			return -EPERM;
		break;
	case IOPRIO_CLASS_BE:
	case IOPRIO_CLASS_IDLE:
		break;
	case IOPRIO_CLASS_NONE:
		if (level)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

int aiopoll_kiocb_prep(struct kiocb *kiocb, int rw_flags, bool write, bool has_ioprio,
		       int ioprio)
{
	int ret;

	if (has_ioprio) {
		ret = aiopoll_ioprio_check_cap(ioprio);
		if (ret)
			return ret;
		kiocb->ki_ioprio = ioprio;
	}
	/* Polled I/O (RWF_HIPRI) is refused by the caller until aiopoll polls for it. */
	ret = kiocb_set_rw_flags(kiocb, (__force rwf_t)rw_flags, write ? WRITE : READ);
	if (ret)
		return ret;
	kiocb->ki_flags &= ~IOCB_HIPRI;
	return 0;
}

int aiopoll_import(bool write, u64 buf, u64 len, bool vectored, struct iovec **iovec,
		   struct iov_iter *iter)
{
	int rw = write ? ITER_SOURCE : ITER_DEST;
	ssize_t ret;

	*iovec = NULL;
	if (!vectored)
		return import_ubuf(rw, u64_to_user_ptr(buf), len, iter);
	ret = import_iovec(rw, u64_to_user_ptr(buf), len, 0, iovec, iter);
	return ret < 0 ? ret : 0;
}

int aiopoll_rw_verify(struct kiocb *kiocb, struct iov_iter *iter, bool write)
{
	return rw_verify_area(write ? WRITE : READ, kiocb->ki_filp, &kiocb->ki_pos,
			      iov_iter_count(iter));
}

ssize_t aiopoll_rw_issue(struct kiocb *kiocb, struct iov_iter *iter, bool write)
{
	struct file *file = kiocb->ki_filp;

	if (!write)
		return file->f_op->read_iter(kiocb, iter);
	if (S_ISREG(file_inode(file)->i_mode))
		kiocb_start_write(kiocb);
	kiocb->ki_flags |= IOCB_WRITE;
	return file->f_op->write_iter(kiocb, iter);
}

void aiopoll_rw_end(struct kiocb *kiocb)
{
	if ((kiocb->ki_flags & IOCB_WRITE) && S_ISREG(file_inode(kiocb->ki_filp)->i_mode))
		kiocb_end_write(kiocb);
}

int aiopoll_fsync_as(struct file *file, const struct cred *creds, bool datasync)
{
	int ret;

	scoped_with_creds(creds)
		ret = vfs_fsync(file, datasync);
	return ret;
}

void *aiopoll_ring_alloc(unsigned long size)
{
	return vmalloc_user(size);
}

void aiopoll_ring_free(void *mem)
{
	/* vfree() defers the work when called in interrupt context. */
	vfree(mem);
}

int aiopoll_ring_map(struct vm_area_struct *vma, void *mem)
{
	return remap_vmalloc_range(vma, mem, 0);
}

bool aiopoll_vma_is_shared(struct vm_area_struct *vma)
{
	return vma->vm_flags & VM_SHARED;
}

unsigned long aiopoll_vma_start(struct vm_area_struct *vma)
{
	return vma->vm_start;
}

unsigned long aiopoll_vma_len(struct vm_area_struct *vma)
{
	return vma->vm_end - vma->vm_start;
}

unsigned long aiopoll_vma_pgoff(struct vm_area_struct *vma)
{
	return vma->vm_pgoff;
}

void aiopoll_vma_setup(struct vm_area_struct *vma, const struct vm_operations_struct *ops,
		       void *private_data)
{
	/* Not inherited by fork, never executable, never grown by mremap. */
	vm_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP);
	vm_flags_clear(vma, VM_MAYEXEC);
	vma->vm_ops = ops;
	vma->vm_private_data = private_data;
}

void *aiopoll_vma_private(struct vm_area_struct *vma)
{
	return vma->vm_private_data;
}

int aiopoll_get_timeout(u64 uts, s64 *nsecs)
{
	struct timespec64 ts;

	if (get_timespec64(&ts, u64_to_user_ptr(uts)))
		return -EFAULT;
	*nsecs = ktime_to_ns(timespec64_to_ktime(ts));
	return 0;
}

struct workqueue_struct *aiopoll_alloc_workqueue(void)
{
	/* Unbound: fsync work may block for long; destroyed (and drained) at module exit. */
	return alloc_workqueue("aiopoll", WQ_UNBOUND, 0);
}

void aiopoll_waitqueue_init(struct wait_queue_head *wq, const char *name,
			    struct lock_class_key *key)
{
	__init_waitqueue_head(wq, name, key);
}

void aiopoll_wake_all(struct wait_queue_head *wq)
{
	wake_up_all(wq);
}

/*
 * Waits on @wq until @cond returns true. Uninterruptible waits ignore @timeout and return 1.
 * Interruptible ones return what wait_event_interruptible_timeout() does: the jiffies left
 * (at least 1) when @cond became true, 0 on timeout, -ERESTARTSYS on a signal.
 */
long aiopoll_wait_event(struct wait_queue_head *wq, bool interruptible, long timeout,
			bool (*cond)(void *arg), void *arg)
{
	if (!interruptible) {
		wait_event(*wq, cond(arg));
		return 1;
	}
	return wait_event_interruptible_timeout(*wq, cond(arg), timeout);
}

/*
 * set_user_sigmask() of kernel/signal.c, which is not exported (nor is
 * set_current_blocked()): installs the user's mask for the rest of the system call and arranges
 * for the old one to come back on the way out. sigprocmask() is exported and does what
 * set_current_blocked() does once SIGKILL and SIGSTOP are removed from the mask.
 */
int aiopoll_set_user_sigmask(u64 umask, u64 sigsetsize)
{
	sigset_t kmask;

	if (!umask)
		return 0;
	if (sigsetsize != sizeof(sigset_t))
		return -EINVAL;
	if (copy_from_user(&kmask, u64_to_user_ptr(umask), sizeof(sigset_t)))
		return -EFAULT;

	set_restore_sigmask();
	current->saved_sigmask = current->blocked;
	sigdelsetmask(&kmask, sigmask(SIGKILL) | sigmask(SIGSTOP));
	return sigprocmask(SIG_SETMASK, &kmask, NULL);
}

/*
 * restore_saved_sigmask_unless() of <linux/sched/signal.h>, which calls the unexported
 * __set_current_blocked(). When a signal interrupted the wait, the mask stays as it is: the
 * signal is delivered on the way out under the temporary mask, its handler's frame saves the
 * original one (sigmask_to_save()), and the restore flag brings it back, as for pselect().
 */
void aiopoll_restore_saved_sigmask_unless(bool interrupted)
{
	if (interrupted)
		return;
	if (test_and_clear_restore_sigmask())
		sigprocmask(SIG_SETMASK, &current->saved_sigmask, NULL);
}
