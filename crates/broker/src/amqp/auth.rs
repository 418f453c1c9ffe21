//! Claims-based security state of a connection: which entity paths its tokens cover, and the
//! links dropped when a token expires (MS guide "Claims-based authorization": "When a token
//! expires, Service Bus promptly drops all links on the connection to the respective entity").

use std::time::Duration;

use chrono::Utc;
use fe2o3_amqp_types::definitions::{AmqpError, Error};
use tokio::time::Instant;

use crate::amqp::backend::Backend;
use crate::amqp::codec::CodecError;
use crate::amqp::connection::Conn;
use crate::amqp::frames::{self, amqp_error};
use crate::amqp::link::Kind;
use crate::amqp::sas::Claim;

/// How long a connection may go without an accepted token (MS guide: 20 seconds).
pub const PUT_TOKEN_DEADLINE: Duration = Duration::from_secs(20);

fn covers(granted: &str, path: &str) -> bool {
    granted.is_empty() || path == granted || path.starts_with(&format!("{granted}/"))
}

impl<B: Backend> Conn<B> {
    /// The connection holds an unexpired token whose audience covers `path` and whose rule
    /// holds `claim`.
    pub(crate) fn authorized(&self, path: &str, claim: Claim) -> bool {
        let path = path.to_lowercase();
        let now = Utc::now();
        self.grants
            .iter()
            .any(|g| g.expires > now && covers(&g.path, &path) && g.rights.allow(claim))
    }

    /// The connection may do a `claim` operation on `entity`'s `$management` link: a token for
    /// the entity, or one for `<entity>/$management` itself, the audience the JavaScript SDK
    /// puts for it (@azure/service-bus `ManagementClient` constructor:
    /// `${endpoint}${entityPath}/$management`), which Service Bus accepts.
    pub(crate) fn authorized_management(&self, entity: &str, claim: Claim) -> bool {
        self.authorized(entity, claim) || self.authorized(&format!("{entity}/$management"), claim)
    }

    /// The connection may attach `entity`'s `$management` link: senders use it to schedule
    /// (Send), receivers to renew, peek and settle by lock token (Listen), so either will do;
    /// each request is then checked for its own claim.
    pub(crate) fn may_use_management(&self, entity: &str) -> bool {
        self.authorized_management(entity, Claim::Send)
            || self.authorized_management(entity, Claim::Listen)
    }

    /// Refuse an entity operation loudly, with the text Service Bus gives.
    pub(crate) fn unauthorized(claim: Claim, path: &str) -> Error {
        let claim = claim.as_str();
        amqp_error(
            AmqpError::UnauthorizedAccess,
            format!(
                "Unauthorized access. '{claim}' claim(s) are required to perform this operation. Resource: '{path}'. Put a SAS token of a rule with {claim} rights on $cbs first."
            ),
        )
    }

    /// When the earliest token expires, as a Tokio instant.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        let first = self
            .grants
            .iter()
            .map(|g| g.expires)
            .filter(|e| *e < chrono::DateTime::<Utc>::MAX_UTC)
            .min()?;
        let left = (first - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Some(Instant::now() + left)
    }

    /// Forget expired tokens and detach every link whose entity is no longer covered.
    pub(crate) fn expire_links(&mut self) -> Result<(), CodecError> {
        let now = Utc::now();
        let expired: Vec<String> = self
            .grants
            .iter()
            .filter(|g| g.expires <= now)
            .map(|g| g.path.clone())
            .collect();
        self.grants.retain(|g| g.expires > now);
        let mut drop = Vec::new();
        for (channel, session) in &self.sessions {
            for (handle, link) in &session.links {
                let (path, covered) = match &link.kind {
                    Kind::CbsRequests | Kind::CbsResponses => continue,
                    Kind::MgmtRequests(e) | Kind::MgmtResponses(e) => {
                        let path = e.to_string();
                        let covered = self.may_use_management(&path);
                        (path, covered)
                    }
                    Kind::Receive { entity: e, .. } => {
                        let path = e.to_string();
                        let covered = self.authorized(&path, Claim::Listen);
                        (path, covered)
                    }
                    Kind::Send { queue, .. } => {
                        (queue.clone(), self.authorized(queue, Claim::Send))
                    }
                };
                if !covered {
                    drop.push((*channel, *handle, path));
                }
            }
        }
        for (channel, handle, path) in drop {
            tracing::info!(%path, ?expired, "token expired: detaching link");
            if let Some(session) = self.sessions.get_mut(&channel) {
                session.links.remove(&handle);
                session.unsettled.retain(|_, u| u.handle != handle);
                session.refused.insert(handle);
            }
            let error = amqp_error(
                AmqpError::UnauthorizedAccess,
                format!(
                    "ExpiredToken: the token for '{path}' expired; put a new token on $cbs before it expires."
                ),
            );
            self.send(channel, &frames::detach(handle, true, Some(error)), &[])?;
        }
        Ok(())
    }
}
