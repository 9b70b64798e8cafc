//! A scheduler's rollouts on the wire: the application name, the rollout's record (plan,
//! progress, failure) with the strategy and options it was started with, the operator
//! commands, the event published after every change, and where each lives — the event
//! subject ([`RolloutSubject`]) and the keys of the rollout bucket ([`RolloutKey`]).
//!
//! A scheduler (`lattice-rollout`) writes the record to its bucket and publishes it in a
//! [`RolloutStatusEvent`]; tools of any language read the record from either, and steer a
//! rollout by writing a [`Control`] to its control key. These types were the scheduler's own
//! before; they are the contract's because other programs read and write them, and they
//! follow its rules (see [`record`] for the record's versioning and how records stored
//! without `api_version` read).

pub mod plan;
pub mod record;

pub use plan::{CanaryStep, Gate, OnFailure, Pause, Plan, Removal, RolloutOptions, Step, Strategy};
pub use record::{Control, FailureCode, HostFailures, HostProgress, RolloutFailure, RolloutRecord};

use crate::{
    RolloutSubject,
    cloudevent::{self, Attributes, EventType, ROLLOUT_EVENT_SOURCE},
};
use lattice_spec::{
    ApiVersion, ComponentId, DecodeError, IdError, LatticeName, Revision, WireMessage,
};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::{borrow::Cow, fmt, str::FromStr};

/// The JetStream key-value bucket holding the rollouts of `lattice`:
/// `LATTICE_ROLLOUTS_{lattice}`. Only the scheduler writes it, except the control keys.
///
/// ```
/// assert_eq!(lattice_ctl::rollout::bucket(&"default".parse()?), "LATTICE_ROLLOUTS_default");
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[must_use]
pub fn bucket(lattice: &LatticeName) -> String {
    format!("LATTICE_ROLLOUTS_{lattice}")
}

/// A key of the rollout bucket ([`bucket`]) and what it holds. A JetStream key-value write
/// of key `K` is a message on `$KV.{bucket}.K`, so tools can also watch these subjects.
///
/// ```
/// use lattice_ctl::rollout::RolloutKey;
///
/// let key = RolloutKey::Record("shop".parse()?);
/// assert_eq!(key.to_string(), "apps.shop.rollout");
/// assert_eq!(RolloutKey::Revision("shop".parse()?, lattice_spec::Revision(7)).to_string(),
///            "apps.shop.revisions.00000000000000000007");
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RolloutKey {
    /// `apps.{app}.rollout`: the current or last [`RolloutRecord`], written by the scheduler.
    Record(AppName),
    /// `apps.{app}.control`: the latest [`Control`] (a JSON string such as `"pause"`),
    /// written by operators' tools and read by the scheduler driving the rollout.
    Control(AppName),
    /// `apps.{app}.desired`: `{"revision": N}`, the revision the application should run.
    Desired(AppName),
    /// `apps.{app}.stable`: `{"revision": N}`, the last revision that rolled out.
    Stable(AppName),
    /// `apps.{app}.revisions.{N:020}`: one stored application revision (zero-padded, so
    /// keys sort by revision).
    Revision(AppName, Revision),
}

impl RolloutKey {
    /// The prefix of every stored revision key of `app`: `apps.{app}.revisions.`.
    #[must_use]
    pub fn revisions_of(app: &AppName) -> String {
        format!("apps.{app}.revisions.")
    }
}

impl fmt::Display for RolloutKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Record(app) => write!(f, "apps.{app}.rollout"),
            Self::Control(app) => write!(f, "apps.{app}.control"),
            Self::Desired(app) => write!(f, "apps.{app}.desired"),
            Self::Stable(app) => write!(f, "apps.{app}.stable"),
            Self::Revision(app, revision) => write!(f, "apps.{app}.revisions.{:020}", revision.0),
        }
    }
}

/// The name of an application a scheduler rolls out. It follows the identifier rules of
/// [`ComponentId`] (see [`lattice_spec::id`]): it travels in subjects and key-value keys.
///
/// ```
/// use lattice_ctl::AppName;
///
/// let app: AppName = "shop".parse()?;
/// assert_eq!(app.as_str(), "shop");
/// assert!("shop.eu".parse::<AppName>().is_err());
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppName(String);

impl AppName {
    /// What this identifier is called in error messages.
    pub const WHAT: &'static str = "application name";

    /// Validates `name`.
    ///
    /// # Errors
    ///
    /// [`IdError`] when `name` breaks the identifier rules.
    pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
        let name = name.into();
        match ComponentId::new(name.as_str()) {
            Ok(_) => Ok(Self(name)),
            Err(error) => Err(renamed(error)),
        }
    }

    /// The name as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `error` about an application name rather than a component id.
fn renamed(error: IdError) -> IdError {
    match error {
        IdError::Empty { .. } => IdError::Empty {
            what: AppName::WHAT,
        },
        IdError::TooLong {
            value, len, max, ..
        } => IdError::TooLong {
            what: AppName::WHAT,
            value,
            len,
            max,
        },
        IdError::InvalidChar {
            value, ch, index, ..
        } => IdError::InvalidChar {
            what: AppName::WHAT,
            value,
            ch,
            index,
        },
        other => other,
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AppName {
    type Err = IdError;
    fn from_str(value: &str) -> Result<Self, IdError> {
        Self::new(value)
    }
}

impl TryFrom<String> for AppName {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::new(value)
    }
}

impl From<AppName> for String {
    fn from(name: AppName) -> String {
        name.0
    }
}

impl AsRef<str> for AppName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl JsonSchema for AppName {
    fn schema_name() -> Cow<'static, str> {
        "AppName".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = ComponentId::json_schema(generator);
        schema.insert(
            "description".into(),
            "An application name: the identifier rules of a component id.".into(),
        );
        schema
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for AppName {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(
            <ComponentId as arbitrary::Arbitrary<'a>>::arbitrary(u)?.into_string(),
        ))
    }
}

/// A rollout changed: published by the scheduler after every change it stores, with the
/// rollout's record whole (the store stays the source of truth; a subscriber that missed
/// events reads it there).
///
/// `R` is the record: [`RolloutRecord`] by default; a tool that only routes events can read
/// the record as `serde_json::Value`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct RolloutStatusEvent<R = RolloutRecord> {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// The lattice.
    pub lattice: LatticeName,
    /// The application rolled out.
    pub app: AppName,
    /// When the rollout changed, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The rollout as the scheduler stored it.
    pub rollout: R,
}

impl<R> RolloutStatusEvent<R> {
    /// The change of `app`'s rollout at `timestamp_ms`, with its record.
    ///
    /// ```
    /// use lattice_ctl::RolloutStatusEvent;
    /// use lattice_spec::WireMessage;
    /// use serde_json::json;
    ///
    /// let event = RolloutStatusEvent::new("default".parse()?, "shop".parse()?, 1_763_900_000_000,
    ///     json!({"state": "progressing", "next_step": 1}));
    /// assert_eq!(event.subject().to_string(), "wasmbus.status.v2alpha1.default.rollout.shop");
    /// let bytes = event.encode()?;
    /// let text = String::from_utf8(bytes.to_vec())?;
    /// assert!(text.contains(r#""type":"dev.lattice.v2alpha1.rollout_status""#));
    /// let back = RolloutStatusEvent::<serde_json::Value>::decode(&bytes)?;
    /// assert_eq!(back.rollout["state"], "progressing");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(lattice: LatticeName, app: AppName, timestamp_ms: u64, rollout: R) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            lattice,
            app,
            timestamp_ms,
            rollout,
        }
    }

    /// The subject the event is published on.
    #[must_use]
    pub fn subject(&self) -> RolloutSubject {
        RolloutSubject::new(self.lattice.clone(), self.app.clone())
    }
}

impl<R: Serialize + DeserializeOwned> WireMessage for RolloutStatusEvent<R> {
    const NAME: &'static str = "RolloutStatusEvent";

    /// Reads the event from its CloudEvent, checking the `type` and `data` versions.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        cloudevent::decode(Self::NAME, EventType::RolloutStatus, bytes)
    }

    /// Writes the event as a CloudEvent. Its `id` is `{lattice}.{app}.{timestamp_ms}.{hash}`
    /// where the hash (FNV-1a) covers the whole record: a scheduler keeps no event counter
    /// that survives its restart, and two different records never share an id.
    fn encode(&self) -> Result<bytes::Bytes, serde_json::Error> {
        let data = serde_json::to_vec(self)?;
        let attributes = Attributes {
            id: format!(
                "{}.{}.{}.{:016x}",
                self.lattice,
                self.app,
                self.timestamp_ms,
                cloudevent::fnv1a(&data)
            ),
            source: ROLLOUT_EVENT_SOURCE,
            subject: self.app.as_str(),
            timestamp_ms: self.timestamp_ms,
        };
        cloudevent::encode(EventType::RolloutStatus, &attributes, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_name_follows_the_identifier_rules_and_says_what_it_is() {
        assert_eq!(AppName::new("shop-eu_1").unwrap().as_str(), "shop-eu_1");
        for bad in ["", "-shop", "shop.eu", "shop*", &"a".repeat(129)] {
            let err = AppName::new(bad).unwrap_err();
            assert!(err.to_string().contains("application name"), "{err}");
        }
        let decoded: AppName = serde_json::from_str(r#""shop""#).unwrap();
        assert_eq!(decoded, "shop".parse().unwrap());
        assert!(serde_json::from_str::<AppName>(r#""shop.eu""#).is_err());
    }

    #[test]
    fn the_id_differs_for_different_records_at_the_same_millisecond() {
        let at = |state: &str| {
            RolloutStatusEvent::new(
                "default".parse().unwrap(),
                "shop".parse().unwrap(),
                7,
                serde_json::json!({ "state": state }),
            )
        };
        let header = |event: &RolloutStatusEvent<serde_json::Value>| {
            crate::EventHeader::decode(&event.encode().unwrap()).unwrap()
        };
        let (a, b) = (header(&at("progressing")), header(&at("paused")));
        assert_ne!(a.id, b.id);
        assert!(a.id.starts_with("default.shop.7."), "{}", a.id);
        assert_eq!(a.source, ROLLOUT_EVENT_SOURCE);
        assert_eq!(a.subject.as_deref(), Some("shop"));
        assert_eq!(header(&at("progressing")).id, a.id, "deterministic");
    }
}
