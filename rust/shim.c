// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of aiopoll; see shim.h. The read/write steps follow fs/aio.c (aio_prep_rw,
 * aio_setup_rw, aio_read, aio_write, aio_complete_rw) so that aiopoll behaves as fs/aio does
 * for the same iocb.
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/compat.h>
#include <linux/cpumask.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/ioprio.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/signal.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
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

int aiopoll_put_user_u32(u64 uaddr, u32 val)
{
	return put_user(val, (u32 __user *)u64_to_user_ptr(uaddr));
}

int aiopoll_put_user_u64(u64 uaddr, u64 val)
{
	return put_user(val, (u64 __user *)u64_to_user_ptr(uaddr));
}

bool aiopoll_in_compat_syscall(void)
{
	return in_compat_syscall();
}

bool aiopoll_file_has_fsync(struct file *file)
{
	return file->f_op->fsync;
}

static void aiopoll_kiocb_init(struct kiocb *kiocb, struct file *file, loff_t pos,
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

/*
 * Whether polled I/O (IOCB_HIPRI) can work on the kiocb's file: O_DIRECT, a file with
 * ->iopoll, and for a block device, a queue with poll queues (io_uring's IOPOLL requirements,
 * plus the last, so that a device without poll queues is refused instead of silently
 * completing by interrupt).
 */
static bool aiopoll_can_iopoll(struct kiocb *kiocb)
{
	struct file *file = kiocb->ki_filp;
	struct inode *inode = file_inode(file);

	struct block_device *bdev;

	if (!(kiocb->ki_flags & IOCB_DIRECT) || !file->f_op->iopoll)
		return false;
	/*
	 * A file system's block device must poll too: the block layer fails a polled bio on a
	 * queue without poll queues (BLK_STS_NOTSUPP), so refuse such I/O here, as for the
	 * device itself. A file system without a block device decides in its ->iopoll.
	 */
	bdev = S_ISBLK(inode->i_mode) ? file_bdev(file) : inode->i_sb->s_bdev;
	if (bdev)
		return bdev_get_queue(bdev)->limits.features & BLK_FEAT_POLL;
	return true;
}

static int aiopoll_kiocb_prep(struct kiocb *kiocb, const struct aiopoll_rw_args *rw)
{
	int ret;

	if (rw->has_ioprio) {
		ret = aiopoll_ioprio_check_cap(rw->ioprio);
		if (ret)
			return ret;
		kiocb->ki_ioprio = rw->ioprio;
	}
	ret = kiocb_set_rw_flags(kiocb, (__force rwf_t)rw->rw_flags, rw->write ? WRITE : READ);
	if (ret)
		return ret;
	if (!rw->hipri) {
		/* fs/aio: nobody is going to poll for this I/O. */
		kiocb->ki_flags &= ~IOCB_HIPRI;
		return 0;
	}
	if (!aiopoll_can_iopoll(kiocb))
		return -EOPNOTSUPP;
	/* Polled: iocb_bio_iopoll() finds the bio through ->private. */
	kiocb->ki_flags |= IOCB_HIPRI;
	kiocb->private = NULL;
	return 0;
}

/*
 * Polls the device for a polled kiocb's completion (and others on the same queue), as
 * io_uring's io_do_iopoll() does: with a completion batch, so that the driver hands back
 * every request it found and the block layer ends them together (ki_complete runs inside,
 * before this returns), and with BLK_POLL_ONESHOT unless @spin (then the poll spins until
 * it finds something, a signal is pending or the CPU is wanted elsewhere). Returns how many
 * completions were found. Several tasks may poll the same kiocb at once: iocb_bio_iopoll()
 * reads kiocb->private (the bio, or NULL once completed) with READ_ONCE under RCU, and the
 * drivers' ->poll serialise on their completion queue's lock.
 */
int aiopoll_kiocb_iopoll(struct kiocb *kiocb, bool spin)
{
	DEFINE_IO_COMP_BATCH(iob);
	int ret;

	ret = kiocb->ki_filp->f_op->iopoll(kiocb, &iob, spin ? 0 : BLK_POLL_ONESHOT);
	if (!rq_list_empty(&iob.req_list))
		iob.complete(&iob);
	return ret;
}

void aiopoll_cond_resched(void)
{
	cond_resched();
}

/*
 * Sets up the iterator of a read or write, as fs/aio's aio_setup_rw(). For vectored I/O,
 * *iovec returns the array import_iovec() allocated (kfree() it after the I/O was issued) or
 * NULL. scratch is one struct iovec that lives until the I/O was issued: import_iovec()
 * copies a single segment into it before turning it into a ubuf iterator (it must not be
 * NULL: a one-segment PREADV would write through it), and an empty vector points the
 * iterator at it. Like fs/aio, the segment count is aio_nbytes truncated to unsigned int.
 */
static int aiopoll_import(bool write, u64 buf, u64 len, bool vectored, struct iovec *scratch,
			  struct iovec **iovec, struct iov_iter *iter)
{
	int rw = write ? ITER_SOURCE : ITER_DEST;
	ssize_t ret;

	*iovec = NULL;
	if (!vectored)
		return import_ubuf(rw, u64_to_user_ptr(buf), len, iter);
	*iovec = scratch;
	ret = import_iovec(rw, u64_to_user_ptr(buf), len, 1, iovec, iter);
	return ret < 0 ? ret : 0;
}

/* The layout RwArgs of rust/sys/rw.rs asserts too. */
static_assert(sizeof(struct aiopoll_rw_args) == 40);
static_assert(offsetof(struct aiopoll_rw_args, pos) == 16);
static_assert(offsetof(struct aiopoll_rw_args, ioprio) == 28);
static_assert(offsetof(struct aiopoll_rw_args, hipri) == 35);

/*
 * Everything fs/aio's aio_read()/aio_write() do before they call ->read_iter/->write_iter,
 * in their order and with their errnos, in one call: aio_prep_rw() (with HIPRI checked),
 * the file's mode and method, aio_setup_rw() and rw_verify_area(). On success *iovec is
 * NULL or an array to kfree() once the I/O was issued; on error there is nothing to free.
 */
int aiopoll_rw_prep(struct kiocb *kiocb, struct file *file, const struct aiopoll_rw_args *rw,
		    void (*complete)(struct kiocb *kiocb, long ret), struct iovec *scratch,
		    struct iovec **iovec, struct iov_iter *iter)
{
	int ret;

	*iovec = NULL;
	aiopoll_kiocb_init(kiocb, file, rw->pos, complete);
	ret = aiopoll_kiocb_prep(kiocb, rw);
	if (ret)
		return ret;
	if (unlikely(!(file->f_mode & (rw->write ? FMODE_WRITE : FMODE_READ))))
		return -EBADF;
	if (unlikely(!(rw->write ? file->f_op->write_iter : file->f_op->read_iter)))
		return -EINVAL;
	ret = aiopoll_import(rw->write, rw->buf, rw->nbytes, rw->vectored, scratch, iovec, iter);
	if (ret)
		return ret;
	ret = rw_verify_area(rw->write ? WRITE : READ, file, &kiocb->ki_pos,
			     iov_iter_count(iter));
	if (ret) {
		kfree(*iovec);
		*iovec = NULL;
	}
	return ret;
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

/*
 * Ring memory: zeroed pages charged to the caller's memory cgroup (__GFP_ACCOUNT, as
 * io_uring's rings; vmalloc_user() has no accounted variant that modules can reach), mapped
 * in the kernel with vmap() and flagged VM_USERMAP so that remap_vmalloc_range() maps them
 * into user space. Freed in process context (vunmap() may sleep): a context is always freed
 * by its file's release.
 */
struct aiopoll_ring_mem {
	void *base;
	unsigned long nr_pages;
	struct page *pages[];
};

static void aiopoll_ring_free_pages(struct aiopoll_ring_mem *m)
{
	unsigned long i;

	for (i = 0; i < m->nr_pages; i++)
		if (m->pages[i])
			__free_page(m->pages[i]);
	kvfree(m);
}

struct aiopoll_ring_mem *aiopoll_ring_alloc(unsigned long size, void **base)
{
	unsigned long i, nr_pages = size >> PAGE_SHIFT;
	struct aiopoll_ring_mem *m;

	if (!nr_pages || nr_pages > UINT_MAX || size & ~PAGE_MASK)
		return NULL;
	m = kvzalloc(struct_size(m, pages, nr_pages), GFP_KERNEL_ACCOUNT);
	if (!m)
		return NULL;
	m->nr_pages = nr_pages;
	for (i = 0; i < nr_pages; i++) {
		m->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!m->pages[i])
			goto fail;
	}
	m->base = vmap(m->pages, nr_pages, VM_MAP | VM_USERMAP, PAGE_KERNEL);
	if (!m->base)
		goto fail;
	*base = m->base;
	return m;
fail:
	aiopoll_ring_free_pages(m);
	return NULL;
}

void aiopoll_ring_free(struct aiopoll_ring_mem *m)
{
	might_sleep();
	vunmap(m->base);
	aiopoll_ring_free_pages(m);
}

int aiopoll_ring_map(struct vm_area_struct *vma, struct aiopoll_ring_mem *m)
{
	return remap_vmalloc_range(vma, m->base, 0);
}

bool aiopoll_vma_is_shared(struct vm_area_struct *vma)
{
	return vma->vm_flags & VM_SHARED;
}

bool aiopoll_vma_is_exec(struct vm_area_struct *vma)
{
	return vma->vm_flags & VM_EXEC;
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
	/*
	 * Not inherited by fork, never executable, never grown by mremap. VM_DONTEXPAND is one
	 * of VM_SPECIAL, which also makes madvise(MADV_DOFORK) fail with EINVAL, so the
	 * VM_DONTCOPY set here cannot be undone.
	 */
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
	/*
	 * Per-CPU, as fs/aio's poll and fsync work on system_wq: the work runs on the CPU that
	 * queued it (the waker's or the canceller's), without a cross-CPU wake-up. Fsync work may
	 * sleep for long, which per-CPU pools handle by starting another worker. Destroyed (and
	 * drained) at module exit.
	 */
	return alloc_workqueue("aiopoll", WQ_PERCPU, 0);
}

void aiopoll_waitqueue_init(struct wait_queue_head *wq, const char *name,
			    struct lock_class_key *key)
{
	__init_waitqueue_head(wq, name, key);
}

/*
 * Wake-ups of aiopoll's own queues nest when a context's fd is polled, directly or through
 * epoll, by another context whose request completes inline. This per-CPU depth lets the
 * poll wake-up see that it runs inside one of aiopoll's own wake-ups and defer instead, so
 * no two aiopoll wait-queue locks are ever held at once.
 */
static DEFINE_PER_CPU(int, aiopoll_wake_depth);

/*
 * Marks this CPU as inside an aiopoll wake-up: aiopoll_wake_all() of one of aiopoll's own
 * queues, or an inline poll completion, which runs inside a foreign wake-up (the polled
 * file's queue lock is held) and must not wake the context's pollers, whose callbacks
 * (epoll's among them) may take locks that are held around wake-ups of the file being polled
 * (see aiopoll_wake_after_post()).
 *
 * The task must stay on this CPU until the matching exit, so that it finds its own mark. On
 * PREEMPT_RT the section takes spinlock_t locks (wait-queue and context locks), which sleep
 * there, so it must stay preemptible: migrate_disable() pins the task instead, and another
 * task that runs on this CPU meanwhile may see the mark as its own. That only makes it defer
 * a wake-up to the workqueue, which is always correct; the counts stay balanced because
 * every task enters and leaves on one CPU. Elsewhere preemption is simply disabled.
 */
static void aiopoll_wake_section_enter(void)
{
	if (IS_ENABLED(CONFIG_PREEMPT_RT))
		migrate_disable();
	else
		preempt_disable();
	this_cpu_inc(aiopoll_wake_depth);
}

void aiopoll_wake_section_exit(void)
{
	this_cpu_dec(aiopoll_wake_depth);
	if (IS_ENABLED(CONFIG_PREEMPT_RT))
		migrate_enable();
	else
		preempt_enable();
}

static void __aiopoll_wake_all(struct wait_queue_head *wq)
{
	aiopoll_wake_section_enter();
	wake_up_all(wq);
	aiopoll_wake_section_exit();
}

void aiopoll_wake_all(struct wait_queue_head *wq)
{
	/*
	 * Most events have nobody waiting (a ring reaper, or a waiter still running): skip the
	 * queue's lock then. The full barrier in wq_has_sleeper() orders the caller's change (an
	 * event published in the ring, polled I/O listed) before this look at the queue; a waiter
	 * adds itself before it checks its condition (wait_event()'s set_current_state() is a full
	 * barrier), so it is either seen here or sees the change.
	 */
	if (wq_has_sleeper(wq))
		__aiopoll_wake_all(wq);
}

static bool aiopoll_in_own_wakeup(void)
{
	return this_cpu_read(aiopoll_wake_depth) > 0;
}

/*
 * What a poll wake-up callback asks before it completes its request inline, in one call:
 * unless this CPU is inside an aiopoll wake-up already (-1: the caller defers, nothing is
 * entered), enters the section (aiopoll_wake_section_enter(); the caller leaves it with
 * aiopoll_wake_section_exit()) and returns whether interrupts are disabled (1) or not (0).
 * The look at the depth needs no pinning of its own: a wake-up callback runs under its
 * queue's spinlock, so it cannot migrate (see aiopoll_wake_section_enter()).
 */
int aiopoll_inline_enter(void)
{
	if (aiopoll_in_own_wakeup())
		return -1;
	aiopoll_wake_section_enter();
	return irqs_disabled();
}

/*
 * The queue that poll(), epoll and other contexts' poll requests of a context's file wait
 * on, apart from the GETEVENTS waiters so that only plain sleeping tasks are woken under a
 * foreign wait-queue lock. Its callbacks may take any lock (an epoll set's ep->lock and
 * poll_wait lock, for one), so it is never woken inside a wake-up: that would order a foreign
 * queue's lock before them, and an epoll set that both watches a context and is polled by it
 * closes the loop (an ABBA deadlock between two CPUs, which lockdep reports). From there the
 * wake-up goes through @work, on the module's workqueue, instead.
 */
static void aiopoll_pollq_work(struct work_struct *work)
{
	struct aiopoll_pollq *q = container_of(work, struct aiopoll_pollq, work);

	__aiopoll_wake_all(&q->head);
}

static_assert(sizeof(struct aiopoll_pollq) ==
	      sizeof(struct wait_queue_head) + sizeof(struct work_struct));

void aiopoll_pollq_init(struct aiopoll_pollq *q, const char *name, struct lock_class_key *key)
{
	__init_waitqueue_head(&q->head, name, key);
	INIT_WORK(&q->work, aiopoll_pollq_work);
}

/* Wakes @q's pollers, from @wq's work item inside a wake-up. The caller checked the queue. */
static void __aiopoll_pollq_wake(struct aiopoll_pollq *q, struct workqueue_struct *wq)
{
	if (aiopoll_in_own_wakeup())
		queue_work(wq, &q->work);
	else
		__aiopoll_wake_all(&q->head);
}

/*
 * After an event is posted: wakes the GETEVENTS sleepers on @wait and the pollers on @q,
 * those that are there. One full barrier orders the event (published under the context's
 * inner lock) before both looks at the queues, as wq_has_sleeper() does for one: a waiter or
 * poller adds itself before it checks for events, so it is either seen here or sees the event.
 */
void aiopoll_wake_after_post(struct wait_queue_head *wait, struct aiopoll_pollq *q,
			     struct workqueue_struct *wq)
{
	smp_mb();
	if (waitqueue_active(wait))
		__aiopoll_wake_all(wait);
	if (waitqueue_active(&q->head))
		__aiopoll_pollq_wake(q, wq);
}

void aiopoll_pollq_fini(struct aiopoll_pollq *q)
{
	cancel_work_sync(&q->work);
}

/*
 * The watch on a context's owner process: fs/aio kills a process's contexts when its mm goes
 * away (exit_aio()), which breaks the reference cycles that polls can form (a poll holds a
 * reference to the file it polls, and that file may hold the context's file: a unix socket
 * with the context's fd in flight, an io_uring with it as a fixed file). A module cannot hook
 * mmput(), so the context watches the owner's thread-group struct pid instead: its
 * wait_pidfd queue is woken when the thread group has exited (do_notify_pidfd()) and when
 * its leader is reaped, the wake-ups pidfd_poll() waits for. The pid is pinned by the watch,
 * and a struct pid's queue lives as long as the pid, so no POLLFREE is involved.
 *
 * The wake-up only queues @work (it runs under the queue's lock, interrupts off); the work
 * checks that the group really is gone, as pidfd_poll() does, and calls @fn(@data).
 */
static int aiopoll_owner_watch_wake(struct wait_queue_entry *wait, unsigned int mode, int sync,
				    void *key)
{
	struct aiopoll_owner_watch *w = container_of(wait, struct aiopoll_owner_watch, wait);

	queue_work(w->wq, &w->work);
	return 0;
}

static bool aiopoll_pid_exited(struct pid *pid)
{
	struct task_struct *task;

	guard(rcu)();
	task = pid_task(pid, PIDTYPE_PID);
	return !task || (task->exit_state && !delay_group_leader(task));
}

static void aiopoll_owner_watch_work(struct work_struct *work)
{
	struct aiopoll_owner_watch *w = container_of(work, struct aiopoll_owner_watch, work);

	if (aiopoll_pid_exited(w->pid))
		w->fn(w->data);
}

void aiopoll_owner_watch_start(struct aiopoll_owner_watch *w, struct workqueue_struct *wq,
			       void (*fn)(void *data), void *data)
{
	w->wq = wq;
	w->fn = fn;
	w->data = data;
	INIT_WORK(&w->work, aiopoll_owner_watch_work);
	init_waitqueue_func_entry(&w->wait, aiopoll_owner_watch_wake);
	w->pid = get_task_pid(current, PIDTYPE_TGID);
	add_wait_queue(&w->pid->wait_pidfd, &w->wait);
}

/* Stops the watch: afterwards @fn is not running and will not be called. Idempotent. */
void aiopoll_owner_watch_stop(struct aiopoll_owner_watch *w)
{
	if (!w->pid)
		return;
	remove_wait_queue(&w->pid->wait_pidfd, &w->wait);
	cancel_work_sync(&w->work);
	put_pid(w->pid);
	w->pid = NULL;
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
 * set_current_blocked()): in two steps, so that a caller can check and read the mask
 * before it acts and install it later: aiopoll_read_user_sigmask() reads and checks it,
 * aiopoll_install_sigmask() installs it for the rest of the system call and arranges
 * for the old one to come back on the way out. sigprocmask() is exported and does what
 * set_current_blocked() does once SIGKILL and SIGSTOP are removed from the mask.
 */
int aiopoll_read_user_sigmask(u64 umask, u64 sigsetsize, sigset_t *kmask)
{
	if (sigsetsize != sizeof(sigset_t))
		return -EINVAL;
	if (copy_from_user(kmask, u64_to_user_ptr(umask), sizeof(sigset_t)))
		return -EFAULT;
	return 0;
}

void aiopoll_install_sigmask(sigset_t *kmask)
{
	set_restore_sigmask();
	current->saved_sigmask = current->blocked;
	sigdelsetmask(kmask, sigmask(SIGKILL) | sigmask(SIGSTOP));
	sigprocmask(SIG_SETMASK, kmask, NULL);
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

static_assert(sizeof(struct aiopoll_pwait) ==
	      sizeof(struct wait_queue_entry) + sizeof(struct wait_queue_head *));

void aiopoll_pwait_init(struct aiopoll_pwait *pw, void *owner, wait_queue_func_t wake)
{
	INIT_LIST_HEAD(&pw->wait.entry);
	init_waitqueue_func_entry(&pw->wait, wake);
	pw->wait.private = owner;
	pw->head = NULL;
}

struct aiopoll_poll_table {
	struct poll_table_struct pt;
	struct aiopoll_pwait *first;
	struct aiopoll_pwait **second;
	int queued;
	int error;
};

/*
 * The queue callback of vfs_poll(): the first two wait queues get an entry each (a FIFO open
 * for reading and writing has two, which fs/aio refuses and io_uring accepts); a third makes
 * the arming fail with -EINVAL. The first entry is embedded in the request; the second is
 * allocated here, only for the files that need it, as io_uring's double poll does, and
 * atomically: ->poll() may call us under its own locks.
 */
static void aiopoll_poll_queue_proc(struct file *file, struct wait_queue_head *head,
				    struct poll_table_struct *p)
{
	struct aiopoll_poll_table *apt = container_of(p, struct aiopoll_poll_table, pt);
	struct aiopoll_pwait *pw;

	if (apt->error)
		return;
	switch (apt->queued) {
	case 0:
		pw = apt->first;
		break;
	case 1:
		pw = kmalloc(sizeof(*pw), GFP_ATOMIC | __GFP_ACCOUNT);
		if (!pw) {
			apt->error = -ENOMEM;
			return;
		}
		/* The first entry's owner and wake-up function. */
		aiopoll_pwait_init(pw, apt->first->wait.private, apt->first->wait.func);
		/* Read by the request's owner after the arming hands the request over. */
		WRITE_ONCE(*apt->second, pw);
		break;
	default:
		apt->error = -EINVAL;
		return;
	}
	pw->head = head;
	add_wait_queue(head, &pw->wait);
	apt->queued++;
}

/*
 * Queues the entries and returns the current mask (fs/aio's aio_poll(), first half): @first
 * is initialised, *@second receives the second entry if there is one, *@queued the number of
 * entries queued, and *@error -EINVAL for more than two queues or -ENOMEM, else 0.
 */
unsigned int aiopoll_poll_arm(struct file *file, unsigned int events, struct aiopoll_pwait *first,
			      struct aiopoll_pwait **second, int *queued, int *error)
{
	struct aiopoll_poll_table apt = { .first = first, .second = second };
	__poll_t mask;

	init_poll_funcptr(&apt.pt, aiopoll_poll_queue_proc);
	apt.pt._key = (__force __poll_t)events;
	mask = vfs_poll(file, &apt.pt);
	*queued = apt.queued;
	*error = apt.error;
	return (__force unsigned int)mask;
}

/* Frees a second entry allocated by aiopoll_poll_queue_proc(), off its queue. */
void aiopoll_pwait_free(struct aiopoll_pwait *pw)
{
	kfree(pw);
}

/* The current mask, without queueing anything. */
unsigned int aiopoll_poll_mask(struct file *file, unsigned int events)
{
	struct poll_table_struct pt = { ._key = (__force __poll_t)events };

	return (__force unsigned int)vfs_poll(file, &pt);
}

/*
 * Locks the queue of @pw if the entry is still on it (fs/aio's poll_iocb_lock_wq()). The
 * queue may be freed under POLLFREE, which its owner only does an RCU grace period after
 * wake_up_pollfree() (include/linux/wait.h): so the RCU read lock taken here is held until
 * aiopoll_pwait_unlock(). Interrupts are disabled with the lock (wake-ups of the queue may
 * come from interrupts), and their previous state is returned in @flags. Returns the locked
 * queue or NULL.
 */
struct wait_queue_head *aiopoll_pwait_lock(struct aiopoll_pwait *pw, unsigned long *flags)
{
	struct wait_queue_head *head;

	rcu_read_lock();
	/* Pairs with the release store of aiopoll_pwait_pollfree_locked(). */
	head = smp_load_acquire(&pw->head);
	if (head) {
		spin_lock_irqsave(&head->lock, *flags);
		if (!list_empty(&pw->wait.entry))
			return head;
		spin_unlock_irqrestore(&head->lock, *flags);
	}
	rcu_read_unlock();
	return NULL;
}

void aiopoll_pwait_unlock(struct wait_queue_head *head, unsigned long flags)
{
	spin_unlock_irqrestore(&head->lock, flags);
	rcu_read_unlock();
}

/* Takes the entry off its queue, whose lock the caller holds. */
void aiopoll_pwait_del_locked(struct aiopoll_pwait *pw)
{
	list_del_init(&pw->wait.entry);
}

/*
 * POLLFREE: the queue is going away. Takes the entry off and clears @head (release). This
 * must be the wake-up's last access to the request: whoever completes the request first
 * locks each of its queues through aiopoll_pwait_lock(), which either waits for this queue's
 * lock (held by the wake-up until it returns) or sees @head NULL, and in that case, by the
 * acquire load pairing with this store, everything the wake-up did to the request before.
 * After the store the request may be completed and freed on another CPU.
 */
void aiopoll_pwait_pollfree_locked(struct aiopoll_pwait *pw)
{
	list_del_init(&pw->wait.entry);
	smp_store_release(&pw->head, NULL);
}

/*
 * mangle_poll() and demangle_poll() are in Rust (rust/sys/poll.rs, so that they inline), with
 * the EPOLL* values of <uapi/linux/eventpoll.h> written out there: check them here.
 */
static_assert((__force u32)EPOLLIN == 0x1 && (__force u32)EPOLLPRI == 0x2 &&
	      (__force u32)EPOLLOUT == 0x4 && (__force u32)EPOLLERR == 0x8 &&
	      (__force u32)EPOLLHUP == 0x10 && (__force u32)EPOLLNVAL == 0x20 &&
	      (__force u32)EPOLLRDNORM == 0x40 && (__force u32)EPOLLRDBAND == 0x80 &&
	      (__force u32)EPOLLWRNORM == 0x100 && (__force u32)EPOLLWRBAND == 0x200 &&
	      (__force u32)EPOLLMSG == 0x400 && (__force u32)EPOLLRDHUP == 0x2000);
