//! AWS partitions: which one a region belongs to, and the DNS suffix of its endpoints. ARNs
//! (`arn:<partition>:...`) and registry hosts both depend on it.

/// A partition of AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// The commercial regions.
    Aws,
    /// The China regions (`cn-*`).
    China,
    /// AWS GovCloud (US) (`us-gov-*`).
    GovCloud,
}

impl Partition {
    /// The partition `region` is in.
    pub fn of(region: &str) -> Partition {
        if region.starts_with("cn-") {
            Partition::China
        } else if region.starts_with("us-gov-") {
            Partition::GovCloud
        } else {
            Partition::Aws
        }
    }

    /// Its name in ARNs.
    pub fn arn_name(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::China => "aws-cn",
            Partition::GovCloud => "aws-us-gov",
        }
    }

    /// The DNS suffix of its service endpoints.
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::China => "amazonaws.com.cn",
            Partition::Aws | Partition::GovCloud => "amazonaws.com",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_fall_in_their_partition() {
        assert_eq!(Partition::of("eu-west-1").arn_name(), "aws");
        assert_eq!(Partition::of("cn-north-1").arn_name(), "aws-cn");
        assert_eq!(Partition::of("us-gov-west-1").arn_name(), "aws-us-gov");
        assert_eq!(Partition::of("cn-northwest-1").dns_suffix(), "amazonaws.com.cn");
        assert_eq!(Partition::of("us-gov-east-1").dns_suffix(), "amazonaws.com");
    }
}
