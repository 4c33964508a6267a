//! Every name the app's AWS resources carry, derived in one place from the app name, so `up`,
//! `status`, `down` and the function can never disagree about what a resource is called.

use pushdeploy::config::parameter_for_app;
use pushdeploy::lock;

/// The names of one app's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    app: String,
}

impl Names {
    /// Names for app `app` (already validated: 1-20 of `a-z0-9-`).
    pub fn new(app: &str) -> Names {
        Names { app: app.to_string() }
    }

    /// The app name; also the value of every resource's `pushdeploy:app` tag.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// ECS cluster.
    pub fn cluster(&self) -> String {
        self.app.clone()
    }

    /// Prefix of the IAM, EC2 and capacity names.
    fn prefix(&self) -> String {
        format!("pushdeploy-{}", self.app)
    }

    /// The load balancer's security group.
    pub fn alb_security_group(&self) -> String {
        format!("{}-alb", self.prefix())
    }

    /// The instances' security group.
    pub fn instance_security_group(&self) -> String {
        format!("{}-instances", self.prefix())
    }

    /// The instances' IAM role; its instance profile has the same name.
    pub fn instance_role(&self) -> String {
        format!("{}-instance", self.prefix())
    }

    /// The instance profile (named as its role).
    pub fn instance_profile(&self) -> String {
        self.instance_role()
    }

    /// The task execution role.
    /// The IAM path of the roles the function may pass (the execution role and the task roles):
    /// one app's `iam:PassRole` grant, `role/pushdeploy/<app>/*`, reaches no other app's roles,
    /// where a name prefix `pushdeploy-<app>-*` would also match those of an app `<app>-admin`.
    pub fn role_path(&self) -> String {
        format!("/pushdeploy/{}/", self.app)
    }

    pub fn execution_role(&self) -> String {
        format!("{}-execution", self.prefix())
    }

    /// A service's task role (at most 11 + 20 + 1 + 24 + 5 = 61 characters: IAM allows 64).
    pub fn task_role(&self, service: &str) -> String {
        format!("{}-{service}-task", self.prefix())
    }

    /// Launch template, Auto Scaling group and capacity provider share this name.
    pub fn capacity(&self) -> String {
        self.prefix()
    }

    /// `Name` tag of the instances.
    pub fn instance_name(&self) -> String {
        format!("{} ecs", self.prefix())
    }

    /// Application Load Balancer (32 characters at most: the app name has 20).
    pub fn load_balancer(&self) -> String {
        format!("pd-{}", self.app)
    }

    /// A service's target group (32 characters at most, checked when the app file loads).
    pub fn target_group(&self, service: &str) -> String {
        format!("pd-{}-{service}", self.app)
    }

    /// The target group a blue-green, canary or linear service's new revision starts in, beside
    /// [`Names::primary_target_group`] (ECS swaps their roles at each deployment).
    pub fn alternate_target_group(&self, service: &str) -> String {
        format!("pd-{}-{service}-b", self.app)
    }

    /// The first of the two `ip` target groups of a blue-green, canary or linear service (a
    /// rolling service's group is [`Names::target_group`], of target type `instance`).
    pub fn primary_target_group(&self, service: &str) -> String {
        format!("pd-{}-{service}-a", self.app)
    }

    /// The role ECS assumes to move a service's traffic between its target groups.
    pub fn infrastructure_role(&self) -> String {
        format!("pushdeploy-{}-ecs-infrastructure", self.app)
    }

    /// The security group of tasks with their own network interface (`awsvpc`): only the load
    /// balancer reaches them.
    pub fn task_security_group(&self) -> String {
        format!("pushdeploy-{}-tasks", self.app)
    }

    /// One of a service's deployment alarms (`5xx`, `unhealthy`): 255 characters at most,
    /// and IAM grants `alarm:pushdeploy-*`.
    pub fn alarm(&self, service: &str, what: &str) -> String {
        format!("pushdeploy-{}-{service}-{what}", self.app)
    }

    /// A service's task-definition family.
    pub fn family(&self, service: &str) -> String {
        format!("{}-{service}", self.app)
    }

    /// A service's ECR repository unless the app file names one.
    pub fn default_repository(&self, service: &str) -> String {
        format!("{}/{service}", self.app)
    }

    /// A service's CloudWatch Logs group; its containers' streams are `<service>/<container>/<task id>`.
    pub fn log_group(&self, service: &str) -> String {
        format!("/pushdeploy/{}/{service}", self.app)
    }

    /// The routing config parameter the function reads.
    pub fn config_parameter(&self) -> String {
        parameter_for_app(&self.app).expect("app names are valid parameter names")
    }

    /// Every SSM parameter of the app lives under this path (config and deploy locks).
    pub fn parameter_path(&self) -> String {
        format!("/pushdeploy/{}", self.app)
    }

    /// The app's deploy lock table, shared with the function.
    pub fn lock_table(&self) -> String {
        lock::table_name(&self.app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_what_earlier_releases_created() {
        let n = Names::new("shop");
        assert_eq!(n.cluster(), "shop");
        assert_eq!(n.alb_security_group(), "pushdeploy-shop-alb");
        assert_eq!(n.instance_security_group(), "pushdeploy-shop-instances");
        assert_eq!(n.instance_role(), "pushdeploy-shop-instance");
        assert_eq!(n.execution_role(), "pushdeploy-shop-execution");
        assert_eq!(n.capacity(), "pushdeploy-shop");
        assert_eq!(n.load_balancer(), "pd-shop");
        assert_eq!(n.target_group("web"), "pd-shop-web");
        assert_eq!(n.family("web"), "shop-web");
        assert_eq!(n.default_repository("web"), "shop/web");
        assert_eq!(n.config_parameter(), "/pushdeploy/shop/config");
        assert_eq!(n.lock_table(), "pushdeploy-shop-locks");
    }
}
