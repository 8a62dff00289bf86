//! UDP over io_uring (`--udp-io uring`): one thread per core and listen
//! address, each with its own SO_REUSEPORT socket and its own ring.
//!
//! - Receive: one multishot `RecvMsgMulti` fed by a provided-buffer ring
//!   (buf_ring). The kernel picks a buffer, writes the datagram with its
//!   source address into it and posts one completion per datagram, with no
//!   submission per packet. When it runs out of buffers (ENOBUFS) or fails,
//!   the multishot ends and is armed again once buffers are back.
//! - Answer: the same `query::respond` as the recvmmsg path, into one of a
//!   fixed set of send slots (answer bytes, `msghdr`, `iovec`, destination),
//!   then one `SendMsg` submission per answer. All answers of a batch go in
//!   with the single `io_uring_enter` that also waits for the next batch, so
//!   a busy worker makes one system call per batch (recvmmsg + sendmmsg make
//!   two).
//! - A receive buffer goes back to the buf_ring as soon as its answer is
//!   written into a send slot; a send slot is free again when its send
//!   completes. A datagram that finds no free slot waits, holding its
//!   buffer, until sends complete. Nothing is allocated after start-up.
//! - Idle: a timeout SQE (multishot where the kernel has it, 6.4+, else
//!   re-armed) completes every second, busy or not, and the worker then
//!   refreshes its `arc_swap::Cache`, so an idle worker drops a replaced
//!   snapshot within about a second (as the recvmmsg path does with
//!   SO_RCVTIMEO). A timeout SQE costs one completion a second; a timeout
//!   on every wait (EXT_ARG, tried first) arms an hrtimer on every sleep,
//!   which showed up in profiles.
//! - Counters: the same per-thread counters, bumped the same way, as
//!   `udp.rs`.
//!
//! Measured here (loopback, dnsperf, one worker pinned, small TXT answers,
//! rounds alternating with recvmmsg): 6-12% fewer queries per server
//! CPU-second than the recvmmsg loop, in every round. The kernel's UDP path (socket locks, waking the
//! client, copies) is ~85% of the cost either way, and per-request io_uring
//! work (SENDMSG prep and msghdr import, completions) outweighs the system
//! calls it saves at the ~20 datagrams per call both loops reach. So
//! recvmmsg stays the default; this path is kept for kernels or loads where
//! that changes (`--udp-io uring`).
//!
//! Ring set-up asks for SINGLE_ISSUER + DEFER_TASKRUN (completions are
//! produced when the worker enters the kernel, in batches) and falls back to
//! plainer rings on older kernels. If io_uring is unusable (old kernel,
//! seccomp, multishot receive refused), [`probe`] reports it and the
//! responder keeps the recvmmsg path; a worker whose own set-up fails falls
//! back to it too.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::VecDeque;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, Cache};
use io_uring::{cqueue, opcode, squeue, types, IoUring, SubmissionQueue};

use super::query::{respond, Kind, Transport, MAX_UDP_RESPONSE};
use super::served::{coarse_unix_now, LastQuery, ServedSnapshot};
use super::udp::MAX_QUERY;
use crate::acl::canonical_source;
use crate::metrics::{Counter, Counters};
use crate::snapshot::ArchivedSnapshot;
#[cfg(test)]
use crate::snapshot::MappedSnapshot;

/// Receive buffers in the buf_ring (a power of two, at most 32768).
const BUFS: usize = 1024;
/// Buffer group id of the receive buffers (one group per ring).
const BGID: u16 = 0x0fd5;
/// Room for the source address in each receive buffer (IPv4 and IPv6).
const NAME_LEN: usize = size_of::<libc::sockaddr_in6>();
/// `struct io_uring_recvmsg_out`, which the kernel writes first.
const RECVMSG_OUT: usize = 16;
/// Bytes per receive buffer: header, address, then a full `MAX_QUERY`
/// payload (longer datagrams are flagged MSG_TRUNC and dropped, as on the
/// recvmmsg path).
const STRIDE: usize = (RECVMSG_OUT + NAME_LEN + MAX_QUERY + 63) & !63;
/// Answers in flight (send slots).
const TX_SLOTS: usize = 256;
/// Submission queue: every send slot plus the receive.
const SQ_ENTRIES: u32 = 512;
/// Completion queue: room for a completion per receive buffer and per send
/// slot, so it cannot overflow.
const CQ_ENTRIES: u32 = 4096;
/// Completions taken per batch.
const HARVEST: usize = 256;
/// `user_data` of the multishot receive; a send's is its slot number.
const RECV_TAG: u64 = u64::MAX;
/// `user_data` of the idle tick (a timeout SQE).
const TICK_TAG: u64 = u64::MAX - 1;
/// Longest wait without completions before an idle refresh.
const IDLE_WAKE_SECS: u64 = 1;

/// `struct io_uring_buf`: one entry of the buf_ring. The `resv` field of
/// entry 0 is the ring's tail.
#[repr(C)]
struct BufEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// Page-aligned zeroed memory, owned.
struct PageMem {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl PageMem {
    fn new(size: usize) -> io::Result<PageMem> {
        let layout = Layout::from_size_align(size.max(4096), 4096).map_err(io::Error::other)?;
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(p).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        Ok(PageMem { ptr, layout })
    }
}

impl Drop for PageMem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// One answer in flight: the kernel reads `hdr`, `iov`, `name` and `buf`
/// until the send completes.
#[repr(C)]
struct TxSlot {
    hdr: libc::msghdr,
    iov: libc::iovec,
    name: libc::sockaddr_storage,
    buf: [u8; MAX_UDP_RESPONSE],
}

/// Memory the kernel reads or writes, and the bookkeeping around it.
/// Addresses are stable: every piece is a separate heap allocation that
/// never moves or grows.
struct State {
    fd: RawFd,
    /// The socket is registered as fixed file 0.
    fixed: bool,
    /// Receive buffers, `BUFS * STRIDE` bytes.
    bufs: PageMem,
    /// The buf_ring: `BUFS` entries.
    ring_mem: PageMem,
    /// Our copy of the buf_ring tail (published with a release store).
    tail: u16,
    tx: Box<[TxSlot]>,
    /// Free send slots.
    free: Vec<u16>,
    /// The `msghdr` template of the multishot receive (only `msg_namelen`
    /// and `msg_controllen` matter).
    recv_hdr: Box<libc::msghdr>,
    /// Period of the idle tick.
    tick: Box<types::Timespec>,
    /// The kernel takes multishot timeouts (6.4); else re-armed each time.
    tick_multishot: bool,
}

/// A ring with its buffers. Field order matters: the ring is closed before
/// the memory it points at is freed.
struct Uring {
    ring: IoUring,
    st: State,
    buf_ring_registered: bool,
}

fn build_ring() -> io::Result<IoUring> {
    // Newest first: SINGLE_ISSUER + DEFER_TASKRUN (6.1), COOP_TASKRUN (5.19),
    // then a plain ring.
    let attempts: [fn(&mut io_uring::Builder); 3] = [
        |b| {
            b.setup_single_issuer()
                .setup_defer_taskrun()
                .setup_submit_all();
        },
        |b| {
            b.setup_coop_taskrun().setup_submit_all();
        },
        |_| {},
    ];
    let mut last = io::Error::from(io::ErrorKind::Unsupported);
    for set in attempts {
        let mut b = IoUring::builder();
        b.setup_cqsize(CQ_ENTRIES);
        set(&mut b);
        match b.build(SQ_ENTRIES) {
            Ok(r) => return Ok(r),
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl Uring {
    /// Sets up a ring for the socket `fd`: opcode check, buf_ring, fixed
    /// file, send slots.
    fn new(fd: RawFd) -> io::Result<Uring> {
        let ring = build_ring()?;
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        if !probe.is_supported(opcode::RecvMsg::CODE) || !probe.is_supported(opcode::SendMsg::CODE)
        {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring lacks RECVMSG/SENDMSG",
            ));
        }

        let bufs = PageMem::new(BUFS * STRIDE)?;
        let ring_mem = PageMem::new(BUFS * size_of::<BufEntry>())?;
        // SAFETY: all-zero bytes are a valid msghdr, iovec,
        // sockaddr_storage and byte array, hence a valid TxSlot.
        let mut tx: Box<[TxSlot]> = (0..TX_SLOTS)
            .map(|_| unsafe { zeroed::<TxSlot>() })
            .collect();
        for slot in tx.iter_mut() {
            slot.iov.iov_base = slot.buf.as_mut_ptr().cast();
            slot.hdr.msg_name = (&mut slot.name as *mut libc::sockaddr_storage).cast();
            slot.hdr.msg_iov = &mut slot.iov;
            slot.hdr.msg_iovlen = 1;
        }
        // SAFETY: all-zero bytes are a valid msghdr.
        let mut recv_hdr: Box<libc::msghdr> = Box::new(unsafe { zeroed() });
        recv_hdr.msg_namelen = NAME_LEN as libc::socklen_t;
        let mut u = Uring {
            ring,
            st: State {
                fd,
                fixed: false,
                bufs,
                ring_mem,
                tail: 0,
                tx,
                free: (0..TX_SLOTS as u16).rev().collect(),
                recv_hdr,
                tick: Box::new(types::Timespec::new().sec(IDLE_WAKE_SECS)),
                tick_multishot: true,
            },
            buf_ring_registered: false,
        };
        for bid in 0..BUFS as u16 {
            u.st.give_back(bid);
        }
        u.st.publish();
        // SAFETY: `ring_mem` is page-aligned, holds BUFS entries and lives
        // until after the ring is closed (field order of `Uring`; `Drop`
        // unregisters first).
        unsafe {
            u.ring.submitter().register_buf_ring_with_flags(
                u.st.ring_mem.ptr.as_ptr() as u64,
                BUFS as u16,
                BGID,
                0,
            )?
        };
        u.buf_ring_registered = true;
        u.st.fixed = u.ring.submitter().register_files(&[fd]).is_ok();
        Ok(u)
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        // Stop the kernel from picking receive buffers and cancel what is in
        // flight before the ring is closed and the memory freed.
        if self.buf_ring_registered {
            let _ = self.ring.submitter().unregister_buf_ring(BGID);
        }
        let ts = types::Timespec::new().sec(1);
        let _ = self
            .ring
            .submitter()
            .register_sync_cancel(Some(ts), types::CancelBuilder::any());
    }
}

impl State {
    /// Puts receive buffer `bid` back at the buf_ring's tail (visible to the
    /// kernel after `publish`).
    #[inline]
    fn give_back(&mut self, bid: u16) {
        let idx = self.tail as usize & (BUFS - 1);
        let base = self.ring_mem.ptr.as_ptr().cast::<BufEntry>();
        let addr = self.bufs.ptr.as_ptr() as u64 + bid as u64 * STRIDE as u64;
        // SAFETY: idx < BUFS, so the entry lies inside `ring_mem`. The kernel
        // only reads entries between its head and the published tail, and
        // this one is past the published tail. Fields are written through
        // raw pointers so no reference covers `resv`, which in entry 0 is
        // the tail the kernel reads concurrently.
        unsafe {
            let e = base.add(idx);
            ptr::addr_of_mut!((*e).addr).write(addr);
            ptr::addr_of_mut!((*e).len).write(STRIDE as u32);
            ptr::addr_of_mut!((*e).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the tail: every buffer given back so far becomes usable.
    #[inline]
    fn publish(&self) {
        // SAFETY: the tail is the u16 at offset 14 of entry 0 inside
        // `ring_mem` (2-aligned); the kernel reads it concurrently, so it is
        // written atomically with release ordering (entries before tail).
        let tail = unsafe { &*(self.ring_mem.ptr.as_ptr().add(14) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }

    /// The receive buffer `bid`, `len` bytes of it.
    #[inline]
    fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        let bid = bid as usize % BUFS;
        // SAFETY: the buffer lies inside `bufs`; the kernel wrote it before
        // posting the completion and will not touch it again until it is
        // given back (after this slice is dropped).
        unsafe {
            std::slice::from_raw_parts(self.bufs.ptr.as_ptr().add(bid * STRIDE), len.min(STRIDE))
        }
    }

    fn recv_sqe(&self) -> squeue::Entry {
        let hdr: *const libc::msghdr = &*self.recv_hdr;
        let e = if self.fixed {
            opcode::RecvMsgMulti::new(types::Fixed(0), hdr, BGID).build()
        } else {
            opcode::RecvMsgMulti::new(types::Fd(self.fd), hdr, BGID).build()
        };
        e.user_data(RECV_TAG)
    }

    fn tick_sqe(&self) -> squeue::Entry {
        let mut t = opcode::Timeout::new(&*self.tick);
        if self.tick_multishot {
            t = t.flags(types::TimeoutFlags::MULTISHOT);
        }
        t.build().user_data(TICK_TAG)
    }

    /// SENDMSG rather than SEND with a destination address (measured ~3%
    /// cheaper here, as it imports no msghdr/iovec): a msghdr can later carry
    /// IP_PKTINFO control data to answer from the address asked on a
    /// wildcard bind.
    fn send_sqe(&self, slot: u16) -> squeue::Entry {
        let hdr: *const libc::msghdr = &self.tx[slot as usize].hdr;
        let e = if self.fixed {
            opcode::SendMsg::new(types::Fixed(0), hdr).build()
        } else {
            opcode::SendMsg::new(types::Fd(self.fd), hdr).build()
        };
        e.user_data(slot as u64)
    }
}

/// Source address and port from the kernel's `sockaddr` bytes.
#[inline]
fn source(name: &[u8]) -> Option<(IpAddr, u16)> {
    if name.len() < 4 {
        return None;
    }
    let family = u16::from_ne_bytes([name[0], name[1]]) as libc::c_int;
    let port = u16::from_be_bytes([name[2], name[3]]);
    match family {
        libc::AF_INET if name.len() >= 8 => Some((
            IpAddr::V4(Ipv4Addr::new(name[4], name[5], name[6], name[7])),
            port,
        )),
        libc::AF_INET6 if name.len() >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&name[8..24]);
            Some((IpAddr::V6(Ipv6Addr::from(a)), port))
        }
        _ => None,
    }
}

/// What became of one received datagram.
enum Handled {
    /// Answered: a send was queued; its buffer is back.
    Sent,
    /// Dropped; its buffer is back.
    Done,
    /// No free send slot: keep it (and its buffer) for later.
    NoSlot,
}

/// Answers one received datagram (completion `res`/`flags`), queueing its
/// send. Counts, and notes the device's last query time (`now`: the coarse
/// clock read once per harvest), exactly as `udp.rs` does.
#[inline]
#[allow(clippy::too_many_arguments)]
fn handle(
    st: &mut State,
    sq: &mut SubmissionQueue<'_>,
    snap: &ArchivedSnapshot,
    last_query: &LastQuery,
    now: u64,
    counters: &Counters,
    res: i32,
    flags: u32,
) -> Handled {
    let Some(bid) = cqueue::buffer_select(flags) else {
        counters.bump_owned(Counter::UdpRecvErrors);
        return Handled::Done;
    };
    let Some(&slot) = st.free.last() else {
        return Handled::NoSlot;
    };
    counters.bump_owned(Counter::Queries);
    counters.bump_owned(Counter::Udp);
    let mut queued = false;
    {
        // Split borrows: the receive buffer (read) and the send slot (written).
        let State {
            bufs, tx, recv_hdr, ..
        } = &mut *st;
        // SAFETY: see `State::buffer` (same bounds, written out here because
        // `tx` is borrowed mutably at the same time).
        let buf = unsafe {
            std::slice::from_raw_parts(
                bufs.ptr.as_ptr().add((bid as usize % BUFS) * STRIDE),
                (res.max(0) as usize).min(STRIDE),
            )
        };
        match types::RecvMsgOut::parse(buf, recv_hdr) {
            Ok(msg) if !msg.is_payload_truncated() && !msg.is_name_data_truncated() => {
                let name = msg.name_data();
                match source(name) {
                    // Port 0 cannot be answered.
                    Some((ip, port)) if port != 0 => {
                        let t = &mut tx[slot as usize];
                        let o = respond(
                            snap,
                            canonical_source(ip),
                            msg.payload_data(),
                            &mut t.buf,
                            Transport::Udp,
                        );
                        counters.bump_owned(Counter::Outcome(o.kind));
                        if o.truncated {
                            counters.bump_owned(Counter::Truncated);
                        }
                        if let Some(d) = o.device {
                            last_query.note(d, now);
                        }
                        if o.len > 0 {
                            // SAFETY: `name` is at most NAME_LEN bytes (the
                            // receive header asked for no more), which fits
                            // in the sockaddr_storage.
                            unsafe {
                                ptr::copy_nonoverlapping(
                                    name.as_ptr(),
                                    (&mut t.name as *mut libc::sockaddr_storage).cast::<u8>(),
                                    name.len(),
                                )
                            };
                            t.hdr.msg_namelen = name.len() as libc::socklen_t;
                            t.iov.iov_len = o.len;
                            queued = true;
                        }
                    }
                    _ => counters.bump_owned(Counter::Outcome(Kind::Dropped)),
                }
            }
            // Truncated or unparsable: not a query we can trust.
            _ => counters.bump_owned(Counter::Outcome(Kind::Dropped)),
        }
    }
    st.give_back(bid);
    if queued {
        let e = st.send_sqe(slot);
        // SAFETY: the slot's msghdr, iovec, address and bytes stay untouched
        // until the send's completion hands the slot back.
        if unsafe { sq.push(&e) }.is_ok() {
            st.free.pop();
            return Handled::Sent;
        } else {
            // Cannot happen (the queue holds every slot plus the receive and
            // is flushed each turn); if it did, the answer is lost.
            counters.bump_owned(Counter::UdpSendErrors);
        }
    }
    Handled::Done
}

/// Why the io_uring loop gave up.
#[derive(Debug)]
enum Stop {
    /// Multishot receive refused before any datagram: use recvmmsg.
    Unsupported(io::Error),
}

/// Serves one socket forever; returns only if the kernel refuses the
/// multishot receive before the first datagram.
fn serve(u: &mut Uring, current: Arc<ArcSwap<ServedSnapshot>>, counters: &Counters) -> Stop {
    let Uring { ring, st, .. } = u;
    let (mut submitter, mut sq, mut cq) = ring.split();
    // Saves the ring's fd lookup on every enter; optional.
    let _ = submitter.register_ring_fd();
    let mut cache = Cache::new(current);
    let mut armed = false;
    let mut tick_armed = false;
    let mut received_any = false;
    let mut errors_in_row = 0u32;
    // Datagrams waiting for a send slot (each holds its receive buffer, so
    // there are at most BUFS).
    let mut pending: VecDeque<(i32, u32)> = VecDeque::with_capacity(BUFS);
    let mut batch: Vec<(u64, i32, u32)> = Vec::with_capacity(HARVEST);
    // Sends queued since the last enter.
    let mut sends = 0usize;
    loop {
        if !armed && pending.len() < BUFS {
            let e = st.recv_sqe();
            // SAFETY: `recv_hdr` and the buf_ring live as long as the ring.
            if unsafe { sq.push(&e) }.is_ok() {
                armed = true;
            }
        }
        if !tick_armed {
            let e = st.tick_sqe();
            // SAFETY: the timespec lives in `State` as long as the ring.
            if unsafe { sq.push(&e) }.is_ok() {
                tick_armed = true;
            }
        }
        st.publish();
        sq.sync();
        // Wait for one completion beyond the sends just queued: those
        // normally complete during the enter itself, and returning for them
        // alone would split the traffic into many small batches (measured:
        // ~1.5x the enters, and a client fed one answer at a time). A send
        // that completes late only makes the wait return earlier; the tick
        // bounds it. Completions left over from a full harvest: no wait.
        let want = if !cq.is_empty() { 1 } else { sends + 1 };
        sends = 0;
        match submitter.submit_and_wait(want) {
            Ok(_) => {}
            Err(e) => match e.raw_os_error() {
                Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY) => {}
                _ => {
                    counters.bump_owned(Counter::UdpRecvErrors);
                    errors_in_row += 1;
                    if errors_in_row > 16 {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            },
        }
        sq.sync();
        cq.sync();
        batch.clear();
        batch.extend(
            cq.by_ref()
                .take(HARVEST)
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        cq.sync();
        if batch.is_empty() && pending.is_empty() {
            continue;
        }
        // Completed sends free their slots first.
        for &(ud, res, flags) in &batch {
            if ud < TX_SLOTS as u64 {
                st.free.push(ud as u16);
                if res < 0 {
                    counters.bump_owned(Counter::UdpSendErrors);
                }
            } else if ud == TICK_TAG {
                // The idle tick (every second, busy or not): refresh so an
                // idle worker lets go of a replaced snapshot.
                cache.load();
                if !cqueue::more(flags) {
                    tick_armed = false;
                    if res == -libc::EINVAL && st.tick_multishot {
                        st.tick_multishot = false;
                    }
                }
            }
        }
        let served = cache.load();
        let snap = served.get();
        let now = coarse_unix_now();
        while let Some(&(res, flags)) = pending.front() {
            match handle(
                st,
                &mut sq,
                snap,
                &served.last_query,
                now,
                counters,
                res,
                flags,
            ) {
                Handled::Sent => {
                    sends += 1;
                    pending.pop_front();
                }
                Handled::Done => {
                    pending.pop_front();
                }
                Handled::NoSlot => break,
            }
        }
        for &(ud, res, flags) in &batch {
            if ud != RECV_TAG {
                continue;
            }
            if !cqueue::more(flags) {
                armed = false;
            }
            if res < 0 {
                if let Some(bid) = cqueue::buffer_select(flags) {
                    st.give_back(bid);
                }
                match -res {
                    // Out of receive buffers: re-armed at the top of the
                    // loop once buffers are back; datagrams wait in the
                    // socket buffer meanwhile.
                    libc::ENOBUFS | libc::ECANCELED => {}
                    libc::EINVAL | libc::EOPNOTSUPP if !received_any => {
                        return Stop::Unsupported(io::Error::from_raw_os_error(-res));
                    }
                    _ => {
                        counters.bump_owned(Counter::UdpRecvErrors);
                        errors_in_row += 1;
                        if errors_in_row > 16 {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
                continue;
            }
            received_any = true;
            errors_in_row = 0;
            if !pending.is_empty() {
                pending.push_back((res, flags));
                continue;
            }
            match handle(
                st,
                &mut sq,
                snap,
                &served.last_query,
                now,
                counters,
                res,
                flags,
            ) {
                Handled::Sent => sends += 1,
                Handled::Done => {}
                Handled::NoSlot => pending.push_back((res, flags)),
            }
        }
    }
}

/// Serves one UDP socket forever with io_uring; falls back to the recvmmsg
/// loop (with a warning) if the ring cannot be set up or refuses multishot
/// receive.
pub fn run_worker(
    socket: UdpSocket,
    current: Arc<ArcSwap<ServedSnapshot>>,
    counters: Arc<Counters>,
) {
    let why = match Uring::new(socket.as_raw_fd()) {
        Ok(mut u) => {
            let Stop::Unsupported(e) = serve(&mut u, current.clone(), &counters);
            drop(u);
            e
        }
        Err(e) => e,
    };
    tracing::warn!(error = %why, "io_uring UDP worker unavailable; this worker uses recvmmsg");
    super::udp::run_worker(socket, current, counters)
}

/// Checks once, at start-up, that io_uring works here for the UDP path: sets
/// up a ring like a worker's, receives one datagram on a loopback socket
/// through multishot receive and the buf_ring, and sends it back with
/// `SendMsg`.
pub fn probe() -> io::Result<()> {
    let server = UdpSocket::bind("127.0.0.1:0")?;
    let client = UdpSocket::bind("127.0.0.1:0")?;
    client.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut u = Uring::new(server.as_raw_fd())?;
    let Uring { ring, st, .. } = &mut u;
    let (submitter, mut sq, mut cq) = ring.split();
    // Bounded waits, so a kernel that swallows the probe cannot hang start-up.
    let ts = types::Timespec::new().sec(2);
    let args = types::SubmitArgs::new().timespec(&ts);
    let e = st.recv_sqe();
    // SAFETY: as in `serve`.
    unsafe { sq.push(&e) }.map_err(io::Error::other)?;
    sq.sync();
    let payload = *b"feedwall io_uring probe";
    client.send_to(&payload, server.local_addr()?)?;
    let (res, flags) = loop {
        submitter.submit_with_args(1, &args)?;
        cq.sync();
        if let Some(c) = cq.next() {
            break (c.result(), c.flags());
        }
    };
    cq.sync();
    if res < 0 {
        return Err(io::Error::from_raw_os_error(-res));
    }
    let bid = cqueue::buffer_select(flags)
        .ok_or_else(|| io::Error::other("no provided buffer in completion"))?;
    let mut name = [0u8; NAME_LEN];
    let (name_len, ok) = {
        let msg = types::RecvMsgOut::parse(st.buffer(bid, res as usize), &st.recv_hdr)
            .map_err(|_| io::Error::other("bad recvmsg header"))?;
        let n = msg.name_data();
        name[..n.len()].copy_from_slice(n);
        (
            n.len(),
            msg.payload_data() == payload && source(n).is_some(),
        )
    };
    st.give_back(bid);
    if !ok {
        return Err(io::Error::other("multishot receive returned wrong data"));
    }
    let t = &mut st.tx[0];
    t.buf[..payload.len()].copy_from_slice(&payload);
    t.iov.iov_len = payload.len();
    // SAFETY: `name_len` is at most NAME_LEN bytes, within sockaddr_storage.
    unsafe {
        ptr::copy_nonoverlapping(
            name.as_ptr(),
            (&mut t.name as *mut libc::sockaddr_storage).cast::<u8>(),
            name_len,
        )
    };
    t.hdr.msg_namelen = name_len as libc::socklen_t;
    let e = st.send_sqe(0);
    // SAFETY: slot 0 stays untouched until the completion is read below.
    unsafe { sq.push(&e) }.map_err(io::Error::other)?;
    sq.sync();
    loop {
        submitter.submit_with_args(1, &args)?;
        cq.sync();
        if let Some(c) = cq.find(|c| c.user_data() == 0) {
            if c.result() < 0 {
                return Err(io::Error::from_raw_os_error(-c.result()));
            }
            break;
        }
    }
    cq.sync();
    let mut back = [0u8; 64];
    let n = client.recv(&mut back)?;
    if back[..n] != payload {
        return Err(io::Error::other("io_uring send returned wrong data"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::name_from_text;

    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut q = Vec::new();
        q.extend_from_slice(&id.to_be_bytes());
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        q.extend_from_slice(&name_from_text(name).unwrap());
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn probe_works_here() {
        probe().expect("io_uring probe");
    }

    #[test]
    fn answers_like_recvmmsg_and_drops_replaced_snapshot_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.fw");
        let devices = ["127.0.0.1/32".parse().unwrap()];
        crate::demo::build(&path, &devices).unwrap();
        let current = Arc::new(ArcSwap::from_pointee(ServedSnapshot::new(
            MappedSnapshot::open(&path).unwrap(),
        )));
        let server = super::super::udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        let counters = Arc::new(Counters::default());
        {
            let (current, counters) = (current.clone(), counters.clone());
            std::thread::spawn(move || run_worker(server, current, counters));
        }
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        // Bursts larger than the send slots, so some datagrams wait for one.
        let n = 2000u16;
        let mut got = vec![false; n as usize];
        let mut buf = [0u8; 4096];
        for _round in 0..5 {
            for chunk in (0..n).collect::<Vec<_>>().chunks(400) {
                for &id in chunk {
                    if !got[id as usize] {
                        client
                            .send_to(&query(id, "attackers.feedwall.internal", 16), addr)
                            .unwrap();
                    }
                }
                while let Ok(len) = client.recv(&mut buf) {
                    assert!(len > 12);
                    assert_eq!(buf[2] & 0x80, 0x80, "QR set");
                    assert_eq!(buf[3] & 0x0f, 0, "NOERROR");
                    got[u16::from_be_bytes([buf[0], buf[1]]) as usize] = true;
                    if chunk.iter().all(|&id| got[id as usize]) {
                        break;
                    }
                }
            }
            if got.iter().all(|&g| g) {
                break;
            }
        }
        assert!(got.iter().all(|&g| g), "every query answered");
        // The demo's one device (127.0.0.1) has a last query time.
        let seen = current.load().last_query.get(0).expect("device 0 seen");
        assert!(seen.abs_diff(coarse_unix_now()) <= 5);
        // A truncated answer over UDP.
        client
            .send_to(&query(7, "0.demo-large.feedwall.internal", 1), addr)
            .unwrap();
        let len = client.recv(&mut buf).unwrap();
        assert!(len <= 512);
        assert_eq!(buf[2] & 0x02, 0x02, "TC set");
        assert!(counters.get(Counter::Queries) >= n as u64 + 1);
        assert!(counters.get(Counter::Truncated) >= 1);

        // Idle worker lets go of a replaced snapshot within about a second.
        let old = current.load_full();
        let weak = Arc::downgrade(&old);
        drop(old);
        current.store(Arc::new(ServedSnapshot::new(
            MappedSnapshot::open(&path).unwrap(),
        )));
        let t = std::time::Instant::now();
        while weak.strong_count() > 0 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            weak.strong_count(),
            0,
            "old snapshot released by the idle worker"
        );
        assert!(t.elapsed() < Duration::from_millis(2500));
    }
}
