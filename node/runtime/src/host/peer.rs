//! The host's shared peer port: one `Connector` service that hands each request to the
//! tenant its signed envelope names as audience. The tenant's own service then checks the
//! envelope exactly as a node on its own port does (audience, signature, nonce, policy): the
//! router only reads the claimed audience to pick the tenant, and a request naming an
//! unknown or suspended tenant is refused like one naming another node.

use prost::Message;
use proto::pb;
use proto::pb::connector_server::Connector;
use tonic::{Request, Response, Status};

use tanso_core::methods::MAX_HEADER_FIELD_BYTES;
use tanso_grpc::ConnectorService;

use super::tenants::{Host, Lease, TenantError};

/// The `Connector` service of a host's shared port.
#[derive(Clone)]
pub struct HostedConnector {
    host: Host,
    panic_tenant: Option<String>,
}

impl HostedConnector {
    pub fn new(host: Host) -> HostedConnector {
        HostedConnector {
            host,
            panic_tenant: std::env::var(FAULT_PANIC_TENANT_ENV).ok(),
        }
    }

    /// The tonic server, with the host's message limits.
    pub fn into_server(self) -> pb::connector_server::ConnectorServer<HostedConnector> {
        let max = self.host.config().max_message_bytes;
        pb::connector_server::ConnectorServer::new(self)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }

    fn fault(&self, lease: &Lease) -> Fault {
        Fault(
            self.panic_tenant
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(lease.node().company_id())),
        )
    }

    /// Routes `request` to its tenant and runs `call` with the tenant's service, isolated.
    async fn handle<T, F, Fut>(
        &self,
        request: Request<pb::Envelope>,
        call: F,
    ) -> Result<Response<T>, Status>
    where
        T: Send + 'static,
        F: FnOnce(ConnectorService, Request<pb::Envelope>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<Response<T>, Status>> + Send + 'static,
    {
        let (lease, service) = self.route(&request).await?;
        let fault = self.fault(&lease);
        isolated(lease, async move {
            fault.check();
            call(service, request).await
        })
        .await
    }

    /// The tenant the envelope is addressed to, and its service.
    async fn route(
        &self,
        request: &Request<pb::Envelope>,
    ) -> Result<(Lease, ConnectorService), Status> {
        let audience = audience(request.get_ref()).ok_or_else(not_served)?;
        match self.host.lease(&audience).await {
            Ok(lease) => {
                let service = ConnectorService::new(lease.node().clone());
                Ok((lease, service))
            }
            Err(TenantError::Unknown) => Err(not_served()),
            Err(TenantError::Closing) => Err(Status::unavailable("host is shutting down")),
            Err(e @ TenantError::Open { .. }) => {
                // The tenant's problem is the host operator's, not the caller's.
                tracing::error!(error = %e, "tenant cannot be opened");
                Err(Status::unavailable("node temporarily unavailable"))
            }
        }
    }
}

/// Runs one tenant's handler in a task of its own: a panic in it fails that request with
/// INTERNAL (and is logged), never the connection other tenants' requests share.
async fn isolated<T: Send + 'static>(
    lease: Lease,
    call: impl std::future::Future<Output = Result<T, Status>> + Send + 'static,
) -> Result<T, Status> {
    let tenant = lease.node().company_id().to_string();
    let outcome = tokio::spawn(call).await;
    drop(lease);
    match outcome {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(%tenant, error = %e, "tenant request failed (panic)");
            Err(Status::internal("internal error"))
        }
    }
}

/// Test hook: `TANSO_FAULT_PANIC_TENANT=<company id>` (read when the host opens) makes every
/// peer request to that tenant panic in its handler, so tests can show the others go on.
pub const FAULT_PANIC_TENANT_ENV: &str = "TANSO_FAULT_PANIC_TENANT";

struct Fault(bool);

impl Fault {
    fn check(&self) {
        if self.0 {
            panic!("injected fault ({FAULT_PANIC_TENANT_ENV})");
        }
    }
}

/// The envelope's claimed audience, if it decodes and is of a sane length.
fn audience(envelope: &pb::Envelope) -> Option<String> {
    let header = pb::RequestHeader::decode(envelope.header.as_slice()).ok()?;
    (!header.audience.is_empty() && header.audience.len() <= MAX_HEADER_FIELD_BYTES)
        .then_some(header.audience)
}

/// What a caller learns of a tenant this host does not serve: the same as of any node that
/// is not the audience (nothing about whether it exists or is suspended).
fn not_served() -> Status {
    Status::unauthenticated("envelope audience is not a node served here")
}

// Each method picks the tenant, then runs the tenant's own handler (which authenticates).
#[tonic::async_trait]
impl Connector for HostedConnector {
    async fn get_footprint(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::GetFootprintResponse>, Status> {
        self.handle(request, |s, r| async move {
            Connector::get_footprint(&s, r).await
        })
        .await
    }

    async fn list_footprints(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::ListFootprintsResponse>, Status> {
        self.handle(request, |s, r| async move {
            Connector::list_footprints(&s, r).await
        })
        .await
    }

    async fn create_request(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::CreateRequestResponse>, Status> {
        self.handle(request, |s, r| async move {
            Connector::create_request(&s, r).await
        })
        .await
    }

    async fn deliver_answer(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::Ack>, Status> {
        self.handle(request, |s, r| async move {
            Connector::deliver_answer(&s, r).await
        })
        .await
    }

    async fn notify(&self, request: Request<pb::Envelope>) -> Result<Response<pb::Ack>, Status> {
        self.handle(
            request,
            |s, r| async move { Connector::notify(&s, r).await },
        )
        .await
    }

    async fn subscribe(&self, request: Request<pb::Envelope>) -> Result<Response<pb::Ack>, Status> {
        self.handle(
            request,
            |s, r| async move { Connector::subscribe(&s, r).await },
        )
        .await
    }

    async fn update_card(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::Ack>, Status> {
        self.handle(request, |s, r| async move {
            Connector::update_card(&s, r).await
        })
        .await
    }

    async fn get_card(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::CardResponse>, Status> {
        self.handle(
            request,
            |s, r| async move { Connector::get_card(&s, r).await },
        )
        .await
    }
}
