//! `pushdeploy deploy`.
