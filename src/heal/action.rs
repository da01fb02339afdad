//! Actions: what one attempt does to a target, behind the [`Action`] trait so that the queue
//! (retries, backoff, cancellation) can be tested with a fake and tokio's paused clock.
//!
//! [`Actions`] is the real one: Docker's restart, start, stop and kill on the container that
//! passed the allow-list, by its ID, and the `exec` action's command. Before every container
//! attempt the container is inspected and the allow-list checked again on what Docker reports
//! now; a container stopped by hand is not started; a timed-out Docker call is followed by a
//! look at the container, so a slow restart is not restarted twice.

use std::sync::Arc;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use futures_util::future::BoxFuture;

use super::payload::Alert;
use super::policy::STOPPED_BY_REQUEST;
use super::rules::{ActionKind, Rule};
use crate::docker::{ExitCause, Watcher};

/// How often a container is inspected after an action ran past its timeout, to learn whether
/// it took effect.
const EFFECT_POLL: Duration = Duration::from_millis(500);

/// Beyond the rule's timeout and the container's stop timeout, how long hale waits for a timed
/// out action to show its effect before it records the attempt as failed.
const EFFECT_SLACK: Duration = Duration::from_secs(10);

/// The longest hale watches for a timed-out action's effect.
const EFFECT_WINDOW_MAX: Duration = Duration::from_secs(3600);

/// What an action acts on: the rule, the alert that asked, the target the rule resolved, and
/// for container actions the container that passed the allow-list.
#[derive(Debug, Clone)]
pub struct Work {
    pub rule: Rule,
    pub alert: Alert,
    pub target: String,
    /// The container that passed the allow-list (container actions).
    pub container_id: Option<String>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    Done(String),
    Failed(String),
    /// Failed in a way no retry can change (an environment no program can be given).
    Hopeless(String),
    Refused(String),
}

/// One attempt of an action. The queue decides when, how often and whether at all.
pub trait Action: Send + Sync {
    fn attempt<'a>(&'a self, work: &'a Work) -> BoxFuture<'a, Acted>;
}

/// The real actions: Docker's and `exec`.
pub struct Actions {
    docker: Option<bollard::Docker>,
    watcher: Option<Arc<Watcher>>,
}

impl Action for Actions {
    fn attempt<'a>(&'a self, work: &'a Work) -> BoxFuture<'a, Acted> {
        Box::pin(self.attempt_once(work))
    }
}

impl Actions {
    /// `docker` is the client container actions use, `watcher` the view that says whether a
    /// stopped container died on its own.
    pub fn new(docker: Option<bollard::Docker>, watcher: Option<Arc<Watcher>>) -> Actions {
        Actions { docker, watcher }
    }

    /// Runs the action once.
    async fn attempt_once(&self, job: &Work) -> Acted {
        let rule = &job.rule;
        if rule.action == ActionKind::Exec {
            let env = match super::exec::environment(&rule.name, &job.target, &job.alert) {
                Ok(env) => env,
                // It would fail the same way on every retry: failed once, with the reason.
                Err(reason) => return Acted::Hopeless(reason),
            };
            return match super::exec::run(&rule.argv, &env, rule.timeout).await {
                Ok(out) => Acted::Done(out),
                Err(e) => Acted::Failed(e),
            };
        }
        let Some(docker) = &self.docker else {
            return Acted::Failed("no Docker client".into());
        };
        self.container_action(docker, job).await
    }

    /// One container action on the container that passed the allow-list, by its ID. Before
    /// every attempt the container is inspected and the allow-list checked again on what
    /// Docker reports now (its name and labels): a container removed and replaced under the
    /// same name, or relabelled, is not touched.
    async fn container_action(&self, docker: &bollard::Docker, job: &Work) -> Acted {
        use bollard::query_parameters::{KillContainerOptions, RestartContainerOptions};
        let name = job.target.as_str();
        let Some(id) = job.container_id.as_deref() else {
            return Acted::Refused("hale bug: a container action without a container ID".into());
        };
        let timeout = job.rule.timeout;
        let inspect = match tokio::time::timeout(timeout, docker.inspect_container(id, None)).await
        {
            Err(_) => return Acted::Failed(format!("no answer from Docker within {timeout:?}")),
            Ok(Ok(i)) => i,
            Ok(Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            })) => {
                return Acted::Refused(format!(
                    "the container {name} ({}) that was judged is gone; hale does not act on \
                     another container by that name",
                    super::short(id)
                ))
            }
            Ok(Err(e)) => return Acted::Failed(format!("inspecting {name}: {e}")),
        };
        let current = inspect
            .name
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('/');
        let labels = inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        if let Err(reason) = job.rule.admits(current, &labels) {
            return Acted::Refused(format!(
                "the allow-list no longer admits the container {} ({current}): {reason}",
                super::short(id)
            ));
        }
        let stop_timeout = inspect
            .config
            .as_ref()
            .and_then(|c| c.stop_timeout)
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(10);
        let state = inspect.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let started_before = state.started_at.clone();
        let died_on_its_own = self
            .watcher
            .as_ref()
            .and_then(|w| w.snapshot().exits.get(id).copied())
            == Some(ExitCause::OnItsOwn);
        let action = async {
            match job.rule.action {
                ActionKind::Start => docker.start_container(id, None).await,
                ActionKind::Restart => {
                    docker
                        .restart_container(id, None::<RestartContainerOptions>)
                        .await
                }
                ActionKind::Stop => docker.stop_container(id, None).await,
                ActionKind::Kill => {
                    docker
                        .kill_container(
                            id,
                            Some(KillContainerOptions {
                                signal: job.rule.signal.clone(),
                            }),
                        )
                        .await
                }
                ActionKind::Exec => Ok(()),
            }
        };
        match job.rule.action {
            ActionKind::Start | ActionKind::Restart if !running && !died_on_its_own => {
                return Acted::Refused(STOPPED_BY_REQUEST.into())
            }
            ActionKind::Start if running => return Acted::Done("already running".into()),
            ActionKind::Stop | ActionKind::Kill if !running => {
                return Acted::Done("not running; nothing to do".into())
            }
            ActionKind::Exec => {
                return Acted::Failed("hale bug: exec is not a container action".into())
            }
            _ => {}
        }
        match tokio::time::timeout(timeout, action).await {
            Ok(Ok(())) => Acted::Done(String::new()),
            Ok(Err(e)) => Acted::Failed(format!("{} {name}: {e}", job.rule.action.as_str())),
            // Docker carries on with an action whose client stopped waiting, so a timeout says
            // nothing about the effect: look before anything retries (a slow restart must not
            // be restarted twice). The window covers the container's own stop timeout.
            Err(_) => {
                // The container's stop timeout, then time for a loaded engine to start it.
                // Saturating and capped: the stop timeout is Docker's answer, and a rule's
                // timeout may be up to 292 years; neither may overflow a clock.
                let window = timeout
                    .saturating_add(Duration::from_secs(stop_timeout))
                    .saturating_add(EFFECT_SLACK)
                    .min(EFFECT_WINDOW_MAX);
                match self
                    .effect(
                        docker,
                        id,
                        job.rule.action,
                        started_before.as_deref(),
                        window,
                    )
                    .await
                {
                    true => Acted::Done(format!("took effect after the {timeout:?} timeout")),
                    false => Acted::Failed(format!(
                        "no answer from Docker within {timeout:?}, and no effect seen within \
                         {window:?} more"
                    )),
                }
            }
        }
    }

    /// Whether `action` has visibly taken effect on the container, polling until `window` ends:
    /// a restart or start shows as running with a new start time, a stop or kill as not running.
    async fn effect(
        &self,
        docker: &bollard::Docker,
        id: &str,
        action: ActionKind,
        started_before: Option<&str>,
        window: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + window;
        loop {
            let inspected =
                tokio::time::timeout(EFFECT_POLL * 4, docker.inspect_container(id, None)).await;
            if let Ok(Ok(i)) = inspected {
                let state = i.state.unwrap_or_default();
                let running = state.running.unwrap_or(false);
                let restarted = state.started_at.as_deref() != started_before;
                let done = match action {
                    ActionKind::Restart | ActionKind::Start => running && restarted,
                    ActionKind::Stop | ActionKind::Kill => !running,
                    ActionKind::Exec => false,
                };
                if done {
                    return true;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(EFFECT_POLL).await;
        }
    }
}
