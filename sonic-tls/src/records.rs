//! The record layer after the handshake, done here instead of inside rustls.
//!
//! Once the handshake is over, rustls hands over the traffic keys and sequence numbers
//! through its kernel-TLS API (`dangerous_into_kernel_connection`), keeping only what it
//! alone can do: derive the next keys on a TLS 1.3 key update and store the session tickets
//! a server sends. Records are then sealed and opened here with ring's AEADs (the same
//! primitives rustls's ring provider uses), **in place**: a received record is decrypted
//! where it lies in the connection's receive FIFO, and an outgoing record is built and
//! encrypted in the send FIFO. Nothing is allocated per record, and no byte is copied
//! beyond the plaintext into (or out of) the FIFO.
//!
//! What this layer handles, per RFC 8446 (TLS 1.3) and RFC 5246/5288/7905 (TLS 1.2 with
//! AES-GCM and ChaCha20-Poly1305):
//!
//! * application data, alerts (close_notify; user_canceled and TLS 1.2 warnings ignored;
//!   every other alert fatal) and, in TLS 1.3, the post-handshake messages
//!   NewSessionTicket (client: handed to rustls's session store) and KeyUpdate (both
//!   directions; a request is answered before the next record is sent);
//! * in TLS 1.2, a HelloRequest is refused with a `no_renegotiation` warning, as rustls
//!   does (once: a second is fatal); any other handshake message after the handshake is
//!   fatal;
//! * at most 32 key updates in a row without application data between them (rustls's and
//!   BoringSSL's limit): each is answered with a record, so a peer sending them without
//!   end, and not reading, would otherwise grow the send FIFO without end;
//! * AES-GCM's confidentiality limit: TLS 1.3 updates its sending keys before reaching it,
//!   TLS 1.2 (which cannot) fails the write instead;
//! * oversized records (`record_overflow`), records that fail authentication
//!   (`bad_record_mac`), unknown or misplaced content types (`unexpected_message`), and
//!   malformed messages (`decode_error`): each a fatal error with its alert.

use iox::{Error, ErrorKind};
use ring::aead::{self, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use rustls::client::ClientConnectionData;
use rustls::kernel::KernelConnection;
use rustls::server::ServerConnectionData;
use rustls::{
    AlertDescription, ConnectionTrafficSecrets, ExtractedSecrets, PeerMisbehaved, ProtocolVersion,
    SupportedCipherSuite,
};
use sonic_bytes::{ByteBuffer, Fifo};

use crate::error::tls_error;

/// Record header: content type, legacy version (2), length (2).
pub(crate) const HEADER: usize = 5;
const TAG: usize = 16;
/// TLS 1.2 AES-GCM's explicit nonce, sent before each record's ciphertext.
const EXPLICIT_NONCE: usize = 8;
/// The most plaintext one record carries.
const MAX_PLAINTEXT: usize = 16 * 1024;
/// The longest ciphertext a peer may send in one record: 2^14 + 256 in TLS 1.3 (RFC 8446
/// 5.2), 2^14 + 2048 in TLS 1.2 (RFC 5246 6.2.3).
const MAX_CIPHERTEXT_13: usize = MAX_PLAINTEXT + 256;
const MAX_CIPHERTEXT_12: usize = MAX_PLAINTEXT + 2048;
/// The longest post-handshake handshake message accepted (a session ticket is a few
/// hundred bytes).
const MAX_HANDSHAKE: usize = 64 * 1024;

pub(crate) const ALERT: u8 = 21;
pub(crate) const HANDSHAKE: u8 = 22;
pub(crate) const APPLICATION_DATA: u8 = 23;

const HELLO_REQUEST: u8 = 0;
const NEW_SESSION_TICKET: u8 = 4;
const KEY_UPDATE: u8 = 24;

const WARNING: u8 = 1;

const LIMIT_REACHED: Error = Error::with_context(
    ErrorKind::Unsupported,
    "TLS: the cipher's confidentiality limit is reached (TLS 1.2 cannot update keys)",
);
const FATAL: u8 = 2;

/// A record-layer failure: the error, and the alert to send the peer (if any).
#[derive(Debug)]
pub(crate) struct Fatal {
    pub(crate) error: Error,
    pub(crate) alert: Option<AlertDescription>,
}

impl Fatal {
    fn new(error: rustls::Error, alert: AlertDescription) -> Fatal {
        Fatal {
            error: tls_error(&error),
            alert: Some(alert),
        }
    }

    pub(crate) fn unexpected() -> Fatal {
        Fatal::new(
            rustls::Error::InappropriateMessage {
                expect_types: Vec::new(),
                got_type: rustls::ContentType::Unknown(0),
            },
            AlertDescription::UnexpectedMessage,
        )
    }

    fn decode() -> Fatal {
        Fatal::new(
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            AlertDescription::DecodeError,
        )
    }

    fn internal(what: &'static str) -> Fatal {
        Fatal {
            error: Error::with_context(ErrorKind::Os, what),
            alert: Some(AlertDescription::InternalError),
        }
    }
}

/// What rustls keeps after the handover: key derivation and the ticket store.
pub(crate) enum Keeper {
    Client(KernelConnection<ClientConnectionData>),
    Server(KernelConnection<ServerConnectionData>),
}

impl Keeper {
    fn update_tx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Keeper::Client(k) => k.update_tx_secret(),
            Keeper::Server(k) => k.update_tx_secret(),
        }
    }

    fn update_rx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Keeper::Client(k) => k.update_rx_secret(),
            Keeper::Server(k) => k.update_rx_secret(),
        }
    }
}

/// One direction's AEAD key, IV and sequence number.
struct Direction {
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
    seq: u64,
}

impl Direction {
    fn new((seq, secrets): (u64, ConnectionTrafficSecrets)) -> Result<Direction, Fatal> {
        let (alg, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv)
            }
            _ => return Err(Fatal::internal("TLS: unsupported record cipher")),
        };
        let key = UnboundKey::new(alg, key.as_ref())
            .map_err(|_| Fatal::internal("TLS: bad traffic key length"))?;
        let iv = <[u8; NONCE_LEN]>::try_from(iv.as_ref())
            .map_err(|_| Fatal::internal("TLS: bad traffic IV length"))?;
        Ok(Direction {
            key: LessSafeKey::new(key),
            iv,
            seq,
        })
    }

    /// The per-record nonce: the IV with the sequence number XORed into its last 8 bytes
    /// (TLS 1.3, and TLS 1.2 ChaCha20-Poly1305; TLS 1.2 AES-GCM sends the last 8 bytes).
    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        n
    }
}

/// A record opened in place: its plaintext is `start..end` of the buffer it was opened in,
/// and it spans `len` bytes from the buffer's start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Opened {
    pub(crate) typ: u8,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) len: usize,
}

/// What an alert from the peer means for the connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AlertAction {
    CloseNotify,
    Ignore,
}

/// The record layer of one connection after its handshake.
pub(crate) struct Records {
    tls13: bool,
    /// TLS 1.2 AES-GCM: an explicit nonce precedes each record's ciphertext.
    explicit_nonce: bool,
    tx: Direction,
    rx: Direction,
    /// Records the sending key may seal before it must be replaced.
    tx_limit: u64,
    keeper: Keeper,
    /// A post-handshake handshake message split across records (rare; allocated only then).
    joiner: Vec<u8>,
    /// Key updates the peer may still send before its next application data, and
    /// renegotiation requests (TLS 1.2) it may still send at all: each is answered with a
    /// record of ours, so a peer that sent them without end (and did not read) would grow
    /// the send FIFO without end. The limits are rustls's (and BoringSSL's).
    key_updates_left: u8,
    renegotiations_left: u8,
}

/// Key updates accepted in a row without application data between them.
const KEY_UPDATES_IN_A_ROW: u8 = 32;

impl Records {
    /// The record layer rustls hands over for a connection that negotiated `suite`.
    pub(crate) fn new(
        secrets: ExtractedSecrets,
        keeper: Keeper,
        suite: SupportedCipherSuite,
    ) -> Result<Records, Fatal> {
        let tls13 = matches!(suite, SupportedCipherSuite::Tls13(_));
        let explicit_nonce = !tls13
            && !matches!(
                secrets.tx.1,
                ConnectionTrafficSecrets::Chacha20Poly1305 { .. }
            );
        Ok(Records {
            tls13,
            explicit_nonce,
            tx: Direction::new(secrets.tx)?,
            rx: Direction::new(secrets.rx)?,
            tx_limit: Records::cipher_limit(suite),
            keeper,
            joiner: Vec::new(),
            key_updates_left: KEY_UPDATES_IN_A_ROW,
            renegotiations_left: 1,
        })
    }

    /// Seal at most `records` records with one sending key (TLS 1.3: then update it); the
    /// cipher's confidentiality limit stays the most.
    pub(crate) fn set_records_per_key(&mut self, records: u64, limit: u64) {
        self.tx_limit = records.max(1).min(limit);
    }

    /// The cipher's own limit on records per key, minus room for the update and an alert.
    pub(crate) fn cipher_limit(suite: SupportedCipherSuite) -> u64 {
        match suite {
            SupportedCipherSuite::Tls13(s) => s.common.confidentiality_limit,
            SupportedCipherSuite::Tls12(s) => s.common.confidentiality_limit,
        }
        .saturating_sub(2)
    }

    /// The negotiated protocol version.
    pub(crate) fn version(&self) -> ProtocolVersion {
        if self.tls13 {
            ProtocolVersion::TLSv1_3
        } else {
            ProtocolVersion::TLSv1_2
        }
    }

    /// Bytes one record adds to its plaintext.
    fn overhead(&self) -> usize {
        HEADER
            + TAG
            + if self.tls13 {
                1
            } else if self.explicit_nonce {
                EXPLICIT_NONCE
            } else {
                0
            }
    }

    /// Seals `data` as records of content type `typ` (at most 16 KiB of plaintext each)
    /// into the send FIFO. Application data first updates the sending keys (TLS 1.3) when
    /// the cipher's confidentiality limit is near.
    pub(crate) fn seal(&mut self, tx: &mut ByteBuffer, typ: u8, data: &[u8]) -> Result<(), Fatal> {
        if typ != APPLICATION_DATA {
            return self.seal_records(tx, typ, data);
        }
        let mut rest = data;
        loop {
            let records = rest.len().div_ceil(MAX_PLAINTEXT).max(1) as u64;
            let room = self.tx_limit.saturating_sub(self.tx.seq);
            if room == 0 {
                if !self.tls13 {
                    return Err(Fatal {
                        error: LIMIT_REACHED,
                        alert: None,
                    });
                }
                self.send_key_update(tx, false)?;
                continue;
            }
            if records <= room {
                return self.seal_records(tx, typ, rest);
            }
            let (now, later) = rest.split_at(room as usize * MAX_PLAINTEXT);
            self.seal_records(tx, typ, now)?;
            rest = later;
        }
    }

    /// Seals `data` as records into the send FIFO, whatever the key's record count.
    fn seal_records(&mut self, tx: &mut ByteBuffer, typ: u8, data: &[u8]) -> Result<(), Fatal> {
        let records = data.len().div_ceil(MAX_PLAINTEXT).max(1);
        let need = data.len() + records * self.overhead();
        let space = tx.claim(need);
        if space.len() < need {
            tx.commit(0);
            return Err(Fatal::internal(
                "TLS: could not size the send buffer for a record",
            ));
        }
        let mut at = 0;
        let mut chunks = data.chunks(MAX_PLAINTEXT);
        let mut next = chunks.next();
        loop {
            let chunk = next.unwrap_or(&[]);
            match self.seal_one(&mut space[at..], typ, chunk) {
                Ok(n) => at += n,
                Err(e) => {
                    tx.commit(0);
                    return Err(e);
                }
            }
            next = chunks.next();
            if next.is_none() {
                break;
            }
        }
        tx.commit(at);
        Ok(())
    }

    /// Seals one record into `out` (room for `data` and [`overhead`](Self::overhead));
    /// returns its length.
    fn seal_one(&mut self, out: &mut [u8], typ: u8, data: &[u8]) -> Result<usize, Fatal> {
        let explicit = if self.explicit_nonce {
            EXPLICIT_NONCE
        } else {
            0
        };
        let inner = data.len() + usize::from(self.tls13);
        let len = explicit + inner + TAG;
        let wire_len = u16::try_from(len).map_err(|_| Fatal::internal("TLS: record too long"))?;
        let nonce = self.tx.nonce();
        out[0] = if self.tls13 { APPLICATION_DATA } else { typ };
        out[1] = 3;
        out[2] = 3;
        out[3..HEADER].copy_from_slice(&wire_len.to_be_bytes());
        if explicit > 0 {
            out[HEADER..HEADER + explicit].copy_from_slice(&nonce[4..]);
        }
        let body = HEADER + explicit;
        out[body..body + data.len()].copy_from_slice(data);
        if self.tls13 {
            out[body + data.len()] = typ;
        }
        let mut aad = [0u8; 13];
        let aad = if self.tls13 {
            aad[..HEADER].copy_from_slice(&out[..HEADER]);
            &aad[..HEADER]
        } else {
            aad_tls12(&mut aad, self.tx.seq, typ, data.len());
            &aad[..]
        };
        let (plain, rest) = out[body..].split_at_mut(inner);
        let tag = self
            .tx
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), plain)
            .map_err(|_| {
                Fatal::new(rustls::Error::EncryptError, AlertDescription::InternalError)
            })?;
        rest[..TAG].copy_from_slice(tag.as_ref());
        self.tx.seq += 1;
        Ok(HEADER + len)
    }

    /// Application data arrived: the peer may send key updates again.
    pub(crate) fn received_data(&mut self) {
        self.key_updates_left = KEY_UPDATES_IN_A_ROW;
    }

    /// Opens the record at the start of `buf` in place: `None` while it is incomplete.
    pub(crate) fn open(&mut self, buf: &mut [u8]) -> Result<Option<Opened>, Fatal> {
        if buf.len() < HEADER {
            return Ok(None);
        }
        let typ = buf[0];
        if buf[1] != 3 {
            return Err(Fatal::decode());
        }
        let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
        let max = if self.tls13 {
            MAX_CIPHERTEXT_13
        } else {
            MAX_CIPHERTEXT_12
        };
        if len > max {
            return Err(Fatal::new(
                rustls::Error::PeerSentOversizedRecord,
                AlertDescription::RecordOverflow,
            ));
        }
        if buf.len() < HEADER + len {
            return Ok(None);
        }
        let record = &mut buf[..HEADER + len];
        if self.tls13 {
            self.open13(record, typ, len).map(Some)
        } else {
            self.open12(record, typ, len).map(Some)
        }
    }

    fn open13(&mut self, record: &mut [u8], typ: u8, len: usize) -> Result<Opened, Fatal> {
        if typ != APPLICATION_DATA {
            // A change_cipher_spec (or anything else) in the clear after the handshake.
            return Err(Fatal::unexpected());
        }
        if len < TAG + 1 {
            return Err(bad_record_mac());
        }
        let mut aad = [0u8; HEADER];
        aad.copy_from_slice(&record[..HEADER]);
        let nonce = Nonce::assume_unique_for_key(self.rx.nonce());
        let plain = self
            .rx
            .key
            .open_in_place(nonce, Aad::from(aad), &mut record[HEADER..])
            .map_err(|_| bad_record_mac())?;
        self.rx.seq += 1;
        // The inner content type is the last non-zero byte; zeros after it are padding.
        let Some(at) = plain.iter().rposition(|&b| b != 0) else {
            return Err(Fatal::unexpected());
        };
        if at > MAX_PLAINTEXT {
            return Err(Fatal::new(
                rustls::Error::PeerSentOversizedRecord,
                AlertDescription::RecordOverflow,
            ));
        }
        Ok(Opened {
            typ: plain[at],
            start: HEADER,
            end: HEADER + at,
            len: HEADER + len,
        })
    }

    fn open12(&mut self, record: &mut [u8], typ: u8, len: usize) -> Result<Opened, Fatal> {
        if !matches!(typ, ALERT | HANDSHAKE | APPLICATION_DATA) {
            return Err(Fatal::unexpected());
        }
        let explicit = if self.explicit_nonce {
            EXPLICIT_NONCE
        } else {
            0
        };
        if len < explicit + TAG {
            return Err(bad_record_mac());
        }
        let plain_len = len - explicit - TAG;
        if plain_len > MAX_PLAINTEXT {
            return Err(Fatal::new(
                rustls::Error::PeerSentOversizedRecord,
                AlertDescription::RecordOverflow,
            ));
        }
        let nonce = if explicit > 0 {
            let mut n = [0u8; NONCE_LEN];
            n[..4].copy_from_slice(&self.rx.iv[..4]);
            n[4..].copy_from_slice(&record[HEADER..HEADER + EXPLICIT_NONCE]);
            n
        } else {
            self.rx.nonce()
        };
        let mut aad = [0u8; 13];
        aad_tls12(&mut aad, self.rx.seq, typ, plain_len);
        let start = HEADER + explicit;
        self.rx
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut record[start..],
            )
            .map_err(|_| bad_record_mac())?;
        self.rx.seq += 1;
        Ok(Opened {
            typ,
            start,
            end: start + plain_len,
            len: HEADER + len,
        })
    }

    /// What an alert's plaintext means: close_notify, an alert to ignore, or a fatal error
    /// naming it.
    pub(crate) fn alert(&self, payload: &[u8]) -> Result<AlertAction, Fatal> {
        let &[level, desc] = payload else {
            return Err(Fatal::decode());
        };
        let desc = AlertDescription::from(desc);
        if desc == AlertDescription::CloseNotify {
            return Ok(AlertAction::CloseNotify);
        }
        // TLS 1.3 keeps one warning, user_canceled (a close_notify follows); TLS 1.2's
        // warnings are advisory.
        if (self.tls13 && desc == AlertDescription::UserCanceled)
            || (!self.tls13 && level == WARNING)
        {
            return Ok(AlertAction::Ignore);
        }
        Err(Fatal {
            error: tls_error(&rustls::Error::AlertReceived(desc)),
            alert: None,
        })
    }

    /// Handles the plaintext of a handshake record received after the handshake (see the
    /// module docs); may seal a reply (a key update, a warning) into `tx`.
    pub(crate) fn handshake(&mut self, tx: &mut ByteBuffer, payload: &[u8]) -> Result<(), Fatal> {
        if !self.tls13 {
            return match (&self.keeper, payload) {
                (Keeper::Client(_), [HELLO_REQUEST, 0, 0, 0]) if self.renegotiations_left > 0 => {
                    self.renegotiations_left -= 1;
                    self.seal(
                        tx,
                        ALERT,
                        &[WARNING, u8::from(AlertDescription::NoRenegotiation)],
                    )
                }
                _ => Err(Fatal::unexpected()),
            };
        }
        let mut joined = std::mem::take(&mut self.joiner);
        let data: &[u8] = if joined.is_empty() {
            payload
        } else {
            if joined.len() + payload.len() > MAX_HANDSHAKE + 4 {
                return Err(Fatal::decode());
            }
            joined.extend_from_slice(payload);
            &joined
        };
        let mut rest = data;
        let result = loop {
            let &[typ, a, b, c, ref body @ ..] = rest else {
                break Ok(());
            };
            let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            if len > MAX_HANDSHAKE {
                break Err(Fatal::decode());
            }
            if body.len() < len {
                break Ok(());
            }
            let (msg, after) = body.split_at(len);
            rest = after;
            let step = match typ {
                NEW_SESSION_TICKET => match &mut self.keeper {
                    Keeper::Client(k) => k
                        .handle_new_session_ticket(msg)
                        .map_err(|e| Fatal::new(e, AlertDescription::DecodeError)),
                    Keeper::Server(_) => Err(Fatal::unexpected()),
                },
                // A key update must end its record (RFC 8446 5.1): later bytes would have
                // been sealed with the old key.
                KEY_UPDATE if !rest.is_empty() => Err(Fatal::new(
                    rustls::Error::PeerMisbehaved(PeerMisbehaved::KeyEpochWithPendingFragment),
                    AlertDescription::UnexpectedMessage,
                )),
                KEY_UPDATE => self.key_update(tx, msg),
                _ => Err(Fatal::unexpected()),
            };
            if let Err(e) = step {
                break Err(e);
            }
        };
        let keep = rest.len();
        if result.is_ok() && keep > 0 {
            // The start of a message whose rest comes in the next record.
            let start = data.len() - keep;
            let mut next = Vec::with_capacity(keep);
            next.extend_from_slice(&data[start..]);
            self.joiner = next;
        } else {
            joined.clear();
            self.joiner = joined;
        }
        result
    }

    /// The peer's KeyUpdate: new receiving keys, and our own update if it asked.
    fn key_update(&mut self, tx: &mut ByteBuffer, msg: &[u8]) -> Result<(), Fatal> {
        let Some(left) = self.key_updates_left.checked_sub(1) else {
            return Err(Fatal::new(
                rustls::Error::PeerMisbehaved(PeerMisbehaved::TooManyKeyUpdateRequests),
                AlertDescription::UnexpectedMessage,
            ));
        };
        self.key_updates_left = left;
        let requested = match msg {
            [0] => false,
            [1] => true,
            _ => {
                return Err(Fatal::new(
                    rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidKeyUpdate),
                    AlertDescription::IllegalParameter,
                ));
            }
        };
        let rx = self
            .keeper
            .update_rx()
            .map_err(|e| Fatal::new(e, AlertDescription::InternalError))?;
        self.rx = Direction::new(rx)?;
        if requested {
            self.send_key_update(tx, false)?;
        }
        Ok(())
    }

    /// Seals a KeyUpdate with the current keys, then switches to the next ones. TLS 1.3
    /// only.
    pub(crate) fn send_key_update(
        &mut self,
        tx: &mut ByteBuffer,
        request: bool,
    ) -> Result<(), Fatal> {
        if !self.tls13 {
            return Err(Fatal::internal("TLS: key updates need TLS 1.3"));
        }
        self.seal_records(tx, HANDSHAKE, &[KEY_UPDATE, 0, 0, 1, u8::from(request)])?;
        let next = self
            .keeper
            .update_tx()
            .map_err(|e| Fatal::new(e, AlertDescription::InternalError))?;
        self.tx = Direction::new(next)?;
        Ok(())
    }

    /// Seals a fatal alert (after an error; best effort).
    pub(crate) fn seal_fatal_alert(&mut self, tx: &mut ByteBuffer, alert: AlertDescription) {
        let _ = self.seal(tx, ALERT, &[FATAL, u8::from(alert)]);
    }

    /// Seals close_notify.
    pub(crate) fn seal_close_notify(&mut self, tx: &mut ByteBuffer) -> Result<(), Fatal> {
        self.seal(
            tx,
            ALERT,
            &[WARNING, u8::from(AlertDescription::CloseNotify)],
        )
    }
}

/// TLS 1.2's additional data: sequence number, content type, version, plaintext length.
fn aad_tls12(aad: &mut [u8; 13], seq: u64, typ: u8, len: usize) {
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8] = typ;
    aad[9] = 3;
    aad[10] = 3;
    aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
}

fn bad_record_mac() -> Fatal {
    Fatal::new(rustls::Error::DecryptError, AlertDescription::BadRecordMac)
}
