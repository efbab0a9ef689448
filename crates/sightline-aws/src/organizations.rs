//! Member-account discovery from AWS Organizations, called from the
//! management or delegated-administrator account. Read-only: ListAccounts.

use crate::error::AwsError;
use crate::record::classify;
use crate::session::AwsSession;

pub const ACTIONS: &[&str] = &["organizations:ListAccounts"];

/// One member account as Organizations lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAccount {
    pub account_id: String,
    pub name: Option<String>,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`.
    pub status: String,
}

/// Every account of the organization, paginated to the end.
pub async fn member_accounts(session: &AwsSession) -> Result<Vec<MemberAccount>, AwsError> {
    let client = crate::sdk_client!(
        aws_sdk_organizations,
        &session.in_region(&session.home_region())
    );
    let mut out = Vec::new();
    let mut pages = client
        .list_accounts()
        .max_results(20)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::Organizations {
            detail: classify(&e).1,
        })?;
        for a in page.accounts() {
            let Some(id) = a.id() else { continue };
            out.push(MemberAccount {
                account_id: id.to_owned(),
                name: a.name().map(str::to_owned),
                status: a
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}
