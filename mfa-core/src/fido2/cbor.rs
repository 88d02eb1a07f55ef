//! The few CBOR operations the verifier needs, on top of ciborium.
//!
//! Authenticator output is attacker-influenced input: nesting is capped, maps are small and
//! must not repeat a key, and every decoder reports how much it consumed so callers can
//! refuse trailing bytes.

use ciborium::value::{Integer, Value};

/// Deepest nesting accepted; CTAP2 structures need 4 levels at most (extensions can nest a
/// little), the cap only keeps a hostile input from recursing deeply.
const MAX_DEPTH: usize = 16;

/// Most entries accepted in a map we interpret (COSE keys have 4 or 5, attestation maps 3).
pub(crate) const MAX_MAP_ENTRIES: usize = 16;

/// Decodes the CBOR item at the start of `input` and returns it with the bytes after it.
pub(crate) fn decode_prefix(input: &[u8]) -> Result<(Value, &[u8]), String> {
    let mut rest = input;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_DEPTH)
        .map_err(|e| format!("invalid CBOR: {e}"))?;
    Ok((value, rest))
}

/// Decodes `input` as exactly one CBOR item (no trailing bytes).
pub(crate) fn decode_exact(input: &[u8]) -> Result<Value, String> {
    let (value, rest) = decode_prefix(input)?;
    if !rest.is_empty() {
        return Err(format!(
            "{} trailing byte(s) after the CBOR item",
            rest.len()
        ));
    }
    Ok(value)
}

/// Encodes a value (infallible for values we build: writing to a Vec cannot fail).
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Serialising a Value into a Vec has no failure mode (no I/O, no unsupported types).
    ciborium::ser::into_writer(value, &mut out).expect("CBOR encoding into a Vec");
    out
}

/// The entries of a map with at most [`MAX_MAP_ENTRIES`] entries and no repeated key.
pub(crate) fn small_map(value: Value, what: &str) -> Result<Vec<(Value, Value)>, String> {
    let Value::Map(entries) = value else {
        return Err(format!("{what} is not a CBOR map"));
    };
    if entries.len() > MAX_MAP_ENTRIES {
        return Err(format!("{what} has {} entries, too many", entries.len()));
    }
    for (i, (key, _)) in entries.iter().enumerate() {
        if entries[..i].iter().any(|(k, _)| k == key) {
            return Err(format!("{what} repeats a key"));
        }
    }
    Ok(entries)
}

/// Removes and returns the value stored under the integer key `key`.
pub(crate) fn take_int_key(entries: &mut Vec<(Value, Value)>, key: i64) -> Option<Value> {
    let pos = entries
        .iter()
        .position(|(k, _)| as_int(k) == Some(i128::from(key)))?;
    Some(entries.swap_remove(pos).1)
}

/// Removes and returns the value stored under the text key `key`.
pub(crate) fn take_text_key(entries: &mut Vec<(Value, Value)>, key: &str) -> Option<Value> {
    let pos = entries
        .iter()
        .position(|(k, _)| matches!(k, Value::Text(t) if t == key))?;
    Some(entries.swap_remove(pos).1)
}

/// The value of an integer item.
pub(crate) fn as_int(value: &Value) -> Option<i128> {
    match value {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

/// An integer item that fits in an `i64`.
pub(crate) fn int_i64(value: &Value) -> Option<i64> {
    as_int(value).and_then(|i| i64::try_from(i).ok())
}

/// A CBOR integer for `n`.
pub(crate) fn int(n: i64) -> Value {
    Value::Integer(Integer::from(n))
}

/// A short description of a key for error messages (integers and short text only).
pub(crate) fn describe_key(key: &Value) -> String {
    match key {
        Value::Integer(i) => i128::from(*i).to_string(),
        Value::Text(t) if t.len() <= 32 => format!("{t:?}"),
        _ => "a non-integer key".to_owned(),
    }
}
