/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of aiopoll: small wrappers around kernel functions that are static inline or
 * macros (so Rust cannot call them) and around a few fs/aio.c steps that need many of them.
 * Everything here calls only exported symbols. rust/sys/shim.rs declares these functions and
 * the rest of rust/sys/ wraps them in safe Rust; no other Rust file calls them.
 */
#ifndef AIOPOLL_SHIM_H
#define AIOPOLL_SHIM_H

#include <linux/signal_types.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

struct cred;
struct file;
struct iov_iter;
struct iovec;
struct kiocb;
struct vm_area_struct;
struct vm_operations_struct;

unsigned int aiopoll_num_possible_cpus(void);

/* put_user() of a u32 or u64 (inline in C, unlike a copy_to_user() of so few bytes). */
int aiopoll_put_user_u32(u64 uaddr, u32 val);
int aiopoll_put_user_u64(u64 uaddr, u64 val);

/* Whether the current system call is a 32-bit one. */
bool aiopoll_in_compat_syscall(void);

/* File properties fs/aio checks before submitting. */
bool aiopoll_file_has_fsync(struct file *file);

/*
 * Reads and writes through a kiocb, as fs/aio.c's aio_read()/aio_write(): what one is
 * (RwArgs of rust/sys/rw.rs, the same layout: checked at build time on both sides).
 */
struct aiopoll_rw_args {
	u64 buf;
	u64 nbytes;
	s64 pos;
	int rw_flags;
	int ioprio;		/* used only with has_ioprio (IOCB_FLAG_IOPRIO) */
	bool has_ioprio;
	bool write;
	bool vectored;
	bool hipri;
};

int aiopoll_rw_prep(struct kiocb *kiocb, struct file *file, const struct aiopoll_rw_args *rw,
		    void (*complete)(struct kiocb *kiocb, long ret), struct iovec *scratch,
		    struct iovec **iovec, struct iov_iter *iter);
int aiopoll_kiocb_iopoll(struct kiocb *kiocb, bool spin);
void aiopoll_cond_resched(void);
ssize_t aiopoll_rw_issue(struct kiocb *kiocb, struct iov_iter *iter, bool write);
void aiopoll_rw_end(struct kiocb *kiocb);

/* fsync/fdatasync with the submitter's credentials. */
int aiopoll_fsync_as(struct file *file, const struct cred *creds, bool datasync);

/* Ring memory: accounted pages, vmap()ed for the kernel, mapped whole into user space. */
struct aiopoll_ring_mem;
struct aiopoll_ring_mem *aiopoll_ring_alloc(unsigned long size, void **base);
void aiopoll_ring_free(struct aiopoll_ring_mem *m);
int aiopoll_ring_map(struct vm_area_struct *vma, struct aiopoll_ring_mem *m);

/* The ring mapping. */
bool aiopoll_vma_is_shared(struct vm_area_struct *vma);
bool aiopoll_vma_is_exec(struct vm_area_struct *vma);
unsigned long aiopoll_vma_start(struct vm_area_struct *vma);
unsigned long aiopoll_vma_len(struct vm_area_struct *vma);
unsigned long aiopoll_vma_pgoff(struct vm_area_struct *vma);
void aiopoll_vma_setup(struct vm_area_struct *vma, const struct vm_operations_struct *ops,
		       void *private_data);
void *aiopoll_vma_private(struct vm_area_struct *vma);

/* A user timespec as a relative timeout in nanoseconds, as io_getevents() reads it. */
int aiopoll_get_timeout(u64 uts, s64 *nsecs);



/* Wait queues: initialisation, wake-up, and waiting for a condition the caller computes. */
struct lock_class_key;
struct wait_queue_head;
void aiopoll_waitqueue_init(struct wait_queue_head *wq, const char *name,
			    struct lock_class_key *key);
void aiopoll_wake_all(struct wait_queue_head *wq);
void aiopoll_wake_section_exit(void);
int aiopoll_inline_enter(void);

/* A context's queue for pollers of its file, woken from a work item inside wake-ups. */
struct aiopoll_pollq {
	struct wait_queue_head head;
	struct work_struct work;
};
void aiopoll_pollq_init(struct aiopoll_pollq *q, const char *name, struct lock_class_key *key);
void aiopoll_wake_after_post(struct wait_queue_head *wait, struct aiopoll_pollq *q,
			     struct workqueue_struct *wq);
void aiopoll_pollq_fini(struct aiopoll_pollq *q);
long aiopoll_wait_event(struct wait_queue_head *wq, bool interruptible, long timeout,
			bool (*cond)(void *arg), void *arg);

struct workqueue_struct;
struct workqueue_struct *aiopoll_alloc_workqueue(void);

/* The watch on a context's owner process (its thread-group struct pid). */
struct pid;
struct aiopoll_owner_watch {
	struct wait_queue_entry wait;
	struct pid *pid;
	struct workqueue_struct *wq;
	struct work_struct work;
	void (*fn)(void *data);
	void *data;
};
void aiopoll_owner_watch_start(struct aiopoll_owner_watch *w, struct workqueue_struct *wq,
			       void (*fn)(void *data), void *data);
void aiopoll_owner_watch_stop(struct aiopoll_owner_watch *w);

/* The signal-mask swap of io_pgetevents() and pselect(). */
int aiopoll_read_user_sigmask(u64 umask, u64 sigsetsize, sigset_t *kmask);
void aiopoll_install_sigmask(sigset_t *kmask);
void aiopoll_restore_saved_sigmask_unless(bool interrupted);

/*
 * IOCB_CMD_POLL: a wait-queue entry of a poll request, and the steps of fs/aio's aio_poll()
 * that need the wait-queue internals. @head is the queue the entry is on, or NULL once
 * POLLFREE detached it (stored with release semantics, read under RCU with acquire).
 */
struct aiopoll_pwait {
	struct wait_queue_entry wait;
	struct wait_queue_head *head;
};

/*
 * Prepares @pw for @owner, stored in @pw->wait.private: @wake (rust/sys/poll.rs) is the
 * entry's wake-up function, which finds the request there.
 */
void aiopoll_pwait_init(struct aiopoll_pwait *pw, void *owner, wait_queue_func_t wake);
unsigned int aiopoll_poll_arm(struct file *file, unsigned int events, struct aiopoll_pwait *first,
			      struct aiopoll_pwait **second, int *queued, int *error);
void aiopoll_pwait_free(struct aiopoll_pwait *pw);
unsigned int aiopoll_poll_mask(struct file *file, unsigned int events);
struct wait_queue_head *aiopoll_pwait_lock(struct aiopoll_pwait *pw, unsigned long *flags);
void aiopoll_pwait_unlock(struct wait_queue_head *head, unsigned long flags);
void aiopoll_pwait_del_locked(struct aiopoll_pwait *pw);
void aiopoll_pwait_pollfree_locked(struct aiopoll_pwait *pw);

#endif /* AIOPOLL_SHIM_H */
