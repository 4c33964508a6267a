//! ECS states that its API model gives as plain strings (a service's or cluster's `status`, a
//! deployment's `status`): read here, once, into types the rest of the code matches on.

use aws_sdk_ecs::types::{Cluster, Deployment, Service};

/// The `status` of a service or a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// In use.
    Active,
    /// A deleted service whose tasks are still stopping.
    Draining,
    /// Deleted.
    Inactive,
    /// A cluster being created or deleted, failed, or a status this build does not know.
    Other,
}

impl Status {
    fn of(text: Option<&str>) -> Status {
        match text {
            Some("ACTIVE") => Status::Active,
            Some("DRAINING") => Status::Draining,
            Some("INACTIVE") => Status::Inactive,
            _ => Status::Other,
        }
    }

    /// A service's status.
    pub fn of_service(service: &Service) -> Status {
        Status::of(service.status())
    }

    /// A cluster's status.
    pub fn of_cluster(cluster: &Cluster) -> Status {
        Status::of(cluster.status())
    }
}

/// A deployment's place among a service's deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentStatus {
    /// The newest: the one ECS is rolling out, or ran last.
    Primary,
    /// An older one whose tasks still run.
    Active,
    /// Gone.
    Inactive,
    /// A status this build does not know.
    Other,
}

impl DeploymentStatus {
    /// The status of `deployment`.
    pub fn of(deployment: &Deployment) -> DeploymentStatus {
        match deployment.status() {
            Some("PRIMARY") => DeploymentStatus::Primary,
            Some("ACTIVE") => DeploymentStatus::Active,
            Some("INACTIVE") => DeploymentStatus::Inactive,
            _ => DeploymentStatus::Other,
        }
    }
}
