//! Container image references: parse `[registry/]repository[:tag][@digest]`, tell whether an
//! image comes from a given ECR repository, and build the digest-pinned form pushdeploy deploys.

use std::fmt;

use crate::region::Partition;

/// A parsed container image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (`123456789012.dkr.ecr.eu-west-1.amazonaws.com`), absent for Docker Hub short names.
    pub registry: Option<String>,
    /// Repository path inside the registry (`team/web`).
    pub repository: String,
    /// Readable tag, if the reference has one.
    pub tag: Option<String>,
    /// Content digest (`sha256:...`), if the reference is pinned.
    pub digest: Option<String>,
}

/// Why an image reference could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference `{reference}`: {problem}; expected [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]")]
pub struct ImageRefError {
    /// The reference as given.
    pub reference: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl ImageRef {
    /// Parses a reference the way Docker does: the first path component is a registry host
    /// only when it contains `.` or `:` or is `localhost`.
    pub fn parse(reference: &str) -> Result<ImageRef, ImageRefError> {
        let fail = |problem| ImageRefError {
            reference: reference.to_string(),
            problem,
        };
        if reference.is_empty() || reference.chars().any(char::is_whitespace) {
            return Err(fail("it is empty or contains whitespace"));
        }
        let (name_and_tag, digest) = match reference.split_once('@') {
            Some((rest, digest)) => {
                if !is_digest(digest) {
                    return Err(fail("the digest is not `sha256:` followed by 64 hex digits"));
                }
                (rest, Some(digest.to_string()))
            }
            None => (reference, None),
        };
        let (registry, path) = match name_and_tag.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (Some(first.to_string()), rest)
            }
            _ => (None, name_and_tag),
        };
        let last_slash = path.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match path[last_slash..].rfind(':') {
            Some(i) => {
                let split = last_slash + i;
                (&path[..split], Some(path[split + 1..].to_string()))
            }
            None => (path, None),
        };
        if repository.is_empty() || repository.split('/').any(str::is_empty) {
            return Err(fail("the repository name is empty"));
        }
        if tag.as_deref() == Some("") {
            return Err(fail("the tag after `:` is empty"));
        }
        Ok(ImageRef {
            registry,
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// True when this image lives in `repository` of `registry`: registry host and repository
    /// name both match, whatever tag or digest the reference carries.
    pub fn is_from(&self, registry: &str, repository: &str) -> bool {
        self.registry
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(registry))
            && self.repository == repository
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(registry) = &self.registry {
            write!(f, "{registry}/")?;
        }
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The private ECR registry host of an account in a region.
pub fn ecr_registry(account: &str, region: &str) -> String {
    let suffix = Partition::of(region).dns_suffix();
    format!("{account}.dkr.ecr.{region}.{suffix}")
}

/// True for `sha256:` followed by 64 lowercase hex digits, the only digest ECR produces.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// True for a tag the registry grammar allows (distribution's reference grammar, which ECR
/// follows): `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_tag(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b))
}

/// Whether `tag` is one that signing and attestation tools push beside an image
/// (`sha256-<digest>.sig`, `.att`, `.sbom`: cosign's tag scheme), not a release of it.
pub fn is_artifact_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    let Some((hex, kind)) = rest.split_once('.') else {
        return false;
    };
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && matches!(kind, "sig" | "att" | "sbom")
}

/// Shortest and longest ECR repository name (ECR API reference, CreateRepository).
pub const REPOSITORY_NAME_LEN: (usize, usize) = (2, 256);

/// True for an ECR repository name: 2 to 256 characters of the ECR model's pattern
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`: path components
/// of lowercase letters and digits, joined inside a component by `.`, `_`, `__` or a run of `-`.
pub fn is_repository_name(s: &str) -> bool {
    let (min, max) = REPOSITORY_NAME_LEN;
    (min..=max).contains(&s.len()) && s.split('/').all(is_repository_component)
}

fn is_repository_component(part: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = part.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run between two alphanumerics: `.`, `_`, `__`, or any number of `-`.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &part[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosign_signature_and_attestation_tags_are_artifacts() {
        let hex = "0123456789abcdef".repeat(4);
        for kind in ["sig", "att", "sbom"] {
            assert!(is_artifact_tag(&format!("sha256-{hex}.{kind}")), "{kind}");
        }
        assert!(!is_artifact_tag(&format!("sha256-{hex}.tar")));
        assert!(!is_artifact_tag(&format!("sha256-{}.sig", &hex[1..])));
        assert!(!is_artifact_tag(&format!("sha256-{}x.sig", &hex[1..])));
        assert!(!is_artifact_tag(&format!("sha512-{hex}.sig")));
        assert!(!is_artifact_tag("v1.2.3"));
        assert!(!is_artifact_tag(&format!("sha256-{hex}")));
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_an_ecr_reference_with_tag() {
        let r = ImageRef::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web:v1.2").unwrap();
        assert_eq!(
            r.registry.as_deref(),
            Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
        );
        assert_eq!(r.repository, "team/web");
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        assert_eq!(r.digest, None);
    }

    #[test]
    fn parses_a_pinned_reference_with_tag_and_digest() {
        let s = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest@{DIGEST}");
        let r = ImageRef::parse(&s).unwrap();
        assert_eq!(r.repository, "web");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.digest.as_deref(), Some(DIGEST));
        assert_eq!(r.to_string(), s);
    }

    #[test]
    fn a_registry_port_is_not_a_tag() {
        let r = ImageRef::parse("localhost:5000/web").unwrap();
        assert_eq!(r.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(r.repository, "web");
        assert_eq!(r.tag, None);
    }

    #[test]
    fn docker_hub_short_names_have_no_registry() {
        let r = ImageRef::parse("library/nginx:1.27").unwrap();
        assert_eq!(r.registry, None);
        assert_eq!(r.repository, "library/nginx");
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!((r.registry, r.repository.as_str(), r.tag), (None, "nginx", None));
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in ["", "web:", "web@sha256:abc", "/web", "a b", "web@latest"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn matches_on_registry_and_repository_never_on_prefix() {
        let registry = ecr_registry("123456789012", "eu-west-1");
        let web = ImageRef::parse(&format!("{registry}/web:1")).unwrap();
        assert!(web.is_from(&registry, "web"));
        assert!(!web.is_from(&registry, "we"));
        assert!(!web.is_from(&ecr_registry("123456789012", "us-east-1"), "web"));
        let web_proxy = ImageRef::parse(&format!("{registry}/web-proxy:1")).unwrap();
        assert!(!web_proxy.is_from(&registry, "web"));
        assert!(!ImageRef::parse("web:1").unwrap().is_from(&registry, "web"));
    }

    #[test]
    fn china_regions_use_their_own_domain() {
        assert_eq!(ecr_registry("1", "cn-north-1"), "1.dkr.ecr.cn-north-1.amazonaws.com.cn");
    }

    #[test]
    fn tags_follow_the_registry_grammar() {
        for good in [
            "v1",
            "latest",
            "1.2.3",
            "_x",
            "a-b_c.d",
            &"a".repeat(128),
            "sha256-abc.sig",
        ] {
            assert!(is_tag(good), "{good:?}");
        }
        for bad in ["", "-v1", ".v1", "v 1", "v1:x", "v/1", &"a".repeat(129), "é"] {
            assert!(!is_tag(bad), "{bad:?}");
        }
    }

    #[test]
    fn repository_names_follow_the_ecr_pattern() {
        for good in [
            "ab",
            "team/web",
            "a.b",
            "a_b",
            "a__b",
            "a---b",
            "shop/web-api",
            "x1/y2/z3",
        ] {
            assert!(is_repository_name(good), "{good:?}");
        }
        let long = "a".repeat(257);
        for bad in [
            "a", "", "/web", "web/", "a//b", "-web", "web-", "a..b", "a___b", "a._b", "Web", "a b", &long,
        ] {
            assert!(!is_repository_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_sha256_digests_of_the_right_length_are_digests() {
        assert!(is_digest(DIGEST));
        assert!(!is_digest(&DIGEST[..70]));
        assert!(!is_digest(&DIGEST.to_uppercase()));
        assert!(!is_digest("md5:0123"));
    }
}
