//! The handle types: `Copy` names of objects an `Io` owns.

/// Defines a handle type over a sealed socket bound, with the methods every handle has.
macro_rules! handle {
    ($(#[$m:meta])* $name:ident < $p:ident : $bound:path >) => {
        $(#[$m])*
        pub struct $name<$p> {
            pub(crate) key: $crate::op::Key,
            _p: ::std::marker::PhantomData<fn() -> $p>,
        }

        impl<$p> Clone for $name<$p> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<$p> Copy for $name<$p> {}
        impl<$p> PartialEq for $name<$p> {
            fn eq(&self, o: &Self) -> bool {
                self.key == o.key
            }
        }
        impl<$p> Eq for $name<$p> {}
        impl<$p> ::std::hash::Hash for $name<$p> {
            fn hash<H: ::std::hash::Hasher>(&self, h: &mut H) {
                self.key.hash(h)
            }
        }
        impl<$p> ::std::fmt::Debug for $name<$p> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({}#{})", stringify!($name), self.key.idx, self.key.generation)
            }
        }

        impl<$p: $bound> $name<$p> {
            #[allow(dead_code)]
            pub(crate) fn from_key(key: $crate::op::Key) -> Self {
                $name { key, _p: ::std::marker::PhantomData }
            }

            /// Gives `sock` to `io` and registers it (one `epoll_ctl` for its lifetime). Its
            /// sock-level deadlines are ignored from now on: the Io never blocks.
            pub fn add(io: &mut $crate::Io, sock: $p) -> iox::Result<Self> {
                use $crate::object::private::Sealed;
                let key = io.insert(sock.into_owned(), <$p as Sealed>::CLASS)?;
                Ok(Self::from_key(key))
            }

            /// Lends the socket, for options and addresses.
            pub fn get(self, io: &$crate::Io) -> iox::Result<&$p> {
                use $crate::object::private::Sealed;
                <$p as Sealed>::borrow(io.object(self.key)?.owned()).ok_or(iox::Error::CLOSED)
            }

            /// `true` while the handle names a live object of `io`.
            pub fn is_open(self, io: &$crate::Io) -> bool {
                io.object(self.key).is_ok()
            }

            /// Completes every pending operation with `Cancelled`; returns how many. On
            /// io_uring, an operation whose receive or send in the kernel completed before
            /// the cancel took it back is delivered its real result instead, once, and is
            /// not counted: `0` then means nothing was cancelled, as on epoll, where those
            /// bytes would still be in the socket.
            pub fn cancel(self, io: &mut $crate::Io) -> iox::Result<usize> {
                io.cancel_ops(self.key, true, true)
            }

            /// Cancels the pending read, if any; 1 if it completed with `Cancelled` (see
            /// [`cancel`](Self::cancel)).
            pub fn cancel_read(self, io: &mut $crate::Io) -> iox::Result<usize> {
                io.cancel_ops(self.key, true, false)
            }

            /// Cancels the pending write, if any; 1 if it completed with `Cancelled` (see
            /// [`cancel`](Self::cancel)).
            pub fn cancel_write(self, io: &mut $crate::Io) -> iox::Result<usize> {
                io.cancel_ops(self.key, false, true)
            }

            /// Closes the object: each pending operation completes once with `Cancelled`
            /// (after the handle is already stale), the descriptor is closed and `close(2)`'s
            /// result returned. The handle, and copies of it, give `Closed` afterwards, even
            /// when the descriptor number is reused.
            pub fn close(self, io: &mut $crate::Io) -> iox::Result<()> {
                io.remove_object(self.key, false)?.close()
            }

            /// Like [`close`](Self::close) but hands the socket back, deregistered.
            ///
            /// A stream read may have taken up to 16 bytes past the reader's buffer from
            /// the kernel (the read-ahead that spares a syscall per message); while any are
            /// held, `take` refuses with `InvalidInput` and leaves the object in place: read
            /// them first (a read returns them without a syscall), or take them with the
            /// socket (`Stream::take_with_read_ahead`). A read error held for the next read
            /// is returned the same way. Never the case for listeners, packet sockets and
            /// files.
            pub fn take(self, io: &mut $crate::Io) -> iox::Result<$p> {
                use $crate::object::private::Sealed;
                io.object(self.key)?.check_take()?;
                let owned = io.remove_object(self.key, true)?;
                <$p as Sealed>::from_owned(owned).map_err(|_| iox::Error::CLOSED)
            }
        }
    };
}

pub(crate) use handle;

/// Generates the byte operations on a handle type whose objects read and write bytes.
macro_rules! byte_ops {
    ($name:ident < $p:ident : $bound:path >) => {
        impl<$p: $bound> $name<$p> {
            /// Reads once into `buf` (up to its length). The callback gets the count
            /// (`Ok(0)`: end of stream) and the buffer back. Tries at once; completes
            /// inline when the data is there (within the dispatch-depth limit).
            pub fn async_read<B, F>(
                self,
                io: &mut $crate::Io,
                buf: B,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: $crate::IoBufMut,
                F: FnOnce(&mut $crate::Io, iox::Result<usize>, B) + 'static,
            {
                let op = $crate::ops::ReadOp::new(
                    buf,
                    move |io: &mut $crate::Io,
                          r: ::std::result::Result<usize, $crate::Partial>,
                          b| { f(io, r.map_err(|p| p.error), b) },
                    false,
                );
                io.submit(self.key, $crate::op::Dir::Read, op)
            }

            /// Reads until `buf` is full. End of stream first is `UnexpectedEof`, with the
            /// count received in [`Partial::done`]($crate::Partial).
            pub fn async_read_exact<B, F>(
                self,
                io: &mut $crate::Io,
                buf: B,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: $crate::IoBufMut,
                F: FnOnce(&mut $crate::Io, ::std::result::Result<usize, $crate::Partial>, B)
                    + 'static,
            {
                io.submit(
                    self.key,
                    $crate::op::Dir::Read,
                    $crate::ops::ReadOp::new(buf, f, true),
                )
            }

            /// Writes once from `buf`; the callback gets the count sent (maybe short).
            pub fn async_write<B, F>(
                self,
                io: &mut $crate::Io,
                buf: B,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: $crate::IoBuf,
                F: FnOnce(&mut $crate::Io, iox::Result<usize>, B) + 'static,
            {
                let op = $crate::ops::WriteOp::new(
                    buf,
                    move |io: &mut $crate::Io,
                          r: ::std::result::Result<usize, $crate::Partial>,
                          b| { f(io, r.map_err(|p| p.error), b) },
                    false,
                );
                io.submit(self.key, $crate::op::Dir::Write, op)
            }

            /// Writes all of `buf`, continuing after partial progress; a failure reports
            /// how much went in [`Partial::done`]($crate::Partial).
            pub fn async_write_all<B, F>(
                self,
                io: &mut $crate::Io,
                buf: B,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: $crate::IoBuf,
                F: FnOnce(&mut $crate::Io, ::std::result::Result<usize, $crate::Partial>, B)
                    + 'static,
            {
                io.submit(
                    self.key,
                    $crate::op::Dir::Write,
                    $crate::ops::WriteOp::new(buf, f, true),
                )
            }

            /// Reads once into the free space of a `sonic-bytes` FIFO (at most `max` bytes),
            /// committing what arrived: no copy. A FIFO with no room fails with
            /// `NoBufferSpace` (never `Ok(0)`, which means end of stream).
            pub fn async_read_into<B, F>(
                self,
                io: &mut $crate::Io,
                fifo: B,
                max: usize,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: sonic_bytes::Fifo + 'static,
                F: FnOnce(&mut $crate::Io, iox::Result<usize>, B) + 'static,
            {
                let op = $crate::ops::ReadIntoOp {
                    fifo,
                    f,
                    max,
                    res: None,
                };
                io.submit(self.key, $crate::op::Dir::Read, op)
            }

            /// Writes a FIFO's data until it is empty, consuming what went.
            pub fn async_write_from<B, F>(
                self,
                io: &mut $crate::Io,
                fifo: B,
                f: F,
            ) -> ::std::result::Result<(), $crate::Rejected<B>>
            where
                B: sonic_bytes::Fifo + 'static,
                F: FnOnce(&mut $crate::Io, ::std::result::Result<usize, $crate::Partial>, B)
                    + 'static,
            {
                let op = $crate::ops::WriteFromOp {
                    fifo,
                    f,
                    done: 0,
                    res: None,
                };
                io.submit(self.key, $crate::op::Dir::Write, op)
            }

            /// Redirects the armed read (which must target a [`Region`]($crate::Region) and
            /// have received nothing yet) to `region`: the seed's `SetAsyncReadBuffer`.
            pub fn retarget_read(
                self,
                io: &mut $crate::Io,
                region: $crate::Region,
            ) -> iox::Result<()> {
                io.retarget_read(self.key, region)
            }

            /// One non-blocking read, outside the async machinery (`WouldBlock` when no
            /// data); refused while an async read is pending.
            pub fn read(self, io: &mut $crate::Io, buf: &mut [u8]) -> iox::Result<usize> {
                io.sync_recv(self.key, buf)
            }

            /// One non-blocking write; refused while an async write is pending.
            pub fn write(self, io: &mut $crate::Io, buf: &[u8]) -> iox::Result<usize> {
                io.sync_io(self.key, $crate::op::Dir::Write, |o| o.send(buf))
            }
        }
    };
}

pub(crate) use byte_ops;
