//! Random bytes onto a protocol's alphabet, so that the fuzzer spells whole commands and reaches
//! the deep states of a session (after login, inside a transaction) instead of stopping at the
//! first unknown verb.

/// The client's bytes from the fuzzer's: when the first byte is odd, every later byte of 0x80 or
/// more stands for one of `tokens` and the others are kept; when it is even, all bytes are kept as
/// they are (raw mode, for everything the tokens cannot say).
pub fn spell(data: &[u8], tokens: &[&[u8]]) -> Vec<u8> {
    let Some((&mode, rest)) = data.split_first() else {
        return Vec::new();
    };
    if mode & 1 == 0 || tokens.is_empty() {
        return rest.to_vec();
    }
    let mut out = Vec::with_capacity(rest.len() * 4);
    for &b in rest {
        if b < 0x80 {
            out.push(b);
        } else {
            out.extend_from_slice(tokens[usize::from(b - 0x80) % tokens.len()]);
        }
    }
    out
}

/// How many bytes each read hands over: the network splits a client's writes anywhere.
pub fn chunk_size(selector: u8) -> usize {
    match selector % 4 {
        0 => usize::MAX,
        1 => 1,
        2 => 7,
        _ => 64,
    }
}
