//! The bounded tail of an output stream: the last `limit` bytes a job
//! wrote, however much it wrote.
//!
//! Memory is fixed at `limit` bytes once full (a ring buffer), so a job
//! writing gigabytes costs the daemon nothing more than a job writing
//! `limit` bytes. This type owns no I/O; the readers feed it.

/// The last `limit` bytes of a stream, and whether anything was dropped.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    /// Grows to `limit` bytes, then is used as a ring starting at `head`.
    buf: Vec<u8>,
    limit: usize,
    /// Index of the oldest byte once `buf` is full; 0 before.
    head: usize,
    dropped: bool,
}

impl Tail {
    /// An empty tail keeping at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Tail {
            buf: Vec::new(),
            limit,
            head: 0,
            dropped: false,
        }
    }

    /// Appends `data`, forgetting the oldest bytes beyond `limit`.
    pub(crate) fn push(&mut self, mut data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if data.len() >= self.limit {
            self.dropped |= data.len() > self.limit || !self.buf.is_empty();
            self.buf.clear();
            self.buf.extend_from_slice(&data[data.len() - self.limit..]);
            self.head = 0;
            return;
        }
        if self.buf.len() < self.limit {
            let take = (self.limit - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if data.is_empty() {
                return;
            }
        }
        // Full: overwrite the oldest bytes, wrapping around once at most
        // because `data` is shorter than the ring.
        self.dropped = true;
        let first = (self.limit - self.head).min(data.len());
        self.buf[self.head..self.head + first].copy_from_slice(&data[..first]);
        let rest = &data[first..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.head = (self.head + data.len()) % self.limit;
    }

    /// Whether bytes were dropped to stay within the limit.
    pub(crate) fn truncated(&self) -> bool {
        self.dropped
    }

    /// The kept bytes, oldest first.
    fn into_bytes(mut self) -> Vec<u8> {
        self.buf.rotate_left(self.head);
        self.buf
    }

    /// The kept bytes as text. Invalid UTF-8 becomes U+FFFD; when the cut
    /// fell inside a multi-byte character its leftover continuation bytes
    /// are dropped rather than shown as replacement characters.
    pub(crate) fn into_string(self) -> String {
        let dropped = self.dropped;
        let bytes = self.into_bytes();
        let start = if dropped {
            bytes
                .iter()
                .take(3)
                .take_while(|b| (**b & 0b1100_0000) == 0b1000_0000)
                .count()
        } else {
            0
        };
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tail_of(limit: usize, chunks: &[&[u8]]) -> Tail {
        let mut t = Tail::new(limit);
        for c in chunks {
            t.push(c);
        }
        t
    }

    #[test]
    fn keeps_the_last_bytes() {
        let cases: &[(usize, &[&[u8]], &str, bool)] = &[
            (5, &[b"abc"], "abc", false),
            (5, &[b"abc", b"de"], "abcde", false),
            (5, &[b"abc", b"def"], "bcdef", true),
            (5, &[b"abcdefgh"], "defgh", true),
            (5, &[b"abcde"], "abcde", false),
            (5, &[b"x", b"abcde"], "abcde", true),
            (5, &[b"abcd", b"ef", b"gh", b"ijk"], "ghijk", true),
            (0, &[b""], "", false),
            (0, &[b"a"], "", true),
            (3, &[], "", false),
        ];
        for (limit, chunks, want, truncated) in cases {
            let t = tail_of(*limit, chunks);
            assert_eq!(t.truncated(), *truncated, "limit {limit} chunks {chunks:?}");
            assert_eq!(t.into_string(), *want, "limit {limit} chunks {chunks:?}");
        }
    }

    #[test]
    fn a_cut_inside_a_character_drops_its_remains() {
        // "é" is two bytes; a limit of 5 cuts the first kept "é" in half.
        let t = tail_of(5, &["éééé".as_bytes()]);
        assert_eq!(t.into_string(), "éé");
        // "€" is three bytes; keeping 4 of "€€" leaves one stray
        // continuation byte in front.
        let t = tail_of(4, &["€€".as_bytes()]);
        assert_eq!(t.into_string(), "€");
    }

    #[test]
    fn invalid_utf8_that_was_not_cut_is_kept_visible() {
        let t = tail_of(10, &[&[0x80, b'a']]);
        assert_eq!(t.into_string(), "\u{FFFD}a");
    }

    proptest! {
        #[test]
        fn equals_the_suffix_of_everything_written(
            limit in 0usize..64,
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..20),
        ) {
            let mut t = Tail::new(limit);
            let mut all = Vec::new();
            for c in &chunks {
                t.push(c);
                all.extend_from_slice(c);
            }
            let keep = all.len().min(limit);
            prop_assert_eq!(t.truncated(), all.len() > limit);
            prop_assert_eq!(t.into_bytes(), all[all.len() - keep..].to_vec());
        }
    }
}
