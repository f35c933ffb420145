//! What every connected socket type shares: deadline-aware I/O, the std traits, the
//! descriptor traits, and `Deref` to its [`NetSocket`](crate::NetSocket).

/// Implements, for a connected stream-like socket type with a `sock: NetSocket` field:
/// `read`/`write`/`read_vectored`/`write_vectored`/`peek` under the deadlines, `std::io`
/// `Read`/`Write` for the type and for `&T`, `Deref`, `AsFd`, `AsRawFd`, `IntoRawFd`,
/// `Into<OwnedFd>`, `From<OwnedFd>`.
macro_rules! connected_io {
    ($t:ident) => {
        impl $t {
            /// Reads into `buf` (`Ok(0)`: end of stream, or an empty `buf`). Without a read
            /// deadline `WouldBlock` comes at once; with one, the ladder runs until data or
            /// `TimedOut`. Allocates nothing. See `recv(2)`.
            #[inline]
            pub fn read(&self, buf: &mut [u8]) -> iox::Result<usize> {
                if buf.is_empty() {
                    return Ok(0);
                }
                crate::deadline::run(&self.sock.deadlines.read, || self.sock.recv_once(buf, 0))
            }

            /// Writes from `buf` with `MSG_NOSIGNAL` (never `SIGPIPE`), under the write
            /// deadline. Allocates nothing. See `send(2)`.
            #[inline]
            pub fn write(&self, buf: &[u8]) -> iox::Result<usize> {
                if buf.is_empty() {
                    return Ok(0);
                }
                crate::deadline::run(&self.sock.deadlines.write, || self.sock.send_once(buf, 0))
            }

            /// One read that ignores the deadlines: `WouldBlock` at once when there is no
            /// data. For an event loop that does its own waiting (a TLS layer under a
            /// reactor) and must never block or spin in a call. See `recv(2)`.
            #[inline]
            pub fn try_read(&self, buf: &mut [u8]) -> iox::Result<usize> {
                if buf.is_empty() {
                    return Ok(0);
                }
                self.sock.recv_once(buf, 0)
            }

            /// One write that ignores the deadlines (`MSG_NOSIGNAL`): `WouldBlock` at once
            /// when the send buffer is full. See `send(2)`.
            #[inline]
            pub fn try_write(&self, buf: &[u8]) -> iox::Result<usize> {
                if buf.is_empty() {
                    return Ok(0);
                }
                self.sock.send_once(buf, 0)
            }

            /// Writes all of `buf`, continuing after partial writes, under the write deadline
            /// (without one, `WouldBlock` can come after some bytes went out: the count is
            /// lost, so use a deadline or [`write`](Self::write)).
            pub fn write_all(&self, mut buf: &[u8]) -> iox::Result<()> {
                while !buf.is_empty() {
                    match self.write(buf)? {
                        0 => return Err(iox::Error::new(iox::ErrorKind::ShortWrite)),
                        n => buf = &buf[n..],
                    }
                }
                Ok(())
            }

            /// Scatter read under the read deadline.
            pub fn read_vectored(
                &self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> iox::Result<usize> {
                crate::deadline::run(&self.sock.deadlines.read, || {
                    self.sock.recv_vectored_once(bufs)
                })
            }

            /// Gather write (`sendmsg` with `MSG_NOSIGNAL`) under the write deadline.
            pub fn write_vectored(&self, bufs: &[std::io::IoSlice<'_>]) -> iox::Result<usize> {
                crate::deadline::run(&self.sock.deadlines.write, || {
                    self.sock.send_vectored_once(bufs)
                })
            }

            /// Reads without consuming (`MSG_PEEK`), under the read deadline.
            pub fn peek(&self, buf: &mut [u8]) -> iox::Result<usize> {
                crate::deadline::run(&self.sock.deadlines.read, || {
                    self.sock.recv_once(buf, libc::MSG_PEEK)
                })
            }

            /// The underlying socket.
            pub fn socket(&self) -> &crate::NetSocket {
                &self.sock
            }

            /// Closes the connection and reports the kernel's answer.
            pub fn close(self) -> iox::Result<()> {
                self.sock.close()
            }
        }

        impl std::io::Read for &$t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                $t::read(self, buf).map_err(std::io::Error::from)
            }
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                $t::read_vectored(self, bufs).map_err(std::io::Error::from)
            }
        }

        impl std::io::Write for &$t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                $t::write(self, buf).map_err(std::io::Error::from)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                $t::write_vectored(self, bufs).map_err(std::io::Error::from)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                $t::read(self, buf).map_err(std::io::Error::from)
            }
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                $t::read_vectored(self, bufs).map_err(std::io::Error::from)
            }
        }

        impl std::io::Write for $t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                $t::write(self, buf).map_err(std::io::Error::from)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                $t::write_vectored(self, bufs).map_err(std::io::Error::from)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        crate::stream::fd_traits!($t);
    };
}

/// The descriptor traits, and `Deref` to the socket, for a type with a `sock: NetSocket`
/// field.
macro_rules! fd_traits {
    ($t:ident $(, $f:ident: $e:expr)*) => {
        impl std::ops::Deref for $t {
            type Target = crate::NetSocket;
            fn deref(&self) -> &crate::NetSocket {
                &self.sock
            }
        }

        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(&self.sock)
            }
        }

        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.sock)
            }
        }

        impl std::os::fd::IntoRawFd for $t {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(self.sock)
            }
        }

        impl From<$t> for std::os::fd::OwnedFd {
            fn from(s: $t) -> std::os::fd::OwnedFd {
                s.sock.into()
            }
        }

        impl TryFrom<std::os::fd::OwnedFd> for $t {
            type Error = iox::Error;
            /// Wraps a socket descriptor from elsewhere: it is made non-blocking, and its
            /// domain, type and protocol are read back.
            fn try_from(fd: std::os::fd::OwnedFd) -> iox::Result<$t> {
                Ok($t { sock: crate::NetSocket::from_owned(fd)? $(, $f: $e)* })
            }
        }
    };
}

pub(crate) use connected_io;
pub(crate) use fd_traits;
