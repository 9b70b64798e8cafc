//! Named configuration from the lattice's `CONFIGDATA_{lattice}` bucket on a real
//! nats-server: a host (with its default store, `NatsConfigStore`) resolves a pinned name to
//! the pinned content whatever the name holds now, merges named and inline values, and
//! refuses a missing, malformed or mismatching entry with a reason that names it — never its
//! value — while the previous revision keeps serving.

use lattice_client::{ConfigBucket, ConfigBucketErrorKind, WaitError};
use lattice_host::{ConfigStore, Invoker, NatsConfigStore};
use lattice_local::LocalLattice;
use lattice_spec::{ComponentSpec, ComponentSpecDraft, ConfigName, ContentDigest, configdata};
use lattice_status::{ReasonCode, StatusReason};
use std::{collections::BTreeMap, future::Future, time::Duration};

const BOUND: Duration = Duration::from_secs(20);

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

struct Fixture {
    local: LocalLattice,
    configs: ConfigBucket,
    artifact: String,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn start() -> Self {
        let local = within(
            LocalLattice::builder()
                .lattice("cfg".parse().unwrap())
                .hosts(1)
                .start(),
        )
        .await
        .unwrap();
        let configs = within(ConfigBucket::open(local.nats().clone(), local.lattice()))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.wasm");
        std::fs::write(&path, lattice_artifact::testing::component_importing(&[])).unwrap();
        Self {
            local,
            configs,
            artifact: format!("file://{}", path.display()),
            _dir: dir,
        }
    }

    /// `app` at `revision`, with named configuration `names` (pinned as `pins` says) and the
    /// inline value `inline=yes`.
    fn app(&self, revision: u64, names: &[&str], pins: &[(&str, &ContentDigest)]) -> ComponentSpec {
        let mut draft = ComponentSpecDraft::new("app", &*self.artifact)
            .revision(revision)
            .config_value("inline", "yes");
        for name in names {
            draft = draft.config_name(*name);
        }
        for (name, digest) in pins {
            draft
                .config
                .pins
                .insert((*name).to_owned(), digest.as_str().to_owned());
        }
        draft.validate().unwrap()
    }

    async fn apply(&self, spec: &ComponentSpec) -> Result<(), StatusReason> {
        let host = self.local.hosts()[0].host_id().clone();
        match within(
            self.local
                .client()
                .apply_and_wait(&host, spec, Duration::from_secs(10)),
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(WaitError::Failed { reason, .. }) => Err(reason),
            Err(other) => panic!("revision {}: {other:?}", spec.revision()),
        }
    }

    /// What `app` answers: the echo runtime answers with the `greeting` of the configuration
    /// the host resolved and handed to it.
    async fn answer(&self) -> String {
        let invoker = within(Invoker::new(
            self.local.nats().clone(),
            self.local.lattice(),
            &"app".parse().unwrap(),
        ))
        .await
        .unwrap();
        within(invoker.call("x")).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_name_resolves_to_its_pinned_content_whatever_the_name_holds_now() {
    let f = Fixture::start().await;
    let creds: ConfigName = "creds".parse().unwrap();
    f.configs
        .put(
            &"base".parse().unwrap(),
            &values(&[("greeting", "base"), ("inline", "no")]),
        )
        .await
        .unwrap();
    f.configs
        .put(&creds, &values(&[("greeting", "v1")]))
        .await
        .unwrap();
    let v1 = within(f.configs.pin(&creds)).await.unwrap();
    assert_eq!(
        v1,
        configdata::content_digest(&values(&[("greeting", "v1")]))
    );

    // Named configurations merge left to right, inline values win: `creds` overrides `base`.
    f.apply(&f.app(1, &["base", "creds"], &[("creds", &v1)]))
        .await
        .unwrap();
    assert_eq!(f.answer().await, "v1 from app@1: x");

    // Rotate: the name now holds v2; the running revision is untouched until a spec pins v2.
    f.configs
        .put(&creds, &values(&[("greeting", "v2")]))
        .await
        .unwrap();
    let v2 = within(f.configs.pin(&creds)).await.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(f.answer().await, "v1 from app@1: x");
    f.apply(&f.app(2, &["base", "creds"], &[("creds", &v2)]))
        .await
        .unwrap();
    assert_eq!(f.answer().await, "v2 from app@2: x");

    // Back to the v1 pin: the host reads the pinned copy, not the name's current value (v2).
    f.apply(&f.app(3, &["base", "creds"], &[("creds", &v1)]))
        .await
        .unwrap();
    assert_eq!(f.answer().await, "v1 from app@3: x");
    // Unpinned, the name resolves as it is now (the 1.x behaviour).
    f.apply(&f.app(4, &["base", "creds"], &[])).await.unwrap();
    assert_eq!(f.answer().await, "v2 from app@4: x");

    // Even deleted, the name's pinned copies stay.
    assert!(within(f.configs.delete(&creds)).await.unwrap());
    assert_eq!(within(f.configs.get(&creds)).await.unwrap(), None);
    f.apply(&f.app(5, &["base", "creds"], &[("creds", &v1)]))
        .await
        .unwrap();
    assert_eq!(f.answer().await, "v1 from app@5: x");

    // An inline value wins over every named one.
    let inline = f
        .app(6, &["base", "creds"], &[("creds", &v1)])
        .to_draft()
        .config_value("greeting", "inline");
    f.apply(&inline.validate().unwrap()).await.unwrap();
    assert_eq!(f.answer().await, "inline from app@6: x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_entry_fails_with_a_reason_naming_it_and_the_previous_revision_keeps_serving() {
    let f = Fixture::start().await;
    let creds: ConfigName = "creds".parse().unwrap();
    f.configs
        .put(&creds, &values(&[("greeting", "v1")]))
        .await
        .unwrap();
    let v1 = within(f.configs.pin(&creds)).await.unwrap();
    f.apply(&f.app(1, &["creds"], &[("creds", &v1)]))
        .await
        .unwrap();
    let serves_v1 = || async { assert_eq!(f.answer().await, "v1 from app@1: x") };

    // A configuration that does not exist.
    let reason = f.apply(&f.app(2, &["nowhere"], &[])).await.unwrap_err();
    assert_eq!(reason.code, ReasonCode::StartFailed, "{reason}");
    assert!(
        reason.message.contains("`nowhere` does not exist"),
        "{reason}"
    );
    serves_v1().await;

    // An entry that is not a JSON object of strings: named with the position, never the value.
    within(
        f.configs
            .put_raw("broken", br#"{"password": 424242}"#.to_vec()),
    )
    .await
    .unwrap();
    let reason = f.apply(&f.app(3, &["broken"], &[])).await.unwrap_err();
    assert!(
        reason
            .message
            .contains("configuration `broken` is not a JSON object")
            && reason.message.contains("line 1 column"),
        "{reason}"
    );
    assert!(
        !reason.message.contains("424242"),
        "a value leaked: {reason}"
    );
    within(f.configs.put_raw("broken", b"s3cr3t-not-json".to_vec()))
        .await
        .unwrap();
    let reason = f.apply(&f.app(4, &["broken"], &[])).await.unwrap_err();
    assert!(reason.message.contains("invalid JSON syntax"), "{reason}");
    assert!(
        !reason.message.contains("s3cr3t"),
        "a value leaked: {reason}"
    );
    serves_v1().await;

    // A pinned copy whose content does not match its digest (edited behind lattice's back).
    let forged = ContentDigest::sha256_of(b"something else");
    let key = configdata::pinned_key(&creds, &forged).unwrap();
    within(
        f.configs
            .put_raw(&key, br#"{"greeting":"forged"}"#.to_vec()),
    )
    .await
    .unwrap();
    let reason = f
        .apply(&f.app(5, &["creds"], &[("creds", &forged)]))
        .await
        .unwrap_err();
    assert!(
        reason
            .message
            .contains("pinned copy of configuration `creds` does not match"),
        "{reason}"
    );
    assert!(!reason.message.contains("forged"), "{reason}");
    // A pin whose copy was never written.
    let never = ContentDigest::sha256_of(b"never written");
    let reason = f
        .apply(&f.app(6, &["creds"], &[("creds", &never)]))
        .await
        .unwrap_err();
    assert!(
        reason.message.contains("`creds` has no pinned copy"),
        "{reason}"
    );
    serves_v1().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lattice_without_a_bucket_and_an_unreachable_server_are_typed_failures_too() {
    let f = Fixture::start().await;
    let creds: ConfigName = "creds".parse().unwrap();
    // Another lattice on the same server: nothing ever wrote its bucket.
    let store = NatsConfigStore::new(f.local.nats().clone(), &"elsewhere".parse().unwrap());
    let error = within(store.get(&creds, None)).await.unwrap_err();
    assert_eq!(error.kind(), ConfigBucketErrorKind::Missing, "{error}");
    assert!(
        error
            .to_string()
            .contains("no configuration bucket `CONFIGDATA_elsewhere`"),
        "{error}"
    );

    // The server gone: a bounded, typed failure, not a hang.
    let nats = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_millis(500)))
        .connect(f.local.url())
        .await
        .unwrap();
    let context = async_nats::jetstream::new(nats.clone());
    let store = NatsConfigStore::with_context(context, f.local.lattice());
    drop(f.local);
    let error = within(store.get(&creds, None)).await.unwrap_err();
    assert_eq!(error.kind(), ConfigBucketErrorKind::Unavailable, "{error}");
}
