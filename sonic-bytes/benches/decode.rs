//! Decoding a stream of length-prefixed messages (4-byte length, then the payload) of 64 B,
//! 1 KiB and 16 KiB, fed in 4 KiB reads through a 64 KiB buffer, so messages straddle the
//! end of the buffer all the time. In one run: ByteBuffer (compacts by copying),
//! MirroredBuffer (no copy: the wrap is invisible), BipBuffer and bbqueue (copy a straddling
//! message to a scratch buffer), VecDeque (the same through `as_slices`). Ratios (peer /
//! mirrored) are printed and appended to `target/bench-summary/sonic-bytes.jsonl`.

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("the sonic-bytes benchmarks run on Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::VecDeque;
    use std::hint::black_box;

    use criterion::{Criterion, Throughput};
    use sonic_bytes::{BipBuffer, ByteBuffer, Fifo, MirroredBuffer};

    const CAP: usize = 64 * 1024;
    const CHUNK: usize = 4096;
    const STREAM: usize = 1 << 20;

    fn stream(size: usize) -> Vec<u8> {
        let mut s = Vec::with_capacity(STREAM + size + 4);
        let mut i = 0u8;
        while s.len() < STREAM {
            s.extend_from_slice(&(size as u32).to_le_bytes());
            s.extend((0..size).map(|k| i.wrapping_add(k as u8)));
            i = i.wrapping_add(1);
        }
        s
    }

    /// The length of the message at the front of `d` with its prefix, if it is all there.
    fn whole(d: &[u8]) -> Option<usize> {
        let len = u32::from_le_bytes(d.get(..4)?.try_into().ok()?) as usize;
        (d.len() >= 4 + len).then_some(4 + len)
    }

    fn digest(msg: &[u8]) -> u64 {
        u64::from(msg[4]) + u64::from(msg[msg.len() - 1])
    }

    /// Decodes with any buffer whose `data()` is all the content (ByteBuffer, MirroredBuffer).
    fn contiguous<F: Fifo>(b: &mut F, src: &[u8]) -> u64 {
        let mut sum = 0;
        for chunk in src.chunks(CHUNK) {
            let mut off = 0;
            while off < chunk.len() {
                let room = b.claim(chunk.len() - off);
                let n = room.len();
                room.copy_from_slice(&chunk[off..off + n]);
                b.commit(n);
                off += n;
                while let Some(m) = whole(b.data()) {
                    sum += digest(&b.data()[..m]);
                    b.consume(m);
                }
            }
        }
        sum
    }

    fn bip(b: &mut BipBuffer, src: &[u8], scratch: &mut [u8]) -> u64 {
        let mut sum = 0;
        for chunk in src.chunks(CHUNK) {
            let mut off = 0;
            while off < chunk.len() {
                let room = b.claim(chunk.len() - off);
                let n = room.len();
                room.copy_from_slice(&chunk[off..off + n]);
                b.commit(n);
                off += n;
                loop {
                    if let Some(m) = whole(b.head()) {
                        sum += digest(&b.head()[..m]);
                        b.consume(m);
                        continue;
                    }
                    // A message split between region A and region B: copy it out.
                    if !b.wrapped() {
                        break;
                    }
                    let a = b.head().len();
                    let tail = b.tail();
                    if a + tail.len() < 4 {
                        break;
                    }
                    scratch[..a].copy_from_slice(b.head());
                    let head_more = 4usize.saturating_sub(a);
                    scratch[a..a + head_more].copy_from_slice(&tail[..head_more]);
                    let need =
                        4 + u32::from_le_bytes(scratch[..4].try_into().expect("4 bytes")) as usize;
                    if a + tail.len() < need {
                        break;
                    }
                    let more = need - a;
                    scratch[a..need].copy_from_slice(&tail[..more]);
                    sum += digest(&scratch[..need]);
                    b.consume(a);
                    b.consume(more);
                }
            }
        }
        sum
    }

    fn deque(q: &mut VecDeque<u8>, src: &[u8], scratch: &mut [u8]) -> u64 {
        let mut sum = 0;
        for chunk in src.chunks(CHUNK) {
            q.extend(chunk);
            loop {
                let (a, b) = q.as_slices();
                if let Some(m) = whole(a) {
                    sum += digest(&a[..m]);
                    q.drain(..m);
                    continue;
                }
                if q.len() < 4 {
                    break;
                }
                let mut head4 = [0u8; 4];
                for (i, v) in head4.iter_mut().enumerate() {
                    *v = if i < a.len() { a[i] } else { b[i - a.len()] };
                }
                let need = 4 + u32::from_le_bytes(head4) as usize;
                if q.len() < need {
                    break;
                }
                scratch[..a.len()].copy_from_slice(a);
                scratch[a.len()..need].copy_from_slice(&b[..need - a.len()]);
                sum += digest(&scratch[..need]);
                q.drain(..need);
            }
        }
        sum
    }

    fn bbq(
        prod: &mut bbqueue::Producer<'static, CAP>,
        cons: &mut bbqueue::Consumer<'static, CAP>,
        src: &[u8],
        scratch: &mut [u8],
    ) -> u64 {
        let mut sum = 0;
        for chunk in src.chunks(CHUNK) {
            let mut off = 0;
            while off < chunk.len() {
                if let Ok(mut g) = prod.grant_max_remaining(chunk.len() - off) {
                    let n = g.buf().len();
                    g.buf().copy_from_slice(&chunk[off..off + n]);
                    g.commit(n);
                    off += n;
                }
                loop {
                    let Ok(g) = cons.split_read() else { break };
                    let (a, b) = g.bufs();
                    let total = a.len() + b.len();
                    if total < 4 {
                        break;
                    }
                    if let Some(m) = whole(a) {
                        sum += digest(&a[..m]);
                        g.release(m);
                        continue;
                    }
                    let mut head4 = [0u8; 4];
                    for (i, v) in head4.iter_mut().enumerate() {
                        *v = if i < a.len() { a[i] } else { b[i - a.len()] };
                    }
                    let need = 4 + u32::from_le_bytes(head4) as usize;
                    if total < need {
                        break;
                    }
                    scratch[..a.len()].copy_from_slice(a);
                    scratch[a.len()..need].copy_from_slice(&b[..need - a.len()]);
                    sum += digest(&scratch[..need]);
                    g.release(need);
                }
            }
        }
        sum
    }

    pub(crate) fn main() {
        let mut c = Criterion::default().configure_from_args();
        let mut scratch = vec![0u8; CAP];
        // One bbqueue for the whole run (it needs a 'static buffer: leaked once, here).
        let bb_buf: &'static bbqueue::BBBuffer<CAP> = Box::leak(Box::new(bbqueue::BBBuffer::new()));
        let (mut prod, mut cons) = bb_buf.try_split().unwrap();
        for size in [64usize, 1024, 16 * 1024] {
            let src = stream(size);
            let name = format!("decode_{size}b");
            let expect = contiguous(&mut ByteBuffer::with_capacity(CAP), &src);
            let mut g = c.benchmark_group(&name);
            g.throughput(Throughput::Bytes(src.len() as u64));
            let mut bb = ByteBuffer::with_capacity(CAP);
            g.bench_function("byte_buffer", |b| {
                b.iter(|| black_box(contiguous(&mut bb, &src)))
            });
            let mut m = MirroredBuffer::new(CAP).unwrap();
            assert_eq!(contiguous(&mut m, &src), expect);
            g.bench_function("mirrored", |b| {
                b.iter(|| black_box(contiguous(&mut m, &src)))
            });
            let mut bp = BipBuffer::new(CAP);
            assert_eq!(bip(&mut bp, &src, &mut scratch), expect);
            g.bench_function("bip", |b| {
                b.iter(|| black_box(bip(&mut bp, &src, &mut scratch)))
            });
            let mut q = VecDeque::with_capacity(CAP);
            assert_eq!(deque(&mut q, &src, &mut scratch), expect);
            g.bench_function("vecdeque", |b| {
                b.iter(|| black_box(deque(&mut q, &src, &mut scratch)))
            });
            assert_eq!(bbq(&mut prod, &mut cons, &src, &mut scratch), expect);
            g.bench_function("bbqueue", |b| {
                b.iter(|| black_box(bbq(&mut prod, &mut cons, &src, &mut scratch)))
            });
            g.finish();
        }
        c.final_summary();
        for size in [64usize, 1024, 16 * 1024] {
            let name = format!("decode_{size}b");
            for peer in ["byte_buffer", "bip", "vecdeque", "bbqueue"] {
                if testkit::bench::compare("sonic-bytes", &name, "mirrored", peer).is_none() {
                    println!("{name}: no estimates for {peer} (filtered out?)");
                }
            }
        }
    }
}
