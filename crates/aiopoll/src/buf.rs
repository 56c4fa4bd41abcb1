// SPDX-License-Identifier: MIT OR Apache-2.0
//! Owned buffers: the [`IoBuf`] and [`IoBufMut`] traits, their implementations, and
//! [`AlignedBuf`], the buffer for `O_DIRECT` and polled I/O.
//!
//! This module has `unsafe` code: the traits are `unsafe` to implement (the kernel accesses
//! the memory they describe while the crate holds the value), and `AlignedBuf` manages its
//! allocation.

use std::alloc::Layout;
use std::any::Any;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use rustix::io::Errno;

use crate::sys::IoVec;

/// An owned buffer the kernel may read while a request is in flight: the buffer of a write.
///
/// Like tokio-uring's `IoBuf`: a request takes the buffer by value, the context holds it
/// (neither moved nor touched) until the request's last completion is reaped, and the
/// [`Completion`](crate::Completion) gives it back ([`Buffers::downcast`]).
///
/// Implemented for `Vec<u8>` (its `len()` bytes, not its capacity), `Box<[u8]>`,
/// [`AlignedBuf`] and `&'static [u8]`.
///
/// # Safety
///
/// An implementation promises that
///
/// - [`stable_ptr`](IoBuf::stable_ptr) points to [`bytes_len`](IoBuf::bytes_len) bytes that
///   are valid for reads, and that are not part of the value itself (they are on the heap or
///   static), so that moving the value moves neither the bytes nor the pointer;
/// - as long as the value is alive and only this trait's methods are called on it, the
///   pointer and the length stay the same and the bytes stay valid;
/// - nothing writes those bytes while the value is held by a context (they may be shared
///   with readers).
pub unsafe trait IoBuf: Send + Sync + 'static {
    /// The address of the first byte, stable as the trait's contract says.
    fn stable_ptr(&self) -> *const u8;

    /// The number of bytes a write sends (for a read, the number it may fill).
    fn bytes_len(&self) -> usize;
}

/// An owned buffer the kernel may write while a request is in flight: the buffer of a read.
///
/// A read fills up to [`bytes_len`](IoBuf::bytes_len) bytes from the start of the buffer; the
/// completion's result says how many. The buffer comes back with its length unchanged.
///
/// # Safety
///
/// As [`IoBuf`], and: [`stable_mut_ptr`](IoBufMut::stable_mut_ptr) returns the same address
/// as `stable_ptr`, valid for writes of `bytes_len()` bytes, and the value owns those bytes
/// exclusively: nothing else reads or writes them while the value is held by a context.
pub unsafe trait IoBufMut: IoBuf {
    /// The address of the first byte, for writes.
    fn stable_mut_ptr(&mut self) -> *mut u8;
}

// SAFETY: a `Vec`'s elements are on the heap (or, for an empty one, a dangling pointer with
// length 0): moving the `Vec` does not move them, and `as_ptr`/`len` change only when the
// `Vec` is modified, which the contract rules out.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `IoBuf`; a `Vec` owns its elements exclusively.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
}

// SAFETY: a boxed slice is on the heap (dangling with length 0 when empty), fixed in length.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: a `Box` owns its slice exclusively.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
}

// SAFETY: static memory never moves; a shared `&'static [u8]` is never written.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_len(&self) -> usize {
        self.len()
    }
}

/// A zeroed heap buffer whose address is a multiple of a given alignment: the buffer of
/// `O_DIRECT` reads and writes, and of polled I/O ([`RwFlags::HIPRI`](crate::RwFlags::HIPRI)),
/// which need the buffer, the length and the offset aligned to the device's logical block
/// size (512 or 4096 bytes; the page size is always enough).
///
/// It dereferences to `[u8]`, and implements [`IoBuf`] and [`IoBufMut`] over its whole
/// length.
///
/// ```
/// use aiopoll::AlignedBuf;
///
/// let mut buf = AlignedBuf::new(8192, 4096)?;
/// assert_eq!(buf.as_ptr() as usize % 4096, 0);
/// assert_eq!((buf.len(), buf.align()), (8192, 4096));
/// assert!(buf.iter().all(|&b| b == 0));
/// buf[..5].copy_from_slice(b"hello");
///
/// let copy = AlignedBuf::from_slice(&buf[..512], 512)?;
/// assert_eq!(&copy[..5], b"hello");
/// assert_eq!(AlignedBuf::new(512, 3).unwrap_err(), aiopoll::Errno::INVAL);
/// # Ok::<(), aiopoll::Errno>(())
/// ```
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    align: usize,
}

// SAFETY: `AlignedBuf` owns its allocation exclusively, like a `Box<[u8]>`.
unsafe impl Send for AlignedBuf {}
// SAFETY: `&AlignedBuf` only gives `&[u8]`.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes at an address that is a multiple of `align`.
    ///
    /// # Errors
    ///
    /// `EINVAL` when `align` is not a power of two or `len` rounded up to it overflows
    /// `isize`; `ENOMEM` when the allocation fails.
    pub fn new(len: usize, align: usize) -> Result<AlignedBuf, Errno> {
        let layout = Layout::from_size_align(len, align).map_err(|_| Errno::INVAL)?;
        let ptr = if len == 0 {
            // No allocation for an empty buffer: a dangling pointer with the alignment.
            NonNull::new(align as *mut u8).ok_or(Errno::INVAL)?
        } else {
            // SAFETY: the layout has a non-zero size.
            NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).ok_or(Errno::NOMEM)?
        };
        Ok(AlignedBuf { ptr, len, align })
    }

    /// A buffer aligned to `align` holding a copy of `data`.
    ///
    /// # Errors
    ///
    /// As [`new`](AlignedBuf::new).
    pub fn from_slice(data: &[u8], align: usize) -> Result<AlignedBuf, Errno> {
        let mut buf = AlignedBuf::new(data.len(), align)?;
        buf.copy_from_slice(data);
        Ok(buf)
    }

    /// The alignment the buffer was made with.
    pub fn align(&self) -> usize {
        self.align
    }

    fn layout(&self) -> Layout {
        // Checked by `new`.
        Layout::from_size_align(self.len, self.align).expect("checked by AlignedBuf::new")
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: allocated by `new` with this very layout, and not freed before.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout()) };
        }
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` initialised (zeroed) bytes owned by `self`, or
        // dangling and aligned with `len` 0.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl Clone for AlignedBuf {
    fn clone(&self) -> Self {
        // The layout was allocated once; failing to allocate it again is an allocation
        // failure, reported as `Vec` and `Box` report theirs.
        AlignedBuf::from_slice(self, self.align)
            .unwrap_or_else(|_| std::alloc::handle_alloc_error(self.layout()))
    }
}

impl PartialEq for AlignedBuf {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl Eq for AlignedBuf {}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("align", &self.align)
            .finish_non_exhaustive()
    }
}

// SAFETY: the allocation is on the heap (or dangling with length 0), owned by the value,
// fixed in address and length for the value's life.
unsafe impl IoBuf for AlignedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn bytes_len(&self) -> usize {
        self.len
    }
}

// SAFETY: as for `IoBuf`; the value owns its allocation exclusively.
unsafe impl IoBufMut for AlignedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

/// A request's buffers with their type erased, as the engine holds them.
pub(crate) trait Erased: Send + Sync {
    /// The number of buffers.
    fn count(&self) -> usize;
    /// The address and length of buffer `i` (< `count()`), taken where the value now lies
    /// (and will lie until the request ends): for the kernel to read, or to write for reads.
    fn iovec(&mut self, i: usize) -> IoVec;
    /// Total length in bytes.
    fn len(&self) -> usize;
    /// The buffer, or the `Vec` of buffers, as given to the request.
    fn as_any(&self) -> &dyn Any;
    /// As `as_any`, by value.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    /// The type of the buffers, for `Debug`.
    fn type_name(&self) -> &'static str;
}

/// One buffer the kernel reads (a write) or writes (a read, `MUT`).
pub(crate) struct One<B, const MUT: bool>(pub B);
/// The buffers of a writev (kernel reads) or readv (`MUT`).
pub(crate) struct Many<B, const MUT: bool>(pub Vec<B>);

/// How to take a buffer's address for the kernel: for reads (`IoBuf`) or writes
/// (`IoBufMut`).
pub(crate) trait Access<const MUT: bool> {
    fn addr(&mut self) -> usize;
}

impl<B: IoBuf> Access<false> for B {
    fn addr(&mut self) -> usize {
        self.stable_ptr() as usize
    }
}

impl<B: IoBufMut> Access<true> for B {
    fn addr(&mut self) -> usize {
        self.stable_mut_ptr() as usize
    }
}

impl<B: IoBuf + Access<MUT>, const MUT: bool> Erased for One<B, MUT> {
    fn count(&self) -> usize {
        1
    }

    fn iovec(&mut self, _i: usize) -> IoVec {
        IoVec {
            base: self.0.addr(),
            len: self.0.bytes_len(),
        }
    }

    fn len(&self) -> usize {
        self.0.bytes_len()
    }

    fn as_any(&self) -> &dyn Any {
        &self.0
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        Box::new(self.0)
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<B>()
    }
}

impl<B: IoBuf + Access<MUT>, const MUT: bool> Erased for Many<B, MUT> {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn iovec(&mut self, i: usize) -> IoVec {
        let b = &mut self.0[i];
        IoVec {
            base: b.addr(),
            len: b.bytes_len(),
        }
    }

    fn len(&self) -> usize {
        self.0.iter().map(IoBuf::bytes_len).sum()
    }

    fn as_any(&self) -> &dyn Any {
        &self.0
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        Box::new(self.0)
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<Vec<B>>()
    }
}

/// The buffers a request owns: moved into the context at submission, given back by its
/// last [`Completion`](crate::Completion) (or by a refused submission,
/// [`SubmitError::into_op`](crate::SubmitError::into_op)).
///
/// A read's or write's buffer comes back as the type it was given as
/// ([`downcast`](Buffers::downcast)), a readv's or writev's as the `Vec` of them
/// ([`downcast_vectored`](Buffers::downcast_vectored)); [`into_single`](Buffers::into_single)
/// and [`into_vectored`](Buffers::into_vectored) are the shorthands for `Vec<u8>`.
///
/// ```
/// use std::os::fd::AsFd;
/// use aiopoll::{AlignedBuf, Buffers, Op};
///
/// let file = std::fs::File::open("/dev/null")?;
/// let b: Buffers = Op::write(file.as_fd(), b"abc".to_vec()).into_buffers();
/// assert_eq!(b.len(), 3);
/// assert_eq!(b.into_single(), Some(b"abc".to_vec()));
///
/// let b = Op::read(file.as_fd(), AlignedBuf::new(4096, 4096)?).into_buffers();
/// let b = b.downcast::<Vec<u8>>().unwrap_err(); // not a Vec<u8>: given back
/// assert_eq!(b.downcast::<AlignedBuf>().unwrap().len(), 4096);
///
/// let b = Op::readv(file.as_fd(), vec![vec![0; 2], vec![0; 3]]).into_buffers();
/// assert!(b.is_vectored());
/// assert_eq!(b.downcast_vectored::<Vec<u8>>().unwrap(), [vec![0; 2], vec![0; 3]]);
/// assert!(Buffers::default().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Buffers {
    inner: Inner,
}

#[derive(Default)]
enum Inner {
    #[default]
    None,
    Single(Box<dyn Erased>),
    Vectored(Box<dyn Erased>),
}

impl Buffers {
    pub(crate) fn single(b: Box<dyn Erased>) -> Self {
        Buffers {
            inner: Inner::Single(b),
        }
    }

    pub(crate) fn vectored(b: Box<dyn Erased>) -> Self {
        Buffers {
            inner: Inner::Vectored(b),
        }
    }

    /// The addresses for the kernel, where the buffers lie now (see `Erased::iovec`): the
    /// single buffer's `(address, length)`, or, for vectored buffers, `None` with their
    /// iovecs pushed to `iovecs`.
    pub(crate) fn addresses(&mut self, iovecs: &mut Vec<IoVec>) -> Option<IoVec> {
        match &mut self.inner {
            Inner::None => Some(IoVec::default()),
            Inner::Single(b) => Some(b.iovec(0)),
            Inner::Vectored(b) => {
                iovecs.extend((0..b.count()).map(|i| b.iovec(i)));
                None
            }
        }
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        match &self.inner {
            Inner::None => 0,
            Inner::Single(b) | Inner::Vectored(b) => b.len(),
        }
    }

    /// Whether the total length is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether there is no buffer: fsync, fdsync, poll and noop requests, and the completions
    /// of a multishot poll.
    pub fn is_none(&self) -> bool {
        matches!(self.inner, Inner::None)
    }

    /// Whether these are the buffers of a readv or writev.
    pub fn is_vectored(&self) -> bool {
        matches!(self.inner, Inner::Vectored(_))
    }

    /// The buffer of a read or write, if it is a `B`; else `self`, unchanged.
    ///
    /// # Errors
    ///
    /// `self` when there is no single buffer of type `B`.
    pub fn downcast<B: IoBuf>(self) -> Result<B, Buffers> {
        match self.inner {
            Inner::Single(b) if b.as_any().is::<B>() => Ok(*b
                .into_any()
                .downcast::<B>()
                .expect("the type was just checked")),
            inner => Err(Buffers { inner }),
        }
    }

    /// The buffers of a readv or writev, if they are `B`s; else `self`, unchanged.
    ///
    /// # Errors
    ///
    /// `self` when these are not the vectored buffers of type `B`.
    pub fn downcast_vectored<B: IoBuf>(self) -> Result<Vec<B>, Buffers> {
        match self.inner {
            Inner::Vectored(b) if b.as_any().is::<Vec<B>>() => Ok(*b
                .into_any()
                .downcast::<Vec<B>>()
                .expect("the type was just checked")),
            inner => Err(Buffers { inner }),
        }
    }

    /// The buffer of a read or write, by reference, if it is a `B`.
    pub fn downcast_ref<B: IoBuf>(&self) -> Option<&B> {
        match &self.inner {
            Inner::Single(b) => b.as_any().downcast_ref(),
            _ => None,
        }
    }

    /// The buffers of a readv or writev, by reference, if they are `B`s.
    pub fn downcast_vectored_ref<B: IoBuf>(&self) -> Option<&[B]> {
        match &self.inner {
            Inner::Vectored(b) => b.as_any().downcast_ref::<Vec<B>>().map(Vec::as_slice),
            _ => None,
        }
    }

    /// The `Vec<u8>` of a read or write; `None` for other requests and other buffer types.
    pub fn into_single(self) -> Option<Vec<u8>> {
        self.downcast().ok()
    }

    /// The `Vec<Vec<u8>>` of a readv or writev; `None` for other requests and buffer types.
    pub fn into_vectored(self) -> Option<Vec<Vec<u8>>> {
        self.downcast_vectored().ok()
    }
}

impl fmt::Debug for Buffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::None => f.write_str("Buffers::None"),
            Inner::Single(b) | Inner::Vectored(b) => f
                .debug_struct("Buffers")
                .field("type", &b.type_name())
                .field("len", &b.len())
                .finish(),
        }
    }
}
