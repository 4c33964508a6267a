//! The built function under a real Lambda runtime API.
