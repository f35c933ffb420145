//! A writer of the kernel's initramfs format: a `newc` cpio archive (`070701` headers of
//! thirteen 8-digit hex fields, names and data padded to 4 bytes, a `TRAILER!!!` entry).
//! Uncompressed: the kernel unpacks it as it is, and qemu loads it into guest memory.
//!
//! See the kernel's `Documentation/driver-api/early-userspace/buffer-format.rst`.

use std::collections::BTreeSet;
use std::io::Write;

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// An archive being written to `W`; parent directories are added once, before their
/// first entry.
pub(crate) struct Cpio<W: Write> {
    out: W,
    written: u64,
    ino: u32,
    dirs: BTreeSet<String>,
}

impl<W: Write> Cpio<W> {
    pub(crate) fn new(out: W) -> Cpio<W> {
        Cpio {
            out,
            written: 0,
            ino: 0,
            dirs: BTreeSet::new(),
        }
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.out.write_all(&[0u8; 3][..n])?;
        self.written += n as u64;
        Ok(())
    }

    fn entry(&mut self, path: &str, mode: u32, data: &[u8]) -> std::io::Result<()> {
        let name = path.trim_start_matches('/');
        self.ino += 1;
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let size = u32::try_from(data.len()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{path}: a newc entry holds at most 4 GiB"),
            )
        })?;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            nlink,
            0,
            size,
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.written += header.len() as u64 + name.len() as u64 + 1;
        self.pad()?;
        self.out.write_all(data)?;
        self.written += data.len() as u64;
        self.pad()
    }

    fn parents(&mut self, path: &str) -> std::io::Result<()> {
        let name = path.trim_start_matches('/');
        let mut at = 0;
        while let Some(i) = name[at..].find('/') {
            let dir = &name[..at + i];
            if self.dirs.insert(dir.to_owned()) {
                self.entry(dir, S_IFDIR | 0o755, &[])?;
            }
            at += i + 1;
        }
        Ok(())
    }

    /// A directory (and its parents).
    pub(crate) fn dir(&mut self, path: &str) -> std::io::Result<()> {
        self.parents(path)?;
        let name = path.trim_start_matches('/').trim_end_matches('/');
        if self.dirs.insert(name.to_owned()) {
            self.entry(name, S_IFDIR | 0o755, &[])?;
        }
        Ok(())
    }

    /// A regular file with permission bits `perm` (`0o755`, `0o644`).
    pub(crate) fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> std::io::Result<()> {
        self.parents(path)?;
        self.entry(path, S_IFREG | (perm & 0o7777), data)
    }

    /// A symbolic link at `path` pointing to `target`.
    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> std::io::Result<()> {
        self.parents(path)?;
        self.entry(path, S_IFLNK | 0o777, target.as_bytes())
    }

    /// Writes the trailer and hands back the writer and the archive's size in bytes.
    pub(crate) fn finish(mut self) -> std::io::Result<(W, u64)> {
        self.entry("TRAILER!!!", 0, &[])?;
        self.out.flush()?;
        Ok((self.out, self.written))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(h: &[u8], i: usize) -> u32 {
        let s = std::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).unwrap();
        u32::from_str_radix(s, 16).unwrap()
    }

    #[test]
    fn newc_entries_are_aligned_and_parents_come_first() {
        let mut c = Cpio::new(Vec::new());
        c.file("/a/b/init", 0o755, b"#!/bin/sh\n").unwrap();
        c.symlink("/a/sh", "busybox").unwrap();
        let (bytes, n) = c.finish().unwrap();
        assert_eq!(bytes.len() as u64, n);
        assert_eq!(n % 4, 0);
        // The first entry is the directory "a", then "a/b", then the file.
        assert_eq!(&bytes[..6], b"070701");
        assert_eq!(field(&bytes, 1), S_IFDIR | 0o755);
        assert_eq!(field(&bytes, 11), 2, "name size counts the NUL");
        assert_eq!(&bytes[110..111], b"a");
        let names: Vec<&str> = ["a/b\0", "a/b/init\0", "a/sh\0", "TRAILER!!!\0"]
            .into_iter()
            .collect();
        let mut at = 0;
        for n in names {
            let i = bytes[at..]
                .windows(n.len())
                .position(|w| w == n.as_bytes())
                .unwrap_or_else(|| panic!("{n:?} missing"));
            at += i + n.len();
        }
        let file_at = bytes.windows(9).position(|w| w == b"a/b/init\0").unwrap() - 110;
        assert_eq!(field(&bytes[file_at..], 6), 10, "file size");
        assert_eq!(field(&bytes[file_at..], 1), S_IFREG | 0o755);
        let data_at = (file_at + 110 + 9).next_multiple_of(4);
        assert_eq!(&bytes[data_at..data_at + 10], b"#!/bin/sh\n");
    }

    #[test]
    fn a_directory_is_written_once() {
        let mut c = Cpio::new(Vec::new());
        c.dir("/proc").unwrap();
        c.dir("/proc").unwrap();
        c.file("/proc/x", 0o644, b"").unwrap();
        let (bytes, _) = c.finish().unwrap();
        let count = bytes.windows(5).filter(|w| w == b"proc\0").count();
        assert_eq!(count, 1);
    }
}
