//! Decoding messages of types that can nest themselves, with a bound on the nesting.
//!
//! protobuf 2.28 limits recursion to 100 only for singular and repeated message fields; a
//! message inside a `oneof` or as a map value is read by plain recursion (RUSTSEC-2024-0437).
//! `google.protobuf.Struct` nests that way (Value → Struct → map entry → Value), so about a
//! hundred kilobytes of nested Structs overflow the stack of the thread that decodes them, and
//! a stack overflow aborts the whole process. a3grpc-build makes the `METHOD_*` descriptors of
//! every RPC whose request or response type can nest itself decode with [`de_bounded`], which
//! first measures the nesting without recursion and refuses past [`MAX_NESTING`].

use std::io::Read;

use grpcio::MessageReader;
use protobuf::Message;

/// How deep messages may nest: protobuf's own default limit (and C++'s).
pub const MAX_NESTING: usize = 100;

/// Decodes `M` like grpcio's `pb_de`, after checking that no message in it nests deeper than
/// [`MAX_NESTING`]; deeper input is a codec error, which ends the call cleanly (INTERNAL on a
/// server, [`Error::Transport`](crate::Error::Transport) on a client).
pub fn de_bounded<M: Message>(mut reader: MessageReader) -> grpcio::Result<M> {
    let mut bytes = Vec::with_capacity(reader.len());
    reader.read_to_end(&mut bytes).map_err(|e| grpcio::Error::Codec(Box::new(e)))?;
    if nests_deeper_than(&bytes, MAX_NESTING) {
        return Err(grpcio::Error::Codec(
            format!("the message nests deeper than {MAX_NESTING} levels; refused unread").into(),
        ));
    }
    let mut message = M::new();
    message.merge_from_bytes(&bytes)?;
    Ok(message)
}

/// Whether length-delimited fields that read as messages nest more than `limit` deep in
/// `bytes`. Without the schema, any such field that parses as a message counts (a string
/// that happens to parse too only makes the count stricter). Each byte is read by the
/// innermost region holding it, once, so this is linear in the input and needs `limit` frames.
/// Protobuf allows `limit` nested messages, so does this: a string at the deepest level is
/// only refused if it reads as a message.
fn nests_deeper_than(bytes: &[u8], limit: usize) -> bool {
    // Each entry is a region being read as a message: (next byte, end).
    let mut regions: Vec<(usize, usize)> = vec![(0, bytes.len())];
    while let Some(&mut (ref mut at, end)) = regions.last_mut() {
        if *at == end {
            // A whole message: its parent goes on after it.
            regions.pop();
            continue;
        }
        match field(bytes, *at, end) {
            Some(Field::Scalar { next }) => *at = next,
            Some(Field::Delimited { start, next }) => {
                *at = next;
                if regions.len() <= limit {
                    regions.push((start, next));
                } else if is_message(bytes, start, next) {
                    // One level too deep, and a message rather than a string or bytes.
                    return true;
                }
            }
            // Not a message: opaque bytes to its parent, which already stands after them
            // (or the whole input, which protobuf will refuse on its own).
            None => {
                regions.pop();
            }
        }
    }
    false
}

/// Whether `bytes[start..end]` reads as a sequence of fields, without looking into them.
fn is_message(bytes: &[u8], mut at: usize, end: usize) -> bool {
    while at < end {
        match field(bytes, at, end) {
            Some(Field::Scalar { next } | Field::Delimited { next, .. }) => at = next,
            None => return false,
        }
    }
    true
}

enum Field {
    /// A varint, fixed-width value or group tag, ending before `next`.
    Scalar { next: usize },
    /// A length-delimited value from `start` up to `next`.
    Delimited { start: usize, next: usize },
}

/// The field at `at`, if the bytes up to `end` hold one.
fn field(bytes: &[u8], at: usize, end: usize) -> Option<Field> {
    let (tag, at) = varint(bytes, at, end)?;
    if tag >> 3 == 0 {
        return None;
    }
    let next = match tag & 7 {
        0 => varint(bytes, at, end)?.1,
        1 => at + 8,
        2 => {
            let (len, start) = varint(bytes, at, end)?;
            let next = start.checked_add(usize::try_from(len).ok()?)?;
            return (next <= end).then_some(Field::Delimited { start, next });
        }
        // Groups are skipped flat by protobuf 2.28 (a nested group is an error there).
        3 | 4 => at,
        5 => at + 4,
        _ => return None,
    };
    (next <= end).then_some(Field::Scalar { next })
}

fn varint(bytes: &[u8], mut at: usize, end: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *bytes.get(at).filter(|_| at < end)?;
        at += 1;
        value |= u64::from(byte & 0x7f) << shift.min(63);
        if byte & 0x80 == 0 {
            return Some((value, at));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `core` inside `depth` messages, each field 1 of the one around it.
    fn nested_around(core: &[u8], depth: usize) -> Vec<u8> {
        let mut heads = Vec::new();
        let mut len = core.len();
        for _ in 0..depth {
            let mut head = vec![0x0a];
            let mut n = len;
            while n >= 0x80 {
                head.push((n as u8) | 0x80);
                n >>= 7;
            }
            head.push(n as u8);
            len += head.len();
            heads.push(head);
        }
        heads.into_iter().rev().flatten().chain(core.iter().copied()).collect()
    }

    fn nested(depth: usize) -> Vec<u8> {
        nested_around(&[0x10, 0x01], depth)
    }

    #[test]
    fn counts_nesting_up_to_the_limit() {
        assert!(!nests_deeper_than(&nested(100), 100));
        assert!(nests_deeper_than(&nested(101), 100));
        assert!(nests_deeper_than(&nested(100_000), 100));
    }

    #[test]
    fn strings_that_are_not_messages_do_not_count() {
        let mut text = b"\x0a\x05hello".to_vec();
        text.extend(b"\x12\x03\xff\xff\xff");
        assert!(!nests_deeper_than(&text, 0));
        assert!(nests_deeper_than(&nested(1), 0));
    }

    #[test]
    fn a_string_at_the_deepest_level_is_allowed_unless_it_reads_as_a_message() {
        assert!(!nests_deeper_than(&nested_around(b"\x12\x05hello", 100), 100));
        assert!(nests_deeper_than(&nested_around(b"\x12\x02\x10\x01", 100), 100));
    }

    #[test]
    fn truncated_input_is_left_to_protobuf() {
        let mut bytes = nested(3);
        bytes.truncate(bytes.len() - 1);
        assert!(!nests_deeper_than(&bytes, 100));
        assert!(!nests_deeper_than(&[0x0a, 0xff], 100));
    }
}
