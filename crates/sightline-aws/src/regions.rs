//! Region discovery: every region enabled for the account, from
//! `ec2:DescribeRegions`, skipping those not opted in; or a checked list.

use crate::error::AwsError;
use crate::record::{classify, ScanRecorder};
use crate::session::AwsSession;

/// What DescribeRegions said about one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionInfo {
    pub name: String,
    pub enabled: bool,
}

pub use sightline_core::names::is_region_name;

pub async fn describe_regions(
    session: &AwsSession,
    recorder: &ScanRecorder,
) -> Result<Vec<RegionInfo>, String> {
    let client = crate::sdk_client!(aws_sdk_ec2, &session.in_region(&session.home_region()));
    recorder.called("ec2:DescribeRegions");
    let out = client
        .describe_regions()
        .all_regions(true)
        .send()
        .await
        .map_err(|e| classify(&e).1)?;
    Ok(out
        .regions()
        .iter()
        .filter_map(|r| {
            let name = r.region_name()?.to_owned();
            let status = r.opt_in_status().unwrap_or("opt-in-not-required");
            Some(RegionInfo {
                name,
                enabled: status == "opt-in-not-required" || status == "opted-in",
            })
        })
        .collect())
}

/// The regions to scan: the requested ones, checked, or every enabled one.
/// Requested regions that exist but are not enabled are returned in the
/// second list, to be recorded as gaps.
/// The regions a scan covers.
pub struct Resolved {
    /// Enabled regions to scan.
    pub scan: Vec<String>,
    /// Requested but not enabled (opt-in) regions.
    pub disabled: Vec<String>,
    /// Whether `scan` is every region enabled for the account: only then can
    /// an "in all regions" control pass.
    pub all_enabled: bool,
}

pub async fn resolve(
    session: &AwsSession,
    recorder: &ScanRecorder,
    requested: Option<&[String]>,
) -> Result<Resolved, AwsError> {
    if let Some(bad) = requested.into_iter().flatten().find(|r| !is_region_name(r)) {
        return Err(AwsError::MalformedRegion { found: bad.clone() });
    }
    match (describe_regions(session, recorder).await, requested) {
        (Ok(known), None) => Ok(Resolved {
            scan: known
                .iter()
                .filter(|r| r.enabled)
                .map(|r| r.name.clone())
                .collect(),
            disabled: vec![],
            all_enabled: true,
        }),
        (Ok(known), Some(wanted)) => {
            let mut scan = Vec::new();
            let mut disabled = Vec::new();
            for region in wanted {
                match known.iter().find(|k| &k.name == region) {
                    Some(info) if info.enabled => scan.push(region.clone()),
                    Some(_) => disabled.push(region.clone()),
                    None => {
                        let mut names: Vec<&str> = known.iter().map(|k| k.name.as_str()).collect();
                        names.sort_unstable();
                        return Err(AwsError::UnknownRegion {
                            found: region.clone(),
                            known: names.join(", "),
                        });
                    }
                }
            }
            let all_enabled = known
                .iter()
                .filter(|k| k.enabled)
                .all(|k| scan.contains(&k.name));
            Ok(Resolved {
                scan,
                disabled,
                all_enabled,
            })
        }
        // Without DescribeRegions the requested names are taken on trust (their shape was checked).
        (Err(detail), Some(wanted)) => {
            recorder.gap(
                "ec2",
                &session.home_region(),
                "ec2:DescribeRegions",
                "AccessDenied",
                &detail,
            );
            // Whether others are enabled is unknown: not "all".
            Ok(Resolved {
                scan: wanted.to_vec(),
                disabled: vec![],
                all_enabled: false,
            })
        }
        (Err(detail), None) => Err(AwsError::RegionDiscovery { detail }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_are_recognised_by_shape() {
        for ok in ["us-east-1", "eu-west-3", "us-gov-west-1", "ap-southeast-2"] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "us-east",
            "US-EAST-1",
            "mars",
            "us-east-1; rm",
            "",
            "eu-west-x",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }
}
