//! Reading a YAML document into a JSON value in one pass, noting whether a
//! mapping repeats a key.
//!
//! `serde_json::Value` keeps the last of two equal keys without a word, so
//! the loader used to parse every file a second time with yaml-rust2 to find
//! repeated keys. [`from_str`] builds the same value that
//! `serde_yaml::from_str::<serde_json::Value>` builds (serde_yaml 0.9,
//! serde_json 1.0, without the `arbitrary_precision` and `raw_value`
//! features), with the same errors, and records a repeated key on the way.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::{Map, Value};

/// A parsed document.
#[derive(Debug)]
pub(crate) struct Document {
    pub value: Value,
    /// True when some mapping contains the same key twice. `value` then
    /// contains the last of the two values, as serde_json keeps it.
    pub has_duplicate_key: bool,
}

/// Parses `source` as serde_yaml parses it into a `serde_json::Value`.
pub(crate) fn from_str(source: &str) -> Result<Document, serde_yaml::Error> {
    let mut has_duplicate_key = false;
    let value = serde_yaml::Deserializer::from_str(source).deserialize_any(ValueVisitor {
        has_duplicate_key: &mut has_duplicate_key,
    })?;
    Ok(Document {
        value,
        has_duplicate_key,
    })
}

/// serde_json's value visitor, rebuilt so that it can see repeated keys.
/// Each method returns what serde_json's own visitor returns for the same
/// call, and `expecting` prints the same text, so errors read the same.
struct ValueVisitor<'a> {
    has_duplicate_key: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for ValueVisitor<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<Value, E> {
        serde::Deserialize::deserialize(value.into_deserializer())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<Value, E> {
        serde::Deserialize::deserialize(value.into_deserializer())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut elements = Vec::new();
        while let Some(element) = access.next_element_seed(ValueVisitor {
            has_duplicate_key: &mut *self.has_duplicate_key,
        })? {
            elements.push(element);
        }
        Ok(Value::Array(elements))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        // serde_json reads the first key with a seed that expects "a string
        // key" and the others as `String`, which expects "a string", so a
        // key that is not a string is reported in the same words.
        let Some(first_key) = access.next_key_seed(FirstKey)? else {
            return Ok(Value::Object(object));
        };
        let mut key = first_key;
        loop {
            let value = access.next_value_seed(ValueVisitor {
                has_duplicate_key: &mut *self.has_duplicate_key,
            })?;
            if object.insert(key, value).is_some() {
                *self.has_duplicate_key = true;
            }
            match access.next_key::<String>()? {
                Some(next) => key = next,
                None => break,
            }
        }
        Ok(Value::Object(object))
    }
}

struct FirstKey;

impl<'de> DeserializeSeed<'de> for FirstKey {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for FirstKey {
    type Value = String;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        Ok(key.to_owned())
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<String, E> {
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs that cover every visitor method and the error paths.
    const SOURCES: &[&str] = &[
        "",
        "~\n",
        "a: 1\nb: -2\nc: 1.5\nd: .nan\ne: true\nf: null\ng: 'x'\n",
        "a: 18446744073709551615\nb: 340282366920938463463374607431768211455\n",
        "a: -170141183460469231731687303715884105728\n",
        "a: [1, {b: [c, d]}]\n",
        "a: {}\nb: []\n",
        "? [1, 2]\n: x\n",
        "a: 1\n? [1, 2]\n: x\n",
        "{1: one, true: yes}\n",
        "a: !tag x\n",
        "a: &anchor {b: 1}\nc: *anchor\n",
        "a: [\n",
        "- a\n- b\n",
    ];

    #[test]
    fn from_str_matches_serde_yaml() {
        for source in SOURCES {
            let expected = serde_yaml::from_str::<Value>(source).map_err(|error| error.to_string());
            let actual = from_str(source)
                .map(|document| document.value)
                .map_err(|error| error.to_string());
            assert_eq!(actual, expected, "source {source:?}");
        }
    }

    #[test]
    fn from_str_flags_duplicate_keys() {
        // (source, whether some mapping repeats a key)
        let cases = [
            ("a: 1\nb: 2\n", false),
            ("a: 1\na: 2\n", true),
            ("a: {x: 1}\nb: {x: 1}\n", false),
            ("a: {x: 1, x: 2}\n", true),
            ("a:\n  - x: 1\n  - x: 1\n", false),
            ("a:\n  - x: 1\n    x: 2\n", true),
            ("a: 1\n'a': 2\n", true),
        ];
        for (source, expected) in cases {
            let document = from_str(source).expect("valid YAML");
            assert_eq!(document.has_duplicate_key, expected, "source {source:?}");
        }
    }

    #[test]
    fn duplicate_key_keeps_last_value() {
        let document = from_str("a: 1\na: 2\n").expect("valid YAML");
        assert_eq!(document.value, serde_json::json!({"a": 2}));
    }
}
