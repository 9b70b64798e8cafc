//! `arbitrary::Arbitrary` for the spec types, always producing *valid* values, so property
//! tests and fuzz targets exercise the encoders and decoders rather than the validator.

use crate::{
    ComponentSpec, ConfigName, ConfigSpec, LinkKey, LinkName, LinkSpec, LinkTargetKind, ProviderId,
    SecretRef, WorkloadId,
};
use arbitrary::{Arbitrary, Result, Unstructured};
use std::collections::{BTreeMap, BTreeSet};

fn wit_name(u: &mut Unstructured<'_>) -> Result<String> {
    const WORDS: &[&str] = &[
        "wasi",
        "http",
        "keyvalue",
        "store",
        "atomics",
        "incoming-handler",
        "blobstore",
        "acme",
        "logging",
        "x2",
    ];
    let words = u.int_in_range(1..=2)?;
    let parts: Result<Vec<&str>> = (0..words).map(|_| u.choose(WORDS).copied()).collect();
    Ok(parts?.join("-"))
}

fn text(u: &mut Unstructured<'_>) -> Result<String> {
    let s = String::arbitrary(u)?;
    Ok(if s.trim().is_empty() {
        "x".to_owned()
    } else {
        s
    })
}

fn string_map(u: &mut Unstructured<'_>) -> Result<BTreeMap<String, String>> {
    let len = u.int_in_range(0..=3)?;
    (0..len)
        .map(|_| Ok((text(u)?, String::arbitrary(u)?)))
        .collect()
}

impl<'a> Arbitrary<'a> for ConfigSpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let names: Vec<ConfigName> = (0..u.int_in_range(0..=2)?)
            .map(|_| ConfigName::arbitrary(u))
            .collect::<Result<_>>()?;
        let pins = if u.arbitrary()? {
            names
                .iter()
                .map(|n: &ConfigName| {
                    Ok((
                        n.clone(),
                        crate::ContentDigest::sha256_of(&<[u8; 4]>::arbitrary(u)?),
                    ))
                })
                .collect::<Result<_>>()?
        } else {
            BTreeMap::new()
        };
        Ok(Self {
            names,
            values: string_map(u)?,
            pins,
        })
    }
}

impl<'a> Arbitrary<'a> for SecretRef {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self {
            name: text(u)?,
            backend: text(u)?,
            key: text(u)?,
            field: Option::<String>::arbitrary(u)?,
            version: Option::<String>::arbitrary(u)?,
        })
    }
}

impl<'a> Arbitrary<'a> for LinkSpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let interfaces = (0..u.int_in_range(1..=3)?)
            .map(|_| wit_name(u))
            .collect::<Result<_>>()?;
        let (source, target, target_kind) = match u.int_in_range(0..=2)? {
            0 => (
                None,
                Some(WorkloadId::arbitrary(u)?),
                LinkTargetKind::Provider,
            ),
            1 => (
                None,
                Some(WorkloadId::arbitrary(u)?),
                LinkTargetKind::Component,
            ),
            _ => (
                Some(ProviderId::arbitrary(u)?),
                None,
                LinkTargetKind::Provider,
            ),
        };
        let unique = |secrets: Vec<SecretRef>| {
            let mut names = BTreeSet::new();
            secrets
                .into_iter()
                .filter(|s| names.insert(s.name.clone()))
                .collect::<Vec<_>>()
        };
        let name = if u.ratio(1, 2)? {
            LinkName::default_name()
        } else {
            LinkName::arbitrary(u)?
        };
        Ok(Self {
            name,
            source,
            target,
            target_kind,
            wit_namespace: wit_name(u)?,
            wit_package: wit_name(u)?,
            interfaces,
            source_config: ConfigSpec::arbitrary(u)?,
            target_config: ConfigSpec::arbitrary(u)?,
            source_secrets: unique(Vec::<SecretRef>::arbitrary(u)?),
            target_secrets: unique(Vec::<SecretRef>::arbitrary(u)?),
        })
    }
}

impl<'a> Arbitrary<'a> for ComponentSpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut secret_names = BTreeSet::new();
        let secrets = Vec::<SecretRef>::arbitrary(u)?
            .into_iter()
            .filter(|s| secret_names.insert(s.name.clone()))
            .collect();
        let mut link_keys = BTreeSet::<LinkKey>::new();
        let links = Vec::<LinkSpec>::arbitrary(u)?
            .into_iter()
            .filter(|l| link_keys.insert(l.key()))
            .collect();
        let annotations = string_map(u)?;
        Ok(Self {
            id: Arbitrary::arbitrary(u)?,
            revision: Arbitrary::arbitrary(u)?,
            artifact: Arbitrary::arbitrary(u)?,
            digest: Arbitrary::arbitrary(u)?,
            scale: Arbitrary::arbitrary(u)?,
            config: Arbitrary::arbitrary(u)?,
            secrets,
            links,
            annotations,
        })
    }
}
