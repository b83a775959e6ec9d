//! [`boot`]: a sidecar that starts phase after phase, as an istio-proxy
//! container does (see the module `agent`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use meshsim_core::SimRng;
use meshsim_net::Stack;

use super::{Phase, Startup, push, shutdown, status};
use crate::admin;
use crate::cluster::dns::Resolve;
use crate::config::SidecarConfig;
use crate::router::Direction;
use crate::runtime::{Env, Sidecar};
use crate::xds::Live;
use crate::{SidecarDeps, SidecarHandle, listener};

/// Starts a sidecar the way an istio-proxy container starts: it returns at
/// once, with pilot-agent up (its status server on
/// `AdminConfig::status_port`, when `config.admin` is set) and nothing else
/// bound; a task then runs [`Startup`]'s phases: Envoy admin, the first
/// CDS/LDS, warming, and the workers, which bind the capture listeners and
/// the readiness port. Follow it with `SidecarHandle::phase`,
/// `SidecarHandle::wait_for` and `SidecarHandle::phase_log`.
///
/// DNS clusters resolve as with [`crate::spawn`], from `ConfigReceived` on.
/// The handle's addresses are those the listeners will have.
///
/// # Errors
/// `InvalidInput` for an invalid configuration; the status port's bind error.
pub async fn boot(
    config: SidecarConfig,
    stack: Stack,
    mut deps: SidecarDeps,
    startup: Startup,
) -> io::Result<SidecarHandle> {
    // As `spawn`: the resolver's query ids get their own stream.
    let dns_rng = SimRng::new(deps.rng.next_u64());
    let servers = config.dns_servers.clone();
    let resolver = crate::cluster::dns::envoy_resolver(stack.clone(), servers, dns_rng);
    boot_with_resolver(config, stack, deps, resolver, startup).await
}

/// [`boot`] with the DNS resolver of STRICT_DNS / LOGICAL_DNS clusters.
///
/// # Errors
/// As [`boot`].
pub async fn boot_with_resolver(
    config: SidecarConfig,
    stack: Stack,
    deps: SidecarDeps,
    resolver: Arc<dyn Resolve>,
    startup: Startup,
) -> io::Result<SidecarHandle> {
    config.validate()?;
    let env = Env::starting_at(stack, deps.rng, Phase::Starting);
    if let Some(id) = deps.identity {
        let _ = env.identity.set(id);
    }
    let sidecar = Sidecar::new(config, env, deps.proxy_log);
    let live = Live::idle(sidecar.clone(), resolver);
    let _ = sidecar.env.live.set(Arc::downgrade(&live));
    let status_addr = status::bind(&sidecar).await?;
    sidecar.env.tasks.spawn(run(live.clone(), startup));
    let host = sidecar.env.stack.host();
    let admin = sidecar.config.admin.as_ref();
    Ok(SidecarHandle {
        addr: SocketAddr::new(host, sidecar.config.outbound_port),
        admin_addr: admin.map(|a| SocketAddr::new(host, a.port)),
        readiness_addr: admin
            .and_then(|a| a.readiness_port)
            .map(|p| SocketAddr::new(host, p)),
        status_addr,
        live,
    })
}

/// The phases, one after the other. A bind failure makes Envoy exit.
async fn run(live: Arc<Live>, startup: Startup) {
    let env = live.current().env.clone();
    meshsim_net::clock::sleep(startup.admin).await;
    if let Err(e) = bind_admin(&live).await {
        return crash(&env, "admin", &e);
    }
    env.lifecycle.advance(Phase::AdminUp);
    meshsim_net::clock::sleep(startup.xds).await;
    push::release(&live);
    meshsim_net::clock::sleep(startup.warm).await;
    initialized(&live).await;
    if env.lifecycle.phase() > Phase::Ready {
        // Terminated before its workers started: they never will.
        return;
    }
    if let Err(e) = start_workers(&live).await {
        return crash(&env, "worker", &e);
    }
    env.lifecycle.advance(Phase::Ready);
}

fn crash(env: &Arc<Env>, what: &str, e: &io::Error) {
    tracing::warn!(error = %e, listener = what, "envoy cannot bind a listener and exits");
    shutdown::exit(env);
}

/// Envoy admin (`AdminConfig::port`), when configured.
async fn bind_admin(live: &Arc<Live>) -> io::Result<()> {
    let sc = live.current();
    if let Some(admin) = &sc.config.admin {
        let listener = sc.env.stack.listen(admin.port).await?;
        let task = admin::run(listener, live.clone(), admin::Port::Admin);
        sc.env.tasks.spawn(task);
    }
    Ok(())
}

/// Waits until every cluster of the configuration in force has its first
/// resolution or assignment (again after a push swapped the clusters).
async fn initialized(live: &Live) {
    loop {
        let mut swaps = live.generations();
        let sc = live.current();
        let all = async {
            for cluster in sc.clusters.values() {
                cluster.initialized().await;
            }
        };
        tokio::select! {
            biased;
            () = all => {
                if !swaps.has_changed().unwrap_or(false) {
                    return;
                }
            }
            _ = swaps.changed() => {}
        }
    }
}

/// The workers start: the capture listeners and the readiness listener
/// begin to listen.
async fn start_workers(live: &Arc<Live>) -> io::Result<()> {
    let sc = live.current();
    let stack = &sc.env.stack;
    let outbound = stack.listen_capture(sc.config.outbound_port).await?;
    let task = listener::run(outbound, live.clone(), Direction::Outbound);
    sc.env.tasks.spawn(task);
    if let Some(inbound) = &sc.config.inbound {
        let listener = stack.listen_capture(inbound.port).await?;
        let task = listener::run(listener, live.clone(), Direction::Inbound);
        sc.env.tasks.spawn(task);
    }
    if let Some(port) = sc.config.admin.as_ref().and_then(|a| a.readiness_port) {
        let listener = stack.listen(port).await?;
        let task = admin::run(listener, live.clone(), admin::Port::Readiness);
        sc.env.tasks.spawn(task);
    }
    Ok(())
}
