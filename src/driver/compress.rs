//! COMPRESS=DEFLATE (RFC 4978) on a connection: raw deflate (RFC 1951, no zlib header) both
//! ways, by flate2. Output is flushed with a sync flush at each [`Deflate::deflate`] `sync`, so
//! the client can decode every response as it arrives; input is inflated in bounded chunks, so a
//! small compressed burst cannot make a large buffer at once.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Most compressed input kept waiting to be inflated.
const MAX_PENDING: usize = 1024 * 1024;

/// The deflate state of one compressed connection.
pub struct Deflate {
    out: Compress,
    inp: Decompress,
    /// Compressed input not inflated yet.
    pending: Vec<u8>,
}

impl Default for Deflate {
    fn default() -> Self {
        Deflate::new()
    }
}

impl Deflate {
    /// A fresh pair of streams.
    pub fn new() -> Deflate {
        Deflate {
            out: Compress::new(Compression::default(), false),
            inp: Decompress::new(false),
            pending: Vec::new(),
        }
    }

    /// Compresses `data`; with `sync`, ends with a sync flush (everything so far decodable).
    pub fn deflate(&mut self, data: &[u8], sync: bool) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut rest = data;
        let flush = if sync {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let before_in = self.out.total_in();
            let before_out = self.out.total_out();
            self.out
                .compress_vec(rest, &mut out, flush)
                .map_err(std::io::Error::other)?;
            let used = usize::try_from(self.out.total_in() - before_in).unwrap_or(rest.len());
            rest = rest.get(used..).unwrap_or_default();
            let produced = self.out.total_out() - before_out;
            // Done when all input is taken and the flush had room to finish.
            if rest.is_empty() && (out.len() < out.capacity() || produced == 0) {
                return Ok(out);
            }
        }
    }

    /// Adds compressed bytes from the client; `Err` when too much waits already.
    pub fn feed(&mut self, raw: &[u8]) -> std::io::Result<()> {
        if self.pending.len() + raw.len() > MAX_PENDING {
            return Err(std::io::Error::other("too much compressed input waiting"));
        }
        self.pending.extend_from_slice(raw);
        Ok(())
    }

    /// Inflates waiting input, at most `max` bytes of it; empty when more input is needed.
    pub fn inflate(&mut self, max: usize) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(max.min(64 * 1024));
        while out.len() < max && !self.pending.is_empty() {
            if out.capacity() == out.len() {
                out.reserve((max - out.len()).min(64 * 1024));
            }
            let before_in = self.inp.total_in();
            let before_out = self.inp.total_out();
            let status = self
                .inp
                .decompress_vec(&self.pending, &mut out, FlushDecompress::None)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let used = usize::try_from(self.inp.total_in() - before_in).unwrap_or(0);
            self.pending.drain(..used.min(self.pending.len()));
            let produced = self.inp.total_out() - before_out;
            if status == Status::StreamEnd {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the client ended its deflate stream",
                ));
            }
            if used == 0 && produced == 0 {
                break; // a partial block: wait for more input
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    #[test]
    fn both_directions_round_trip_in_pieces() {
        let mut server = Deflate::new();
        let mut client = Deflate::new();
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for msg in [&b"* OK hello\r\n"[..], &big, b"a OK done\r\n"] {
            let wire = server.deflate(msg, true).unwrap();
            // Fed in small pieces, read out in bounded chunks.
            let mut got = Vec::new();
            for piece in wire.chunks(1000) {
                client.feed(piece).unwrap();
                loop {
                    let out = client.inflate(4096).unwrap();
                    if out.is_empty() {
                        break;
                    }
                    assert!(out.len() <= 4096);
                    got.extend(out);
                }
            }
            assert_eq!(got, msg);
        }
    }

    #[test]
    fn garbage_is_an_error_and_a_bomb_comes_out_in_bounded_chunks() {
        let mut d = Deflate::new();
        d.feed(b"\xff\xff\xff\xff not deflate").unwrap();
        assert!(d.inflate(1024).is_err());
        let mut server = Deflate::new();
        let zeros = vec![0u8; 10 * 1024 * 1024];
        let wire = server.deflate(&zeros, true).unwrap();
        assert!(wire.len() < 100_000, "{}", wire.len());
        let mut client = Deflate::new();
        client.feed(&wire).unwrap();
        let first = client.inflate(64 * 1024).unwrap();
        assert!(!first.is_empty() && first.len() <= 64 * 1024);
    }
}
