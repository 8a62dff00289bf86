//! UDP: one blocking thread per core and listen address, each with its own
//! SO_REUSEPORT socket, receiving and sending in batches with
//! `recvmmsg`/`sendmmsg` (measured faster here than tokio or tokio-uring,
//! see README "I/O choice").
//!
//! Per batch: one `arc_swap::Cache` load of the current snapshot and one
//! read of the coarse clock, then for each datagram `query::respond` into a
//! preallocated slot (noting the device's last query time, see
//! `served.rs`), then one `sendmmsg`. Nothing is allocated after start-up.

use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};

use super::query::{respond, Transport, MAX_UDP_RESPONSE};
use super::served::{coarse_unix_now, ServedSnapshot};
use crate::acl::canonical_source;
use crate::metrics::{Counter, Counters};

/// Datagrams per `recvmmsg` / `sendmmsg` call.
pub const BATCH: usize = 64;
/// Largest query we read; longer datagrams are dropped (MSG_TRUNC).
pub const MAX_QUERY: usize = 4096;

/// Buffers for one worker, allocated once.
struct Ring {
    rx: Vec<u8>,
    tx: Vec<u8>,
    rx_names: Vec<libc::sockaddr_storage>,
    rx_iov: Vec<libc::iovec>,
    tx_iov: Vec<libc::iovec>,
    rx_msgs: Vec<libc::mmsghdr>,
    tx_msgs: Vec<libc::mmsghdr>,
}

impl Ring {
    fn new() -> Box<Ring> {
        let mut r = Box::new(Ring {
            rx: vec![0u8; BATCH * MAX_QUERY],
            tx: vec![0u8; BATCH * MAX_UDP_RESPONSE],
            // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs
            // for which all-zero bytes are a valid value.
            rx_names: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            rx_iov: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            tx_iov: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            rx_msgs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            tx_msgs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
        });
        for i in 0..BATCH {
            r.rx_iov[i] = libc::iovec {
                iov_base: r.rx[i * MAX_QUERY..].as_mut_ptr().cast(),
                iov_len: MAX_QUERY,
            };
            let name: *mut libc::sockaddr_storage = &mut r.rx_names[i];
            let iov: *mut libc::iovec = &mut r.rx_iov[i];
            let h = &mut r.rx_msgs[i].msg_hdr;
            h.msg_name = name.cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = iov;
            h.msg_iovlen = 1;
        }
        r
    }
}

/// Reads the source address of a received datagram.
#[inline]
fn source(ss: &libc::sockaddr_storage) -> Option<(IpAddr, u16)> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for AF_INET; storage is
            // large enough and suitably aligned for it.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage as *const libc::sockaddr_in) };
            Some((
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                u16::from_be(sin.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage as *const libc::sockaddr_in6) };
            Some((
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)),
                u16::from_be(sin6.sin6_port),
            ))
        }
        _ => None,
    }
}

/// Serves one UDP socket forever.
pub fn run_worker(
    socket: UdpSocket,
    current: Arc<ArcSwap<ServedSnapshot>>,
    counters: Arc<Counters>,
) {
    let fd = socket.as_raw_fd();
    let mut ring = Ring::new();
    let mut cache = Cache::new(current);
    loop {
        for i in 0..BATCH {
            ring.rx_msgs[i].msg_hdr.msg_namelen =
                size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            ring.rx_msgs[i].msg_hdr.msg_flags = 0;
        }
        // SAFETY: rx_msgs holds BATCH initialised headers whose buffers and
        // names point into `ring`, alive and unaliased for the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                ring.rx_msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE as _,
                std::ptr::null_mut(),
            )
        };
        if n <= 0 {
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                // Receive timeout: refresh the snapshot so an idle worker
                // releases a replaced one.
                Some(libc::EAGAIN) | Some(libc::EINTR) => {
                    cache.load();
                }
                _ => counters.bump_owned(Counter::UdpRecvErrors),
            }
            continue;
        }
        let served = cache.load();
        let snap = served.get();
        let now = coarse_unix_now();
        let mut out = 0usize;
        for i in 0..n as usize {
            counters.bump_owned(Counter::Queries);
            counters.bump_owned(Counter::Udp);
            let msg = &ring.rx_msgs[i];
            let len = msg.msg_len as usize;
            let Some((ip, port)) = source(&ring.rx_names[i]) else {
                counters.bump_owned(Counter::Outcome(super::query::Kind::Dropped));
                continue;
            };
            // Port 0 cannot be answered; a truncated read is not a query we
            // can trust.
            if port == 0 || msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                counters.bump_owned(Counter::Outcome(super::query::Kind::Dropped));
                continue;
            }
            let query = &ring.rx[i * MAX_QUERY..i * MAX_QUERY + len.min(MAX_QUERY)];
            let slot = &mut ring.tx[out * MAX_UDP_RESPONSE..(out + 1) * MAX_UDP_RESPONSE];
            let o = respond(snap, canonical_source(ip), query, slot, Transport::Udp);
            counters.bump_owned(Counter::Outcome(o.kind));
            if o.truncated {
                counters.bump_owned(Counter::Truncated);
            }
            if let Some(d) = o.device {
                served.last_query.note(d, now);
            }
            if o.len == 0 {
                continue;
            }
            ring.tx_iov[out] = libc::iovec {
                iov_base: slot.as_mut_ptr().cast(),
                iov_len: o.len,
            };
            let name: *mut libc::sockaddr_storage = &mut ring.rx_names[i];
            let iov: *mut libc::iovec = &mut ring.tx_iov[out];
            let h = &mut ring.tx_msgs[out].msg_hdr;
            h.msg_name = name.cast();
            h.msg_namelen = ring.rx_msgs[i].msg_hdr.msg_namelen;
            h.msg_iov = iov;
            h.msg_iovlen = 1;
            out += 1;
        }
        let mut sent = 0usize;
        while sent < out {
            // SAFETY: tx_msgs[sent..out] are initialised headers pointing into
            // `ring`, which is not touched during the call.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    ring.tx_msgs[sent..].as_mut_ptr(),
                    (out - sent) as libc::c_uint,
                    0,
                )
            };
            if r > 0 {
                sent += r as usize;
            } else {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                // Skip the datagram that failed (e.g. an unreachable peer).
                counters.bump_owned(Counter::UdpSendErrors);
                sent += 1;
            }
        }
    }
}
