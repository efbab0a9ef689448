//! DNS for the SDK's HTTP client. S3 Control puts the account id in front of
//! the endpoint host (`123456789012.s3-control...`); when the endpoint is an
//! IP literal (a local emulator) that name cannot resolve, so the account
//! label is dropped. Every other name resolves as usual.

use std::net::IpAddr;

use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};

#[derive(Debug, Clone, Default)]
pub struct SightlineResolver;

/// The IP a `<label>.<ip-literal>` name stands for, if it is one.
fn ip_after_label(name: &str) -> Option<IpAddr> {
    let (label, rest) = name.split_once('.')?;
    if label.is_empty() || !label.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

impl ResolveDns for SightlineResolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return DnsFuture::ready(Ok(vec![ip]));
        }
        if let Some(ip) = ip_after_label(name) {
            return DnsFuture::ready(Ok(vec![ip]));
        }
        let owned = name.to_owned();
        DnsFuture::new(async move {
            tokio::net::lookup_host((owned.as_str(), 0))
                .await
                .map(|addrs| addrs.map(|a| a.ip()).collect())
                .map_err(ResolveDnsError::new)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_label_in_front_of_an_ip_is_dropped_and_nothing_else() {
        assert_eq!(
            ip_after_label("123456789012.127.0.0.1"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            ip_after_label("123456789012.s3-control.us-east-1.amazonaws.com"),
            None
        );
        assert_eq!(ip_after_label("bucket.127.0.0.1"), None);
    }
}
