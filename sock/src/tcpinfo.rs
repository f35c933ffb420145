//! `TCP_INFO`: a view of `struct tcp_info` that tolerates older and newer kernels (a field
//! past the length the kernel returned reads as `None`), and `SO_MEMINFO`. Linux.

use std::os::fd::{AsFd, AsRawFd};

/// Room for `struct tcp_info` of current kernels, with margin for growth.
const CAP: usize = 512;

/// `tcpi_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpState {
    /// `TCP_ESTABLISHED`.
    Established,
    /// `TCP_SYN_SENT`.
    SynSent,
    /// `TCP_SYN_RECV`.
    SynRecv,
    /// `TCP_FIN_WAIT1`.
    FinWait1,
    /// `TCP_FIN_WAIT2`.
    FinWait2,
    /// `TCP_TIME_WAIT`.
    TimeWait,
    /// `TCP_CLOSE`.
    Close,
    /// `TCP_CLOSE_WAIT`.
    CloseWait,
    /// `TCP_LAST_ACK`.
    LastAck,
    /// `TCP_LISTEN`.
    Listen,
    /// `TCP_CLOSING`.
    Closing,
    /// A value this crate does not know.
    Other(u8),
}

impl From<u8> for TcpState {
    fn from(v: u8) -> TcpState {
        match v {
            1 => TcpState::Established,
            2 => TcpState::SynSent,
            3 => TcpState::SynRecv,
            4 => TcpState::FinWait1,
            5 => TcpState::FinWait2,
            6 => TcpState::TimeWait,
            7 => TcpState::Close,
            8 => TcpState::CloseWait,
            9 => TcpState::LastAck,
            10 => TcpState::Listen,
            11 => TcpState::Closing,
            o => TcpState::Other(o),
        }
    }
}

/// `tcpi_ca_state`: the congestion-avoidance state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaState {
    /// `TCP_CA_Open`.
    Open,
    /// `TCP_CA_Disorder`.
    Disorder,
    /// `TCP_CA_CWR`.
    Cwr,
    /// `TCP_CA_Recovery`.
    Recovery,
    /// `TCP_CA_Loss`.
    Loss,
    /// A value this crate does not know.
    Other(u8),
}

impl From<u8> for CaState {
    fn from(v: u8) -> CaState {
        match v {
            0 => CaState::Open,
            1 => CaState::Disorder,
            2 => CaState::Cwr,
            3 => CaState::Recovery,
            4 => CaState::Loss,
            o => CaState::Other(o),
        }
    }
}

/// `struct tcp_info` as the kernel returned it: the bytes and their length.
#[derive(Clone, Copy)]
pub struct TcpInfo {
    raw: [u8; CAP],
    len: usize,
}

impl Default for TcpInfo {
    fn default() -> Self {
        TcpInfo {
            raw: [0; CAP],
            len: 0,
        }
    }
}

macro_rules! fields {
    ($($(#[$d:meta])* $name:ident: $t:ty = $off:expr;)*) => {
        impl TcpInfo {
            $(
                $(#[$d])*
                #[doc = concat!("\n\n`tcpi_", stringify!($name), "`; `None` when the kernel's struct is shorter.")]
                pub fn $name(&self) -> Option<$t> {
                    const N: usize = core::mem::size_of::<$t>();
                    if $off + N > self.len {
                        return None;
                    }
                    Some(<$t>::from_ne_bytes(self.raw[$off..$off + N].try_into().ok()?))
                }
            )*
        }

        /// `(field name, offset)` of every field, for layout checks.
        pub const FIELD_OFFSETS: &[(&str, usize)] = &[$((stringify!($name), $off)),*];
    };
}

fields! {
    /// Retransmits of the current segment.
    retransmits: u8 = 2;
    /// Zero-window probes sent.
    probes: u8 = 3;
    /// Exponential backoff.
    backoff: u8 = 4;
    /// `TCPI_OPT_*` bits.
    options: u8 = 5;
    /// Retransmission timeout (µs).
    rto: u32 = 8;
    /// Delayed-ACK timeout (µs).
    ato: u32 = 12;
    /// Send MSS.
    snd_mss: u32 = 16;
    /// Receive MSS.
    rcv_mss: u32 = 20;
    /// Unacknowledged segments.
    unacked: u32 = 24;
    /// SACKed segments.
    sacked: u32 = 28;
    /// Lost segments.
    lost: u32 = 32;
    /// Retransmitted segments in flight.
    retrans: u32 = 36;
    /// ms since the last data sent.
    last_data_sent: u32 = 44;
    /// ms since the last data received.
    last_data_recv: u32 = 52;
    /// ms since the last ACK received.
    last_ack_recv: u32 = 56;
    /// Path MTU.
    pmtu: u32 = 60;
    /// Receive slow-start threshold.
    rcv_ssthresh: u32 = 64;
    /// Smoothed round-trip time (µs).
    rtt: u32 = 68;
    /// Round-trip time variance (µs).
    rttvar: u32 = 72;
    /// Send slow-start threshold.
    snd_ssthresh: u32 = 76;
    /// Congestion window (segments).
    snd_cwnd: u32 = 80;
    /// Advertised MSS.
    advmss: u32 = 84;
    /// Reordering metric.
    reordering: u32 = 88;
    /// Receiver-side RTT estimate (µs).
    rcv_rtt: u32 = 92;
    /// Receive buffer space.
    rcv_space: u32 = 96;
    /// Total retransmits.
    total_retrans: u32 = 100;
    /// Pacing rate (bytes/s).
    pacing_rate: u64 = 104;
    /// Maximum pacing rate.
    max_pacing_rate: u64 = 112;
    /// Bytes acknowledged.
    bytes_acked: u64 = 120;
    /// Bytes received.
    bytes_received: u64 = 128;
    /// Segments sent.
    segs_out: u32 = 136;
    /// Segments received.
    segs_in: u32 = 140;
    /// Bytes not yet sent.
    notsent_bytes: u32 = 144;
    /// Minimum RTT seen (µs).
    min_rtt: u32 = 148;
    /// Data segments received.
    data_segs_in: u32 = 152;
    /// Data segments sent.
    data_segs_out: u32 = 156;
    /// Delivery rate (bytes/s).
    delivery_rate: u64 = 160;
    /// Time busy sending (µs).
    busy_time: u64 = 168;
    /// Time limited by the receive window (µs).
    rwnd_limited: u64 = 176;
    /// Time limited by the send buffer (µs).
    sndbuf_limited: u64 = 184;
    /// Segments delivered.
    delivered: u32 = 192;
    /// Segments delivered with CE marks.
    delivered_ce: u32 = 196;
    /// Bytes sent (retransmits included).
    bytes_sent: u64 = 200;
    /// Bytes retransmitted.
    bytes_retrans: u64 = 208;
    /// DSACKs received.
    dsack_dups: u32 = 216;
    /// Reorderings seen.
    reord_seen: u32 = 220;
    /// Out-of-order packets received.
    rcv_ooopack: u32 = 224;
    /// Peer's advertised receive window.
    snd_wnd: u32 = 228;
    /// Our advertised receive window.
    rcv_wnd: u32 = 232;
    /// PLB or timeout-triggered rehashes.
    rehash: u32 = 236;
    /// RTO timeouts.
    total_rto: u16 = 240;
    /// RTO recoveries.
    total_rto_recoveries: u16 = 242;
    /// Time spent in RTO recovery (ms).
    total_rto_time: u32 = 244;
}

impl TcpInfo {
    /// How many bytes the kernel returned.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when the kernel returned nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The connection state.
    pub fn state(&self) -> Option<TcpState> {
        (self.len > 0).then(|| TcpState::from(self.raw[0]))
    }

    /// The congestion-avoidance state.
    pub fn ca_state(&self) -> Option<CaState> {
        (self.len > 1).then(|| CaState::from(self.raw[1]))
    }

    fn opt(&self, bit: u8) -> Option<bool> {
        self.options().map(|o| o & bit != 0)
    }

    /// Timestamps negotiated (`TCPI_OPT_TIMESTAMPS`).
    pub fn has_timestamps(&self) -> Option<bool> {
        self.opt(1)
    }

    /// SACK negotiated (`TCPI_OPT_SACK`).
    pub fn has_sack(&self) -> Option<bool> {
        self.opt(2)
    }

    /// Window scaling negotiated (`TCPI_OPT_WSCALE`).
    pub fn has_wscale(&self) -> Option<bool> {
        self.opt(4)
    }

    /// ECN negotiated (`TCPI_OPT_ECN`).
    pub fn has_ecn(&self) -> Option<bool> {
        self.opt(8)
    }

    /// Send window scale.
    pub fn snd_wscale(&self) -> Option<u8> {
        (self.len > 6).then(|| self.raw[6] & 0x0f)
    }

    /// Receive window scale.
    pub fn rcv_wscale(&self) -> Option<u8> {
        (self.len > 6).then(|| self.raw[6] >> 4)
    }

    /// The delivery rate was application-limited.
    pub fn delivery_rate_app_limited(&self) -> Option<bool> {
        (self.len > 7).then(|| self.raw[7] & 1 != 0)
    }
}

impl std::fmt::Debug for TcpInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpInfo")
            .field("len", &self.len)
            .field("state", &self.state())
            .field("rtt_us", &self.rtt())
            .field("snd_cwnd", &self.snd_cwnd())
            .field("total_retrans", &self.total_retrans())
            .finish_non_exhaustive()
    }
}

/// Reads `TCP_INFO` into `info` (no allocation).
pub fn tcp_info_into(fd: &impl AsFd, info: &mut TcpInfo) -> iox::Result<()> {
    let n = zcall::getsockopt(
        fd.as_fd().as_raw_fd(),
        libc::IPPROTO_TCP,
        libc::TCP_INFO,
        &mut info.raw,
    )?;
    info.len = n.min(CAP);
    Ok(())
}

/// Reads `TCP_INFO`.
pub fn tcp_info(fd: &impl AsFd) -> iox::Result<TcpInfo> {
    let mut i = TcpInfo::default();
    tcp_info_into(fd, &mut i)?;
    Ok(i)
}

/// `SO_MEMINFO`: the socket's memory accounting (`SK_MEMINFO_*`: rmem_alloc, rcvbuf,
/// wmem_alloc, sndbuf, fwd_alloc, wmem_queued, optmem, backlog, drops).
pub fn meminfo(fd: &impl AsFd) -> iox::Result<[u32; 9]> {
    const SO_MEMINFO: i32 = 55;
    let mut b = [0u8; 36];
    let n = zcall::getsockopt(fd.as_fd().as_raw_fd(), libc::SOL_SOCKET, SO_MEMINFO, &mut b)?;
    let mut out = [0u32; 9];
    for (i, o) in out.iter_mut().enumerate().take(n / 4) {
        *o = u32::from_ne_bytes(b[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    }
    Ok(out)
}

/// `TCP_CC_INFO`: what the connection's congestion-control algorithm reports, decoded for
/// the algorithms that have a view in the kernel's `union tcp_cc_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CcInfo {
    /// `struct tcp_bbr_info`.
    Bbr {
        /// Bottleneck bandwidth estimate (bytes/s).
        bandwidth: u64,
        /// Minimum RTT (µs).
        min_rtt_us: u32,
        /// Pacing gain, fixed point with 8 fractional bits.
        pacing_gain: u32,
        /// Congestion window gain, fixed point with 8 fractional bits.
        cwnd_gain: u32,
    },
    /// `struct tcp_dctcp_info`.
    Dctcp {
        /// DCTCP is active.
        enabled: bool,
        /// CE state.
        ce_state: u16,
        /// The alpha estimate.
        alpha: u32,
        /// ECN-marked bytes acknowledged.
        ab_ecn: u32,
        /// Bytes acknowledged.
        ab_tot: u32,
    },
    /// `struct tcpvegas_info` (vegas, and the algorithms that reuse it).
    Vegas {
        /// Vegas is active.
        enabled: bool,
        /// RTTs counted.
        rtt_count: u32,
        /// RTT (µs).
        rtt_us: u32,
        /// Minimum RTT (µs).
        min_rtt_us: u32,
    },
    /// An algorithm without a view (cubic, reno: the kernel reports nothing).
    None,
}

/// `TCP_CC_INFO`, decoded for the connection's current algorithm
/// ([`opt::congestion`](crate::opt::congestion) names it). No allocation.
pub fn cc_info(fd: &impl AsFd) -> iox::Result<CcInfo> {
    const TCP_CC_INFO: i32 = 26;
    let algo = crate::opt::congestion(fd)?;
    let mut b = [0u8; 20];
    let n = zcall::getsockopt(
        fd.as_fd().as_raw_fd(),
        libc::IPPROTO_TCP,
        TCP_CC_INFO,
        &mut b,
    )?;
    let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let u16_at = |o: usize| u16::from_ne_bytes(b[o..o + 2].try_into().expect("2 bytes"));
    Ok(match (algo.as_str(), n) {
        ("bbr", 20..) => CcInfo::Bbr {
            bandwidth: u64::from(u32_at(0)) | (u64::from(u32_at(4)) << 32),
            min_rtt_us: u32_at(8),
            pacing_gain: u32_at(12),
            cwnd_gain: u32_at(16),
        },
        ("dctcp", 16..) => CcInfo::Dctcp {
            enabled: u16_at(0) != 0,
            ce_state: u16_at(2),
            alpha: u32_at(4),
            ab_ecn: u32_at(8),
            ab_tot: u32_at(12),
        },
        ("vegas" | "veno" | "westwood" | "illinois" | "yeah", 16..) => CcInfo::Vegas {
            enabled: u32_at(0) != 0,
            rtt_count: u32_at(4),
            rtt_us: u32_at(8),
            min_rtt_us: u32_at(12),
        },
        _ => CcInfo::None,
    })
}
