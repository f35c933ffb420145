//! rustls's errors as [`iox::Error`]s: a kind the caller can branch on and a static message
//! naming the TLS reason.
//!
//! | rustls | kind |
//! |---|---|
//! | `InvalidCertificate(_)`, `NoCertificatesPresented` | `PermissionDenied` (the peer's identity is refused) |
//! | `AlertReceived(_)` | `ConnectionReset` (the peer aborted; the message names the alert) |
//! | `PeerIncompatible(_)`, `NoApplicationProtocol` | `Unsupported` (no common version, suite, group or protocol) |
//! | `InvalidMessage(_)`, `PeerMisbehaved(_)`, `DecryptError`, oversized record, ... | `InvalidInput` (bad bytes from the peer) |
//! | end of the TCP stream without close_notify | `UnexpectedEof` ([`TRUNCATED`]) |

use iox::{Error, ErrorKind};
use rustls::{AlertDescription, CertificateError, PeerIncompatible};

/// The peer closed the TCP stream without sending close_notify first: the data may have
/// been cut short by an attacker or a crash, so it is not a clean end of stream.
pub const TRUNCATED: Error = Error::with_context(
    ErrorKind::UnexpectedEof,
    "TLS: peer closed the connection without close_notify (truncation)",
);

/// The peer closed the TCP stream in the middle of the handshake.
pub const HANDSHAKE_EOF: Error = Error::with_context(
    ErrorKind::UnexpectedEof,
    "TLS: peer closed the connection during the handshake",
);

const fn refused(msg: &'static str) -> Error {
    Error::with_context(ErrorKind::PermissionDenied, msg)
}
const fn bad(msg: &'static str) -> Error {
    Error::with_context(ErrorKind::InvalidInput, msg)
}
const fn incompatible(msg: &'static str) -> Error {
    Error::with_context(ErrorKind::Unsupported, msg)
}
const fn alert(msg: &'static str) -> Error {
    Error::with_context(ErrorKind::ConnectionReset, msg)
}

/// Maps a rustls error to an [`iox::Error`] whose message names the TLS reason.
///
/// ```
/// use sonic_tls::tls_error;
/// let e = tls_error(&rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer));
/// assert_eq!(e.kind(), iox::ErrorKind::PermissionDenied);
/// assert_eq!(e.context_str(), Some("TLS: certificate signed by an unknown issuer"));
/// ```
pub fn tls_error(e: &rustls::Error) -> Error {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => certificate_error(c),
        E::NoCertificatesPresented => refused("TLS: the peer presented no certificate"),
        E::AlertReceived(a) => alert_error(*a),
        E::PeerIncompatible(p) => incompatible_error(p),
        E::NoApplicationProtocol => {
            incompatible("TLS: no application protocol (ALPN) in common with the peer")
        }
        E::InvalidMessage(_) => bad("TLS: bad record from the peer (malformed message)"),
        E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            bad("TLS: bad record from the peer (unexpected message)")
        }
        E::PeerMisbehaved(_) => bad("TLS: the peer broke the protocol"),
        E::DecryptError => bad("TLS: bad record from the peer (decryption failed)"),
        E::PeerSentOversizedRecord => bad("TLS: bad record from the peer (oversized record)"),
        E::UnsupportedNameType => bad("TLS: unsupported server name type"),
        E::EncryptError => Error::with_context(ErrorKind::Os, "TLS: encryption failed"),
        E::HandshakeNotComplete => Error::with_context(
            ErrorKind::NotConnected,
            "TLS: the handshake is not complete",
        ),
        E::FailedToGetCurrentTime => {
            Error::with_context(ErrorKind::Os, "TLS: could not read the current time")
        }
        E::FailedToGetRandomBytes => {
            Error::with_context(ErrorKind::Os, "TLS: could not get random bytes")
        }
        E::InvalidCertRevocationList(_) => bad("TLS: invalid certificate revocation list"),
        E::InvalidEncryptedClientHello(_) => bad("TLS: invalid encrypted client hello"),
        E::General(_) => Error::with_context(ErrorKind::Os, "TLS: internal error"),
        _ => Error::with_context(ErrorKind::Os, "TLS: error"),
    }
}

fn certificate_error(c: &CertificateError) -> Error {
    use CertificateError as C;
    match c {
        C::UnknownIssuer => refused("TLS: certificate signed by an unknown issuer"),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            refused("TLS: certificate not valid for the name")
        }
        C::Expired | C::ExpiredContext { .. } => refused("TLS: certificate expired"),
        C::NotValidYet | C::NotValidYetContext { .. } => refused("TLS: certificate not valid yet"),
        C::Revoked => refused("TLS: certificate revoked"),
        C::BadEncoding => refused("TLS: certificate badly encoded"),
        C::BadSignature => refused("TLS: certificate has a bad signature"),
        C::UnhandledCriticalExtension => {
            refused("TLS: certificate has an unhandled critical extension")
        }
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            refused("TLS: certificate signature algorithm unsupported")
        }
        C::UnknownRevocationStatus => refused("TLS: certificate revocation status unknown"),
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            refused("TLS: certificate revocation list expired")
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            refused("TLS: certificate not valid for this purpose")
        }
        C::ApplicationVerificationFailure => refused("TLS: certificate refused by the application"),
        #[allow(deprecated)] // rustls still makes it, from webpki's deprecated variants.
        C::UnsupportedSignatureAlgorithm => {
            refused("TLS: certificate signature algorithm unsupported")
        }
        C::InvalidOcspResponse => refused("TLS: certificate's OCSP response invalid"),
        C::Other(o) => match o.0.downcast_ref::<webpki::Error>() {
            Some(w) => webpki_error(w),
            None => refused("TLS: bad certificate"),
        },
        _ => refused("TLS: bad certificate"),
    }
}

/// The verifier's errors rustls does not name, passed through as `CertificateError::Other`.
/// A self-signed certificate made the usual way (`openssl req -x509`, CA:TRUE) is the
/// common one: a new user got "bad certificate" for it.
fn webpki_error(w: &webpki::Error) -> Error {
    use webpki::Error as W;
    match w {
        W::CaUsedAsEndEntity => refused(
            "TLS: the peer's certificate is a CA certificate (CA:TRUE), not an end entity's",
        ),
        W::EndEntityUsedAsCa => {
            refused("TLS: certificate chain has an end-entity certificate (CA:FALSE) as an issuer")
        }
        W::PathLenConstraintViolated => {
            refused("TLS: certificate chain longer than an issuer's path length constraint")
        }
        W::NameConstraintViolation => {
            refused("TLS: certificate name outside its issuer's name constraints")
        }
        W::MaximumPathDepthExceeded
        | W::MaximumPathBuildCallsExceeded
        | W::MaximumSignatureChecksExceeded
        | W::MaximumNameConstraintComparisonsExceeded => {
            refused("TLS: certificate chain too long or too complex to verify")
        }
        W::UnsupportedCertVersion => refused("TLS: certificate is not X.509 version 3"),
        W::UnsupportedCriticalExtension => {
            refused("TLS: certificate has an unhandled critical extension")
        }
        W::ExtensionValueInvalid | W::MalformedExtensions => {
            refused("TLS: certificate has an invalid extension")
        }
        W::SignatureAlgorithmMismatch => {
            refused("TLS: certificate's signature algorithms disagree")
        }
        W::CertDistrusted => refused("TLS: certificate distrusted"),
        _ => refused("TLS: bad certificate"),
    }
}

fn incompatible_error(p: &PeerIncompatible) -> Error {
    use PeerIncompatible as P;
    match p {
        P::ServerDoesNotSupportTls12Or13
        | P::ServerTlsVersionIsDisabledByOurConfig
        | P::SupportedVersionsExtensionRequired
        | P::Tls12NotOffered
        | P::Tls12NotOfferedOrEnabled
        | P::Tls13RequiredForQuic => incompatible("TLS: no common protocol version"),
        P::NoCipherSuitesInCommon => incompatible("TLS: no cipher suite in common"),
        P::NoKxGroupsInCommon => incompatible("TLS: no key exchange group in common"),
        P::NoSignatureSchemesInCommon | P::NoCertificateRequestSignatureSchemesInCommon => {
            incompatible("TLS: no signature scheme in common")
        }
        _ => incompatible("TLS: the peer is incompatible"),
    }
}

/// The message for an alert the peer sent.
fn alert_error(a: AlertDescription) -> Error {
    use AlertDescription as A;
    match a {
        A::CloseNotify => alert("TLS: peer sent alert close_notify"),
        A::UnexpectedMessage => alert("TLS: peer sent alert unexpected_message"),
        A::BadRecordMac => alert("TLS: peer sent alert bad_record_mac"),
        A::RecordOverflow => alert("TLS: peer sent alert record_overflow"),
        A::HandshakeFailure => alert("TLS: peer sent alert handshake_failure"),
        A::BadCertificate => alert("TLS: peer sent alert bad_certificate"),
        A::UnsupportedCertificate => alert("TLS: peer sent alert unsupported_certificate"),
        A::CertificateRevoked => alert("TLS: peer sent alert certificate_revoked"),
        A::CertificateExpired => alert("TLS: peer sent alert certificate_expired"),
        A::CertificateUnknown => alert("TLS: peer sent alert certificate_unknown"),
        A::IllegalParameter => alert("TLS: peer sent alert illegal_parameter"),
        A::UnknownCA => alert("TLS: peer sent alert unknown_ca"),
        A::AccessDenied => alert("TLS: peer sent alert access_denied"),
        A::DecodeError => alert("TLS: peer sent alert decode_error"),
        A::DecryptError => alert("TLS: peer sent alert decrypt_error"),
        A::ProtocolVersion => alert("TLS: peer sent alert protocol_version"),
        A::InsufficientSecurity => alert("TLS: peer sent alert insufficient_security"),
        A::InternalError => alert("TLS: peer sent alert internal_error"),
        A::InappropriateFallback => alert("TLS: peer sent alert inappropriate_fallback"),
        A::UserCanceled => alert("TLS: peer sent alert user_canceled"),
        A::MissingExtension => alert("TLS: peer sent alert missing_extension"),
        A::UnsupportedExtension => alert("TLS: peer sent alert unsupported_extension"),
        A::UnrecognisedName => alert("TLS: peer sent alert unrecognized_name"),
        A::CertificateRequired => alert("TLS: peer sent alert certificate_required"),
        A::NoApplicationProtocol => alert("TLS: peer sent alert no_application_protocol"),
        _ => alert("TLS: peer sent an alert"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_message() {
        let cases = [
            (
                rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
                ErrorKind::PermissionDenied,
                "TLS: certificate not valid for the name",
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::HandshakeFailure),
                ErrorKind::ConnectionReset,
                "TLS: peer sent alert handshake_failure",
            ),
            (
                rustls::Error::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13),
                ErrorKind::Unsupported,
                "TLS: no common protocol version",
            ),
            (
                rustls::Error::DecryptError,
                ErrorKind::InvalidInput,
                "TLS: bad record from the peer (decryption failed)",
            ),
        ];
        for (e, kind, msg) in cases {
            let x = tls_error(&e);
            assert_eq!((x.kind(), x.context_str()), (kind, Some(msg)), "{e:?}");
        }
    }
}
