//! Following and steering a rollout from any process: [`Scheduler::watch`] streams its typed
//! status events; [`Scheduler::pause`], [`resume`](Scheduler::resume),
//! [`abort`](Scheduler::abort) and [`promote`](Scheduler::promote) send operator commands
//! through the store to whichever scheduler drives it.

use crate::{
    AppName, RolloutError, Scheduler,
    record::{Control, RolloutRecord},
};
use futures::{StreamExt, stream::BoxStream};
use lattice_ctl::{RolloutStatusEvent, RolloutSubject};
use lattice_spec::{DecodeError, WireMessage};

/// The status events of one application's rollout, as [`Scheduler::watch`] yields them.
///
/// An item is an error when an event cannot be decoded (a newer scheduler's version); the
/// stream goes on, and the store stays the source of truth. The stream ends when the NATS
/// connection closes.
pub type RolloutEvents = BoxStream<'static, Result<RolloutStatusEvent, DecodeError>>;

impl Scheduler {
    /// Follows the rollout of `app`: first its stored record (when there is one), then every
    /// status event the driving scheduler publishes (`wasmbus.status.v2alpha1.{lattice}.rollout.{app}`).
    ///
    /// The subscription is made before the store is read, so no change in between is missed;
    /// the first live event may repeat the stored record. The stored record comes as the
    /// event it was published in (`timestamp_ms` is its `updated_ms`). The stream adds no
    /// timeout of its own: wrap the awaits in `tokio::time::timeout`.
    ///
    /// ```no_run
    /// # async fn run(scheduler: lattice_rollout::Scheduler) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures::StreamExt;
    ///
    /// let mut events = scheduler.watch(&"shop".parse()?).await?;
    /// while let Some(event) = events.next().await {
    ///     let Ok(event) = event else { continue }; // a newer scheduler's event
    ///     println!("{}: {}", event.app, event.rollout.state);
    ///     if event.rollout.is_finished() {
    ///         break;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RolloutError::Subscribe`] when the subscription cannot be made, [`RolloutError::Store`]
    /// when the stored record cannot be read.
    pub async fn watch(&self, app: &AppName) -> Result<RolloutEvents, RolloutError> {
        let lattice = self.client().lattice().clone();
        let subject = RolloutSubject::new(lattice.clone(), app.clone());
        let subscriber = self
            .client()
            .nats()
            .subscribe(subject.to_string())
            .await
            .map_err(RolloutError::Subscribe)?;
        let stored = self.store().rollout(app).await?.map(|(record, _)| {
            Ok::<_, DecodeError>(RolloutStatusEvent::new(
                lattice,
                app.clone(),
                record.updated_ms,
                record,
            ))
        });
        let live = subscriber.map(|message| RolloutStatusEvent::decode(&message.payload));
        Ok(futures::stream::iter(stored).chain(live).boxed())
    }

    /// Asks the scheduler driving `app`'s rollout to stop before its next step.
    ///
    /// ```no_run
    /// # async fn run(scheduler: lattice_rollout::Scheduler) -> Result<(), Box<dyn std::error::Error>> {
    /// scheduler.pause(&"shop".parse()?).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Scheduler::control`].
    pub async fn pause(&self, app: &AppName) -> Result<RolloutRecord, RolloutError> {
        self.control(app, Control::Pause).await
    }

    /// Asks the scheduler driving `app`'s paused rollout to continue.
    ///
    /// # Errors
    ///
    /// As [`Scheduler::control`].
    pub async fn resume(&self, app: &AppName) -> Result<RolloutRecord, RolloutError> {
        self.control(app, Control::Resume).await
    }

    /// Asks the scheduler driving `app`'s rollout to stop and roll back.
    ///
    /// # Errors
    ///
    /// As [`Scheduler::control`].
    pub async fn abort(&self, app: &AppName) -> Result<RolloutRecord, RolloutError> {
        self.control(app, Control::Abort).await
    }

    /// Lets `app`'s rollout pass a gate that waits for promotion (a canary step, a
    /// blue-green release).
    ///
    /// # Errors
    ///
    /// As [`Scheduler::control`].
    pub async fn promote(&self, app: &AppName) -> Result<RolloutRecord, RolloutError> {
        self.control(app, Control::Promote).await
    }

    /// Sends `control` to `app`'s rollout through the store, where the driving scheduler
    /// (in this process or another, or one recovered later) reads it. Returns the record as
    /// it was when the command was sent; follow the effect with [`Scheduler::watch`].
    ///
    /// # Errors
    ///
    /// [`RolloutError::NoRollout`] when no rollout of `app` is in progress (nothing is sent),
    /// [`RolloutError::Store`] when the store cannot be read or written.
    pub async fn control(
        &self,
        app: &AppName,
        control: Control,
    ) -> Result<RolloutRecord, RolloutError> {
        let record = match self.store().rollout(app).await? {
            Some((record, _)) if !record.is_finished() => record,
            _ => return Err(RolloutError::NoRollout { app: app.clone() }),
        };
        self.store().send_control(app, control).await?;
        Ok(record)
    }
}
